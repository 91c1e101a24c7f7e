"""The scored cases of a run, kept column by column: a run of 100,000 cases holds no Python object
per case.

A run used to keep one CaseResult per case (with four small count arrays each: about 1.3 KB per
small case) until its reports were written. CaseTable keeps the same facts in growing typed arrays
instead: the counts of every (case, label) end to end, one number per case for each scalar field,
the case name and paths as references to the pairing's own strings. What is rare and large (per-case
warnings, object and lesion counts, boundary metrics) is kept per case, only for the cases that have
it. ``table[i]`` and iteration give back CaseResults equal field for field to those added (the
joint confusion cells excepted: a run never keeps them), made on demand; reporters read whole
columns with :meth:`CaseTable.values`.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

import numpy as np

from ..case import CaseResult
from ..core.aggregate import RunCounts
from ..core.score import CaseCounts

#: Flag bits of each case.
_FLAGS = ("quantised", "instances", "axes_reversed", "axes_unchecked")
_HAS_REGIONS, _HAS_SOFT = 1 << len(_FLAGS), 1 << (len(_FLAGS) + 1)
#: Optional scalar fields kept as float64 (NaN = None) or int64 (_NO_INT = None) columns.
_FLOATS = ("prob_scale", "voxel_volume_mm3")
_NO_INT = -(1 << 63)
#: Fields kept per case only where they differ from their default (rare, or objects by nature).
_SPARSE = ("warnings", "objects", "lesions", "boundary")
_DEFAULTS = {f.name: f.default for f in fields(CaseResult)}


class CaseTable(Sequence):
    """The scored cases of a run in order (see the module docstring). Add every case with
    :meth:`add`, then :meth:`sort`, then read (arrays a reader keeps view the columns: a column
    cannot grow while they live)."""

    def __init__(self) -> None:
        self._case: list[str] = []
        self._gt: list[str] = []
        self._pred: list[str | None] = []
        self._kinds: list[str] = []  # distinct pred_kind values; _kind holds indices into it
        self._kind = array("h")
        self._floats = {name: array("d") for name in _FLOATS}
        self._channel_axis = array("q")
        self._flags = array("B")
        self._n_voxels, self._n_ignored = array("q"), array("q")
        self._n_labels = array("q")  # labels of each case: its stretch of the four count arrays
        self._counts = {name: array("q") for name in ("labels", "tp", "fp", "fn")}
        self._region_shape: tuple[int, ...] | None = None
        self._regions = array("q")  # (regions, 3) counts of each case that has them, end to end
        self._n_soft = array("q")
        self._soft_labels, self._soft_sums = array("q"), array("d")
        self._sparse: dict[int, dict] = {}  # row -> {field: value} of what is rare or of another type
        self._offsets: dict[str, np.ndarray] | None = None
        self._views: dict[int, np.ndarray] | None = None  # numpy views of the columns, by id(column)

    @classmethod
    def of(cls, results) -> "CaseTable":
        """A table of CaseResults, in the order given (a CaseTable is returned as it is)."""
        if isinstance(results, CaseTable):
            return results
        table = cls()
        for result in results:
            table.add(result)
        return table

    # -- adding ---------------------------------------------------------------------------------

    def add(self, result: CaseResult, pair=None) -> None:
        """Append a case; ``pair``: the Pair it was scored from (its strings are kept instead of
        equal copies, as a worker's result brings)."""
        if self._views is not None:
            self._views = None  # views export the columns' buffers: they must go before a column grows
        row = len(self._case)
        sparse: dict = {}
        case, gt, pred = result.case, result.gt, result.pred
        if pair is not None:
            case = pair.case if pair.case == case else case
            gt = pair.gt if pair.gt == gt else gt
            pred = pair.pred if pair.pred == pred else pred
        self._case.append(case)
        self._gt.append(gt)
        self._pred.append(pred)
        try:
            kind = self._kinds.index(result.pred_kind)
        except ValueError:
            kind = len(self._kinds)
            self._kinds.append(result.pred_kind)
        self._kind.append(kind)
        self._add_scalars(result, sparse)
        counts = result.counts
        self._n_voxels.append(counts.n_voxels)
        self._n_ignored.append(counts.n_ignored)
        self._n_labels.append(len(counts.labels))
        c = self._counts
        for column, values in ((c["labels"], counts.labels), (c["tp"], counts.tp), (c["fp"], counts.fp),
                               (c["fn"], counts.fn)):
            column.frombytes(np.asarray(values, dtype=np.int64).tobytes())
        flags = 0 if result.region_counts is None else self._add_regions(result, sparse)
        if result.soft_sums is not None or result.soft_labels != ():
            flags |= self._add_soft(result, sparse)
        else:
            self._n_soft.append(0)
        self._flags.append(flags | self._add_flags(result, sparse))
        if result.warnings != ():
            sparse["warnings"] = result.warnings
        for name in ("objects", "lesions", "boundary"):
            value = getattr(result, name)
            if value is not None:
                sparse[name] = value
        if sparse:
            self._sparse[row] = sparse
        self._offsets = None

    def _add_scalars(self, result: CaseResult, sparse: dict) -> None:
        for name in _FLOATS:
            value = getattr(result, name)
            if value is None or type(value) is float:
                self._floats[name].append(float("nan") if value is None else value)
            else:  # kept as it is (an int stays an int in the reports)
                self._floats[name].append(float("nan"))
                sparse[name] = value
        axis = result.channel_axis
        if axis is None or (type(axis) is int and -(1 << 62) < axis < (1 << 62)):
            self._channel_axis.append(_NO_INT if axis is None else axis)
        else:
            self._channel_axis.append(_NO_INT)
            sparse["channel_axis"] = axis

    @staticmethod
    def _add_flags(result: CaseResult, sparse: dict) -> int:
        flags = 0
        if (result.quantised is False and result.instances is False and result.axes_reversed is False
                and result.axes_unchecked is False):
            return 0  # the common case
        for bit, name in enumerate(_FLAGS):
            value = getattr(result, name)
            if value is True:
                flags |= 1 << bit
            elif value is not False:
                sparse[name] = value
        return flags

    def _add_regions(self, result: CaseResult, sparse: dict) -> int:
        regions = result.region_counts
        if regions is None:
            return 0
        regions = np.asarray(regions)
        if self._region_shape is None:
            self._region_shape = regions.shape
        if regions.shape == self._region_shape and regions.dtype.kind in "iu":
            self._regions.extend(regions.astype(np.int64).ravel().tolist())
            return _HAS_REGIONS
        sparse["region_counts"] = result.region_counts
        return 0

    def _add_soft(self, result: CaseResult, sparse: dict) -> int:
        soft, labels = result.soft_sums, result.soft_labels
        if soft is None and labels == ():
            self._n_soft.append(0)
            return 0
        if (isinstance(soft, np.ndarray) and soft.dtype == np.float64 and soft.shape == (len(labels), 2)
                and all(type(v) is int for v in labels)):
            self._n_soft.append(len(labels))
            self._soft_labels.extend(labels)
            self._soft_sums.extend(soft.ravel().tolist())
            return _HAS_SOFT
        self._n_soft.append(0)
        sparse.update(soft_labels=labels, soft_sums=soft)
        return 0

    def sort(self) -> None:
        """Put the cases in case-name order (a stable sort, as sorting the CaseResults by name)."""
        names = self._case
        if all(a <= b for a, b in zip(names, names[1:])):
            return
        order = sorted(range(len(names)), key=names.__getitem__)
        for attr in ("_case", "_gt", "_pred"):
            column = getattr(self, attr)
            setattr(self, attr, [column[i] for i in order])
        index = np.asarray(order, dtype=np.int64)

        def take(column: array, sizes: np.ndarray | None = None, width: int = 1) -> array:
            values = np.frombuffer(column, dtype=column.typecode) if len(column) else np.zeros(0, column.typecode)
            if sizes is None:
                picked = values[index]
            else:
                starts = np.concatenate(([0], np.cumsum(sizes)[:-1])) * width
                picked = np.concatenate([values[s:s + n * width] for s, n in zip(starts[index].tolist(),
                                                                                   sizes[index].tolist())]
                                        or [values[:0]])
            out = array(column.typecode)
            out.frombytes(picked.astype(values.dtype, copy=False).tobytes())
            return out

        n_labels = np.frombuffer(self._n_labels, dtype=np.int64).copy()
        n_soft = np.frombuffer(self._n_soft, dtype=np.int64).copy()
        flags = np.frombuffer(self._flags, dtype=np.uint8)
        width = int(np.prod(self._region_shape)) if self._region_shape is not None else 0
        regions = take(self._regions, ((flags & _HAS_REGIONS) > 0).astype(np.int64), width)
        self._counts = {name: take(column, n_labels) for name, column in self._counts.items()}
        self._soft_labels, self._soft_sums = take(self._soft_labels, n_soft), take(self._soft_sums, n_soft, 2)
        self._regions = regions
        for attr in ("_kind", "_channel_axis", "_flags", "_n_voxels", "_n_ignored", "_n_labels", "_n_soft"):
            setattr(self, attr, take(getattr(self, attr)))
        self._floats = {name: take(column) for name, column in self._floats.items()}
        new_row = {old: new for new, old in enumerate(order)}
        self._sparse = {new_row[row]: values for row, values in self._sparse.items()}
        self._offsets = self._views = None

    # -- reading --------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._case)

    def _column(self, column: array) -> np.ndarray:
        """A column as a read-only numpy view (no copy), made once until the table changes."""
        if self._views is None:
            self._views = {}
        out = self._views.get(id(column))
        if out is None:
            out = np.frombuffer(column, dtype=column.typecode) if len(column) else np.zeros(0, column.typecode)
            out.flags.writeable = False
            self._views[id(column)] = out
        return out

    def _starts(self, what: str = "labels") -> np.ndarray:
        """Where each case's stretch starts in the end-to-end columns of ``what`` (labels, soft or
        regions: counted in entries of that column), one more entry for the end."""
        if self._offsets is None:
            has_regions = ((self._column(self._flags) & _HAS_REGIONS) > 0).astype(np.int64)
            self._offsets = {name: np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
                             for name, sizes in (("labels", self._column(self._n_labels)),
                                                 ("soft", self._column(self._n_soft)), ("regions", has_regions))}
        return self._offsets[what]

    def run_counts(self) -> RunCounts:
        """The counts of every case end to end (RunCounts.of the cases' counts, without the cases), as
        read-only views of the table's columns."""
        sizes = self._column(self._n_labels)
        case = np.repeat(np.arange(len(self), dtype=np.int64), sizes)
        return RunCounts(case, *(self._column(self._counts[name]) for name in ("labels", "tp", "fp", "fn")))

    def counts_of(self, row: int) -> CaseCounts:
        starts = self._starts()
        a, b = int(starts[row]), int(starts[row + 1])
        c = self._counts
        return CaseCounts(self._column(c["labels"])[a:b].copy(), self._column(c["tp"])[a:b].copy(),
                          self._column(c["fp"])[a:b].copy(), self._column(c["fn"])[a:b].copy(),
                          self._n_voxels[row], self._n_ignored[row])

    def region_counts(self) -> np.ndarray:
        """(cases, regions, 3) counts of the regions (zeros for a case without them)."""
        shape = self._region_shape or (0, 3)
        out = np.zeros((len(self),) + tuple(shape), dtype=np.int64)
        has = (self._column(self._flags) & _HAS_REGIONS) > 0
        out[has] = self._column(self._regions).reshape((-1,) + tuple(shape))
        for row, values in self._sparse.items():
            if "region_counts" in values:
                out[row] = values["region_counts"]
        return out

    def soft(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(rows, labels, sums (n, 2)) of every soft-Dice entry, in row order then label order."""
        rows = np.repeat(np.arange(len(self), dtype=np.int64), self._column(self._n_soft))
        return rows, self._column(self._soft_labels), self._column(self._soft_sums).reshape(-1, 2)

    def values(self, name: str, start: int = 0, stop: int | None = None) -> list:
        """Field ``name`` of cases start..stop as a list, each value what ``table[i].name`` holds
        (for ``n_voxels`` and ``n_ignored``: the counts' fields)."""
        stop = len(self) if stop is None else min(stop, len(self))
        if name in ("case", "gt", "pred"):
            return getattr(self, "_" + name)[start:stop]
        if name == "pred_kind":
            return [self._kinds[k] for k in self._kind[start:stop]]
        if name in ("n_voxels", "n_ignored"):
            return getattr(self, "_" + name)[start:stop].tolist()
        out: list
        if name in _FLOATS:
            out = [None if v != v else v for v in self._floats[name][start:stop]]
        elif name == "channel_axis":
            out = [None if v == _NO_INT else v for v in self._channel_axis[start:stop]]
        elif name in _FLAGS:
            bit = 1 << _FLAGS.index(name)
            out = [bool(f & bit) for f in self._flags[start:stop]]
        elif name in _SPARSE:
            out = [_DEFAULTS[name]] * (stop - start)
        else:
            return [getattr(self[row], name) for row in range(start, stop)]
        for row, values in self._sparse.items():
            if start <= row < stop and name in values:
                out[row - start] = values[name]
        return out

    def rows_with(self, name: str) -> list[int]:
        """Rows whose flag ``name`` (quantised, instances, axes_reversed, axes_unchecked) is set."""
        return [row for row, value in enumerate(self.values(name)) if value]

    def pred_kind_counts(self) -> dict[str, int]:
        """How many cases have each pred_kind, by kind name (sorted)."""
        if not len(self):
            return {}
        counts = np.bincount(self._column(self._kind), minlength=len(self._kinds)).tolist()
        return dict(sorted((self._kinds[k], n) for k, n in enumerate(counts) if n))

    def warnings(self) -> list[str]:
        """Every case's warnings, in case order."""
        return [w for row in sorted(self._sparse) for w in self._sparse[row].get("warnings", ())]

    def __getitem__(self, row):
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError("case index out of range")
        flags = self._flags[row]
        data: dict[str, Any] = {name: None if self._floats[name][row] != self._floats[name][row]
                                else self._floats[name][row] for name in _FLOATS}
        axis = self._channel_axis[row]
        data["channel_axis"] = None if axis == _NO_INT else axis
        data.update((name, bool(flags & (1 << bit))) for bit, name in enumerate(_FLAGS))
        if flags & _HAS_REGIONS and self._region_shape is not None:
            width = int(np.prod(self._region_shape))
            before = int(self._starts("regions")[row])
            data["region_counts"] = self._column(self._regions)[before * width:(before + 1) * width].reshape(
                self._region_shape).copy()
        if flags & _HAS_SOFT:
            a, b = (int(v) for v in self._starts("soft")[row:row + 2])
            data["soft_labels"] = tuple(self._soft_labels[a:b].tolist())
            data["soft_sums"] = self._column(self._soft_sums)[2 * a:2 * b].reshape(-1, 2).copy()
        data.update(self._sparse.get(row, {}))
        return CaseResult(case=self._case[row], gt=self._gt[row], pred=self._pred[row], counts=self.counts_of(row),
                          pred_kind=self._kinds[self._kind[row]], **data)

    def __iter__(self):
        for row in range(len(self)):
            yield self[row]

    def __repr__(self) -> str:
        return f"<CaseTable of {len(self)} case(s)>"
