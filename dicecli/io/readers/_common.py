"""Checks shared by every reader: the file exists, is readable, regular and non-empty."""

from __future__ import annotations

import os
import stat

from ...errors import ReadError, os_reason


def _cannot_open(path: str, exc: OSError) -> ReadError:
    return ReadError(path, f"cannot open file ({os_reason(exc)})")


def _refuse_non_regular(path: str, info: os.stat_result) -> None:
    """ReadError for a directory or anything else that is not a regular file (FIFO, device, socket)."""
    if stat.S_ISDIR(info.st_mode):
        raise ReadError(path, "is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ReadError(path, "not a regular file")


def check_file(path: str, *, probe_open: bool = True) -> int:
    """Refuse missing, non-regular and empty files; return the size in bytes.

    probe_open: also open the file once, so permission problems get a clear
    message before a decoding library sees them (readers that read the bytes
    themselves through read_bytes skip it).
    """
    try:
        info = os.stat(path)
        _refuse_non_regular(path, info)
        if probe_open:
            with open(path, "rb"):
                pass
    except OSError as exc:
        raise _cannot_open(path, exc) from None
    if info.st_size == 0:
        raise ReadError(path, "empty file (0 bytes)")
    return info.st_size


def read_file(path: str) -> tuple[bytes, int]:
    """(the whole file, its size) with check_file's refusals and messages, in one open: the file is
    opened without blocking (a FIFO is refused, never waited on) and checked on its descriptor."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except IsADirectoryError:
        raise ReadError(path, "is a directory, not a file") from None
    except OSError as exc:
        raise _cannot_open(path, exc) from None
    try:
        info = os.fstat(fd)
        _refuse_non_regular(path, info)
        if info.st_size == 0:
            raise ReadError(path, "empty file (0 bytes)")
        with open(fd, "rb", closefd=False) as handle:
            return handle.read(), info.st_size
    except OSError as exc:
        raise _cannot_open(path, exc) from None
    finally:
        os.close(fd)


def read_bytes(path: str) -> bytes:
    """The whole file, or ReadError naming why it cannot be opened."""
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise _cannot_open(path, exc) from None


def first_line(exc: BaseException, path: str) -> str:
    """The first line of a decoder's message, with the path replaced by 'file'."""
    lines = str(exc).replace(path, "file").strip().splitlines()
    return lines[0] if lines else ""


def native_numbers(path: str, array):
    """``array`` in native byte order; ReadError (naming ``path``) unless it holds one real number
    per voxel (bool, integer or float: no complex, RGB records or strings)."""
    if array.dtype.kind not in "buif":
        raise ReadError(path, f"holds {array.dtype} values: a mask holds one number per voxel")
    return array if array.dtype.isnative else array.astype(array.dtype.newbyteorder("="))
