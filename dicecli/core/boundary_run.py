"""Boundary metrics of a run: (cases x classes) tables with the empty-mask rules, and summaries.

Rules (docs/conventions.md, "Boundary metrics"; man page):

- both masks empty (status both_empty): hd, hd95, assd, masd undefined; nsd
  follows ``empty_both`` like Dice (undefined by default);
- exactly one empty (gt_empty, pred_empty): hd, hd95, assd, masd undefined, or
  the ``empty_distance`` substitute ("diagonal": the image diagonal in mm, or a
  fixed number of mm); nsd 0;
- summaries: the statistics of the other metrics over defined values; pooled
  NSD = surfel size within tolerance summed over cases / total surfel size
  summed over cases; distances have no pooled value (None).
"""

from __future__ import annotations

import numpy as np

from .aggregate import MetricSummary, summarize_metric
from .metrics import BOUNDARY_METRICS
from .score import BOTH_EMPTY, EMPTY_BOTH_VALUES, GT_EMPTY, PRED_EMPTY


def _substitute(settings, case) -> float:
    if settings.empty_distance == "nan":
        return float("nan")
    if settings.empty_distance == "diagonal":
        return case.boundary.diagonal_mm if case.boundary is not None else float("nan")
    return float(settings.empty_distance)


def boundary_tables(results, classes, settings, status: np.ndarray) -> tuple[dict, dict]:
    """({metric: (cases x classes) values}, {metric: per-class MetricSummary}) for the boundary metrics asked for."""
    names = settings.boundary_metrics
    shape = (len(results), len(classes))
    tables = {name: np.full(shape, np.nan) for name in names}
    near, total = np.zeros(shape), np.zeros(shape)
    column = {spec.key: col for col, spec in enumerate(classes)}
    for row, case in enumerate(results):
        b = case.boundary
        if b is not None:
            for i, key in enumerate(b.keys):
                col = column.get(key)
                if col is None:
                    continue
                for j, name in enumerate(b.metrics):
                    tables[name][row, col] = b.values[i, j]
                near[row, col], total[row, col] = b.nsd_parts[i]
        one_empty = (status[row] == GT_EMPTY) | (status[row] == PRED_EMPTY)
        both_empty = status[row] == BOTH_EMPTY
        for name in names:
            if name == "nsd":
                has_tolerance = np.array([settings.tolerance_for(spec) is not None for spec in classes], dtype=bool)
                tables[name][row, one_empty & has_tolerance] = 0.0
                tables[name][row, both_empty & has_tolerance] = EMPTY_BOTH_VALUES[settings.empty_both]
            else:
                tables[name][row, one_empty] = _substitute(settings, case)
    summaries = {}
    for name in names:
        per_class = []
        for col in range(len(classes)):
            pooled = None
            if name == "nsd" and settings.tolerance_for(classes[col]) is not None:
                size = float(total[:, col].sum())
                pooled = float(near[:, col].sum()) / size if size > 0 else EMPTY_BOTH_VALUES[settings.empty_both]
            per_class.append(summarize_metric(tables[name][:, col], pooled=pooled))
        summaries[name] = tuple(per_class)
    return tables, summaries


def boundary_warnings(classes, settings) -> list[str]:
    """Classes left without an NSD tolerance (only per-class tolerances were given)."""
    if "nsd" not in settings.metrics:
        return []
    missing = [spec.key for spec in classes if settings.tolerance_for(spec) is None]
    if not missing:
        return []
    return [f"no --nsd-tolerance for class(es) {', '.join(missing)}: their nsd is left undefined"]


__all__ = ["BOUNDARY_METRICS", "MetricSummary", "boundary_tables", "boundary_warnings"]
