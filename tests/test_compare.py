"""Regression checks (--baseline, --max-drop) and `dice compare`.

Baselines and compared reports are written by hand here; expected numbers come from
hand arithmetic or scipy, never from running dice. The PNG set (see tests/test_gate.py)
scores class 1: a 0.5, b 1.0, c 0.0 and class 2: a undefined, b 0.0, c undefined.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import run, strict_json

from dicecli.checks.baseline import read_scores
from dicecli.cli import main
from dicecli.errors import ExitStatus, InputError

scipy_stats = pytest.importorskip("scipy.stats")

SETTINGS = {"threshold": 0.5, "smooth": 0.0, "empty_both": "nan"}


def report(path, dice_by_case, settings=SETTINGS):
    """Write a minimal JSON report: {case: {class: dice or None}}."""
    doc = {"schema": 1, "settings": dict(settings),
           "cases": [{"case": case, "classes": {k: {"dice": v} for k, v in classes.items()}}
                     for case, classes in dice_by_case.items()]}
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def baseline(tmp_path):
    # class 1 was a 0.6, b 1.0, c 0.2 (mean 0.6 over a, b, c; now 0.5: drop 0.1); d only here
    return report(tmp_path / "base.json", {
        "a": {"1": 0.6, "2": None}, "b": {"1": 1.0, "2": 0.0}, "c": {"1": 0.2, "2": None},
        "d": {"1": 0.9, "2": None},
    })


# --- --baseline ------------------------------------------------------------------------------

def test_regression_fails_and_lists_cases_that_got_worse(pngset, baseline):
    r = run(*pngset, "--baseline", baseline, "--max-drop", "0.05")
    assert r.exit_code == ExitStatus.GATE_FAILED, r.stderr
    err = r.stderr
    assert f"regression against {baseline}: 1 of 2 class(es) fail (allowed drop of a class mean: 0.05)" in err
    assert ("class 1 mean Dice 0.6000 -> 0.5000 (drop 0.1000 > 0.05, 3 paired case(s)); "
            "got worse most: c 0.2000 -> 0.0000, a 0.6000 -> 0.5000") in err
    assert f"1 case(s) only in {baseline}, not compared: d" in err


def test_regression_within_allowance_passes(pngset, baseline):
    # drop 0.1 exactly (0.6000000000000001 - 0.5 in floats): within --max-drop 0.1
    r = run(*pngset, "--baseline", baseline, "--max-drop", "0.1")
    assert r.exit_code == ExitStatus.OK, r.stderr
    assert f"no regression against {baseline}: every class mean within --max-drop 0.1" in r.stderr
    assert "1: 0.6000 -> 0.5000" in r.stderr


def test_default_allowance_is_zero(pngset, tmp_path):
    same = report(tmp_path / "same.json", {"a": {"1": 0.5}, "b": {"1": 1.0}, "c": {"1": 0.0}})
    assert run(*pngset, "--baseline", same).exit_code == ExitStatus.OK
    better = report(tmp_path / "better.json", {"a": {"1": 0.5}, "b": {"1": 1.0}, "c": {"1": 0.01}})
    r = run(*pngset, "--baseline", better)
    assert r.exit_code == ExitStatus.GATE_FAILED
    assert "drop 0.0033 > 0, 3 paired case(s)" in r.stderr  # (0.5 + 1 + 0.01) / 3 - (0.5 + 1 + 0) / 3


def test_a_class_renamed_in_one_run_only_is_named_in_a_warning(pngset, tmp_path):
    # The baseline keys label 1 as "1"; this run names it "liver": the gate cannot pair them by key.
    base = tmp_path / "base.json"
    assert run(*pngset, "--json", base).exit_code == ExitStatus.OK
    r = run(*pngset, "--label-names", "liver=1", "--baseline", base, "--format", "json")
    assert r.exit_code == ExitStatus.OK, r.stderr
    said = f"class 1 in {base} and class liver in this run hold the same label(s) 1 under different names"
    assert f"warning: baseline {base}: {said}" in r.stderr
    assert any(said in w for w in strict_json(r.stdout)["baseline"]["warnings"])
    assert "under different names" not in run(*pngset, "--baseline", base).stderr


def test_cases_only_in_this_run_and_undefined_pairs(pngset, tmp_path):
    base = report(tmp_path / "b.json", {"a": {"1": 0.5, "2": 0.7}, "b": {"1": 1.0, "2": 0.0}})
    r = run(*pngset, "--baseline", base, "--format", "json")
    assert r.exit_code == ExitStatus.OK, r.stderr
    assert "1 case(s) only in this run, not compared: c" in r.stderr
    b = strict_json(r.stdout)["baseline"]
    assert b["cases_only_in_run"] == ["c"] and b["cases_only_in_baseline"] == []
    assert b["classes"]["2"]["n"] == 1 and b["classes"]["2"]["n_undefined"] == 1  # a undefined now
    assert b["classes"]["1"] == {"n": 2, "n_undefined": 0, "baseline_mean": 0.75, "current_mean": 0.75,
                                 "drop": 0.0, "passed": True, "reason": None, "worse_cases": []}
    assert strict_json(r.stdout)["settings"]["baseline"] == {"path": str(base), "max_drop": 0.0}


def test_class_without_paired_values_fails_as_undefined(pngset, tmp_path):
    base = report(tmp_path / "b.json", {"a": {"1": 0.5, "2": 0.3}, "b": {"1": 1.0, "2": None},
                                        "c": {"1": 0.0, "2": 0.9}, "x": {"7": 0.5}})
    r = run(*pngset, "--baseline", base)
    assert r.exit_code == ExitStatus.GATE_FAILED
    assert "class 2: no case with a defined Dice in both runs (3 undefined pair(s))" in r.stderr
    assert f"class(es) only in {base}, not compared: 7" in r.stderr


def test_different_settings_warn(pngset, tmp_path):
    base = report(tmp_path / "b.json", {"a": {"1": 0.5}, "b": {"1": 1.0}, "c": {"1": 0.0}},
                  settings={"threshold": 0.4, "smooth": 0.0, "empty_both": "one"})
    r = run(*pngset, "--baseline", base)
    assert r.exit_code == ExitStatus.OK
    assert f"warning: baseline {base}: threshold differs: 0.4 in {base}, 0.5 in this run" in r.stderr
    assert "empty_both differs: one" in r.stderr and "smooth differs" not in r.stderr


def test_baseline_written_by_dice_itself_round_trips(pngset, tmp_path):
    out = tmp_path / "previous.json"
    assert run(*pngset, "--json", out).exit_code == 0
    r = run(*pngset, "--baseline", out, "--min-dice", "0")
    assert r.exit_code == ExitStatus.OK and "no regression" in r.stderr
    assert "warning: baseline" not in r.stderr


@pytest.mark.parametrize("content, reason", [
    (None, "no such file"),
    ("{not json", "invalid JSON"),
    ('{"cases": {}}', "no 'cases' list"),
    ('{"cases": [{"case": "a", "classes": {"1": {"dice": 1.5}}}]}', "a number in [0, 1] or null"),
    ('{"cases": [{"case": "a", "classes": {"1": {"dice": NaN}}}]}', "invalid JSON"),
    ('{"cases": [{"case": "a", "classes": {}}, {"case": "a", "classes": {}}]}', "appears twice"),
])
def test_unusable_baseline_is_an_input_error_naming_the_file(pngset, tmp_path, content, reason):
    path = tmp_path / "base.json"
    if content is not None:
        path.write_text(content)
    r = run(*pngset, "--baseline", path)
    assert r.exit_code == ExitStatus.INPUT_ERROR
    lines = [l for l in r.stderr.splitlines() if "error" in l]
    assert len(lines) == 1 and str(path) in lines[0] and reason in lines[0]
    assert "Traceback" not in r.stderr and "regression" not in r.stderr
    with pytest.raises(InputError):
        read_scores(str(path))


def test_refuses_to_overwrite_the_baseline(pngset, baseline):
    before = baseline.read_text()
    r = run(*pngset, "--baseline", baseline, "--json", baseline)
    assert r.exit_code == ExitStatus.USAGE and "over an input" in r.stderr
    assert baseline.read_text() == before


def test_baseline_and_gate_together(pngset, baseline):
    r = run(*pngset, "--labels", "1", "--min-dice", "0.4", "--baseline", baseline, "--max-drop", "0.05",
            "--format", "json")
    assert r.exit_code == ExitStatus.GATE_FAILED
    doc = strict_json(r.stdout)
    assert doc["gate"]["passed"] is True and doc["baseline"]["passed"] is False
    assert doc["baseline"]["classes"]["1"]["drop"] == pytest.approx(0.1)
    assert doc["baseline"]["classes"]["1"]["worse_cases"][0] == {"case": "c", "baseline": 0.2, "current": 0.0}


def test_github_annotation_for_regression(pngset, baseline):
    r = run(*pngset, "--baseline", baseline, "--max-drop", "0.05", env={"GITHUB_ACTIONS": "true"})
    assert "::error title=dice baseline::class 1 mean Dice 0.6000 -> 0.5000 (drop 0.1000 > 0.05, " \
           "3 paired case(s))" in r.stderr


# --- dice compare ------------------------------------------------------------------------------

def compare(*args):
    return CliRunner().invoke(main, ["compare", *map(str, args)])


A = [0.80, 0.70, 0.90, 0.60, 0.85, 0.75, 0.50, 0.95, 0.65, 0.88, 0.72, 0.40]
D = [0.05, 0.02, -0.03, 0.10, 0.01, 0.04, 0.08, -0.09, 0.06, 0.00, 0.07, 0.15]  # no ties among |d|


@pytest.fixture
def two_reports(tmp_path):
    a = {f"case{i:02d}": {"1": v} for i, v in enumerate(A)}
    b = {f"case{i:02d}": {"1": round(v + d, 10)} for i, (v, d) in enumerate(zip(A, D))}
    a["case00"]["2"], b["case00"]["2"] = 0.5, 0.6
    a["case01"]["2"], b["case01"]["2"] = None, 0.4   # undefined in a: not paired, counted
    a["only_a"] = {"1": 0.1}
    b["only_b"] = {"1": 0.9}
    return report(tmp_path / "a.json", a), report(tmp_path / "b.json", b)


def test_compare_json_statistics_match_scipy(two_reports):
    r = compare(*two_reports, "--format", "json")
    assert r.exit_code == 0, r.output
    doc = strict_json(r.stdout)
    assert doc["difference"] == "b - a"
    c1 = doc["classes"]["1"]
    d = np.array(D)
    assert c1["n"] == 12 and c1["n_undefined"] == 0
    assert c1["mean_difference"] == pytest.approx(d.mean())
    assert c1["mean_a"] == pytest.approx(np.mean(A)) and c1["mean_b"] == pytest.approx(np.mean(A) + d.mean())
    assert (c1["n_better"], c1["n_worse"], c1["n_equal"]) == (9, 2, 1)
    # sign test: 9 of 11 non-zero positive -> 2 * (1 + 11 + 55) / 2**11
    assert c1["sign_test_p"] == pytest.approx(2 * 67 / 2048)
    assert c1["sign_test_p"] == pytest.approx(scipy_stats.binomtest(9, 11).pvalue)
    # Wilcoxon, zero dropped, 11 untied -> exact
    w = scipy_stats.wilcoxon(d, zero_method="wilcox", method="exact")
    assert c1["wilcoxon"]["method"] == "exact" and c1["wilcoxon"]["n"] == 11
    assert c1["wilcoxon"]["p"] == pytest.approx(w.pvalue)
    # bootstrap: the documented procedure on b - a rounded to 12 decimals, cases in name order
    paired = np.round(np.array([round(v + x, 10) for v, x in zip(A, D)]) - np.array(A), 12)
    assert np.allclose(paired, d, atol=1e-15)
    rng = np.random.default_rng(0)
    means = paired[rng.integers(0, 12, size=(10_000, 12))].mean(axis=1)
    assert c1["ci95"] == pytest.approx(list(np.quantile(means, [0.025, 0.975])))
    assert doc["cases_only_in_a"] == ["only_a"] and doc["cases_only_in_b"] == ["only_b"]
    c2 = doc["classes"]["2"]
    # case01 is undefined in a; the 10 other shared cases have no class 2 entry: undefined too
    assert c2["n"] == 1 and c2["n_undefined"] == 11 and c2["mean_difference"] == pytest.approx(0.1)
    assert c2["ci95"] == pytest.approx([0.1, 0.1])


def test_compare_uses_normal_approximation_with_ties(tmp_path):
    d = [0.1, 0.1, -0.1, 0.2, 0.3, 0.0, 0.2, 0.1]  # ties among |d|
    a = report(tmp_path / "a.json", {f"c{i}": {"1": 0.5} for i in range(len(d))})
    b = report(tmp_path / "b.json", {f"c{i}": {"1": 0.5 + x} for i, x in enumerate(d)})
    doc = strict_json(compare(a, b, "--format", "json").stdout)
    w = doc["classes"]["1"]["wilcoxon"]
    diffs = np.array(d)  # 0.6 - 0.5 and 0.5 + 0.1 - 0.5 differ in float; dice rounds them to tie
    expected = scipy_stats.wilcoxon(diffs, zero_method="wilcox", method="approx", correction=False)
    assert w["method"] == "normal approximation, tie-corrected" and w["n"] == 7
    assert w["p"] == pytest.approx(expected.pvalue)


def test_compare_table_states_methods_and_one_sided_cases(two_reports):
    r = compare(*two_reports)
    assert r.exit_code == 0
    out = r.stdout
    assert "Paired Dice differences b - a" in out and "exact" in out
    assert "normal approximation with tie correction" in out
    assert f"1 case(s) only in {two_reports[0]}, not compared: only_a" in out
    assert f"1 case(s) only in {two_reports[1]}, not compared: only_b" in out
    assert "+0.0383" in out  # mean difference 0.46 / 12


def test_compare_undefined_statistics_are_null(tmp_path):
    a = report(tmp_path / "a.json", {"x": {"1": 0.5}, "y": {"1": None}})
    b = report(tmp_path / "b.json", {"x": {"1": 0.5}, "y": {"1": 0.2}}, settings={**SETTINGS, "smooth": 1.0})
    r = compare(a, b, "--format", "json")
    c = strict_json(r.stdout)["classes"]["1"]
    assert c["n"] == 1 and c["sign_test_p"] is None and c["wilcoxon"]["p"] is None
    assert "warning: smooth differs: 0.0 in" in r.stderr


def test_compare_unreadable_file_exit_3(tmp_path, two_reports):
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    for other in (bad, tmp_path / "absent.json"):
        r = compare(two_reports[0], other)
        assert r.exit_code == ExitStatus.INPUT_ERROR
        assert str(other) in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert compare(two_reports[0]).exit_code == ExitStatus.USAGE


def test_compare_counts_a_case_undefined_in_both_files_as_undef(tmp_path):
    """undef counts the shared cases undefined in a, in b or in both (the legend says so)."""
    a = report(tmp_path / "a.json", {"p": {"1": None}, "q": {"1": None}, "r": {"1": 0.5}})
    b = report(tmp_path / "b.json", {"p": {"1": None}, "q": {"1": 0.4}, "r": {"1": 0.7}})
    r = CliRunner().invoke(main, ["compare", str(a), str(b), "--format", "json"])
    assert strict_json(r.stdout)["classes"]["1"]["n"] == 1
    assert strict_json(r.stdout)["classes"]["1"]["n_undefined"] == 2  # p in both, q in a only
    table = CliRunner().invoke(main, ["compare", str(a), str(b)]).stdout
    assert "undef: in both, undefined in a, b or both;" in table
