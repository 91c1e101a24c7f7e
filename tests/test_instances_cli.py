"""--binary, --instances, --connected-components, --lesion-wise and the F1/PQ gates end to end.
Every expected value is counted by hand in the comments."""

import csv
import io

import nibabel as nib
import numpy as np
import pytest
import tifffile

from dicecli import score_arrays
from dicecli.errors import ExitStatus
from helpers import run, strict_json

# Case a: gt ids 1 (4 px) and 2 (4 px); pred 7 = gt 1 exactly (IoU 1), pred 3 = half of gt 2 (IoU 2/4).
A_GT = np.array([[1, 1, 0, 2, 2], [1, 1, 0, 2, 2]], np.uint16)
A_PRED = np.array([[7, 7, 0, 0, 3], [7, 7, 0, 0, 3]], np.uint16)


@pytest.fixture
def cells(tmp_path):
    """Case a (above) and case b (both empty)."""
    for name, gt, pred in (("a", A_GT, A_PRED), ("b", A_GT * 0, A_GT * 0)):
        for side, array in (("gt", gt), ("pred", pred)):
            (tmp_path / side).mkdir(exist_ok=True)
            tifffile.imwrite(tmp_path / side / f"{name}.tif", array)
    return tmp_path / "gt", tmp_path / "pred"


def test_instances_json_by_hand(cells):
    r = run(*cells, "--instances", "--iou-threshold", "0.5", "--iou-threshold", "0.75", "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = strict_json(r.stdout)
    assert doc["settings"]["instances"] is True and doc["settings"]["iou_thresholds"] == [0.5, 0.75]
    assert "most matched pairs" in doc["settings"]["matching_rule"]
    a, b = doc["cases"]
    one = a["classes"]["1"]
    assert (one["dice"], one["tp"], one["fp"], one["fn"]) == (12 / 14, 6, 0, 2)  # foreground Dice
    at_half, at_75 = one["instances"]
    assert at_half == {"iou_threshold": 0.5, "n_gt": 2, "n_pred": 2, "tp": 2, "fp": 0, "fn": 0, "iou_sum": 1.5,
                       "precision": 1.0, "recall": 1.0, "f1": 1.0, "mean_matched_iou": 0.75, "pq": 0.75,
                       "sq": 0.75, "rq": 1.0}
    assert (at_75["tp"], at_75["fp"], at_75["fn"], at_75["f1"], at_75["pq"]) == (1, 1, 1, 0.5, 1 / (1 + 0.5 + 0.5))
    empty = b["classes"]["1"]["instances"][0]
    assert empty["n_gt"] == empty["n_pred"] == 0 and empty["f1"] is None and empty["pq"] is None
    summary = doc["summary"]["classes"]["1"]["instances"]
    assert summary[0]["tp"] == 2 and summary[0]["metrics"]["f1"]["n"] == 1
    assert summary[0]["metrics"]["f1"]["n_undefined"] == 1 and summary[1]["metrics"]["pq"]["pooled"] == 0.5


def test_instances_csv_columns(cells):
    r = run(*cells, "--instances", "--iou-threshold", "0.5", "--iou-threshold", "0.75", "--format", "csv")
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert rows[0]["obj_n_gt"] == "2" and rows[0]["obj_tp@0.5"] == "2" and rows[0]["obj_tp@0.75"] == "1"
    assert rows[0]["obj_pq@0.5"] == "0.75" and rows[1]["obj_f1@0.5"] == ""  # both empty: an empty cell


def test_instances_table_and_settings_line(cells):
    r = run(*cells, "--instances")
    assert r.exit_code == 0, r.stderr
    assert "Objects matched one-to-one" in r.stdout and "objects = ids" in r.stdout


def test_empty_both_one_applies_to_objects(cells):
    doc = strict_json(run(*cells, "--instances", "--empty-both", "one", "--format", "json").stdout)
    assert doc["cases"][1]["classes"]["1"]["instances"][0]["f1"] == 1.0


def test_binary_scores_the_foreground(cells):
    doc = strict_json(run(*cells, "--binary", "--format", "json").stdout)
    assert doc["settings"]["labels"] == [1] and doc["cases"][0]["classes"]["1"]["dice"] == 12 / 14
    assert "instances" not in doc["cases"][0]["classes"]["1"]


def test_connected_components_of_a_semantic_map(tmp_path):
    # class 1: gt has two components (left block, lone px at (0, 3)); pred has the left block minus one px.
    # class 2: one component each, identical.
    gt = np.array([[1, 1, 0, 1, 2], [1, 1, 0, 0, 2]], np.uint8)
    pred = np.array([[1, 1, 0, 0, 2], [1, 0, 0, 0, 2]], np.uint8)
    for side, array in (("gt", gt), ("pred", pred)):
        (tmp_path / side).mkdir()
        tifffile.imwrite(tmp_path / side / "x.tif", array)
    doc = strict_json(run(tmp_path / "gt", tmp_path / "pred", "--connected-components", "--format", "json").stdout)
    c1 = doc["cases"][0]["classes"]["1"]["instances"][0]
    assert (c1["n_gt"], c1["n_pred"], c1["tp"], c1["iou_sum"]) == (2, 1, 1, 3 / 4)
    c2 = doc["cases"][0]["classes"]["2"]["instances"][0]
    assert (c2["tp"], c2["f1"], c2["pq"]) == (1, 1.0, 1.0)
    face = strict_json(run(tmp_path / "gt", tmp_path / "pred", "--connected-components", "--connectivity", "face",
                           "--format", "json").stdout)
    assert face["settings"]["connectivity"] == "face"


def test_instance_ids_split_into_connected_pieces(tmp_path):
    gt = np.array([[5, 5, 0, 5, 5]], np.uint16)  # one id in two pieces
    pred = np.array([[1, 1, 0, 2, 2]], np.uint16)
    out = score_arrays(gt, pred, instances=True)[1].objects[0]
    assert (out["n_gt"], out["n_pred"], out["tp"]) == (1, 2, 1)  # IoU 2/4 with each: one of them matches
    pieces = score_arrays(gt, pred, instances=True, connected_components=True)[1].objects[0]
    assert (pieces["n_gt"], pieces["tp"], pieces["f1"]) == (2, 2, 1.0)


def test_lesion_wise_with_spacing(tmp_path):
    # 3D, spacing 2 x 1 x 1 mm (2 mm3 per voxel). Lesion A: 4 voxels (8 mm3), found exactly.
    # Lesion B: 1 voxel (2 mm3). One false-positive voxel far away.
    gt = np.zeros((6, 6, 3), np.uint8)
    pred = np.zeros_like(gt)
    gt[0:2, 0:2, 0] = 1
    pred[0:2, 0:2, 0] = 1
    gt[5, 5, 2] = 1
    pred[3, 5, 0] = 1
    for side, array in (("gt", gt), ("pred", pred)):
        (tmp_path / side).mkdir()
        nib.save(nib.Nifti1Image(array, np.diag([2.0, 1.0, 1.0, 1.0])), tmp_path / side / "x.nii.gz")
    doc = strict_json(run(tmp_path / "gt", tmp_path / "pred", "--lesion-wise", "--format", "json").stdout)
    one = doc["cases"][0]["classes"]["1"]
    assert one["lesions"] == {"n_lesions": 2, "detected": 1, "missed": 1, "fp": 1, "small_left_out": 0}
    assert one["lesion_dice"] == pytest.approx(1 / 3)  # (1 + 0 + 0) / (2 lesions + 1 FP)
    doc = strict_json(run(tmp_path / "gt", tmp_path / "pred", "--lesion-wise", "--lesion-min-volume", "2",
                          "--format", "json").stdout)
    one = doc["cases"][0]["classes"]["1"]
    assert one["lesions"]["small_left_out"] == 1 and one["lesion_dice"] == pytest.approx(1 / 2)
    assert doc["settings"]["lesion_min_volume"] == 2.0 and "BraTS 2023" in doc["settings"]["lesion_rule"]


def test_f1_and_pq_gates(cells):
    r = run(*cells, "--instances", "--min-f1", "0.9", "--min-pq", "0.8", "--format", "json")
    assert r.exit_code == ExitStatus.GATE_FAILED
    gate = strict_json(r.stdout)["gate"]
    assert gate["f1"]["classes"]["1"]["passed"] is True and gate["pq"]["classes"]["1"]["value"] == 0.75
    assert gate["classes"] == {} and "class 1 mean PQ 0.7500 < 0.8" in r.stderr
    assert run(*cells, "--instances", "--min-pq", "0.75").exit_code == ExitStatus.OK
    r = run(*cells, "--instances", "--iou-threshold", "0.75", "--min-f1", "0.6", "--gate-on", "cases")
    assert r.exit_code == ExitStatus.GATE_FAILED and "class 1 F1: 1 of 1 case(s) below 0.6" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["--iou-threshold", "0.5"], "--iou-threshold needs --instances or --connected-components"),
    (["--min-f1", "0.5"], "--min-f1 needs --instances or --connected-components"),
    (["--lesion-dilation", "1"], "--lesion-dilation needs --lesion-wise"),
    (["--instances", "--region", "R=1,2"], "--region makes no sense"),
    (["--instances", "--connectivity", "face"], "--connectivity needs --connected-components or --lesion-wise"),
    (["--instances", "--iou-threshold", "0"], "0<x<=1"),
    (["--connected-components", "--multilabel"], "--multilabel"),
])
def test_usage_errors(cells, args, message):
    r = run(*cells, *args)
    assert r.exit_code == ExitStatus.USAGE and message in r.stderr + r.stdout


def test_instance_advice_points_to_instances(tmp_path):
    rng = np.random.default_rng(0)
    gt = np.zeros((40, 40), np.uint16)
    for i in range(20):
        gt[2 * i:2 * i + 2, :4] = i + 1
    pred = np.where(gt > 0, gt + 100, 0).astype(np.uint16)  # the same objects, every id changed
    rng.shuffle(pred)
    for side, array in (("gt", gt), ("pred", pred)):
        (tmp_path / side).mkdir()
        tifffile.imwrite(tmp_path / side / "x.tif", array)
    assert "--instances" in run(tmp_path / "gt", tmp_path / "pred").stderr
    assert "instance masks" not in run(tmp_path / "gt", tmp_path / "pred", "--instances").stderr


def test_score_arrays_lesions():
    gt = np.array([[1, 1, 0, 0, 1]], np.uint8)
    pred = np.array([[1, 1, 0, 0, 0]], np.uint8)
    score = score_arrays(gt, pred, lesion_wise=True)[1]
    assert score.lesion_dice == 0.5 and score.lesions == {"n_lesions": 2, "n_detected": 1, "n_fp": 0, "n_small": 0}


def test_objects_and_lesions_survive_the_journal(cells, tmp_path):
    import json

    from dicecli.run.evaluate import evaluate
    from dicecli.run.journal import record_result, result_record

    ev = evaluate(*cells, jobs=1, instances=True, lesion_wise=True, iou_thresholds=(0.5, 0.75))
    for case in ev.cases:
        back = record_result(json.loads(json.dumps(result_record(case))))
        for name in ("objects", "lesions"):
            want, got = getattr(case, name), getattr(back, name)
            np.testing.assert_array_equal(got.labels, want.labels)
            for key, values in want.values.items():
                assert got.values[key].dtype == values.dtype
                np.testing.assert_array_equal(got.values[key], values)
    journal = tmp_path / "run.jsonl"
    options = ("--instances", "--lesion-wise", "--format", "json", "--journal", journal)
    first = run(*cells, *options)
    again = run(*cells, *options, "--resume")
    assert again.exit_code == 0, again.stderr
    assert strict_json(again.stdout)["cases"] == strict_json(first.stdout)["cases"]
