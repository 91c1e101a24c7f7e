"""Tidy long CSV: one row per (case, class), header first; undefined Dice is an empty cell."""

from __future__ import annotations

import csv
import io

from ..evaluate import Evaluation
from .records import case_records

COLUMNS = ("case", "class", "dice", "tp", "fp", "fn", "status", "gt", "pred", "pred_kind")


def render_csv(run: Evaluation) -> str:
    """The run's per-case scores as CSV text (full float precision, '\\n' line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for case in case_records(run):
        for key, score in case["classes"].items():
            dice = "" if score["dice"] is None else repr(score["dice"])
            writer.writerow((case["case"], key, dice, score["tp"], score["fp"], score["fn"],
                             score["status"], case["gt"], case["pred"] or "", case["pred_kind"]))
    return buffer.getvalue()
