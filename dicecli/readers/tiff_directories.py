"""Walk a TIFF file's chain of image directories before tifffile does, so hostile files cost little.

A TIFF file starts with a header pointing at its first image directory (IFD,
one per page); each directory lists tag entries and ends with the offset of the
next one, 0 ending the chain. tifffile follows the chain as far as it goes and
notices only some loops, so a few kilobytes whose chain loops back on itself
keep it reading, with memory growing, forever. Here the chain is walked with one
read per directory and the set of offsets seen, and refused (ReadError, no path) when:

- a directory is reached twice (the chain loops);
- it holds more than ``MAX_PAGES`` directories;
- a directory has no readable image width or length tag (one SHORT or LONG),
  or gives 0 as image width or length, samples per pixel, bits per sample,
  rows per strip, or tile width or length (tifffile divides by them).

Classic TIFF and BigTIFF, either byte order. A directory that cannot be read
(past the end of the file, more than ``MAX_ENTRIES`` entries) ends the walk and
is left for tifffile to report. The work is at most MAX_PAGES small reads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..errors import ReadError

MAX_PAGES = 2**16  # pages in one file: far more than any stack of mask slices
MAX_ENTRIES = 4096  # tag entries in one directory (tifffile's own limit)
_SIZE_TAGS = {256: "image width", 257: "image length", 258: "bits per sample", 277: "samples per pixel",
              278: "rows per strip", 322: "tile width", 323: "tile length"}
_REQUIRED = {256, 257}  # every page gives its image width and length
_INLINE = {3: "H", 4: "I", 16: "Q"}  # TIFF types SHORT, LONG, LONG8 -> struct codes


@dataclass(frozen=True)
class _Layout:
    """Field sizes of classic TIFF (offsets of 4 bytes) or BigTIFF (8 bytes)."""

    order: str  # "<" or ">"
    count: str  # struct code of a directory's entry count
    entry: np.dtype  # one tag entry: tag, type, count, value (or offset to it)
    offset: str  # struct code of an offset


def check_directories(handle, file_size: int) -> int:
    """Walk the directories of the TIFF file open in ``handle``; return how many there are.

    0 when the header is not TIFF (tifffile words that error). Raises ReadError
    for a loop, too many directories or a size tag of 0 (see the module docstring).
    """
    handle.seek(0)
    layout, offset = _header(handle.read(16))
    if layout is None:
        return 0
    seen: set[int] = set()
    while 0 < offset < file_size:
        if offset in seen:
            raise ReadError(None, f"damaged TIFF file: its chain of image directories loops back to byte "
                                  f"{offset} after {len(seen)} pages")
        if len(seen) == MAX_PAGES:
            raise ReadError(None, f"TIFF file has more than {MAX_PAGES} pages (image directories); "
                                  "dice reads at most that many")
        seen.add(offset)
        offset = _directory(handle, offset, file_size, layout, len(seen))
    return len(seen)


def _header(head: bytes) -> tuple[_Layout | None, int]:
    """(layout, offset of the first directory) of a classic or BigTIFF header; (None, 0) otherwise."""
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8:
        return None, 0
    magic = struct.unpack(order + "H", head[2:4])[0]
    if magic == 42:
        entry = np.dtype([("tag", order + "u2"), ("type", order + "u2"), ("count", order + "u4"), ("value", "V4")])
        return _Layout(order, "H", entry, "I"), struct.unpack(order + "I", head[4:8])[0]
    if magic == 43 and len(head) >= 16:
        entry = np.dtype([("tag", order + "u2"), ("type", order + "u2"), ("count", order + "u8"), ("value", "V8")])
        return _Layout(order, "Q", entry, "Q"), struct.unpack(order + "Q", head[8:16])[0]
    return None, 0


def _directory(handle, offset: int, file_size: int, layout: _Layout, page: int) -> int:
    """Check the size tags of the directory at ``offset`` (page ``page``, from 1); return the
    offset of the next directory, 0 when there is none or this one cannot be read."""
    count_size, offset_size = struct.calcsize(layout.count), struct.calcsize(layout.offset)
    handle.seek(offset)
    raw = handle.read(count_size)
    if len(raw) < count_size:
        return 0
    n = struct.unpack(layout.order + layout.count, raw)[0]
    size = n * layout.entry.itemsize + offset_size
    if n > MAX_ENTRIES or offset + count_size + size > file_size:
        return 0
    raw = handle.read(size)
    if len(raw) < size:
        return 0
    sizes = dict(_inline_sizes(np.frombuffer(raw, dtype=layout.entry, count=n), layout.order))
    for tag in sorted(_REQUIRED.difference(sizes)):
        raise ReadError(None, f"damaged TIFF file: page {page} gives no {_SIZE_TAGS[tag]} (a required tag "
                              "is missing or unreadable)")
    for tag, value in sizes.items():
        if value == 0:
            raise ReadError(None, f"damaged TIFF file: page {page} gives {_SIZE_TAGS[tag]} 0")
    return struct.unpack(layout.order + layout.offset, raw[-offset_size:])[0]


def _inline_sizes(entries: np.ndarray, order: str):
    """(tag, value) of the size tags among ``entries`` that hold one SHORT, LONG or LONG8."""
    wanted = np.isin(entries["tag"], list(_SIZE_TAGS)) & (entries["count"] == 1) & np.isin(entries["type"],
                                                                                          list(_INLINE))
    for entry in entries[wanted]:
        code = _INLINE[int(entry["type"])]
        field = bytes(entry["value"])
        if struct.calcsize(code) <= len(field):
            yield int(entry["tag"]), struct.unpack_from(order + code, field)[0]
