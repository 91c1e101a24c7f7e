"""Paired statistics for ``dice compare`` (numpy and the standard library only).

Every function takes the paired differences ``d = b - a`` (one value per case,
all finite) and returns plain floats, or None where a statistic is undefined
(no differences, or no non-zero differences for the tests).

- bootstrap_ci: percentile interval of the mean difference; resamples drawn
  with ``numpy.random.default_rng(seed)`` so the interval is reproducible.
- sign_test: exact two-sided binomial test of P(d > 0) = 1/2, zeros dropped.
- wilcoxon_signed_rank: two-sided Wilcoxon signed-rank test, zeros dropped
  (Wilcoxon's original rule); the exact null distribution when at most
  ``EXACT_MAX_N`` non-zero differences remain and no two absolute differences
  tie, otherwise the normal approximation with the tie correction of the
  variance and no continuity correction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Largest number of non-zero differences for which the exact Wilcoxon distribution is used.
EXACT_MAX_N = 25
#: Resamples per block when bootstrapping (bounds memory to about 32 MiB of indices).
_BOOTSTRAP_BLOCK_VALUES = 1 << 22

EXACT, NORMAL = "exact", "normal approximation, tie-corrected"


def _as_differences(d) -> np.ndarray:
    d = np.asarray(d, dtype=np.float64).ravel()
    if not np.all(np.isfinite(d)):
        raise ValueError("differences must be finite")
    return d


def bootstrap_ci(d, *, confidence: float = 0.95, resamples: int = 10_000,
                 seed: int = 0) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of ``d``; None when ``d`` is empty.

    Each resample draws len(d) indices with replacement from
    ``numpy.random.default_rng(seed).integers``; the interval is the
    (1 - confidence)/2 and (1 + confidence)/2 quantiles (numpy's default linear
    interpolation) of the resampled means.
    """
    d = _as_differences(d)
    n = d.size
    if n == 0:
        return None
    if not 0 < confidence < 1 or resamples < 1:
        raise ValueError("confidence must be in (0, 1) and resamples >= 1")
    rng = np.random.default_rng(seed)
    block = max(1, _BOOTSTRAP_BLOCK_VALUES // n)
    means = np.empty(resamples, dtype=np.float64)
    for start in range(0, resamples, block):
        rows = min(block, resamples - start)
        index = rng.integers(0, n, size=(rows, n))
        means[start:start + rows] = d[index].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def sign_test(d) -> float | None:
    """Exact two-sided sign test p-value; zeros dropped; None when no difference is non-zero.

    With m non-zero differences of which k are positive, p = min(1, 2 * P(X <= min(k, m - k)))
    for X ~ Binomial(m, 1/2), computed with exact integer arithmetic.
    """
    d = _as_differences(d)
    positive = int(np.count_nonzero(d > 0))
    m = positive + int(np.count_nonzero(d < 0))
    if m == 0:
        return None
    k = min(positive, m - positive)
    tail = sum(math.comb(m, i) for i in range(k + 1))
    return min(1.0, 2 * tail / 2**m)


@dataclass(frozen=True)
class WilcoxonResult:
    """Signed-rank test outcome: n non-zero differences, W+ (sum of positive ranks), p, method."""

    n: int
    w_plus: float | None
    p: float | None
    method: str | None


def _average_ranks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ranks 1..n of ``values`` (ties get their average rank) and the size of each tie group."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    starts = np.flatnonzero(np.r_[True, sorted_values[1:] != sorted_values[:-1]])
    sizes = np.diff(np.r_[starts, values.size])
    average = starts + (sizes + 1) / 2.0  # 1-based average rank of each group
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(average, sizes)
    return ranks, sizes


def _exact_counts(n: int) -> np.ndarray:
    """counts[t] = number of sign patterns of ranks 1..n whose positive ranks sum to t."""
    counts = np.zeros(n * (n + 1) // 2 + 1, dtype=np.int64)  # at most 2**25 per cell: fits
    counts[0] = 1
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return counts


def _normal_two_sided(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


def wilcoxon_signed_rank(d) -> WilcoxonResult:
    """Two-sided Wilcoxon signed-rank test of the differences ``d`` (zeros dropped).

    Exact when 1 <= n <= EXACT_MAX_N non-zero differences remain and the absolute
    differences have no ties: p = min(1, 2 * min(P(W+ <= w), P(W+ >= w))).
    Otherwise z = (W+ - n(n+1)/4) / sqrt(n(n+1)(2n+1)/24 - sum(t^3 - t)/48),
    t the tie-group sizes, and p = 2 * (1 - Phi(|z|)). p is None when n = 0.
    """
    d = _as_differences(d)
    d = d[d != 0]
    n = int(d.size)
    if n == 0:
        return WilcoxonResult(0, None, None, None)
    ranks, ties = _average_ranks(np.abs(d))
    w_plus = float(ranks[d > 0].sum())
    if n <= EXACT_MAX_N and np.all(ties == 1):
        counts = _exact_counts(n)
        w = int(round(w_plus))
        total = 2.0**n
        lower = counts[: w + 1].sum() / total
        upper = counts[w:].sum() / total
        return WilcoxonResult(n, w_plus, float(min(1.0, 2 * min(lower, upper))), EXACT)
    mean = n * (n + 1) / 4.0
    variance = n * (n + 1) * (2 * n + 1) / 24.0 - float(np.sum(ties.astype(np.float64) ** 3 - ties)) / 48.0
    if variance <= 0:  # impossible for n >= 1; a guard against division by zero
        return WilcoxonResult(n, w_plus, 1.0, NORMAL)
    z = (w_plus - mean) / math.sqrt(variance)
    return WilcoxonResult(n, w_plus, float(min(1.0, _normal_two_sided(z))), NORMAL)
