"""Confusion counts and Dice from integer label arrays (numpy only, no paths).

Everything the tool reports is derived from the per-label counts computed here:
TP, FP and FN per label, found in one chunked pass over the voxels. No one-hot
arrays and no float or int64 copies of a label volume are made; temporaries are
bounded by ``CHUNK_VOXELS``.
"""

from __future__ import annotations

from dataclasses import dataclass

from typing import Literal

import numpy as np

from ..errors import ValueKindError

#: Voxels counted per chunk; bounds the wide temporaries np.bincount makes (8 bytes each).
CHUNK_VOXELS = 1 << 21

#: Largest label value counted: labels are reported as int64.
MAX_LABEL = 2**63 - 1

#: Statuses of one (case, class) score.
OK, BOTH_EMPTY, GT_EMPTY, PRED_EMPTY = "ok", "both_empty", "gt_empty", "pred_empty"

#: What a both-empty score becomes under each ``empty_both`` rule (NaN = undefined).
EMPTY_BOTH_VALUES = {"nan": float("nan"), "one": 1.0, "zero": 0.0}

_DENSE_LIMIT = 1 << 20  # largest label value counted with dense histograms
_COMPARE_MAX_LABELS = 24  # below this, count by comparison rather than np.bincount
#: Up to this many voxels (and labels below 256), one joint histogram counts a case: on small images
#: the word-skipping machinery costs more calls than it saves (64x64: about 13 us against 86 us).
_SMALL_VOXELS = 1 << 16


@dataclass(frozen=True, eq=False)
class CaseCounts:
    """Voxel counts of one case for every label value present in it.

    labels: sorted label values (int64) found in the ground truth or prediction.
    tp: voxels with that label in both; fp: in the prediction only; fn: in the
    ground truth only. ``n_voxels`` is the number of voxels compared (voxels
    left out by an ignore label excluded); ``n_ignored`` how many were left out.
    joint: the non-zero cells of the confusion matrix as (gt values, pred values,
    voxel counts), or None when it was not kept (more than 256 labels, or
    overlapping multi-label channels); regions are derived from it.
    """

    labels: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    n_voxels: int
    n_ignored: int = 0
    joint: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def without_joint(self) -> "CaseCounts":
        """These counts without the joint cells (what a run keeps once regions are counted)."""
        return CaseCounts(self.labels, self.tp, self.fp, self.fn, self.n_voxels, self.n_ignored)

    def __reduce__(self):
        """Pickle counts without joint cells as one packed buffer: a worker's answer for a small
        case unpickles about a third faster than with four separate arrays."""
        if self.joint is not None:
            return (CaseCounts, (self.labels, self.tp, self.fp, self.fn, self.n_voxels, self.n_ignored, self.joint))
        table = np.stack([self.labels, self.tp, self.fp, self.fn]).astype(np.int64, copy=False)
        return (_unpack_counts, (table.tobytes(), len(self.labels), self.n_voxels, self.n_ignored))

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


def _unpack_counts(data: bytes, n_labels: int, n_voxels: int, n_ignored: int) -> CaseCounts:
    """CaseCounts from CaseCounts.__reduce__'s buffer (writable int64 arrays)."""
    table = np.frombuffer(bytearray(data), dtype=np.int64).reshape(4, n_labels)
    return CaseCounts(table[0], table[1], table[2], table[3], n_voxels, n_ignored)


def _flat_pair(gt: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten both arrays in the same voxel order, without copying when possible."""
    order: Literal["F", "C"] = "F" if (gt.flags.f_contiguous and pred.flags.f_contiguous and gt.ndim > 1) else "C"
    return gt.ravel(order=order), pred.ravel(order=order)


def _small_uint(max_value: int) -> np.dtype:
    for dtype in (np.uint8, np.uint16, np.uint32):
        if max_value <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


def count_labels(gt: np.ndarray, pred: np.ndarray, *, ignore: int | None = None,
                 keep_joint: bool = True) -> CaseCounts:
    """Count TP, FP and FN for every label value present in ``gt`` or ``pred``.

    Both arrays must have the same shape and a non-negative integer (or bool)
    dtype; the caller checks values, except that uint64 values above
    MAX_LABEL raise ValueKindError. Label 0 is counted like any other label.
    ignore: voxels whose ground truth is this value leave every count (nnU-Net
    semantics); a prediction of ``ignore`` elsewhere is no class's foreground.
    One streaming pass in chunks of ``CHUNK_VOXELS``: 8-byte words that are 0 in
    both arrays are skipped and added to label 0, so cost follows the foreground
    and temporaries stay chunk-sized whatever the volume.
    keep_joint: False lets small images (up to _SMALL_VOXELS) skip the joint cells, which only
    regions use (region counts then come from the label arrays).
    """
    if gt.shape != pred.shape:
        raise ValueError(f"shapes differ: {gt.shape} vs {pred.shape}")
    for labels in (gt, pred):
        top = int(labels.max()) if labels.dtype == np.uint64 and labels.size else 0
        if top > MAX_LABEL:
            raise ValueKindError(None, label_too_large(top))
    g, p = _flat_pair(_as_unsigned(gt), _as_unsigned(pred))
    if g.dtype != p.dtype:
        wide = np.promote_types(g.dtype, p.dtype)
        g, p = g.astype(wide, copy=False), p.astype(wide, copy=False)
    if g.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return CaseCounts(empty, empty, empty, empty, 0)
    if g.size <= _SMALL_VOXELS:
        small = _count_small(g, p, ignore, keep_joint)
        if small is not None:
            return small
    if g.dtype.itemsize == 1:  # at most 256 labels: the tally grows to the largest value met, no max() pass
        counter = ByteLabelCounter(ignore=ignore)
        counter.add(g, p)
        return counter.result()
    top = int(max(g.max(), p.max()))
    if top < _DENSE_LIMIT:
        values, compact = np.arange(top + 1, dtype=np.int64), None
    else:  # huge label values: count compact indices into the sorted values present
        values = _present_values(g, p)
        compact = _small_uint(len(values) - 1)
    ignore_index = _index_of(values, ignore)
    tally = _JointTally(len(values)) if len(values) <= 256 else _DenseTally(len(values), ignore_index)
    if compact is None:
        skipped = _tally_words(g, p, tally, lambda a: a)
    else:
        skipped = _tally_words(g, p, tally, lambda a: np.searchsorted(values, a).astype(compact))
    return _finish(tally, values, skipped, int(g.size), ignore)


def _count_small(g: np.ndarray, p: np.ndarray, ignore: int | None, keep_joint: bool = True) -> CaseCounts | None:
    """count_labels of small flat arrays with labels below 256 from one joint histogram (the same
    CaseCounts; joint cells only when ``keep_joint``); None when a label is 256 or more. Without an
    ignore label the counts are read straight off the matrix (a 64x64 image: about 35 us, not 55)."""
    k = int(max(g.max(), p.max())) + 1
    if k > 256:
        return None
    code = g.astype(np.uint16)
    code *= k
    code += p
    joint = np.bincount(code, minlength=k * k)
    if ignore is not None:
        tally = _JointTally(k)
        tally.joint = joint
        return _finish(tally, np.arange(k, dtype=np.int64), 0, int(g.size), ignore)
    matrix = joint.reshape(k, k)  # rows: ground truth, columns: prediction
    gt_hist, pred_hist = matrix.sum(axis=1), matrix.sum(axis=0)
    present = np.flatnonzero(gt_hist + pred_hist)  # label values: the matrix is indexed by value
    tp = matrix.diagonal()[present]
    cells = None
    if keep_joint:
        rows, cols = np.nonzero(matrix)
        cells = (rows.astype(np.int64), cols.astype(np.int64), matrix[rows, cols])
    return CaseCounts(labels=present.astype(np.int64), tp=tp, fp=pred_hist[present] - tp,
                      fn=gt_hist[present] - tp, n_voxels=int(g.size), joint=cells)


def label_too_large(value: int) -> str:
    """The message refusing a label that cannot be kept exactly."""
    return f"label value {value} is too large (labels must be below 2**63)"


class ByteLabelCounter:
    """count_labels for 1-byte labels (uint8, int8 >= 0, bool) fed in pieces.

    ``add`` takes aligned pieces of the flattened gt and prediction (same length;
    every piece but the last a multiple of 8 voxels long, so 8-byte words line up);
    ``result`` returns the same CaseCounts as count_labels on the whole arrays.
    Used to count a case while it is being decompressed, without the whole volume.
    """

    def __init__(self, *, ignore: int | None = None):
        self.ignore = ignore
        self.tally = _JointTally(1, growable=True)
        self.skipped = 0
        self.n_voxels = 0
        self._ragged = False

    def add(self, g: np.ndarray, p: np.ndarray) -> None:
        if g.shape != p.shape or g.ndim != 1 or g.dtype.itemsize != 1 or p.dtype.itemsize != 1:
            raise ValueError("pieces must be 1-D arrays of 1-byte labels, of one length")
        if self._ragged:
            raise ValueError("only the last piece may have a length that is not a multiple of 8")
        self._ragged = g.size % 8 != 0
        self.skipped += _tally_words(g.view(np.uint8), p.view(np.uint8), self.tally, lambda a: a)
        self.n_voxels += int(g.size)

    def result(self) -> CaseCounts:
        if self.n_voxels == 0:
            empty = np.zeros(0, dtype=np.int64)
            return CaseCounts(empty, empty, empty, empty, 0)
        values = np.arange(self.tally.k, dtype=np.int64)
        return _finish(self.tally, values, self.skipped, self.n_voxels, self.ignore)


def _index_of(values: np.ndarray, value: int | None) -> int | None:
    """Position of ``value`` in the sorted ``values``, or None when absent (or None)."""
    if value is None:
        return None
    where = int(np.searchsorted(values, value))
    return where if where < len(values) and values[where] == value else None


def _finish(tally, values: np.ndarray, skipped: int, n_voxels: int, ignore: int | None) -> CaseCounts:
    """CaseCounts from a filled tally over ``values``; ``skipped`` voxels were 0 in both masks."""
    k = len(values)
    ignore_index = _index_of(values, ignore)
    gt_hist, pred_hist, tp_hist = tally.histograms()
    if skipped:
        for hist in (gt_hist, pred_hist, tp_hist):
            hist[0] += skipped  # skipped voxels are 0 in both; values[0] is 0 whenever any are
    joint, ignored_row = None, None
    if isinstance(tally, _JointTally):
        matrix = tally.joint.reshape(k, k)  # rows: ground truth, columns: prediction
        matrix[0, 0] += skipped
        if ignore_index is not None:
            ignored_row = matrix[ignore_index].copy()
            matrix[ignore_index] = 0
        rows, cols = np.nonzero(matrix)
        joint = (values[rows], values[cols], matrix[rows, cols])
    elif ignore_index is not None:
        ignored_row = tally.ignored_pred
        ignored_row[0] += skipped if ignore_index == 0 else 0
    n_ignored = 0
    if ignored_row is not None:  # the ignored ground-truth row leaves every count
        n_ignored = int(ignored_row.sum())
        gt_hist[ignore_index] -= n_ignored
        pred_hist -= ignored_row
        tp_hist[ignore_index] -= ignored_row[ignore_index]
    present = (gt_hist > 0) | (pred_hist > 0)
    tp = tp_hist[present]
    return CaseCounts(
        labels=values[present],
        tp=tp,
        fp=pred_hist[present] - tp,
        fn=gt_hist[present] - tp,
        n_voxels=n_voxels - n_ignored,
        n_ignored=n_ignored,
        joint=joint,
    )


def _as_unsigned(a: np.ndarray) -> np.ndarray:
    """View bool and non-negative signed labels as unsigned of the same width (no copy)."""
    if a.dtype == bool:
        return a.view(np.uint8)
    if a.dtype.kind == "i":
        return a.view(a.dtype.str.replace("i", "u"))
    return a


def _tally_words(g: np.ndarray, p: np.ndarray, tally, to_index) -> int:
    """Feed every voxel to ``tally``; return how many were skipped as 0 in both arrays.

    The arrays are read as 8-byte words, a chunk at a time. Words that are 0 in
    both arrays are skipped; words where both hold one repeated label (the
    inside of a region) are counted per word; only the rest (region borders and
    disagreements) are counted voxel by voxel. ``to_index`` maps label values to
    the tally's bins.
    """
    bits = 8 * g.dtype.itemsize
    per_word = 64 // bits
    low = np.uint64((1 << bits) - 1)
    repeat = np.uint64(sum(1 << (bits * i) for i in range(per_word)))
    head = g.size // per_word * per_word
    gw_all, pw_all = g[:head].view(np.uint64), p[:head].view(np.uint64)
    step = max(1, CHUNK_VOXELS // per_word)
    skipped = 0
    for start in range(0, gw_all.size, step):
        gw, pw = gw_all[start:start + step], pw_all[start:start + step]
        active = (gw | pw) != 0  # a bool mask: finding and gathering with it is ~8x faster than on words
        n_active = int(np.count_nonzero(active))
        if 2 * n_active <= gw.size:  # mostly background: gather the active words
            skipped += (gw.size - n_active) * per_word
            gw, pw = gw[active], pw[active]
        first = gw & low
        uniform = (gw == pw) & (gw == first * repeat)
        mixed = ~uniform
        inside, g_mixed, p_mixed = first[uniform], gw[mixed].view(g.dtype), pw[mixed].view(p.dtype)
        if tally.growable:
            tally.grow_to(inside, g_mixed, p_mixed)
        tally.add_uniform(to_index(inside), per_word)
        tally.add(to_index(g_mixed), to_index(p_mixed))
    if head < g.size:
        if tally.growable:
            tally.grow_to(g[head:], p[head:])
        tally.add(to_index(g[head:]), to_index(p[head:]))
    return skipped


def _present_values(g: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Sorted label values present in either array, found chunk by chunk."""
    found = np.zeros(0, dtype=np.int64)
    for start in range(0, g.size, CHUNK_VOXELS):
        for a in (g[start:start + CHUNK_VOXELS], p[start:start + CHUNK_VOXELS]):
            found = np.union1d(found, np.unique(a).astype(np.int64))
    return found


def _histogram(values: np.ndarray, k: int) -> np.ndarray:
    """Occurrences of 0..k-1 in ``values``.

    Interior labels come in long runs, where np.bincount stalls on one counter;
    for few labels, one vectorised comparison per label is several times faster.
    """
    if k <= _COMPARE_MAX_LABELS:
        return np.array([np.count_nonzero(values == v) for v in range(k)], dtype=np.int64)
    return np.bincount(values.astype(np.intp), minlength=k)


class _JointTally:
    """Up to 256 labels: one histogram of the joint code g*k + p (uint16) per chunk."""

    def __init__(self, k: int, growable: bool = False):
        self.k = k
        self.joint = np.zeros(k * k, dtype=np.int64)
        self.growable = growable

    def grow_to(self, *values: np.ndarray) -> None:
        """Widen the table (rows and columns) to hold the largest of ``values``; never shrinks."""
        top = max((int(v.max()) for v in values if v.size), default=0)
        if top >= self.k:
            wider = np.zeros((top + 1, top + 1), dtype=np.int64)
            wider[:self.k, :self.k] = self.joint.reshape(self.k, self.k)
            self.k, self.joint = top + 1, wider.ravel()

    def add(self, g: np.ndarray, p: np.ndarray) -> None:
        if g.size:
            code = g.astype(np.uint16)
            code *= self.k
            code += p
            self.joint += np.bincount(code, minlength=self.k * self.k)

    def add_uniform(self, labels: np.ndarray, weight: int) -> None:
        """Count ``weight`` voxels of agreement for each entry of ``labels``."""
        self.joint[:: self.k + 1] += weight * _histogram(labels, self.k)

    def histograms(self):
        matrix = self.joint.reshape(self.k, self.k)  # rows: ground truth, columns: prediction
        return matrix.sum(axis=1), matrix.sum(axis=0), np.diagonal(matrix).copy()


class _DenseTally:
    """More labels (e.g. uint16 instance masks): ground-truth, prediction and match histograms."""

    growable = False

    def __init__(self, k: int, ignore_index: int | None = None):
        self.k = k
        self.gt, self.pred, self.tp = (np.zeros(k, dtype=np.int64) for _ in range(3))
        self.matches = 0
        self.ignore_index = ignore_index
        self.ignored_pred = np.zeros(k, dtype=np.int64)  # predictions where gt is the ignore label

    def add(self, g: np.ndarray, p: np.ndarray) -> None:
        self.gt += np.bincount(g, minlength=self.k)
        self.pred += np.bincount(p, minlength=self.k)
        equal = g == p
        self.matches += int(np.count_nonzero(equal))
        self.tp += np.bincount(np.where(equal, g, 0), minlength=self.k)
        if self.ignore_index is not None:
            self.ignored_pred += np.bincount(p[g == self.ignore_index], minlength=self.k)

    def add_uniform(self, labels: np.ndarray, weight: int) -> None:
        """Count ``weight`` voxels of agreement for each entry of ``labels``."""
        if labels.size:
            counts = weight * _histogram(labels, self.k)
            for hist in (self.gt, self.pred, self.tp):
                hist += counts
            self.matches += weight * int(labels.size)
            if self.ignore_index is not None:
                self.ignored_pred[self.ignore_index] += counts[self.ignore_index]

    def histograms(self):
        tp = self.tp.copy()
        # Bin 0 also collected every mismatch; recover the true background matches.
        tp[0] = self.matches - int(tp[1:].sum())
        return self.gt, self.pred, tp


def statuses(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    """Status per score: ok, both_empty, gt_empty (|G| = 0 < |P|) or pred_empty."""
    gt_size = np.asarray(tp) + np.asarray(fn)
    pred_size = np.asarray(tp) + np.asarray(fp)
    out = np.empty(np.shape(gt_size), dtype=object)
    out.fill(OK)  # the one string in every cell (np.full would make a new string per cell)
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
