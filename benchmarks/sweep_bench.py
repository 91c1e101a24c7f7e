"""How long does `dice sweep` take next to one `dice score` of the same probability maps?

    python benchmarks/sweep_bench.py [--cases 16] [--shape 256x256x64] [--repeat 5]

Writes seeded float32 probability maps (.nii.gz) and uint8 label maps, then times whole
processes, interleaved, and prints the median of each and their ratio (sweep / score). The
target of the threshold-sweep issue: at most 1.5x. Absolute seconds drift with machine load;
the ratio, measured in the same run, is what to compare.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def make_data(folder: Path, cases: int, shape: tuple[int, ...], seed: int) -> None:
    import nibabel as nib

    (folder / "gt").mkdir(parents=True, exist_ok=True)
    (folder / "pred").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    grids = np.indices(shape, sparse=True)
    for i in range(cases):
        centre = [rng.uniform(0.3, 0.7) * n for n in shape]
        dist = sum(((g - c) / (0.25 * n)) ** 2 for g, c, n in zip(grids, centre, shape, strict=True))
        gt = (dist < 1).astype(np.uint8)
        logits = 6 * (1 - dist) + rng.normal(0, 1.5, shape)
        prob = (1 / (1 + np.exp(-logits))).astype(np.float32)
        nib.save(nib.Nifti1Image(gt, np.eye(4)), str(folder / "gt" / f"c{i:03d}.nii.gz"))
        nib.save(nib.Nifti1Image(prob, np.eye(4)), str(folder / "pred" / f"c{i:03d}.nii.gz"))


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=16)
    parser.add_argument("--shape", default="256x256x64")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=str(Path(__file__).parent / "data" / "sweep"))
    args = parser.parse_args()
    shape = tuple(int(n) for n in args.shape.split("x"))
    folder = Path(args.data_dir) / f"{args.cases}-{args.shape}-{args.seed}"
    if not (folder / "pred").exists():
        make_data(folder, args.cases, shape, args.seed)
    dice = [sys.executable, "-m", "dicecli"]
    gt, pred = str(folder / "gt"), str(folder / "pred")
    commands = {"dice score (threshold 0.5)": dice + ["score", gt, pred, "-q", "--format", "json"],
                "dice sweep (99 thresholds)": dice + ["sweep", gt, pred, "-q", "--format", "json"]}
    for command in commands.values():  # warm the page cache
        timed(command)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(args.repeat):
        for name, command in commands.items():
            times[name].append(timed(command))
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = medians["dice score (threshold 0.5)"]
    print(f"{args.cases} cases of {args.shape} float32 probability maps, median of {args.repeat} runs")
    print("| command | median s | vs dice score |")
    print("|---|---:|---:|")
    for name, value in medians.items():
        print(f"| {name} | {value:.3f} | {value / base:.2f}x |")


if __name__ == "__main__":
    main()
