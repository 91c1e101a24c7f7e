"""Decide what an array means (label map or probability map) and turn it into labels.

numpy only, no paths: errors are ValueKindError without a path; the caller adds it.

Rules (documented in README and man page):
- integer or bool dtype: a label map; negative values are an error.
- float dtype whose values are all whole numbers: a label map (NIfTI often stores
  labels as float); converted to the smallest unsigned integer type that holds them.
- float dtype with values in [0, 1] that are not all whole: a probability map;
  foreground (label 1) is ``p >= threshold``. Only predictions may be probability maps.
- NaN, inf, negative values or non-whole values outside [0, 1]: an error naming what was found.
"""

from __future__ import annotations

import numpy as np

from .errors import ValueKindError
from .score import CHUNK_VOXELS

LABELS, PROBABILITY = "labels", "probability"


def _chunks(flat: np.ndarray):
    for start in range(0, flat.size, CHUNK_VOXELS):
        yield flat[start:start + CHUNK_VOXELS]


def _smallest_uint(max_value: int) -> type:
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
            f"values from {lo:g} to {hi:g} are neither whole-number labels nor probabilities in [0, 1]",
        )
    return (array >= exact_threshold(threshold, array.dtype)).view(np.uint8), PROBABILITY


def exact_threshold(threshold: float, dtype: np.dtype) -> np.floating:
    """The smallest value of ``dtype`` that is >= ``threshold``.

    Comparing ``p >= exact_threshold(t, p.dtype)`` in the array's own precision
    gives exactly the foreground of the real-number rule ``p >= t``, with no
    float64 copy of the map (a plain float32 cast of 0.3 could round down).
    """
    dtype = np.dtype(dtype)
    value = dtype.type(threshold)
    if float(value) < threshold:
        value = np.nextafter(value, dtype.type(np.inf))
    return value
