"""Boundary metrics of every class of one case, from two label maps (numpy + pykdtree, no paths).

Each class is scored on a crop: the bounding box of its voxels in either map
(found for all classes in one pass over the foreground), padded by nothing, as
voxels outside the box are background for that class on both sides, exactly
like voxels outside the image. No full-size float array is made.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .boundary import DISTANCE_METRICS, distance_metrics, nsd_parts, nsd_parts_of, surfel_surfaces, voxel_surfaces


@dataclass(frozen=True, eq=False)
class CaseBoundary:
    """Boundary values of one case.

    keys: class keys (label names, region names or label values), one row each.
    metrics: column names of ``values`` (from dicecli.core.boundary.BOUNDARY_METRICS).
    values: (classes, metrics) float64: distances in mm, NSD in [0, 1]; NaN where
        undefined (the empty-mask rules are applied later, by the run).
    nsd_parts: (classes, 2): surfel size within tolerance and total surfel size
        (mm or mm²), for pooled NSD; zeros where not computed.
    spacing_mm: the spacing, per array axis of the ground truth (axes of size 1 are
        left out of the geometry: a (H, W, 1) image is scored as 2D).
    spacing_source: "file" (the ground truth's header), "option" (--spacing) or "default" (1).
    diagonal_mm: the image diagonal, sqrt(sum((n_i * s_i)^2)) over the axes longer than 1.
    """

    keys: tuple[str, ...]
    metrics: tuple[str, ...]
    values: np.ndarray
    nsd_parts: np.ndarray
    spacing_mm: tuple[float, ...]
    spacing_source: str
    diagonal_mm: float


def image_diagonal_mm(shape, spacing_mm) -> float:
    """Length in mm of the image's diagonal: sqrt(sum((n_i * s_i)^2))."""
    return float(math.sqrt(sum((n * s) ** 2 for n, s in zip(shape, spacing_mm))))


def _boxes(gt: np.ndarray, pred: np.ndarray, classes) -> list[tuple[slice, ...] | None]:
    """Per class, the bounding box of its voxels in either map (None when absent from both)."""
    flat_g, flat_p = gt.reshape(-1), pred.reshape(-1)
    where = _foreground(flat_g, flat_p)
    g, p = flat_g[where], flat_p[where]
    shape = gt.shape
    strides = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
    out: list[tuple[slice, ...] | None] = []
    for members in classes:
        if len(members) == 1:
            hit = (g == members[0]) | (p == members[0])
        else:
            hit = np.isin(g, members) | np.isin(p, members)
        chosen = where[hit]
        if not chosen.size:
            out.append(None)
            continue
        box = []
        for axis, (n, stride) in enumerate(zip(shape, strides)):
            if axis == 0:
                lo, hi = int(chosen[0] // stride), int(chosen[-1] // stride)
            else:
                coordinate = (chosen // stride) % n
                lo, hi = int(coordinate.min()), int(coordinate.max())
            box.append(slice(lo, hi + 1))
        out.append(tuple(box))
    return out


def _foreground(g: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Sorted flat indices where either label map is non-zero; background 8-byte words are skipped."""
    per_word = 8 // g.dtype.itemsize if g.dtype == p.dtype and g.dtype.itemsize <= 8 else 0
    head = g.size // per_word * per_word if per_word else 0
    if head < 64:
        return np.flatnonzero((g != 0) | (p != 0))
    words = np.flatnonzero(g[:head].view(np.uint64) | p[:head].view(np.uint64))
    candidates = (words[:, None] * per_word + np.arange(per_word)).reshape(-1)
    candidates = candidates[(g[candidates] != 0) | (p[candidates] != 0)]
    tail = head + np.flatnonzero((g[head:] != 0) | (p[head:] != 0))
    return np.concatenate([candidates, tail])


def _drop_unit_axes(gt: np.ndarray, pred: np.ndarray, spacing):
    """Views without the axes of size 1 (a (H, W, 1) NIfTI is a 2D image, not a one-voxel-thick slab
    whose every voxel touches the border), keeping at least two axes; and their spacing."""
    keep = [axis for axis, n in enumerate(gt.shape) if n != 1]
    if len(keep) < 2 or len(keep) == gt.ndim:
        return gt, pred, tuple(spacing)
    shape = tuple(gt.shape[axis] for axis in keep)
    return gt.reshape(shape), pred.reshape(shape), tuple(spacing[axis] for axis in keep)


def _mask(labels: np.ndarray, members) -> np.ndarray:
    return labels == members[0] if len(members) == 1 else np.isin(labels, members)


def case_boundary(gt: np.ndarray, pred: np.ndarray, classes, *, spacing_mm, metrics, convention: str,
                  tolerances, spacing_source: str = "file") -> CaseBoundary:
    """Boundary metrics of ``classes`` ((key, member labels), ...) between two label maps.

    gt, pred: same-shape non-negative integer label maps, 2D or 3D; a class's mask
    is the union of its member labels. tolerances: NSD τ in mm per class (None:
    NSD left undefined). Values follow dicecli.core.boundary; a class absent from
    either map is left NaN (and NSD parts 0) except that NSD parts still hold
    the surfel size of the side that has it, for pooled NSD.
    """
    spacing = tuple(float(s) for s in spacing_mm)
    gt, pred, used = _drop_unit_axes(gt, pred, spacing)
    diagonal = image_diagonal_mm(gt.shape, used)
    if gt.ndim > 1 and gt.flags.f_contiguous and not gt.flags.c_contiguous:
        gt, pred, spacing_mm = gt.T, pred.T, used[::-1]  # row-major views: crops are contiguous
    else:
        spacing_mm = used
    metrics = tuple(metrics)
    values = np.full((len(classes), len(metrics)), np.nan)
    parts = np.zeros((len(classes), 2))
    distances = [m for m in metrics if m in DISTANCE_METRICS]
    boxes = _boxes(gt, pred, [members for _, members in classes])
    for row, ((_, members), box, tolerance) in enumerate(zip(classes, boxes, tolerances)):
        if box is None:
            continue
        g, p = _mask(gt[box], members), _mask(pred[box], members)
        has_g, has_p = bool(g.any()), bool(p.any())
        surfels = None
        if convention == "deepmind" and distances and has_g and has_p:
            surfels = surfel_surfaces(g, p, spacing_mm=spacing_mm)
        if "nsd" in metrics and tolerance is not None:
            if surfels is not None:
                parts[row] = nsd_parts(surfels, tolerance_mm=tolerance)
            else:
                parts[row] = nsd_parts_of(g, p, spacing_mm=spacing_mm, tolerance_mm=tolerance)
            values[row, metrics.index("nsd")] = parts[row, 0] / parts[row, 1]
        if distances and has_g and has_p:
            s = surfels if surfels is not None else voxel_surfaces(g, p, spacing_mm=spacing_mm)
            found = distance_metrics(s, convention=convention)
            for name in distances:
                values[row, metrics.index(name)] = found[name]
    return CaseBoundary(keys=tuple(key for key, _ in classes), metrics=metrics, values=values, nsd_parts=parts,
                        spacing_mm=spacing, spacing_source=spacing_source, diagonal_mm=diagonal)
