#!/usr/bin/env python3
"""Benchmark of many labels and of instance/lesion scoring, against the load-only floor.

Data (seeded, generated into benchmarks/data/, reused when present):

- labels-15k: one 1024x1024 uint16 PNG pair with 15,000 labels scored as classes (each label a
  block of a grid; the prediction is the ground truth shifted by one pixel on both axes);
- labels-29549: the same layout, 2048x2048 with 29,549 labels (the case of issue 15);
- labels-65535: 4096x4096 with 65,535 labels (every uint16 value);
- instances-2d: 2048x2048 uint16 instance masks (~16,000 cells) whose prediction has every id
  renumbered, cells shifted by one pixel, 5% missed and a few false positives (--instances);
- components-3d: one 256x256x96 uint8 NIfTI pair of 3 classes of blobs (--connected-components
  and --lesion-wise --lesion-dilation 1).

Every method runs as its own process (start-up, imports and reading included), round-robin,
median of --repeat runs; the ratio is to the load-only floor of the same data set, same run.

    python benchmarks/many_labels.py --repeat 5
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import Method, table, time_round_robin  # noqa: E402

GENERATOR_VERSION = 1

_LOAD_PNG = """\
import sys, numpy as np
from PIL import Image
a = np.asarray(Image.open(sys.argv[1])); b = np.asarray(Image.open(sys.argv[2]))
"""
_LOAD_NIFTI = """\
import sys, numpy as np, nibabel as nib
a = np.asanyarray(nib.load(sys.argv[1]).dataobj); b = np.asanyarray(nib.load(sys.argv[2]).dataobj)
"""


def grid_labels(side: int, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """A grid of square blocks labelled 1..n_labels with one-pixel gaps; the prediction is the
    same map shifted by one pixel on both axes (every label: Dice < 1, no label lost)."""
    k = int(np.ceil(np.sqrt(n_labels)))
    cell = side // k
    ids = np.arange(1, k * k + 1, dtype=np.int64).reshape(k, k)
    ids[ids > n_labels] = 0
    gt = np.zeros((side, side), np.int64)
    gt[:k * cell, :k * cell] = np.kron(ids, np.ones((cell, cell), np.int64))
    rows, cols = np.ogrid[:side, :side]
    gt[(rows % cell == 0) | (cols % cell == 0)] = 0
    return gt.astype(np.uint16), np.roll(gt, (1, 1), axis=(0, 1)).astype(np.uint16)


def cells_2d(side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Instance masks: a jittered grid of round cells (ids 1..N); the prediction renumbers every
    id, shifts cells by one pixel, misses 5% and adds small false positives."""
    rng = np.random.default_rng(seed)
    gt = np.zeros((side, side), np.uint16)
    pitch, radius = 16, 6
    centres = [(r + int(rng.integers(-2, 3)), c + int(rng.integers(-2, 3)))
               for r in range(pitch // 2, side - pitch // 2, pitch) for c in range(pitch // 2, side - pitch // 2, pitch)]
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    disc = yy * yy + xx * xx <= radius * radius
    pred = np.zeros_like(gt)
    renumber = rng.permutation(len(centres)) + 1
    for i, (r, c) in enumerate(centres):
        box = (slice(r - radius, r + radius + 1), slice(c - radius, c + radius + 1))
        gt[box][disc] = i + 1
        if rng.random() >= 0.05:
            shifted = (slice(r - radius + 1, r + radius + 2), slice(c - radius, c + radius + 1))
            pred[shifted][disc] = renumber[i]
    for j in range(200):  # false positives in the gaps
        r, c = (int(v) for v in rng.integers(0, side - 3, 2))
        pred[r:r + 3, c:c + 3] = len(centres) + 1 + j
    return gt, pred


def blobs_3d(shape, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """3 classes of ellipsoid blobs (lesion-like), prediction = shifted, some missed, some extra."""
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    for _ in range(120):
        label = int(rng.integers(1, 4))
        centre = [int(rng.integers(9, s - 10)) for s in shape]
        radii = rng.uniform(2, 7, 3)
        box = tuple(slice(c - 8, c + 9) for c in centre)
        local = np.ogrid[box]
        inside = sum(((x - c) / r) ** 2 for x, c, r in zip(local, centre, radii)) <= 1
        gt[box][inside] = label
        if rng.random() > 0.1:
            shifted = tuple(slice(b.start + 1, b.stop + 1) for b in box)
            pred[shifted][inside] = label
    for _ in range(30):
        centre = [int(rng.integers(3, s - 3)) for s in shape]
        pred[tuple(slice(c - 1, c + 2) for c in centre)] = int(rng.integers(1, 4))
    return gt, pred


def ensure(root: Path, name: str, make, writer: str) -> tuple[Path, Path]:
    folder = root / f"many_{name}_v{GENERATOR_VERSION}"
    suffix = ".png" if writer == "png" else ".nii.gz"
    gt_path, pred_path = folder / "gt" / f"case{suffix}", folder / "pred" / f"case{suffix}"
    if not (gt_path.exists() and pred_path.exists()):
        gt, pred = make()
        for path, array in ((gt_path, gt), (pred_path, pred)):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name("tmp" + suffix)
            if writer == "png":
                from PIL import Image

                Image.fromarray(array).save(tmp)
            else:
                import nibabel as nib

                nib.save(nib.Nifti1Image(array, np.diag([1.0, 1.0, 1.0, 1.0])), tmp)
            tmp.replace(path)
    return gt_path, pred_path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--data-dir", type=Path, default=HERE / "data")
    ap.add_argument("--results", type=Path, default=HERE / "results" / "many_labels.md")
    args = ap.parse_args(argv)
    dice = str(Path(sys.executable).parent / "dice")
    sets = [
        ("labels-15k", lambda: grid_labels(1024, 15_000), "png", [], "≤ 3× load-only"),
        ("labels-29549", lambda: grid_labels(2048, 29_549), "png", [], None),
        ("labels-65535", lambda: grid_labels(4096, 65_535), "png", [], "a few seconds (≤ 5 s)"),
        ("instances-2d", lambda: cells_2d(2048, 1), "png", ["--instances", "--iou-threshold", "0.5",
                                                            "--iou-threshold", "0.75"], None),
        ("components-3d", lambda: blobs_3d((256, 256, 96), 2), "nifti",
         ["--connected-components", "--lesion-wise", "--lesion-dilation", "1"], None),
    ]
    out = ["# dicecli benchmark: many labels, instances and lesions", "",
           f"- command: `{shlex.join(['python', 'benchmarks/many_labels.py', *(argv or sys.argv[1:])])}`",
           f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
           f"- machine: {platform.machine()}, {len(os.sched_getaffinity(0))} usable CPUs, Python "
           f"{platform.python_version()}",
           f"- median of {args.repeat} runs after {args.warmup} warm-up round(s), methods interleaved; every "
           "method is a whole process (start-up, imports, reading included)", ""]
    for name, make, writer, options, target in sets:
        gt, pred = ensure(args.data_dir, name, make, writer)
        load = _LOAD_PNG if writer == "png" else _LOAD_NIFTI
        methods = [Method("load", "load-only floor", [sys.executable, "-c", load, str(gt), str(pred)]),
                   Method("dice", f"`dice score {' '.join(options)} --format json -j 1`".replace("  ", " "),
                          [dice, "score", str(gt), str(pred), *options, "--format", "json", "-q", "-j", "1"])]
        print(f"timing {name} ...", file=sys.stderr)
        time_round_robin(methods, args.repeat, args.warmup, lambda msg: print(msg, file=sys.stderr))
        out += [f"## {name}", "", *table(methods), ""]
        ratio = methods[1].median / methods[0].median
        if target:
            ok = ratio <= 3 if "3×" in target else methods[1].median <= 5
            out += [f"- target {target}: {'PASS' if ok else 'FAIL'} — {ratio:.2f}× load-only, "
                    f"{methods[1].median:.2f} s", ""]
    report = "\n".join(out).rstrip() + "\n"
    print(report)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
