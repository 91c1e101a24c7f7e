"""Peak memory of `dice score -j 1` on one large pair, against the bytes of the decoded pair;
or (--cases) of the client on a simulated run of many small cases.

    python benchmarks/memory.py                 # 1024 x 1024 x 512 uint8 (1 GiB per pair)
    python benchmarks/memory.py --shape 512x512x256
    python benchmarks/memory.py --dtype int16    # any label dtype: uint8, int16, uint16, float32, float64
    python benchmarks/memory.py --cases 10000,100000   # simulated runs, JSON + CSV files and JSON on stdout
    python benchmarks/memory.py --cases 10000,100000 --resume   # the same runs resumed from their journal

Pair mode writes the pair (seeded boxes, as .nii.gz) under benchmarks/data/, runs dice in a child
process through bench.py's launcher (a fresh small process that forks it, so this script's
own memory never counts) and reports its peak RSS. Target: under 2.5 GB for the default shape.

Cases mode runs the real `dice score` command in a child process, with the pairing and the
scoring of a case replaced by stand-ins (N pairs of made-up paths; each case "scores" to the
counts of a 64x64 image with labels 0, 1 and 2): what remains is all the client does per case
(keep its record, aggregate, write the reports). The child reports its RSS once the pairing
exists (the run's input) and its peak RSS (ru_maxrss) at the end; the growth is their difference.
Per-case memory is the slope of the growth between the smallest and largest run.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import nibabel as nib
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench import ChildFailed, run_timed  # noqa: E402


def make_pair(folder: Path, shape: tuple[int, int, int], dtype: str = "uint8") -> None:
    if (folder / "pred" / "big.nii.gz").exists():
        return
    rng = np.random.default_rng(0)
    for side, jitter in (("gt", 0), ("pred", 8)):
        (folder / side).mkdir(parents=True, exist_ok=True)
        volume = np.zeros(shape, dtype=dtype, order="F")
        for label in (1, 2, 3):
            lo = [int(n * f) for n, f in zip(shape, rng.uniform(0.1, 0.5, 3))]
            hi = [min(n, a + int(n * 0.3) + jitter) for n, a in zip(shape, lo)]
            volume[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = label
        nib.save(nib.Nifti1Image(volume, np.diag([0.5, 0.5, 0.5, 1.0])), str(folder / side / "big.nii.gz"))


def _current_rss_kib() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


_FAKE_TABLES: dict[int, np.ndarray] = {}


def _fake_table(i: int) -> np.ndarray:
    """The (4, labels) labels/tp/fp/fn table of case number ``i`` (one of 1,024 kinds: the cache is small)."""
    key = i % 1024
    table = _FAKE_TABLES.get(key)
    if table is None:
        k = 3 if key % 3 else 2
        table = _FAKE_TABLES[key] = np.array(
            [0, 1, 2][:k] + [3000 + key % 97, 400 + key % 89, 200 + key % 61][:k]
            + [50 + key % 13, 30 + key % 7, key % 5][:k] + [40 + key % 11, 20 + key % 17, key % 3][:k],
            dtype=np.int64).reshape(4, k)
    return table


def fake_case(pair, settings=None):
    """What scoring a 64x64 label image with labels 0, 1 (and 2 in two cases of three) returns,
    made up from the case's number: varied counts, so the reports hold varied numbers; fresh
    arrays per case, in one buffer, as a worker's answer unpickles."""
    from dicecli.case import CaseResult
    from dicecli.core.score import CaseCounts

    table = _fake_table(int(pair.case[5:])).copy()
    return CaseResult(case=pair.case, gt=pair.gt, pred=pair.pred,
                      counts=CaseCounts(table[0], table[1], table[2], table[3], 4096), pred_kind="labels")


def simulate_child(n_cases: int, out_dir: str, extra: list[str]) -> int:
    """Run `dice score` in this process on ``n_cases`` simulated cases; print "rss_after_pairing_kib
    peak_rss_kib exit_status"."""
    import dicecli.io.pairing as pairing_module
    import dicecli.run.evaluate as evaluate_module
    from dicecli.cli import main as command
    from dicecli.io.pairing import Pair, Pairing

    width = len(str(n_cases))
    pairing = Pairing(pairs=tuple(Pair(f"case_{i:0{width}d}", f"/sim/gt/case_{i:0{width}d}.png",
                                       f"/sim/pred/case_{i:0{width}d}.png") for i in range(n_cases)))
    pairing_module.pair_paths = lambda gt, pred, **layout: pairing
    evaluate_module.score_pair = fake_case
    import dicecli.run.journal as journal_module

    journal_module.file_stamp = lambda path: None if path is None else [4096, 1]  # made-up files never change
    base = _current_rss_kib()
    args = ["score", out_dir, out_dir, "-j", "1", "-q", "--json", os.path.join(out_dir, "run.json"),
            "--csv", os.path.join(out_dir, "run.csv"), *extra]
    try:
        command(args, prog_name="dice")
        status = 0
    except SystemExit as exc:
        status = exc.code or 0
    sys.stdout.flush()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    os.write(2, f"MEMORY {base} {peak} {status}\n".encode())
    return 0


def simulated_run(n_cases: int, extra: list[str] = ("--format", "json"), *,
                  resume: bool = False) -> tuple[int, int, float]:
    """(RSS after pairing, peak RSS) in KiB of a simulated run of ``n_cases`` cases (in a fresh child
    process; its stdout goes to /dev/null), and its wall time. resume: a first run writes a journal
    (not measured), the measured run resumes from it (every case taken from the journal)."""
    import time

    with tempfile.TemporaryDirectory() as out:
        if resume:
            journal = ["--journal", os.path.join(out, "run.jsonl")]
            subprocess.run([sys.executable, __file__, "--simulate-child", str(n_cases), out, *extra, *journal],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            extra = [*extra, *journal, "--resume"]
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "--simulate-child", str(n_cases), out, *extra],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - started
    lines = [line for line in done.stderr.splitlines() if line.startswith("MEMORY ")]
    if done.returncode or not lines or lines[-1].split()[3] != "0":
        raise ChildFailed(f"simulated run of {n_cases} cases failed:\n{done.stderr[-2000:]}")
    base, peak = (int(v) for v in lines[-1].split()[1:3])
    return base, peak, wall


def cases_mode(sizes: list[int], repeats: int, resume: bool = False) -> int:
    import statistics

    print(f"command: {sys.executable} {__file__} --cases {','.join(map(str, sizes))} --repeats {repeats}"
          + (" --resume" if resume else ""))
    print("simulated `dice score -j 1 -q --json F --csv F --format json"
          + (" --journal J --resume` (every case from the journal)" if resume else "`")
          + f" (stdout to /dev/null); medians of {repeats} run(s)")
    growth = {}
    for n in sizes:
        runs = [simulated_run(n, resume=resume) for _ in range(repeats)]
        base = statistics.median(r[0] for r in runs)
        peak = statistics.median(r[1] for r in runs)
        wall = statistics.median(r[2] for r in runs)
        growth[n] = peak - base
        print(f"{n:>9,} cases: RSS after pairing {base / 1024:7.1f} MiB, peak {peak / 1024:7.1f} MiB, "
              f"growth {(peak - base) / 1024:7.1f} MiB, {wall:.1f} s")
    if len(sizes) > 1:
        lo, hi = min(sizes), max(sizes)
        per_case = (growth[hi] - growth[lo]) * 1024 / (hi - lo)
        print(f"per case (growth slope {lo:,} -> {hi:,}): {per_case:.0f} bytes")
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--simulate-child":
        return simulate_child(int(sys.argv[2]), sys.argv[3], sys.argv[4:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="1024x1024x512", help="XxYxZ of the pair")
    parser.add_argument("--dtype", default="uint8", choices=["uint8", "int16", "uint16", "float32", "float64"],
                        help="voxel type of the label maps")
    parser.add_argument("--limit-gb", type=float, default=2.5, help="peak RSS target in GB")
    parser.add_argument("--cases", help="simulated runs of these numbers of cases (comma-separated) instead")
    parser.add_argument("--repeats", type=int, default=3, help="runs per size in --cases mode (medians)")
    parser.add_argument("--resume", action="store_true", help="--cases mode: measure runs resumed from a journal")
    args = parser.parse_args()
    if args.cases:
        return cases_mode([int(n) for n in args.cases.split(",")], args.repeats, args.resume)
    shape = tuple(int(n) for n in args.shape.split("x"))
    suffix = "" if args.dtype == "uint8" else f"_{args.dtype}"
    folder = HERE / "data" / f"memory_{args.shape}{suffix}"
    make_pair(folder, shape, args.dtype)
    dice = Path(sys.executable).parent / "dice"
    command = [str(dice), "score", str(folder / "gt"), str(folder / "pred"), "-j", "1", "-q", "--format", "json"]
    try:
        wall, peak_kib = run_timed(command)
    except ChildFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pair_gb = 2 * np.prod(shape) * np.dtype(args.dtype).itemsize / 1e9
    peak_gb = peak_kib * 1024 / 1e9
    verdict = "PASS" if peak_gb < args.limit_gb else "FAIL"
    print(f"command: {' '.join(command)}")
    print(f"decoded pair {pair_gb:.2f} GB; peak RSS {peak_gb:.2f} GB ({peak_gb / pair_gb:.2f}x the pair); "
          f"{wall:.1f} s")
    print(f"{verdict}: peak RSS < {args.limit_gb} GB")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
