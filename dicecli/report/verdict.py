"""The gate and baseline verdicts as plain text lines for stderr (also reused by other CI reporters)."""

from __future__ import annotations

from ..checks.baseline import BaselineVerdict, ClassDrop
from ..checks.gate import MAX_METRICS, MAX_WORST, METRIC_TEXT, TOLERANCE, ClassCheck, GateVerdict
from .text import names

MAX_PASSED_SHOWN = 10
STATISTIC_TEXT = {"mean": "mean Dice", "median": "median Dice", "pooled": "pooled Dice", "min": "min Dice",
                  "cases": "every case"}


def statistic_text(statistic: str, metric: str = "dice") -> str:
    """ "mean Dice", "median F1", "every case" (with its metric unless Dice: "every case's PQ")."""
    if metric == "dice":
        return STATISTIC_TEXT[statistic]
    if metric in MAX_METRICS and statistic == "min":
        return f"max {METRIC_TEXT[metric]}"  # the worst case of a distance is its largest value
    return f"every case's {METRIC_TEXT[metric]}" if statistic == "cases" else f"{statistic} {METRIC_TEXT[metric]}"


def _named(c: ClassCheck) -> str:
    """ "class 1", or "class 1 F1" for object gates."""
    return f"class {c.key}" if c.metric == "dice" else f"class {c.key} {METRIC_TEXT[c.metric]}"


def score(value: float | None, bar: float | None = None, passed: bool | None = None) -> str:
    """A Dice value with 4 decimals, more when 4 would contradict the verdict (0.84996 vs 0.85)."""
    if value is None:
        return "undefined"
    if bar is not None and passed is not None:
        for digits in range(4, 13):
            text = f"{value:.{digits}f}"
            if (float(text) >= bar - TOLERANCE) == passed:
                return text
        return repr(value)
    return f"{value:.4f}"


def bar_text(bar: float) -> str:
    return f"{bar:g}"


def _mm(c: ClassCheck) -> str:
    return " mm" if c.metric in MAX_METRICS else ""


def check_value(c: ClassCheck) -> str:
    if c.metric in MAX_METRICS:
        return "undefined" if c.value is None else f"{c.value:.4f} mm"
    return score(c.value, c.bar, c.passed)


def _compare(c: ClassCheck) -> tuple[str, str, str]:
    """(failing comparison, "below"/"above", "lowest"/"largest") for the check's metric."""
    return (">", "above", "largest") if c.metric in MAX_METRICS else ("<", "below", "lowest")


def _undefined(c: ClassCheck) -> str:
    return f"with {METRIC_TEXT[c.metric]} undefined (a mask empty)" if c.metric in MAX_METRICS else "both_empty"


def headline(c: ClassCheck) -> str:
    """One phrase for a failing class, e.g. "class 1 mean Dice 0.8100 < 0.85"."""
    op, side, extreme = _compare(c)
    bar = bar_text(c.bar) + _mm(c)
    if c.reason == "absent":
        return f"{_named(c)} is not in the run (bar {bar}): undefined counts as a failure"
    if c.value is None:
        return (f"class {c.key} {statistic_text(c.statistic, c.metric)} undefined (no case with a defined "
                f"{METRIC_TEXT[c.metric]}, {c.n_undefined} {_undefined(c)}) {op} {bar}: undefined counts as a "
                "failure")
    if c.statistic == "cases":
        return (f"{_named(c)}: {len(c.failing_cases)} of {c.n} case(s) {side} {bar} "
                f"({extreme} {check_value(c)})")
    return f"class {c.key} {statistic_text(c.statistic, c.metric)} {check_value(c)} {op} {bar}"


def worst_listed(c: ClassCheck) -> tuple[tuple[str, float], ...]:
    """The cases to show for a failing class: its lowest cases (under "cases": failing ones only)."""
    if c.statistic == "cases":
        sign = -1.0 if c.metric in MAX_METRICS else 1.0
        failing = sorted((sign * f.dice, f.case) for f in c.failing_cases if f.dice is not None)  # all defined
        return tuple((name, sign * value) for value, name in failing[:MAX_WORST])
    return c.worst


def _failure_line(c: ClassCheck) -> str:
    line = headline(c)
    if c.value is not None and c.statistic != "cases":
        line += f" over {c.n} case(s)"
        if c.n_undefined:
            line += f", {c.n_undefined} {_undefined(c)} left out"
    worst = worst_listed(c)
    if worst:
        line += "; worst cases: " + ", ".join(f"{name} {value:.4f}{_mm(c)}" for name, value in worst)
    if c.statistic == "cases" and c.n_undefined and c.value is not None:
        line += (f"; {c.n_undefined} both_empty case(s) not judged" if c.metric not in MAX_METRICS
                 else f"; {c.n_undefined} case(s) with a mask empty not judged")
    return line


def _pass_item(c: ClassCheck) -> str:
    key = c.key if c.metric == "dice" else f"{c.key} {METRIC_TEXT[c.metric]}"
    if c.metric in MAX_METRICS:
        extreme = "largest " if c.statistic == "cases" else ""
        return f"{key}: {extreme}{check_value(c)} <= {bar_text(c.bar)} mm"
    if c.statistic == "cases":
        return f"{key}: lowest {check_value(c)} >= {bar_text(c.bar)}"
    return f"{key}: {check_value(c)} >= {bar_text(c.bar)}"


def gate_lines(verdict: GateVerdict) -> list[str]:
    """The verdict block: every failing class with value, bar and worst cases; or one line on success."""
    what = ", ".join(statistic_text(verdict.spec.gate_on, spec.metric) for spec in verdict.all_specs)
    lines = []
    if verdict.smoothed:
        lines.append(f"warning: the gate uses smoothed Dice values (--smooth {verdict.smooth:g}), not exact Dice")
    if not verdict.checks:
        lines.append("gate FAILED: no class to check (the run found no class); nothing passes by default")
    elif verdict.passed:
        shown = [_pass_item(c) for c in verdict.checks[:MAX_PASSED_SHOWN]]
        more = len(verdict.checks) - len(shown)
        counted = "class(es)" if len(verdict.all_specs) == 1 else "check(s)"
        kinds = {c.metric in MAX_METRICS for c in verdict.checks}
        compare = ">= bar" if kinds == {False} else "<= bar" if kinds == {True} else "within its bar"
        line = (f"gate passed: {what} {compare} for {len(verdict.checks)} {counted} ("
                + ", ".join(shown) + (f", and {more} more" if more > 0 else "") + ")")
        undefined = sum(c.n_undefined for c in verdict.checks if c.metric not in MAX_METRICS) \
            if verdict.spec.gate_on == "cases" else 0
        if undefined:
            line += f"; {undefined} both_empty case score(s) not judged"
        distances = sum(c.n_undefined for c in verdict.checks if c.metric in MAX_METRICS)
        if distances:
            line += f"; {distances} case HD95 value(s) undefined (a mask empty), not judged"
        lines.append(line)
    else:
        failures = verdict.failures
        counted = "class(es)" if len(verdict.all_specs) == 1 else "check(s)"
        lines.append(f"gate FAILED: {len(failures)} of {len(verdict.checks)} {counted} do not clear the bar "
                     f"(gate on {what})")
        lines += ["  " + _failure_line(c) for c in failures]
    if not verdict.complete:
        lines.append(f"gate verdict incomplete: {verdict.n_unscored} case(s) could not be scored "
                     "(input error, exit status 3)")
    return lines


def drop_headline(c: ClassDrop, max_drop: float) -> str:
    if c.n == 0:
        return (f"class {c.key}: no case with a defined Dice in both runs ({c.n_undefined} undefined pair(s)): "
                "undefined counts as a failure")
    return (f"class {c.key} mean Dice {c.baseline_mean:.4f} -> {c.current_mean:.4f} "
            f"(drop {c.drop:.4f} > {bar_text(max_drop)}, {c.n} paired case(s))")


def baseline_lines(verdict: BaselineVerdict) -> list[str]:
    """The regression block: warnings, cases/classes in one run only, then the verdict."""
    lines = [f"warning: baseline {verdict.path}: {w}" for w in verdict.warnings]
    if verdict.only_in_run:
        lines.append(f"baseline: {len(verdict.only_in_run)} case(s) only in this run, not compared: "
                     f"{names(verdict.only_in_run)}")
    if verdict.only_in_baseline:
        lines.append(f"baseline: {len(verdict.only_in_baseline)} case(s) only in {verdict.path}, not compared: "
                     f"{names(verdict.only_in_baseline)}")
    if verdict.classes_only_in_run:
        lines.append(f"baseline: class(es) only in this run, not compared: {names(verdict.classes_only_in_run)}")
    if verdict.classes_only_in_baseline:
        lines.append(f"baseline: class(es) only in {verdict.path}, not compared: "
                     f"{names(verdict.classes_only_in_baseline)}")
    allowance = bar_text(verdict.max_drop)
    if not verdict.checks:
        lines.append(f"regression check FAILED: no class in common with {verdict.path}")
    elif verdict.passed:
        shown = [f"{c.key}: {c.baseline_mean:.4f} -> {c.current_mean:.4f}" for c in verdict.checks[:MAX_PASSED_SHOWN]]
        more = len(verdict.checks) - len(shown)
        lines.append(f"no regression against {verdict.path}: every class mean within --max-drop {allowance} ("
                     + ", ".join(shown) + (f", and {more} more" if more > 0 else "") + ")")
    else:
        failures = verdict.failures
        lines.append(f"regression against {verdict.path}: {len(failures)} of {len(verdict.checks)} class(es) "
                     f"fail (allowed drop of a class mean: {allowance})")
        for c in failures:
            line = "  " + drop_headline(c, verdict.max_drop)
            if c.worse:
                line += "; got worse most: " + ", ".join(f"{case} {x:.4f} -> {y:.4f}" for case, x, y in c.worse)
            lines.append(line)
    return lines
