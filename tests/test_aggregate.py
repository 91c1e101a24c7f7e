"""Per-class and overall aggregation rules, checked against hand computation."""

import math

import numpy as np
import pytest

from dicecli.core.aggregate import summarize
from dicecli.core.score import dice


def test_summary_by_hand():
    # two classes (1, 2) over three cases; class 2 is absent from both masks in case 3
    tp = np.array([[3, 1], [1, 2], [4, 0]])
    fp = np.array([[1, 1], [0, 0], [0, 0]])
    fn = np.array([[0, 2], [3, 0], [4, 0]])
    values = dice(tp, fp, fn)
    s = summarize(values, tp, fp, fn, foreground=np.array([True, True]), smooth=0.0, empty_both="nan")
    c1 = [6 / 7, 2 / 5, 8 / 12]
    c2 = [2 / 5, 1.0]
    assert s.classes[0].n == 3 and s.classes[0].n_undefined == 0
    assert math.isclose(s.classes[0].mean, sum(c1) / 3)
    assert math.isclose(s.classes[0].std, float(np.std(c1, ddof=1)))
    assert math.isclose(s.classes[0].median, 2 / 3)
    assert s.classes[0].min == min(c1) and s.classes[0].max == max(c1)
    assert math.isclose(s.classes[0].pooled, 2 * 8 / (2 * 8 + 1 + 7))
    assert s.classes[1].n == 2 and s.classes[1].n_undefined == 1
    assert math.isclose(s.classes[1].mean, sum(c2) / 2)
    assert math.isclose(s.classes[1].pooled, 2 * 3 / (2 * 3 + 1 + 2))
    assert math.isclose(s.mean, (sum(c1) / 3 + 0.7) / 2)
    assert math.isclose(s.pooled, 2 * 11 / (2 * 11 + 2 + 9))


def test_smoothed_pooled_adds_the_smoothing_term_once():
    # the same counts as above, --smooth 1: pooled = (2 sum TP + 1) / (2 sum TP + sum FP + sum FN + 1)
    tp = np.array([[3, 1], [1, 2], [4, 0]])
    fp = np.array([[1, 1], [0, 0], [0, 0]])
    fn = np.array([[0, 2], [3, 0], [4, 0]])
    s = summarize(dice(tp, fp, fn, smooth=1.0), tp, fp, fn, foreground=np.array([True, True]), smooth=1.0,
                  empty_both="nan")
    assert math.isclose(s.classes[0].pooled, (2 * 8 + 1) / (2 * 8 + 1 + 7 + 1))
    assert math.isclose(s.classes[1].pooled, (2 * 3 + 1) / (2 * 3 + 1 + 2 + 1))
    assert s.classes[1].n_undefined == 1  # both empty stays undefined, not 1/1
    assert math.isclose(s.pooled, (2 * 11 + 1) / (2 * 11 + 2 + 9 + 1))


def test_background_stays_out_of_overall_and_undefined_is_none():
    tp = np.array([[5, 0]])
    fp = np.array([[0, 0]])
    fn = np.array([[5, 0]])
    values = dice(tp, fp, fn)
    s = summarize(values, tp, fp, fn, foreground=np.array([False, True]), smooth=0.0, empty_both="nan")
    assert math.isclose(s.classes[0].mean, 10 / 15)
    assert s.classes[1].n == 0 and s.classes[1].mean is None and s.classes[1].pooled is None
    assert s.classes[0].std is None  # one case: no sample std
    assert s.mean is None and s.pooled is None  # the only foreground class is undefined


def test_empty_both_one_counts_in_means():
    tp, fp, fn = np.array([[0], [2]]), np.array([[0], [2]]), np.array([[0], [0]])
    values = dice(tp, fp, fn, empty_both="one")
    s = summarize(values, tp, fp, fn, foreground=np.array([True]), smooth=0.0, empty_both="one")
    assert s.classes[0].n == 2 and math.isclose(s.classes[0].mean, (1 + 4 / 6) / 2)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 10])
def test_median_matches_statistics_median(n):
    import statistics

    from dicecli.core.aggregate import summarize_metric
    values = np.random.default_rng(n).uniform(0, 1, n)
    values_with_nan = np.concatenate([values, [np.nan]])
    assert summarize_metric(values_with_nan, pooled=None).median == statistics.median(values.tolist())
