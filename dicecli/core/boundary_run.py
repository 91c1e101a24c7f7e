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
from .boundary import DISTANCE_METRICS
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


def boundary_warnings(classes, settings, spacing_sources=()) -> list[str]:
    """Classes left without an NSD tolerance (only per-class tolerances were given), and boundary
    options that changed nothing: --nsd-tolerance without nsd, --empty-distance without a distance
    metric, --spacing without boundary metrics or when every scored ground truth had its own.
    spacing_sources: each scored case's spacing_source ("file", "option", "default")."""
    out = []
    given_tolerance = settings.nsd_tolerance is not None or bool(settings.nsd_tolerances)
    if "nsd" in settings.metrics:
        missing = [spec.key for spec in classes if settings.tolerance_for(spec) is None]
        if missing:
            out.append(f"no --nsd-tolerance for class(es) {', '.join(missing)}: their nsd is left undefined")
    elif given_tolerance:
        out.append("--nsd-tolerance has no effect without --metrics nsd")
    if settings.empty_distance != "nan" and not set(settings.metrics) & set(DISTANCE_METRICS):
        out.append(f"--empty-distance has no effect without a distance metric ({', '.join(DISTANCE_METRICS)})")
    if settings.spacing is not None:
        if not settings.boundary_metrics:
            out.append("--spacing has no effect without boundary metrics (--metrics hd95, nsd, ...)")
        elif spacing_sources and all(source == "file" for source in spacing_sources):
            out.append("--spacing has no effect: every ground truth has its own spacing, which wins (NIfTI, MHA, NRRD)")
    return out


__all__ = ["BOUNDARY_METRICS", "MetricSummary", "boundary_tables", "boundary_warnings"]
