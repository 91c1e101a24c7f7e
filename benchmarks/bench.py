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
GENERATOR_VERSION = 2  # bump when the generated data would change

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


def _box_blur(mask: np.ndarray) -> np.ndarray:
    """Mean over a 3-voxel window along every axis (edges repeated), as float32."""
    out = mask.astype(np.float32)
    for axis in range(out.ndim):
        widths = [(1, 1) if a == axis else (0, 0) for a in range(out.ndim)]
        padded = np.pad(out, widths, mode="edge")
        n = out.shape[axis]
        out = sum(np.take(padded, np.arange(k, k + n), axis=axis) for k in range(3)) / np.float32(3)
    return out


#: Logit of a voxel deep inside its class: e**-LOGIT_SCALE is below float16's smallest value, so
#: inside a region the maps saturate at exactly 1 and 0, as a trained network's do.
LOGIT_SCALE = 20


def softmax_maps(labels: np.ndarray, channels: int, rng: np.random.Generator) -> np.ndarray:
    """A float16 softmax stack (channels, *labels.shape) whose argmax mostly follows ``labels``:
    blurred one-hot logits plus per-voxel noise, so borders are soft and values vary there,
    while the inside of a region saturates (and compresses) as a network's output does."""
    logits = np.empty((channels, *labels.shape), np.float32)
    for c in range(channels):
        logits[c] = _box_blur(labels == c) * np.float32(LOGIT_SCALE)
    logits += rng.standard_normal(logits.shape, dtype=np.float32) * np.float32(0.7)
    logits -= logits.max(axis=0)
    np.exp(logits, out=logits)
    logits /= logits.sum(axis=0)
    return logits.astype(np.float16)


def block_grid(side: int, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """Square blocks labelled 1..n_labels (uint16) with one-pixel gaps; the prediction is the
    same grid moved by one pixel down and right, so every label has 0 < Dice < 1."""
    per_row = int(np.ceil(np.sqrt(n_labels)))
    cell = side // per_row
    ids = np.arange(1, per_row * per_row + 1).reshape(per_row, per_row)
    ids[ids > n_labels] = 0
    gt = np.zeros((side, side), np.uint16)
    gt[:per_row * cell, :per_row * cell] = ids.repeat(cell, axis=0).repeat(cell, axis=1)
    gt[::cell, :] = 0
    gt[:, ::cell] = 0
    pred = np.zeros_like(gt)
    pred[1:, 1:] = gt[:-1, :-1]
    return gt, pred


def many_labels(side: int) -> int:
    """Labels of the many-label set: 29,549 at 2048², as many per pixel at other sizes."""
    return max(16, round(29_549 * (side / 2048) ** 2))


@dataclass(frozen=True)
class Kind:
    """A kind of input: how its pairs are made and stored, its sizes and its target.

    target: the largest ratio of `dice score` (default jobs) to the load-only floor; None: no
        target (compare it with a baseline).
    """

    name: str
    what: str  # words for the report title, e.g. "uint8 NIfTI (.nii.gz)"
    cases: int
    shape: tuple[int, ...]
    quick_cases: int
    quick_shape: tuple[int, ...]
    gt_suffix: str
    pred_suffix: str
    target: float | None
    dtype: str = "uint8"

    def labels(self, shape) -> int:
        """Classes 1..N of this kind's data."""
        return {"3d": CLASSES_3D, "2d": CLASSES_2D, "tiny": CLASSES_2D, "softmax": SOFTMAX_CHANNELS - 1,
                "prob": 1, "many": many_labels(shape[0])}.get(self.name, CLASSES_3D)


SOFTMAX_CHANNELS = 4
_SOFTMAX_CLASSES = np.array([0, 1, 2, 3, 1, 2, 3], np.uint8)  # the 3D organs folded into 3 classes

KINDS: dict[str, Kind] = {k.name: k for k in [
    Kind("3d", "uint8 NIfTI (.nii.gz)", DEFAULT_CASES_3D, DEFAULT_SHAPE_3D, QUICK_CASES_3D, QUICK_SHAPE_3D,
         ".nii.gz", ".nii.gz", 0.75),
    Kind("2d", "uint8 PNG (mode L)", DEFAULT_CASES_2D, DEFAULT_SHAPE_2D, QUICK_CASES_2D, DEFAULT_SHAPE_2D,
         ".png", ".png", 1.15),
    Kind("tiny", "uint8 PNG (mode L)", 20_000, (64, 64), 2_000, (64, 64), ".png", ".png", 1.2),
    Kind("softmax", f"uint8 NIfTI ground truth, float16 nnU-Net softmax .npz ({SOFTMAX_CHANNELS} channels, "
                    "c×z×y×x)", 8, (256, 256, 128), 2, (128, 128, 64), ".nii.gz", ".npz", 1.0),
    Kind("prob", "uint8 NIfTI ground truth (0/1), float32 probability map NIfTI (.nii.gz)", 8, (256, 256, 128),
         2, (128, 128, 64), ".nii.gz", ".nii.gz", None, "float32"),
    Kind("int16", "int16 label NIfTI (.nii.gz)", DEFAULT_CASES_3D, DEFAULT_SHAPE_3D, QUICK_CASES_3D,
         QUICK_SHAPE_3D, ".nii.gz", ".nii.gz", 0.2, "int16"),
    Kind("float32", "float32 label NIfTI (.nii.gz, whole numbers)", DEFAULT_CASES_3D, DEFAULT_SHAPE_3D,
         QUICK_CASES_3D, QUICK_SHAPE_3D, ".nii.gz", ".nii.gz", 0.2, "float32"),
    Kind("float64", "float64 label NIfTI (.nii.gz, whole numbers)", DEFAULT_CASES_3D, DEFAULT_SHAPE_3D,
         QUICK_CASES_3D, QUICK_SHAPE_3D, ".nii.gz", ".nii.gz", 0.2, "float64"),
    Kind("many", "uint16 PNG (mode I;16), a grid of blocks", 1, (2048, 2048), 1, (1024, 1024), ".png", ".png",
         3.0, "uint16"),
]}


def make_pair(kind: str, seed: int, index: int, shape) -> tuple[np.ndarray, np.ndarray]:
    """(gt, pred) of one case; the 3D label kinds share the 3d set's voxels."""
    if kind in ("3d", "int16", "float32", "float64"):
        gt, pred = make_case_3d(seed, index, tuple(shape))
        return gt.astype(KINDS[kind].dtype), pred.astype(KINDS[kind].dtype)
    if kind in ("2d", "tiny"):
        return make_case_2d(seed, index, tuple(shape))
    if kind == "softmax":
        gt, pred = make_case_3d(seed, index, tuple(shape))
        probabilities = softmax_maps(_SOFTMAX_CLASSES[pred], SOFTMAX_CHANNELS, np.random.default_rng([seed, 4, index]))
        return _SOFTMAX_CLASSES[gt], probabilities.transpose(0, 3, 2, 1)  # nnU-Net's (c, z, y, x)
    if kind == "prob":  # foreground = 1 - background of a 2-channel softmax
        gt, pred = make_case_3d(seed, index, tuple(shape))
        background = softmax_maps((pred > 0).astype(np.uint8), 2, np.random.default_rng([seed, 5, index]))[0]
        return (gt > 0).astype(np.uint8), (1 - background.astype(np.float32))
    if kind == "many":
        return block_grid(shape[0], many_labels(shape[0]))
    raise ValueError(f"unknown kind {kind}")


def _save(array: np.ndarray, path: Path) -> None:
    name = path.name.lower()
    if name.endswith(".nii.gz"):
        import nibabel as nib

        img = nib.Nifti1Image(array, np.diag([*SPACING_3D, 1.0]))
        img.set_data_dtype(array.dtype)
        nib.save(img, path)
    elif name.endswith(".png"):
        from PIL import Image

        (Image.fromarray(array, mode="L") if array.dtype == np.uint8 else Image.fromarray(array)).save(path)
    elif name.endswith(".npz"):
        np.savez_compressed(path, probabilities=array)  # as nnU-Net's --save_probabilities
    else:
        raise ValueError(f"no writer for {path}")


def _write_case(kind: str, seed: int, index: int, shape, folder: str) -> tuple[str, float, float]:
    """Write case ``index``; return (case name, foreground fraction of gt, of the prediction)."""
    spec, folder = KINDS[kind], Path(folder)
    gt, pred = make_pair(kind, seed, index, shape)
    name = f"case_{index:05d}"
    _save(gt, folder / "gt" / (name + spec.gt_suffix))
    _save(pred, folder / "pred" / (name + spec.pred_suffix))
    pred_fg = np.mean(np.argmax(pred, axis=0) > 0) if pred.ndim > gt.ndim else np.mean(pred > 0)
    return name, float(np.mean(gt > 0)), float(pred_fg)


@dataclass
class DataSet:
    kind: str
    folder: Path
    gt: Path
    pred: Path
    labels: int  # classes 1..labels
    manifest: dict

    @property
    def spec(self) -> Kind:
        return KINDS[self.kind]

    @property
    def cases(self) -> int:
        return len(self.manifest["files"])

    @property
    def title(self) -> str:
        m = self.manifest
        shape = "×".join(str(s) for s in m["shape"])
        extra = f", spacing {'×'.join(map(str, SPACING_3D))} mm" if len(m["shape"]) == 3 else ""
        return (f"{self.kind}: {m['cases']} pair(s) of {shape} {self.spec.what}{extra}, {self.labels} classes, "
                f"mean foreground {100 * m['foreground_fraction_gt']:.1f}%")


def ensure_dataset(kind: str, root: Path, seed: int, cases: int, shape, jobs: int,
                   regenerate: bool, log) -> DataSet:
    spec = KINDS[kind]
    shape = [int(s) for s in shape]
    labels = spec.labels(shape)
    params = {"generator": GENERATOR_VERSION, "kind": kind, "seed": seed, "cases": cases,
              "shape": shape, "classes": labels}
    if len(shape) == 3:
        params["spacing"] = list(SPACING_3D)
    if kind in ("softmax", "prob"):
        params["logit_scale"] = LOGIT_SCALE
    folder = root / f"{kind}_{'x'.join(map(str, shape))}_n{cases}_seed{seed}"
    manifest_path = folder / "manifest.json"
    if not regenerate and manifest_path.exists():
        try:
            manifest = json.loads(manifest_path.read_text())
        except ValueError:
            manifest = {}
        files = manifest.get("files", [])
        if ({k: manifest.get(k) for k in params} == params and len(files) == cases
                and all((folder / "gt" / (f + spec.gt_suffix)).is_file()
                        and (folder / "pred" / (f + spec.pred_suffix)).is_file() for f in files)):
            log(f"reusing {kind} data in {folder}")
            return DataSet(kind, folder, folder / "gt", folder / "pred", labels, manifest)
    if folder.exists():
        shutil.rmtree(folder)
    for sub in ("gt", "pred"):
        (folder / sub).mkdir(parents=True)
    log(f"generating {cases} {kind} pairs of {'x'.join(map(str, shape))} into {folder} ...")
    t0 = time.perf_counter()
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        chunk = max(1, cases // (8 * max(1, jobs)))
        results = list(pool.map(_write_case, [kind] * cases, [seed] * cases, range(cases),
                                [shape] * cases, [str(folder)] * cases, chunksize=chunk))
    manifest = dict(params)
    manifest["files"] = [r[0] for r in results]
    manifest["foreground_fraction_gt"] = float(np.mean([r[1] for r in results]))
    manifest["foreground_fraction_pred"] = float(np.mean([r[2] for r in results]))
    manifest["bytes"] = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")  # written last: marks completion
    log(f"  done in {time.perf_counter() - t0:.1f} s "
        f"({manifest['bytes'] / 1e6:.1f} MB on disk)")
    return DataSet(kind, folder, folder / "gt", folder / "pred", labels, manifest)


# --------------------------------------------------------------------------------------
# Child programs (run with ``python -c``; each imports only what it needs)
# --------------------------------------------------------------------------------------

_CHILD_HEAD = """\
import os, sys
import numpy as np
gt_dir, pred_dir, gt_suffix, pred_suffix = sys.argv[1:5]
labels = range(1, int(sys.argv[5]) + 1)
emit = len(sys.argv) > 6 and sys.argv[6] == "--emit"
names = sorted(n[: -len(gt_suffix)] for n in os.listdir(gt_dir)
               if n.endswith(gt_suffix) and not n.startswith("."))
"""

_READ = """\
def read(p):
    if p.endswith(".nii.gz"):
        import nibabel as nib
        return np.asanyarray(nib.load(p).dataobj)
    if p.endswith(".npz"):
        with np.load(p) as z:
            return z["probabilities"]
    from PIL import Image
    return np.asarray(Image.open(p))
def read_pair(n):
    return read(os.path.join(gt_dir, n + gt_suffix)), read(os.path.join(pred_dir, n + pred_suffix))
"""

_LOAD_ONLY = """\
for n in names:
    g, p = read_pair(n)
"""

_NAIVE = """\
out = {}
with np.errstate(invalid="ignore", divide="ignore"):
    for n in names:
        g, p = read_pair(n)
        if p.ndim == g.ndim + 1:  # nnU-Net softmax (c, z, y, x) against a NIfTI (x, y, z)
            p = np.argmax(p, axis=0).T
        elif p.dtype.kind == "f" and not np.array_equal(p, np.floor(p)):  # a probability map
            p = (p >= p.dtype.type(0.5)).astype(np.uint8)
        res = {}
        if len(labels) <= 64:
            for c in labels:
                res[str(c)] = float(2 * np.sum((g == c) & (p == c)) / (np.sum(g == c) + np.sum(p == c)))
        else:  # many labels: three histograms instead of a pass per label
            g, p = g.ravel().astype(np.int64), p.ravel().astype(np.int64)
            k = max(len(labels) + 1, int(g.max()) + 1, int(p.max()) + 1)
            tp = np.bincount(g[g == p], minlength=k)
            size = np.bincount(g, minlength=k) + np.bincount(p, minlength=k)
            for c in labels:
                res[str(c)] = float(2 * tp[c] / size[c])
        out[n] = res
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
    g = sitk.ReadImage(os.path.join(gt_dir, n + gt_suffix))
    p = sitk.ReadImage(os.path.join(pred_dir, n + pred_suffix))
    f.Execute(g, p)
    out[n] = [f.GetDiceCoefficient(c) for c in labels]
"""

_MEDPY = """\
from medpy.metric.binary import dc
out = {}
for n in names:
    g, p = read_pair(n)
    out[n] = [dc(p == c, g == c) for c in labels]
"""


def child_code(method: str) -> str:
    body = {"load": _LOAD_ONLY, "naive": _NAIVE, "sitk": _SITK, "medpy": _MEDPY}[method]
    return _CHILD_HEAD + ("" if method == "sitk" else _READ) + body


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


# A fresh, small process that forks the measured command, waits for it and writes
# "wall_s max_rss_kib exit_code" to argv[1]. Measuring through it (not through os.wait4 in this
# harness) keeps the harness's memory out of the peak: a vfork()ed child borrows its parent's
# address space until exec, and the kernel carries that high-water mark into the child's
# ru_maxrss, so a big harness inflated every peak. The launcher holds a few MB, less than any
# Python child measured.
_LAUNCHER = """\
import os, sys, time
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(sys.argv[2], sys.argv[2:])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
rss = usage.ru_maxrss // (1024 if sys.platform == "darwin" else 1)
with open(sys.argv[1], "w") as report:
    report.write(f"{wall!r} {rss} {os.waitstatus_to_exitcode(status)}")
"""


def run_timed(cmd: list[str], stdout=subprocess.DEVNULL) -> tuple[float, int]:
    """Run one child through the launcher; return (wall seconds, peak RSS in KiB of the largest
    process of its own tree: the child or any of its reaped children)."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r", suffix=".txt") as report:
        launcher = [sys.executable, "-S", "-c", _LAUNCHER, report.name, *cmd]
        code = subprocess.run(launcher, stdin=subprocess.DEVNULL, stdout=stdout, stderr=err).returncode
        fields = report.read().split()
        if code == 0 and len(fields) == 3:
            code = int(fields[2])
        if code != 0 or len(fields) != 3:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise ChildFailed(f"exit status {code}: {shlex.join(cmd)[:300]}\n{tail}")
    return float(fields[0]), int(fields[1])


def probe(module: str) -> str | None:
    """Version of ``module`` when it imports in the benchmark interpreter, else None."""
    code = (f"import {module} as m; v = getattr(m, '__version__', None) or "
            f"(m.Version.VersionString() if hasattr(m, 'Version') else '?'); print(v)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def child_args(ds: DataSet) -> list[str]:
    return [str(ds.gt), str(ds.pred), ds.spec.gt_suffix, ds.spec.pred_suffix, str(ds.labels)]


def build_methods(ds: DataSet, dice_exe: Path, have_sitk: bool, have_medpy: bool,
                  notes: list[str], dice_only: bool = False, baseline: Path | None = None) -> list[Method]:
    def py(method):
        return [sys.executable, "-c", child_code(method), *child_args(ds)]

    readers = {".nii.gz": "nibabel `np.asanyarray(nib.load(p).dataobj)`", ".png": "PIL `np.asarray(Image.open(p))`",
               ".npz": "`np.load(p)['probabilities']`"}
    reader = " + ".join(dict.fromkeys(readers[s] for s in (ds.spec.gt_suffix, ds.spec.pred_suffix)))
    methods = [Method("load", f"load-only floor ({reader})", py("load"))]
    classic = ds.kind in ("3d", "2d")  # SimpleITK and MedPy: the sets they were compared on
    if dice_only:
        notes.append("--dice-only: naive numpy, SimpleITK and MedPy not timed.")
    else:
        how = "per case, per class" if ds.labels <= 64 else "per case, three bincounts"
        methods.append(Method("naive", f"naive numpy ({how})", py("naive")))
        if classic and have_sitk:
            methods.append(Method("sitk", "SimpleITK LabelOverlapMeasuresImageFilter", py("sitk")))
        elif classic:
            notes.append("SimpleITK not importable: skipped (`pip install '.[bench]'`).")
        if classic and have_medpy:
            methods.append(Method("medpy", "MedPy `metric.binary.dc` per class", py("medpy")))
        elif classic:
            notes.append("MedPy not importable: skipped (`pip install '.[bench]'`).")
    several = ds.cases > 1  # with one case, default jobs run it in-process as -j 1 does
    for prefix, exe, who in [("", dice_exe, "`dice score …`"), ("base_", baseline, "baseline `dice score …`")]:
        if exe is None:
            continue
        base = [str(exe), "score", str(ds.gt), str(ds.pred), "--quiet", "--format", "json"]
        if several:
            methods.append(Method(prefix + "dice_j1", f"{who} -j 1", base + ["-j", "1"]))
        methods.append(Method(prefix + "dice", f"{who} (default jobs)", base))
    if ds.kind == "3d":
        first = ds.manifest["files"][0]
        methods.append(Method("dice_one", "`dice score` of one case, `-j 1` (fixed start-up + 1 case)",
                              [str(dice_exe), "score", str(ds.gt / (first + ds.spec.gt_suffix)),
                               str(ds.pred / (first + ds.spec.pred_suffix)), "--quiet", "--format", "json",
                               "-j", "1"]))
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


def dice_json(dice_exe: Path, ds: DataSet) -> tuple[dict | None, str]:
    """(report, "") of `dice score --format json` on the set, or (None, why it failed)."""
    run = subprocess.run([str(dice_exe), "score", str(ds.gt), str(ds.pred), "--format", "json", "--quiet"],
                         capture_output=True, text=True)
    if run.returncode != 0:
        return None, f"{dice_exe} exited {run.returncode}: {run.stderr[-1000:]}"
    return json.loads(run.stdout), ""


def verify(ds: DataSet, dice_exe: Path, baseline: Path | None = None) -> tuple[bool, str]:
    """Compare `dice score --format json` per case, per class with the naive numpy values, and
    (with a baseline) every case and summary field with the baseline's report."""
    naive = subprocess.run([sys.executable, "-c", child_code("naive"), *child_args(ds), "--emit"],
                           capture_output=True, text=True)
    if naive.returncode != 0:
        return False, f"naive numpy child failed: {naive.stderr[-1000:]}"
    expected = json.loads(naive.stdout)
    report, why = dice_json(dice_exe, ds)
    if report is None:
        return False, why
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
    same = ""
    if baseline is not None:
        theirs, why = dice_json(baseline, ds)
        if theirs is None:
            problems.append(f"baseline failed: {why}")
        else:
            fields = [k for k in ("cases", "summary", "errors") if report.get(k) != theirs.get(k)]
            if fields:
                problems.append(f"dice and the baseline report different {', '.join(fields)}")
            else:
                same = " The baseline's report has the same cases, summary and errors, field for field."
    if problems:
        return False, (f"MISMATCH on the {ds.kind} set: {len(problems)} problem(s): " + "; ".join(problems[:5]))
    return True, (f"Correctness: dice score --format json equals naive numpy on the {ds.kind} set for all "
                  f"{compared} (case, class) values (max |diff| {worst:.1e} <= 1e-12).{same}")


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


#: Cases from which default jobs must reach this share of the start-up bound (see amdahl_bound).
BOUND_CASES, BOUND_SHARE = 64, 0.85


def targets_3d(by: dict[str, Method], cases: int) -> list[str]:
    floor = by["load"].median
    j1, dj = by["dice_j1"].median, by["dice"].median
    lines = [
        verdict(j1 <= 1.2 * floor, "3d: dice -j 1 <= 1.2× load-only", f"{j1 / floor:.2f}×"),
        verdict(dj <= 0.75 * floor, "3d: dice default jobs <= 0.75× load-only", f"{dj / floor:.2f}×"),
        verdict(dj <= j1, "3d: dice default jobs never slower than -j 1", f"{dj:.3f} s vs {j1:.3f} s "
                                                                         f"({j1 / dj:.2f}× the speed)"),
    ]
    bound = amdahl_bound(by, cases)
    if bound is None:
        lines.append(f"- info: start-up bound not estimated (needs >= 2 cases, >= 2 CPUs and timings "
                     f"that are not too noisy: one case {by['dice_one'].median:.3f} s, all {j1:.3f} s)")
    else:
        s, w, best = bound
        jobs = usable_cpus()
        lines.append(f"- info: fixed start-up {s:.3f} s + {1000 * w:.1f} ms per case (from `-j 1` on 1 and {cases} "
                     f"cases): even perfect scaling over {jobs} jobs gives at most {best:.2f}× over -j 1 here")
        reached = j1 / dj / best
        lines.append(verdict(None if cases < BOUND_CASES else reached >= BOUND_SHARE,
                             f"3d: dice default jobs reach >= {BOUND_SHARE:.0%} of that bound"
                             + (f" (needs >= {BOUND_CASES} cases)" if cases < BOUND_CASES else ""),
                             f"{j1 / dj:.2f}× = {reached:.0%}"))
    if "sitk" in by:
        s = by["sitk"].median
        lines.append(verdict(s / dj >= 2.0, "3d: dice default jobs >= 2× faster than SimpleITK",
                             f"{s / dj:.2f}×"))
    return lines


def amdahl_bound(by: dict[str, Method], cases: int) -> tuple[float, float, float] | None:
    """(start-up s, per-case w, best speedup over -j 1): w = (t(-j 1) - t(one case)) / (cases - 1),
    s = t(one case) - w; with J jobs and perfect scaling the best run takes s + cases·w/J.
    None when it cannot be estimated."""
    j1, one = by["dice_j1"].median, by["dice_one"].median
    jobs = usable_cpus()
    if cases < 2 or jobs < 2:
        return None
    w = (j1 - one) / (cases - 1)
    s = one - w
    if w <= 0 or s <= 0:
        return None
    return s, w, j1 / (s + cases * w / jobs)


def targets_ratio(ds: DataSet, by: dict[str, Method]) -> list[str]:
    floor, dj = by["load"].median, by["dice"].median
    j1 = f" (-j 1: {by['dice_j1'].median / floor:.2f}×)" if "dice_j1" in by else ""
    if ds.spec.target is None:
        return [f"- info: {ds.kind}: no target; dice (default jobs) {dj / floor:.2f}× load-only{j1}"]
    return [verdict(dj <= ds.spec.target * floor, f"{ds.kind}: dice (default jobs) <= {ds.spec.target:g}× load-only",
                    f"{dj / floor:.2f}×{j1}")]


def summary_rows(results: list[tuple[DataSet, dict[str, Method]]]) -> list[str]:
    """One row per set: dice (and baseline) default jobs over the load-only floor, against the target."""
    base = any("base_dice" in by for _, by in results)
    rows = ["| kind | cases | load-only s | " + ("baseline | " if base else "") + "dice (default jobs) | "
            "dice -j 1 | target | verdict |",
            "|---|---:|---:|" + ("---:|" if base else "") + "---:|---:|---:|---|"]
    for ds, by in results:
        floor = by["load"].median
        ratio = by["dice"].median / floor
        cells = [ds.kind, str(ds.cases), f"{floor:.2f}"]
        if base:
            cells.append(f"{by['base_dice'].median / floor:.2f}×" if "base_dice" in by else "—")
        target = ds.spec.target
        cells += [f"{ratio:.2f}×", f"{by['dice_j1'].median / floor:.2f}×" if "dice_j1" in by else "—",
                  "—" if target is None else f"≤ {target:g}×",
                  "—" if target is None else "PASS" if ratio <= target else "FAIL"]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def parse_shape(text: str, ndim: int | None = None) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers like 512x512x96, got {text!r}")
    if (ndim is not None and len(shape) != ndim) or len(shape) not in (2, 3) or min(shape) < 8:
        want = f"{ndim} integers" if ndim else "2 or 3 integers"
        raise argparse.ArgumentTypeError(f"expected {want} >= 8 like 512x512x96, got {text!r}")
    return shape


def kind_option(text: str, parse) -> tuple[str, object]:
    """KIND=VALUE of --cases / --shape."""
    kind, _, value = text.partition("=")
    if kind not in KINDS or not value:
        raise argparse.ArgumentTypeError(f"expected KIND=VALUE with KIND one of {', '.join(KINDS)}, got {text!r}")
    return kind, parse(value)


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def set_sizes(args) -> dict[str, tuple[int, tuple[int, ...]]]:
    """(cases, shape) of every kind asked for; 0 cases leaves a kind out."""
    sizes = {}
    for name in args.sets:
        spec = KINDS[name]
        cases, shape = (spec.quick_cases, spec.quick_shape) if args.quick else (spec.cases, spec.shape)
        sizes[name] = [cases, shape]
    legacy = {"3d": (args.cases_3d, args.shape_3d), "2d": (args.cases_2d, args.shape_2d)}
    overrides = [(k, (c, None)) for k, c in args.cases] + [(k, (None, s)) for k, s in args.shape]
    for kind, (cases, shape) in list(legacy.items()) + overrides:
        if (cases is not None or shape is not None) and kind not in sizes:
            sizes[kind] = [KINDS[kind].cases, KINDS[kind].shape]
        if cases is not None:
            sizes[kind][0] = cases
        if shape is not None:
            if len(shape) != len(KINDS[kind].shape):
                raise SystemExit(f"bench.py: error: --shape {kind}=... needs {len(KINDS[kind].shape)} axes")
            sizes[kind][1] = shape
    return {k: (c, tuple(s)) for k, (c, s) in sizes.items() if c > 0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="bench.py",
        description="End-to-end benchmark of `dice score` (separate processes: start-up, imports "
                    "and reading included) against a load-only floor, naive numpy, SimpleITK and "
                    f"MedPy, on seeded synthetic data of these kinds: {', '.join(KINDS)}.",
        epilog="Examples: python benchmarks/bench.py --quick --repeat 2; "
               "python benchmarks/bench.py --sets softmax,int16 --baseline /tmp/venv-main/bin/dice")
    ap.add_argument("--sets", type=lambda s: [k for k in s.split(",") if k], default=list(KINDS),
                    help=f"kinds of data set to run, comma-separated (default: all: {','.join(KINDS)})")
    ap.add_argument("--quick", action="store_true",
                    help="small smoke run: a few small cases of each kind (explicit sizes still win)")
    ap.add_argument("--cases", type=lambda s: kind_option(s, int), action="append", default=[],
                    metavar="KIND=N", help="cases of one kind (0 leaves it out); repeatable")
    ap.add_argument("--shape", type=lambda s: kind_option(s, parse_shape), action="append", default=[],
                    metavar="KIND=AxB[xC]", help="shape of one kind's images; repeatable")
    ap.add_argument("--cases-3d", type=int, default=None, help="same as --cases 3d=N")
    ap.add_argument("--shape-3d", type=lambda s: parse_shape(s, 3), default=None, help="same as --shape 3d=XxYxZ")
    ap.add_argument("--cases-2d", type=int, default=None, help="same as --cases 2d=N")
    ap.add_argument("--shape-2d", type=lambda s: parse_shape(s, 2), default=None, help="same as --shape 2d=HxW")
    ap.add_argument("--baseline", type=Path, default=None, metavar="DICE",
                    help="another `dice` executable (e.g. of main) timed in the same rounds, its reports "
                         "checked field for field against this one's")
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
    unknown = [k for k in args.sets if k not in KINDS]
    if unknown:
        ap.error(f"unknown kind(s) {', '.join(unknown)} in --sets (known: {', '.join(KINDS)})")
    sizes = set_sizes(args)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    command = shlex.join(["python", os.path.relpath(sys.argv[0]) if sys.argv[0] else "bench.py",
                          *(sys.argv[1:] if argv is None else argv)])
    dice_exe = Path(sys.executable).parent / "dice"
    if not dice_exe.exists():
        log(f"error: no `dice` executable next to {sys.executable} (pip install -e '.[bench]')")
        return 2
    if args.baseline is not None and not args.baseline.exists():
        log(f"error: --baseline {args.baseline}: no such file")
        return 2
    dice_version = subprocess.run([str(dice_exe), "--version"], capture_output=True,
                                  text=True).stdout.strip()
    versions = {name: probe(mod) for name, mod in
                [("numpy", "numpy"), ("nibabel", "nibabel"), ("Pillow", "PIL"),
                 ("SimpleITK", "SimpleITK"), ("MedPy", "medpy")]}
    have_sitk = versions["SimpleITK"] is not None
    have_medpy = versions["MedPy"] is not None and probe("medpy.metric.binary") is not None

    datasets = [ensure_dataset(kind, args.data_dir, args.seed, cases, shape, args.gen_jobs, args.regenerate, log)
                for kind, (cases, shape) in sizes.items()]

    out: list[str] = ["# dicecli benchmark", ""]
    out += [f"- command: `{command}`",
            f"- date: {datetime.datetime.now().isoformat(timespec='seconds')}",
            f"- machine: {platform.machine()}, {usable_cpus()} usable CPUs, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
            f"- versions: {dice_version}; " + ", ".join(
                f"{k} {v if v else 'not installed'}" for k, v in versions.items()),
            *([f"- baseline: `{args.baseline}`"] if args.baseline else []),
            f"- timing: wall clock of each child process (start-up, imports, reading included), "
            f"median of {args.repeat} runs after {args.warmup} warm-up round(s), methods "
            "interleaved round-robin; peak RSS = largest single process of the child's own process "
            "tree (`dice` workers included), measured by a small launcher that forks the child, "
            "max over runs", ""]
    ok_all = True
    target_fail = False
    measured: list[tuple[DataSet, dict[str, Method]]] = []
    for ds in datasets:
        log(f"verifying dice against naive numpy on the {ds.kind} set ...")
        ok, msg = verify(ds, dice_exe, args.baseline)
        log(msg)
        ok_all &= ok
        notes: list[str] = []
        methods = build_methods(ds, dice_exe, have_sitk, have_medpy, notes, args.dice_only, args.baseline)
        log(f"timing {len(methods)} methods on the {ds.kind} set ...")
        try:
            time_round_robin(methods, args.repeat, args.warmup, log)
        except ChildFailed as exc:
            log(f"error: a benchmark child failed: {exc}")
            return 2
        by = {m.key: m for m in methods}
        measured.append((ds, by))
        out += [f"## {ds.title}", "", *table(methods), ""]
        out += [f"- {n}" for n in notes]
        lines = targets_ratio(ds, by) + (targets_3d(by, ds.cases) if ds.kind == "3d" else [])
        target_fail |= any(line.startswith("- FAIL") for line in lines)
        out += ["Targets:", "", *lines, "", f"{'- ' if ok else '- **'}{msg}{'' if ok else '**'}", ""]
        out += [f"dice command: `{shlex.join(by['dice'].cmd)}` (and `-j 1`), stdout to /dev/null", ""]

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

    if measured:
        out += ["## Summary: `dice score` over the load-only floor, per kind", "", *summary_rows(measured), ""]
    report = "\n".join(out).rstrip() + "\n"
    print(report)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.results.with_name(args.results.name + ".tmp")
    tmp.write_text(report)
    tmp.replace(args.results)
    log(f"report written to {args.results}")
    log(f"command: {command}")
    if not ok_all:
        log("FAILED: dice disagrees with naive numpy or the baseline (see above)")
        return 1
    if args.fail_on_target and target_fail:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
