"""``dice sweep``: which threshold? Dice over a grid of thresholds for every case and class.

Reads each case like ``dice score`` (same readers, pairing, axis alignment and
value checks), then counts every threshold in one pass (dicecli.core.sweep):

- a single probability map is class 1: G = (gt == 1);
- a map per channel is one-vs-rest per class: channel c against G = (gt == c),
  as ``dice score --multilabel`` scores it (background, channel 0, only with
  ``include_background``); nnU-Net region channels (a region-based dataset.json)
  are channel i against G = (gt in region i);
- label maps have nothing to sweep and are an input error for that case.

Per class and threshold: the mean of the per-case Dice (cases where it is
defined) and the pooled Dice of the summed counts; the best threshold is the
one with the highest mean (the lowest such threshold on ties), with a
percentile bootstrap interval of that mean over cases (10000 resamples,
seed 0; the interval does not account for having picked the best threshold).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..core.alignment import align
from ..case import CaseError, check_dimensions
from ..errors import GeometryError, InputError, ValueKindError
from ..core.interpret import MULTILABEL, channel_scale, check_probabilities, default_scale, to_labels
from ..io.pairing import Pairing, pair_paths
from ..io.readers import read_volume
from ..settings import Settings
from ..checks.stats import bootstrap_ci
from ..core.sweep import cuts_for, curve_dice, threshold_counts, threshold_grid


@dataclass
class ClassCurve:
    """The sweep of one class: counts per case (rows) and threshold (columns)."""

    key: str
    cases: list = field(default_factory=list)
    tp: list = field(default_factory=list)
    predicted: list = field(default_factory=list)
    truth: list = field(default_factory=list)

    def dice(self, empty_both: str) -> np.ndarray:
        """(cases x thresholds) Dice, NaN where undefined."""
        return np.stack([curve_dice(t, p, g, empty_both=empty_both)
                         for t, p, g in zip(self.tp, self.predicted, self.truth, strict=False)])

    def pooled(self, empty_both: str) -> np.ndarray:
        return curve_dice(np.sum(self.tp, axis=0), np.sum(self.predicted, axis=0), int(np.sum(self.truth)),
                          empty_both=empty_both)


@dataclass(frozen=True)
class ClassSweep:
    """What a report shows of one class."""

    key: str
    n_cases: int
    mean_dice: np.ndarray  # per threshold, NaN where no case is defined
    pooled_dice: np.ndarray
    n_defined: np.ndarray
    best_index: int | None
    best_ci: tuple[float, float] | None
    best_pooled_index: int | None


@dataclass(frozen=True)
class SweepResult:
    thresholds: np.ndarray
    classes: tuple[ClassSweep, ...]
    errors: tuple[CaseError, ...]
    pairing: Pairing
    settings: Settings
    n_cases: int


def _first_max(values: np.ndarray) -> int | None:
    if not np.isfinite(values).any():
        return None
    return int(np.nanargmax(values))  # the first, lowest threshold, on ties


def _summarise(curve: ClassCurve, settings: Settings) -> ClassSweep:
    per_case = curve.dice(settings.empty_both)
    defined = np.isfinite(per_case)
    n = defined.sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.where(n > 0, np.nansum(np.where(defined, per_case, 0.0), axis=0) / np.maximum(n, 1), np.nan)
    best = _first_max(mean)
    ci = None
    if best is not None:
        column = per_case[:, best]
        ci = bootstrap_ci(column[np.isfinite(column)])
    pooled = curve.pooled(settings.empty_both)
    return ClassSweep(curve.key, len(curve.cases), mean, pooled, n, best, ci, _first_max(pooled))


def _maps(case: str, gt_path: str, pred_path: str, settings: Settings):
    """(gt labels, [(class key, truth mask, values, scale)], keep) of one case."""
    gt = read_volume(gt_path)
    check_dimensions(gt)
    gt_labels, _ = to_labels(gt.array, threshold=0.5, allow_probability=False)
    pred = read_volume(pred_path)
    try:
        fit = align(pred.array.shape, gt_labels.shape, pred_axes=pred.axes, gt_axes=gt.axes,
                    hint=pred.channel_axis, override=settings.channel_axis, axis_order=settings.axis_order)
    except GeometryError as exc:
        raise GeometryError(pred_path, f"{exc.reason} (ground truth: {gt_path})") from None
    array = fit.apply(pred.array, gt_labels.shape)
    keep = None if settings.ignore_label is None else gt_labels != settings.ignore_label
    names = {value: name for name, value in settings.label_names}
    try:
        if fit.channel_axis is None:
            if array.dtype.kind != "f" and settings.pred_kind != "prob" and settings.prob_scale is None:
                raise ValueKindError(None, f"is an integer map ({array.dtype}): a label map has no threshold to "
                                           "sweep; for quantised probabilities give --pred-kind prob or --prob-scale")
            scale = default_scale(array.dtype, settings.prob_scale)
            check_probabilities(array, scale)
            return [(names.get(1, "1"), gt_labels == 1, array, scale)], keep
        # every channel is swept as a thresholded map: values are probabilities (over a scale)
        channels_scale = channel_scale(array, MULTILABEL, pred_kind=settings.pred_kind,
                                       prob_scale=settings.prob_scale)
        maps = []
        if settings.reads_region_channels(array.shape[0]):
            for (name, members), channel in zip(settings.regions, array, strict=False):
                maps.append((name, np.isin(gt_labels, np.asarray(members)), channel, channels_scale))
            return maps, keep
        for c in range(array.shape[0]):
            if c == 0 and not settings.include_background:
                continue
            if settings.labels is not None and c not in settings.labels:
                continue
            maps.append((names.get(c, str(c)), gt_labels == c, array[c], channels_scale))
        return maps, keep
    except InputError as exc:
        raise type(exc)(exc.path or pred_path, exc.reason) from None


def _sweep_case(pair, settings: Settings, steps: int):
    """One case: (case, [(class key, tp, predicted, n_truth)], None) or (case, None, CaseError)."""
    thresholds = threshold_grid(steps)
    try:
        maps, keep = _maps(pair.case, pair.gt, pair.pred, settings)
        rows = []
        for key, truth, values, scale in maps:
            tp, predicted, n_truth = threshold_counts(truth, values, cuts_for(thresholds, values.dtype, scale), keep,
                                                      uniform=steps if scale == 1.0 else None)
            rows.append((key, tp, predicted, n_truth))
        return pair.case, rows, None
    except InputError as exc:
        path = exc.path or pair.pred
        return pair.case, None, CaseError(pair.case, path, f"{path}: {exc.reason}")
    except MemoryError:
        return pair.case, None, CaseError(pair.case, pair.pred, f"{pair.pred}: not enough memory to sweep this case")


def _run_cases(pairs, settings: Settings, steps: int, jobs: int):
    """Outcomes of _sweep_case in case order, on ``jobs`` worker processes (1: in this process).
    A worker that dies (killed, out of memory) loses only the case it held, reported as an error."""
    if jobs <= 1 or len(pairs) <= 1:
        for pair in pairs:
            yield _sweep_case(pair, settings, steps)
        return
    from contextlib import closing
    from functools import partial

    from ..io.readers import preload
    from .workers import Lost, ordered_map

    preload([p for pair in pairs for p in (pair.gt, pair.pred)])
    outcomes = ordered_map(partial(_sweep_case, settings=settings, steps=steps), pairs, jobs=jobs)
    with closing(outcomes):
        for pair, outcome in zip(pairs, outcomes, strict=False):
            if isinstance(outcome, Lost):
                path = pair.pred or pair.gt
                outcome = (pair.case, None, CaseError(pair.case, path, f"{path}: case '{pair.case}' was not swept: "
                                                                       f"its worker process was {outcome.reason}"))
            yield outcome


def sweep(gt: str, pred: str, settings: Settings, *, steps: int = 99, progress=None,
          pairing: Pairing | None = None) -> SweepResult:
    """Sweep every case of ``gt``/``pred`` (two folders or two files) over ``steps`` thresholds.

    pairing: the cases, when the caller has paired them already (probability files preferred).
    Runs on ``settings.jobs`` worker processes (0: every usable core).
    """
    from .evaluate import usable_cores

    if pairing is None:
        pairing = pair_paths(gt, pred, prefer="probabilities", **settings.layout)
    thresholds = threshold_grid(steps)
    curves: dict[str, ClassCurve] = {}
    errors: list[CaseError] = []
    for case, files in pairing.duplicates:
        errors.append(CaseError(case, files[0], f"{files[0]}: case '{case}' has several files: {', '.join(files)}"))
    todo = []
    for pair in pairing.pairs:
        if pair.pred is None:
            errors.append(CaseError(pair.case, pair.gt, f"{pair.gt}: no prediction for case '{pair.case}'"))
        else:
            todo.append(pair)
    n_cases = 0
    for case, rows, error in _run_cases(todo, settings, steps, settings.jobs or usable_cores()):
        if error is not None:
            errors.append(error)
        else:
            n_cases += 1
            for key, tp, predicted, n_truth in rows:
                curve = curves.setdefault(key, ClassCurve(key))
                curve.cases.append(case)
                curve.tp.append(tp)
                curve.predicted.append(predicted)
                curve.truth.append(n_truth)
        if progress:
            progress()
    ordered = sorted(curves.values(), key=lambda c: (not c.key.isdigit(), int(c.key) if c.key.isdigit() else 0,
                                                     c.key))
    return SweepResult(thresholds, tuple(_summarise(c, settings) for c in ordered), tuple(errors), pairing,
                       settings, n_cases)
