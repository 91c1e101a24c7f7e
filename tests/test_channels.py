"""Multi-channel predictions and --pred-kind: finding the channel axis, argmax, multilabel
thresholds, soft-Dice sums and quantised maps; references are loops over the voxels."""

import numpy as np
import pytest

from dicecli.core.alignment import align
from dicecli.core.channels import argmax_labels, multilabel_counts, soft_sums
from dicecli.errors import GeometryError, ValueKindError
from dicecli.core.interpret import (LABELS, PROBABILITY, exact_threshold, looks_quantised, prediction_labels,
                               threshold_map)
from dicecli.core.score import count_labels


def axis_of(pred_shape, gt_shape, **kw):
    return align(pred_shape, gt_shape, **kw).channel_axis


def test_channel_axis_found_hinted_and_overridden():
    assert axis_of((4, 5, 6, 3), (4, 5, 6)) == 3
    assert axis_of((3, 4, 5, 6), (4, 5, 6)) == 0
    assert axis_of((4, 5, 6), (4, 5, 6)) is None
    assert axis_of((4, 5, 6), (4, 5, 6), override=3) is None  # runs may mix single and channel maps
    # (3, 3, 3, 3) vs (3, 3, 3): every axis fits; the reader's hint decides, else an error
    assert axis_of((3, 3, 3, 3), (3, 3, 3), hint=3) == 3
    with pytest.raises(ValueKindError, match="--channel-axis"):
        axis_of((3, 3, 3, 3), (3, 3, 3))
    assert axis_of((3, 3, 3, 3), (3, 3, 3), hint=0, override=-1) == 3
    with pytest.raises(GeometryError, match=r"\(4, 5, 7, 3\).*\(4, 5, 6\)"):
        axis_of((4, 5, 7, 3), (4, 5, 6), hint=3)
    with pytest.raises(GeometryError, match="does not match"):
        axis_of((8, 8, 2, 3), (8, 8))
    with pytest.raises(GeometryError, match="reverse order"):
        axis_of((3, 6, 5, 4), (4, 5, 6), hint=0)
    with pytest.raises(GeometryError, match="without channel axis 0"):
        axis_of((4, 3, 5, 6), (4, 5, 6), override=0)


def brute_argmax(stack):
    """Index of the first largest channel, voxel by voxel, in pure Python."""
    c = stack.shape[0]
    flat = stack.reshape(c, -1).T.tolist()
    return np.array([max(range(c), key=lambda i: (v[i], -i)) for v in flat]).reshape(stack.shape[1:])


def test_argmax_ties_go_to_the_lowest_channel():
    stack = np.array([[0.2, 0.5, 0.4], [0.5, 0.5, 0.3], [0.3, 0.0, 0.4]], np.float32)  # (3 channels, 3 voxels)
    assert argmax_labels(stack).tolist() == [1, 0, 0]
    rng = np.random.default_rng(0)
    big = rng.integers(0, 4, size=(5, 30, 7, 9)).astype(np.float32) / 4  # many ties
    np.testing.assert_array_equal(argmax_labels(big), brute_argmax(big))
    last = np.moveaxis(big, 0, -1).copy()
    np.testing.assert_array_equal(argmax_labels(np.moveaxis(last, 3, 0)), brute_argmax(big))


def brute_multilabel(gt, stack, thresholds, scale=1.0, ignore=None):
    out = {}
    g = gt.ravel().tolist()
    for c in range(stack.shape[0]):
        p = stack[c].ravel().tolist()
        tp = fp = fn = 0
        for gv, pv in zip(g, p):
            if gv == ignore:
                continue
            fg = pv / scale >= thresholds[c]
            tp += fg and gv == c
            fp += fg and gv != c
            fn += (not fg) and gv == c
        out[c] = (tp, fp, fn)
    return out


@pytest.mark.parametrize("ignore", [None, 3])
def test_multilabel_counts_overlap_and_per_channel_thresholds(ignore):
    rng = np.random.default_rng(1)
    gt = rng.integers(0, 4, size=(12, 10, 5)).astype(np.uint8)
    stack = rng.random((3, 12, 10, 5)).astype(np.float32)
    stack[1, :2] = 0.4  # exactly the threshold of channel 1: foreground
    thresholds = [0.5, 0.4, 0.7]
    counts, regions, sums = multilabel_counts(gt, stack, thresholds=thresholds, ignore=ignore,
                                              regions=[(1, 2)], soft=True)
    want = brute_multilabel(gt, stack, thresholds, ignore=ignore)
    got = {int(l): (int(t), int(p), int(n)) for l, t, p, n in zip(counts.labels, counts.tp, counts.fp, counts.fn)}
    for c in range(3):
        assert got[c] == want[c]
    # gt label 3 has no channel: every voxel of it is a miss
    if ignore is None:
        assert got[3] == (0, 0, int(np.sum(gt == 3)))
    # region {1, 2}: predicted where channel 1 or channel 2 is on
    g, keep = gt.ravel(), (gt.ravel() != ignore)
    p1 = (stack[1].ravel() >= np.float32(0.4)) | (stack[2].ravel() >= exact_threshold(0.7, np.float32))
    in_g = np.isin(g, [1, 2])
    assert regions[0].tolist() == [int(np.sum(in_g & p1 & keep)), int(np.sum(~in_g & p1 & keep)),
                                   int(np.sum(in_g & ~p1 & keep))]
    # soft sums: Σ p·[gt == c] and Σ p over the kept voxels
    for c in range(3):
        p = stack[c].ravel().astype(np.float64)
        assert sums[c, 0] == pytest.approx(float(np.sum(p[(g == c) & keep])))
        assert sums[c, 1] == pytest.approx(float(np.sum(p[keep])))
    np.testing.assert_allclose(soft_sums(gt, stack, range(3), ignore=ignore), sums)


def test_quantised_single_map_with_scale_and_exact_threshold():
    v = np.array([0, 127, 128, 255, 76, 77], np.uint8)
    labels, kind, scale = prediction_labels(v, threshold=0.5, pred_kind="prob")
    # p = v / 255 >= 0.5  <=>  v >= 127.5
    assert kind == PROBABILITY and scale == 255 and labels.tolist() == [0, 0, 1, 1, 0, 0]
    # 0.3 * 255 = 76.5 (the float 0.3 is a hair below 0.3): 77 is the first value at or above
    assert threshold_map(v, 0.3, 255).tolist() == [0, 1, 1, 1, 0, 1]
    labels, kind, scale = prediction_labels(v[v <= 200], threshold=0.5, pred_kind="auto", prob_scale=200)
    assert scale == 200 and kind == PROBABILITY and labels.tolist() == [0, 1, 1, 0, 0]
    labels, kind, _ = prediction_labels(v, threshold=0.5, pred_kind="auto")
    assert kind == LABELS and labels is v
    # a 0/255 mask read as a probability map is the foreground, label 1
    mask = np.array([0, 255, 255, 0], np.uint8)
    assert prediction_labels(mask, threshold=0.5, pred_kind="prob")[0].tolist() == [0, 1, 1, 0]
    # uint16 with a percent scale
    pct = np.array([0, 49, 50, 100], np.uint16)
    assert prediction_labels(pct, threshold=0.5, pred_kind="prob", prob_scale=100)[0].tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("t, scale, dtype, cut", [
    (0.2, 255, np.uint8, 51),     # p = 51/255 is exactly 0.2: foreground (the double 0.2 is a hair above 0.2)
    (0.4, 255, np.uint8, 102),
    (0.1, 100, np.uint8, 10),     # percent maps: 10 % is p = 0.1
    (0.9, 10, np.uint16, 9),
    (0.3, 255, np.uint8, 77),     # 76.5: the first value at or above
    (0.07, 100, np.float64, 7.0),  # the double product 0.07 * 100 is 7.000000000000001
])
def test_threshold_times_scale_is_the_decimal_product(t, scale, dtype, cut):
    assert exact_threshold(t, dtype, scale) == cut
    v = np.array([cut - 1, cut, cut + 1], dtype)
    assert threshold_map(v, t, scale).tolist() == [0, 1, 1]


@pytest.mark.parametrize("array, kind, scale, needle", [
    (np.array([0, 300], np.uint16), "prob", 255, "300"),
    (np.array([0.2, np.nan], np.float32), "prob", None, "NaN"),
    (np.array([0.2, 1.5], np.float32), "prob", None, "1.5"),
    (np.array([-1, 2], np.int16), "prob", 10, "-1"),
    (np.array([0.5, 1.0], np.float32), "labels", None, "non-whole"),
    (np.array([0.0, np.inf], np.float32), "labels", None, "infinite"),
])
def test_bad_values_under_each_kind(array, kind, scale, needle):
    with pytest.raises(ValueKindError, match=needle):
        prediction_labels(array, threshold=0.5, pred_kind=kind, prob_scale=scale)


def test_looks_quantised_from_counts_only():
    rng = np.random.default_rng(2)
    gt = (rng.random((40, 40)) < 0.3).astype(np.uint8)
    prob = np.clip(gt * 200 + rng.integers(0, 55, gt.shape), 0, 255).astype(np.uint8)
    c = count_labels(gt, prob)
    assert looks_quantised(c.labels, c.tp + c.fn, c.tp + c.fp)
    labels = rng.integers(0, 6, gt.shape).astype(np.uint8)
    c = count_labels(labels, labels)
    assert not looks_quantised(c.labels, c.tp + c.fn, c.tp + c.fp)
