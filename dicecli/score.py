"""Confusion counts and Dice from integer label arrays (numpy only, no paths).

Everything the tool reports is derived from the per-label counts computed here:
TP, FP and FN per label, found in one chunked pass over the voxels. No one-hot
arrays and no float or int64 copies of a label volume are made; temporaries are
bounded by ``CHUNK_VOXELS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Voxels counted per chunk; bounds the wide temporaries np.bincount makes (8 bytes each).
CHUNK_VOXELS = 1 << 21

#: Statuses of one (case, class) score.
OK, BOTH_EMPTY, GT_EMPTY, PRED_EMPTY = "ok", "both_empty", "gt_empty", "pred_empty"

#: What a both-empty score becomes under each ``empty_both`` rule (NaN = undefined).
EMPTY_BOTH_VALUES = {"nan": float("nan"), "one": 1.0, "zero": 0.0}

_DENSE_LIMIT = 1 << 20  # largest label value counted with dense histograms


@dataclass(frozen=True, eq=False)
class CaseCounts:
    """Voxel counts of one case for every label value present in it.

    labels: sorted label values (int64) found in the ground truth or prediction.
    tp: voxels with that label in both; fp: in the prediction only; fn: in the
    ground truth only. ``n_voxels`` is the number of voxels compared.
    """

    labels: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    n_voxels: int

    def select(self, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tp, fp, fn) for ``labels`` in order; labels absent from the case count 0."""
        labels = np.asarray(labels, dtype=np.int64)
        out = [np.zeros(len(labels), dtype=np.int64) for _ in range(3)]
        pos = np.searchsorted(self.labels, labels)
        pos = np.minimum(pos, max(len(self.labels) - 1, 0))
        found = (self.labels[pos] == labels) if len(self.labels) else np.zeros(len(labels), bool)
        for dst, src in zip(out, (self.tp, self.fp, self.fn)):
            dst[found] = src[pos[found]]
        return out[0], out[1], out[2]


def _flat_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten both arrays in the same voxel order, without copying when possible."""
    order = "F" if (gt.flags.f_contiguous and pred.flags.f_contiguous and gt.ndim > 1) else "C"
    return gt.ravel(order=order), pred.ravel(order=order)


def _small_uint(max_value: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def count_labels(gt: np.ndarray, pred: np.ndarray) -> CaseCounts:
    """Count TP, FP and FN for every label value present in ``gt`` or ``pred``.

    Both arrays must have the same shape and a non-negative integer (or bool)
    dtype; the caller checks values. Label 0 is counted like any other label.
    Voxels that are 0 in both arrays are skipped in blocks and added to label 0
    afterwards, so cost follows the foreground, not the volume.
    """
    if gt.shape != pred.shape:
        raise ValueError(f"shapes differ: {gt.shape} vs {pred.shape}")
    g, p = _flat_pair(_as_unsigned(gt), _as_unsigned(pred))
    if g.dtype != p.dtype:
        wide = np.promote_types(g.dtype, p.dtype)
        g, p = g.astype(wide, copy=False), p.astype(wide, copy=False)
    n = g.size
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return CaseCounts(empty, empty, empty, empty, 0)
    g, p = _foreground_voxels(g, p)
    skipped = n - g.size
    top = int(max(g.max(), p.max())) if g.size else 0
    if top < 256:
        gt_hist, pred_hist, tp_hist = _count_joint(g, p, top + 1)
        values = np.arange(top + 1, dtype=np.int64)
    elif top < _DENSE_LIMIT:
        gt_hist, pred_hist, tp_hist = _count_dense(g, p, top + 1)
        values = np.arange(top + 1, dtype=np.int64)
    else:
        values, gt_hist, pred_hist, tp_hist = _count_sparse(g, p)
    if skipped:
        if values[0] != 0:  # only possible when every counted voxel is non-zero
            values, gt_hist, pred_hist, tp_hist = (np.concatenate(([0], a)) for a in (values, gt_hist, pred_hist, tp_hist))
        gt_hist[0] += skipped
        pred_hist[0] += skipped
        tp_hist[0] += skipped
    present = (gt_hist > 0) | (pred_hist > 0)
    tp = tp_hist[present]
    return CaseCounts(
        labels=values[present],
        tp=tp,
        fp=pred_hist[present] - tp,
        fn=gt_hist[present] - tp,
        n_voxels=int(n),
    )


def _as_unsigned(a: np.ndarray) -> np.ndarray:
    """View bool and non-negative signed labels as unsigned of the same width (no copy)."""
    if a.dtype == bool:
        return a.view(np.uint8)
    if a.dtype.kind == "i":
        return a.view(a.dtype.str.replace("i", "u"))
    return a


def _foreground_voxels(g: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The voxels of 8-byte words where either array is non-zero (plus any ragged tail).

    Skipped voxels are 0 in both arrays. When most words are active the arrays
    are returned whole, since gathering would only add a copy.
    """
    per_word = 8 // g.dtype.itemsize
    if per_word < 1 or g.size < 2 * CHUNK_VOXELS // 64:
        return g, p
    head = g.size // per_word * per_word
    gw, pw = g[:head].view(np.uint64), p[:head].view(np.uint64)
    chunk_words = CHUNK_VOXELS // per_word
    active = [np.flatnonzero(gw[s:s + chunk_words] | pw[s:s + chunk_words]) + s
              for s in range(0, gw.size, chunk_words)]
    index = np.concatenate(active) if active else np.zeros(0, dtype=np.intp)
    if index.size > gw.size // 2:
        return g, p
    return (np.concatenate((gw[index].view(g.dtype), g[head:])),
            np.concatenate((pw[index].view(p.dtype), p[head:])))


def _count_joint(g: np.ndarray, p: np.ndarray, k: int):
    """Labels below 256: one histogram of the joint code g*k + p (uint16) per chunk."""
    joint = np.zeros(k * k, dtype=np.int64)
    for start in range(0, g.size, CHUNK_VOXELS):
        code = g[start:start + CHUNK_VOXELS].astype(np.uint16)
        code *= k
        code += p[start:start + CHUNK_VOXELS]
        joint += np.bincount(code, minlength=k * k)
    matrix = joint.reshape(k, k)  # rows: ground truth, columns: prediction
    return matrix.sum(axis=1), matrix.sum(axis=0), np.diagonal(matrix).copy()


def _count_dense(g: np.ndarray, p: np.ndarray, k: int):
    """Labels below ``_DENSE_LIMIT`` (e.g. uint16 instance masks): three histograms."""
    gt_hist = np.zeros(k, dtype=np.int64)
    pred_hist = np.zeros(k, dtype=np.int64)
    tp_hist = np.zeros(k, dtype=np.int64)
    matches = 0
    for start in range(0, g.size, CHUNK_VOXELS):
        gc, pc = g[start:start + CHUNK_VOXELS], p[start:start + CHUNK_VOXELS]
        gt_hist += np.bincount(gc, minlength=k)
        pred_hist += np.bincount(pc, minlength=k)
        equal = gc == pc
        matches += int(np.count_nonzero(equal))
        tp_hist += np.bincount(np.where(equal, gc, 0), minlength=k)
    # Bin 0 of tp_hist also collected every mismatch; recover true background TP.
    tp_hist[0] = matches - int(tp_hist[1:].sum())
    return gt_hist, pred_hist, tp_hist


def _count_sparse(g: np.ndarray, p: np.ndarray):
    """Huge label values: map to compact indices with np.unique, then count densely."""
    values = np.union1d(np.unique(g), np.unique(p)).astype(np.int64)
    index_dtype = _small_uint(len(values))
    gi = np.searchsorted(values, g).astype(index_dtype)
    pi = np.searchsorted(values, p).astype(index_dtype)
    gt_hist, pred_hist, tp_hist = _count_dense(gi, pi, len(values))
    return values, gt_hist, pred_hist, tp_hist


def statuses(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Status per score: ok, both_empty, gt_empty (|G| = 0 < |P|) or pred_empty."""
    gt_size = np.asarray(tp) + np.asarray(fn)
    pred_size = np.asarray(tp) + np.asarray(fp)
    out = np.full(np.shape(gt_size), OK, dtype=object)
    out[(gt_size == 0) & (pred_size > 0)] = GT_EMPTY
    out[(pred_size == 0) & (gt_size > 0)] = PRED_EMPTY
    out[(gt_size == 0) & (pred_size == 0)] = BOTH_EMPTY
    return out


def dice(tp, fp, fn, *, smooth: float = 0.0, empty_both: str = "nan") -> np.ndarray:
    """Hard Dice (2·TP + s) / (2·TP + FP + FN + s), element-wise, as float64.

    Both masks empty (TP = FP = FN = 0): the ``empty_both`` rule decides,
    whatever ``smooth`` is: "nan" (undefined, NaN), "one" (1.0) or "zero" (0.0).
    One mask empty gives 0 when ``smooth`` is 0 (s / (FP + FN + s) otherwise).
    """
    if empty_both not in EMPTY_BOTH_VALUES:
        raise ValueError(f"empty_both must be one of {sorted(EMPTY_BOTH_VALUES)}")
    if smooth < 0:
        raise ValueError("smooth must be >= 0")
    tp = np.asarray(tp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    fn = np.asarray(fn, dtype=np.float64)
    denominator = 2 * tp + fp + fn
    both_empty = denominator == 0
    with np.errstate(invalid="ignore", divide="ignore"):
        values = (2 * tp + smooth) / (denominator + smooth)
    return np.where(both_empty, EMPTY_BOTH_VALUES[empty_both], values)
