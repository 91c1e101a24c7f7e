"""A journal of finished cases (JSON lines) so a crashed or killed run resumes without rescoring.

``--journal run.jsonl`` appends one line per finished case, flushed as it
finishes: the case, both paths with their size and modification time
(nanoseconds), a fingerprint of the settings that shape the numbers, and the
case's record (its counts, or its error). ``--resume`` reads the journal and
reuses every scored case whose files are unchanged (same paths, sizes and
mtimes) and whose settings fingerprint matches; the rest, and every case that
failed, are scored and appended. A torn
last line (a crash mid-write) is ignored; any other damaged line is an input
error naming the journal and the line. The final reports equal a clean run's:
they are built from the same records.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from array import array
from typing import BinaryIO
from dataclasses import asdict, fields

import numpy as np

from ..core.boundary_case import CaseBoundary
from ..case import CaseError, CaseResult
from ..errors import InputError, OutputError, os_reason
from ..instances import PerClass
from ..core.score import CaseCounts

VERSION = 1
#: Settings that do not change a case's record (pairing layout, workers).
_NOT_IN_FINGERPRINT = {"jobs", "pred_suffix", "recursive", "gt_pattern", "pred_pattern", "labels",
                       "include_background", "missing_as_empty", "metrics", "label_names", "smooth",
                       "empty_both"}


def fingerprint(settings) -> str:
    """A short hash of the settings a case's counts depend on (threshold, kinds, regions, ...)."""
    values = {k: v for k, v in asdict(settings).items() if k not in _NOT_IN_FINGERPRINT}
    if settings.boundary_metrics:  # computed per class in the worker: they depend on which, and on the class keys
        values["boundary"] = [settings.boundary_metrics, settings.labels, settings.include_background,
                              settings.label_names]
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def file_stamp(path: str | None) -> list[int] | None:
    """[size in bytes, mtime in ns] of a file, None when missing."""
    if path is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return [int(info.st_size), int(info.st_mtime_ns)]


def _array(value):
    return None if value is None else np.asarray(value).tolist()


def result_record(result) -> dict:
    """A CaseResult or CaseError as JSON-safe data."""
    if isinstance(result, CaseError):
        return {"error": {"case": result.case, "path": result.path, "message": result.message}}
    counts = result.counts
    record = {f.name: getattr(result, f.name) for f in fields(result) if f.name != "counts"}
    for name in ("region_counts", "soft_sums"):
        record[name] = _array(record[name])
    for name in ("objects", "lesions"):
        record[name] = None if record.get(name) is None else record[name].record()
    record["soft_labels"] = list(record["soft_labels"])
    b = record.get("boundary")
    if b is not None:
        record["boundary"] = {"keys": list(b.keys), "metrics": list(b.metrics), "values": b.values.tolist(),
                              "nsd_parts": b.nsd_parts.tolist(), "spacing_mm": list(b.spacing_mm),
                              "spacing_source": b.spacing_source, "diagonal_mm": b.diagonal_mm}
    record["warnings"] = list(record["warnings"])
    record["counts"] = {"labels": _array(counts.labels), "tp": _array(counts.tp), "fp": _array(counts.fp),
                        "fn": _array(counts.fn), "n_voxels": counts.n_voxels, "n_ignored": counts.n_ignored,
                        "joint": None if counts.joint is None else [_array(a) for a in counts.joint]}
    return {"result": record}


def record_result(record: dict):
    """The CaseResult or CaseError of result_record's output."""
    if "error" in record:
        return CaseError(**record["error"])
    data = dict(record["result"])
    c = data.pop("counts")
    ints = lambda v: np.asarray(v, dtype=np.int64)  # noqa: E731
    counts = CaseCounts(labels=ints(c["labels"]), tp=ints(c["tp"]), fp=ints(c["fp"]), fn=ints(c["fn"]),
                        n_voxels=int(c["n_voxels"]), n_ignored=int(c["n_ignored"]),
                        joint=None if c["joint"] is None else tuple(ints(a) for a in c["joint"]))  # type: ignore[arg-type]  # the 3 saved
    if data.get("region_counts") is not None:
        data["region_counts"] = ints(data["region_counts"]).reshape(-1, 3)
    if data.get("soft_sums") is not None:
        data["soft_sums"] = np.asarray(data["soft_sums"], dtype=np.float64).reshape(-1, 2)
    for name in ("objects", "lesions"):
        if data.get(name) is not None:
            data[name] = PerClass.from_record(data[name])
    data["soft_labels"] = tuple(data["soft_labels"])
    b = data.get("boundary")
    if b is not None:
        n, k = len(b["keys"]), len(b["metrics"])
        data["boundary"] = CaseBoundary(
            keys=tuple(b["keys"]), metrics=tuple(b["metrics"]),
            values=np.asarray(b["values"], dtype=np.float64).reshape(n, k),
            nsd_parts=np.asarray(b["nsd_parts"], dtype=np.float64).reshape(n, 2),
            spacing_mm=tuple(b["spacing_mm"]), spacing_source=b["spacing_source"], diagonal_mm=b["diagonal_mm"])
    data["warnings"] = tuple(data["warnings"])
    known = {f.name for f in fields(CaseResult)}
    return CaseResult(counts=counts, **{k: v for k, v in data.items() if k in known})


class Journal:
    """Append-only writer: one flushed line per finished case.

    A torn last line left by a stopped run is cut first, so the lines appended stay lines of their
    own. A failed write (full disk, ``ulimit -f``) stops the run with an OutputError: the lines
    before it are whole, and ``--resume`` reuses them."""

    def __init__(self, path: str, settings) -> None:
        self.path = path
        self.fingerprint = fingerprint(settings)
        self.failed = False
        try:
            end_on_a_line(path)
            self.handle = open(path, "a", encoding="utf-8")
        except OSError as exc:
            raise InputError(path, f"cannot open the journal ({os_reason(exc)})") from None

    def add(self, pair, outcome) -> None:
        line = {"v": VERSION, "case": pair.case, "gt": pair.gt, "pred": pair.pred,
                "gt_stamp": file_stamp(pair.gt), "pred_stamp": file_stamp(pair.pred),
                "settings": self.fingerprint, **result_record(outcome)}
        try:
            self.handle.write(json.dumps(line, allow_nan=True, ensure_ascii=False) + "\n")
            self.handle.flush()
        except OSError as exc:
            self.failed = True
            raise OutputError(f"cannot write the journal {self.path} ({os_reason(exc)}); scoring stopped, "
                              "the cases it holds are reused by --resume") from None

    def close(self) -> None:
        try:
            self.handle.close()
        except OSError:  # the rest of a line whose write failed: already reported
            if not self.failed:
                raise


def end_on_a_line(path: str) -> None:
    """Make a journal that is a regular file end on a line end: a complete last line without its
    newline gets one; a torn last line (a run stopped mid-write) is cut off, only when the file's
    first line is a journal line (any other file named by mistake is left as it is)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return
        handle = open(path, "r+b")
    except OSError:  # missing (a new journal), or only appendable: nothing to repair here
        return
    with handle:
        end = start = handle.seek(0, os.SEEK_END)
        while start > 0:  # back to the last line end
            step = min(start, 1 << 16)
            handle.seek(start - step)
            piece = handle.read(step)
            at = max(piece.rfind(b"\n"), piece.rfind(b"\r"))
            start -= step
            if at >= 0:
                start += at + 1
                break
        if start == end:
            return
        handle.seek(start)
        if _is_line(handle.read(end - start)):
            handle.write(b"\n")
        elif _journal_before(handle, start, end):  # never cut a file that is not a journal
            handle.truncate(start)


#: How every journal line starts (Journal.add writes "v" and "case" first).
_LINE_START = json.dumps({"v": VERSION})[:-1].encode() + b', "case": '


def _journal_before(handle, start: int, end: int) -> bool:
    """Is the file a journal: its first line one (a torn last line after it), or, when the torn
    line is the only one, does that begin as a journal line does?"""
    if start > 0:
        handle.seek(0)
        return _is_line(handle.readline())
    handle.seek(0)
    head = handle.read(min(end, len(_LINE_START)))
    return _LINE_START.startswith(head) if len(head) < len(_LINE_START) else head == _LINE_START


def _is_line(text: bytes) -> bool:
    try:
        line = json.loads(_text(text))
    except (ValueError, RecursionError):
        return False
    return isinstance(line, dict) and line.get("v") == VERSION


class JournalEntries:
    """The reusable lines of a journal, by case: where each line starts in the file, not the line
    (a journal of 100,000 cases is read twice rather than kept); :meth:`get` reads one line back.

    Kept as two int64 arrays, sorted: the hash of each line's case and the line's offset (16 bytes
    a line, no object per case); cases whose hashes collide are told apart by reading their lines.
    Use as a context manager (or call close) to close the file."""

    def __init__(self, path: str, hashes: array, offsets: array) -> None:
        self.path = path
        keys = np.frombuffer(hashes, dtype=np.int64) if len(hashes) else np.zeros(0, np.int64)
        lines = np.frombuffer(offsets, dtype=np.int64) if len(offsets) else np.zeros(0, np.int64)
        order = np.lexsort((lines, keys))  # by hash, then by place in the file
        self.hashes, self.offsets = keys[order], lines[order]
        self._handle: BinaryIO | None = None

    def __len__(self) -> int:
        """Distinct cases (as far as their hashes tell)."""
        return int(np.count_nonzero(np.diff(self.hashes))) + 1 if len(self.hashes) else 0

    def get(self, case: str) -> dict | None:
        """The journal line of ``case`` (its last one written under these settings), None if none."""
        key = hash(case)
        lo, hi = int(np.searchsorted(self.hashes, key, "left")), int(np.searchsorted(self.hashes, key, "right"))
        for offset in reversed(self.offsets[lo:hi].tolist()):  # the latest line first
            line = self._read(offset)
            if line.get("case") == case:
                return line
        return None

    def _read(self, offset: int) -> dict:
        handle = self._handle
        if handle is None:
            handle = self._handle = _open(self.path)
        handle.seek(offset)
        return json.loads(_text(handle.readline().split(b"\r", 1)[0]))  # a line never holds a bare \r

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "JournalEntries":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _open(path: str):
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(path, f"cannot read the journal ({os_reason(exc)})") from None


def _text(line: bytes) -> str:
    """A journal line as text (its end of line dropped), as the journal is read: UTF-8, undecodable
    bytes kept as surrogates, any of \\r\\n, \\r, \\n ending a line."""
    return line.decode("utf-8", errors="surrogateescape").removesuffix("\n").removesuffix("\r")


def _lines(handle):
    """(offset, text) of each line of a journal opened in binary, lines split as text mode splits
    them (universal newlines: \\n, \\r\\n or a lone \\r), without the trailing empty line."""
    offset = 0
    for raw in handle:
        parts = raw.split(b"\r")
        if len(parts) == 1 or (len(parts) == 2 and parts[1] in (b"\n", b"")):
            yield offset, _text(raw)
        else:  # lone carriage returns inside: each ends a line
            at = offset
            for i, part in enumerate(parts):
                if i == len(parts) - 1 and part in (b"", b"\n"):
                    break
                yield at, _text(part)
                at += len(part) + 1
        offset += len(raw)


def read_journal(path: str, settings) -> tuple[JournalEntries, list[str]]:
    """(case -> journal line of the reusable cases, notes) for ``--resume``.

    A missing journal is an empty one. Lines written under other settings are
    not reused (and noted); a torn last line is ignored (and noted). The file is read line
    by line (never whole); the entries keep where each reusable line starts.
    """
    if not os.path.exists(path):
        return JournalEntries(path, array("q"), array("q")), []
    wanted = fingerprint(settings)
    hashes, offsets, notes, other_settings = array("q"), array("q"), [], 0
    with _open(path) as handle:
        lines = _lines(handle)
        bad = None  # the number of a line that is no journal line, while it may be the last
        try:
            for number, (offset, text) in enumerate(lines, start=1):
                if bad is not None:
                    raise InputError(path, f"line {bad} is not a journal line of dice")
                try:
                    line = json.loads(text)
                    if not isinstance(line, dict) or line.get("v") != VERSION or "case" not in line:
                        raise ValueError("not a journal line")
                except (ValueError, RecursionError):
                    bad = number
                    continue
                if line.get("settings") != wanted:
                    other_settings += 1
                    continue
                if "result" in line and isinstance(line["case"], str):  # errors are always scored again
                    hashes.append(hash(line["case"]))  # a later line of a case wins (JournalEntries.get)
                    offsets.append(offset)
        except OSError as exc:
            raise InputError(path, f"cannot read the journal ({os_reason(exc)})") from None
    if bad is not None:
        notes.append(f"{path}: the last line is incomplete (a run stopped mid-write); its case is scored again")
    if other_settings:
        notes.append(f"{path}: {other_settings} case(s) were journaled under other settings and are scored again")
    return JournalEntries(path, hashes, offsets), notes


def reusable(line: dict, pair) -> bool:
    """Is a journal line still the record of ``pair`` (same files, unchanged)?"""
    return (line.get("gt") == pair.gt and line.get("pred") == pair.pred
            and line.get("gt_stamp") == file_stamp(pair.gt) and line.get("pred_stamp") == file_stamp(pair.pred)
            and line.get("gt_stamp") is not None)
