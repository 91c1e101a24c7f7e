"""Inflate gzip data strictly: every member checked to its end, nothing after it ignored.

A gzip file is one or more members (bgzip writes many), each a header, deflate
data and an 8-byte trailer holding the CRC-32 and the length (mod 2**32) of the
member's inflated bytes. NUL bytes after a member are padding and are skipped,
as gzip and Python's gzip module skip them. The inflater (ISA-L's ``isal_zlib``
when installed, else zlib; both check the trailer when they reach it) is fed
until every member has reached its trailer, so:

- data that end inside a member (no trailer)      -> "truncated data: ..."
- a trailer that does not match, bad deflate data -> "damaged gzip data: ..."
- bytes after the last member that are neither NUL padding nor another member
  ("trailing garbage")                            -> "damaged gzip data: ..."

Each is a :class:`~dicecli.errors.ReadError` without a path; the reader adds it.
"""

from __future__ import annotations

import re
import sys
import types
import zlib
from typing import Protocol

inflater_module: types.ModuleType
try:  # ISA-L inflates gzip about 2.5x faster than zlib; same bytes out
    from isal import isal_zlib as inflater_module
except ImportError:  # pragma: no cover - platforms without an isal wheel
    inflater_module = zlib

from ...errors import ReadError

MAGIC = b"\x1f\x8b"
#: Inflated bytes per step when data are only checked, not kept.
CHECK_STEP = 1 << 20
_CHECKSUM = re.compile(r"check|crc", re.I)  # zlib "incorrect data check", ISA-L "Incorrect checksum"


class _Inflater(Protocol):
    """What is used of a ``decompressobj`` (zlib's or isal_zlib's)."""

    unconsumed_tail: bytes
    unused_data: bytes
    eof: bool

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


def _truncated() -> ReadError:
    return ReadError(None, "truncated data: the gzip data end inside a member (no end-of-member "
                           "checksum; the file was cut short)")


class GzipMembers:
    """The inflated bytes of ``stored`` (concatenated gzip members), read in order.

    ``read`` hands out inflated bytes; ``finish`` inflates and checks whatever is
    left. ``inflated`` counts the bytes inflated so far. Every problem raises
    ReadError (see the module docstring).
    """

    def __init__(self, stored: bytes):
        self._data = stored  # compressed bytes not yet consumed by an inflater
        self._inflater: _Inflater | None = None  # the member being inflated; None between members
        self._members = 0  # members inflated to their end
        self.inflated = 0

    def read(self, size: int) -> bytes:
        """The next ``size`` inflated bytes, across members; fewer only when the last member
        ended (cleanly) first. No copy when one member supplies them all."""
        parts: list[bytes] = []
        while size > 0 and self._next_member():
            out = self._inflate(size)
            if out:
                parts.append(out)
                size -= len(out)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def finish(self) -> None:
        """Inflate and discard the rest of the data, so every member's trailer is checked."""
        while self._next_member():
            self._inflate(CHECK_STEP)

    def _next_member(self) -> bool:
        """True while a member is open or another one starts; False at the clean end."""
        if self._inflater is not None:
            return True
        data = self._data.lstrip(b"\0") if self._members else self._data
        if self._members and not data:
            return False
        if data[:2] != MAGIC:
            if not self._members:
                raise ReadError(None, "not gzip data (a .gz file starts with bytes 1f 8b)")
            raise ReadError(None, f"damaged gzip data: {len(data)} bytes after the last gzip member "
                                  "are not gzip data (trailing garbage; the file is corrupt)")
        self._data = data
        self._inflater = inflater_module.decompressobj(31)
        return True

    def _inflate(self, size: int) -> bytes:
        """Up to ``size`` bytes of the open member; closes it at its end."""
        inflater = self._inflater
        assert inflater is not None, "_next_member opens a member first"
        before = len(self._data)
        try:
            out = inflater.decompress(self._data, size)
        except MemoryError:
            raise
        except Exception as exc:  # zlib.error, isal_zlib.error: bad data or trailer
            raise damaged(exc) from None
        self.inflated += len(out)
        self._data = inflater.unconsumed_tail
        if inflater.eof:
            self._data, self._inflater = inflater.unused_data, None
            self._members += 1
        elif not out and len(self._data) == before:
            raise _truncated()  # no input left to go on with, and the member is not over
        return out


def damaged(exc: BaseException, what: str = "gzip data") -> ReadError:
    """The ReadError for an inflater's exception ``exc`` on ``what``."""
    if _CHECKSUM.search(str(exc)):
        return ReadError(None, f"damaged {what}: a checksum does not match (the file is corrupt)")
    return ReadError(None, f"damaged {what}: invalid compressed data (the file is corrupt)")


def gunzip_all(stored: bytes) -> bytes:
    """All the inflated bytes of ``stored``, every member checked (see the module docstring)."""
    members = GzipMembers(stored)
    out = members.read(sys.maxsize)
    members.finish()
    return out


def gunzip(stored: bytes, size: int) -> bytes:
    """The first ``size`` inflated bytes of ``stored`` (fewer if it holds fewer), unchecked
    beyond them: for peeking at a header."""
    return GzipMembers(stored).read(size)
