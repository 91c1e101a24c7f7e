"""Differential tests: dice agrees with scikit-learn's F1 and MedPy's dc on random masks."""

import zlib

import numpy as np
import pytest

from dicecli.run.evaluate import evaluate
from dicecli.core.score import count_labels, dice

sklearn_metrics = pytest.importorskip("sklearn.metrics")

SHAPES = [(1,), (7,), (5, 3), (16, 16), (9, 8, 7), (33, 17, 5)]
DTYPES = [np.uint8, np.uint16, np.int16, np.int32, np.int64, np.bool_]
RULES = {"nan": np.nan, "one": 1.0, "zero": 0.0}


def random_pair(rng, shape, dtype, n_labels):
    top = 1 if dtype == np.bool_ else n_labels
    gt = rng.integers(0, top + 1, size=shape)
    # sparse-ish predictions with some classes missing, so every empty rule is exercised
    pred = np.where(rng.random(shape) < 0.6, gt, rng.integers(0, top + 1, size=shape))
    pred[pred == top] = 0 if rng.random() < 0.5 else top
    return gt.astype(dtype), pred.astype(dtype)


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("dtype", DTYPES)
def test_agrees_with_sklearn_f1(dtype, rule):
    rng = np.random.default_rng(zlib.crc32(f"{np.dtype(dtype)}-{rule}".encode()))
    for shape in SHAPES:
        for n_labels in (1, 3, 6):
            gt, pred = random_pair(rng, shape, dtype, n_labels)
            c = count_labels(gt, pred)
            ours = dict(zip(c.labels.tolist(), dice(c.tp, c.fp, c.fn, empty_both=rule).tolist()))
            for label in range(0, n_labels + 2):  # includes labels absent from both
                g = gt.ravel().astype(np.int64) == label
                p = pred.ravel().astype(np.int64) == label
                reference = sklearn_metrics.f1_score(g, p, zero_division=RULES[rule])
                value = ours.get(label, RULES[rule])  # absent label: both empty
                if np.isnan(reference):
                    assert np.isnan(value)
                else:
                    assert value == pytest.approx(reference, abs=1e-12)


def test_agrees_with_medpy_dc():
    binary = pytest.importorskip("medpy.metric.binary")
    rng = np.random.default_rng(7)
    for shape in SHAPES[2:]:
        gt, pred = random_pair(rng, shape, np.uint8, 4)
        c = count_labels(gt, pred)
        ours = dict(zip(c.labels.tolist(), dice(c.tp, c.fp, c.fn).tolist()))
        for label in ours:
            if (gt == label).any() or (pred == label).any():
                assert ours[label] == pytest.approx(binary.dc(pred == label, gt == label), abs=1e-12)


def test_evaluate_api_on_files_of_several_dtypes(tmp_path):
    """Through the readers: float-stored NIfTI labels, int16 NIfTI and uint16 PNG vs brute force."""
    import nibabel as nib
    from PIL import Image

    rng = np.random.default_rng(3)
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    cases = {}
    for name, dtype in (("f32", np.float32), ("i16", np.int16), ("u8", np.uint8)):
        gt, pred = random_pair(rng, (12, 10, 6), np.uint8, 3)
        nib.save(nib.Nifti1Image(gt.astype(np.uint8), np.eye(4)), str(tmp_path / "gt" / f"{name}.nii.gz"))
        nib.save(nib.Nifti1Image(pred.astype(dtype), np.eye(4)), str(tmp_path / "pred" / f"{name}.nii"))
        cases[name] = (gt, pred)
    gt, pred = random_pair(rng, (20, 30), np.uint16, 3)
    gt, pred = gt * 1000, pred * 1000  # values above 255 need 16 bits
    Image.fromarray(gt.astype(np.uint16)).save(tmp_path / "gt" / "png16.png")
    Image.fromarray(pred.astype(np.uint16)).save(tmp_path / "pred" / "png16.png")
    cases["png16"] = (gt, pred)
    run = evaluate(tmp_path / "gt", tmp_path / "pred", jobs=1)
    assert not run.errors
    for row, case in enumerate(run.cases):
        g, p = cases[case.case]
        for col, label in enumerate(run.labels):
            gl, pl = g == label, p == label
            tp, fp, fn = int(np.sum(gl & pl)), int(np.sum(~gl & pl)), int(np.sum(gl & ~pl))
            assert (run.tp[row, col], run.fp[row, col], run.fn[row, col]) == (tp, fp, fn)
