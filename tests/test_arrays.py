"""score_arrays, the API for arrays: its doctests, hand-computed cases, and the fixtures' expected
values (computed without dicecli, fixtures/expected/*.json) from arrays read with Pillow,
tifffile and nibabel rather than dice's readers."""

import doctest
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

import dicecli
import dicecli.arrays
from dicecli import score_arrays
from dicecli.errors import GeometryError, UsageError, ValueKindError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_doctests_run():
    failed, attempted = doctest.testmod(dicecli.arrays, raise_on_error=False)
    assert attempted >= 5 and failed == 0


def test_hand_computed_scores_and_empty_rules():
    gt = np.array([[1, 1, 0, 0], [2, 2, 0, 3]])
    pred = np.array([[1, 0, 0, 0], [2, 2, 2, 0]])
    s = score_arrays(gt, pred, labels=[1, 2, 3, 4], metrics="iou")
    assert (s[1].tp, s[1].fp, s[1].fn, s[1].dice) == (1, 0, 1, pytest.approx(2 / 3))
    assert (s[2].tp, s[2].fp, s[2].fn, s[2].dice) == (2, 1, 0, pytest.approx(0.8))
    assert (s[3].status, s[3].dice) == ("pred_empty", 0.0)
    assert (s[4].status, s[4].dice) == ("both_empty", None)
    assert s[2].metrics["iou"] == pytest.approx(2 / 3)
    assert score_arrays(gt, pred, labels=[4], empty_both="one")[4].dice == 1.0
    assert score_arrays(gt, pred, labels=[1], smooth=1)[1].dice == pytest.approx((2 + 1) / (3 + 1))


def test_probabilities_channels_regions_spacing_and_names():
    gt = np.array([[0, 1, 1], [2, 2, 0]], np.uint8)
    prob = np.array([[0.1, 0.5, 0.49], [0.7, 0.2, 0.9]], np.float32)
    s = score_arrays(gt, prob, threshold=0.5)  # p >= 0.5 -> {(0,1), (1,0), (1,2)}; class 1 only
    assert (s[1].tp, s[1].fp, s[1].fn) == (1, 2, 1)
    softmax = np.stack([(gt == c) * 0.8 + 0.05 for c in range(3)]).astype(np.float32)  # (c, H, W)
    assert {k: v.dice for k, v in score_arrays(gt, softmax).items()} == {1: 1.0, 2: 1.0}
    regions = score_arrays(gt, gt, regions={"fg": [1, 2]}, label_names={"a": 1})
    assert list(regions) == ["fg"] and regions["fg"].dice == 1.0
    vol = score_arrays(gt, gt, spacing=(0.5, 2.0))
    assert vol[1].gt_volume_mm3 == 2.0 and vol[2].pred_volume_mm3 == 2.0


def test_bad_arrays_and_options_raise_typed_errors():
    with pytest.raises(GeometryError):
        score_arrays(np.zeros((3, 4)), np.zeros((4, 3)))
    with pytest.raises(ValueKindError, match="negative"):
        score_arrays(np.zeros((3, 3), int), -np.ones((3, 3), int))
    with pytest.raises(UsageError):
        score_arrays(np.zeros((3, 3)), np.zeros((3, 3)), empty_both="maybe")
    with pytest.raises(UsageError, match="spacing"):
        score_arrays(np.zeros((3, 3)), np.zeros((3, 3)), spacing=(1.0,))


@pytest.mark.parametrize("options, message", [
    ({"labels": 1}, "labels must be a sequence"),  # a lone int: was "'int' object is not iterable"
    ({"labels": "1,2"}, "labels must be a sequence"),  # was ValueError from int(',')
    ({"labels": [1.5]}, "whole-number label"),  # was silently class 1
    ({"ignore_label": 1.5}, "whole-number label"),  # was silently label 1
    ({"spacing": "11"}, "spacing must be a sequence"),  # was read as (1.0, 1.0)
    ({"spacing": 1.0}, "spacing must be a sequence"),
    ({"threshold": None}, "threshold must be a number"),  # was TypeError from a comparison
    ({"smooth": None}, "smooth must be a number"),
    ({"metrics": None}, "metrics must be a sequence"),
    ({"thresholds": 0.4}, "thresholds must be a mapping"),
    ({"regions": [1, 2]}, "regions must be a mapping"),
    ({"treshold": 0.4}, r"unexpected keyword argument 'treshold' \(did you mean 'threshold'\?\)"),
    ({"label": [1]}, r"did you mean 'labels'"),
])
def test_bad_python_options_raise_usage_errors_naming_the_option(options, message):
    gt = np.array([[0, 1, 1], [0, 2, 2]])
    with pytest.raises(UsageError, match=message):
        score_arrays(gt, gt, **options)
    if "spacing" not in options:  # score_arrays' own spacing is per array axis; evaluate's goes to Settings
        with pytest.raises(UsageError, match=message.replace("score_arrays", "evaluate")):
            dicecli.evaluate(str(FIXTURES / "png2d" / "gt"), str(FIXTURES / "png2d" / "pred"), **options)


def test_python_option_values_of_other_types():
    # gt class 1: (0,1), (0,2); pred class 1: (0,1). Dice 2*1/(2+1); class 2 equal, Dice 1.
    gt = np.array([[0, 1, 1], [0, 2, 2]], np.uint8)
    pred = np.array([[0, 1, 0], [0, 2, 2]], np.int16)
    s = score_arrays(gt, pred, labels=np.array([1, 2]), threshold="0.5", smooth="0")
    assert {k: v.dice for k, v in s.items()} == {1: pytest.approx(2 / 3), 2: 1.0}
    assert list(score_arrays(gt, pred, labels=[np.float32(2.0)])) == [2]
    assert score_arrays(gt, pred, jobs=4)[1].tp == 1  # one pair of arrays: jobs is accepted and unused
    assert score_arrays(gt, pred, spacing=np.array([0.5, 2.0]))[2].gt_volume_mm3 == 2.0


def test_a_transposed_array_gets_advice_for_arrays():
    g = np.zeros((3, 4), np.uint8)
    g[1, 1] = 1
    with pytest.raises(GeometryError) as info:
        score_arrays(g, g.T.copy())
    said = str(info.value)
    assert "<pred array>: shape (4, 3) does not match the ground truth's (3, 4)" in said
    assert "an array in memory" in said and "this file" not in said


def test_masked_arrays_are_refused():
    gt = np.zeros((4, 4), np.uint8)
    gt[1:3, 1:3] = 1
    with pytest.raises(UsageError, match="masked arrays"):  # was a numpy casting error from deep inside
        score_arrays(np.ma.masked_array(gt.astype(int), mask=gt == 0), gt)


def _read(path: Path) -> np.ndarray:
    name = path.name.lower()
    if name.endswith((".nii.gz", ".nii")):
        return np.asanyarray(nib.load(path).dataobj)
    if name.endswith((".tif", ".tiff")):
        return tifffile.imread(path)
    with Image.open(path) as im:
        return np.asarray(im)


@pytest.mark.parametrize("set_name", ["png2d", "nifti3d", "tiff3d", "prob"])
def test_fixture_values_from_arrays(set_name):
    expected = json.loads((FIXTURES / "expected" / f"{set_name}.json").read_text())
    for case, classes in expected["cases"].items():
        gt_path = next((FIXTURES / set_name / "gt").glob(f"{case}.*"))
        pred_path = next((FIXTURES / set_name / "pred").glob(f"{case}.*"))
        got = score_arrays(_read(gt_path), _read(pred_path), labels=expected["labels"])
        for key, want in classes.items():
            score = got[int(key)]
            assert (score.tp, score.fp, score.fn, score.status) == (want["tp"], want["fp"], want["fn"], want["status"])
            assert score.dice == want["dice"]


def test_public_api_is_lazy():
    import subprocess
    import sys

    code = "import sys, dicecli; assert 'numpy' not in sys.modules; dicecli.score_arrays; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
    assert "score_arrays" in dir(dicecli)
