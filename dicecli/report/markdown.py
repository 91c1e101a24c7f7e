"""GitHub-flavoured Markdown for pull-request comments and job summaries: table + verdict."""

from __future__ import annotations

import math
import re

from ..checks.baseline import BaselineVerdict
from ..checks.gate import GateVerdict
from .settings_text import settings_line
from .verdict import bar_text, baseline_lines, gate_lines


#: What GitHub would read as markup in a name: backslash, code, emphasis, links, strikethrough,
#: an HTML tag or comment, an entity, and an underscore at either end of a word.
_MARKUP = re.compile(r"[\\`*\[\]~]|<(?=[A-Za-z/!?])|&(?=#?\w+;)|(?<![^\W_])_|_(?![^\W_])")


def _text(text) -> str:
    """A case or class name (or a line naming them) shown as written, never as markup."""
    return _MARKUP.sub(lambda m: "\\" + m.group(0), str(text)).replace("\n", " ")


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.4f}"


def _settings(run) -> str:
    return f"{settings_line(run)} · {len(run.cases)} case(s) scored, {len(run.errors)} could not be scored"


def render_markdown(run, gate: GateVerdict | None = None, baseline: BaselineVerdict | None = None) -> str:
    """A heading with the verdict, the per-class table (with bars when gated), details and settings."""
    failed = (gate is not None and not gate.passed) or (baseline is not None and not baseline.passed)
    if run.errors:
        status = f"incomplete: {len(run.errors)} case(s) could not be scored"
    elif gate is None and baseline is None:
        status = "no gate"
    else:
        status = "FAILED" if failed else "passed"
    lines = [f"### Dice: {status}", ""]
    checks = {c.key: c for c in gate.checks if c.metric == "dice"} if gate else {}  # F1/PQ gates: in the details
    drops = {c.key: c for c in baseline.checks} if baseline else {}
    header = ["class", "n", "undefined", "mean", "median", "min", "pooled"]
    if gate:
        header += ["bar", "gate"]
    if baseline:
        header += ["paired cases", "paired mean: baseline → now", "change", "regression"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(":--" if i == 0 else "--:" for i in range(len(header))) + "|")
    keys = list(run.keys)
    for key, s in zip(keys, run.summary.classes):
        row = [_text(key), s.n, s.n_undefined, _fmt(s.mean), _fmt(s.median), _fmt(s.min), _fmt(s.pooled)]
        if gate:
            c = checks.get(key)
            row += ["", ""] if c is None else [f"{c.statistic} ≥ {bar_text(c.bar)}", "pass" if c.passed else "**FAIL**"]
        if baseline:
            d = drops.get(key)
            if d is None or d.baseline_mean is None or d.current_mean is None:  # both None when d.n == 0
                row += ["–" if d is None else d.n, "–", "–", "" if d is None else "**FAIL** (undefined)"]
            else:  # the baseline compares the cases both runs scored, so its means may differ from "mean"
                row += [d.n, f"{_fmt(d.baseline_mean)} → {_fmt(d.current_mean)}",
                        f"{d.current_mean - d.baseline_mean:+.4f}", "ok" if d.passed else "**FAIL**"]
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    for c in (gate.checks if gate else ()):
        if c.key not in keys and c.metric == "dice":
            row = [_text(c.key), 0, 0, "–", "–", "–", "–", f"{c.statistic} ≥ {bar_text(c.bar)}", "**FAIL** (absent)"]
            lines.append("| " + " | ".join(_cell(v) for v in row + (["", "", "", ""] if baseline else [])) + " |")
    overall = ["**overall**", "", "", _fmt(run.summary.mean), "", "", _fmt(run.summary.pooled)]
    overall += [""] * (len(header) - len(overall))
    lines.append("| " + " | ".join(overall) + " |")
    lines.append("")
    details = (gate_lines(gate) if gate else []) + (baseline_lines(baseline) if baseline else [])
    details += [f"could not be scored: {e.message}" for e in run.errors[:20]]
    if len(run.errors) > 20:
        details.append(f"... and {len(run.errors) - 20} more case(s) that could not be scored")
    for line in details:
        text = line.strip()
        lines.append(("  - " if line.startswith("  ") else "- ") + _text(text))
    if details:
        lines.append("")
    lines.append(f"_{_settings(run)}_")
    return "\n".join(lines) + "\n"
