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

import math
from dataclasses import dataclass
from functools import lru_cache

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
    interior = mask.copy()
    for axis in range(mask.ndim):  # a voxel stays interior when both face neighbours along each axis are in
        before = (slice(None),) * axis
        interior[before + (slice(1, None),)] &= mask[before + (slice(None, -1),)]
        interior[before + (slice(None, -1),)] &= mask[before + (slice(1, None),)]
        interior[before + (0,)] = False  # the image border: outside is background
        interior[before + (-1,)] = False
    return np.bitwise_xor(interior, mask, out=interior)  # interior is inside the mask: xor removes it


#: Rows of the grid tried per point before the k-d tree takes over: sets the radius of the exact grid
#: search from the spacing (about 14 mm at 0.8×0.8×2.5 mm, 10 mm at 1 mm isotropic, 150 voxels in 2D).
ROWS_PER_POINT = 300


@lru_cache(maxsize=16)
def _rows_within(spacing: tuple[float, ...], radius_mm: float):
    """Every row offset (over all axes but the last) within a hair above ``radius_mm``, on an unbounded
    grid: (offsets nearest first, equally near ones in lexicographic order; their squared lengths in
    mm²; reach per axis; squared bound)."""
    bound = radius_mm * (1.0 + 1e-9)
    reach = tuple(int(bound // s) + 1 for s in spacing)
    lead = np.asarray(spacing[:-1])
    grids = np.meshgrid(*(np.arange(-r, r + 1) for r in reach[:-1]), indexing="ij")
    offsets = np.stack([g.ravel() for g in grids], axis=1)
    terms = (offsets * lead) ** 2
    squared = terms[:, 0] + terms[:, 1] if len(lead) == 2 else terms[:, 0]  # in axis order, as the distances
    bound2 = bound * bound
    keep = squared <= bound2
    order = np.argsort(squared[keep], kind="stable")
    return offsets[keep][order], squared[keep][order], reach, bound2


@lru_cache(maxsize=64)
def _row_offsets(spacing: tuple[float, ...], radius_mm: float, shape: tuple[int, ...]):
    """The rows (offsets over all axes but the last) that can hold a point within ``radius_mm``.

    Returns (offsets nearest first, the start of each run of equally long offsets and one past the
    last, their squared lengths in mm², the squared length of the next run (the bound after the
    last), reach per axis, squared search bound). The bound is a hair above the radius, so no row is
    lost to rounding; every row not tried is further than the bound or outside a grid of ``shape``
    (no offset reaches further than the grid is long). The rows of the unbounded grid are listed once
    per spacing and radius; a shape only drops those reaching past it (the order stays).
    """
    offsets, squared, reach, bound2 = _rows_within(spacing, radius_mm)
    reach = tuple(min(r, n) for r, n in zip(reach, shape))
    inside = np.all(np.abs(offsets) <= np.asarray(reach[:-1]), axis=1)
    offsets, squared = offsets[inside], squared[inside]
    starts = np.flatnonzero(np.diff(squared, prepend=-1.0))  # symmetric offsets: one run of 2 or 4
    runs = np.append(starts, len(squared))
    return offsets, runs, squared[starts], np.append(squared[starts][1:], bound2), reach, bound2


def _span_mm(shape: tuple[int, ...], spacing: tuple[float, ...]) -> float:
    """The largest distance in mm between two points of a grid of ``shape`` (corner to corner; 0 for one point)."""
    return math.sqrt(sum(((n - 1) * s) ** 2 for n, s in zip(shape, spacing)))


def _search_radius(spacing: tuple[float, ...]) -> float:
    """The radius whose rows number about ROWS_PER_POINT (an ellipse of rows in 3D, a segment in 2D)."""
    if len(spacing) == 2:
        return ROWS_PER_POINT * spacing[0] / 2
    return math.sqrt(ROWS_PER_POINT * spacing[0] * spacing[1] / math.pi)


class _RowGrid:
    """Exact nearest squared distances on one grid shape, by rows.

    The grid is padded (rows of nothing around the leading axes, ``cap`` voxels at both ends of each
    row) and flattened. For a set B, ``gaps`` holds at every voxel the distance in voxels along its
    row to the nearest point of B in that row, ``cap`` when it is too far to matter. The nearest
    point of B from p then lies in one of the rows around p: its squared distance is the row's squared
    offset plus the squared gap, and rows are tried nearest first until the next row is no nearer
    than the best distance found (exact; Euclidean with the spacing, as the sum of squared
    per-axis terms in axis order).
    """

    def __init__(self, shape, spacing, radius_mm: float):
        self.spacing = tuple(float(s) for s in spacing)
        self.shape = tuple(int(n) for n in shape)
        # no two points of the grid are further apart than its span: a larger radius lists no more rows
        radius = min(float(radius_mm), _span_mm(self.shape, self.spacing))
        offsets, runs, row_sq, next_sq, reach, self.bound_sq = _row_offsets(self.spacing, radius, self.shape)
        # a gap of cap voxels or more along a row is beyond the bound by a voxel, or longer than the row
        self.cap = min(reach[-1] + 1, self.shape[-1])
        self.pads = tuple(reach[:-1]) + (self.cap,)
        self.padded = tuple(n + 2 * r for n, r in zip(self.shape, self.pads))
        strides = [int(np.prod(self.padded[i + 1:], dtype=np.int64)) for i in range(len(shape))]
        self.strides = np.array(strides, dtype=np.int64)
        # a grid index w lands at w + origin + sum over leading axes k of (w // unpadded stride of k) times
        # the padding added per step of k (the padding of axis k + 1's rows, in the padded frame)
        self.origin = int(np.dot(self.pads, strides))
        below = [int(np.prod(self.shape[k + 1:], dtype=np.int64)) for k in range(len(shape) - 1)]
        self.widen = [(d, (self.padded[k + 1] - self.shape[k + 1]) * strides[k + 1]) for k, d in enumerate(below)]
        self.gap_sq = (np.arange(self.cap + 1) * self.spacing[-1]) ** 2
        self.gap_sq[self.cap] = np.inf
        steps = offsets @ self.strides[:-1]
        # the searches read gaps through views shifted by (step + back): indices are points - back >= 0
        self.back = int(-steps.min())
        shifts = (steps + self.back).tolist()
        # per run of equally far rows: their shifts, squared distance per gap (gap_sq + row_sq), next run's bound
        self.runs = [(shifts[i:j], self.gap_sq + r, n) for i, j, r, n in zip(runs[:-1], runs[1:], row_sq.tolist(),
                                                                             next_sq.tolist())]

    def points(self, where: np.ndarray) -> np.ndarray:
        """Flat indices in the padded frame of the grid's flat indices ``where`` (int64, no coordinates made)."""
        out = np.add(where, self.origin, dtype=np.int64)
        for divisor, extra in self.widen:
            step = where // divisor
            step *= extra
            out += step
        return out

    def coordinates(self, points: np.ndarray) -> np.ndarray:
        """Grid coordinates (points, axes) of padded flat indices."""
        return np.stack(np.unravel_index(points, self.padded), axis=1) - np.asarray(self.pads)

    def gaps(self, points: np.ndarray) -> np.ndarray:
        """Per voxel of the padded frame: gap along the row to the nearest of ``points``, capped."""
        gaps = np.full(int(np.prod(self.padded, dtype=np.int64)), self.cap,
                       dtype=np.uint8 if self.cap < 256 else np.uint16)
        if self.cap > 1:
            # only the ends of runs of points along a row write beside them: a point's other side is a
            # point (gap 0), and past it that point's own gaps are smaller
            ends = np.ones(len(points) + 1, dtype=bool)  # ends[i]: points i - 1 and i are not neighbours
            np.not_equal(np.diff(points), 1, out=ends[1:-1])
            first, last = points.compress(ends[:-1]), points.compress(ends[1:])
            at = np.empty(len(first), dtype=points.dtype)
            for d in range(self.cap - 1, 0, -1):  # nearest last: it overwrites (stays inside the row's padding)
                gaps[np.add(last, d, out=at)] = d
                gaps[np.subtract(first, d, out=at)] = d
        gaps[points] = 0
        return gaps

    def nearest_sq(self, points: np.ndarray, gaps: np.ndarray) -> np.ndarray:
        """Squared distance in mm² from each point to the nearest point of the set of ``gaps``: exact
        when within the search bound, larger than ``bound_sq`` (maybe inf) otherwise.

        Points are dropped from the search once no row left can be nearer, in batches (when at least
        half of those left are done: compacting costs about as much as a row), and each row is read
        through a shifted view of ``gaps`` into preallocated buffers (no index arithmetic per row).
        """
        n = len(points)
        out = np.empty(n)
        todo, where, best = points - self.back, np.arange(n), np.full(n, np.inf)
        gap_buffer, other_buffer = np.empty(n, dtype=gaps.dtype), np.empty(n, dtype=gaps.dtype)
        index_buffer, found_buffer = np.empty(n, dtype=np.intp), np.empty(n)
        for shifts, found_sq, next_sq in self.runs:  # rows equally far: their nearest gap first (uint8, cheap)
            m = len(todo)
            gap, other, index, found = gap_buffer[:m], other_buffer[:m], index_buffer[:m], found_buffer[:m]
            gaps[shifts[0]:].take(todo, out=gap)
            for shift in shifts[1:]:
                gaps[shift:].take(todo, out=other)
                np.minimum(gap, other, out=gap)
            index[...] = gap  # take converts small indices anyway: once, into a buffer
            np.minimum(best, found_sq.take(index, out=found), out=best)
            done = best <= next_sq
            count = np.count_nonzero(done)
            if count == m:
                out[where] = best
                return out
            if 2 * count >= m:
                out[where.compress(done)] = best.compress(done)
                left = ~done  # compress: about twice as fast as a boolean index here
                todo, where, best = todo.compress(left), where.compress(left), best.compress(left)
        out[where] = best
        return out


    def near(self, points: np.ndarray, gaps: np.ndarray, radius_mm: float) -> np.ndarray:
        """For each point: is the set of ``gaps`` within ``radius_mm`` (the square root of nearest_sq's
        value at most the radius)? Decided on the gaps alone: in each run of rows the gaps below the
        first whose distance is beyond the radius are near (no squared distances are made)."""
        n = len(points)
        out = np.zeros(n, dtype=bool)
        todo, where = points - self.back, np.arange(n)
        gap_buffer, other_buffer = np.empty(n, dtype=gaps.dtype), np.empty(n, dtype=gaps.dtype)
        for shifts, found_sq, _ in self.runs:
            limit = int(np.count_nonzero(np.sqrt(found_sq) <= radius_mm))  # found_sq grows with the gap
            if not limit or not len(todo):
                break  # the next runs' rows are further still
            gap, other = gap_buffer[:len(todo)], other_buffer[:len(todo)]
            gaps[shifts[0]:].take(todo, out=gap)
            for shift in shifts[1:]:
                gaps[shift:].take(todo, out=other)
                np.minimum(gap, other, out=gap)
            hit = gap < limit
            count = np.count_nonzero(hit)
            if 2 * count >= len(todo):
                out[where.compress(hit)] = True
                left = ~hit
                todo, where = todo.compress(left), where.compress(left)
            elif count:
                out[where.compress(hit)] = True
        return out

def _nearest_mm(frame: _RowGrid, a_points, b_gaps, b_where) -> np.ndarray:
    """Exact distance in mm from each point of A to the nearest point of B (at flat indices ``b_where``
    of the grid): the row search, then pykdtree's exact k-d tree for the points left (built only
    when some are)."""
    out = frame.nearest_sq(a_points, b_gaps)
    far = out > frame.bound_sq
    np.sqrt(out, out=out)
    if far.any():
        spacing = np.asarray(frame.spacing)
        b_points = np.stack(np.unravel_index(b_where, frame.shape), axis=1)
        tree = _kdtree()(b_points * spacing, leafsize=32)
        out[far] = tree.query(frame.coordinates(a_points[far]) * spacing, k=1)[0]
    return out


def _directed(shape, a_where: np.ndarray, b_where: np.ndarray, spacing_mm) -> tuple[np.ndarray, np.ndarray]:
    """directed_distances between the points at flat indices ``a_where`` and ``b_where`` of a grid."""
    _kdtree()  # fail early, with the extra to install, when pykdtree is missing
    if not len(a_where) or not len(b_where):
        raise ValueError("both grids need at least one point")
    spacing = tuple(float(s) for s in spacing_mm)
    frame = _RowGrid(shape, spacing, _search_radius(spacing))
    pa, pb = frame.points(a_where), frame.points(b_where)
    return _nearest_mm(frame, pa, frame.gaps(pb), b_where), _nearest_mm(frame, pb, frame.gaps(pa), a_where)


def directed_distances(a: np.ndarray, b: np.ndarray, *, spacing_mm) -> tuple[np.ndarray, np.ndarray]:
    """(d(A→B), d(B→A)) in mm between the True points of two same-shape bool grids.

    Points are returned in row-major order of their grid position. Both grids must
    have a True point; distances between points are Euclidean with ``spacing_mm``
    per axis.
    """
    return _directed(a.shape, np.flatnonzero(a), np.flatnonzero(b), spacing_mm)


def _within(shape, a_where: np.ndarray, b_where: np.ndarray, spacing_mm, radius_mm: float):
    """within both ways, (A near B, B near A), for the points at flat indices ``a_where`` and ``b_where``
    of a grid (one frame for both)."""
    frame = _RowGrid(shape, spacing_mm, radius_mm)
    pa, pb = frame.points(a_where), frame.points(b_where)
    return frame.near(pa, frame.gaps(pb), radius_mm), frame.near(pb, frame.gaps(pa), radius_mm)


def within(a: np.ndarray, b: np.ndarray, *, spacing_mm, radius_mm: float) -> np.ndarray:
    """For each True point of ``a`` (row-major order): is a True point of ``b`` within ``radius_mm``?

    Exact on the grid (every row within the radius is tried); no nearest-neighbour search.
    """
    frame = _RowGrid(a.shape, spacing_mm, radius_mm)
    return frame.near(frame.points(np.flatnonzero(a)), frame.gaps(frame.points(np.flatnonzero(b))), radius_mm)


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


def _surfels(mask: np.ndarray, sizes: np.ndarray) -> tuple[tuple[int, ...], np.ndarray, np.ndarray]:
    """(shape of the corner grid, flat indices of its points carrying a surfel, their sizes), row-major."""
    codes = neighbour_codes(mask)
    flat = codes.reshape(-1)
    on = np.subtract(flat, np.uint8(1))  # 0 wraps to 255: codes 1 .. full - 1 carry a surfel
    where = np.flatnonzero(on < np.uint8(sizes.size - 2))
    return codes.shape, where, sizes[flat[where]]


def nsd_parts_of(gt: np.ndarray, pred: np.ndarray, *, spacing_mm, tolerance_mm: float) -> tuple[float, float]:
    """nsd_parts without exact distances: only whether each surfel is within the tolerance."""
    sizes = surfel_sizes(spacing_mm)
    shape, on_g, size_g = _surfels(gt, sizes)
    _, on_p, size_p = _surfels(pred, sizes)
    total = float(np.sum(size_g) + np.sum(size_p))
    if not size_g.size or not size_p.size:
        return 0.0, total
    g_near, p_near = _within(shape, on_g, on_p, spacing_mm, tolerance_mm)
    near = np.sum(size_g[g_near]) + np.sum(size_p[p_near])
    return float(near), total


def surfel_surfaces(gt: np.ndarray, pred: np.ndarray, *, spacing_mm) -> Surfaces:
    """Distances between the surfels of two masks, with their sizes; at least one mask non-empty.

    With one mask empty its side has no points and the other side's distances are inf.
    """
    sizes = surfel_sizes(spacing_mm)
    shape, on_g, size_g = _surfels(gt, sizes)
    _, on_p, size_p = _surfels(pred, sizes)
    if not on_g.size or not on_p.size:
        return Surfaces(np.full(on_g.size, np.inf), np.full(on_p.size, np.inf), size_g, size_p)
    d_gp, d_pg = _directed(shape, on_g, on_p, spacing_mm)
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
