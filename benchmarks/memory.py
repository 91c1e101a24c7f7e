"""Peak memory of `dice score -j 1` on one large pair, against the bytes of the decoded pair.

    python benchmarks/memory.py                 # 1024 x 1024 x 512 uint8 (1 GiB per pair)
    python benchmarks/memory.py --shape 512x512x256
    python benchmarks/memory.py --dtype int16    # any label dtype: uint8, int16, uint16, float32, float64

Writes the pair (seeded boxes, as .nii.gz) under benchmarks/data/, runs dice in a child
process through bench.py's launcher (a fresh small process that forks it, so this script's
own memory never counts) and reports its peak RSS. Target: under 2.5 GB for the default shape.
"""

from __future__ import annotations

import argparse
import sys
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="1024x1024x512", help="XxYxZ of the pair")
    parser.add_argument("--dtype", default="uint8", choices=["uint8", "int16", "uint16", "float32", "float64"],
                        help="voxel type of the label maps")
    parser.add_argument("--limit-gb", type=float, default=2.5, help="peak RSS target in GB")
    args = parser.parse_args()
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
