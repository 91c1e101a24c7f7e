"""The softmax, brats and quantised fixture sets: dice reproduces the independently computed
expected values, and the committed files are what fixtures/make_channel_fixtures.py generates."""

from __future__ import annotations

import importlib.util
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"
SET_NAMES = ("softmax", "brats", "quantised")


@lru_cache(maxsize=None)
def _generated():
    spec = importlib.util.spec_from_file_location("_dicecli_make_channel_fixtures",
                                                  FIXTURES / "make_channel_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, module.generate()


def _expected(set_name):
    return json.loads((FIXTURES / "expected" / f"{set_name}.json").read_text())


def _read(path: Path) -> np.ndarray:
    if path.name.endswith(".nii.gz"):
        import nibabel as nib
        return np.asanyarray(nib.load(str(path)).dataobj)
    if path.suffix == ".npz":
        with np.load(path) as archive:
            assert archive.files == ["probabilities"]
            return archive["probabilities"]
    from PIL import Image
    with Image.open(path) as im:
        assert im.mode == "L"
        return np.asarray(im)


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_files_are_what_the_script_generates(set_name):
    module, data = _generated()
    for case in data[set_name]:
        gt = _read(FIXTURES / set_name / "gt" / module.gt_file(set_name, case))
        assert gt.dtype == case["gt"].dtype
        np.testing.assert_array_equal(gt, case["gt"])
        pred = _read(FIXTURES / set_name / "pred" / module.pred_file(case))
        if case["pred_format"] == "nifti4d":
            pred = np.moveaxis(pred, -1, 0)  # stored channels last
        if case["pred_format"] == "npz":
            pred = pred.transpose(0, 3, 2, 1)  # stored as nnU-Net does: (c, z, y, x)
        assert pred.dtype == case["pred"].dtype
        np.testing.assert_array_equal(pred, case["pred"])
    if set_name == "brats":
        assert json.loads((FIXTURES / "brats" / "dataset.json").read_text()) == module.DATASET_JSON


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_expected_json_is_a_fresh_brute_force_computation(set_name):
    module, data = _generated()
    fresh = json.loads(json.dumps(module.expected_for_set(set_name, data[set_name])))
    assert fresh == _expected(set_name)


def test_softmax_set_has_ties_and_an_empty_class():
    _, data = _generated()
    case03 = data["softmax"][2]["pred"]
    top = case03.max(axis=0)
    assert int(np.sum(np.sum(case03 == top, axis=0) > 1)) > 0  # exact ties between channels
    assert _expected("softmax")["cases"]["case03"]["3"]["status"] == "pred_empty"


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_cli_matches_expected(set_name):
    from click.testing import CliRunner

    from dicecli.cli import main

    expected = _expected(set_name)
    options = [o.replace("fixtures/", f"{FIXTURES}/") for o in expected["options"]]
    result = CliRunner().invoke(main, ["score", str(FIXTURES / set_name / "gt"), str(FIXTURES / set_name / "pred"),
                                       "--format", "json", *options])
    assert result.exit_code == 0, (result.output, result.exception)
    out = json.loads(result.stdout)
    assert out["errors"] == [] and [c["key"] for c in out["settings"]["classes"]] == expected["classes"]
    cases = {c["case"]: c for c in out["cases"]}
    assert set(cases) == set(expected["cases"])
    for name, classes in expected["cases"].items():
        got = cases[name]["classes"]
        assert list(got) == expected["classes"]
        for key, want in classes.items():
            for field in ("tp", "fp", "fn", "status"):
                assert got[key][field] == want[field], (name, key, field)
            assert got[key]["dice"] == pytest.approx(want["dice"], abs=1e-12) if want["dice"] is not None \
                else got[key]["dice"] is None
            if "soft_dice" in want:
                assert got[key]["soft_dice"] == pytest.approx(want["soft_dice"], rel=1e-9)
    for key, want in expected["summary"]["classes"].items():
        got = out["summary"]["classes"][key]
        assert (got["n"], got["n_undefined"]) == (want["n"], want["n_undefined"])
        assert got["mean"] == pytest.approx(want["mean"], abs=1e-12)
        assert got["pooled"] == pytest.approx(want["pooled"], abs=1e-12)
    assert out["summary"]["mean"] == pytest.approx(expected["summary"]["mean"], abs=1e-12)
    assert out["summary"]["pooled"] == pytest.approx(expected["summary"]["pooled"], abs=1e-12)
    kinds = {"softmax": "softmax", "brats": "labels", "quantised": "probability"}
    assert all(c["pred_kind"] == kinds[set_name] for c in out["cases"])


def test_quantised_set_under_auto_warns_once_and_scores_labels():
    from click.testing import CliRunner

    from dicecli.cli import main

    result = CliRunner().invoke(main, ["score", str(FIXTURES / "quantised" / "gt"),
                                       str(FIXTURES / "quantised" / "pred"), "--format", "json"])
    assert result.exit_code == 0
    warnings = [line for line in result.stderr.splitlines() if "quantised" in line]
    assert len(warnings) == 1 and "3 integer prediction(s)" in warnings[0] and "--pred-kind prob" in warnings[0]
    assert all(c["pred_kind"] == "labels" for c in json.loads(result.stdout)["cases"])
