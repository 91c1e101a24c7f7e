"""CI gates: --min-dice / --gate-on, exit statuses, verdict messages, markdown and GitHub output.

The PNG set below is counted by hand (same cases as tests/test_cli.py):
  class 1: a 0.5 (tp 2, fp 2, fn 2), b 1.0, c 0.0 (pred empty)
           -> mean 0.5, median 0.5, min 0.0, pooled 2*8 / (2*8 + 2 + 4) = 16/22
  class 2: a both_empty, b 0.0 (only in pred, 3 px), c both_empty -> n 1, mean 0.0
"""

import numpy as np
import pytest

from helpers import png, run, strict_json
from dicecli.errors import ExitStatus
from dicecli.checks.gate import GateSpec, check_gate, clears, parse_min_dice
from dicecli.report.verdict import score

POOLED_1 = 16 / 22


def verdict(stderr):
    return [line for line in stderr.splitlines() if "gate" in line or line.startswith("dice:   ")]


# --- parsing ---------------------------------------------------------------------------------

@pytest.mark.parametrize("args, said", [
    (("--min-dice", "1.5"), "Invalid value for '--min-dice': a Dice bar must be between 0 and 1, got '1.5'"),
    (("--min-dice", "2=1.5"), "Invalid value for '--min-dice': class 2: a Dice bar must be between 0 and 1"),
    (("--threshold", "2=1.5"), "Invalid value for '--threshold': class 2: a threshold must be within [0, 1]"),
    (("--label-names", ""), "Invalid value for '--label-names': empty: give NAME=LABEL,... or a names file"),
    (("--label-names", "a=1.5"), "Invalid value for '--label-names': class a: expected a whole-number label"),
])
def test_a_bad_per_class_value_names_its_option_once(pngset, args, said):
    r = run(*pngset, *args)
    assert r.exit_code == ExitStatus.USAGE and said in r.output, r.output
    assert r.output.count(args[0]) == 1, r.output

def test_parse_min_dice_forms():
    assert parse_min_dice(["0.85"]) == (0.85, ())
    assert parse_min_dice(["liver=0.9,2=0.8"]) == (None, (("liver", 0.9), ("2", 0.8)))
    assert parse_min_dice(["0.8, 2=0.9"]) == (0.8, (("2", 0.9),))
    assert parse_min_dice(["0.8", "2=0.9", "3=1"]) == (0.8, (("2", 0.9), ("3", 1.0)))


@pytest.mark.parametrize("spec, reason", [
    ("1.5", "between 0 and 1"), ("abc", "expected a Dice bar"), ("0.5,0.6", "two defaults"),
    ("2=0.5,2=0.6", "given twice"), ("=0.5", "missing class"), ("2=", "expected a Dice bar"),
    ("nan", "between 0 and 1"), (",", "expected a Dice bar"),
])
def test_parse_min_dice_rejects(spec, reason):
    with pytest.raises(ValueError, match=reason):
        parse_min_dice([spec])


@pytest.mark.parametrize("args", [("--min-dice", "1.5"), ("--min-dice", "x=y"), ("--gate-on", "mean"),
                                  ("--min-dice", "0.5", "--gate-on", "best"), ("--max-drop", "0.1")])
def test_bad_gate_options_are_usage_errors(pngset, args):
    r = run(*pngset, *args)
    assert r.exit_code == ExitStatus.USAGE, r.output
    assert "Traceback" not in r.output


def test_clears_uses_a_rounding_tolerance_and_undefined_never_passes():
    assert clears(0.85 - 1e-12, 0.85) and clears(0.85, 0.85) and not clears(0.8499, 0.85)
    assert not clears(None, 0.0) and not clears(float("nan"), 0.0)
    assert np.mean([0.7, 1.0]) == 0.85 and clears(np.mean([0.8, 0.9, 0.85]), 0.85)


def test_displayed_value_never_contradicts_the_verdict():
    assert score(0.84996, 0.85, False) == "0.84996"
    assert score(0.5, 0.6, False) == "0.5000"
    assert score(None) == "undefined"


# --- pass and fail, every --gate-on mode -------------------------------------------------------

def test_pass_prints_one_line(pngset):
    r = run(*pngset, "--labels", "1", "--min-dice", "0.45")
    assert r.exit_code == ExitStatus.OK, r.stderr
    lines = verdict(r.stderr)
    assert lines == ["dice: gate passed: mean Dice >= bar for 1 class(es) (1: 0.5000 >= 0.45)"]
    assert "gate" not in r.stdout


def test_fail_on_mean_lists_classes_values_bars_and_worst_cases(pngset):
    r = run(*pngset, "--min-dice", "0.6")
    assert r.exit_code == ExitStatus.GATE_FAILED
    text = r.stderr
    assert "gate FAILED: 2 of 2 class(es) do not clear the bar (gate on mean Dice)" in text
    assert "class 1 mean Dice 0.5000 < 0.6 over 3 case(s); worst cases: c 0.0000, a 0.5000, b 1.0000" in text
    assert "class 2 mean Dice 0.0000 < 0.6 over 1 case(s), 2 both_empty left out; worst cases: b 0.0000" in text
    assert "gate" not in r.stdout and "Dice per class" in r.stdout


def test_per_class_bars_and_default(pngset):
    r = run(*pngset, "--min-dice", "0.5,2=0.1")
    assert r.exit_code == ExitStatus.GATE_FAILED
    assert "class 1" not in r.stderr.split("gate FAILED")[1]  # 0.5 >= 0.5 passes
    assert "class 2 mean Dice 0.0000 < 0.1" in r.stderr
    r = run(*pngset, "--min-dice", "1=0.5")  # only class 1 gated
    assert r.exit_code == ExitStatus.OK and "for 1 class(es) (1: 0.5000 >= 0.5)" in r.stderr


@pytest.mark.parametrize("gate_on, bar, value, passed", [
    ("median", "0.5", "0.5000", True),
    ("median", "0.6", "0.5000", False),
    ("pooled", "0.72", f"{POOLED_1:.4f}", True),
    ("pooled", "0.75", f"{POOLED_1:.4f}", False),
    ("min", "0", "0.0000", True),
    ("min", "0.1", "0.0000", False),
])
def test_statistic_modes(pngset, gate_on, bar, value, passed):
    r = run(*pngset, "--labels", "1", "--min-dice", bar, "--gate-on", gate_on)
    if passed:
        assert r.exit_code == ExitStatus.OK, r.stderr
        assert f"gate passed: {gate_on} Dice >= bar for 1 class(es) (1: {value} >= {bar})" in r.stderr
    else:
        assert r.exit_code == ExitStatus.GATE_FAILED, r.stderr
        assert f"class 1 {gate_on} Dice {value} < {bar}" in r.stderr
        assert "worst cases: c 0.0000, a 0.5000, b 1.0000" in r.stderr


def test_gate_on_cases_judges_every_defined_case(pngset):
    r = run(*pngset, "--min-dice", "0.4,2=0", "--gate-on", "cases")
    assert r.exit_code == ExitStatus.GATE_FAILED
    assert "gate FAILED: 1 of 2 class(es) do not clear the bar (gate on every case)" in r.stderr
    assert "class 1: 1 of 3 case(s) below 0.4 (lowest 0.0000); worst cases: c 0.0000" in r.stderr
    assert "a 0.5000" not in r.stderr  # only failing cases are listed
    # class 2: b (0.0) clears 0; a and c are both_empty: not judged, and counted
    r = run(*pngset, "--labels", "2", "--min-dice", "0", "--gate-on", "cases")
    assert r.exit_code == ExitStatus.OK
    assert "(2: lowest 0.0000 >= 0); 2 both_empty case score(s) not judged" in r.stderr
    r = run(*pngset, "--labels", "2", "--min-dice", "0.1", "--gate-on", "cases")
    assert r.exit_code == ExitStatus.GATE_FAILED
    assert "class 2: 1 of 1 case(s) below 0.1 (lowest 0.0000); worst cases: b 0.0000; " \
           "2 both_empty case(s) not judged" in r.stderr


# --- undefined values --------------------------------------------------------------------------

def test_undefined_statistic_fails(pngset):
    # label 3 is in no mask: every case both_empty, so its mean is undefined
    r = run(*pngset, "--labels", "1,3", "--min-dice", "0.1")
    assert r.exit_code == ExitStatus.GATE_FAILED
    assert "class 3 mean Dice undefined (no case with a defined Dice, 3 both_empty) < 0.1" in r.stderr
    assert "undefined counts as a failure" in r.stderr
    r = run(*pngset, "--labels", "3", "--min-dice", "0", "--gate-on", "cases")
    assert r.exit_code == ExitStatus.GATE_FAILED and "undefined" in r.stderr
    # --empty-both one defines them (Dice 1), so the same gate passes
    r = run(*pngset, "--labels", "3", "--min-dice", "0.1", "--empty-both", "one")
    assert r.exit_code == ExitStatus.OK


def test_class_named_but_absent_fails(pngset):
    r = run(*pngset, "--min-dice", "0,liver=0.9")
    assert r.exit_code == ExitStatus.GATE_FAILED
    assert "class liver is not in the run (bar 0.9): undefined counts as a failure" in r.stderr
    assert "1 of 3 class(es)" in r.stderr


def test_no_class_at_all_fails(tmp_path):
    png(tmp_path / "gt" / "x.png", np.zeros((3, 3)))
    png(tmp_path / "pred" / "x.png", np.zeros((3, 3)))
    r = run(tmp_path / "gt", tmp_path / "pred", "--min-dice", "0.5")
    assert r.exit_code == ExitStatus.GATE_FAILED and "no class to check" in r.stderr


def test_missing_as_empty_scores_zero_and_can_fail(pngset):
    gt, pred = pngset
    (pred / "b.png").unlink()
    # without the flag: an input error (exit 3), even though the gate would pass
    r = run(gt, pred, "--labels", "1", "--min-dice", "0.0")
    assert r.exit_code == ExitStatus.INPUT_ERROR
    assert "gate passed" in r.stderr
    assert "gate verdict incomplete: 1 case(s) could not be scored (input error, exit status 3)" in r.stderr
    # with it: b scores 0 -> class 1 mean (0.5 + 0 + 0) / 3
    r = run(gt, pred, "--labels", "1", "--min-dice", "0.45", "--missing-as-empty")
    assert r.exit_code == ExitStatus.GATE_FAILED
    assert "class 1 mean Dice 0.1667 < 0.45" in r.stderr


def test_input_error_wins_over_a_failed_gate(pngset):
    gt, pred = pngset
    (pred / "a.png").write_text("not a png")
    r = run(gt, pred, "--labels", "1", "--min-dice", "0.9")
    assert r.exit_code == ExitStatus.INPUT_ERROR
    # b 1.0, c 0.0 -> mean 0.5: the verdict is still printed, marked incomplete
    assert "class 1 mean Dice 0.5000 < 0.9" in r.stderr
    assert "gate verdict incomplete: 1 case(s) could not be scored" in r.stderr
    assert str(pred / "a.png") in r.stderr


def test_smoothing_warns_that_the_gate_uses_smoothed_values(pngset):
    r = run(*pngset, "--labels", "1", "--min-dice", "0.1", "--smooth", "1")
    assert "warning: the gate uses smoothed Dice values (--smooth 1), not exact Dice" in r.stderr
    assert "smoothed" not in run(*pngset, "--labels", "1", "--min-dice", "0.1").stderr


def test_quiet_still_prints_the_verdict(pngset):
    r = run(*pngset, "--min-dice", "0.6", "-q")
    assert r.exit_code == ExitStatus.GATE_FAILED and "gate FAILED" in r.stderr and "paired" not in r.stderr


# --- JSON, markdown and GitHub -----------------------------------------------------------------

def test_json_records_gate_settings_and_verdict(pngset):
    r = run(*pngset, "--min-dice", "0.4,2=0.1", "--gate-on", "mean", "--format", "json")
    assert r.exit_code == ExitStatus.GATE_FAILED
    doc = strict_json(r.stdout)
    assert doc["settings"]["gate"] == {"min_dice": {"default": 0.4, "classes": {"2": 0.1}}, "gate_on": "mean"}
    assert doc["settings"]["baseline"] is None
    gate = doc["gate"]
    assert gate["passed"] is False and gate["complete"] is True and gate["gate_on"] == "mean"
    assert gate["classes"]["1"]["value"] == pytest.approx(0.5) and gate["classes"]["1"]["bar"] == 0.4
    assert gate["classes"]["1"]["passed"] is True
    assert gate["classes"]["2"]["passed"] is False and gate["classes"]["2"]["n_undefined"] == 2
    assert gate["classes"]["1"]["worst_cases"][0] == {"case": "c", "dice": 0.0}
    no_gate = strict_json(run(*pngset, "--format", "json").stdout)
    assert no_gate["settings"]["gate"] is None and "gate" not in no_gate


def test_json_undefined_value_is_null(pngset):
    doc = strict_json(run(*pngset, "--labels", "3", "--min-dice", "0.5", "--format", "json").stdout)
    assert doc["gate"]["classes"]["3"]["value"] is None
    assert doc["gate"]["classes"]["3"]["reason"] == "undefined"


def test_markdown_format(pngset):
    r = run(*pngset, "--min-dice", "0.6", "--format", "markdown")
    assert r.exit_code == ExitStatus.GATE_FAILED
    md = r.stdout
    assert md.startswith("### Dice: FAILED")
    assert "| class | n | undefined | mean | median | min | pooled | bar | gate |" in md
    assert "| 1 | 3 | 0 | 0.5000 | 0.5000 | 0.0000 | 0.7273 | mean ≥ 0.6 | **FAIL** |" in md
    assert "worst cases: c 0.0000, a 0.5000, b 1.0000" in md
    assert run(*pngset, "--labels", "1", "--min-dice", "0.5", "--format", "markdown").stdout.startswith(
        "### Dice: passed")


def test_markdown_baseline_columns_are_over_the_paired_cases(pngset, tmp_path):
    # The baseline scored a and b only: class 1 was 0.5 and 1.0 there (mean 0.75), and is the same
    # now, so the change is 0 although this run's mean over a, b, c is 0.5.
    gt, pred = pngset
    two = tmp_path / "two"
    for side in ("gt", "pred"):
        (two / side).mkdir(parents=True)
        for case in ("a", "b"):
            (two / side / f"{case}.png").write_bytes((pngset[0 if side == "gt" else 1] / f"{case}.png").read_bytes())
    assert run(two / "gt", two / "pred", "--json", tmp_path / "base.json").exit_code == 0
    md = run(gt, pred, "--baseline", tmp_path / "base.json", "--format", "markdown").stdout
    assert "| paired cases | paired mean: baseline → now | change | regression |" in md
    assert "| 1 | 3 | 0 | 0.5000 | 0.5000 | 0.0000 | 0.7273 | 2 | 0.7500 → 0.7500 | +0.0000 | ok |" in md, md


def test_markdown_shows_names_as_written(pngset):
    """Names that GitHub would render as markup (an HTML tag, emphasis, a word-edge underscore)
    are escaped in the table and the verdict; markdown's own bold and comparisons are kept."""
    gt, pred = pngset
    for folder in (gt, pred):
        (folder / "c.png").rename(folder / "_c*.png")
    md = run(gt, pred, "--label-names", "<b>liver</b>=1,__sp__=2", "--min-dice", "0.6", "--format", "markdown").stdout
    assert "| \\<b>liver\\</b> | 3 | 0 | 0.5000 | 0.5000 | 0.0000 | 0.7273 | mean ≥ 0.6 | **FAIL** |" in md
    assert "| \\_\\_sp\\_\\_ | 1 | 2 |" in md  # every underscore of a run: "\\__sp_\\_" shows emphasis
    assert "  - class \\<b>liver\\</b> mean Dice 0.5000 < 0.6 over 3 case(s); worst cases: \\_c\\* 0.0000, a 0.5000" in md
    assert "<b>" not in md.replace("\\<b>", "")


def test_github_annotations_on_stderr_and_step_summary(pngset, tmp_path):
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    r = run(*pngset, "--min-dice", "0.6", "--format", "json", env=env)
    assert r.exit_code == ExitStatus.GATE_FAILED
    strict_json(r.stdout)  # stdout stays clean JSON
    errors = [l for l in r.stderr.splitlines() if l.startswith("::error")]
    assert errors == ["::error title=dice gate::class 1 mean Dice 0.5000 < 0.6",
                      "::error title=dice gate::class 2 mean Dice 0.0000 < 0.6"]
    text = summary.read_text()
    assert text.startswith("earlier step\n### Dice: FAILED") and "| 2 | 1 | 2 |" in text
    # outside GitHub Actions: no workflow commands
    assert "::error" not in run(*pngset, "--min-dice", "0.6").stderr


def test_annotation_escaping():
    from dicecli.report.github import command

    assert command("dice gate", "50% of\nit") == "::error title=dice gate::50%25 of%0Ait"
    assert command("a:b,c", "x") == "::error title=a%3Ab%2Cc::x"


def test_check_gate_api(pngset):
    from dicecli.run.evaluate import evaluate

    run_ = evaluate(*map(str, pngset), jobs=1)
    v = check_gate(run_, GateSpec.parse(["0.5"], gate_on="median"))
    assert v.passed is False and [c.key for c in v.failures] == ["2"]
    assert v.checks[0].value == 0.5 and v.checks[0].worst[0] == ("c", 0.0)


def test_a_run_without_gates_or_baseline_never_loads_the_check_modules():
    # Each run pays its imports (about 3 ms for each check module); a plain run needs neither.
    import subprocess
    import sys
    from pathlib import Path
    fixtures = Path(__file__).parent.parent / "fixtures" / "png2d"
    code = ("import sys; from dicecli.cli import main; sys.argv = ['dice', 'score', "
            f"{str(fixtures / 'gt')!r}, {str(fixtures / 'pred')!r}, '-j', '1', '--format', 'json']\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "loaded = sorted(m for m in sys.modules if m.startswith('dicecli.checks.'))\n"
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)
