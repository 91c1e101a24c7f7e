"""Aggregate per-case scores into per-class and overall summaries (numpy only).

Rules (documented in docs/conventions.md and the man page):
- per class: n = cases with a defined Dice, n_undefined = cases where it is
  undefined (both masks empty under ``empty_both=nan``); mean, std (sample,
  n - 1; None when n < 2), median, min, max over the defined values;
  pooled = Dice of the counts summed over all cases.
- overall: mean of the per-class means over foreground classes with n > 0, and
  pooled Dice of the counts summed over cases and foreground classes.
Undefined statistics are None, never NaN.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import NamedTuple

import numpy as np

from .score import CaseCounts, dice


class RunCounts(NamedTuple):
    """The counts of every case of a run, end to end: entry i is label ``labels[i]`` of case
    ``case[i]`` (cases in the order given, each case's labels sorted)."""

    case: np.ndarray
    labels: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray

    @classmethod
    def of(cls, counts: list[CaseCounts]) -> "RunCounts":
        """One concatenation per field, however many cases (no per-case numpy work)."""
        if not counts:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty, empty, empty, empty, empty)
        sizes = np.fromiter((len(c.labels) for c in counts), dtype=np.int64, count=len(counts))
        joined = [np.concatenate([getattr(c, name) for c in counts]).astype(np.int64, copy=False)
                  for name in ("labels", "tp", "fp", "fn")]
        return cls(np.repeat(np.arange(len(counts), dtype=np.int64), sizes), *joined)

    def present(self, where: np.ndarray | None = None) -> np.ndarray:
        """Sorted distinct labels (of the entries ``where`` selects). Sorted by hand: np.unique
        imports numpy.ma, 10 ms of every run's start-up."""
        values = np.sort(self.labels if where is None else self.labels[where])
        return values[np.concatenate(([True], values[1:] != values[:-1]))] if len(values) else values

    def tables(self, n_cases: int, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tp, fp, fn) tables of shape (n_cases, len(labels)); a label absent from a case counts 0."""
        labels = np.asarray(labels, dtype=np.int64)
        out = [np.zeros((n_cases, len(labels)), dtype=np.int64) for _ in range(3)]
        if not len(labels) or not len(self.labels):
            return out[0], out[1], out[2]
        order = np.argsort(labels, kind="stable")
        pos = np.minimum(np.searchsorted(labels[order], self.labels), len(labels) - 1)
        found = labels[order][pos] == self.labels
        rows, cols = self.case[found], order[pos[found]]
        for table, values in zip(out, (self.tp, self.fp, self.fn)):
            table[rows, cols] = values[found]
        return out[0], out[1], out[2]


class ClassSummary(NamedTuple):
    """Statistics of one class over cases; None where undefined.

    An immutable NamedTuple rather than a frozen dataclass: runs can have tens of thousands of
    classes, and a NamedTuple is built about 7x faster.
    """

    n: int
    n_undefined: int
    mean: float | None
    std: float | None
    median: float | None
    min: float | None
    max: float | None
    pooled: float | None


@dataclass(frozen=True)
class Summary:
    """Per-class summaries (in label order) and the overall mean and pooled Dice."""

    classes: tuple[ClassSummary, ...]
    mean: float | None
    pooled: float | None


def _maybe(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def summarize_class(values: np.ndarray, tp, fp, fn, *, smooth: float, empty_both: str) -> ClassSummary:
    """Summarise one class: ``values`` are its per-case Dice (NaN = undefined)."""
    pooled = dice(np.sum(tp), np.sum(fp), np.sum(fn), smooth=smooth, empty_both=empty_both)
    return summarize_metric(values, pooled=float(pooled))


#: The summary of any per-case metric of one class (same statistics as Dice).
MetricSummary = ClassSummary

#: Table cells summarised at once by summarize_columns (bounds its temporaries).
_COLUMN_CHUNK_CELLS = 1 << 20


def summarize_metric(values: np.ndarray, *, pooled: float | None) -> ClassSummary:
    """n, n_undefined, mean, std, median, min, max of per-case ``values`` (NaN = undefined).

    pooled: the metric of the counts summed over cases, computed by the caller.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    return summarize_columns(values, np.asarray([np.nan if pooled is None else pooled]))[0]


def _column_stats(values: np.ndarray) -> dict[str, np.ndarray]:
    """Per column of a (cases x columns) table: n and the statistics of its finite values (NaN where
    undefined). Vectorised over columns: cost is linear in cells, whatever the number of columns."""
    defined = np.isfinite(values)
    n = defined.sum(axis=0)
    zeroed = np.where(defined, values, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = zeroed.sum(axis=0) / n
        deviation = np.where(defined, values - mean, 0.0)
        std = np.sqrt((deviation * deviation).sum(axis=0) / (n - 1))
    ordered = np.sort(np.where(defined, values, np.nan), axis=0)  # NaN sorts last
    cols = np.arange(values.shape[1])
    last = max(values.shape[0] - 1, 0)
    if values.shape[0]:
        low = ordered[np.clip((n - 1) // 2, 0, last), cols]
        high = ordered[np.clip(n // 2, 0, last), cols]
        median = (low + high) / 2
    else:
        median = np.full(values.shape[1], np.nan)
    return dict(n=n, mean=mean, std=np.where(n >= 2, std, np.nan), median=np.where(n > 0, median, np.nan),
                min=np.where(n > 0, np.where(defined, values, np.inf).min(axis=0, initial=np.inf), np.nan),
                max=np.where(n > 0, np.where(defined, values, -np.inf).max(axis=0, initial=-np.inf), np.nan))


def _maybe_list(values: np.ndarray) -> list:
    """Floats as Python floats, None where not finite (one tolist; the undefined set by index)."""
    values = np.asarray(values, dtype=np.float64)
    out = values.tolist()
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = None
    return out


def summarize_columns(values: np.ndarray, pooled) -> tuple[ClassSummary, ...]:
    """summarize_metric of every column of a (cases x columns) table at once, in column order.

    pooled: one pooled value per column (NaN or None = undefined).
    """
    values = np.asarray(values, dtype=np.float64)
    n_cases, n_columns = values.shape
    pooled = _maybe_list(np.asarray([np.nan if p is None else p for p in pooled], dtype=np.float64))
    step = max(1, _COLUMN_CHUNK_CELLS // max(n_cases, 1))
    out: list[ClassSummary] = []
    for start in range(0, n_columns, step):
        stats = _column_stats(values[:, start:start + step])
        n = stats["n"].tolist()
        columns = [_maybe_list(stats[k]) for k in ("mean", "std", "median", "min", "max")]
        undefined = (n_cases - stats["n"]).tolist()
        # a tuple made from each row of fields in order (as ClassSummary._make, with no Python frame
        # or keyword parsing per class: runs can have 30,000 classes)
        out += map(partial(tuple.__new__, ClassSummary), zip(n, undefined, *columns, pooled[start:start + step]))
    return tuple(out)


def summarize(
    values: np.ndarray,
    tp: np.ndarray,
    fp: np.ndarray,
    fn: np.ndarray,
    *,
    foreground: np.ndarray,
    smooth: float,
    empty_both: str,
) -> Summary:
    """Summarise a (cases x classes) table of Dice values and counts.

    foreground: bool per class; only these enter the overall mean and pooled value.
    """
    values = np.asarray(values, dtype=np.float64)
    pooled_each = dice(np.sum(tp, axis=0), np.sum(fp, axis=0), np.sum(fn, axis=0), smooth=smooth,
                       empty_both=empty_both)
    classes = summarize_columns(values, np.atleast_1d(pooled_each))
    means = [s.mean for s, fg in zip(classes, foreground) if fg and s.mean is not None]
    fg = np.asarray(foreground, dtype=bool)
    if fg.any() and values.shape[0]:
        pooled = _maybe(float(dice(tp[:, fg].sum(), fp[:, fg].sum(), fn[:, fg].sum(),
                                   smooth=smooth, empty_both=empty_both)))
    else:
        pooled = None
    return Summary(classes=classes, mean=float(np.mean(means)) if means else None, pooled=pooled)
