"""``dice compare`` reports: a rich table of paired differences per class for people, strict JSON
(never NaN or Infinity tokens) for scripts."""

from __future__ import annotations

import json

from rich import box
from rich.console import Console
from rich.table import Table

from ..checks.compare import CONFIDENCE, RESAMPLES, SEED, Comparison, comparison_record
from ..checks.stats import EXACT, EXACT_MAX_N, NORMAL
from .text import names


def _f(value, digits: int = 4, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _p(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3g}" if value >= 1e-4 else f"{value:.1e}"


def comparison_table(cmp: Comparison) -> Table:
    pct = f"{CONFIDENCE:.0%}"
    table = Table(title=f"Paired Dice differences b - a (a = {cmp.a}, b = {cmp.b})", box=box.SIMPLE_HEAD,
                  title_justify="left")
    for name in ("class", "n", "undef", "mean a", "mean b", "diff", f"{pct} CI", "+/-/0", "sign p",
                 "Wilcoxon p", "method"):
        table.add_column(name, justify="left" if name in ("class", "method") else "right",
                         no_wrap=name != "class")
    for c in cmp.classes:
        ci = "–" if c.ci is None else f"[{c.ci[0]:+.4f}, {c.ci[1]:+.4f}]"
        method = {EXACT: "exact", NORMAL: "normal"}.get(c.wilcoxon.method or "", "–")
        table.add_row(c.key, str(c.n), str(c.n_undefined), _f(c.mean_a), _f(c.mean_b),
                      _f(c.mean_difference, signed=True), ci, f"{c.n_better}/{c.n_worse}/{c.n_equal}",
                      _p(c.sign_p), _p(c.wilcoxon.p), method)
    return table


def notes(cmp: Comparison) -> list[str]:
    """Lines under the table: the methods, then cases and classes found in one file only."""
    lines = [
        "n: cases present and defined in both files; undef: in both, undefined in a, b or both; "
        "+/-/0: cases better/worse/equal in b; – = undefined",
        f"{CONFIDENCE:.0%} CI: percentile bootstrap, {RESAMPLES} resamples, seed {SEED}; "
        "p-values two-sided, zero differences dropped",
        f"sign test: exact binomial; Wilcoxon signed-rank: exact for n <= {EXACT_MAX_N} without ties, "
        "else normal approximation with tie correction",
    ]
    if cmp.only_in_a:
        lines.append(f"{len(cmp.only_in_a)} case(s) only in {cmp.a}, not compared: {names(cmp.only_in_a)}")
    if cmp.only_in_b:
        lines.append(f"{len(cmp.only_in_b)} case(s) only in {cmp.b}, not compared: {names(cmp.only_in_b)}")
    if cmp.classes_only_in_a:
        lines.append(f"class(es) only in {cmp.a}: {names(cmp.classes_only_in_a)}")
    if cmp.classes_only_in_b:
        lines.append(f"class(es) only in {cmp.b}: {names(cmp.classes_only_in_b)}")
    return lines


def print_comparison(cmp: Comparison, console: Console) -> None:
    console.print(comparison_table(cmp))
    for line in notes(cmp):
        console.print(line, soft_wrap=True, markup=False)


def render_comparison_json(cmp: Comparison) -> str:
    return json.dumps(comparison_record(cmp), indent=2, allow_nan=False, ensure_ascii=False) + "\n"
