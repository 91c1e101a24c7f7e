"""Property tests (hypothesis): laws every Dice computation must obey."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dicecli.core.aggregate import summarize
from dicecli.core.interpret import to_labels
from dicecli.core.score import count_labels, dice

SETTINGS = settings(max_examples=60, deadline=None)
shapes = st.tuples(st.integers(1, 9), st.integers(1, 9), st.integers(1, 4))


@st.composite
def label_pairs(draw, max_label=4):
    shape = draw(shapes)
    elements = st.integers(0, max_label)
    gt = draw(arrays(np.uint8, shape, elements=elements))
    pred = draw(arrays(np.uint8, shape, elements=elements))
    return gt, pred


def per_label(gt, pred, **kw):
    c = count_labels(gt, pred)
    return dict(zip(c.labels.tolist(), dice(c.tp, c.fp, c.fn, **kw).tolist()))


@SETTINGS
@given(label_pairs())
def test_dice_in_unit_interval_and_symmetric(pair):
    gt, pred = pair
    forward, backward = per_label(gt, pred), per_label(pred, gt)
    assert forward.keys() == backward.keys()
    for label, value in forward.items():
        assert 0.0 <= value <= 1.0
        assert value == backward[label]


@SETTINGS
@given(label_pairs())
def test_identical_masks_score_one(pair):
    gt, _ = pair
    assert all(v == 1.0 for v in per_label(gt, gt.copy()).values())


@SETTINGS
@given(label_pairs(), st.permutations(range(5)))
def test_consistent_relabelling_changes_nothing(pair, perm):
    gt, pred = pair
    lut = np.array(perm, dtype=np.uint8)
    before = per_label(gt, pred)
    after = per_label(lut[gt], lut[pred])
    assert {int(lut[k]): v for k, v in before.items()} == after


@SETTINGS
@given(label_pairs(), st.floats(0, 10))
def test_smoothing_zero_is_exact_and_smoothing_matches_formula(pair, s):
    gt, pred = pair
    c = count_labels(gt, pred)
    exact = 2 * c.tp / np.maximum(2 * c.tp + c.fp + c.fn, 1)
    defined = (2 * c.tp + c.fp + c.fn) > 0
    np.testing.assert_array_equal(dice(c.tp, c.fp, c.fn, smooth=0.0)[defined], exact[defined])
    smoothed = (2 * c.tp + s) / (2 * c.tp + c.fp + c.fn + s)
    np.testing.assert_allclose(dice(c.tp, c.fp, c.fn, smooth=s)[defined], smoothed[defined])


@SETTINGS
@given(st.lists(label_pairs(max_label=2), min_size=1, max_size=5), st.randoms())
def test_case_order_and_pooling(pairs, rnd):
    labels = np.array([1, 2])

    def table(ps):
        rows = [count_labels(g, p).select(labels) for g, p in ps]
        tp, fp, fn = (np.array([r[i] for r in rows]) for i in range(3))
        return tp, fp, fn, dice(tp, fp, fn)

    tp, fp, fn, values = table(pairs)
    s = summarize(values, tp, fp, fn, foreground=np.array([True, True]), smooth=0.0, empty_both="nan")
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    tp2, fp2, fn2, values2 = table(shuffled)
    s2 = summarize(values2, tp2, fp2, fn2, foreground=np.array([True, True]), smooth=0.0, empty_both="nan")
    for a, b in zip(s.classes, s2.classes):
        assert (a.n, a.n_undefined, a.pooled) == (b.n, b.n_undefined, b.pooled)
        assert (a.mean is None) == (b.mean is None)
        if a.mean is not None:
            assert abs(a.mean - b.mean) < 1e-12
    for c in range(2):
        total = (tp[:, c].sum(), fp[:, c].sum(), fn[:, c].sum())
        expected = float(dice(*total))
        assert (s.classes[c].pooled is None) if np.isnan(expected) else s.classes[c].pooled == expected


@SETTINGS
@given(arrays(np.float32, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.floats(0, 1, width=32)),
       st.floats(0, 1), st.floats(0, 1))
def test_higher_threshold_never_adds_foreground(prob, t1, t2):
    low, high = sorted((t1, t2))
    fg_low = to_labels(prob, threshold=low, allow_probability=True)[0]
    fg_high = to_labels(prob, threshold=high, allow_probability=True)[0]
    assert np.all(fg_high <= fg_low)
