"""Quality gates for CI: does every class clear its Dice bar? (numpy only, no I/O)

A gate is a bar per class (``--min-dice``) and the statistic that must clear it
(``--gate-on``). Rules, documented in docs/ci.md and the man page:

- Classes are matched by key (the label name or region name, else str(label)),
  or by label value when the label has a name (``1=0.9`` gates "liver" = 1).
  A bare number is the bar of every class of the run; ``key=value`` overrides it.
- A statistic passes when value >= bar (within ``TOLERANCE``, so a mean that is
  0.85 up to float rounding clears 0.85).
- Undefined never passes: a class whose gated statistic is undefined (every case
  both_empty under ``--empty-both nan``) fails as "undefined", and a class named
  in the gate but absent from the run fails as "absent". A gate with no class to
  check fails too.
- ``gate_on="cases"``: every case with a defined Dice must clear the bar; cases
  with an undefined Dice (both masks empty) are not judged and are counted.
- Missing predictions never reach the gate: they are input errors, unless
  ``--missing-as-empty`` scored them as empty masks (Dice 0), which can fail it.
- ``--min-f1`` and ``--min-pq`` gate the object F1 and PQ of each class at the first IoU
  threshold in the same way (same ``--gate-on``); a case is undefined for them when it has no
  object on either side.
- ``--max-hd95`` bars (mm) are maxima: a class passes when its HD95 statistic is
  <= bar (within ``TOLERANCE``). ``--gate-on min`` then means the worst case,
  the largest HD95; HD95 has no pooled value. Cases whose HD95 is undefined (a
  mask empty, unless --empty-distance substitutes a value) are left out and counted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

GATE_ON = ("mean", "median", "pooled", "min", "cases")
#: Gated metrics: Dice per class, and the object scores at the first IoU threshold.
GATED = ("dice", "f1", "pq", "hd95")
METRIC_TEXT = {"dice": "Dice", "f1": "F1", "pq": "PQ", "hd95": "HD95"}
#: Gated metrics whose bar is a maximum (a distance in mm) rather than a minimum.
MAX_METRICS = ("hd95",)
#: Slack for float rounding when comparing a statistic with its bar.
TOLERANCE = 1e-9
#: Worst cases listed per failing class.
MAX_WORST = 5

ABSENT, UNDEFINED, EMPTY = "absent", "undefined", "no class"


def _bar(text: str, where: str, metric: str = "dice") -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: expected a{'n' if metric == 'f1' else ''} {METRIC_TEXT[metric]} bar between 0 "
                         f"and 1, got {text!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise ValueError(f"{where}: a{'n' if metric == 'f1' else ''} {METRIC_TEXT[metric]} bar must be between 0 and "
                         f"1, got {text!r}")
    return value


def parse_min_dice(specs: Iterable[str], metric: str = "dice") -> tuple[float | None, tuple[tuple[str, float], ...]]:
    """Parse ``--min-dice`` (or ``--min-f1``, ``--min-pq``) values: "0.85", "liver=0.9,2=0.8",
    "0.8,2=0.9" (repeatable).

    Returns (default bar or None, ((key, bar), ...) in the order given); keys are
    resolved against the run's classes by check_gate (label value or name).
    Raises ValueError (with a one-line reason) on bad syntax, a bar outside
    [0, 1], two defaults or a class given twice.
    """
    from ..core.keys import parse_keyed

    name = METRIC_TEXT[metric]
    return parse_keyed(specs, option=f"--min-{metric}", parse_value=lambda text, where: _bar(text, where, metric),
                       example=f"a{'n' if metric == 'f1' else ''} {name} bar such as 0.85 or 1=0.9")


@dataclass(frozen=True)
class GateSpec:
    """What must clear which bar. ``default`` applies to every class of the run not named."""

    default: float | None
    classes: tuple[tuple[str, float], ...] = ()
    gate_on: str = "mean"
    metric: str = "dice"

    def __post_init__(self):
        if self.gate_on not in GATE_ON:
            raise ValueError(f"gate_on must be one of {', '.join(GATE_ON)}")
        if self.metric not in GATED:
            raise ValueError(f"metric must be one of {', '.join(GATED)}")
        if self.default is None and not self.classes:
            raise ValueError("a gate needs a default bar or at least one class bar")
        if self.metric in MAX_METRICS and self.gate_on == "pooled":
            raise ValueError(f"{METRIC_TEXT[self.metric]} has no pooled value: gate on mean, median, min or cases")

    @classmethod
    def parse(cls, specs: Iterable[str], gate_on: str = "mean", metric: str = "dice") -> "GateSpec":
        default, classes = parse_min_dice(specs, metric)
        return cls(default, classes, gate_on, metric)

    def record(self) -> dict:
        if self.metric in MAX_METRICS:
            return {f"max_{self.metric}": {"default": self.default, "classes": dict(self.classes), "units": "mm"},
                    "gate_on": self.gate_on}
        return {f"min_{self.metric}": {"default": self.default, "classes": dict(self.classes)},
                "gate_on": self.gate_on}


@dataclass(frozen=True)
class CaseCheck:
    """One case under ``gate_on="cases"``; ``passed`` is None when its Dice is undefined."""

    case: str
    dice: float | None
    passed: bool | None


@dataclass(frozen=True)
class ClassCheck:
    """The gate outcome of one class.

    value: the gated statistic (for "cases": the lowest defined case Dice), None if undefined.
    reason: None, ABSENT (named but not in the run) or UNDEFINED (no defined value).
    worst: up to MAX_WORST (case, Dice) with the lowest defined Dice, worst first.
    n, n_undefined: cases with a defined / undefined Dice.
    cases: per-case checks (only under ``gate_on="cases"``).
    """

    key: str
    statistic: str
    bar: float
    value: float | None
    passed: bool
    reason: str | None = None
    worst: tuple[tuple[str, float], ...] = ()
    n: int = 0
    n_undefined: int = 0
    cases: tuple[CaseCheck, ...] = ()
    metric: str = "dice"

    @property
    def failing_cases(self) -> tuple[CaseCheck, ...]:
        return tuple(c for c in self.cases if c.passed is False)


@dataclass(frozen=True)
class GateVerdict:
    """Every class check, plus what limits the verdict.

    n_unscored: cases that could not be scored (input errors): the verdict is
    then incomplete and the exit status is 3, whatever the checks say.
    smooth: the ``--smooth`` the values were computed with (> 0: smoothed, not exact Dice).
    """

    spec: GateSpec
    checks: tuple[ClassCheck, ...]
    n_cases: int
    n_unscored: int = 0
    smooth: float = 0.0
    specs: tuple[GateSpec, ...] = ()

    @property
    def all_specs(self) -> tuple[GateSpec, ...]:
        """Every gate of the verdict (``--min-dice``, ``--min-f1``, ``--min-pq``)."""
        return self.specs or (self.spec,)

    @property
    def smoothed(self) -> bool:
        return self.smooth > 0 and any(spec.metric == "dice" for spec in self.all_specs)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def complete(self) -> bool:
        return self.n_unscored == 0

    @property
    def failures(self) -> tuple[ClassCheck, ...]:
        return tuple(c for c in self.checks if not c.passed)


def clears(value: float | None, bar: float) -> bool:
    """value >= bar up to float rounding; an undefined value never clears."""
    return value is not None and math.isfinite(value) and value >= bar - TOLERANCE


def within_max(value: float | None, bar: float) -> bool:
    """value <= bar up to float rounding (HD95 bars, mm); an undefined value never passes."""
    return value is not None and math.isfinite(value) and value <= bar + TOLERANCE


def passes(value: float | None, bar: float, metric: str = "dice") -> bool:
    """Does ``value`` meet ``metric``'s bar (a maximum for MAX_METRICS, else a minimum)?"""
    return within_max(value, bar) if metric in MAX_METRICS else clears(value, bar)


def worst_cases(names, values: np.ndarray, limit: int = MAX_WORST, *, largest: bool = False
                ) -> tuple[tuple[str, float], ...]:
    """The ``limit`` lowest (``largest``: highest) defined values as (case, value), ties broken by case name."""
    sign = -1.0 if largest else 1.0
    defined = [(sign * float(v), name) for name, v in zip(names, values) if math.isfinite(v)]
    defined.sort()
    return tuple((name, sign * value) for value, name in defined[:limit])


def gated_values(run, metric: str, column: int):
    """(per-case values, ClassSummary) of ``metric`` for class ``column`` (objects: at the first
    IoU threshold)."""
    if metric == "dice":
        return run.dice[:, column], run.summary.classes[column]
    if metric in MAX_METRICS:
        if metric not in run.metrics:
            raise ValueError(f"--max-{metric} needs --metrics {metric}")
        return run.metrics[metric][:, column], run.metric_summaries[metric][column]
    if run.objects is None:
        raise ValueError(f"--min-{metric} needs object scores (--instances or --connected-components)")
    return run.objects.scores[metric][:, column, 0], run.objects.summaries[metric][column][0]


def _check_class(key, column: int, run, spec: GateSpec, bar: float) -> ClassCheck:
    table, summary = gated_values(run, spec.metric, column)
    values = np.asarray(table, dtype=np.float64)
    names = run.cases.values("case")
    defined = np.isfinite(values)
    n, n_undefined = int(defined.sum()), int((~defined).sum())
    largest = spec.metric in MAX_METRICS  # the worst HD95 is the largest
    worst = worst_cases(names, values, largest=largest)
    common = dict(key=key, statistic=spec.gate_on, bar=bar, worst=worst, n=n, n_undefined=n_undefined,
                  metric=spec.metric)
    if spec.gate_on == "cases":
        cases = tuple(
            CaseCheck(name, float(v) if ok else None, passes(float(v), bar, spec.metric) if ok else None)
            for name, v, ok in zip(names, values, defined)
        )
        value = (float(values[defined].max()) if largest else float(values[defined].min())) if n else None
        passed = n > 0 and all(c.passed is not False for c in cases)
        return ClassCheck(value=value, passed=passed, reason=None if n else UNDEFINED, cases=cases, **common)
    value = summary.max if largest and spec.gate_on == "min" else getattr(summary, spec.gate_on)
    value = None if value is None or not math.isfinite(value) else float(value)
    return ClassCheck(value=value, passed=passes(value, bar, spec.metric),
                      reason=None if value is not None else UNDEFINED, **common)


def check_gate(run, spec: GateSpec) -> GateVerdict:
    """Judge a scored run (a dicecli.run.evaluate.Evaluation) against ``spec``.

    Classes are checked in run order, then classes named in the gate but absent
    from the run (each fails with reason ABSENT).
    """
    from ..core.classes import resolve_class

    named, absent = {}, []
    for key, bar in spec.classes:
        found = resolve_class(key, run.classes)
        if found is None:
            absent.append((key, bar))
        else:
            named[found] = bar
    checks = []
    for column, key in enumerate(run.keys):
        class_bar = named.get(key, spec.default)
        if class_bar is not None:
            checks.append(_check_class(key, column, run, spec, class_bar))
    for key, bar in absent:
        checks.append(ClassCheck(key=key, statistic=spec.gate_on, bar=bar, value=None, passed=False,
                                 reason=ABSENT, metric=spec.metric))
    return GateVerdict(spec=spec, checks=tuple(checks), n_cases=len(run.cases), n_unscored=len(run.errors),
                       smooth=float(run.settings.smooth))


def check_gates(run, specs) -> GateVerdict:
    """Judge a run against several gates (one per gated metric); one verdict holds every check,
    Dice checks first."""
    specs = tuple(specs)
    verdicts = [check_gate(run, spec) for spec in specs]
    checks = tuple(c for v in verdicts for c in v.checks)
    return GateVerdict(spec=specs[0], checks=checks, n_cases=len(run.cases), n_unscored=len(run.errors),
                       smooth=float(run.settings.smooth), specs=specs)


def specs_record(specs) -> dict:
    """The gate settings of several gates, as JSON-ready data (settings.gate)."""
    out: dict = {}
    for spec in specs:
        out.update(spec.record())
    return out


def verdict_record(verdict: GateVerdict) -> dict:
    """The verdict as JSON-ready data (the "gate" object of the JSON report)."""
    by_metric: dict[str, dict] = {spec.metric: {} for spec in verdict.all_specs}
    for c in verdict.checks:
        item = {"statistic": c.statistic, "value": c.value, "bar": c.bar, "passed": c.passed,
                "reason": c.reason, "n": c.n, "n_undefined": c.n_undefined,
                "worst_cases": [{"case": name, c.metric: value} for name, value in c.worst]}
        if verdict.spec.gate_on == "cases":
            item["failing_cases"] = [{"case": f.case, c.metric: f.dice} for f in c.failing_cases]
        by_metric.setdefault(c.metric, {})[c.key] = item
    out = {
        "passed": verdict.passed,
        "complete": verdict.complete,
        "n_unscored": verdict.n_unscored,
        "gate_on": verdict.spec.gate_on,
        "smoothed": verdict.smoothed,
        "classes": by_metric.pop("dice", {}),  # the Dice gate's classes, as before
    }
    out.update({metric: {"classes": classes} for metric, classes in by_metric.items()})
    return out
