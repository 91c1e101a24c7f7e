#!/usr/bin/env python3
"""Benchmark of the boundary metrics (HD, HD95, ASSD, MASD, NSD) of ``dice score``.

Same data as bench.py (seeded synthetic 512×512×96 uint8 abdominal label maps, six classes,
spacing 0.8×0.8×2.5 mm), every method a whole process, timed round-robin:

- load-only floor: nibabel reads every pair, nothing else (one process, one core);
- DeepMind surface-distance: nibabel reads, then per case and class compute_surface_distances,
  robust Hausdorff at 100 and 95, average surface distances and surface Dice at tau (all five
  metrics, one process, one core);
- ``dice score --metrics hd,hd95,assd,masd,nsd --nsd-tolerance TAU`` with ``-j 1`` and default jobs,
  and the same with ``--surface-convention deepmind``.

Before timing, ``dice score --surface-convention deepmind`` is checked against surface-distance on
every (case, class): nsd, hd95, hd, assd and masd within 1e-9.

    pip install '.[bench]'
    python benchmarks/boundary.py                 # 16 pairs, 5 runs each (several minutes)
    python benchmarks/boundary.py --cases 4 --repeat 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench  # noqa: E402  (the data generator and the timing helpers)

METRICS = "hd,hd95,assd,masd,nsd"

_DEEPMIND = """\
import os, sys, json, math
import numpy as np
import nibabel as nib
import surface_distance as sd
gt_dir, pred_dir, tau = sys.argv[1], sys.argv[2], float(sys.argv[3])
labels = [int(v) for v in sys.argv[4].split(",")]
emit = len(sys.argv) > 5
out = {}
for name in sorted(n for n in os.listdir(gt_dir) if n.endswith(".nii.gz")):
    g_img = nib.load(os.path.join(gt_dir, name))
    g = np.asanyarray(g_img.dataobj)
    p = np.asanyarray(nib.load(os.path.join(pred_dir, name)).dataobj)
    spacing = tuple(float(s) for s in g_img.header.get_zooms()[:3])
    res = {}
    for c in labels:
        gc, pc = g == c, p == c
        if not gc.any() or not pc.any():
            continue
        d = sd.compute_surface_distances(gc, pc, spacing)
        a_g, a_p = d["surfel_areas_gt"], d["surfel_areas_pred"]
        m_g, m_p = sd.compute_average_surface_distance(d)
        res[str(c)] = {"nsd": sd.compute_surface_dice_at_tolerance(d, tau),
                       "hd": sd.compute_robust_hausdorff(d, 100), "hd95": sd.compute_robust_hausdorff(d, 95),
                       "assd": float((np.sum(d["distances_gt_to_pred"] * a_g) + np.sum(d["distances_pred_to_gt"] * a_p))
                                     / (np.sum(a_g) + np.sum(a_p))),
                       "masd": float((m_g + m_p) / 2)}
    out[name[:-7]] = res
if emit:
    print(json.dumps(out))
"""


def deepmind_cmd(ds, tau: float, emit: bool = False) -> list[str]:
    labels = ",".join(map(str, range(1, ds.labels + 1)))  # ds.labels: classes 1..labels
    return [sys.executable, "-c", _DEEPMIND, str(ds.gt), str(ds.pred), str(tau), labels] + (["--emit"] if emit else [])


def verify(ds, dice_exe: Path, tau: float) -> tuple[bool, str]:
    """dice --surface-convention deepmind against surface-distance, every (case, class) with both masks."""
    ref = subprocess.run(deepmind_cmd(ds, tau, emit=True), capture_output=True, text=True)
    if ref.returncode != 0:
        return False, f"surface-distance child failed: {ref.stderr[-800:]}"
    expected = json.loads(ref.stdout)
    run = subprocess.run([str(dice_exe), "score", str(ds.gt), str(ds.pred), "--quiet", "--format", "json",
                          "--metrics", METRICS, "--nsd-tolerance", str(tau), "--surface-convention", "deepmind"],
                         capture_output=True, text=True)
    if run.returncode not in (0, 1):
        return False, f"dice exited {run.returncode}: {run.stderr[-800:]}"
    got = {c["case"]: c["classes"] for c in json.loads(run.stdout)["cases"]}
    worst, n, problems = 0.0, 0, []
    for case, classes in expected.items():
        for cls, values in classes.items():
            for name, want in values.items():
                have = got[case][cls][name]
                n += 1
                diff = abs(have - want)
                worst = max(worst, diff)
                if diff > 1e-9:
                    problems.append(f"{case} class {cls} {name}: dice {have!r}, surface-distance {want!r}")
    if problems:
        return False, "MISMATCH: " + "; ".join(problems[:5])
    return True, (f"Correctness: `dice score --surface-convention deepmind` equals surface-distance on all {n} "
                  f"(case, class, metric) values (max |diff| {worst:.1e} <= 1e-9).")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=16)
    ap.add_argument("--shape", type=lambda s: bench.parse_shape(s, 3), default=bench.DEFAULT_SHAPE_3D)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--tau", type=float, default=2.0, help="NSD tolerance in mm (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", type=Path, default=HERE / "data")
    ap.add_argument("--results", type=Path, default=HERE / "results" / "boundary.md")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    dice_exe = Path(sys.executable).parent / "dice"
    ds = bench.ensure_dataset("3d", args.data_dir, args.seed, args.cases, args.shape, bench.usable_cpus(), False, log)
    ok, check = verify(ds, dice_exe, args.tau)
    log(check)
    if not ok:
        print(check)
        return 1
    base = [str(dice_exe), "score", str(ds.gt), str(ds.pred), "--quiet", "--format", "json",
            "--metrics", METRICS, "--nsd-tolerance", str(args.tau)]
    floor = bench.Method("load", "load-only floor (nibabel reads, one process)",
                         [sys.executable, "-c", bench.child_code("load"), *bench.child_args(ds)])
    methods = [
        floor,
        bench.Method("deepmind", "DeepMind surface-distance, all five metrics (one process)", deepmind_cmd(ds, args.tau)),
        bench.Method("dice_j1", "`dice score --metrics hd,hd95,assd,masd,nsd -j 1`", base + ["-j", "1"]),
        bench.Method("dice", "`dice score --metrics hd,hd95,assd,masd,nsd` (default jobs)", base),
        bench.Method("dice_dm", "the same, `--surface-convention deepmind` (default jobs)",
                     base + ["--surface-convention", "deepmind"]),
        bench.Method("dice_only", "`dice score` (Dice only, default jobs)", base[:7]),
    ]
    bench.time_round_robin(methods, args.repeat, args.warmup, log)
    by = {m.key: m for m in methods}
    pair_mb = 2 * int.__mul__(*args.shape[:2]) * args.shape[2] / 2 ** 20
    f, d, dm = by["load"].median, by["dice"].median, by["deepmind"].median
    rss = max(by["dice"].rss_kib) / 1024
    lines = [f"## Boundary metrics: {ds.title}",
             "",
             f"Machine: {platform.machine()}, {bench.usable_cpus()} usable CPU(s), Python {platform.python_version()}; "
             f"median of {args.repeat} interleaved runs; NSD tolerance {args.tau:g} mm.",
             "",
             *bench.table(methods),
             "",
             check,
             bench.verdict(dm / d >= 3.0, "dice (default jobs) >= 3× faster than DeepMind surface-distance",
                           f"{dm / d:.2f}×"),
             bench.verdict(d <= 2.0 * f, "dice (default jobs) <= 2× the load-only floor", f"{d / f:.2f}×"),
             bench.verdict(rss <= 4 * pair_mb, f"peak RSS per dice process <= 4× one decoded pair ({4 * pair_mb:.0f} MB)",
                           f"{rss:.0f} MB"),
             "",
             "Command: `" + shlex.join([Path(sys.executable).name, "benchmarks/boundary.py", *(argv or sys.argv[1:])]) + "`",
             "",
             "Timed commands:",
             *[f"- {m.key}: `{shlex.join(m.cmd)[:300]}`" for m in methods if m.key != "deepmind"]]
    text = "\n".join(lines) + "\n"
    print(text)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    raise SystemExit(main())
