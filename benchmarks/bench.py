#!/usr/bin/env python3
"""End-to-end benchmark of ``dice score`` against a load-only floor and other tools.

Generates seeded synthetic label maps (3D NIfTI and 2D PNG), then times every
method as a separate process (interpreter start, imports and file reading
included), round-robin so machine noise hits all methods alike. Prints one
markdown table per data set, PASS/FAIL lines for the performance targets, and
writes the same report to benchmarks/results/latest.md.

    pip install '.[bench]'
    python benchmarks/bench.py            # full run (several minutes)
    python benchmarks/bench.py --quick    # small smoke run
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
GENERATOR_VERSION = 1  # bump when the generated data would change

DEFAULT_CASES_3D = 16
DEFAULT_SHAPE_3D = (512, 512, 96)
DEFAULT_CASES_2D = 300
DEFAULT_SHAPE_2D = (512, 512)
QUICK_CASES_3D = 4
QUICK_SHAPE_3D = (256, 256, 48)
QUICK_CASES_2D = 40
SPACING_3D = (0.8, 0.8, 2.5)
CLASSES_3D = 6
CLASSES_2D = 5


# --------------------------------------------------------------------------------------
# Synthetic data
# --------------------------------------------------------------------------------------


def _rotation(rng: np.random.Generator, ndim: int, max_deg: tuple[float, ...]) -> np.ndarray:
    """A random rotation: small tilts for 3D organs, any angle in 2D."""
    if ndim == 2:
        a = np.deg2rad(rng.uniform(-max_deg[0], max_deg[0]))
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    ax, ay, az = (np.deg2rad(rng.uniform(-m, m)) for m in max_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass
class Blob:
    """A smooth blob: an ellipsoid whose surface radius is modulated by a few low
    frequency waves over the direction (all lengths in mm)."""

    label: int
    center_mm: np.ndarray
    radii_mm: np.ndarray
    rot: np.ndarray
    wave_k: np.ndarray  # (n_waves, ndim) frequency vectors over the unit direction
    wave_amp: np.ndarray  # (n_waves,)
    wave_phase: np.ndarray  # (n_waves,)

    def perturbed(self, rng: np.random.Generator, shift_mm: float, scale: tuple[float, float]) -> "Blob":
        """A prediction of this blob: shifted, dilated or eroded, slightly reshaped."""
        ndim = len(self.center_mm)
        return Blob(
            label=self.label,
            center_mm=self.center_mm + rng.normal(0.0, shift_mm, ndim),
            radii_mm=self.radii_mm * rng.uniform(*scale, ndim),
            rot=self.rot @ _rotation(rng, ndim, (4.0,) * (1 if ndim == 2 else 3)),
            wave_k=self.wave_k,
            wave_amp=self.wave_amp * rng.uniform(0.7, 1.3, len(self.wave_amp)),
            wave_phase=self.wave_phase + rng.normal(0.0, 0.3, len(self.wave_phase)),
        )


def _random_blob(rng, label, center_frac, radius_frac, extent_mm, jitter=0.04, size_var=0.2,
                 max_deg=(10.0, 10.0, 25.0), wave_amp=0.12) -> Blob:
    ndim = len(extent_mm)
    center = (np.asarray(center_frac) + rng.normal(0.0, jitter, ndim)) * extent_mm
    radii = np.asarray(radius_frac) * extent_mm * rng.uniform(1 - size_var, 1 + size_var, ndim)
    n_waves = 3
    k = rng.normal(0.0, 1.0, (n_waves, ndim))
    k *= rng.uniform(1.5, 3.5, (n_waves, 1)) / np.linalg.norm(k, axis=1, keepdims=True)
    return Blob(
        label=label,
        center_mm=center,
        radii_mm=radii,
        rot=_rotation(rng, ndim, max_deg if ndim == 3 else (180.0,)),
        wave_k=k,
        wave_amp=rng.uniform(0.3, 1.0, n_waves) * wave_amp,
        wave_phase=rng.uniform(0.0, 2 * np.pi, n_waves),
    )


def paint(volume: np.ndarray, blob: Blob, spacing: tuple[float, ...]) -> None:
    """Paint ``blob`` into ``volume`` in place, computing only inside its bounding box."""
    spacing = np.asarray(spacing, dtype=float)
    reach = blob.radii_mm.max() * (1.0 + blob.wave_amp.sum()) + spacing.max()
    lo = np.maximum(np.floor((blob.center_mm - reach) / spacing).astype(int), 0)
    hi = np.minimum(np.ceil((blob.center_mm + reach) / spacing).astype(int) + 1, volume.shape)
    if np.any(hi <= lo):
        return
    # Offsets from the centre in mm, as open grids (one axis each).
    grids = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi))]
    d = [(g.astype(np.float32) * np.float32(s) - np.float32(c))
         for g, s, c in zip(grids, spacing, blob.center_mm)]
    ndim = volume.ndim
    # Rotate into the blob frame and normalise by the radii: u_i = sum_j R[j, i] d_j / r_i.
    u = []
    for i in range(ndim):
        acc = None
        for j in range(ndim):
            term = d[j] * np.float32(blob.rot[j, i] / blob.radii_mm[i])
            acc = term if acc is None else acc + term
        u.append(acc)
    rho2 = sum(ui * ui for ui in u)
    rho = np.sqrt(rho2) + np.float32(1e-6)
    # Surface radius as a function of direction: 1 + sum_k a_k cos(k . u/|u| + phase).
    limit = np.ones_like(rho)
    for k, a, ph in zip(blob.wave_k, blob.wave_amp, blob.wave_phase):
        arg = sum(u[i] * np.float32(k[i]) for i in range(ndim)) / rho + np.float32(ph)
        limit += np.float32(a) * np.cos(arg)
    mask = rho < limit
    region = volume[tuple(slice(a, b) for a, b in zip(lo, hi))]
    region[mask] = blob.label


# Abdominal CT-like layout: (label, centre as fraction of the field of view, radii as a
# fraction of it, tilt). Organs, most voxels background; label 6 = lesions in the liver.
ORGANS_3D = [
    (1, (0.36, 0.42, 0.50), (0.19, 0.16, 0.28)),  # liver
    (2, (0.70, 0.40, 0.55), (0.10, 0.08, 0.20)),  # spleen
    (3, (0.36, 0.66, 0.45), (0.07, 0.06, 0.20)),  # right kidney
    (3, (0.64, 0.66, 0.47), (0.07, 0.06, 0.20)),  # left kidney
    (4, (0.57, 0.36, 0.62), (0.11, 0.09, 0.16)),  # stomach
    (5, (0.52, 0.52, 0.42), (0.14, 0.035, 0.06)),  # pancreas
]


def make_case_3d(seed: int, index: int, shape: tuple[int, int, int]):
    rng = np.random.default_rng([seed, 3, index])
    extent = np.asarray(shape, float) * np.asarray(SPACING_3D)
    gt_blobs = []
    for label, c, r in ORGANS_3D:
        if rng.random() < 0.05:  # an organ missing now and then (resected, out of view)
            continue
        gt_blobs.append(_random_blob(rng, label, c, r, extent))
    liver = next((b for b in gt_blobs if b.label == 1), None)
    if liver is not None:
        for _ in range(rng.integers(0, 4)):  # 0..3 lesions inside the liver
            offset = rng.uniform(-0.5, 0.5, 3) * liver.radii_mm
            rad = rng.uniform(5.0, 22.0) * rng.uniform(0.8, 1.2, 3)
            frac_c = (liver.center_mm + offset) / extent
            gt_blobs.append(_random_blob(rng, 6, frac_c, rad / extent, extent, jitter=0.0,
                                         size_var=0.0, max_deg=(30, 30, 90), wave_amp=0.15))
    pred_blobs = []
    for b in gt_blobs:
        if b.label == 6 and rng.random() < 0.15:  # missed lesion
            continue
        small = b.radii_mm.min() < 25
        pred_blobs.append(b.perturbed(rng, shift_mm=1.5 if small else 3.0,
                                      scale=(0.85, 1.12) if small else (0.92, 1.07)))
    for _ in range(rng.integers(1, 4)):  # false-positive blobs
        label = int(rng.integers(1, CLASSES_3D + 1))
        rad = rng.uniform(4.0, 15.0) * rng.uniform(0.8, 1.2, 3)
        pred_blobs.append(_random_blob(rng, label, rng.uniform(0.2, 0.8, 3), rad / extent, extent,
                                       jitter=0.0, size_var=0.0, max_deg=(30, 30, 90)))
    gt = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    for b in gt_blobs:
        paint(gt, b, SPACING_3D)
    for b in pred_blobs:
        paint(pred, b, SPACING_3D)
    return gt, pred


def make_case_2d(seed: int, index: int, shape: tuple[int, int]):
    rng = np.random.default_rng([seed, 2, index])
    spacing = (1.0, 1.0)
    extent = np.asarray(shape, float)
    gt_blobs = []
    # Large regions first (tissue/road-like), then smaller objects painted over them.
    for label, n_range, r_range in [(1, (1, 3), (0.15, 0.30)), (2, (1, 4), (0.06, 0.15)),
                                    (3, (0, 6), (0.03, 0.08)), (4, (0, 10), (0.015, 0.04)),
                                    (5, (0, 3), (0.05, 0.12))]:
        for _ in range(rng.integers(*n_range, endpoint=True)):
            r = rng.uniform(*r_range) * rng.uniform(0.6, 1.4, 2)
            gt_blobs.append(_random_blob(rng, label, rng.uniform(0.1, 0.9, 2), r, extent,
                                         jitter=0.0, size_var=0.0, wave_amp=0.18))
    pred_blobs = []
    for b in gt_blobs:
        if b.radii_mm.min() < 12 and rng.random() < 0.1:  # missed small object
            continue
        pred_blobs.append(b.perturbed(rng, shift_mm=2.0, scale=(0.9, 1.1)))
    for _ in range(rng.integers(0, 4)):  # false positives
        r = rng.uniform(0.01, 0.04) * rng.uniform(0.7, 1.3, 2)
        pred_blobs.append(_random_blob(rng, int(rng.integers(1, CLASSES_2D + 1)),
                                       rng.uniform(0.05, 0.95, 2), r, extent, jitter=0.0,
                                       size_var=0.0))
    gt = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    for b in gt_blobs:
        paint(gt, b, spacing)
    for b in pred_blobs:
        paint(pred, b, spacing)
    return gt, pred


def _write_case(kind: str, seed: int, index: int, shape, folder: str) -> tuple[str, float, float]:
    folder = Path(folder)
    if kind == "3d":
        import nibabel as nib

        gt, pred = make_case_3d(seed, index, tuple(shape))
        affine = np.diag([*SPACING_3D, 1.0])
        name = f"ct_{index:03d}.nii.gz"
        for sub, arr in (("gt", gt), ("pred", pred)):
            img = nib.Nifti1Image(arr, affine)
            img.set_data_dtype(np.uint8)
            nib.save(img, folder / sub / name)
    else:
        from PIL import Image

        gt, pred = make_case_2d(seed, index, tuple(shape))
        name = f"img_{index:04d}.png"
        for sub, arr in (("gt", gt), ("pred", pred)):
            Image.fromarray(arr, mode="L").save(folder / sub / name)
    return name, float(np.mean(gt > 0)), float(np.mean(pred > 0))


@dataclass
class DataSet:
    kind: str  # "3d" or "2d"
    folder: Path
    gt: Path
    pred: Path
    labels: list[int]
    manifest: dict

    @property
    def title(self) -> str:
        m = self.manifest
        shape = "×".join(str(s) for s in m["shape"])
        if self.kind == "3d":
            sp = "×".join(str(s) for s in m["spacing"])
            return (f"3D: {m['cases']} pairs of {shape} uint8 NIfTI (.nii.gz, spacing {sp} mm), "
                    f"{m['classes']} classes, mean foreground {100 * m['foreground_fraction_gt']:.1f}%")
        return (f"2D: {m['cases']} pairs of {shape} uint8 PNG (mode L), {m['classes']} classes, "
                f"mean foreground {100 * m['foreground_fraction_gt']:.1f}%")


def ensure_dataset(kind: str, root: Path, seed: int, cases: int, shape, jobs: int,
                   regenerate: bool, log) -> DataSet:
    classes = CLASSES_3D if kind == "3d" else CLASSES_2D
    shape = [int(s) for s in shape]
    params = {"generator": GENERATOR_VERSION, "kind": kind, "seed": seed, "cases": cases,
              "shape": shape, "classes": classes}
    if kind == "3d":
        params["spacing"] = list(SPACING_3D)
    folder = root / f"{kind}_{'x'.join(map(str, shape))}_n{cases}_seed{seed}"
    manifest_path = folder / "manifest.json"
    if not regenerate and manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
        except ValueError:
            manifest = {}
        if ({k: manifest.get(k) for k in params} == params
                and all((folder / s / f).is_file() for s in ("gt", "pred")
                        for f in manifest.get("files", []))
                and len(manifest.get("files", [])) == cases):
            log(f"reusing {kind} data in {folder}")
            return DataSet(kind, folder, folder / "gt", folder / "pred",
                           list(range(1, classes + 1)), manifest)
    if folder.exists():
        shutil.rmtree(folder)
    for sub in ("gt", "pred"):
        (folder / sub).mkdir(parents=True)
    log(f"generating {cases} {kind} pairs of {'x'.join(map(str, shape))} into {folder} ...")
    t0 = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(_write_case, kind, seed, i, shape, str(folder)) for i in range(cases)]
        results = [f.result() for f in futures]
    manifest = dict(params)
    manifest["files"] = [r[0] for r in results]
    manifest["foreground_fraction_gt"] = float(np.mean([r[1] for r in results]))
    manifest["foreground_fraction_pred"] = float(np.mean([r[2] for r in results]))
    manifest["bytes"] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")  # written last: marks completion
    log(f"  done in {time.perf_counter() - t0:.1f} s "
        f"({manifest['bytes'] / 1e6:.1f} MB on disk)")
    return DataSet(kind, folder, folder / "gt", folder / "pred", list(range(1, classes + 1)),
                   manifest)


# --------------------------------------------------------------------------------------
# Child programs (run with ``python -c``; each imports only what it needs)
# --------------------------------------------------------------------------------------

_CHILD_HEAD = """\
import os, sys
import numpy as np
gt_dir, pred_dir, kind = sys.argv[1], sys.argv[2], sys.argv[3]
labels = [int(v) for v in sys.argv[4].split(",")]
emit = len(sys.argv) > 5 and sys.argv[5] == "--emit"
suffix = ".nii.gz" if kind == "3d" else ".png"
names = sorted(n for n in os.listdir(gt_dir) if n.endswith(suffix) and not n.startswith("."))
"""

_READ = {
    "3d": "import nibabel as nib\ndef read(p):\n    return np.asanyarray(nib.load(p).dataobj)\n",
    "2d": "from PIL import Image\ndef read(p):\n    return np.asarray(Image.open(p))\n",
}

_LOAD_ONLY = """\
for n in names:
    g = read(os.path.join(gt_dir, n))
    p = read(os.path.join(pred_dir, n))
"""

_NAIVE = """\
out = {}
with np.errstate(invalid="ignore", divide="ignore"):
    for n in names:
        g = read(os.path.join(gt_dir, n))
        p = read(os.path.join(pred_dir, n))
        res = {}
        for c in labels:
            res[str(c)] = float(2 * np.sum((g == c) & (p == c)) / (np.sum(g == c) + np.sum(p == c)))
        out[n[: -len(suffix)]] = res
if emit:
    import json, math
    print(json.dumps({k: {c: (None if math.isnan(v) else v) for c, v in r.items()}
                      for k, r in out.items()}))
"""

_SITK = """\
import SimpleITK as sitk
f = sitk.LabelOverlapMeasuresImageFilter()
out = {}
for n in names:
    g = sitk.ReadImage(os.path.join(gt_dir, n))
    p = sitk.ReadImage(os.path.join(pred_dir, n))
    f.Execute(g, p)
    out[n] = [f.GetDiceCoefficient(c) for c in labels]
"""

_MEDPY = """\
from medpy.metric.binary import dc
out = {}
for n in names:
    g = read(os.path.join(gt_dir, n))
    p = read(os.path.join(pred_dir, n))
    out[n] = [dc(p == c, g == c) for c in labels]
"""


def child_code(method: str, kind: str) -> str:
    body = {"load": _LOAD_ONLY, "naive": _NAIVE, "sitk": _SITK, "medpy": _MEDPY}[method]
    read = "" if method == "sitk" else _READ[kind]
    return _CHILD_HEAD + read + body


# --------------------------------------------------------------------------------------
# Running and timing
# --------------------------------------------------------------------------------------


@dataclass
class Method:
    key: str
    label: str
    cmd: list[str]
    times: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


class ChildFailed(RuntimeError):
    pass


def run_timed(cmd: list[str], stdout=subprocess.DEVNULL) -> tuple[float, int]:
    """Run one child; return (wall seconds, peak RSS in KiB of it and its reaped children)."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        if code != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise ChildFailed(f"exit status {code}: {shlex.join(cmd)[:300]}\n{tail}")
    return wall, usage.ru_maxrss


def probe(module: str) -> str | None:
    """Version of ``module`` when it imports in the benchmark interpreter, else None."""
    code = (f"import {module} as m; v = getattr(m, '__version__', None) or "
            f"(m.Version.VersionString() if hasattr(m, 'Version') else '?'); print(v)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def build_methods(ds: DataSet, dice_exe: Path, have_sitk: bool, have_medpy: bool,
                  notes: list[str], dice_only: bool = False) -> list[Method]:
    labels = ",".join(map(str, ds.labels))
    args = [str(ds.gt), str(ds.pred), ds.kind, labels]

    def py(method):
        return [sys.executable, "-c", child_code(method, ds.kind), *args]

    reader = ("nibabel `np.asanyarray(nib.load(p).dataobj)`" if ds.kind == "3d"
              else "PIL `np.asarray(Image.open(p))`")
    methods = [Method("load", f"load-only floor ({reader})", py("load"))]
    if dice_only:
        notes.append("--dice-only: naive numpy, SimpleITK and MedPy not timed.")
        have_sitk = have_medpy = False
    else:
        methods.append(Method("naive", "naive numpy (per case, per class)", py("naive")))
    if dice_only:
        pass
    elif have_sitk:
        methods.append(Method("sitk", "SimpleITK LabelOverlapMeasuresImageFilter", py("sitk")))
    else:
        notes.append("SimpleITK not importable: skipped (`pip install '.[bench]'`).")
    if have_medpy:
        methods.append(Method("medpy", "MedPy `metric.binary.dc` per class", py("medpy")))
    elif not dice_only:
        notes.append("MedPy not importable: skipped (`pip install '.[bench]'`).")
    base = [str(dice_exe), "score", str(ds.gt), str(ds.pred), "--quiet", "--format", "json"]
    methods.append(Method("dice_j1", "`dice score … -j 1`", base + ["-j", "1"]))
    methods.append(Method("dice", "`dice score …` (default jobs)", base))
    first = sorted(p.name for p in ds.gt.iterdir())[0]
    methods.append(Method("dice_one", "`dice score` of one case, `-j 1` (fixed start-up + 1 case)",
                          [str(dice_exe), "score", str(ds.gt / first), str(ds.pred / first), "--quiet",
                           "--format", "json", "-j", "1"]))
    return methods


def time_round_robin(methods: list[Method], repeat: int, warmup: int, log) -> None:
    for r in range(-warmup, repeat):
        line = []
        for m in methods:
            wall, rss = run_timed(m.cmd)
            if r >= 0:
                m.times.append(wall)
                m.rss_kib.append(rss)
            line.append(f"{m.key} {wall:.2f}s")
        log(("  warm-up: " if r < 0 else f"  run {r + 1}/{repeat}: ") + ", ".join(line))


def verify(ds: DataSet, dice_exe: Path) -> tuple[bool, str]:
    """Compare `dice score --format json` per case, per class with the naive numpy values."""
    labels = ",".join(map(str, ds.labels))
    naive = subprocess.run(
        [sys.executable, "-c", child_code("naive", ds.kind), str(ds.gt), str(ds.pred), ds.kind,
         labels, "--emit"], capture_output=True, text=True)
    if naive.returncode != 0:
        return False, f"naive numpy child failed: {naive.stderr[-1000:]}"
    expected = json.loads(naive.stdout)
    run = subprocess.run([str(dice_exe), "score", str(ds.gt), str(ds.pred), "--format", "json",
                          "--quiet"], capture_output=True, text=True)
    if run.returncode != 0:
        return False, f"dice exited {run.returncode}: {run.stderr[-1000:]}"
    report = json.loads(run.stdout)
    got = {c["case"]: {k: v.get("dice") for k, v in c["classes"].items()} for c in report["cases"]}
    problems = []
    if set(got) != set(expected):
        problems.append(f"case sets differ: only dice {sorted(set(got) - set(expected))[:5]}, "
                        f"only naive {sorted(set(expected) - set(got))[:5]}")
    worst = 0.0
    compared = 0
    for case in sorted(set(got) & set(expected)):
        for cls, want in expected[case].items():
            if want is None and cls not in got[case]:
                continue  # class absent from the whole run: dice need not list it
            have = got[case].get(cls, "missing")
            compared += 1
            if want is None or have is None or have == "missing":
                if want != have:
                    problems.append(f"{case} class {cls}: dice {have!r}, naive {want!r}")
                continue
            worst = max(worst, abs(have - want))
            if abs(have - want) > 1e-12:
                problems.append(f"{case} class {cls}: dice {have!r}, naive {want!r}")
    if problems:
        return False, (f"MISMATCH: dice vs naive numpy on the {ds.kind.upper()} set: "
                       f"{len(problems)} problem(s): " + "; ".join(problems[:5]))
    return True, (f"Correctness: dice score --format json equals naive numpy on the "
                  f"{ds.kind.upper()} set for all {compared} (case, class) values "
                  f"(max |diff| {worst:.1e} <= 1e-12).")


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def table(methods: list[Method]) -> list[str]:
    floor = next(m for m in methods if m.key == "load").median
    rows = ["| method | median wall s | min s | ratio to load-only | peak RSS MB |",
            "|---|---:|---:|---:|---:|"]
    for m in methods:
        rows.append(f"| {m.label} | {m.median:.3f} | {min(m.times):.3f} | "
                    f"{m.median / floor:.2f}× | {max(m.rss_kib) / 1024:.0f} |")
    return rows


def verdict(ok: bool | None, text: str, measured: str) -> str:
    word = "SKIP" if ok is None else ("PASS" if ok else "FAIL")
    return f"- {word}: {text} — measured {measured}"


def targets_3d(by: dict[str, Method], cases: int) -> list[str]:
    floor = by["load"].median
    j1, dj = by["dice_j1"].median, by["dice"].median
    lines = [
        verdict(j1 <= 1.2 * floor, "3D: dice -j 1 <= 1.2× load-only", f"{j1 / floor:.2f}×"),
        verdict(dj <= 0.75 * floor, "3D: dice default jobs <= 0.75× load-only", f"{dj / floor:.2f}×"),
        verdict(None if cases < 16 else j1 / dj >= 1.6,
                "3D: dice default jobs >= 1.6× faster than -j 1"
                + (" (needs >= 16 cases)" if cases < 16 else ""), f"{j1 / dj:.2f}×"),
    ]
    lines.append(amdahl_line(by, cases))
    if "sitk" in by:
        s = by["sitk"].median
        lines.append(verdict(s / dj >= 2.0, "3D: dice default jobs >= 2× faster than SimpleITK",
                             f"{s / dj:.2f}×"))
    else:
        lines.append(verdict(None, "3D: dice default jobs >= 2× faster than SimpleITK "
                                   "(SimpleITK not installed)", "n/a"))
    return lines


def amdahl_line(by: dict[str, Method], cases: int) -> str:
    """What the fixed start-up allows: per-case cost w = (t(-j 1) - t(one case)) / (cases - 1),
    start-up s = t(one case) - w; with J jobs and perfect scaling the best run takes s + cases·w/J."""
    j1, one = by["dice_j1"].median, by["dice_one"].median
    jobs = usable_cpus()
    if cases < 2 or jobs < 2:
        return "- info: start-up bound needs >= 2 cases and >= 2 CPUs"
    w = (j1 - one) / (cases - 1)
    s = one - w
    if w <= 0 or s <= 0:
        return f"- info: start-up bound not estimated (timings too noisy: one case {one:.3f} s, all {j1:.3f} s)"
    best = s + cases * w / jobs
    return (f"- info: fixed start-up {s:.3f} s + {1000 * w:.1f} ms per case (from `-j 1` on 1 and {cases} "
            f"cases): even perfect scaling over {jobs} jobs gives at most {j1 / best:.2f}× over -j 1 "
            f"here; measured {j1 / by['dice'].median:.2f}× ({j1 / by['dice'].median / (j1 / best):.0%} of that)")


def targets_2d(by: dict[str, Method], cases: int) -> list[str]:
    floor = by["load"].median
    dj = by["dice"].median
    return [verdict(dj <= 1.15 * floor, "2D: dice (default jobs) <= 1.15× load-only",
                    f"{dj / floor:.2f}× (-j 1: {by['dice_j1'].median / floor:.2f}×)")]


def parse_shape(text: str, ndim: int) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {ndim} integers like 512x512x96, got {text!r}")
    if len(shape) != ndim or min(shape) < 8:
        raise argparse.ArgumentTypeError(f"expected {ndim} integers >= 8 like "
                                         f"{'x'.join(['512'] * ndim)}, got {text!r}")
    return shape


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="bench.py",
        description="End-to-end benchmark of `dice score` (separate processes: start-up, imports "
                    "and reading included) against a load-only floor, naive numpy, SimpleITK and "
                    "MedPy on seeded synthetic 3D NIfTI and 2D PNG label maps.",
        epilog="Examples: python benchmarks/bench.py --quick --repeat 2; "
               "python benchmarks/bench.py --cases-3d 32 --shape-3d 512x512x128")
    ap.add_argument("--quick", action="store_true",
                    help=f"small smoke run: {QUICK_CASES_3D} 3D cases of "
                         f"{'x'.join(map(str, QUICK_SHAPE_3D))} and {QUICK_CASES_2D} PNGs "
                         "(explicit --cases-*/--shape-* still win)")
    ap.add_argument("--cases-3d", type=int, default=None,
                    help=f"3D pairs (default {DEFAULT_CASES_3D}; 0 skips the 3D set)")
    ap.add_argument("--shape-3d", type=lambda s: parse_shape(s, 3), default=None,
                    help=f"3D shape XxYxZ (default {'x'.join(map(str, DEFAULT_SHAPE_3D))})")
    ap.add_argument("--cases-2d", type=int, default=None,
                    help=f"2D pairs (default {DEFAULT_CASES_2D}; 0 skips the 2D set)")
    ap.add_argument("--shape-2d", type=lambda s: parse_shape(s, 2), default=None,
                    help=f"2D shape HxW (default {'x'.join(map(str, DEFAULT_SHAPE_2D))})")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per method (median reported) (default: %(default)s)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed round-robin rounds first (warms the page cache) (default: %(default)s)")
    ap.add_argument("--startup-repeat", type=int, default=10,
                    help="runs of `dice --help` / `dice --version` (0 skips) (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default: %(default)s)")
    ap.add_argument("--data-dir", type=Path, default=HERE / "data",
                    help="work folder for generated data (reused when the parameters match) (default: %(default)s)")
    ap.add_argument("--regenerate", action="store_true", help="regenerate data even if present")
    ap.add_argument("--gen-jobs", type=int, default=usable_cpus(),
                    help="processes used to generate data (default: %(default)s)")
    ap.add_argument("--results", type=Path, default=HERE / "results" / "latest.md",
                    help="markdown report written here too (default: %(default)s)")
    ap.add_argument("--dice-only", action="store_true",
                    help="time only the load-only floor and dice (skip naive numpy, SimpleITK, MedPy): "
                         "for scaling runs on large sets")
    ap.add_argument("--fail-on-target", action="store_true",
                    help="exit 1 when a performance target FAILs (default: report only)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be >= 1")

    cases_3d = args.cases_3d if args.cases_3d is not None else (
        QUICK_CASES_3D if args.quick else DEFAULT_CASES_3D)
    shape_3d = args.shape_3d or (QUICK_SHAPE_3D if args.quick else DEFAULT_SHAPE_3D)
    cases_2d = args.cases_2d if args.cases_2d is not None else (
        QUICK_CASES_2D if args.quick else DEFAULT_CASES_2D)
    shape_2d = args.shape_2d or DEFAULT_SHAPE_2D

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    command = shlex.join(["python", os.path.relpath(sys.argv[0]) if sys.argv[0] else "bench.py",
                          *(sys.argv[1:] if argv is None else argv)])
    dice_exe = Path(sys.executable).parent / "dice"
    if not dice_exe.exists():
        log(f"error: no `dice` executable next to {sys.executable} (pip install -e '.[bench]')")
        return 2
    dice_version = subprocess.run([str(dice_exe), "--version"], capture_output=True,
                                  text=True).stdout.strip()
    versions = {name: probe(mod) for name, mod in
                [("numpy", "numpy"), ("nibabel", "nibabel"), ("Pillow", "PIL"),
                 ("SimpleITK", "SimpleITK"), ("MedPy", "medpy")]}
    have_sitk = versions["SimpleITK"] is not None
    have_medpy = versions["MedPy"] is not None and probe("medpy.metric.binary") is not None

    datasets = []
    if cases_3d > 0:
        datasets.append(ensure_dataset("3d", args.data_dir, args.seed, cases_3d, shape_3d,
                                       args.gen_jobs, args.regenerate, log))
    if cases_2d > 0:
        datasets.append(ensure_dataset("2d", args.data_dir, args.seed, cases_2d, shape_2d,
                                       args.gen_jobs, args.regenerate, log))

    out: list[str] = ["# dicecli benchmark", ""]
    out += [f"- command: `{command}`",
            f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
            f"- machine: {platform.machine()}, {usable_cpus()} usable CPUs, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
            f"- versions: {dice_version}; " + ", ".join(
                f"{k} {v if v else 'not installed'}" for k, v in versions.items()),
            f"- timing: wall clock of each child process (start-up, imports, reading included), "
            f"median of {args.repeat} runs after {args.warmup} warm-up round(s), methods "
            "interleaved round-robin; peak RSS = largest single process (children of `dice` "
            "workers included via wait4), max over runs", ""]
    ok_all = True
    target_fail = False
    for ds in datasets:
        log(f"verifying dice against naive numpy on the {ds.kind} set ...")
        ok, msg = verify(ds, dice_exe)
        log(msg)
        ok_all &= ok
        notes: list[str] = []
        methods = build_methods(ds, dice_exe, have_sitk, have_medpy, notes, args.dice_only)
        log(f"timing {len(methods)} methods on the {ds.kind} set ...")
        try:
            time_round_robin(methods, args.repeat, args.warmup, log)
        except ChildFailed as exc:
            log(f"error: a benchmark child failed: {exc}")
            return 2
        by = {m.key: m for m in methods}
        out += [f"## {ds.title}", "", *table(methods), ""]
        out += [f"- {n}" for n in notes]
        cases = len(ds.manifest["files"])
        lines = targets_3d(by, cases) if ds.kind == "3d" else targets_2d(by, cases)
        target_fail |= any(line.startswith("- FAIL") for line in lines)
        out += ["Targets:", "", *lines, "", f"{'- ' if ok else '- **'}{msg}{'' if ok else '**'}", ""]
        out += [f"dice commands: `{shlex.join(by['dice_j1'].cmd)}` and "
                f"`{shlex.join(by['dice'].cmd)}`, stdout to /dev/null", ""]

    if args.startup_repeat > 0:
        log("timing dice --help / --version ...")
        startup = [Method("help", "`dice --help`", [str(dice_exe), "--help"]),
                   Method("version", "`dice --version`", [str(dice_exe), "--version"])]
        time_round_robin(startup, args.startup_repeat, 1, lambda _msg: None)
        out += ["## CLI start-up", "", "| command | median wall s | min s | peak RSS MB |",
                "|---|---:|---:|---:|"]
        for m in startup:
            out.append(f"| {m.label} | {m.median:.3f} | {min(m.times):.3f} | "
                       f"{max(m.rss_kib) / 1024:.0f} |")
        lines = [verdict(m.median < 0.15, f"{m.label.strip('`')} < 0.15 s", f"{m.median:.3f} s")
                 for m in startup]
        target_fail |= any(line.startswith("- FAIL") for line in lines)
        out += ["", "Targets:", "", *lines, ""]

    report = "\n".join(out).rstrip() + "\n"
    print(report)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.results.with_name(args.results.name + ".tmp")
    tmp.write_text(report)
    tmp.replace(args.results)
    log(f"report written to {args.results}")
    log(f"command: {command}")
    if not ok_all:
        log("FAILED: dice disagrees with naive numpy (see above)")
        return 1
    if args.fail_on_target and target_fail:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
