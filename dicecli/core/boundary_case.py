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


#: Up to this many classes, each class's box comes from one comparison over the foreground voxels;
#: beyond, from one sort of each map's foreground values (its cost does not grow with the classes).
SORT_FROM_CLASSES = 16


def _boxes(gt: np.ndarray, pred: np.ndarray, classes) -> list[tuple[slice, ...] | None]:
    """Per class, the bounding box of its voxels in either map (None when absent from both).

    The foreground voxels of both maps are listed once; a class with background (0) among its
    members gets the whole image (background is mostly where both maps are 0, which the list skips).
    """
    flat_g, flat_p = gt.reshape(-1), pred.reshape(-1)
    where = _foreground(flat_g, flat_p)
    if len(classes) > SORT_FROM_CLASSES:
        lows, highs = _label_boxes(where, gt.shape, (flat_g, flat_p))
        boxes = []
        for members in classes:
            found = [label for label in members if label in lows]
            boxes.append(tuple(slice(int(min(lows[f][axis] for f in found)), int(max(highs[f][axis] for f in found)) + 1)
                               for axis in range(gt.ndim)) if found else None)
    else:
        boxes = _boxes_by_comparison(where, gt.shape, flat_g[where], flat_p[where], classes)
    whole = tuple(slice(0, n) for n in gt.shape)
    return [whole if 0 in members else box for members, box in zip(classes, boxes)]


def _boxes_by_comparison(where: np.ndarray, shape, g: np.ndarray, p: np.ndarray, classes) -> list:
    """Per class (no background among its members), the box of the voxels at ``where`` whose value
    ``g`` or ``p`` is one of its members: one comparison over the foreground per class."""
    strides = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
    out: list[tuple[slice, ...] | None] = []
    for members in classes:
        if 0 in members:
            out.append(None)
            continue
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


def _label_boxes(where: np.ndarray, shape, maps) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray]]:
    """({label: lowest index per axis}, {label: highest}) over the voxels at the sorted flat indices
    ``where`` of every map in ``maps``: each map's values there sorted (stable, so each label's
    voxels stay in row-major order) and every label's box read off its run."""
    lows: dict[int, np.ndarray] = {}
    highs: dict[int, np.ndarray] = {}
    if not where.size:
        return lows, highs
    coordinates = np.unravel_index(where, shape)[1:]  # the leading axis is read off the flat indices' order
    row_size = int(np.prod(shape[1:], dtype=np.int64))
    for flat in maps:
        values = flat[where]
        order = np.argsort(values, kind="stable")
        values = values[order]
        starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
        ends = np.append(starts[1:], values.size) - 1
        first, last = where[order[starts]] // row_size, where[order[ends]] // row_size
        low = [first] + [np.minimum.reduceat(c[order], starts) for c in coordinates]
        high = [last] + [np.maximum.reduceat(c[order], starts) for c in coordinates]
        for i, label in enumerate(values[starts].tolist()):
            lo, hi = np.array([a[i] for a in low]), np.array([a[i] for a in high])
            if label in lows:
                lo, hi = np.minimum(lo, lows[label]), np.maximum(hi, highs[label])
            lows[label], highs[label] = lo, hi
    return lows, highs


def _foreground(g: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Sorted flat indices where either label map is non-zero; background 8-byte words are skipped."""
    per_word = 8 // g.dtype.itemsize if g.dtype == p.dtype and g.dtype.itemsize <= 8 else 0
    head = g.size // per_word * per_word if per_word else 0
    if head < 64:
        return np.flatnonzero((g != 0) | (p != 0))
    gw, pw = g[:head].view(np.uint64), p[:head].view(np.uint64)
    active = np.empty(gw.size, dtype=bool)
    step = 1 << 20  # words per chunk: the OR's temporary stays at 8 MB
    for start in range(0, gw.size, step):
        np.not_equal(gw[start:start + step] | pw[start:start + step], 0, out=active[start:start + step])
    words = np.flatnonzero(active)  # a bool mask: ~8x faster to scan than the words themselves
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
