"""The dice command end to end: exit statuses, streams, JSON/CSV contracts, safe outputs.

Expected Dice values are computed by hand in each test (or by brute force), never by dice.
"""

import csv
import io
import json
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner

from dicecli.cli import main
from helpers import png, run, strict_json
from dicecli.errors import ExitStatus

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_table_on_stdout_messages_on_stderr(pngset):
    r = run(*pngset)
    assert r.exit_code == ExitStatus.OK
    assert "Dice per class" in r.stdout and "hard Dice" in r.stdout and "smooth 0 (exact)" in r.stdout
    assert "3 case(s) paired" in r.stderr and "paired" not in r.stdout
    assert "\x1b[" not in r.stdout  # no colour codes when not a terminal


def test_json_contract_values_by_hand(pngset):
    r = run(*pngset, "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = strict_json(r.stdout)
    assert doc["schema"] == 1
    assert doc["settings"]["threshold"] == 0.5 and doc["settings"]["smooth"] == 0.0
    assert doc["settings"]["empty_both"] == "nan" and doc["settings"]["labels"] == [1, 2]
    cases = {c["case"]: c for c in doc["cases"]}
    assert list(cases) == ["a", "b", "c"]
    assert cases["a"]["classes"]["1"] == {"dice": 0.5, "tp": 2, "fp": 2, "fn": 2, "status": "ok"}
    assert cases["a"]["classes"]["2"] == {"dice": None, "tp": 0, "fp": 0, "fn": 0, "status": "both_empty"}
    assert cases["b"]["classes"]["1"]["dice"] == 1.0
    assert cases["b"]["classes"]["2"] == {"dice": 0.0, "tp": 0, "fp": 3, "fn": 0, "status": "gt_empty"}
    assert cases["c"]["classes"]["1"] == {"dice": 0.0, "tp": 0, "fp": 0, "fn": 2, "status": "pred_empty"}
    assert cases["a"]["gt"].endswith("a.png") and cases["a"]["pred"].endswith("a.png")
    s = doc["summary"]["classes"]
    assert s["1"]["n"] == 3 and s["1"]["n_undefined"] == 0
    assert s["1"]["mean"] == pytest.approx(0.5)
    assert s["1"]["pooled"] == pytest.approx(2 * 8 / (2 * 8 + 2 + 4))
    assert s["2"]["n"] == 1 and s["2"]["n_undefined"] == 2 and s["2"]["mean"] == 0.0 and s["2"]["std"] is None
    assert doc["summary"]["mean"] == pytest.approx(0.25)
    assert doc["errors"] == []


def test_csv_contract_matches_json(pngset, tmp_path):
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    r = run(*pngset, "--format", "csv", "--json", out_json, "--csv", out_csv)
    assert r.exit_code == 0
    assert out_csv.read_text() == r.stdout
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert r.stdout.splitlines()[0].startswith("case,class,dice,tp,fp,fn,status")
    assert len(rows) == 3 * 2
    doc = strict_json(out_json.read_text())
    for row in rows:
        expected = next(c for c in doc["cases"] if c["case"] == row["case"])["classes"][row["class"]]
        assert (float(row["dice"]) if row["dice"] else None) == expected["dice"]
        assert (int(row["tp"]), int(row["fp"]), int(row["fn"]), row["status"]) == (
            expected["tp"], expected["fp"], expected["fn"], expected["status"])
    assert next(r for r in rows if r["case"] == "a" and r["class"] == "2")["dice"] == ""


def test_labels_background_and_empty_rule(pngset):
    doc = strict_json(run(*pngset, "--format", "json", "--labels", "1", "--include-background").stdout)
    assert doc["settings"]["labels"] == [0, 1]
    a0 = next(c for c in doc["cases"] if c["case"] == "a")["classes"]["0"]
    assert (a0["tp"], a0["fp"], a0["fn"]) == (14, 2, 2)  # 20 px, 4 vs 4 foreground, 2 shared
    assert doc["summary"]["mean"] == pytest.approx(0.5)  # background never in the overall mean
    doc = strict_json(run(*pngset, "--format", "json", "--empty-both", "one").stdout)
    assert doc["summary"]["classes"]["2"]["n"] == 3
    assert doc["summary"]["classes"]["2"]["mean"] == pytest.approx(2 / 3)


def test_smoothing_is_echoed(pngset):
    r = run(*pngset, "--smooth", "1")
    assert "smooth 1 (smoothed, not exact)" in r.stdout
    doc = strict_json(run(*pngset, "--smooth", "1", "--format", "json").stdout)
    a1 = next(c for c in doc["cases"] if c["case"] == "a")["classes"]["1"]
    assert a1["dice"] == pytest.approx(5 / 9)  # (2*2 + 1) / (2*2 + 2 + 2 + 1)


def test_missing_prediction_is_an_input_error_but_others_are_scored(pngset, tmp_path):
    gt, pred = pngset
    (pred / "b.png").unlink()
    out = tmp_path / "out.json"
    r = run(gt, pred, "--format", "json", "--json", out)
    assert r.exit_code == ExitStatus.INPUT_ERROR
    doc = strict_json(r.stdout)
    assert [c["case"] for c in doc["cases"]] == ["a", "c"]
    assert doc["errors"][0]["case"] == "b" and "no prediction" in doc["errors"][0]["message"]
    assert "no prediction for case 'b'" in r.stderr
    assert strict_json(out.read_text())["errors"] == doc["errors"]
    r = run(gt, pred, "--format", "json", "--missing-as-empty")
    assert r.exit_code == 0
    b = next(c for c in strict_json(r.stdout)["cases"] if c["case"] == "b")
    assert b["pred"] is None and b["classes"]["1"]["status"] == "pred_empty"


def test_unreadable_file_one_line_no_traceback(pngset):
    gt, pred = pngset
    (pred / "a.png").write_text("this is not a png")
    r = run(gt, pred, "--format", "json")
    assert r.exit_code == ExitStatus.INPUT_ERROR
    lines = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(lines) == 1 and str(pred / "a.png") in lines[0]
    assert "Traceback" not in r.stderr
    assert [c["case"] for c in strict_json(r.stdout)["cases"]] == ["b", "c"]


def test_shape_mismatch_names_axis(pngset):
    gt, pred = pngset
    png(pred / "c.png", np.zeros((4, 7)))
    r = run(gt, pred)
    assert r.exit_code == ExitStatus.INPUT_ERROR
    assert "axis 1" in r.stderr and str(pred / "c.png") in r.stderr


def nifti(path, array, zooms=(1.0, 1.0, 2.0), affine=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = nib.Nifti1Image(np.asarray(array, dtype=np.uint8), np.diag([*zooms, 1.0]) if affine is None else affine)
    img.header.set_zooms(zooms)
    nib.save(img, str(path))


def test_geometry_modes(tmp_path):
    g = np.zeros((6, 5, 4)); g[1:3, 1:3, 1:3] = 1
    nifti(tmp_path / "gt" / "x.nii.gz", g)
    nifti(tmp_path / "pred" / "x.nii.gz", g, zooms=(1.0, 1.0, 2.5))
    r = run(tmp_path / "gt", tmp_path / "pred")
    assert r.exit_code == ExitStatus.INPUT_ERROR
    assert "spacing differs" in r.stderr and "axis 2" in r.stderr and "0.5" in r.stderr
    r = run(tmp_path / "gt", tmp_path / "pred", "--geometry", "warn", "--format", "json")
    assert r.exit_code == 0 and "warning" in r.stderr
    assert strict_json(r.stdout)["cases"][0]["classes"]["1"]["dice"] == 1.0
    assert run(tmp_path / "gt", tmp_path / "pred", "--geometry", "ignore").exit_code == 0


def test_two_file_form(tmp_path):
    g = np.zeros((6, 5, 4)); g[1:3, 1:3, 1:3] = 1  # 8 voxels
    p = np.zeros((6, 5, 4)); p[1:3, 1:3, 1:2] = 1  # 4 of them
    nifti(tmp_path / "ct_7.nii.gz", g)
    nifti(tmp_path / "seg.nii.gz", p)
    r = run(tmp_path / "ct_7.nii.gz", tmp_path / "seg.nii.gz", "--format", "json")
    doc = strict_json(r.stdout)
    assert doc["cases"][0]["case"] == "ct_7"
    assert doc["cases"][0]["classes"]["1"]["dice"] == pytest.approx(2 * 4 / 12)


def test_usage_errors_exit_2(pngset):
    assert run(*pngset, "--labels", "one").exit_code == ExitStatus.USAGE
    assert run(*pngset, "--threshold", "2").exit_code == ExitStatus.USAGE
    assert run(*pngset, "--format", "xml").exit_code == ExitStatus.USAGE
    r = run(pngset[0], pngset[1] / "a.png")
    assert r.exit_code == ExitStatus.USAGE and "two folders or two files" in r.stderr


def test_missing_or_empty_directory_exit_3(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    r = run(tmp_path / "gt", tmp_path / "pred")
    assert r.exit_code == ExitStatus.INPUT_ERROR and "no ground-truth masks" in r.stderr
    r = run(tmp_path / "absent", tmp_path / "pred")
    assert r.exit_code == ExitStatus.INPUT_ERROR and "absent" in r.stderr


def test_refuses_to_write_over_an_input(pngset):
    gt, pred = pngset
    before = (pred / "a.png").read_bytes()
    r = run(gt, pred, "--json", pred / "a.png")
    assert r.exit_code == ExitStatus.USAGE and "over an input" in r.stderr
    assert (pred / "a.png").read_bytes() == before


def test_interrupt_exits_130_and_writes_nothing(pngset, tmp_path, monkeypatch):
    import dicecli.run.evaluate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dicecli.run.evaluate, "evaluate_pairing", interrupted)
    out = tmp_path / "out.json"
    out.write_text("previous")
    r = run(*pngset, "--json", out)
    assert r.exit_code == ExitStatus.INTERRUPTED
    assert out.read_text() == "previous"
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


def test_failed_write_keeps_previous_output(pngset, tmp_path, monkeypatch):
    import dicecli.io.outputs

    out = tmp_path / "out.json"
    out.write_text("previous")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dicecli.io.outputs.os, "replace", broken_replace)
    r = run(*pngset, "--json", out)
    assert r.exit_code != 0
    assert out.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_internal_error_is_one_line(pngset, monkeypatch):
    import dicecli.run.evaluate

    def bug(*args, **kwargs):
        raise TypeError("boom")

    monkeypatch.setattr(dicecli.run.evaluate, "evaluate_pairing", bug)
    r = run(*pngset)
    assert r.exit_code == ExitStatus.INTERNAL
    errors = [line for line in r.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "boom" in errors[0] and "Traceback" not in r.stderr


def test_jobs_do_not_change_results(tmp_path):
    gt, pred = FIXTURES / "tiff3d" / "gt", FIXTURES / "tiff3d" / "pred"
    one = run(gt, pred, "--format", "json", "-j", "1").stdout
    two = run(gt, pred, "--format", "json", "-j", "2").stdout
    assert one == two and strict_json(one)["cases"]


def test_version_and_help():
    r = CliRunner().invoke(main, ["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("dice ")
    assert CliRunner().invoke(main, ["score", "--help"]).exit_code == 0


def test_json_puts_each_case_on_one_line(pngset):
    text = run(*pngset, "--format", "json").stdout
    lines = text.splitlines()
    case_lines = [l for l in lines if l.lstrip().startswith('{"case": ')]
    assert len(case_lines) == 3
    assert all(json.loads(l.strip().rstrip(",")) for l in case_lines)
    assert strict_json(text)["cases"][0]["case"] == "a"
