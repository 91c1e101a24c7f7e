"""Checks shared by every reader: the file exists, is readable, regular and non-empty."""

from __future__ import annotations

import os
import stat

from ..errors import ReadError


def check_file(path: str) -> int:
    """Refuse missing, unreadable, non-regular and empty files; return the size in bytes."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            raise ReadError(path, "is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise ReadError(path, "not a regular file")
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ReadError(path, f"cannot open file ({(exc.strerror or str(exc)).lower()})") from None
    if info.st_size == 0:
        raise ReadError(path, "empty file (0 bytes)")
    return info.st_size


def first_line(exc: BaseException, path: str) -> str:
    """The first line of a decoder's message, with the path replaced by 'file'."""
    lines = str(exc).replace(path, "file").strip().splitlines()
    return lines[0] if lines else ""
