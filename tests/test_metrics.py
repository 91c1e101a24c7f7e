"""Metrics from counts, by hand; names, regions and threshold parsing."""

import math

import numpy as np
import pytest

from dicecli.core.classes import build_classes, region_counts_from_joint, region_counts_from_labels
from dicecli.core.metrics import METRICS, metric, parse_metrics, soft_dice, volumes_mm3
from dicecli.io.names import (load_label_names, names_from_json, parse_label_names, parse_region, parse_regions,
                           parse_thresholds, resolve_label)
from dicecli.core.score import count_labels


def test_metrics_by_hand():
    # tp 6, fp 2, fn 4 in 100 voxels: tn 88
    tp, fp, fn, n = 6, 2, 4, 100
    assert metric("dice", tp, fp, fn, n) == pytest.approx(12 / 18)
    assert metric("iou", tp, fp, fn, n) == pytest.approx(6 / 12)
    assert metric("precision", tp, fp, fn, n) == pytest.approx(6 / 8)
    assert metric("recall", tp, fp, fn, n) == pytest.approx(6 / 10)
    assert metric("specificity", tp, fp, fn, n) == pytest.approx(88 / 90)
    assert metric("volume_similarity", tp, fp, fn, n) == pytest.approx(1 - 2 / 18)


def test_undefined_and_empty_rules():
    # prediction empty, gt not: precision is 0/0 -> undefined; recall 0; iou 0
    assert math.isnan(metric("precision", 0, 0, 5, 10))
    assert metric("recall", 0, 0, 5, 10) == 0 and metric("iou", 0, 0, 5, 10) == 0
    # gt empty, prediction not: recall undefined, precision 0
    assert math.isnan(metric("recall", 0, 3, 0, 10)) and metric("precision", 0, 3, 0, 10) == 0
    # both empty: every 0/0 follows empty_both; specificity is defined (tn / tn = 1)
    for name in ("iou", "precision", "recall", "volume_similarity"):
        assert math.isnan(metric(name, 0, 0, 0, 10))
        assert metric(name, 0, 0, 0, 10, empty_both="one") == 1.0
        assert metric(name, 0, 0, 0, 10, empty_both="zero") == 0.0
    assert metric("specificity", 0, 0, 0, 10, empty_both="zero") == 1.0
    # the class covers every voxel of the gt and prediction: specificity 0/0, undefined
    assert math.isnan(metric("specificity", 10, 0, 0, 10))


def test_metrics_vectorised_and_parsed():
    tp, fp, fn = np.array([[1, 0]]), np.array([[1, 0]]), np.array([[0, 0]])
    out = metric("iou", tp, fp, fn, np.array([[4]]))
    assert out.shape == (1, 2) and out[0, 0] == 0.5 and math.isnan(out[0, 1])
    assert parse_metrics("iou, dice,recall") == ("dice", "iou", "recall")
    assert parse_metrics("specificity") == ("dice", "specificity")
    assert set(parse_metrics(",".join(METRICS))) == set(METRICS)
    with pytest.raises(ValueError, match="hausdorff"):
        parse_metrics("dice,hausdorff")


def test_soft_dice_and_volumes():
    assert soft_dice(1.5, 2.0, 2.0) == pytest.approx(3 / 4)
    assert math.isnan(soft_dice(0.0, 0.0, 0.0)) and soft_dice(0.0, 0.0, 0.0, empty_both="one") == 1.0
    np.testing.assert_allclose(volumes_mm3([2, 3], 0.8 * 0.8 * 2.5), [3.2, 4.8])
    assert np.isnan(volumes_mm3([2], None)).all()


def test_label_names_text_and_json(tmp_path):
    assert parse_label_names("liver=1, spleen=2").names == (("liver", 1), ("spleen", 2))
    with pytest.raises(ValueError, match="two names"):
        parse_label_names("a=1,b=1")
    with pytest.raises(ValueError, match="number"):
        parse_label_names("3=1")
    plain = names_from_json({"liver": 1, "spleen": 2})
    assert plain.names == (("liver", 1), ("spleen", 2)) and plain.regions == ()
    v1 = names_from_json({"labels": {"0": "background", "1": "liver"}})
    assert v1.names == (("background", 0), ("liver", 1))
    brats = {"channel_names": {"0": "T1"}, "labels": {"background": 0, "whole tumor": [1, 2, 3],
                                                     "tumor core": [2, 3], "enhancing tumor": 3, "ignore": 4}}
    path = tmp_path / "dataset.json"
    import json
    path.write_text(json.dumps(brats))
    got = load_label_names(str(path))
    # a region-based file: every foreground entry is a region, as nnU-Net scores it
    assert got.names == (("background", 0),)
    assert got.regions == (("whole tumor", (1, 2, 3)), ("tumor core", (2, 3)), ("enhancing tumor", (3,)))
    assert got.ignore == 4
    path.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_label_names(str(path))


def test_regions_and_thresholds_parsing():
    assert parse_region("WT=3,1,2,2") == ("WT", (1, 2, 3))
    with pytest.raises(ValueError, match="label 0"):
        parse_region("bad=0,1")
    with pytest.raises(ValueError, match="twice"):
        parse_regions(["a=1", "a=2"])
    with pytest.raises(ValueError):
        parse_region("WT")
    assert parse_thresholds("0.5") == (0.5, ())
    assert parse_thresholds("1=0.4,2=0.6") == (None, (("1", 0.4), ("2", 0.6)))
    assert parse_thresholds("0.3,liver=0.7") == (0.3, (("liver", 0.7),))
    for bad in ("1.5", "1=2", "0.2,0.3", "=0.4", "1=0.2,1=0.3", "x"):
        with pytest.raises(ValueError):
            parse_thresholds(bad)
    assert resolve_label("liver", (("liver", 6),), "t") == 6 and resolve_label("2", (), "t") == 2
    with pytest.raises(ValueError, match="neither"):
        resolve_label("kidney", (("liver", 6),), "t")


def test_region_counts_joint_and_pass_agree_with_brute_force():
    rng = np.random.default_rng(7)
    gt = rng.integers(0, 5, size=(9, 11, 6)).astype(np.uint8)
    pred = np.where(rng.random(gt.shape) < 0.3, rng.integers(0, 5, size=gt.shape), gt).astype(np.uint8)
    regions = [(1, 2, 3), (2, 3), (4,)]
    for ignore in (None, 4, 0):
        expected = []
        for members in regions:
            tp = fp = fn = 0
            for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist()):
                if g == ignore:
                    continue
                gi, pi = g in members, p in members
                tp += gi and pi
                fp += pi and not gi
                fn += gi and not pi
            expected.append([tp, fp, fn])
        counts = count_labels(gt, pred, ignore=ignore)
        from_joint = [list(region_counts_from_joint(counts.joint, m)) for m in regions]
        assert from_joint == expected
        if ignore != 4:  # the ignore label may not be in a region, but the pass must still be exact
            assert region_counts_from_labels(gt, pred, regions, ignore=ignore).tolist() == expected


def test_build_classes_names_and_regions():
    classes = build_classes((0, 1, 2), (("WT", (1, 2)),), (("liver", 1),))
    assert [c.key for c in classes] == ["0", "liver", "2", "WT"]
    assert [c.foreground for c in classes] == [False, True, True, True]
    assert classes[3].region and classes[3].label is None and classes[1].label == 1
    with pytest.raises(ValueError, match="liver"):
        build_classes((1,), (("liver", (2,)),), (("liver", 1),))
