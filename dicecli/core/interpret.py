"""Decide what an array means (label map or probability map) and turn it into labels.

numpy only, no paths: errors are ValueKindError without a path; the caller adds it.

Rules (documented in docs/conventions.md and the man page):
- integer or bool dtype: a label map; negative values are an error.
- float dtype whose values are all whole numbers: a label map (NIfTI often stores
  labels as float); converted to the smallest unsigned integer type that holds them.
- float dtype with values in [0, 1] that are not all whole: a probability map;
  foreground (label 1) is ``p >= threshold``. Only predictions may be probability maps.
- NaN, inf, negative values or non-whole values outside [0, 1]: an error naming what was found.

``--pred-kind`` overrides the guess for predictions (see ``prediction_kind``):
"labels" insists on a label map, "prob" reads every value as a probability
p = value / scale (integer maps: scale = ``--prob-scale``, default the dtype's
maximum, 255 for uint8). Under "auto", integer maps stay label maps; when one
looks like a quantised probability map, ``looks_quantised`` says so from the
counts (no extra pass) and the run warns.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from ..errors import ValueKindError
from .score import CHUNK_VOXELS

LABELS, PROBABILITY = "labels", "probability"
SOFTMAX, MULTILABEL, REGIONS, MISSING = "softmax", "multilabel", "regions", "missing"
#: How a prediction was read (CaseResult.pred_kind) when its foreground came from a threshold.
THRESHOLDED = (PROBABILITY, MULTILABEL, REGIONS)
PRED_KINDS = ("auto", "labels", "prob")
#: An integer prediction with at least this many distinct non-zero values absent
#: from its ground truth looks like a quantised probability map.
QUANTISED_MIN_VALUES = 16


def _chunks(flat: np.ndarray):
    for start in range(0, flat.size, CHUNK_VOXELS):
        yield flat[start:start + CHUNK_VOXELS]


def _smallest_uint(max_value: int) -> type:
    if max_value > 2**63 - 1:  # counts are int64: such a label could not be kept exactly
        raise ValueKindError(None, f"label value {max_value} is too large (labels must be below 2**63)")
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if max_value <= np.iinfo(dtype).max:
            return dtype
    raise ValueKindError(None, f"label value {max_value} is too large")


def _float_facts(flat: np.ndarray) -> tuple[float, float, bool, bool]:
    """(min, max, all finite, all whole) of a float array, in bounded-memory chunks."""
    lo, hi, finite, whole = np.inf, -np.inf, True, True
    for chunk in _chunks(flat):
        if chunk.size == 0:
            continue
        if finite and not np.isfinite(chunk).all():
            finite = False
            break
        lo = min(lo, float(chunk.min()))
        hi = max(hi, float(chunk.max()))
        if whole and not np.array_equal(chunk, np.floor(chunk)):
            whole = False
    return lo, hi, finite, whole


def _range_text(lo: float, hi: float, scale: float = 1.0) -> str:
    """``"lo to hi"`` for a message on values outside [0, scale]: 6 significant digits, or
    every digit when those would round an out-of-range value into the range (1.00000006, not 1)."""
    def shown(value: float) -> str:
        text = f"{value:g}"
        return repr(value) if (0 <= float(text) <= scale) != (0 <= value <= scale) else text
    return f"{shown(lo)} to {shown(hi)}"


def _nonfinite_summary(flat: np.ndarray) -> str:
    n_nan = sum(int(np.isnan(c).sum()) for c in _chunks(flat))
    n_inf = sum(int(np.isinf(c).sum()) for c in _chunks(flat))
    parts = [f"{n} {what}" for n, what in ((n_nan, "NaN"), (n_inf, "infinite")) if n]
    return " and ".join(parts) + " value(s)"


def to_labels(array: np.ndarray, *, threshold: float, allow_probability: bool) -> tuple[np.ndarray, str]:
    """Return ``(labels, kind)``: a non-negative integer label array and LABELS or PROBABILITY.

    threshold: probability maps are foreground where ``p >= threshold`` (label 1).
    allow_probability: False for ground truth, which must be a label map.
    Raises ValueKindError (no path) for values that make no sense in a mask.
    """
    if array.dtype == bool:
        return array.view(np.uint8), LABELS
    if array.dtype.kind in "ui":
        if array.dtype.kind == "i" and array.size and int(array.min()) < 0:
            raise ValueKindError(None, f"negative label value {int(array.min())} in a label map")
        return array, LABELS
    if array.dtype.kind != "f":
        raise ValueKindError(None, f"unsupported data type {array.dtype} for a mask")
    flat = array.ravel(order="K")
    lo, hi, finite, whole = _float_facts(flat)
    if not finite:
        raise ValueKindError(None, f"contains {_nonfinite_summary(flat)}")
    if flat.size == 0:
        return np.zeros(array.shape, dtype=np.uint8), LABELS
    if whole:
        if lo < 0:
            raise ValueKindError(None, f"negative label value {lo:g} in a label map")
        return array.astype(_smallest_uint(int(hi))), LABELS
    if not allow_probability:
        raise ValueKindError(
            None,
            f"non-whole values (range {lo:g} to {hi:g}) in a ground truth, which must be a label map",
        )
    if lo < 0 or hi > 1:
        raise ValueKindError(
            None,
            f"values from {_range_text(lo, hi)} are neither whole-number labels nor probabilities in [0, 1]",
        )
    return (array >= exact_threshold(threshold, array.dtype)).view(np.uint8), PROBABILITY


def exact_threshold(threshold: float, dtype: np.dtype, scale: float = 1.0):
    """The cut c with ``value >= c`` <=> foreground, for maps of ``dtype`` read as p = value / scale.

    threshold and scale are the decimals they print as (0.2 is 1/5, not the binary
    double just above it), so their product is exact: 0.2 x 255 = 51 and 0.07 x 100 = 7.
    Float maps compare in their own precision: c = dtype(threshold * scale), the
    product rounded to the map's type, as ``p >= t`` does in numpy (a float32
    map compares with float32(t)), SimpleITK's BinaryThreshold and MONAI. So a
    float32 map holding float32(0.7) is foreground at --threshold 0.7.
    Integer maps (quantised probabilities) use the exact integer ceiling of
    threshold * scale: 128 for t = 0.5 on uint8 / 255, 51 for t = 0.2 (p = 51/255 = 0.2).
    """
    dtype = np.dtype(dtype)
    target = _decimal(threshold) * _decimal(scale)
    if dtype.kind in "uib":
        return -((-target.numerator) // target.denominator)  # ceiling
    with np.errstate(over="ignore"):
        return dtype.type(float(target))


def _decimal(value: float) -> Fraction:
    """The exact value of the shortest decimal that reads back as ``value`` (1/5 for 0.2)."""
    return Fraction(repr(float(value)))


def default_scale(dtype: np.dtype, prob_scale: float | None) -> float:
    """p = value / scale: ``--prob-scale``, else 1 for floats and the dtype's maximum for integers."""
    if prob_scale is not None:
        return float(prob_scale)
    dtype = np.dtype(dtype)
    return float(np.iinfo(dtype).max) if dtype.kind in "ui" else 1.0


def _int_range(array: np.ndarray) -> tuple[int, int]:
    if array.size == 0:
        return 0, 0
    return int(array.min()), int(array.max())


#: Bit pattern of 1.0 and the unsigned view of each float type: a float is in [0, 1] (or -0.0)
#: exactly when its pattern with the sign bit cleared is at most ONE's and no other pattern has the
#: sign bit set; NaN and infinity lie above ONE.
_UNIT_BITS = {np.dtype(np.float16): (np.uint16, 0x3C00, 0x8000),
              np.dtype(np.float32): (np.uint32, 0x3F800000, 0x80000000),
              np.dtype(np.float64): (np.uint64, 0x3FF0000000000000, 0x8000000000000000)}


def _in_unit_interval(array: np.ndarray) -> bool:
    """True when every value of a float16/32/64 array is a probability in [0, 1] (two integer passes,
    chunked); False means: look closer (another type, or a value out of range)."""
    facts = _UNIT_BITS.get(array.dtype)
    if facts is None:
        return False
    if not (array.flags.c_contiguous or array.flags.f_contiguous):  # a permuted view: order is no matter here
        array = array.transpose(np.argsort([-abs(s) for s in array.strides], kind="stable"))
        if not array.flags.c_contiguous:
            return False
    unsigned, one, sign = facts
    bits = array.ravel(order="K").view(unsigned)
    for chunk in _chunks(bits):
        if chunk.size and int(chunk.max()) > one and np.any((chunk > one) & (chunk != sign)):
            return False  # above 1, negative, NaN or infinite (only -0.0 may carry the sign bit)
    return True


def check_probabilities(array: np.ndarray, scale: float) -> None:
    """Raise ValueKindError unless every value / scale is a probability in [0, 1]."""
    if array.dtype == bool:
        return
    if scale == 1 and _in_unit_interval(array):
        return
    lo: float
    hi: float
    if array.dtype.kind in "ui":
        lo, hi = _int_range(array)
    elif array.dtype.kind == "f":
        flat = array.ravel(order="K")
        lo, hi, finite, _ = _float_facts(flat)
        if not finite:
            raise ValueKindError(None, f"contains {_nonfinite_summary(flat)}")
    else:
        raise ValueKindError(None, f"unsupported data type {array.dtype} for a probability map")
    if array.size and (lo < 0 or hi > scale):
        where = "" if scale == 1 else f" / {scale:g}"
        raise ValueKindError(
            None,
            f"values from {_range_text(lo, hi, scale)}{where} are not probabilities in [0, 1]"
            + ("" if scale != 1 or array.dtype.kind == "f" else " (quantised maps need --prob-scale)"),
        )


@dataclass(frozen=True)
class Interpretation:
    """What a prediction means: the one record of how its values became labels.

    kind: LABELS (a label map), PROBABILITY (one map, thresholded), SOFTMAX (argmax over
        channels), MULTILABEL (channels thresholded one by one), REGIONS (one sigmoid channel
        per nnU-Net region, thresholded and painted) or MISSING (no prediction: empty).
    scale: p = value / scale for probabilities; None for label maps and for integer softmax
        maps, whose argmax needs no scale.
    channel_axis: the prediction's channel axis as stored, None for a single map.
    axes_reversed: the prediction's spatial axes were reversed to the ground truth's order.
    axes_unchecked: reversed although the shapes also fit as stored (square images).
    """

    kind: str
    scale: float | None = None
    channel_axis: int | None = None
    axes_reversed: bool = False
    axes_unchecked: bool = False

    def placed(self, channel_axis: int | None, axes_reversed: bool, axes_unchecked: bool) -> "Interpretation":
        """This meaning with where the prediction's axes were found (dataclasses.replace costs 5 us
        a case; this, 1)."""
        return Interpretation(self.kind, self.scale, channel_axis, axes_reversed, axes_unchecked)


def single_map(array: np.ndarray, *, threshold: float, pred_kind: str = "auto",
               prob_scale: float | None = None) -> tuple[np.ndarray, Interpretation]:
    """(labels, interpretation) of a single-channel prediction (see prediction_labels)."""
    labels, kind, scale = prediction_labels(array, threshold=threshold, pred_kind=pred_kind, prob_scale=prob_scale)
    return labels, Interpretation(kind, scale if kind == PROBABILITY else None)


def channel_kind(*, region_channels: bool, multilabel: bool) -> str:
    """How a (channels, ...) stack becomes labels: REGIONS when it holds one channel per region of
    the label names (``region_channels``, see Settings.reads_region_channels), MULTILABEL under
    --multilabel, else SOFTMAX."""
    if region_channels:
        return REGIONS
    return MULTILABEL if multilabel else SOFTMAX


def channel_scale(stack: np.ndarray, kind: str, *, pred_kind: str = "auto", prob_scale: float | None = None,
                  soft: bool = False) -> float | None:
    """p = value / scale for a (channels, ...) stack read as ``kind``, after checking its values;
    None: an integer softmax of quantised probabilities, whose argmax needs no scale.

    pred_kind "labels": one 0/1 mask per channel (scale 1). "prob", a ``prob_scale``, or float or
    bool values: probabilities over the dtype's default scale. Other integers: 0/1 masks when
    at most 1; larger values need ``prob_scale`` when thresholds or soft Dice read them
    (MULTILABEL, REGIONS, ``soft``).
    """
    if pred_kind == "labels":
        check_probabilities(stack, 1.0)
        if stack.dtype.kind == "f" and not all(np.array_equal(c, np.floor(c)) for c in stack):
            raise ValueKindError(None, "--pred-kind labels: channel values must be 0 or 1 (one binary mask "
                                       "per channel)")
        return 1.0
    if pred_kind == "prob" or prob_scale is not None or stack.dtype.kind in "fb":
        scale = default_scale(stack.dtype, prob_scale)
        check_probabilities(stack, scale)
        return scale
    check_probabilities(stack, float(np.iinfo(stack.dtype).max))  # integers: only negative values are wrong
    if stack.size == 0 or int(stack.max()) <= 1:
        return 1.0  # 0/1 masks, one per channel
    if kind != SOFTMAX or soft:
        top = np.iinfo(stack.dtype).max
        raise ValueKindError(None, f"integer channel values up to {int(stack.max())}: give --prob-scale "
                                   f"(e.g. {top} if they are probabilities x {top}) so thresholds and soft "
                                   "Dice see p = value / scale")
    return None  # argmax of quantised probabilities needs no scale


def threshold_map(array: np.ndarray, threshold: float, scale: float) -> np.ndarray:
    """Foreground (uint8 1) where value / scale >= threshold (see exact_threshold)."""
    if array.dtype == bool:
        array = array.view(np.uint8)
    return (array >= exact_threshold(threshold, array.dtype, scale)).view(np.uint8)


def prediction_kind(array: np.ndarray, *, pred_kind: str = "auto",
                    prob_scale: float | None = None) -> tuple[str, float]:
    """(LABELS or PROBABILITY, scale) for a single-channel prediction, after checking its values.

    auto: as to_labels (integer maps are labels; float maps with non-whole values
    in [0, 1] are probabilities), unless ``prob_scale`` is given, which makes it "prob".
    labels: a label map; non-whole values are an error. prob: value / scale in [0, 1].
    """
    if pred_kind not in PRED_KINDS:
        raise ValueError(f"pred_kind must be one of {', '.join(PRED_KINDS)}")
    if pred_kind == "prob" or (pred_kind == "auto" and prob_scale is not None):
        scale = default_scale(array.dtype, prob_scale)
        check_probabilities(array, scale)
        return PROBABILITY, scale
    return LABELS, 1.0


def prediction_labels(
    array: np.ndarray, *, threshold: float, pred_kind: str = "auto", prob_scale: float | None = None
) -> tuple[np.ndarray, str, float]:
    """(labels, kind, scale) of a single-channel prediction under ``--pred-kind``.

    threshold: the threshold of class 1 (a single-channel probability map has
    foreground label 1 where value / scale >= threshold).
    """
    kind, scale = prediction_kind(array, pred_kind=pred_kind, prob_scale=prob_scale)
    if kind == PROBABILITY:
        return threshold_map(array, threshold, scale), PROBABILITY, scale
    if pred_kind == "labels" and array.dtype.kind == "f":
        flat = array.ravel(order="K")
        lo, hi, finite, whole = _float_facts(flat)
        if not finite:
            raise ValueKindError(None, f"contains {_nonfinite_summary(flat)}")
        if flat.size and not whole:
            raise ValueKindError(None, f"non-whole values (range {lo:g} to {hi:g}) in a label map "
                                       "(--pred-kind labels)")
    labels, kind = to_labels(array, threshold=threshold, allow_probability=pred_kind == "auto")
    return labels, kind, 1.0 if kind == LABELS else scale


def looks_quantised(labels: np.ndarray, gt_size: np.ndarray, pred_size: np.ndarray) -> bool:
    """From one case's counts: an integer prediction with many values its ground truth never has.

    True when at least QUANTISED_MIN_VALUES distinct non-zero values occur in the
    prediction but not in the ground truth, and the ground truth itself has fewer
    than QUANTISED_MIN_VALUES labels (a uint8 probability map has up to 254 values
    against a mask of a few classes; an instance mask's ground truth has many ids
    too, see looks_like_instances).
    """
    if len(labels) < QUANTISED_MIN_VALUES:  # too few values to hold that many extra ones
        return False
    labels, gt_size, pred_size = (np.asarray(a) for a in (labels, gt_size, pred_size))
    extra = (labels != 0) & (pred_size > 0) & (gt_size == 0)
    gt_labels = int(np.count_nonzero((labels != 0) & (gt_size > 0)))
    return int(np.count_nonzero(extra)) >= QUANTISED_MIN_VALUES and gt_labels < QUANTISED_MIN_VALUES


def looks_like_instances(labels: np.ndarray, tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> bool:
    """From one case's counts: instance masks, whose ids are arbitrary per file.

    True when both masks hold at least QUANTISED_MIN_VALUES non-zero ids and most
    of them match nothing: fewer than half of the ids present carry any true
    positive (a semantic map with many classes mostly overlaps class by class).
    """
    if len(labels) < QUANTISED_MIN_VALUES:  # too few ids on either side
        return False
    labels, tp, fp, fn = (np.asarray(a) for a in (labels, tp, fp, fn))
    fg = labels != 0
    in_gt = int(np.count_nonzero(fg & ((tp + fn) > 0)))
    in_pred = int(np.count_nonzero(fg & ((tp + fp) > 0)))
    present = int(np.count_nonzero(fg & ((tp + fp + fn) > 0)))
    matched = int(np.count_nonzero(fg & (tp > 0)))
    return min(in_gt, in_pred) >= QUANTISED_MIN_VALUES and matched * 2 < present


class NotStreamable(Exception):
    """A piece that PieceLabels cannot turn into 1-byte labels: score the map whole instead
    (which also words any error)."""


class PieceLabels:
    """to_labels / prediction_labels for a map that arrives in pieces, as uint8 labels per piece.

    Streams what fits 1-byte labels: integer values 0..255 (0..127 for int8) and
    float values that are whole numbers 0..255; the labels equal those the whole
    map gives. threshold: None for a ground truth (a label map); for a prediction
    under ``--pred-kind auto``, the threshold of class 1: when a float piece holds
    non-whole values in [0, 1] the map is a probability map, thresholded from that
    piece on (``p >= cut`` in the map's precision, as exact_threshold), which needs
    the earlier pieces to hold only 0 and 1 and 0 < cut <= 1, so thresholding
    would have kept them. Raises NotStreamable for anything else (larger labels,
    negative, NaN or infinite values, other probability values).
    kind: LABELS, or PROBABILITY once a piece said so.
    """

    def __init__(self, dtype: np.dtype, *, threshold: float | None = None):
        self.dtype = np.dtype(dtype)
        if self.dtype.kind not in "uif":
            raise NotStreamable(f"{self.dtype} values")
        self.kind = LABELS
        self._cut = None if threshold is None else exact_threshold(threshold, self.dtype)
        self._top = 0  # largest label so far (only tracked for float maps that may be probabilities)

    def __call__(self, piece: np.ndarray) -> np.ndarray:
        """The uint8 labels of ``piece`` (1-D, of this map's dtype in native order)."""
        if self.dtype.kind in "ui":
            return _byte_labels(piece)
        if self.kind == PROBABILITY:
            return self._threshold(piece)
        with np.errstate(invalid="ignore"):
            labels = piece.astype(np.uint8)
        if np.array_equal(labels, piece):  # whole numbers 0..255 exactly: anything else differs
            if self._cut is not None and piece.size:
                self._top = max(self._top, int(labels.max()))
            return labels
        if self._cut is None or self._top > 1 or not 0 < self._cut <= 1:
            raise NotStreamable("not 1-byte labels")
        self.kind = PROBABILITY
        return self._threshold(piece)

    def _threshold(self, piece: np.ndarray) -> np.ndarray:
        if not _in_unit_interval(piece):
            raise NotStreamable("values outside [0, 1]")
        return (piece >= self._cut).view(np.uint8)


def _byte_labels(piece: np.ndarray) -> np.ndarray:
    """Integer labels as uint8 (a view when 1 byte wide); NotStreamable for negative or > 255."""
    unsigned = piece.view(piece.dtype.str.replace("i", "u"))  # negative values become large
    top = 127 if piece.dtype == np.int8 else 255
    if piece.dtype.itemsize == 1 and top == 255:
        return unsigned
    if unsigned.size and int(unsigned.max()) > top:
        raise NotStreamable("labels above 255 or negative")
    return unsigned if unsigned.dtype.itemsize == 1 else unsigned.astype(np.uint8)
