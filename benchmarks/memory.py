"""Peak memory of `dice score -j 1` on one large pair, against the bytes of the decoded pair.

    python benchmarks/memory.py                 # 1024 x 1024 x 512 uint8 (1 GiB per pair)
    python benchmarks/memory.py --shape 512x512x256
    python benchmarks/memory.py --dtype uint16   # the whole-volume path (uint8 pairs are streamed)

Writes the pair (seeded boxes, as .nii.gz) under benchmarks/data/, runs dice in a child
process and reads its peak RSS from os.wait4. Target: under 2.5 GB for the default shape.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

HERE = Path(__file__).resolve().parent


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="1024x1024x512", help="XxYxZ of the pair")
    parser.add_argument("--dtype", default="uint8", choices=["uint8", "uint16", "float32"],
                        help="voxel type: uint8 pairs are streamed (never decoded whole); the others take "
                             "the whole-volume path")
    parser.add_argument("--limit-gb", type=float, default=2.5, help="peak RSS target in GB")
    args = parser.parse_args()
    shape = tuple(int(n) for n in args.shape.split("x"))
    suffix = "" if args.dtype == "uint8" else f"_{args.dtype}"
    folder = HERE / "data" / f"memory_{args.shape}{suffix}"
    make_pair(folder, shape, args.dtype)
    dice = Path(sys.executable).parent / "dice"
    command = [str(dice), "score", str(folder / "gt"), str(folder / "pred"), "-j", "1", "-q", "--format", "json"]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    pair_gb = 2 * np.prod(shape) * np.dtype(args.dtype).itemsize / 1e9
    peak_gb = usage.ru_maxrss * 1024 / 1e9
    verdict = "PASS" if peak_gb < args.limit_gb else "FAIL"
    print(f"command: {' '.join(command)}")
    print(f"decoded pair {pair_gb:.2f} GB; peak RSS {peak_gb:.2f} GB ({peak_gb / pair_gb:.2f}x the pair); "
          f"{wall:.1f} s; exit {os.waitstatus_to_exitcode(status)}")
    print(f"{verdict}: peak RSS < {args.limit_gb} GB")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
