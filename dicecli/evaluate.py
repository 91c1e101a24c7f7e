"""Score every case of a run: the Python API behind ``dice score``.

    >>> from dicecli.evaluate import evaluate
    >>> run = evaluate("gt/", "pred/", threshold=0.5)
    >>> run.summary.mean

Data flows one way: paths -> pairs -> Volumes -> counts per case -> Summary.
A case that cannot be scored becomes a CaseError; the other cases are still
scored. Results come back in case-name order whatever the number of jobs.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

import numpy as np

from .aggregate import Summary, summarize
from .errors import InputError, UsageError
from .geometry import GEOMETRY_MODES, check_shape, geometry_mismatch
from .interpret import to_labels
from .pairing import Pair, Pairing, pair_paths
from .readers import read_volume
from .score import EMPTY_BOTH_VALUES, CaseCounts, count_labels, dice, statuses


@dataclass(frozen=True)
class Settings:
    """Everything that shapes the numbers; echoed in every report.

    threshold: probability maps are foreground where p >= threshold.
    smooth: s in (2·TP + s) / (2·TP + FP + FN + s); 0 gives exact Dice.
    empty_both: "nan" (undefined, left out of means), "one" or "zero".
    labels: classes to score; None = every non-zero label found in the run.
    include_background: also score label 0.
    missing_as_empty: score a missing prediction as an empty mask instead of an error.
    geometry: spacing/affine mismatch is an error ("strict"), a warning, or ignored.
    jobs: worker processes; 0 = every usable core.
    """

    threshold: float = 0.5
    smooth: float = 0.0
    empty_both: str = "nan"
    labels: tuple[int, ...] | None = None
    include_background: bool = False
    missing_as_empty: bool = False
    geometry: str = "strict"
    jobs: int = 0

    def __post_init__(self):
        if not 0.0 <= self.threshold <= 1.0:
            raise UsageError(f"threshold must be within [0, 1], got {self.threshold}")
        if not (self.smooth >= 0 and np.isfinite(self.smooth)):
            raise UsageError(f"smooth must be a finite number >= 0, got {self.smooth}")
        if self.empty_both not in EMPTY_BOTH_VALUES:
            raise UsageError(f"empty_both must be one of {', '.join(EMPTY_BOTH_VALUES)}")
        if self.geometry not in GEOMETRY_MODES:
            raise UsageError(f"geometry must be one of {', '.join(GEOMETRY_MODES)}")
        if self.labels is not None and any(int(v) < 0 for v in self.labels):
            raise UsageError("labels must be >= 0")
        if self.jobs < 0:
            raise UsageError("jobs must be >= 0")


@dataclass(frozen=True, eq=False)
class CaseResult:
    """A scored case. ``pred`` is None when a missing prediction was scored as empty."""

    case: str
    gt: str
    pred: str | None
    counts: CaseCounts
    pred_kind: str
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaseError:
    """A case that could not be scored: the file at fault and a one-line reason."""

    case: str | None
    path: str | None
    message: str


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The outcome of a run. Tables are (cases x classes), in ``cases`` and ``labels`` order."""

    settings: Settings
    labels: tuple[int, ...]
    cases: tuple[CaseResult, ...]
    errors: tuple[CaseError, ...]
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    dice: np.ndarray
    status: np.ndarray
    summary: Summary
    pairing: Pairing
    warnings: tuple[str, ...] = field(default=())


def usable_cores() -> int:
    """Cores this process may run on (never 0)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _check_dimensions(volume) -> None:
    if volume.array.ndim not in (2, 3):
        raise InputError(
            volume.path,
            f"is {volume.array.ndim}D with shape {tuple(volume.array.shape)}; a mask must be 2D or 3D",
        )


def score_pair(pair: Pair, settings: Settings) -> CaseResult | CaseError:
    """Read, check and count one case; any input problem becomes a CaseError."""
    path = pair.gt
    try:
        gt = read_volume(pair.gt)
        _check_dimensions(gt)
        gt_labels, _ = to_labels(gt.array, threshold=settings.threshold, allow_probability=False)
        warnings: list[str] = []
        if pair.pred is None:
            pred_labels, kind = np.zeros(gt_labels.shape, dtype=np.uint8), "missing"
        else:
            path = pair.pred
            pred = read_volume(pair.pred)
            _check_dimensions(pred)
            check_shape(gt, pred.array.shape, pair.pred)
            mismatch = None if settings.geometry == "ignore" else geometry_mismatch(gt, pred)
            if mismatch and settings.geometry == "strict":
                raise InputError(pair.pred, mismatch)
            if mismatch:
                warnings.append(f"{pair.pred}: {mismatch}")
            pred_labels, kind = to_labels(pred.array, threshold=settings.threshold, allow_probability=True)
        counts = count_labels(gt_labels, pred_labels)
        return CaseResult(pair.case, pair.gt, pair.pred, counts, kind, tuple(warnings))
    except InputError as exc:
        exc_path = exc.path or path
        return CaseError(pair.case, exc_path, f"{exc_path}: {exc.reason}")
    except MemoryError:
        return CaseError(pair.case, path, f"{path}: not enough memory to score this case")


def _score_star(args: tuple[Pair, Settings]) -> CaseResult | CaseError:
    return score_pair(*args)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _score_all(pairs: list[Pair], settings: Settings, progress: Callable[[], None] | None) -> Iterable:
    jobs = min(settings.jobs or usable_cores(), max(1, len(pairs)))
    work = [(pair, settings) for pair in pairs]
    if jobs <= 1:
        for item in work:
            yield _score_star(item)
            if progress:
                progress()
        return
    import multiprocessing

    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    pool = context.Pool(jobs, initializer=_ignore_sigint)
    try:
        # Small batches cut inter-process traffic on many small cases; big cases go one by one.
        chunksize = max(1, min(8, len(work) // (jobs * 8)))
        for outcome in pool.imap(_score_star, work, chunksize=chunksize):
            yield outcome
            if progress:
                progress()
        pool.close()
    finally:
        pool.terminate()
        pool.join()


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


def run_labels(results: list[CaseResult], settings: Settings) -> tuple[int, ...]:
    """The classes of the run: ``settings.labels`` or every non-zero label found."""
    if settings.labels is not None:
        labels = set(int(v) for v in settings.labels)
    else:
        labels = {int(v) for r in results for v in r.counts.labels if v != 0}
    if settings.include_background:
        labels.add(0)
    return tuple(sorted(labels))


def evaluate_pairing(
    pairing: Pairing, settings: Settings, *, progress: Callable[[], None] | None = None
) -> Evaluation:
    """Score the cases of ``pairing``; ``progress`` is called once per finished case."""
    errors = _pairing_errors(pairing, settings)
    todo = [p for p in pairing.pairs if p.pred is not None or settings.missing_as_empty]
    results: list[CaseResult] = []
    for outcome in _score_all(todo, settings, progress):
        (errors if isinstance(outcome, CaseError) else results).append(outcome)
    labels = run_labels(results, settings)
    shape = (len(results), len(labels))
    tp, fp, fn = (np.zeros(shape, dtype=np.int64) for _ in range(3))
    for row, result in enumerate(results):
        tp[row], fp[row], fn[row] = result.counts.select(np.asarray(labels, dtype=np.int64))
    values = dice(tp, fp, fn, smooth=settings.smooth, empty_both=settings.empty_both)
    summary = summarize(
        values, tp, fp, fn,
        foreground=np.asarray([v != 0 for v in labels], dtype=bool),
        smooth=settings.smooth, empty_both=settings.empty_both,
    )
    errors.sort(key=lambda e: (e.case or "", e.path or ""))
    return Evaluation(
        settings=settings,
        labels=labels,
        cases=tuple(results),
        errors=tuple(errors),
        tp=tp, fp=fp, fn=fn,
        dice=values,
        status=statuses(tp, fp, fn).reshape(shape),
        summary=summary,
        pairing=pairing,
        warnings=tuple(w for r in results for w in r.warnings),
    )


def evaluate(gt: str, pred: str, settings: Settings | None = None, **options) -> Evaluation:
    """Pair ``gt`` and ``pred`` (two folders or two files) and score every case.

    Keyword options override fields of ``settings`` (see Settings). Raises
    PairingError when a folder is missing or empty; per-case problems are
    returned in ``Evaluation.errors``.
    """
    settings = replace(settings or Settings(), **options)
    return evaluate_pairing(pair_paths(str(gt), str(pred)), settings)
