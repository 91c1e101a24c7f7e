"""JUnit XML for CI test reporters (GitLab, Jenkins, GitHub): one testcase per check.

Shape: <testsuites><testsuite name="dice"> with
- classname "dice.gate": one testcase per class gate ("class 1: mean >= 0.85"), and under
  ``--gate-on cases`` one per (class, case) ("class 1: case ct_01 >= 0.85"); a case whose
  Dice is undefined (both masks empty) is <skipped>;
- classname "dice.baseline": one per class regression check ("class 1: mean drop <= 0.01");
- classname "dice.input": one per case that could not be scored, as <error> (an input
  error is never reported as a quality <failure>).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..checks.baseline import BaselineVerdict
from ..checks.gate import MAX_METRICS, METRIC_TEXT, GateVerdict
from .verdict import bar_text, check_value, drop_headline, headline, score, worst_listed

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(text) -> str:
    """Text with characters XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", str(text))


class _Suite:
    def __init__(self):
        self.cases: list[ET.Element] = []
        self.failures = self.errors = self.skipped = 0

    def add(self, classname: str, name: str, *, failure: tuple[str, str] | None = None,
            error: tuple[str, str] | None = None, skipped: str | None = None, output: str | None = None):
        case = ET.Element("testcase", classname=classname, name=_clean(name), time="0")
        if failure:
            self.failures += 1
            node = ET.SubElement(case, "failure", message=_clean(failure[0]), type="DiceGateFailure")
            node.text = _clean(failure[1])
        if error:
            self.errors += 1
            node = ET.SubElement(case, "error", message=_clean(error[0]), type="DiceInputError")
            node.text = _clean(error[1])
        if skipped is not None:
            self.skipped += 1
            ET.SubElement(case, "skipped", message=_clean(skipped))
        if output:
            ET.SubElement(case, "system-out").text = _clean(output)
        self.cases.append(case)


def _gate_cases(suite: _Suite, verdict: GateVerdict) -> None:
    stat = verdict.spec.gate_on
    for c in verdict.checks:
        maximum = c.metric in MAX_METRICS  # HD95: the bar is a maximum in mm
        op, unit = ("<=", " mm") if maximum else (">=", "")
        what = "every case" if stat == "cases" else ("max" if maximum and stat == "min" else stat)
        if c.metric != "dice":
            what += f" {METRIC_TEXT[c.metric]}"
        name = f"class {c.key}: {what} {op} {bar_text(c.bar)}{unit}"
        worst = "\n".join(f"{case}: {value:.4f}{unit}" for case, value in worst_listed(c))
        details = f"value: {check_value(c)}\nbar: {bar_text(c.bar)}{unit}\n"
        empty = "a mask empty" if maximum else "both_empty"
        details += f"cases with a defined {METRIC_TEXT[c.metric]}: {c.n}\nundefined ({empty}): {c.n_undefined}\n"
        if worst:
            details += f"worst cases:\n{worst}\n"
        if c.passed:
            suite.add("dice.gate", name, output=details)
        else:
            suite.add("dice.gate", name, failure=(headline(c), details))
        for case in c.cases:
            label = "" if c.metric == "dice" else " " + METRIC_TEXT[c.metric]
            case_name = f"class {c.key}: case {case.case}{label} {op} {bar_text(c.bar)}{unit}"
            shown = (lambda ok: f"{case.dice:.4f} mm") if maximum else (lambda ok: score(case.dice, c.bar, ok))  # noqa: B023 (called in this iteration)
            if case.passed is None:
                why = "a mask empty" if maximum else "both masks empty"
                suite.add("dice.gate", case_name, skipped=f"{why}: {METRIC_TEXT[c.metric]} undefined, not judged")
            elif case.passed:
                suite.add("dice.gate", case_name, output=f"{METRIC_TEXT[c.metric]} {shown(True)}")
            else:
                text = (f"class {c.key} case {case.case} {METRIC_TEXT[c.metric]} {shown(False)} "
                        f"{'>' if maximum else '<'} {bar_text(c.bar)}{unit}")
                suite.add("dice.gate", case_name, failure=(text, text))


def _baseline_cases(suite: _Suite, verdict: BaselineVerdict) -> None:
    for c in verdict.checks:
        name = f"class {c.key}: mean drop <= {bar_text(verdict.max_drop)}"
        details = f"baseline: {verdict.path}\npaired cases: {c.n}\nundefined pairs: {c.n_undefined}\n"
        if c.n:
            details += f"baseline mean: {c.baseline_mean:.6f}\ncurrent mean: {c.current_mean:.6f}\n"
            details += f"drop: {c.drop:.6f}\n"
        if c.worse:
            details += "got worse most:\n" + "\n".join(f"{case}: {x:.4f} -> {y:.4f}" for case, x, y in c.worse)
        if c.passed:
            suite.add("dice.baseline", name, output=details)
        else:
            suite.add("dice.baseline", name, failure=(drop_headline(c, verdict.max_drop), details))


def render_junit(run, gate: GateVerdict | None = None, baseline: BaselineVerdict | None = None) -> str:
    """The checks of a scored run as a JUnit XML document (UTF-8 text with a declaration)."""
    suite = _Suite()
    if gate is not None:
        _gate_cases(suite, gate)
        if not gate.checks:
            suite.add("dice.gate", "gate has a class to check",
                      failure=("no class to check", "the run found no class; nothing passes by default"))
    if baseline is not None:
        _baseline_cases(suite, baseline)
        if not baseline.checks:
            suite.add("dice.baseline", "baseline has a class in common",
                      failure=("no class in common", f"no class in common with {baseline.path}"))
    for error in run.errors:
        suite.add("dice.input", f"case {error.case or error.path}: scored",
                  error=("could not be scored: input error", error.message))
    counts = {"tests": str(len(suite.cases)), "failures": str(suite.failures), "errors": str(suite.errors)}
    root = ET.Element("testsuites", {"name": "dice", **counts, "time": "0"})
    testsuite = ET.SubElement(root, "testsuite", {"name": "dice", **counts, "skipped": str(suite.skipped), "time": "0"})
    properties = ET.SubElement(testsuite, "properties")
    s = run.settings
    for key, value in (("metric", "hard_dice"), ("threshold", s.threshold), ("smooth", s.smooth),
                       ("empty_both", s.empty_both), ("cases", len(run.cases))):
        ET.SubElement(properties, "property", name=key, value=_clean(value))
    testsuite.extend(suite.cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
