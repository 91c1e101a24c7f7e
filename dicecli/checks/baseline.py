"""Regression checks against an earlier run's JSON report (``--baseline``, ``dice compare``).

A run is reduced to its per-case, per-class Dice (``RunScores``), read either
from a JSON report that ``dice score --format json`` wrote or from a scored run
in memory, so both commands pair the same way: by case name and class key.

Regression rule (``--baseline FILE --max-drop D``), per class present in both runs:
the mean Dice over cases present *and defined* in both runs may fall by at most D
(within ``TOLERANCE``). Cases in only one run are listed, never dropped silently;
pairs where one side is undefined are counted. A class in both runs with no
paired defined case fails as undefined; a class in only one run is reported.
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field
from typing import Mapping

from ..errors import InputError, os_reason

#: Settings that change the numbers; a difference gives a warning.
COMPARED_SETTINGS = ("threshold", "smooth", "empty_both")
TOLERANCE = 1e-9
MAX_WORST = 5


def class_order(key: str):
    """Sort key: numeric class keys by value, then named classes alphabetically."""
    try:
        return (0, float(key), key)
    except ValueError:
        return (1, 0.0, key)


@dataclass(frozen=True)
class RunScores:
    """Dice per case and class of one run. ``dice[case][key]`` is None where undefined."""

    source: str
    settings: Mapping
    dice: Mapping[str, Mapping[str, float | None]]
    classes: tuple[str, ...]
    #: class key -> the label values it holds (from ``settings.classes``; empty when unknown)
    labels: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def cases(self) -> tuple[str, ...]:
        return tuple(self.dice)


def _reject_constant(token):
    raise ValueError(f"non-standard JSON token {token}")


def _invalid(path: str, reason: str) -> InputError:
    return InputError(path, f"not a dice JSON report: {reason}")


def _read_text(path: str) -> str:
    """The text of a regular file (InputError otherwise). Opened without blocking, so a FIFO is
    refused instead of waiting forever for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except OSError as exc:
        raise InputError(path, f"cannot read ({os_reason(exc)})") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(path, "is a directory, expected a JSON report")
        if not stat.S_ISREG(mode):
            raise InputError(path, "not a regular file, expected a JSON report")
        try:
            return handle.read().decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid(path, "not UTF-8 text") from None
        except OSError as exc:
            raise InputError(path, f"cannot read ({os_reason(exc)})") from None


def read_scores(path: str) -> RunScores:
    """Read a JSON report written by ``dice score --format json`` (or ``--json``).

    Raises InputError naming ``path`` when the file cannot be read or is not such a report
    (including JSON nested too deeply for Python's parser).
    """
    path = str(path)
    text = _read_text(path)
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise _invalid(path, f"invalid JSON ({exc})") from None
    except RecursionError:
        raise _invalid(path, "JSON nested too deeply") from None
    return scores_from_record(doc, path)


def scores_from_record(doc, path: str) -> RunScores:
    """Validate a parsed JSON report and keep its Dice values."""
    if not isinstance(doc, dict) or not isinstance(doc.get("cases"), list):
        raise _invalid(path, "no 'cases' list")
    settings = doc["settings"] if isinstance(doc.get("settings"), dict) else {}
    dice: dict[str, dict[str, float | None]] = {}
    classes: set[str] = set()
    for i, case in enumerate(doc["cases"]):
        if not isinstance(case, dict) or not isinstance(case.get("case"), str):
            raise _invalid(path, f"cases[{i}] has no 'case' name")
        name = case["case"]
        if name in dice:
            raise _invalid(path, f"case '{name}' appears twice")
        if not isinstance(case.get("classes"), dict):
            raise _invalid(path, f"case '{name}' has no 'classes' object")
        row: dict[str, float | None] = {}
        for key, score in case["classes"].items():
            value = score.get("dice", "absent") if isinstance(score, dict) else "absent"
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0.0 <= value <= 1.0):
                raise _invalid(path, f"case '{name}' class {key}: 'dice' must be a number in [0, 1] or null")
            row[str(key)] = None if value is None else float(value)
            classes.add(str(key))
        dice[name] = row
    return RunScores(path, settings, dice, tuple(sorted(classes, key=class_order)), _class_labels(settings))


def _class_labels(settings: Mapping) -> dict[str, tuple[int, ...]]:
    """key -> label values of the report's ``settings.classes`` (entries that do not parse are skipped)."""
    out = {}
    for entry in settings.get("classes") or ():
        if isinstance(entry, dict) and isinstance(entry.get("labels"), list):
            labels = entry["labels"]
            if all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
                out[str(entry.get("key"))] = tuple(sorted(labels))
    return out


def scores_from_run(run, source: str = "this run") -> RunScores:
    """The Dice table of a scored run (a dicecli.run.evaluate.Evaluation)."""
    s = run.settings
    keys = list(run.keys)
    dice = {}
    for row, case in enumerate(run.cases.values("case")):  # names only: no case record made
        dice[case] = {
            key: (float(v) if math.isfinite(v) else None) for key, v in zip(keys, run.dice[row])
        }
    settings = {"threshold": s.threshold, "smooth": s.smooth, "empty_both": s.empty_both}
    labels = {spec.key: tuple(sorted(int(v) for v in spec.labels)) for spec in run.classes}
    return RunScores(source, settings, dice, tuple(sorted(keys, key=class_order)), labels)


def renamed_classes(a: RunScores, b: RunScores, only_a, only_b) -> list[str]:
    """One message per class of ``a`` not compared whose labels a class of ``b`` not compared holds
    under another key (``--label-names`` given to one run only, or different names)."""
    by_labels = {b.labels[key]: key for key in only_b if b.labels.get(key)}
    return [f"class {key} in {a.source} and class {by_labels[a.labels[key]]} in {b.source} hold the same "
            f"label(s) {', '.join(map(str, a.labels[key]))} under different names, so they are not compared: "
            "give both runs the same --label-names"
            for key in only_a if a.labels.get(key) in by_labels]


def settings_differences(a: RunScores, b: RunScores) -> list[str]:
    """One message per setting that shapes the numbers and differs (or is unknown) between runs."""
    out = []
    for name in COMPARED_SETTINGS:
        va, vb = a.settings.get(name, "unknown"), b.settings.get(name, "unknown")
        if va != vb:
            out.append(f"{name} differs: {va} in {a.source}, {vb} in {b.source}")
    return out


@dataclass(frozen=True)
class Pairs:
    """Paired Dice of one class: cases defined in both (sorted by name) and the rest."""

    key: str
    cases: tuple[str, ...]
    a: tuple[float, ...]
    b: tuple[float, ...]
    n_undefined: int  # cases in both runs where either Dice is undefined


def pair_class(a: RunScores, b: RunScores, key: str) -> Pairs:
    names, va, vb, undefined = [], [], [], 0
    for case in sorted(set(a.dice) & set(b.dice)):
        x, y = a.dice[case].get(key), b.dice[case].get(key)
        if x is None or y is None:
            undefined += 1
            continue
        names.append(case)
        va.append(x)
        vb.append(y)
    return Pairs(key, tuple(names), tuple(va), tuple(vb), undefined)


def only_in(a: RunScores, b: RunScores) -> tuple[str, ...]:
    """Cases of ``a`` missing from ``b``, sorted."""
    return tuple(sorted(set(a.dice) - set(b.dice)))


@dataclass(frozen=True)
class ClassDrop:
    """Baseline check of one class: mean over paired defined cases, before and now.

    drop = baseline_mean - current_mean (positive = worse). worse: up to
    MAX_WORST (case, baseline Dice, current Dice) that fell the most.
    """

    key: str
    n: int
    n_undefined: int
    baseline_mean: float | None
    current_mean: float | None
    drop: float | None
    max_drop: float
    passed: bool
    worse: tuple[tuple[str, float, float], ...] = ()

    @property
    def reason(self) -> str | None:
        return None if self.n else "undefined"


@dataclass(frozen=True)
class BaselineVerdict:
    """The regression check of a run against a baseline report."""

    path: str
    max_drop: float
    checks: tuple[ClassDrop, ...]
    only_in_run: tuple[str, ...]
    only_in_baseline: tuple[str, ...]
    classes_only_in_run: tuple[str, ...]
    classes_only_in_baseline: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def failures(self) -> tuple[ClassDrop, ...]:
        return tuple(c for c in self.checks if not c.passed)


def check_drop(pairs: Pairs, max_drop: float) -> ClassDrop:
    n = len(pairs.cases)
    if n == 0:
        return ClassDrop(pairs.key, 0, pairs.n_undefined, None, None, None, max_drop, False)
    base = sum(pairs.a) / n
    now = sum(pairs.b) / n
    drop = base - now
    fell = sorted((y - x, case, x, y) for case, x, y in zip(pairs.cases, pairs.a, pairs.b) if y < x)
    worse = tuple((case, x, y) for _, case, x, y in fell[:MAX_WORST])
    return ClassDrop(pairs.key, n, pairs.n_undefined, base, now, drop, max_drop,
                     drop <= max_drop + TOLERANCE, worse)


def check_baseline(run, baseline: RunScores, max_drop: float = 0.0) -> BaselineVerdict:
    """Compare a scored run with ``baseline`` class by class (see the module rules)."""
    current = scores_from_run(run)
    in_both = [key for key in current.classes if key in set(baseline.classes)]
    checks = tuple(check_drop(pair_class(baseline, current, key), max_drop) for key in in_both)
    only_run = tuple(k for k in current.classes if k not in set(baseline.classes))
    only_baseline = tuple(k for k in baseline.classes if k not in set(current.classes))
    return BaselineVerdict(
        path=baseline.source,
        max_drop=max_drop,
        checks=checks,
        only_in_run=only_in(current, baseline),
        only_in_baseline=only_in(baseline, current),
        classes_only_in_run=only_run,
        classes_only_in_baseline=only_baseline,
        warnings=tuple(settings_differences(baseline, current)
                       + renamed_classes(baseline, current, only_baseline, only_run)),
    )


def baseline_record(verdict: BaselineVerdict) -> dict:
    """JSON-ready form (the "baseline" object of the JSON report)."""
    return {
        "path": verdict.path,
        "max_drop": verdict.max_drop,
        "passed": verdict.passed,
        "classes": {
            c.key: {"n": c.n, "n_undefined": c.n_undefined, "baseline_mean": c.baseline_mean,
                    "current_mean": c.current_mean, "drop": c.drop, "passed": c.passed, "reason": c.reason,
                    "worse_cases": [{"case": case, "baseline": x, "current": y} for case, x, y in c.worse]}
            for c in verdict.checks
        },
        "cases_only_in_run": list(verdict.only_in_run),
        "cases_only_in_baseline": list(verdict.only_in_baseline),
        "classes_only_in_run": list(verdict.classes_only_in_run),
        "classes_only_in_baseline": list(verdict.classes_only_in_baseline),
        "warnings": list(verdict.warnings),
    }
