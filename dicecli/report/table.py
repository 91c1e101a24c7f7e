"""Human-readable report: a per-class summary table, optionally per-case rows (rich)."""

from __future__ import annotations

import math

import numpy as np
from rich import box
from rich.console import Console
from rich.table import Table

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # reporters take the records; they never call the API that builds them
    from ..run.evaluate import Evaluation
from .settings_text import class_text, settings_line
from .text import printable

WIDE_CASE_TABLE_MAX_CLASSES = 8
#: Class rows of the summary table; the rest are counted in one row (JSON and CSV hold them all).
#: A person reads 200 rows at most, and rich takes ~1.5 ms a row to lay out.
MAX_TABLE_ROWS = 200
MM_METRICS = ("hd", "hd95", "assd", "masd")  # shown with 2 decimals (mm)
METRIC_HEADERS = {"iou": "IoU", "precision": "precision", "recall": "recall", "specificity": "specificity",
                  "volume_similarity": "vol. sim.", "soft_dice": "soft Dice", "hd": "HD mm", "hd95": "HD95 mm",
                  "assd": "ASSD mm", "masd": "MASD mm", "nsd": "NSD"}


def fmt(value, digits: int = 4) -> str:
    """A score with fixed decimals, or an en dash when undefined."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}f}"


def summary_table(run: Evaluation) -> Table:
    table = Table(title=f"Dice per class over {len(run.cases)} case(s)", box=box.SIMPLE_HEAD,
                  title_justify="left", caption_justify="left")
    for name in ("class", "n", "undef", "mean", "std", "median", "min", "max", "pooled"):
        table.add_column(name, justify="left" if name == "class" else "right")
    extra = list(run.metric_summaries.items())
    for name, _ in extra:
        table.add_column(f"{METRIC_HEADERS.get(name, name)} mean", justify="right")
    for col, (spec, s) in enumerate(zip(run.classes[:MAX_TABLE_ROWS], run.summary.classes)):
        table.add_row(printable(class_text(spec)), str(s.n), str(s.n_undefined), fmt(s.mean), fmt(s.std), fmt(s.median),
                      fmt(s.min), fmt(s.max), fmt(s.pooled),
                      *(fmt(per_class[col].mean, 2 if name in MM_METRICS else 4) for name, per_class in extra))
    captions = []
    if len(run.classes) > MAX_TABLE_ROWS:
        table.add_row(f"… {len(run.classes) - MAX_TABLE_ROWS:,} more", style="dim")
        captions.append(f"{MAX_TABLE_ROWS} of {len(run.classes):,} classes shown: --format csv or json has them all")
    other_n = sorted({METRIC_HEADERS.get(name, name) for name, per_class in extra
                      if any(m.n != s.n for m, s in zip(per_class, run.summary.classes))})
    if other_n:  # HD95 is undefined where one mask is empty (Dice is 0); specificity is defined where both are
        captions.append(f"{', '.join(other_n)} mean: over the cases where defined, not the n cases of Dice "
                        "(JSON gives each n)")
    if captions:
        table.caption = "\n".join(captions)
    table.add_section()
    table.add_row("overall", "", "", fmt(run.summary.mean), "", "", "", "", fmt(run.summary.pooled),
                  *([""] * len(extra)), style="bold")
    return table


def _case_means(run: Evaluation) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        defined = np.isfinite(run.dice)
        sums = np.where(defined, run.dice, 0.0).sum(axis=1)
        counts = defined.sum(axis=1)
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def case_table(run: Evaluation) -> Table:
    """Case rows, worst first (undefined last): one column per class when few, else long rows."""
    table = Table(title="Cases, worst first", box=box.SIMPLE_HEAD, title_justify="left")
    table.add_column("case")
    if len(run.labels) <= WIDE_CASE_TABLE_MAX_CLASSES:
        means = _case_means(run)
        names = run.cases.values("case")
        order = sorted(range(len(run.cases)), key=lambda i: (not math.isfinite(means[i]), means[i], names[i]))
        for key in run.keys:
            table.add_column(f"class {printable(key)}", justify="right")
        table.add_column("mean", justify="right")
        for i in order:
            table.add_row(printable(names[i]), *(fmt(v) for v in run.dice[i]), fmt(means[i]))
        return table
    for name in ("class", "dice", "tp", "fp", "fn", "status"):
        table.add_column(name, justify="left" if name in ("class", "status") else "right")
    names = run.cases.values("case")
    cells = [(i, c) for i in range(len(run.cases)) for c in range(len(run.classes))]
    cells.sort(key=lambda ic: (not math.isfinite(run.dice[ic]), run.dice[ic], names[ic[0]]))
    for i, c in cells:
        table.add_row(printable(names[i]), printable(run.keys[c]), fmt(run.dice[i, c]), str(run.tp[i, c]),
                      str(run.fp[i, c]), str(run.fn[i, c]), str(run.status[i, c]))
    return table


def object_table(run: Evaluation) -> Table:
    """Objects per class and IoU threshold: summed counts, pooled scores and per-case means (an
    AP-style table when several thresholds are given)."""
    o = run.objects
    assert o is not None, "the object table of a run without --objects"
    table = Table(title=f"Objects matched one-to-one at IoU ≥ t over {len(run.cases)} case(s)", box=box.SIMPLE_HEAD,
                  title_justify="left")
    for name in ("class", "IoU ≥", "gt", "pred", "TP", "FP", "FN", "precision", "recall", "F1", "SQ", "PQ",
                 "F1 mean", "PQ mean"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for col, spec in enumerate(run.classes[:MAX_TABLE_ROWS]):
        n_gt, n_pred = int(o.n_gt[:, col].sum()), int(o.n_pred[:, col].sum())
        for k, t in enumerate(o.thresholds):
            tp = int(o.tp[:, col, k].sum())
            s = {name: o.summaries[name][col][k] for name in ("precision", "recall", "f1", "sq", "pq")}
            table.add_row(printable(class_text(spec)) if k == 0 else "", f"{t:g}", str(n_gt), str(n_pred), str(tp),
                          str(n_pred - tp), str(n_gt - tp), *(fmt(s[n].pooled) for n in ("precision", "recall", "f1",
                                                                                       "sq", "pq")),
                          fmt(s["f1"].mean), fmt(s["pq"].mean))
    if len(run.classes) > MAX_TABLE_ROWS:
        table.add_row(f"… {len(run.classes) - MAX_TABLE_ROWS:,} more", style="dim")
    return table


def lesion_table(run: Evaluation) -> Table:
    """Lesion-wise Dice per class: lesion counts summed over cases, per-case statistics, pooled."""
    les = run.lesions
    assert les is not None, "the lesion table of a run without --lesion-wise"
    table = Table(title=f"Lesion-wise Dice over {len(run.cases)} case(s)", box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("class", "lesions", "detected", "missed", "FP", "left out", "n", "mean", "median", "pooled"):
        table.add_column(name, justify="left" if name == "class" else "right")
    for col, spec in enumerate(run.classes[:MAX_TABLE_ROWS]):
        n, found = int(les.n_lesions[:, col].sum()), int(les.n_detected[:, col].sum())
        s = les.summaries[col]
        table.add_row(printable(class_text(spec)), str(n), str(found), str(n - found), str(int(les.n_fp[:, col].sum())),
                      str(int(les.n_small[:, col].sum())), str(s.n), fmt(s.mean), fmt(s.median), fmt(s.pooled))
    if len(run.classes) > MAX_TABLE_ROWS:
        table.add_row(f"… {len(run.classes) - MAX_TABLE_ROWS:,} more", style="dim")
    return table


def print_table(run: Evaluation, console: Console, *, per_case: bool = False) -> None:
    """Print the summary (and with ``per_case`` the case rows) to ``console``."""
    tables = ([case_table(run)] if per_case and run.cases else []) + [summary_table(run)]
    tables += [table(run) for table, part in ((object_table, run.objects), (lesion_table, run.lesions))
               if part is not None]
    for table in tables:
        _print_whole(console, table)
    console.print(settings_line(run), soft_wrap=True)


_UNBOUNDED = 100_000  # columns: a width no table reaches, to measure its natural width


def _print_whole(console: Console, table: Table) -> None:
    """Print ``table``; off a terminal (a file, a pipe, a CI log) as wide as its cells need, so no
    number is cut to "0.63…" by the console's fixed width."""
    if console.is_terminal:
        console.print(table)
        return
    natural = console.measure(table, options=console.options.update_width(_UNBOUNDED)).maximum
    width = console.width
    console.width = max(width, natural)  # print's own width= is capped at the console's
    try:
        console.print(table)
    finally:
        console.width = width
