"""Every input kind through the Python API, against brute-force values (pure-Python loops
over the generated arrays, never dicecli's counting): softmax NIfTI and .npz, multilabel
sigmoid channels, quantised uint8 maps, per-class thresholds, regions, the ignore label,
names from an nnU-Net dataset.json, other metrics, volumes, soft Dice, and bad values."""

import json
import math

import nibabel as nib
import numpy as np
import pytest
import tifffile

from dicecli.run.evaluate import Settings, evaluate

SPACING = (0.8, 0.8, 2.5)


def save_nifti(path, array, spacing=SPACING):
    affine = np.diag(list(spacing[:3]) + [1.0])
    img = nib.Nifti1Image(array, affine)
    img.header.set_zooms(tuple(spacing[:3]) + (1.0,) * (array.ndim - 3))
    nib.save(img, str(path))


def brute(gt, pred_labels, classes, ignore=None):
    """{class key: (tp, fp, fn)}; classes: {key: set of labels}; pred_labels: one list per voxel
    of the labels predicted there (a set, so multilabel channels may overlap)."""
    out = {}
    for key, members in classes.items():
        tp = fp = fn = 0
        for g, p in zip(gt, pred_labels):
            if g == ignore:
                continue
            in_g, in_p = g in members, bool(p & members)
            tp += in_g and in_p
            fp += in_p and not in_g
            fn += in_g and not in_p
        out[key] = (tp, fp, fn)
    return out


def counts_of(run, row=0):
    return {key: (int(run.tp[row, c]), int(run.fp[row, c]), int(run.fn[row, c])) for c, key in enumerate(run.keys)}


def argmax_list(stack_first):
    c = stack_first.shape[0]
    return [{max(range(c), key=lambda i: (v[i], -i))} for v in stack_first.reshape(c, -1).T.tolist()]


def case_arrays(seed, shape=(14, 12, 6), n_classes=4):
    rng = np.random.default_rng(seed)
    gt = np.zeros(shape, np.uint8)
    boxes = {1: (slice(2, 10), slice(3, 9), slice(1, 5)), 2: (slice(5, 9), slice(5, 8), slice(2, 4)),
             3: (slice(10, 13), slice(1, 4), slice(0, 3))}
    for label, box in boxes.items():
        gt[box[:len(shape)]] = label
    logits = rng.normal(0, 1, (n_classes,) + shape)
    for c in range(n_classes):
        logits[c][gt == c] += 2.0
    prob = np.exp(logits) / np.exp(logits).sum(axis=0)
    return gt, prob.astype(np.float32)


def make_dirs(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    return tmp_path / "gt", tmp_path / "pred"


def test_softmax_nifti_channels_last_and_npz_channels_first(tmp_path):
    gt_dir, pred_dir = make_dirs(tmp_path)
    gt, prob = case_arrays(1)
    prob[:, 0, 0, 0] = 0.25  # a four-way tie: channel 0 wins
    save_nifti(gt_dir / "a.nii.gz", gt)
    save_nifti(pred_dir / "a.nii.gz", np.moveaxis(prob, 0, -1))  # (x, y, z, c)
    gt_b, prob_b = case_arrays(2)
    save_nifti(gt_dir / "b.nii.gz", gt_b)
    # nnU-Net layout: (c, z, y, x), the reverse of nibabel's (x, y, z)
    np.savez_compressed(pred_dir / "b.npz", probabilities=prob_b.transpose(0, 3, 2, 1), other=np.zeros(3))
    run = evaluate(gt_dir, pred_dir, jobs=1, metrics="dice,iou,recall", soft=True)
    assert not run.errors and run.keys == ("1", "2", "3")
    assert [c.pred_kind for c in run.cases] == ["softmax", "softmax"]
    for row, (g, p) in enumerate(((gt, prob), (gt_b, prob_b))):
        want = brute(g.ravel().tolist(), argmax_list(p), {"1": {1}, "2": {2}, "3": {3}})
        assert counts_of(run, row) == want
        for col, key in enumerate(run.keys):
            tp, fp, fn = want[key]
            assert run.dice[row, col] == pytest.approx(2 * tp / (2 * tp + fp + fn))
            assert run.metrics["iou"][row, col] == pytest.approx(tp / (tp + fp + fn))
            assert run.metrics["recall"][row, col] == pytest.approx(tp / (tp + fn))
            # soft Dice from the float maps, before any argmax
            label = int(key)
            pv, gv = p[label].ravel().astype(float).tolist(), g.ravel().tolist()
            spg = sum(pi for pi, gi in zip(pv, gv) if gi == label)
            assert run.soft_dice[row, col] == pytest.approx(2 * spg / (sum(pv) + sum(1 for gi in gv if gi == label)))
            # volumes in mm3: voxel counts times 0.8 * 0.8 * 2.5 = 1.6 mm3
            assert run.gt_volume_mm3[row, col] == pytest.approx((tp + fn) * 1.6)
            assert run.pred_volume_mm3[row, col] == pytest.approx((tp + fp) * 1.6)


def test_npy_and_tiff_channels(tmp_path):
    gt_dir, pred_dir = make_dirs(tmp_path)
    gt, prob = case_arrays(3, shape=(20, 16), n_classes=3)
    gt = np.minimum(gt, 2)
    np.save(gt_dir / "n.npy", gt)
    np.save(pred_dir / "n.npy", prob)
    tifffile.imwrite(gt_dir / "t.tif", gt)
    tifffile.imwrite(pred_dir / "t.tif", np.moveaxis(prob, 0, -1), photometric="minisblack")  # (rows, cols, c)
    run = evaluate(gt_dir, pred_dir, jobs=1)
    assert not run.errors
    want = brute(gt.ravel().tolist(), argmax_list(prob), {"1": {1}, "2": {2}})
    for row in range(2):
        assert counts_of(run, row) == want
    assert run.cases[0].channel_axis == 0 and run.cases[1].channel_axis == 2


def test_multilabel_sigmoid_channels_with_per_class_thresholds(tmp_path):
    gt_dir, pred_dir = make_dirs(tmp_path)
    rng = np.random.default_rng(4)
    gt, _ = case_arrays(4)
    sig = rng.random((4,) + gt.shape).astype(np.float32)
    sig[1][gt == 1] = np.maximum(sig[1][gt == 1], 0.45)
    sig[2, :3] = 0.6  # exactly class 2's threshold: foreground
    save_nifti(gt_dir / "m.nii.gz", gt)
    save_nifti(pred_dir / "m.nii.gz", np.moveaxis(sig, 0, -1))
    thresholds = {0: 0.5, 1: 0.4, 2: 0.6, 3: 0.5}
    run = evaluate(gt_dir, pred_dir, jobs=1, multilabel=True, thresholds={1: 0.4, 2: 0.6},
                   regions={"TC": [1, 2]}, labels=(1, 2, 3))
    assert not run.errors and run.cases[0].pred_kind == "multilabel"
    flat = sig.reshape(4, -1).T.tolist()
    pred = [{c for c in range(4) if v[c] >= thresholds[c]} for v in flat]
    want = brute(gt.ravel().tolist(), pred, {"1": {1}, "2": {2}, "3": {3}, "TC": {1, 2}})
    assert counts_of(run) == want


def test_quantised_uint8_maps_auto_warns_prob_scores(tmp_path):
    gt_dir, pred_dir = make_dirs(tmp_path)
    rng = np.random.default_rng(5)
    gt = np.zeros((40, 48), np.uint8)
    gt[8:30, 10:35] = 1
    q = np.clip(gt * 170 + rng.integers(0, 120, gt.shape), 0, 255).astype(np.uint8)
    tifffile.imwrite(gt_dir / "q.tif", gt)
    tifffile.imwrite(pred_dir / "q.tif", q)
    auto = evaluate(gt_dir, pred_dir, jobs=1)
    assert auto.cases[0].pred_kind == "labels" and auto.cases[0].quantised
    warning = next(w for w in auto.warnings if "quantised" in w)
    assert str(pred_dir / "q.tif") in warning and "--pred-kind prob" in warning
    prob = evaluate(gt_dir, pred_dir, jobs=1, pred_kind="prob", thresholds={1: 0.3})
    assert prob.cases[0].pred_kind == "probability" and prob.cases[0].prob_scale == 255
    assert not any("quantised" in w for w in prob.warnings) and prob.keys == ("1",)
    # p = q / 255 >= 0.3 (the double nearest 0.3), decided with exact fractions
    from fractions import Fraction
    pred = [{1} if Fraction(v, 255) >= Fraction(0.3) else set() for v in q.ravel().tolist()]
    assert counts_of(prob) == brute(gt.ravel().tolist(), pred, {"1": {1}})
    scaled = evaluate(gt_dir, pred_dir, jobs=1, prob_scale=300)
    pred = [{1} if Fraction(v, 300) >= Fraction(0.5) else set() for v in q.ravel().tolist()]
    assert counts_of(scaled) == brute(gt.ravel().tolist(), pred, {"1": {1}})


def test_regions_ignore_label_and_names_from_dataset_json(tmp_path):
    gt_dir, pred_dir = make_dirs(tmp_path)
    rng = np.random.default_rng(6)
    gt, prob = case_arrays(6)
    gt[0:2] = 4  # the ignore label (unannotated slab)
    pred = np.where(rng.random(gt.shape) < 0.25, rng.integers(0, 5, gt.shape), gt).astype(np.uint8)
    save_nifti(gt_dir / "r.nii.gz", gt)
    save_nifti(pred_dir / "r.nii.gz", pred)
    dataset = {"labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3],
                          "enhancing tumor": 3, "ignore": 4}}
    from dicecli.io.names import names_from_json
    names = names_from_json(dataset)
    run = evaluate(gt_dir, pred_dir, jobs=1, label_names=names.names, regions=names.regions,
                   ignore_label=names.ignore, metrics="dice,specificity")
    assert run.keys == ("whole tumor", "tumor core", "enhancing tumor")
    want = brute(gt.ravel().tolist(), [{v} for v in pred.ravel().tolist()],
                 {"whole tumor": {1, 2, 3}, "tumor core": {2, 3}, "enhancing tumor": {3}}, ignore=4)
    assert counts_of(run) == want
    n = int(np.sum(gt != 4))
    assert run.cases[0].counts.n_voxels == n
    tp, fp, fn = want["tumor core"]
    assert run.metrics["specificity"][0, 1] == pytest.approx((n - tp - fp - fn) / (n - tp - fn))
    # the same through Settings' dict form, plus plain labels by name
    run2 = evaluate(gt_dir, pred_dir, jobs=1, label_names={"edema": 1, "necrosis": 2}, ignore_label=4,
                    labels=(1, 2), regions={"WT": [1, 2, 3]})
    assert run2.keys == ("edema", "necrosis", "WT")
    want2 = brute(gt.ravel().tolist(), [{v} for v in pred.ravel().tolist()],
                  {"edema": {1}, "necrosis": {2}, "WT": {1, 2, 3}}, ignore=4)
    assert counts_of(run2) == want2
    # label 3 is in the data but only inside a region: not reported as unscored; 4 is ignored
    assert not any("not scored" in w for w in run2.warnings)


def test_ignore_label_semantics_by_hand(tmp_path):
    gt_dir, pred_dir = make_dirs(tmp_path)
    gt = np.array([[0, 1, 1, 255], [255, 2, 0, 1]], np.uint8)
    pred = np.array([[255, 1, 255, 1], [1, 2, 2, 0]], np.uint8)
    tifffile.imwrite(gt_dir / "i.tif", gt)
    tifffile.imwrite(pred_dir / "i.tif", pred)
    run = evaluate(gt_dir, pred_dir, jobs=1, ignore_label=255)
    # gt 255 voxels (0,3) and (1,0) leave. Left: gt 0,1,1,2,0,1 vs pred 255,1,255,2,2,0.
    # class 1: tp 1 (0,1); fp 0; fn 2 ((0,2) predicted 255, (1,3) predicted 0)
    # class 2: tp 1; fp 1 ((1,2)); fn 0.  255 is never a class.
    assert run.keys == ("1", "2")
    assert counts_of(run) == {"1": (1, 0, 2), "2": (1, 1, 0)}


def test_run_level_label_warnings_once(tmp_path):
    gt_dir, pred_dir = make_dirs(tmp_path)
    for name in ("a", "b", "c"):
        tifffile.imwrite(gt_dir / f"{name}.tif", np.array([[0, 1], [2, 2]], np.uint8))
        tifffile.imwrite(pred_dir / f"{name}.tif", np.array([[9, 1], [2, 7]], np.uint8))
    run = evaluate(gt_dir, pred_dir, jobs=1, labels=(1,))
    assert run.warnings == (
        "label value(s) 2, 7, 9 found in the data but not scored (not in --labels or any --region)",
        "label value(s) 7, 9 appear in predictions but in no ground truth",
    )


@pytest.mark.parametrize("bad, needle", [
    (lambda p: p.__setitem__((0, 0, 0, 0), np.nan), "NaN"),
    (lambda p: p.__setitem__((1, 1, 1, 1), 1.5), "1.5"),
    (lambda p: p.__setitem__((1, 1, 1, 1), -0.25), "-0.25"),
])
def test_bad_channel_values_error_and_other_cases_scored(tmp_path, bad, needle):
    gt_dir, pred_dir = make_dirs(tmp_path)
    gt, prob = case_arrays(7)
    save_nifti(gt_dir / "good.nii.gz", gt)
    save_nifti(pred_dir / "good.nii.gz", np.moveaxis(prob, 0, -1))
    save_nifti(gt_dir / "bad.nii.gz", gt)
    broken = np.moveaxis(prob, 0, -1).copy()
    bad(broken)
    save_nifti(pred_dir / "bad.nii.gz", broken)
    run = evaluate(gt_dir, pred_dir, jobs=1)
    assert [c.case for c in run.cases] == ["good"]
    (error,) = run.errors
    assert error.path == str(pred_dir / "bad.nii.gz") and needle in error.message
    assert "\n" not in error.message


def test_shapes_that_cannot_be_reconciled_name_both(tmp_path):
    gt_dir, pred_dir = make_dirs(tmp_path)
    gt, prob = case_arrays(8)
    save_nifti(gt_dir / "s.nii.gz", gt)
    np.savez(pred_dir / "s.npz", probabilities=prob[:, :-1])
    (error,) = evaluate(gt_dir, pred_dir, jobs=1).errors
    assert "(4, 13, 12, 6)" in error.message and "(14, 12, 6)" in error.message
    assert str(gt_dir / "s.nii.gz") in error.message


def test_integer_channels_need_a_scale_for_thresholds(tmp_path):
    gt_dir, pred_dir = make_dirs(tmp_path)
    gt, prob = case_arrays(9)
    q = np.round(prob * 255).astype(np.uint8)
    save_nifti(gt_dir / "q.nii.gz", gt)
    np.save(pred_dir / "q.npy", q)
    run = evaluate(gt_dir, pred_dir, jobs=1)  # argmax needs no scale
    assert not run.errors and run.cases[0].pred_kind == "softmax" and run.cases[0].prob_scale is None
    assert counts_of(run) == brute(gt.ravel().tolist(), argmax_list(q), {"1": {1}, "2": {2}, "3": {3}})
    (error,) = evaluate(gt_dir, pred_dir, jobs=1, multilabel=True).errors
    assert "--prob-scale" in error.message
    ok = evaluate(gt_dir, pred_dir, jobs=1, multilabel=True, prob_scale=255)
    assert not ok.errors and ok.cases[0].prob_scale == 255


def test_settings_refuse_nonsense():
    from dicecli.errors import UsageError
    for options in ({"ignore_label": 2, "labels": (1, 2)}, {"regions": {"WT": [0, 1]}},
                    {"pred_kind": "maybe"}, {"prob_scale": 0}, {"thresholds": {1: 1.5}},
                    {"metrics": "dice,hd96"}, {"metrics": "nsd"}, {"label_names": {"a": 1, "b": 1}},
                    {"label_names": {"WT": 1}, "regions": {"WT": [1, 2]}},
                    {"ignore_label": 3, "regions": {"WT": [1, 3]}}):
        with pytest.raises(UsageError):
            Settings(**options)
    assert Settings(regions={"NCR=NET": [3, 1]}).regions == (("NCR=NET", (1, 3)),)
    s = Settings(thresholds={"liver": 0.3}, label_names={"liver": 6})
    assert s.threshold_for(6) == 0.3 and s.threshold_for(1) == 0.5
    assert json.loads(json.dumps(s.thresholds)) == [[6, 0.3]] and math.isfinite(s.threshold)
