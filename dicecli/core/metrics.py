"""Overlap metrics and volumes derived from confusion counts (numpy only, no paths).

Every value comes from TP, FP, FN and the number of voxels compared, so no
second pass over the voxels is needed. Rules (documented in docs/conventions.md and the man page):

- dice = 2TP / (2TP + FP + FN) (``--smooth`` applies to Dice only, see score.dice)
- iou (Jaccard) = TP / (TP + FP + FN)
- precision = TP / (TP + FP); recall (sensitivity) = TP / (TP + FN)
- specificity = TN / (TN + FP), with TN = n_voxels - TP - FP - FN
- volume_similarity = 1 - |FN - FP| / (2TP + FP + FN)
- a ratio whose denominator is 0 is undefined (NaN, null in reports), except
  when both masks are empty, where the ``empty_both`` rule gives its value
  ("nan", "one" or "zero"), as for Dice.
- soft Dice = 2·Σp·g / (Σp + Σg), from sums the worker collects on the
  probability map before thresholding; Σp + Σg = 0 follows ``empty_both``.
"""

from __future__ import annotations

import numpy as np

from .score import EMPTY_BOTH_VALUES, dice

#: Metrics from the counts, in report order. Dice is always reported.
COUNT_METRICS = ("dice", "iou", "precision", "recall", "specificity", "volume_similarity")
#: Boundary metrics (dicecli.core.boundary): computed in the per-case pass, not from the counts.
BOUNDARY_METRICS = ("hd", "hd95", "assd", "masd", "nsd")
#: Metrics ``--metrics`` accepts, in report order.
METRICS = COUNT_METRICS + BOUNDARY_METRICS


def parse_metrics(text: str) -> tuple[str, ...]:
    """``"dice,iou"`` -> ("dice", "iou"); Dice is always first. ValueError on unknown names."""
    names = [part.strip().lower() for part in str(text).split(",") if part.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r} (choose from {', '.join(METRICS)})")
    return tuple(m for m in METRICS if m in names or m == "dice")


def _ratio(numerator, denominator, both_empty, empty_both: str, *, complement: bool = False) -> np.ndarray:
    """numerator / denominator (or 1 minus it), NaN for 0/0 unless both masks are empty."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    values = numerator / np.where(denominator > 0, denominator, 1)
    if complement:
        values = 1.0 - values
    values = np.where(denominator > 0, values, np.nan)
    return np.where(both_empty & (denominator == 0), EMPTY_BOTH_VALUES[empty_both], values)


def metric(name: str, tp, fp, fn, n_voxels, *, smooth: float = 0.0, empty_both: str = "nan") -> np.ndarray:
    """One metric, element-wise over arrays of counts (float64, NaN = undefined)."""
    if empty_both not in EMPTY_BOTH_VALUES:
        raise ValueError(f"empty_both must be one of {sorted(EMPTY_BOTH_VALUES)}")
    tp, fp, fn = (np.asarray(a, dtype=np.int64) for a in (tp, fp, fn))
    both_empty = (tp + fp + fn) == 0
    if name == "dice":
        return dice(tp, fp, fn, smooth=smooth, empty_both=empty_both)
    if name == "iou":
        return _ratio(tp, tp + fp + fn, both_empty, empty_both)
    if name == "precision":
        return _ratio(tp, tp + fp, both_empty, empty_both)
    if name == "recall":
        return _ratio(tp, tp + fn, both_empty, empty_both)
    if name == "specificity":
        tn = np.asarray(n_voxels, dtype=np.int64) - tp - fp - fn
        return _ratio(tn, tn + fp, both_empty, empty_both)
    if name == "volume_similarity":
        return _ratio(np.abs(fn - fp), 2 * tp + fp + fn, both_empty, empty_both, complement=True)
    raise ValueError(f"unknown metric {name!r}")


def soft_dice(sum_pg, sum_p, sum_g, *, empty_both: str = "nan") -> np.ndarray:
    """2·Σp·g / (Σp + Σg) element-wise; NaN where the sums are missing (NaN) or 0 under "nan"."""
    sum_pg, sum_p, sum_g = (np.asarray(a, dtype=np.float64) for a in (sum_pg, sum_p, sum_g))
    den = sum_p + sum_g
    with np.errstate(invalid="ignore", divide="ignore"):
        values = 2 * sum_pg / np.where(den > 0, den, 1)
    values = np.where(den > 0, values, EMPTY_BOTH_VALUES[empty_both])
    return np.where(np.isnan(den), np.nan, values)


def volumes_mm3(sizes, voxel_volume_mm3: float | None) -> np.ndarray:
    """Voxel counts times the voxel volume; NaN when the spacing is unknown."""
    sizes = np.asarray(sizes, dtype=np.float64)
    if voxel_volume_mm3 is None:
        return np.full(sizes.shape, np.nan)
    return sizes * float(voxel_volume_mm3)
