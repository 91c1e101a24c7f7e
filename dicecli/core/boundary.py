"""Boundary metrics of two binary masks: HD, HD95, ASSD, MASD and NSD (numpy + pykdtree, no paths).

Two kinds of boundary points (both on one mask at a time; voxels outside the
image count as background, so an object touching the image border has a
boundary there):

- boundary voxels: ``mask & ~erosion(mask)`` with face connectivity; a point is
  the voxel's centre (conventions "voxel" and "medpy");
- surfels: corner points of the voxel grid whose 2×2(×2) block is partly inside,
  weighted by their surfel length (2D) or area (3D) in mm (dicecli.core.surfels; the
  "deepmind" convention and NSD).

Directed distances d(A→B) in mm go from each point of A to the nearest point of
B of the same kind, with ``spacing_mm`` per array axis. From them:

=========  ==========================================  ===========================================
metric     "voxel" (default) and "medpy"               "deepmind" (area-weighted surfels)
=========  ==========================================  ===========================================
hd         max(max d(G→P), max d(P→G))                 the same on surfels
hd95       voxel: max of the two directed 95th         max of the two directed area-weighted 95th
           percentiles (numpy's linear interpolation);  percentiles (DeepMind's robust Hausdorff:
           medpy: 95th percentile of both sets pooled   the first distance whose cumulative area
                                                        share reaches 0.95, no interpolation)
assd       mean of both sets pooled                     area-weighted mean of both sets pooled
masd       (mean d(G→P) + mean d(P→G)) / 2              mean of the two area-weighted means
nsd        surface Dice at tolerance τ on surfels (every convention): area of the surfels of
           either mask within τ of the other surface / the area of both surfaces
=========  ==========================================  ===========================================

Empty masks: a distance needs both boundaries, so with either mask empty every
distance metric is undefined (NaN); NSD is 0 when exactly one mask is empty and
undefined (NaN) when both are. Callers substitute values where their rules say so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .metrics import BOUNDARY_METRICS  # noqa: F401 (report order; re-exported)
from .surfels import neighbour_codes, surfel_sizes

DISTANCE_METRICS = ("hd", "hd95", "assd", "masd")
#: How the distance metrics are computed (see the table above).
CONVENTIONS = ("voxel", "deepmind", "medpy")
PERCENT = 95.0


def _kdtree():
    """pykdtree's KDTree, its OpenMP runtime loaded single-threaded.

    dice runs cases in forked workers; a forked child of a process whose OpenMP
    runtime has started threads can hang on its first parallel region. So when
    OMP_NUM_THREADS is unset it is set to 1 while pykdtree (and the OpenMP copy it
    ships) loads, then unset again, so libraries loaded later are not affected.
    """
    import os

    unset = "OMP_NUM_THREADS" not in os.environ
    if unset:
        os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from pykdtree.kdtree import KDTree
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("boundary metrics need pykdtree: pip install 'dicecli[boundary]'") from None
    finally:
        if unset:
            os.environ.pop("OMP_NUM_THREADS", None)
    return KDTree


def boundary_voxels(mask: np.ndarray) -> np.ndarray:
    """``mask`` minus its erosion by the face-connected cross; outside the image is background."""
    mask = np.asarray(mask, dtype=bool)
    padded = np.pad(mask, 1)
    interior = mask.copy()
    core = tuple(slice(1, -1) for _ in range(mask.ndim))
    for axis in range(mask.ndim):
        for shift in (0, 2):
            index = list(core)
            index[axis] = slice(shift, shift + mask.shape[axis])
            interior &= padded[tuple(index)]
    return mask & ~interior


def ball_offsets(spacing_mm, radius_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Integer offsets within ``radius_mm`` of the origin, nearest first, and their lengths in mm."""
    spacing = np.asarray(spacing_mm, dtype=np.float64)
    reach = np.floor(radius_mm / spacing).astype(int)
    grids = np.meshgrid(*(np.arange(-r, r + 1) for r in reach), indexing="ij")
    offsets = np.stack([g.ravel() for g in grids], axis=1)
    lengths = np.sqrt(((offsets * spacing) ** 2).sum(axis=1))
    keep = lengths <= radius_mm
    order = np.argsort(lengths[keep], kind="stable")
    return offsets[keep][order], lengths[keep][order]


def _ball_search(points: np.ndarray, b: np.ndarray, spacing_mm, radius_mm: float) -> np.ndarray:
    """Distance in mm from each point (grid coordinates) to the nearest True voxel of ``b`` when it is
    within ``radius_mm``, else inf. Offsets are tried nearest first and a point leaves at its first
    hit, so the distance is exact; near points (most of them) cost a few array lookups each."""
    offsets, lengths = ball_offsets(spacing_mm, radius_mm)
    reach = np.abs(offsets).max(axis=0)
    padded = np.pad(b, [(int(r), int(r)) for r in reach])
    steps = np.array(padded.strides) // padded.itemsize
    flat = padded.reshape(-1)
    index = (points + reach) @ steps
    out = np.full(len(index), np.inf)
    todo = np.arange(len(index))
    for step, length in zip(offsets @ steps, lengths):
        hit = flat[index[todo] + step]
        if hit.any():
            out[todo[hit]] = length
            todo = todo[~hit]
            if not todo.size:
                break
    return out


def _nearest_mm(points: np.ndarray, b: np.ndarray, b_points: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Exact distance in mm from each point to the nearest True voxel of ``b`` (whose coordinates are
    ``b_points``): a search over the grid within one voxel diagonal of the coarsest axis, then a
    k-d tree for the points left (pykdtree, built only when some are)."""
    out = _ball_search(points, b, spacing, float(spacing.max()))
    far = np.isinf(out)
    if far.any():
        tree = _kdtree()(b_points * spacing, leafsize=32)
        out[far] = tree.query(points[far] * spacing, k=1)[0]
    return out


def directed_distances(a: np.ndarray, b: np.ndarray, *, spacing_mm) -> tuple[np.ndarray, np.ndarray]:
    """(d(A→B), d(B→A)) in mm between the True points of two same-shape bool grids.

    Points are returned in row-major order of their grid position. Both grids must
    have a True point; distances between points are Euclidean with ``spacing_mm``
    per axis.
    """
    _kdtree()  # fail early, with the extra to install, when pykdtree is missing
    spacing = np.asarray(spacing_mm, dtype=np.float64)
    pa, pb = np.argwhere(a), np.argwhere(b)
    if not len(pa) or not len(pb):
        raise ValueError("both grids need at least one point")
    return _nearest_mm(pa, b, pb, spacing), _nearest_mm(pb, a, pa, spacing)


def within(a: np.ndarray, b: np.ndarray, *, spacing_mm, radius_mm: float) -> np.ndarray:
    """For each True point of ``a`` (row-major order): is a True point of ``b`` within ``radius_mm``?

    Exact on the grid (every offset of the ellipsoid is tried); no nearest-neighbour search.
    """
    return np.isfinite(_ball_search(np.argwhere(a), b, spacing_mm, radius_mm))


@dataclass(frozen=True)
class Surfaces:
    """Directed distances of one mask pair, with surfel sizes when the points are surfels.

    gt_to_pred, pred_to_gt: mm, one per boundary point of the ground truth / prediction.
    gt_sizes, pred_sizes: surfel length (2D) or area (3D) per point; None for boundary voxels.
    """

    gt_to_pred: np.ndarray
    pred_to_gt: np.ndarray
    gt_sizes: np.ndarray | None = None
    pred_sizes: np.ndarray | None = None


def voxel_surfaces(gt: np.ndarray, pred: np.ndarray, *, spacing_mm) -> Surfaces:
    """Distances between the boundary voxels (centres) of two non-empty masks."""
    return Surfaces(*directed_distances(boundary_voxels(gt), boundary_voxels(pred), spacing_mm=spacing_mm))


def _surfels(mask: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bool grid of the corner points carrying a surfel, their sizes in row-major order)."""
    codes = neighbour_codes(mask)
    on = (codes != 0) & (codes != np.uint8(sizes.size - 1))
    return on, sizes[codes[on]]


def nsd_parts_of(gt: np.ndarray, pred: np.ndarray, *, spacing_mm, tolerance_mm: float) -> tuple[float, float]:
    """nsd_parts without exact distances: only whether each surfel is within the tolerance."""
    sizes = surfel_sizes(spacing_mm)
    on_g, size_g = _surfels(gt, sizes)
    on_p, size_p = _surfels(pred, sizes)
    total = float(np.sum(size_g) + np.sum(size_p))
    if not size_g.size or not size_p.size:
        return 0.0, total
    near = (np.sum(size_g[within(on_g, on_p, spacing_mm=spacing_mm, radius_mm=tolerance_mm)])
            + np.sum(size_p[within(on_p, on_g, spacing_mm=spacing_mm, radius_mm=tolerance_mm)]))
    return float(near), total


def surfel_surfaces(gt: np.ndarray, pred: np.ndarray, *, spacing_mm) -> Surfaces:
    """Distances between the surfels of two masks, with their sizes; at least one mask non-empty.

    With one mask empty its side has no points and the other side's distances are inf.
    """
    sizes = surfel_sizes(spacing_mm)
    on_g, size_g = _surfels(gt, sizes)
    on_p, size_p = _surfels(pred, sizes)
    if not on_g.any() or not on_p.any():
        return Surfaces(np.full(int(on_g.sum()), np.inf), np.full(int(on_p.sum()), np.inf), size_g, size_p)
    d_gp, d_pg = directed_distances(on_g, on_p, spacing_mm=spacing_mm)
    return Surfaces(d_gp, d_pg, size_g, size_p)


def _weighted_percentile(distances: np.ndarray, sizes: np.ndarray, percent: float) -> float:
    """The first distance (sorted by distance, then size) whose cumulative size share reaches percent/100."""
    order = np.lexsort((sizes, distances))
    cumulative = np.cumsum(sizes[order]) / np.sum(sizes)
    index = int(np.searchsorted(cumulative, percent / 100.0))
    return float(distances[order][min(index, len(order) - 1)])


def _weighted_mean(distances: np.ndarray, sizes: np.ndarray) -> float:
    return float(np.sum(distances * sizes) / np.sum(sizes))


def distance_metrics(s: Surfaces, *, convention: str = "voxel") -> dict[str, float]:
    """hd, hd95, assd and masd (mm) from non-empty directed distances, under ``convention``."""
    a, b = s.gt_to_pred, s.pred_to_gt
    hd = float(max(a.max(), b.max()))
    if convention == "deepmind":
        wa, wb = s.gt_sizes, s.pred_sizes
        assert wa is not None and wb is not None, "surfel surfaces carry their sizes"
        return {"hd": hd,
                "hd95": max(_weighted_percentile(a, wa, PERCENT), _weighted_percentile(b, wb, PERCENT)),
                "assd": float((np.sum(a * wa) + np.sum(b * wb)) / (np.sum(wa) + np.sum(wb))),
                "masd": (_weighted_mean(a, wa) + _weighted_mean(b, wb)) / 2}
    if convention not in ("voxel", "medpy"):
        raise ValueError(f"convention must be one of {', '.join(CONVENTIONS)}")
    if convention == "medpy":
        hd95 = float(np.percentile(np.concatenate([a, b]), PERCENT))
    else:
        hd95 = float(max(np.percentile(a, PERCENT), np.percentile(b, PERCENT)))
    return {"hd": hd, "hd95": hd95, "assd": float((a.sum() + b.sum()) / (a.size + b.size)),
            "masd": (float(a.mean()) + float(b.mean())) / 2}


def nsd_parts(s: Surfaces, *, tolerance_mm: float) -> tuple[float, float]:
    """(surfel size within ``tolerance_mm`` of the other surface, total surfel size), both masks together."""
    assert s.gt_sizes is not None and s.pred_sizes is not None, "surfel surfaces carry their sizes"
    near = np.sum(s.gt_sizes[s.gt_to_pred <= tolerance_mm]) + np.sum(s.pred_sizes[s.pred_to_gt <= tolerance_mm])
    return float(near), float(np.sum(s.gt_sizes) + np.sum(s.pred_sizes))


def boundary_metrics(gt: np.ndarray, pred: np.ndarray, *, spacing_mm, metrics=BOUNDARY_METRICS,
                     convention: str = "voxel", tolerance_mm: float | None = None) -> dict[str, float]:
    """Boundary metrics of two bool masks of one shape (2D or 3D), NaN where undefined.

    spacing_mm: voxel size per array axis. tolerance_mm: NSD's τ (needed for "nsd").
    Empty masks (see the module docstring): either empty -> distances NaN; nsd 0
    with one empty, NaN with both.
    """
    gt, pred = np.asarray(gt, dtype=bool), np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape or gt.ndim not in (2, 3) or len(spacing_mm) != gt.ndim:
        raise ValueError("masks must be 2D or 3D of one shape, with one spacing per axis")
    out = {name: float("nan") for name in metrics}
    has_g, has_p = bool(gt.any()), bool(pred.any())
    wanted = [m for m in metrics if m in DISTANCE_METRICS]
    surfels = None
    if convention == "deepmind" and wanted and has_g and has_p:
        surfels = surfel_surfaces(gt, pred, spacing_mm=spacing_mm)
    if "nsd" in metrics and (has_g or has_p):
        if tolerance_mm is None:
            raise ValueError("nsd needs tolerance_mm")
        if surfels is not None:
            near, total = nsd_parts(surfels, tolerance_mm=tolerance_mm)
        else:
            near, total = nsd_parts_of(gt, pred, spacing_mm=spacing_mm, tolerance_mm=tolerance_mm)
        out["nsd"] = near / total
    if wanted and has_g and has_p:
        s = surfels if surfels is not None else voxel_surfaces(gt, pred, spacing_mm=spacing_mm)
        values = distance_metrics(s, convention=convention)
        out.update({m: values[m] for m in wanted})
    return out
