"""A run's client memory stays flat with the number of cases (issue 17): cases are kept column by
column (CaseTable, no object per case), reports are written in pieces as their records are made,
a journal is resumed without holding its lines. Expected values are computed here, from the masks."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dicecli.case import CaseResult
from dicecli.core.aggregate import RunCounts
from dicecli.core.score import CaseCounts
from dicecli.errors import InputError
from dicecli.report import csv_report, json_report, records
from dicecli.run.case_table import CaseTable
from dicecli.run.evaluate import evaluate
from dicecli.run.journal import read_journal
from dicecli.settings import Settings
from helpers import png, run, strict_json

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"


def counts(labels, tp, fp, fn, n_voxels=100, n_ignored=0):
    ints = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    return CaseCounts(ints(labels), ints(tp), ints(fp), ints(fn), n_voxels, n_ignored)


def varied_results():
    """CaseResults using every field, out of name order."""
    return [
        CaseResult("b", "gt/b.png", "pred/b.png", counts([0, 1, 2], [5, 3, 0], [1, 0, 2], [0, 4, 1]), "labels"),
        CaseResult("a", "gt/a.nii.gz", None, counts([], [], [], [], 0), "missing", voxel_volume_mm3=0.5,
                   warnings=("w1", "w2"), region_counts=np.array([[1, 2, 3], [4, 5, 6]])),
        CaseResult("c", "gt/c.npz", "pred/c.npz", counts([0, 3], [7, 1], [0, 0], [2, 9], 40, 3), "softmax",
                   prob_scale=255.0, soft_labels=(3,), soft_sums=np.array([[1.5, 2.25]]), channel_axis=0,
                   quantised=True, axes_reversed=True, region_counts=np.array([[0, 0, 1], [2, 0, 0]])),
        CaseResult("a0", "gt/a0.png", "pred/a0.png", counts([1], [2], [3], [4]), "probability", prob_scale=1,
                   instances=True, axes_unchecked=True, channel_axis=-1),
    ]


def same_result(a, b):
    for name in CaseResult.__dataclass_fields__:
        x, y = getattr(a, name), getattr(b, name)
        if name == "counts":
            for part in ("labels", "tp", "fp", "fn"):
                np.testing.assert_array_equal(getattr(x, part), getattr(y, part))
            assert (x.n_voxels, x.n_ignored) == (y.n_voxels, y.n_ignored)
        elif isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            np.testing.assert_array_equal(x, y)
        else:
            assert x == y and type(x) is type(y), (name, x, y)


def test_case_table_gives_back_every_field_in_name_order():
    given = varied_results()
    table = CaseTable()
    for result in given:
        table.add(result)
    table.sort()
    expected = sorted(given, key=lambda r: r.case)
    assert len(table) == 4 and [r.case for r in table] == ["a", "a0", "b", "c"]
    for got, want in zip(table, expected):
        same_result(got, want)
    same_result(table[-1], expected[-1])
    for name in ("case", "gt", "pred", "pred_kind", "prob_scale", "voxel_volume_mm3", "channel_axis", "quantised",
                 "instances", "axes_reversed", "axes_unchecked", "warnings", "boundary", "n_voxels"):
        want = [r.counts.n_voxels if name == "n_voxels" else getattr(r, name) for r in expected]
        assert table.values(name) == want and table.values(name, 1, 3) == want[1:3], name
    assert table.warnings() == ["w1", "w2"]
    assert table.pred_kind_counts() == {"labels": 1, "missing": 1, "probability": 1, "softmax": 1}
    assert table.rows_with("instances") == [1]
    both = RunCounts.of([r.counts for r in expected])
    for x, y in zip(table.run_counts(), both):
        np.testing.assert_array_equal(x, y)
    rows, labels, sums = table.soft()
    assert rows.tolist() == [3] and labels.tolist() == [3] and sums.tolist() == [[1.5, 2.25]]
    regions = table.region_counts()
    assert regions[[0, 3]].tolist() == [[[1, 2, 3], [4, 5, 6]], [[0, 0, 1], [2, 0, 0]]]
    assert not regions[[1, 2]].any()


def test_the_table_shares_the_pairings_strings():
    from dicecli.io.pairing import Pair

    pair = Pair("case_1", "gt/case_1.png", "pred/case_1.png")
    copy = CaseResult("".join(["case_", "1"]), "".join(["gt/", "case_1.png"]), "".join(["pred/", "case_1.png"]),
                      counts([1], [1], [0], [0]), "labels")
    table = CaseTable()
    table.add(copy, pair)
    assert table.values("case")[0] is pair.case and table.values("gt")[0] is pair.gt
    assert table.values("pred")[0] is pair.pred


def draw_cases(folder: Path, n: int, seed: int = 3) -> dict:
    """n pairs of random 3-label masks as PNG; returns {case: (gt, pred)}."""
    rng = np.random.default_rng(seed)
    cases = {}
    for i in range(n):
        gt = rng.integers(0, 4, (9, 11)) * (rng.random((9, 11)) < 0.6)
        pred = np.where(rng.random(gt.shape) < 0.8, gt, rng.integers(0, 4, gt.shape))
        if i % 7 == 3:
            gt[gt == 2], pred[pred == 2] = 0, 0  # class 2 absent from both: undefined
        name = f"case{i:03d}"
        png(folder / "gt" / f"{name}.png", gt)
        png(folder / "pred" / f"{name}.png", pred)
        cases[name] = (gt, pred)
    return cases


def test_many_cases_json_and_csv_hold_the_counts_and_statistics_computed_here(tmp_path):
    cases = draw_cases(tmp_path, 50)
    out_json, out_csv = tmp_path / "run.json", tmp_path / "run.csv"
    result = run(tmp_path / "gt", tmp_path / "pred", "--format", "json", "--json", out_json, "--csv", out_csv,
                 "-q", "-j", "1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == out_json.read_bytes()
    doc = strict_json(out_json.read_text())
    assert [c["case"] for c in doc["cases"]] == sorted(cases)
    per_class = {k: [] for k in (1, 2, 3)}
    rows = list(__import__("csv").DictReader(out_csv.read_text().splitlines()))
    assert len(rows) == 3 * len(cases)
    for record, row_block in zip(doc["cases"], (rows[i:i + 3] for i in range(0, len(rows), 3))):
        gt, pred = cases[record["case"]]
        assert record["n_voxels"] == gt.size
        for label, row in zip((1, 2, 3), row_block):
            tp = int(((gt == label) & (pred == label)).sum())
            fp = int(((gt != label) & (pred == label)).sum())
            fn = int(((gt == label) & (pred != label)).sum())
            dice = None if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
            cell = record["classes"][str(label)]
            assert (cell["tp"], cell["fp"], cell["fn"]) == (tp, fp, fn)
            assert cell["dice"] == pytest.approx(dice, rel=1e-15) if dice is not None else cell["dice"] is None
            assert (row["case"], row["class"], row["tp"], row["fp"], row["fn"]) == (
                record["case"], str(label), str(tp), str(fp), str(fn))
            assert row["dice"] == ("" if dice is None else repr(cell["dice"]))
            per_class[label].append((dice, tp, fp, fn))
    for label, values in per_class.items():
        defined = np.array([v[0] for v in values if v[0] is not None])
        summary = doc["summary"]["classes"][str(label)]
        assert summary["n"] == len(defined) and summary["n_undefined"] == len(values) - len(defined)
        assert summary["mean"] == pytest.approx(defined.mean(), rel=1e-12)
        assert summary["std"] == pytest.approx(defined.std(ddof=1), rel=1e-12)
        assert summary["median"] == pytest.approx(np.median(defined), rel=1e-12)
        assert (summary["min"], summary["max"]) == (defined.min(), defined.max())
        tp, fp, fn = (sum(v[k] for v in values) for k in (1, 2, 3))
        assert summary["pooled"] == pytest.approx(2 * tp / (2 * tp + fp + fn), rel=1e-12)
    assert doc["summary"]["n_cases"] == len(cases)
    # the layout: indented two levels, one line per case
    lines = out_json.read_text().splitlines()
    assert sum(line.startswith('    {"case": ') for line in lines) == len(cases)


def test_reports_written_in_small_pieces_are_the_same_documents(tmp_path, monkeypatch):
    draw_cases(tmp_path, 23)
    ev = evaluate(tmp_path / "gt", tmp_path / "pred", jobs=1, metrics=("iou",))
    whole_json, whole_csv = json_report.render_json(ev), csv_report.render_csv(ev)
    assert len(list(json_report.json_chunks(ev))) == 1
    monkeypatch.setattr(json_report, "CHUNK_CHARS", 100)
    monkeypatch.setattr(records, "BLOCK_CASES", 4)
    monkeypatch.setattr(csv_report, "CHUNK_CASES", 5)
    json_pieces, csv_pieces = list(json_report.json_chunks(ev)), list(csv_report.csv_chunks(ev))
    assert len(json_pieces) > 20 and len(csv_pieces) == 5
    assert "".join(json_pieces) == whole_json and "".join(csv_pieces) == whole_csv
    assert strict_json(whole_json)["cases"] == records.case_records(ev)
    assert len(records.case_records(ev)) == 23


def test_no_cases_give_an_empty_array(tmp_path):
    ev = evaluate(FIXTURES / "png2d" / "gt", FIXTURES / "png2d" / "pred", jobs=1)
    from dataclasses import replace

    empty = replace(ev, cases=CaseTable(), tp=ev.tp[:0], fp=ev.fp[:0], fn=ev.fn[:0], dice=ev.dice[:0],
                    status=ev.status[:0], gt_volume_mm3=ev.gt_volume_mm3[:0], pred_volume_mm3=ev.pred_volume_mm3[:0])
    text = json_report.render_json(empty)
    assert '"cases": [],' in text and strict_json(text)["cases"] == []
    assert csv_report.render_csv(empty) == ",".join(csv_report.columns(empty)) + "\n"


def test_a_journal_is_read_line_by_line_with_any_line_end(tmp_path):
    gt, pred = FIXTURES / "png2d" / "gt", FIXTURES / "png2d" / "pred"
    journal = tmp_path / "run.jsonl"
    clean = evaluate(gt, pred, jobs=1)
    from dicecli.run.evaluate import evaluate_pairing
    from dicecli.io.pairing import pair_paths

    pairing = pair_paths(str(gt), str(pred))
    evaluate_pairing(pairing, Settings(jobs=1), journal=str(journal))
    lines = journal.read_bytes().splitlines()
    journal.write_bytes(b"\r\n".join(lines) + b"\r\n")  # a journal passed through a Windows editor
    entries, notes = read_journal(str(journal), Settings(jobs=1))
    with entries:
        assert len(entries) == 5 and notes == []
        assert [entries.get(c)["case"] for c in ("case01", "case05")] == ["case01", "case05"]
        assert entries.get("nope") is None
    resumed = evaluate_pairing(pairing, Settings(jobs=1), journal=str(journal), resume=True)
    assert "5 case(s) taken from the journal, 0 to score" in resumed.notes[0]
    assert json_report.render_json(resumed) == json_report.render_json(clean)
    journal.write_bytes(b"\n".join(lines[:2] + [b"{torn", lines[3]]) + b"\n")
    with pytest.raises(InputError, match="line 3 is not a journal line of dice"):
        read_journal(str(journal), Settings(jobs=1))
    journal.write_bytes(b"\n".join(lines[:3] + [lines[3][:30]]))
    entries, notes = read_journal(str(journal), Settings(jobs=1))
    assert len(entries) == 3 and "the last line is incomplete" in notes[0]


def test_resumed_cases_come_back_in_name_order(tmp_path):
    """Cases taken from the journal come first, the rest after: the table sorts them back."""
    gt, pred = FIXTURES / "png2d" / "gt", FIXTURES / "png2d" / "pred"
    journal = tmp_path / "run.jsonl"
    first = run(gt, pred, "--format", "json", "-q", "--journal", journal)
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[2:4]) + "\n")  # case03 and case04 only
    again = run(gt, pred, "--format", "json", "-q", "--journal", journal, "--resume")
    assert again.exit_code == 0, again.stderr
    assert again.stdout == first.stdout
    assert [json.loads(line)["case"] for line in journal.read_text().splitlines()] == [
        "case03", "case04", "case01", "case02", "case05"]


def simulated_growth(n_cases: int) -> int:
    """Peak RSS growth (KiB) of a simulated run of n_cases cases, in a fresh process."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import memory
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    base, peak, _ = memory.simulated_run(n_cases, ["--format", "table"])
    return peak - base


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads /proc/self/statm")
def test_client_memory_is_flat_from_10k_to_100k_cases():
    """A real `dice score` process (pairing and per-case scoring replaced by stand-ins, see
    benchmarks/memory.py) writing JSON and CSV files and the table: 90,000 more cases may
    cost the columns a run keeps (about 300 bytes a case: counts, tables, names by reference) but
    no object per case (4.4 KB a case before: 400 MB more)."""
    small, large = simulated_growth(10_000), simulated_growth(100_000)
    per_case = (large - small) * 1024 / 90_000
    assert per_case < 1000, f"{per_case:.0f} bytes per case (growth {small} KiB -> {large} KiB)"


def test_journal_entries_tell_colliding_cases_apart_and_take_the_last_line(tmp_path, monkeypatch):
    """Entries are kept by the hash of the case: cases of equal hash are told apart by their lines,
    and of several lines of one case the last wins."""
    import dicecli.run.journal as journal_module

    path = tmp_path / "run.jsonl"
    fp = journal_module.fingerprint(Settings(jobs=1))
    lines = [{"v": 1, "case": case, "settings": fp, "result": {"n": n}}
             for case, n in (("a", 1), ("b", 2), ("a", 3), ("c", 4))]
    lines.insert(2, {"v": 1, "case": "c", "settings": fp, "error": {"case": "c", "path": None, "message": "x"}})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    monkeypatch.setattr(journal_module, "hash", lambda case: 7, raising=False)  # every case collides
    entries, notes = read_journal(str(path), Settings(jobs=1))
    with entries:
        assert [entries.get(c)["result"]["n"] for c in ("a", "b", "c")] == [3, 2, 4]
        assert entries.get("d") is None
    assert notes == []
