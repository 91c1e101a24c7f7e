"""Walk a TIFF file's chain of image directories before tifffile does, so hostile files cost little.

A TIFF file starts with a header pointing at its first image directory (IFD,
one per page); each directory lists tag entries and ends with the offset of the
next one, 0 ending the chain. tifffile follows the chain as far as it goes and
notices only some loops, so a few kilobytes whose chain loops back on itself
keep it reading, with memory growing, forever. Here the chain is walked with one
read per directory, and refused (ReadError, no path) when:

- a directory is reached twice (the chain loops);
- it holds more than ``MAX_PAGES`` directories;
- its directories hold more bytes than the file (they overlap: real files never
  do), which bounds the tag entries tifffile will parse by the file's size;
- a directory has no readable image width or length tag (one SHORT or LONG),
  or gives 0 as image width or length, samples per pixel, bits per sample,
  rows per strip, or tile width or length (tifffile divides by them).

Classic TIFF and BigTIFF, either byte order. A directory that cannot be read
(past the end of the file, more than ``MAX_ENTRIES`` entries) ends the walk and
is left for tifffile to report. The work is at most one pass over the file's
directory bytes, and MAX_PAGES reads.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ...errors import ReadError

MAX_PAGES = 2**16  # pages in one file: far more than any stack of mask slices
MAX_ENTRIES = 4096  # tag entries in one directory (tifffile's own limit)
_SIZE_TAGS = {256: "image width", 257: "image length", 258: "bits per sample", 277: "samples per pixel",
              278: "rows per strip", 322: "tile width", 323: "tile length"}
_REQUIRED = (256, 257)  # every page gives its image width and length
_INLINE = {3: "H", 4: "I", 16: "Q"}  # TIFF types SHORT, LONG, LONG8 -> struct codes


@dataclass(frozen=True)
class _Layout:
    """Field formats of classic TIFF (offsets of 4 bytes) or BigTIFF (8 bytes), in one byte order."""

    order: str  # "<" or ">"
    count: str  # struct format of a directory's entry count
    entry: str  # struct format of one entry: tag, type, count, value (or the offset of the values)
    offset: str  # struct format of an offset

    def size(self, code: str) -> int:
        return struct.calcsize(self.order + code)


_CLASSIC, _BIG = ("H", "HHI4s", "I"), ("Q", "HHQ8s", "Q")


def check_directories(handle, file_size: int) -> int:
    """Walk the directories of the TIFF file open in ``handle``; return how many there are.

    0 when the header is not TIFF (tifffile words that error). Raises ReadError
    for a loop, too many or overlapping directories, or a missing or zero size
    (see the module docstring).
    """
    handle.seek(0)
    layout, offset = _header(handle.read(16))
    if layout is None:
        return 0
    seen: set[int] = set()
    directory_bytes = 0
    while 0 < offset < file_size:
        if offset in seen:
            raise ReadError(None, f"damaged TIFF file: its chain of image directories loops back to byte "
                                  f"{offset} after {len(seen)} pages")
        if len(seen) == MAX_PAGES:
            raise ReadError(None, f"TIFF file has more than {MAX_PAGES} pages (image directories); "
                                  "dice reads at most that many")
        seen.add(offset)
        offset, size = _directory(handle, offset, file_size, layout, len(seen))
        directory_bytes += size
        if directory_bytes > file_size:
            raise ReadError(None, f"damaged TIFF file: its {len(seen)} image directories overlap "
                                  f"(they hold more than the file's {file_size} bytes)")
    return len(seen)


def _header(head: bytes) -> tuple[_Layout | None, int]:
    """(layout, offset of the first directory) of a classic or BigTIFF header; (None, 0) otherwise."""
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or len(head) < 8:
        return None, 0
    magic = struct.unpack(order + "H", head[2:4])[0]
    if magic == 42:
        return _Layout(order, *_CLASSIC), struct.unpack(order + "I", head[4:8])[0]
    if magic == 43 and len(head) >= 16:
        return _Layout(order, *_BIG), struct.unpack(order + "Q", head[8:16])[0]
    return None, 0


def _directory(handle, offset: int, file_size: int, layout: _Layout, page: int) -> tuple[int, int]:
    """(offset of the next directory, bytes of this one) for the directory at ``offset``, page
    ``page`` (from 1), after checking its sizes; the next offset is 0 when there is none or this
    directory cannot be read."""
    count_size, entry_size, offset_size = (layout.size(code) for code in (layout.count, layout.entry, layout.offset))
    handle.seek(offset)
    raw = handle.read(count_size)
    if len(raw) < count_size:
        return 0, len(raw)
    n = struct.unpack(layout.order + layout.count, raw)[0]
    size = n * entry_size + offset_size
    if n > MAX_ENTRIES or offset + count_size + size > file_size:
        return 0, count_size
    raw = handle.read(size)
    if len(raw) < size:
        return 0, count_size + len(raw)
    _check_sizes(_inline_sizes(raw[:n * entry_size], layout), page)
    return struct.unpack(layout.order + layout.offset, raw[-offset_size:])[0], count_size + size


def _inline_sizes(entries: bytes, layout: _Layout) -> dict[int, int]:
    """{tag: value} of the size tags among ``entries`` that hold one SHORT, LONG or LONG8."""
    sizes = {}
    for tag, kind, count, value in struct.iter_unpack(layout.order + layout.entry, entries):
        code = _INLINE.get(kind)
        if tag in _SIZE_TAGS and count == 1 and code is not None and layout.size(code) <= len(value):
            sizes[tag] = struct.unpack_from(layout.order + code, value)[0]
    return sizes


def _check_sizes(sizes: dict[int, int], page: int) -> None:
    for tag in _REQUIRED:
        if tag not in sizes:
            raise ReadError(None, f"damaged TIFF file: page {page} gives no {_SIZE_TAGS[tag]} (a required tag "
                                  "is missing or unreadable)")
    for tag, value in sizes.items():
        if value == 0:
            raise ReadError(None, f"damaged TIFF file: page {page} gives {_SIZE_TAGS[tag]} 0")
