"""The issue-6 options through the command line: parsing, exit statuses, reports.

Expected numbers are hand-computed in each test or come from the brute-force fixture values.
"""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from dicecli.cli import main
from dicecli.errors import ExitStatus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BRATS = [str(FIXTURES / "brats" / "gt"), str(FIXTURES / "brats" / "pred")]
DATASET = str(FIXTURES / "brats" / "dataset.json")


def run(*args):
    return CliRunner().invoke(main, ["score", *map(str, args)])


@pytest.fixture
def tiny(tmp_path):
    """gt [[0,1,1,2]] vs a float map and a label map, by hand."""
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    tifffile.imwrite(tmp_path / "gt" / "a.tif", np.array([[0, 1, 1, 0]], np.uint8))
    tifffile.imwrite(tmp_path / "pred" / "a.tif", np.array([[0.45, 0.45, 0.7, 0.1]], np.float32))
    return tmp_path / "gt", tmp_path / "pred"


@pytest.mark.parametrize("args, needle", [
    (["--threshold", "1.5"], "within [0, 1]"),
    (["--threshold", "1=0.4,1=0.5"], "twice"),
    (["--region", "WT"], "NAME=LABEL"),
    (["--region", "WT=0,1"], "label 0"),
    (["--label-names", "/no/such/names.json"], "cannot read"),
    (["--label-names", "a=1,b=1"], "two names"),
    (["--metrics", "dice,hd96"], "hd96"),
    (["--pred-kind", "guess"], "guess"),
    (["--prob-scale", "0"], "0"),
    (["--ignore-label", "1", "--labels", "1,2"], "ignore label"),
    (["--pred-kind", "labels", "--prob-scale", "255"], "--prob-scale"),
])
def test_bad_options_are_usage_errors(tiny, args, needle):
    r = run(*tiny, *args)
    assert r.exit_code == ExitStatus.USAGE, r.output
    assert needle in r.output and "Traceback" not in r.output


def test_per_class_threshold_reaches_class_1_and_is_reported(tiny):
    # class 1 threshold 0.4: p >= 0.4 -> [1, 1, 1, 0] vs gt [0, 1, 1, 0]: tp 2, fp 1, fn 0
    r = run(*tiny, "--threshold", "0.5,1=0.4", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["settings"]["threshold"] == 0.5 and doc["settings"]["thresholds"] == {"1": 0.4}
    cls = doc["cases"][0]["classes"]["1"]
    assert (cls["tp"], cls["fp"], cls["fn"]) == (2, 1, 0) and cls["dice"] == pytest.approx(4 / 5)
    table = run(*tiny, "--threshold", "0.5,1=0.4", "-q").stdout
    assert "threshold p >= 0.5 (1: 0.4)" in table and "1 probability map (--pred-kind auto)" in table


def test_soft_and_metrics_columns_in_csv(tiny):
    r = run(*tiny, "--soft", "--metrics", "precision,recall", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert list(rows[0])[:10] == ["case", "class", "dice", "tp", "fp", "fn", "status", "gt", "pred", "pred_kind"]
    assert list(rows[0])[10:] == ["precision", "recall", "soft_dice"]  # no spacing: no volume columns
    # p >= 0.5 -> [0, 0, 1, 0]: tp 1, fp 0, fn 1; soft: Σpg = 0.45 + 0.7, Σp = 1.7, Σg = 2
    row = rows[0]
    assert float(row["precision"]) == 1.0 and float(row["recall"]) == 0.5
    assert float(row["soft_dice"]) == pytest.approx(2 * (0.45 + 0.7) / (1.7 + 2), rel=1e-6)


def test_brats_names_gate_markdown_and_volumes():
    r = run(*BRATS, "--label-names", DATASET, "--min-dice", "whole tumor=0.85", "--format", "json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    expected = json.loads((FIXTURES / "expected" / "brats.json").read_text())
    assert list(doc["summary"]["classes"]) == ["whole tumor", "tumor core", "enhancing tumor"]
    assert doc["gate"]["classes"]["whole tumor"]["passed"] is True
    assert doc["summary"]["classes"]["tumor core"]["mean"] == pytest.approx(
        expected["summary"]["classes"]["tumor core"]["mean"], abs=1e-12)
    case = doc["cases"][0]
    assert case["voxel_volume_mm3"] == 1.6
    wt = case["classes"]["whole tumor"]
    assert wt["gt_volume_mm3"] == pytest.approx((wt["tp"] + wt["fn"]) * 1.6)
    assert wt["gt_volume_ml"] == pytest.approx(wt["gt_volume_mm3"] / 1000)
    md = run(*BRATS, "--label-names", DATASET, "--format", "markdown").stdout
    assert "| whole tumor |" in md
    failed = run(*BRATS, "--region", "ET=3", "--min-dice", "ET=0.9")
    assert failed.exit_code == ExitStatus.GATE_FAILED and "class ET" in failed.stderr


def test_regions_and_labels_mix_and_warn_once():
    r = run(*BRATS, "--labels", "1", "--region", "TC=2,3", "--format", "json")
    doc = json.loads(r.stdout)
    assert [c["key"] for c in doc["settings"]["classes"]] == ["1", "TC"]
    assert r.stderr.count("found in the data but not scored") == 0  # 2 and 3 are inside TC
    r = run(*BRATS, "--labels", "1", "--format", "json")
    assert r.stderr.count("label value(s) 2, 3 found in the data but not scored") == 1


def test_bad_softmax_is_exit_3_one_line_others_scored(tmp_path):
    import nibabel as nib
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    gt = np.zeros((4, 5, 3), np.uint8)
    gt[1:3, 1:4, 1] = 1
    prob = np.stack([1.0 - gt, gt.astype(float)], axis=-1).astype(np.float32)  # perfect softmax
    for name in ("good", "bad"):
        nib.save(nib.Nifti1Image(gt, np.eye(4)), str(tmp_path / "gt" / f"{name}.nii.gz"))
    nib.save(nib.Nifti1Image(prob, np.eye(4)), str(tmp_path / "pred" / "good.nii.gz"))
    bad = prob.copy()
    bad[0, 0, 0, 1] = np.inf
    nib.save(nib.Nifti1Image(bad, np.eye(4)), str(tmp_path / "pred" / "bad.nii.gz"))
    r = run(tmp_path / "gt", tmp_path / "pred", "--format", "json")
    assert r.exit_code == ExitStatus.INPUT_ERROR
    errors = [line for line in r.stderr.splitlines() if line.startswith("dice: error:")]
    assert len(errors) == 1 and "bad.nii.gz" in errors[0] and "infinite" in errors[0]
    doc = json.loads(r.stdout)
    assert [c["case"] for c in doc["cases"]] == ["good"] and doc["cases"][0]["classes"]["1"]["dice"] == 1.0
    assert doc["cases"][0]["pred_kind"] == "softmax"


def test_ignore_label_from_the_command_line(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    tifffile.imwrite(tmp_path / "gt" / "a.tif", np.array([[1, 1, 9, 9]], np.uint8))
    tifffile.imwrite(tmp_path / "pred" / "a.tif", np.array([[1, 9, 1, 0]], np.uint8))
    # gt 9 leaves; class 1: tp 1 (voxel 0), fn 1 (voxel 1 predicted 9), fp 0 (voxel 2 ignored)
    r = run(tmp_path / "gt", tmp_path / "pred", "--ignore-label", "9", "--format", "json")
    doc = json.loads(r.stdout)
    assert list(doc["cases"][0]["classes"]) == ["1"] and doc["cases"][0]["n_ignored"] == 2
    c = doc["cases"][0]["classes"]["1"]
    assert (c["tp"], c["fp"], c["fn"]) == (1, 0, 1)
    assert "ignore label 9" in run(tmp_path / "gt", tmp_path / "pred", "--ignore-label", "9", "-q").stdout
