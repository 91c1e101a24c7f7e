"""Score every case of a run: the Python API behind ``dice score``.

    >>> from dicecli.run.evaluate import evaluate
    >>> run = evaluate("gt/", "pred/", threshold=0.5)
    >>> run.summary.mean

Data flows one way: paths -> pairs -> Volumes -> counts per case -> Summary.
A case that cannot be scored becomes a CaseError; the other cases are still
scored. Results come back in case-name order whatever the number of jobs.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Callable, Generator, Iterable

import numpy as np

from ..allocator import keep_freed_memory
from .case_table import CaseTable
from ..core.aggregate import MetricSummary, RunCounts, Summary, summarize, summarize_columns, summarize_metric
from ..case import CaseError, CaseResult, score_pair
from ..core.classes import ClassSpec, build_classes
from ..errors import UsageError
from ..instances import LesionTables, ObjectTables, lesion_tables, object_tables
from ..core.boundary_run import boundary_tables, boundary_warnings
from ..core.metrics import COUNT_METRICS, metric, soft_dice
from ..io.pairing import Pair, Pairing, pair_paths
from ..io.readers import preload
from ..core.score import dice, statuses
from ..settings import Settings, check_options
from .workers import Lost, ordered_map

__all__ = ["CaseError", "CaseResult", "Evaluation", "Settings", "evaluate", "evaluate_pairing", "score_pair"]

#: Label values listed in a warning before "and N more".
MAX_LISTED = 10


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The outcome of a run. Tables are (cases x classes), in ``cases`` and ``classes`` order.

    cases: the scored cases, in case-name order: a CaseTable (a sequence of CaseResults made on
        demand, stored column by column: no Python object per case).

    classes: the columns: plain labels first (``labels``, in order), then regions.
    keys: the class keys reports use (label names, region names or label values).
    metrics: every metric table besides Dice by name ((cases x classes), NaN = undefined): those
        asked for in ``settings.metrics``, in that order, then "soft_dice" with ``settings.soft``.
        Reporters loop over it, so a new metric needs no new field; Dice is always ``dice``.
    gt_volume_mm3, pred_volume_mm3: (cases x classes), NaN when the spacing is unknown.
    metric_summaries: per table of ``metrics``, one MetricSummary per class.
    notes: how the run went that is no property of its results (cases taken from a
        journal); printed on stderr, never in a report, so a resumed run's reports
        equal a clean run's.
    objects: object counts, F1/PQ/... and their summaries per class and IoU threshold
        (settings.objects), see dicecli.instances.ObjectTables.
    lesions: lesion-wise Dice per case and class and its summaries (settings.lesion_wise).
    """

    settings: Settings
    labels: tuple[int, ...]
    cases: CaseTable
    errors: tuple[CaseError, ...]
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    dice: np.ndarray
    status: np.ndarray
    summary: Summary
    pairing: Pairing
    warnings: tuple[str, ...] = field(default=())
    classes: tuple[ClassSpec, ...] = ()
    metrics: dict = field(default_factory=dict)
    gt_volume_mm3: np.ndarray | None = None
    pred_volume_mm3: np.ndarray | None = None
    metric_summaries: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    objects: ObjectTables | None = None
    lesions: LesionTables | None = None

    @property
    def soft_dice(self) -> np.ndarray | None:
        """(cases x classes) soft Dice, NaN where undefined; None without ``settings.soft``."""
        return self.metrics.get("soft_dice")

    @property
    def keys(self) -> tuple[str, ...]:
        """Class keys in column order."""
        return tuple(c.key for c in self.classes)

    @property
    def pred_kinds(self) -> dict[str, int]:
        """How many predictions were read as each kind (labels, probability, softmax, ...)."""
        return self.cases.pred_kind_counts()


def usable_cores() -> int:
    """Cores this process may run on (never 0)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


#: What starting the worker processes costs, in seconds of one core: forking, setting each worker
#: up, each worker's first case (fresh pages). Default jobs start workers only when the work left
#: pays for them (see _worth_workers).
WORKER_START_S = 0.05
#: Default jobs time up to this many small cases (each under SMALL_CASE_S seconds) in this process
#: before choosing whether to start workers (see _score_here_first).
TIMED_CASES, SMALL_CASE_S = 3, 0.01
#: Seconds of work in a batch of cases sent to a worker when a case's time is known (a 64x64 PNG
#: pair takes about 0.3 ms: batches of about 30 such cases).
BATCH_S = 0.01


def _score_all(pairs: list[Pair], settings: Settings, progress: Callable[[], None] | None) -> Iterable:
    """Outcomes (CaseResult, CaseError) of ``pairs`` in order; a case whose worker process died
    (killed by the out-of-memory killer, say) is a CaseError naming the case and how it died.

    ``-j N`` (N > 1) scores on N workers from the start; default jobs start here and move to
    workers only when the work left pays for starting them (_score_here_first)."""
    jobs = min(settings.jobs or usable_cores(), max(1, len(pairs)))
    if jobs > 1:  # the readers the cases need, imported before any fork so that workers inherit them
        preload([path for pair in pairs for path in (pair.gt, pair.pred) if path is not None])
    if jobs <= 1:
        outcomes = (score_pair(pair, settings) for pair in pairs)
    elif settings.jobs:
        outcomes = _score_on_workers(pairs, settings, jobs)
    else:
        outcomes = _score_here_first(pairs, settings, jobs)
    with closing(outcomes):
        for pair, outcome in zip(pairs, outcomes):
            yield _lost_case(pair, outcome) if isinstance(outcome, Lost) else outcome
            if progress:
                progress()


def _score_on_workers(pairs: list[Pair], settings: Settings, jobs: int, *, local: bool = False,
                      case_s: float | None = None) -> Generator[Any, None, None]:
    """Outcomes of ``pairs`` scored on ``jobs`` workers (and in this process too when ``local``);
    case_s: the time a case takes, when known (sets the batch size)."""
    batch = _batch(len(pairs), jobs + local, case_s)
    return ordered_map(partial(score_pair, settings=settings), pairs, jobs=jobs, batch=batch,
                       initializer=keep_freed_memory, local=local)


def _score_here_first(pairs: list[Pair], settings: Settings, jobs: int) -> Generator[Any, None, None]:
    """Score cases in this process, timing each; once the cases left would take long enough here
    to pay for starting workers, share them between ``jobs`` - 1 workers and this process, which
    would otherwise only wait (same order, same outcomes). A short run never starts a worker; a
    long one starts them after its first case, or, when that took under SMALL_CASE_S, after up to
    TIMED_CASES: the first case also pays one-time costs (a codec's first call, fresh memory),
    and the fastest case timed sets the batch size (a 64x64 PNG pair: 4 ms first, 0.2 ms after)."""
    fastest = float("inf")
    for done, pair in enumerate(pairs):
        started = time.perf_counter()
        outcome = score_pair(pair, settings)
        seconds = time.perf_counter() - started
        fastest = min(fastest, seconds)
        yield outcome
        if done + 1 < TIMED_CASES and seconds < SMALL_CASE_S:
            continue
        left = len(pairs) - done - 1
        if _worth_workers(fastest * left, min(jobs, left)):
            yield from _score_on_workers(pairs[done + 1:], settings, min(jobs, left) - 1, local=True,
                                         case_s=fastest)
            return


def _batch(n_cases: int, processes: int, case_s: float | None = None) -> int:
    """Cases per message to a worker: batches cut inter-process traffic on many small cases, and
    big cases go one by one. At most an eighth of each process's share (the work stays balanced)
    and at most 8, or, when a case's time is known, about BATCH_S of work (up to 64 cases)."""
    cap = 8 if case_s is None else max(1, min(64, int(BATCH_S / max(case_s, 1e-6))))
    return max(1, min(cap, n_cases // (processes * 8)))


def _worth_workers(work_s: float, jobs: int) -> bool:
    """Do ``jobs`` workers finish ``work_s`` seconds of work (as timed here) sooner than this process,
    by a margin of twice their start-up (a case timed here can be faster than in a fresh worker)?"""
    return work_s - work_s / jobs > 2 * WORKER_START_S


def _lost_case(pair: Pair, lost: Lost) -> CaseError:
    path = pair.pred or pair.gt
    hint = " (as the out-of-memory killer does)" if lost.exitcode == -signal.SIGKILL else ""
    return CaseError(pair.case, path, f"{path}: case '{pair.case}' was not scored: its worker process was "
                                      f"{lost.reason}{hint}")


def _pairing_errors(pairing: Pairing, settings: Settings) -> list[CaseError]:
    errors = [
        CaseError(case, files[0], f"{files[0]}: case '{case}' has several files: {', '.join(files)}")
        for case, files in pairing.duplicates
    ]
    if not settings.missing_as_empty:
        errors += [
            CaseError(pair.case, pair.gt, f"{pair.gt}: no prediction for case '{pair.case}'")
            for pair in pairing.pairs
            if pair.pred is None
        ]
    return errors


def run_labels(results, settings: Settings, counts: RunCounts | None = None) -> tuple[int, ...]:
    """The plain labels of the run.

    ``settings.labels`` when given; else every non-zero label found (in a
    ground truth or a prediction), unless regions are given, which are then the
    only classes. The ignore label is never a class; 0 only with include_background.
    counts: the results' RunCounts, when already made.
    """
    if settings.labels is not None:
        labels = set(settings.labels)
    elif settings.regions:
        labels = set()
    else:
        counts = counts or CaseTable.of(results).run_counts()
        labels = set(counts.present().tolist()) - {0}
        labels.discard(settings.ignore_label)
    if settings.include_background:
        labels.add(0)
    return tuple(sorted(labels))


def _listed(values) -> str:
    values = sorted(values)
    shown = ", ".join(str(v) for v in values[:MAX_LISTED])
    return shown + (f" and {len(values) - MAX_LISTED} more" if len(values) > MAX_LISTED else "")


def label_warnings(results, classes, settings: Settings, counts: RunCounts | None = None) -> list[str]:
    """Run-level warnings from the counts: labels found but not scored, labels only ever predicted.
    results: the CaseTable (or CaseResults) of the run; counts: its RunCounts, when already made."""
    results = CaseTable.of(results)
    c = counts or results.run_counts()
    in_gt = set(c.present((c.tp + c.fn) > 0).tolist())
    in_pred = set(c.present((c.tp + c.fp) > 0).tolist())
    skip = {0} | ({settings.ignore_label} if settings.ignore_label is not None else set())
    out = []
    if settings.labels is not None or settings.regions:
        used = {v for spec in classes for v in spec.labels}
        unscored = (in_gt | in_pred) - used - skip
        if unscored:
            out.append(f"label value(s) {_listed(unscored)} found in the data but not scored "
                       "(not in --labels or any --region)")
    only_predicted = in_pred - in_gt - skip
    if only_predicted and results:
        out.append(f"label value(s) {_listed(only_predicted)} appear in predictions but in no ground truth")
    if settings.labels is not None and results:
        nowhere = set(settings.labels) - in_gt - in_pred - {0}
        if nowhere:
            out.append(f"label value(s) {_listed(nowhere)} given in --labels appear in no ground truth or "
                       "prediction of the run (scored by the empty-mask rules)")
    out += threshold_warnings(results, settings)
    preds = results.values("pred")
    unchecked = results.rows_with("axes_unchecked")
    if unchecked:
        out.append(f"{len(unchecked)} prediction(s) were lined up with their ground truth by reversing their axes, "
                   f"and their shapes would fit as stored too (e.g. {preds[unchecked[0]]}: NIfTI, MGZ and Analyze are "
                   "read x, y, z; PNG, TIFF and MHA/NRRD z, y, x); if a file was saved without converting its axis "
                   "order (a PNG array written as NIfTI by nibabel), --axis-order stored compares arrays as stored")
    instances = results.rows_with("instances")
    if instances:
        out.append(
            f"{len(instances)} case(s) look like instance masks (e.g. {preds[instances[0]]}: many ids on both sides, "
            "most of which match no id of the other file); instance ids are arbitrary per file, so Dice per id "
            "value means nothing for them: score them with --instances (foreground Dice, and objects matched "
            "one-to-one by IoU: F1, PQ), or --binary for the foreground Dice alone")
    quantised = results.rows_with("quantised")
    if quantised:
        out.append(
            f"{len(quantised)} integer prediction(s) look like quantised probability maps (e.g. {preds[quantised[0]]}: "
            "many values its ground truth does not have) and were scored as label maps (--pred-kind auto); "
            "score them as probabilities with --pred-kind prob (p = value / dtype maximum, or --prob-scale S), "
            "or say --pred-kind labels to keep label maps and silence this")
    return out


def threshold_warnings(results, settings: Settings) -> list[str]:
    """Warn when --threshold settings had no effect: no prediction was thresholded, or a per-class
    threshold names a class no thresholded prediction has (a single probability map is class 1)."""
    if not len(results) or (settings.threshold == 0.5 and not settings.thresholds):
        return []
    results = CaseTable.of(results)
    used: set[int] = set()
    kinds = results.values("pred_kind")
    if "probability" in kinds:
        used.add(1)
    if "regions" in kinds:
        used.update(settings.region_labels)
    if "multilabel" in kinds:
        c = results.run_counts()
        rows = np.flatnonzero(np.asarray([k == "multilabel" for k in kinds], dtype=bool))
        used.update(int(v) for v in c.labels[np.isin(c.case, rows)].tolist())
    if not used:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(Counter(kinds).items()))
        return [f"--threshold has no effect: no prediction was thresholded ({kinds}; label maps are used as "
                "they are, softmax maps by argmax)"]
    unused = sorted(label for label, _ in settings.thresholds if label not in used)
    if unused:
        return [f"--threshold for class(es) {_listed(unused)} has no effect: no thresholded prediction has that "
                "class (a single-channel probability map is class 1, and uses class 1's threshold)"]
    return []


def _class_tables(results: CaseTable, counts: RunCounts, classes, regions) -> tuple[np.ndarray, ...]:
    """(tp, fp, fn) tables (cases x classes): plain classes from the run's counts, regions from
    each case's region counts."""
    tables = tuple(np.zeros((len(results), len(classes)), dtype=np.int64) for _ in range(3))
    plain = [i for i, c in enumerate(classes) if not c.region]
    if plain:
        found = counts.tables(len(results), [classes[i].label for i in plain])
        for table, part in zip(tables, found):
            table[:, plain] = part
    order = {name: row for row, (name, _) in enumerate(regions)}
    region_cols = [(i, order[c.key]) for i, c in enumerate(classes) if c.region]
    if region_cols and len(results):
        cols, rows = (list(v) for v in zip(*region_cols))
        stacked = results.region_counts()  # (cases, regions, 3)
        for k, table in enumerate(tables):
            table[:, cols] = stacked[:, rows, k]
    return tables


def _soft_entries(results: CaseTable, classes) -> list[tuple[int, int, float, float]]:
    """(row, column, Σp·g, Σp) of every case's soft sums of a plain class, in row then column order
    (a label a case lists twice: its first sums)."""
    column: dict[int, list[int]] = {}
    for col, c in enumerate(classes):
        if not c.region:
            column.setdefault(c.label, []).append(col)
    rows, labels, sums = results.soft()
    firsts: dict[tuple[int, int], tuple[float, float]] = {}
    for row, label, (pg, p) in zip(rows.tolist(), labels.tolist(), sums.tolist()):
        firsts.setdefault((row, label), (pg, p))
    return sorted((row, col, pg, p) for (row, label), (pg, p) in firsts.items() for col in column.get(label, ()))


def _soft_values(entries, settings: Settings, tp, fn) -> np.ndarray:
    out = np.full(tp.shape, np.nan)
    for row, col, pg, p in entries:
        out[row, col] = soft_dice(pg, p, tp[row, col] + fn[row, col], empty_both=settings.empty_both)
    return out


def evaluate_pairing(
    pairing: Pairing, settings: Settings, *, progress: Callable[[], None] | None = None,
    journal: str | None = None, resume: bool = False, scheduler: str | None = None,
) -> Evaluation:
    """Score the cases of ``pairing``; ``progress`` is called once per finished case.

    journal: append each finished case to this JSON-lines file (dicecli.run.journal);
    resume: first reuse the journal's unchanged cases instead of scoring them again;
    scheduler: a Dask distributed scheduler address or scheduler file (dicecli.run.cluster).
    """
    errors = _pairing_errors(pairing, settings)
    todo = [p for p in pairing.pairs if p.pred is not None or settings.missing_as_empty]
    results = CaseTable()  # column by column: no object per case (a run can have 100,000 cases)
    notes: list[str] = []
    writer = None
    if journal:
        from .journal import Journal, read_journal, record_result, reusable

        if resume:
            entries, notes = read_journal(journal, settings)
            kept = []
            with entries:  # each reusable line is read back from the journal as its case comes
                for pair in todo:
                    line = entries.get(pair.case)
                    if line is not None and reusable(line, pair):
                        results.add(record_result(line), pair)
                        if progress:
                            progress()
                    else:
                        kept.append(pair)
            if len(kept) < len(todo):
                notes.append(f"{journal}: {len(todo) - len(kept)} case(s) taken from the journal, "
                             f"{len(kept)} to score")
            todo = kept
        writer = Journal(journal, settings)
    if scheduler:
        from .cluster import score_on_cluster

        outcomes = score_on_cluster(todo, settings, scheduler, progress)
    else:
        outcomes = _score_all(todo, settings, progress)
    try:
        for pair, outcome in zip(todo, outcomes, strict=True):
            if writer is not None:
                writer.add(pair, outcome)
            if isinstance(outcome, CaseError):
                errors.append(outcome)
            else:  # kept as columns; the joint confusion cells (used for the region counts) are dropped
                results.add(outcome, pair)
    finally:
        outcomes.close()  # stops the worker processes at once when interrupted
        if writer is not None:
            writer.close()
    results.sort()
    run = evaluate_results(results, errors, settings, pairing)
    return replace(run, notes=tuple(notes)) if notes else run


def evaluate_results(results, errors: list[CaseError], settings: Settings, pairing: Pairing) -> Evaluation:
    """The Evaluation of scored cases (a CaseTable, or CaseResults in case order): classes, per-class
    tables, metrics and summaries."""
    results = CaseTable.of(results)
    errors = list(errors)
    counts = results.run_counts()
    labels = run_labels(results, settings, counts)
    try:
        classes = build_classes(labels, settings.regions, settings.label_names)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    shape = (len(results), len(classes))
    tp, fp, fn = _class_tables(results, counts, classes, settings.regions)
    n_voxels = np.asarray(results.values("n_voxels"), dtype=np.int64).reshape(-1, 1)
    values = dice(tp, fp, fn, smooth=settings.smooth, empty_both=settings.empty_both)
    foreground = np.asarray([c.foreground for c in classes], dtype=bool)
    summary = summarize(values, tp, fp, fn, foreground=foreground, smooth=settings.smooth,
                        empty_both=settings.empty_both)
    extra = {name: metric(name, tp, fp, fn, n_voxels, empty_both=settings.empty_both)
             for name in settings.metrics if name in COUNT_METRICS and name != "dice"}
    total = int(n_voxels.sum())
    summaries = {
        name: summarize_columns(table, metric(name, tp.sum(axis=0), fp.sum(axis=0), fn.sum(axis=0), total,
                                              empty_both=settings.empty_both))
        for name, table in extra.items()
    }
    status = statuses(tp, fp, fn).reshape(shape)
    sources = ()
    if settings.boundary_metrics:
        tables, boundary_summaries = boundary_tables(results, classes, settings, status)
        extra.update(tables)
        summaries.update(boundary_summaries)
        sources = tuple(b.spacing_source for b in results.values("boundary") if b is not None)
    boundary_notes = boundary_warnings(classes, settings, sources)
    soft = None
    if settings.soft:
        entries = _soft_entries(results, classes)
        soft = _soft_values(entries, settings, tp, fn)
        summaries["soft_dice"] = tuple(_soft_summary([e for e in entries if e[1] == c], soft[:, c],
                                                     tp[:, c] + fn[:, c], settings) for c in range(len(classes)))
    voxel_volume = np.asarray([np.nan if v is None else v for v in results.values("voxel_volume_mm3")],
                              dtype=np.float64).reshape(-1, 1)
    errors.sort(key=lambda e: (e.case or "", e.path or ""))
    warnings = results.warnings() + label_warnings(results, classes, settings, counts) + boundary_notes
    return Evaluation(
        settings=settings,
        labels=labels,
        cases=results,
        errors=tuple(errors),
        tp=tp, fp=fp, fn=fn,
        dice=values,
        status=status,
        summary=summary,
        pairing=pairing,
        warnings=tuple(warnings),
        classes=classes,
        metrics=extra if soft is None else {**extra, "soft_dice": soft},
        gt_volume_mm3=(tp + fn) * voxel_volume,
        pred_volume_mm3=(tp + fp) * voxel_volume,
        metric_summaries=summaries,
        objects=object_tables(results, classes, settings) if settings.objects else None,
        lesions=lesion_tables(results, classes, settings) if settings.lesion_wise else None,
    )


def _soft_summary(entries, values: np.ndarray, gt_sizes, settings: Settings) -> MetricSummary:
    """Mean soft Dice over cases where it is defined; pooled from the summed sums (added case by
    case, in case order). entries: the column's _soft_entries."""
    pg = p = g = 0.0
    have = False
    for row, _, row_pg, row_p in entries:
        pg, p, g, have = pg + row_pg, p + row_p, g + float(gt_sizes[row]), True
    pooled = float(soft_dice(pg, p, g, empty_both=settings.empty_both)) if have else float("nan")
    return summarize_metric(values, pooled=pooled)


def evaluate(gt: str, pred: str, settings: Settings | None = None, **options) -> Evaluation:
    """Pair ``gt`` and ``pred`` (two folders or two files) and score every case.

    Keyword options override fields of ``settings`` (see Settings). Raises
    PairingError when a folder is missing or empty; per-case problems are
    returned in ``Evaluation.errors``.
    """
    check_options(options, "evaluate")
    settings = replace(settings or Settings(), **options)
    return evaluate_pairing(pair_paths(str(gt), str(pred), **settings.layout), settings)
