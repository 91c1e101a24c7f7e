"""Dice at every threshold of a grid in one pass over the voxels (numpy only, no paths).

For one probability map p and one ground-truth mask G, the foreground at
threshold t is p >= cut(t), compared in the map's own precision exactly as
``dice score`` compares (interpret.exact_threshold). With the cuts sorted, the
bin of a voxel is the number of cuts at or below its value (np.searchsorted,
side "right"), so p >= cut_k exactly when bin > k. Two histograms of the bins,
one over G and one over all kept voxels, and reverse cumulative sums give TP
and |P| at every threshold: one pass, not one per threshold.
"""

from __future__ import annotations

import functools
from typing import Literal

import numpy as np

from .interpret import exact_threshold
from .score import CHUNK_VOXELS, dice


def threshold_grid(steps: int = 99) -> np.ndarray:
    """``steps`` thresholds evenly spaced in (0, 1): k / (steps + 1), k = 1..steps (99: 0.01 ... 0.99)."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    return np.arange(1, steps + 1, dtype=np.float64) / (steps + 1)


def cuts_for(thresholds, dtype, scale: float = 1.0) -> np.ndarray:
    """The cut of each threshold in ``dtype`` (non-decreasing when thresholds are)."""
    dtype = np.dtype(dtype)
    values = [exact_threshold(float(t), dtype, scale) for t in thresholds]
    if dtype.kind in "uib":
        return np.asarray(values, dtype=np.float64)  # integer ceilings, exact in float64
    return np.asarray(values, dtype=dtype)


#: float32 maps: the top 20 bits of a value's pattern name its bucket (about 2**-11 of the value wide).
_BUCKET_SHIFT = 12


@functools.lru_cache(maxsize=8)
def _bucket_table(cut_bytes: bytes) -> np.ndarray:
    """Per float32 bucket, the bin of every value in it (255 when a cut falls inside the bucket).

    Built once per process and grid: 2**20 buckets, each checked at its lowest and highest
    pattern, so the table is exact wherever it does not say 255.
    """
    cuts = np.frombuffer(cut_bytes, dtype=np.float32)
    buckets = np.arange(1 << (32 - _BUCKET_SHIFT), dtype=np.uint32) << np.uint32(_BUCKET_SHIFT)
    low, high = buckets.view(np.float32), (buckets | np.uint32((1 << _BUCKET_SHIFT) - 1)).view(np.float32)
    with np.errstate(invalid="ignore"):
        first, last = np.searchsorted(cuts, low, side="right"), np.searchsorted(cuts, high, side="right")
    return np.where(first == last, first, 255).astype(np.uint8)


def _table_bins(values: np.ndarray, search: np.ndarray) -> np.ndarray:
    """_bins for float32 probability maps and at most 254 cuts: a table lookup on the top bits of
    each value, exact searchsorted for the few values whose bucket holds a cut."""
    table = _bucket_table(search.astype(np.float32).tobytes())
    bins = table[values.view(np.uint32) >> np.uint32(_BUCKET_SHIFT)]
    unsure = bins == 255
    if unsure.any():
        bins[unsure] = np.searchsorted(search, values[unsure], side="right")
    return bins


def _bins(values: np.ndarray, search: np.ndarray, uniform: int | None) -> np.ndarray:
    """Number of cuts at or below each value (np.searchsorted side "right"), exactly.

    uniform: N when the cuts are the grid k/(N+1) (threshold_grid) and the map is
    float32 or float64: the bin is estimated as floor(value * (N+1)) and moved by
    one where a comparison with the neighbouring cuts says so. Rounding moves the
    estimate by at most one (cuts are 1/(N+1) apart, many ulps for N <= 10000),
    and that one step is exactly what the comparisons correct; other maps
    (float16, integer, other grids) use searchsorted.
    """
    n = len(search)
    if values.dtype == np.float32 and n <= 254:
        return _table_bins(values, search)
    if uniform is None or values.dtype not in (np.float32, np.float64) or n > 10_000:
        return np.searchsorted(search, values, side="right")
    edges = np.concatenate([[-np.inf], search, [np.inf]]).astype(values.dtype)  # edges[b] = cut_b, b = 1..N
    bins = np.clip(values * values.dtype.type(uniform + 1), 0, n).astype(np.int16)
    down = values < edges[bins]
    up = values >= edges[bins + 1]
    bins -= down
    bins += up
    return bins


def threshold_counts(truth: np.ndarray, values: np.ndarray, cuts: np.ndarray,
                     keep: np.ndarray | None = None, *,
                     uniform: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """(tp, predicted, n_truth): per cut k, #(truth & value >= cut_k), #(value >= cut_k), and #truth.

    truth: bool mask (any shape); values: the map, same shape; keep: voxels that
    count (None: all); uniform: N when ``cuts`` come from threshold_grid(N) (a
    faster exact binning, see _bins). Chunked: temporaries stay CHUNK_VOXELS long.
    """
    k = len(cuts)
    tp_bins = np.zeros(k + 1, dtype=np.int64)
    all_bins = np.zeros(k + 1, dtype=np.int64)
    n_truth = 0
    order: Literal["F", "C"] = (  # no copy of a NIfTI map
        "F" if values.flags.f_contiguous and not values.flags.c_contiguous else "C")
    flat_t, flat_v = truth.ravel(order=order), values.ravel(order=order)
    flat_k = None if keep is None else keep.ravel(order=order)
    search = cuts if values.dtype.kind == "f" else cuts.astype(np.float64)
    for start in range(0, flat_v.size, CHUNK_VOXELS):
        stop = start + CHUNK_VOXELS
        v, t = flat_v[start:stop], flat_t[start:stop]
        if flat_k is not None:
            mask = flat_k[start:stop]
            v, t = v[mask], t[mask]
        bins = _bins(v if values.dtype.kind == "f" else v.astype(np.float64), search, uniform)
        both = np.bincount(bins.astype(np.uint16) + np.uint16(k + 1) * t, minlength=2 * (k + 1))  # truth: upper half
        all_bins += both[: k + 1] + both[k + 1:]
        tp_bins += both[k + 1:]
        n_truth += int(both[k + 1:].sum())
    # value >= cut_k  <=>  bin >= k + 1: sum the bins above k
    tp = np.cumsum(tp_bins[::-1])[::-1][1:]
    predicted = np.cumsum(all_bins[::-1])[::-1][1:]
    return tp, predicted, n_truth


def curve_dice(tp: np.ndarray, predicted: np.ndarray, n_truth, *, empty_both: str = "nan") -> np.ndarray:
    """Hard Dice at each threshold from threshold_counts (FP = predicted - TP, FN = truth - TP)."""
    tp = np.asarray(tp, dtype=np.int64)
    fp = np.asarray(predicted, dtype=np.int64) - tp
    fn = np.asarray(n_truth, dtype=np.int64) - tp
    return dice(tp, fp, fn, smooth=0.0, empty_both=empty_both)
