"""dicecli.checks.stats against hand-worked examples and scipy (scipy is used only here, never at runtime)."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dicecli.checks import stats

scipy_stats = pytest.importorskip("scipy.stats")


def test_sign_test_by_hand():
    # 5 of 6 non-zero differences positive, two zeros dropped:
    # p = 2 * P(X <= 1), X ~ Bin(6, 1/2) = 2 * (1 + 6) / 64
    d = [0.1, 0.2, 0.05, 0.3, 0.01, -0.2, 0.0, 0.0]
    assert stats.sign_test(d) == pytest.approx(14 / 64, abs=1e-15)
    assert stats.sign_test([0.1, -0.1]) == 1.0  # 2 * P(X <= 1) = 2 * 3/4, capped at 1
    assert stats.sign_test([0.0, 0.0]) is None
    assert stats.sign_test([]) is None


def test_wilcoxon_exact_by_hand():
    # d = 1, 2, 3: all positive, W+ = 6, the largest of the 8 equally likely sign patterns.
    r = stats.wilcoxon_signed_rank([0.1, 0.2, 0.3])
    assert (r.n, r.w_plus, r.method) == (3, 6.0, stats.EXACT)
    assert r.p == pytest.approx(2 / 8)
    # d = -1, 2, 3 (ranks of |d|: 1, 2, 3): W+ = 5; P(W+ >= 5) = 2/8 (patterns {2,3}, {1,2,3})
    r = stats.wilcoxon_signed_rank([-0.1, 0.2, 0.0, 0.3])
    assert (r.n, r.w_plus) == (3, 5.0) and r.p == pytest.approx(2 * 2 / 8)
    assert stats.wilcoxon_signed_rank([0.0, 0.0]).p is None


def test_wilcoxon_normal_with_ties_by_hand():
    # |d| = 1, 1, 2 (tie of size 2): ranks 1.5, 1.5, 3; signs +, -, + -> W+ = 4.5
    # mean = 3*4/4 = 3; var = 3*4*7/24 - (8 - 2)/48 = 3.5 - 0.125; z = 1.5 / sqrt(3.375)
    r = stats.wilcoxon_signed_rank([0.1, -0.1, 0.2])
    assert r.method == stats.NORMAL and r.w_plus == 4.5
    z = 1.5 / math.sqrt(3.375)
    assert r.p == pytest.approx(math.erfc(z / math.sqrt(2)))


def test_exact_distribution_counts():
    for n in (1, 5, 12, 25):
        counts = stats._exact_counts(n)
        assert counts.sum() == 2**n
        assert np.array_equal(counts, counts[::-1])  # symmetric around n(n+1)/4
    assert list(stats._exact_counts(3)) == [1, 1, 1, 2, 1, 1, 1]


def test_average_ranks_match_scipy():
    values = np.array([0.3, 0.1, 0.3, 0.2, 0.1, 0.1, 0.5])
    ranks, ties = stats._average_ranks(values)
    assert np.allclose(ranks, scipy_stats.rankdata(values))
    assert sorted(ties.tolist()) == [1, 1, 2, 3]


def _scipy_wilcoxon_p(d, method):
    return scipy_stats.wilcoxon(d, zero_method="wilcox", correction=False,
                                method="exact" if method == stats.EXACT else "approx").pvalue


@pytest.mark.parametrize("n", [1, 2, 7, 25, 26, 60])
def test_wilcoxon_matches_scipy_without_ties(n):
    rng = np.random.default_rng(n)
    d = rng.normal(0.02, 0.05, n)
    r = stats.wilcoxon_signed_rank(d)
    assert r.method == (stats.EXACT if n <= 25 else stats.NORMAL)
    assert r.p == pytest.approx(_scipy_wilcoxon_p(d, r.method), rel=1e-9)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(min_value=-6, max_value=6), min_size=1, max_size=40))
def test_wilcoxon_and_sign_test_match_scipy(values):
    d = np.asarray(values, dtype=np.float64) / 20  # many zeros and ties
    nonzero = d[d != 0]
    r = stats.wilcoxon_signed_rank(d)
    p = stats.sign_test(d)
    if nonzero.size == 0:
        assert r.p is None and p is None
        return
    has_ties = np.unique(np.abs(nonzero)).size < nonzero.size
    assert r.method == (stats.EXACT if nonzero.size <= 25 and not has_ties else stats.NORMAL)
    assert r.p == pytest.approx(_scipy_wilcoxon_p(d, r.method), rel=1e-9, abs=1e-300)
    expected = scipy_stats.binomtest(int((nonzero > 0).sum()), int(nonzero.size)).pvalue
    assert p == pytest.approx(expected, rel=1e-12)


def test_bootstrap_is_the_documented_procedure():
    d = np.array([0.05, -0.01, 0.02, 0.10, 0.0, 0.03, -0.04, 0.07])
    rng = np.random.default_rng(0)
    means = d[rng.integers(0, d.size, size=(10_000, d.size))].mean(axis=1)
    expected = np.quantile(means, [0.025, 0.975])
    assert stats.bootstrap_ci(d) == (pytest.approx(expected[0], abs=0), pytest.approx(expected[1], abs=0))
    assert stats.bootstrap_ci(d) == stats.bootstrap_ci(d)  # fixed seed: reproducible


def test_bootstrap_close_to_scipy_and_edge_cases():
    d = np.random.default_rng(3).normal(0.01, 0.05, 40)
    low, high = stats.bootstrap_ci(d)
    ref = scipy_stats.bootstrap((d,), np.mean, method="percentile", n_resamples=10_000,
                                random_state=1).confidence_interval
    width = ref.high - ref.low
    assert abs(low - ref.low) < 0.1 * width and abs(high - ref.high) < 0.1 * width
    assert low < d.mean() < high
    assert stats.bootstrap_ci([]) is None
    assert stats.bootstrap_ci([0.25]) == (0.25, 0.25)


def test_bootstrap_blocks_bound_memory(monkeypatch):
    monkeypatch.setattr(stats, "_BOOTSTRAP_BLOCK_VALUES", 1000)  # forces many blocks
    d = np.linspace(-0.1, 0.2, 500)
    low, high = stats.bootstrap_ci(d)
    assert low < d.mean() < high


def test_non_finite_differences_are_rejected():
    with pytest.raises(ValueError):
        stats.sign_test([0.1, float("nan")])
