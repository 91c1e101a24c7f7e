"""The plain-data form of an Evaluation, shared by the JSON and CSV reporters.

Undefined values are None (JSON null, empty CSV cell), never NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict

from .. import __version__
from ..evaluate import Evaluation

SCHEMA = 1
METRIC = "hard_dice"


def number(value) -> float | None:
    """A float, or None for NaN/inf/None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def class_key(label: int) -> str:
    return str(int(label))


def settings_record(run: Evaluation) -> dict:
    s = run.settings
    return {
        "metric": METRIC,
        "threshold": s.threshold,
        "smooth": s.smooth,
        "empty_both": s.empty_both,
        "labels": list(run.labels),
        "labels_requested": None if s.labels is None else [int(v) for v in s.labels],
        "include_background": s.include_background,
        "missing_as_empty": s.missing_as_empty,
        "geometry": s.geometry,
    }


def case_records(run: Evaluation) -> list[dict]:
    out = []
    for row, case in enumerate(run.cases):
        classes = {}
        for col, label in enumerate(run.labels):
            classes[class_key(label)] = {
                "dice": number(run.dice[row, col]),
                "tp": int(run.tp[row, col]),
                "fp": int(run.fp[row, col]),
                "fn": int(run.fn[row, col]),
                "status": str(run.status[row, col]),
            }
        out.append({"case": case.case, "gt": case.gt, "pred": case.pred,
                    "pred_kind": case.pred_kind, "classes": classes})
    return out


def summary_record(run: Evaluation) -> dict:
    classes = {
        class_key(label): {k: (number(v) if isinstance(v, float) else v) for k, v in asdict(s).items()}
        for label, s in zip(run.labels, run.summary.classes)
    }
    return {
        "classes": classes,
        "mean": number(run.summary.mean),
        "pooled": number(run.summary.pooled),
        "n_cases": len(run.cases),
        "n_errors": len(run.errors),
    }


def run_record(run: Evaluation, *, settings_extra: dict | None = None, extra: dict | None = None) -> dict:
    """The whole run as JSON-ready data (the JSON contract of DESIGN.md).

    settings_extra: more "settings" fields (e.g. the gate options); extra: more top-level
    fields (e.g. the "gate" verdict), added after the standard ones.
    """
    return {
        "schema": SCHEMA,
        "tool": {"name": "dicecli", "version": __version__},
        "settings": {**settings_record(run), **(settings_extra or {})},
        "cases": case_records(run),
        "summary": summary_record(run),
        "errors": [{"case": e.case, "path": e.path, "message": e.message} for e in run.errors],
        "warnings": list(run.warnings),
        **(extra or {}),
    }
