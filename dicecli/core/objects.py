"""Objects: sparse overlaps of two id maps, one-to-one matching at an IoU threshold, and the
detection and panoptic scores derived from it (numpy only, no paths).

Rules (documented in docs/conventions.md and the man page):

- An object is the set of voxels holding one non-zero id (0 is background). Ids are arbitrary:
  an object of the ground truth and one of the prediction correspond only through their overlap.
- IoU of a pair = |G ∩ P| / |G ∪ P|, in float64. A pair can match when IoU >= t (as StarDist's
  ``matching`` and panoptica compare).
- Matching is one-to-one: the largest number of matched pairs, and among matchings of that size
  the largest total IoU. For t > 0.5 each object has at most one candidate, so the matching is
  simply every candidate pair; at t = 0.5 an object split exactly in two halves has two
  candidates and either gives the same scores; below 0.5 each group of objects linked by
  candidate pairs is solved exactly (Hungarian algorithm on that group only).
- Only the non-zero cells of the overlap table are ever held (one joint histogram of the
  overlapping ids), never a dense objects x objects matrix of the whole image.
- TP = matched pairs, FP = predicted objects left unmatched, FN = ground-truth objects left
  unmatched. precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2TP / (2TP + FP + FN),
  SQ = mean IoU of the matched pairs (``mean_matched_iou``), RQ = F1 (Kirillov et al.'s
  recognition quality is the same ratio), PQ = Σ matched IoU / (TP + FP/2 + FN/2) = SQ x RQ.
- A ratio whose denominator is 0 is undefined (NaN, null in reports): no predicted object leaves
  precision undefined, no ground-truth object recall, no match SQ. With no object on either side
  every ratio follows the ``empty_both`` rule (undefined by default, or 1 or 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Literal

import numpy as np

from .score import CHUNK_VOXELS, EMPTY_BOTH_VALUES

#: Ids up to this value are counted with dense histograms (np.bincount); larger ids are sorted.
_DENSE_IDS = 1 << 22

#: The scores of a matching, in report order.
OBJECT_SCORES = ("precision", "recall", "f1", "mean_matched_iou", "pq", "sq", "rq")


@dataclass(frozen=True, eq=False)
class Overlaps:
    """The objects of two id maps and the non-zero cells of their overlap table.

    gt_ids, pred_ids: the non-zero ids present (sorted, int64); gt_sizes, pred_sizes: their
    voxel counts. pair_gt, pair_pred: indices into gt_ids / pred_ids of every overlapping pair;
    pair_voxels: |G ∩ P| of each pair (int64).
    """

    gt_ids: np.ndarray
    gt_sizes: np.ndarray
    pred_ids: np.ndarray
    pred_sizes: np.ndarray
    pair_gt: np.ndarray
    pair_pred: np.ndarray
    pair_voxels: np.ndarray

    @property
    def iou(self) -> np.ndarray:
        """IoU of every overlapping pair (float64)."""
        union = self.gt_sizes[self.pair_gt] + self.pred_sizes[self.pair_pred] - self.pair_voxels
        return self.pair_voxels / union.astype(np.float64) if len(union) else np.zeros(0)


def _sizes(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted non-zero ids, voxel counts) of a flat id array, in chunks."""
    top = int(flat.max()) if flat.size else 0
    if top < _DENSE_IDS:
        hist = np.zeros(top + 1, dtype=np.int64)
        for start in range(0, flat.size, CHUNK_VOXELS):
            hist += np.bincount(flat[start:start + CHUNK_VOXELS], minlength=top + 1)
        ids = np.flatnonzero(hist[1:]) + 1
        return ids.astype(np.int64), hist[ids]
    ids, counts = np.unique(flat[flat != 0], return_counts=True)
    return ids.astype(np.int64), counts.astype(np.int64)


def _as_ids(a: np.ndarray, order: Literal["C", "F"]) -> np.ndarray:
    """A flat unsigned view of an id array in ``order`` (bool and non-negative signed ids viewed
    as unsigned of the same width; no copy when the order matches the memory layout)."""
    a = np.asarray(a)
    if a.dtype == bool:
        a = a.view(np.uint8)
    elif a.dtype.kind == "i":
        a = a.view(a.dtype.str.replace("i", "u"))
    elif a.dtype.kind != "u":
        raise ValueError(f"ids must be integers, got {a.dtype}")
    return a.ravel(order=order)


def object_overlaps(gt: np.ndarray, pred: np.ndarray) -> Overlaps:
    """The objects of two id maps of one shape and their overlapping pairs, in one chunked pass.

    gt, pred: non-negative integer (or bool) arrays; 0 is background. Voxels where both are
    non-zero are reduced to runs of one (gt id, pred id) pair (the inside of an object is one
    long run), and the runs are summed per pair: cost follows the voxels, memory the pairs.
    """
    if gt.shape != pred.shape:
        raise ValueError(f"shapes differ: {gt.shape} vs {pred.shape}")
    order: Literal["C", "F"] = "F" if gt.flags.f_contiguous and pred.flags.f_contiguous and gt.ndim > 1 else "C"
    g, p = _as_ids(gt, order), _as_ids(pred, order)
    gt_ids, gt_sizes = _sizes(g)
    pred_ids, pred_sizes = _sizes(p)
    codes, lengths = [], []
    n_pred = max(len(pred_ids), 1)
    for start in range(0, g.size, CHUNK_VOXELS):
        gc, pc = g[start:start + CHUNK_VOXELS], p[start:start + CHUNK_VOXELS]
        both = (gc != 0) & (pc != 0)
        if not both.any():
            continue
        gi = np.searchsorted(gt_ids, gc[both]).astype(np.int64)
        pj = np.searchsorted(pred_ids, pc[both]).astype(np.int64)
        code = gi * n_pred + pj
        starts = np.flatnonzero(np.concatenate(([True], code[1:] != code[:-1])))
        codes.append(code[starts])
        lengths.append(np.diff(np.append(starts, code.size)))
    if codes:
        unique, inverse = np.unique(np.concatenate(codes), return_inverse=True)
        voxels = np.bincount(inverse, weights=np.concatenate(lengths), minlength=len(unique)).astype(np.int64)
    else:
        unique, voxels = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return Overlaps(gt_ids, gt_sizes, pred_ids, pred_sizes, unique // n_pred, unique % n_pred, voxels)


def _assign(weights: np.ndarray) -> np.ndarray:
    """Columns of a maximum-weight assignment of a dense (rows <= columns) weight matrix.

    The Hungarian algorithm with row and column potentials (shortest augmenting paths, one row
    at a time, O(rows² x columns)), on costs = -weights; returns the column of each row.
    """
    cost = -np.asarray(weights, dtype=np.float64)
    n, m = cost.shape
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    owner = np.zeros(m + 1, dtype=np.int64)  # owner[j]: the row (1-based) holding column j; 0 = free
    way = np.zeros(m + 1, dtype=np.int64)
    for row in range(1, n + 1):
        owner[0] = row
        col = 0
        best = np.full(m + 1, np.inf)
        done = np.zeros(m + 1, dtype=bool)
        while True:
            done[col] = True
            r = owner[col]
            reduced = cost[r - 1] - u[r] - v[1:]
            open_ = ~done[1:]
            better = open_ & (reduced < best[1:])
            best[1:][better] = reduced[better]
            way[1:][better] = col
            candidates = np.where(open_, best[1:], np.inf)
            nxt = int(np.argmin(candidates)) + 1
            delta = candidates[nxt - 1]
            u[owner[done]] += delta
            v[done] -= delta
            best[1:][open_] -= delta
            col = nxt
            if owner[col] == 0:
                break
        while col:
            prev = way[col]
            owner[col] = owner[prev]
            col = prev
    out = np.full(n, -1, dtype=np.int64)
    taken = np.flatnonzero(owner[1:]) + 1
    out[owner[taken] - 1] = taken - 1
    return out


def _groups(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Connected-component number of each edge of a bipartite graph (edges left[i]-right[i])."""
    _, gl = np.unique(left, return_inverse=True)
    _, gr = np.unique(right, return_inverse=True)
    node_l = np.arange(gl.max() + 1 if gl.size else 0)
    node_r = np.full(gr.max() + 1 if gr.size else 0, np.iinfo(np.int64).max)
    while True:  # propagate the smallest left index along edges until nothing changes
        np.minimum.at(node_r, gr, node_l[gl])
        new_l = node_l.copy()
        np.minimum.at(new_l, gl, node_r[gr])
        if np.array_equal(new_l, node_l):
            return node_l[gl]
        node_l = new_l


def match_pairs(overlaps: Overlaps, threshold: float) -> np.ndarray:
    """Bool per overlapping pair: matched at IoU >= ``threshold`` (see the module rules)."""
    if not 0 < threshold <= 1:
        raise ValueError(f"an IoU threshold must be in (0, 1], got {threshold}")
    iou = overlaps.iou
    candidate = np.flatnonzero(iou >= threshold)
    matched = np.zeros(len(iou), dtype=bool)
    if not candidate.size:
        return matched
    cg, cp = overlaps.pair_gt[candidate], overlaps.pair_pred[candidate]
    deg_g = np.bincount(cg, minlength=len(overlaps.gt_ids))
    deg_p = np.bincount(cp, minlength=len(overlaps.pred_ids))
    lone = (deg_g[cg] == 1) & (deg_p[cp] == 1)  # the only candidate of both objects
    matched[candidate[lone]] = True
    rest = candidate[~lone]
    if not rest.size:
        return matched
    groups = _groups(overlaps.pair_gt[rest], overlaps.pair_pred[rest])
    order = np.argsort(groups, kind="stable")
    bounds = np.flatnonzero(np.diff(groups[order])) + 1
    for members in np.split(rest[order], bounds):
        matched[members[_match_group(overlaps.pair_gt[members], overlaps.pair_pred[members], iou[members])]] = True
    return matched


def _match_group(gi: np.ndarray, pj: np.ndarray, iou: np.ndarray) -> np.ndarray:
    """Bool per candidate edge of one group: the most edges, then the largest IoU sum."""
    rows, r = np.unique(gi, return_inverse=True)
    cols, c = np.unique(pj, return_inverse=True)
    flip = len(rows) > len(cols)
    if flip:
        rows, cols, r, c = cols, rows, c, r
    weights = np.zeros((len(rows), len(cols)))
    weights[r, c] = (min(len(rows), len(cols)) + 1) + iou  # a whole extra pair outweighs any IoU sum
    chosen = _assign(weights)
    return chosen[r] == c


@dataclass(frozen=True, eq=False)
class Matching:
    """What a matching found: tp, and the sum of the matched pairs' IoU."""

    tp: int
    iou_sum: float


def match(overlaps: Overlaps, threshold: float) -> Matching:
    """Match the objects of ``overlaps`` at ``threshold`` (see the module rules)."""
    matched = match_pairs(overlaps, threshold)
    return Matching(int(matched.sum()), float(overlaps.iou[matched].sum()))


def object_scores(n_gt, n_pred, tp, iou_sum, *, empty_both: str = "nan") -> dict[str, np.ndarray]:
    """precision, recall, f1, mean_matched_iou, pq, sq and rq, element-wise over arrays of counts
    (float64; NaN = undefined). See the module rules for the empty cases."""
    if empty_both not in EMPTY_BOTH_VALUES:
        raise ValueError(f"empty_both must be one of {sorted(EMPTY_BOTH_VALUES)}")
    n_gt, n_pred, tp = (np.asarray(a, dtype=np.float64) for a in (n_gt, n_pred, tp))
    iou_sum = np.asarray(iou_sum, dtype=np.float64)
    fp, fn = n_pred - tp, n_gt - tp
    none = (n_gt == 0) & (n_pred == 0)

    def ratio(numerator, denominator):
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan)
        return np.where(none, EMPTY_BOTH_VALUES[empty_both], values)

    f1 = ratio(2 * tp, 2 * tp + fp + fn)
    sq = ratio(iou_sum, tp)
    return {"precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn), "f1": f1, "mean_matched_iou": sq,
            "pq": ratio(iou_sum, tp + fp / 2 + fn / 2), "sq": sq, "rq": f1}
