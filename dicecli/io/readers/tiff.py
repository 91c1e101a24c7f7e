"""TIFF reader (tifffile; LZW, deflate and zstd need imagecodecs).

Values keep their stored dtype (uint8/uint16 label and instance masks, float32
probability maps, ...), made native byte order:

- one page -> 2D (rows, cols)
- a stack of equal pages -> 3D (pages, rows, cols)
- 1-bit (bilevel) -> uint8 0/1, the stored bits (foreground is label 1)

- one channel axis (samples per pixel > 1, or a C axis) -> kept and reported as
  ``channel_axis`` (per-class probability maps; see dicecli.core.channels), when the
  samples are floats or the image is not a colour picture

Refused: colour pictures (integer RGB, YCbCr, CMYK, palette samples), more than
one channel axis, files with several differently shaped images, more spatial
axes than three, and headers promising more than ``MAX_BYTES`` of pixel data.
No spacing, no affine.

Before tifffile sees a file, its chain of image directories (one per page) is
walked by :mod:`.tiff_directories`: a chain that loops, holds more than
its ``MAX_PAGES`` pages or gives a size of 0 is refused, so the work done on
a hostile file is bounded by its size and MAX_PAGES, never by a clock. Messages
give the reason in the TIFF's terms, never a bare Python error.
"""

from __future__ import annotations

import logging
import math
import re
import threading

import numpy as np
import tifffile

from ...errors import ReadError, os_reason
from ...core.volume import Volume
from ._common import check_file, first_line
from .tiff_directories import check_directories

MAX_BYTES = 2**34  # 16 GiB of decoded pixels: beyond that the header is not believed
MAX_RATIO = 2**16  # compressed pixels expanding more than this are not believed either
_SINGLE = "a mask must be single-channel"
_MINISWHITE, _MINISBLACK = 0, 1  # TIFF photometric interpretations of grey (non-colour) samples
# tifffile logs (rather than raises) when it skips damaged pages; those are fatal here.
_DAMAGE = re.compile(
    r"page|offset|reshape|bytecount|strip|tags|ifd|missing|corrupt|incomplet|failed", re.I)


def read(path: str) -> Volume:
    """Decode the TIFF at ``path``; raise ReadError for anything else."""
    path = str(path)
    file_size = check_file(path)
    _walk(path, file_size)
    log = _Collect(path)
    logger = logging.getLogger("tifffile")
    logger.addHandler(log)  # also keeps tifffile's warnings off stderr
    try:
        with tifffile.TiffFile(path) as tif:
            array, channel_axis = _decode(tif, path, file_size, log)
        log.check()
    except ReadError:
        raise
    except MemoryError:
        raise ReadError(path, "not enough memory to decode the TIFF image") from None
    except Exception as exc:
        log.check()  # a damaged tag tifffile logged is the cause: its words name it
        raise ReadError(path, _describe(exc, path)) from None
    finally:
        logger.removeHandler(log)
    if array.dtype == bool:  # 1-bit (bilevel) TIFF: foreground is label 1
        array = array.view(np.uint8)
    elif not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return Volume(array=array, path=path, channel_axis=channel_axis)


def _walk(path: str, file_size: int) -> None:
    """check_directories on ``path``, with the path in its errors."""
    try:
        with open(path, "rb") as handle:
            check_directories(handle, file_size)
    except ReadError as exc:
        raise ReadError(path, exc.reason) from None
    except OSError as exc:
        raise ReadError(path, f"cannot read file ({os_reason(exc)})") from None


def _decode(tif: tifffile.TiffFile, path: str, file_size: int, log: _Collect) -> tuple[np.ndarray, int | None]:
    series = tif.series
    log.check()
    if not series:
        raise ReadError(path, "TIFF file holds no image")
    if len(series) > 1:
        shapes = ", ".join(str(tuple(s.shape)) for s in series[:4])
        raise ReadError(path, f"TIFF file holds {len(series)} images of different shapes "
                              f"({shapes}); expected one image or a stack of equal pages")
    s = series[0]
    samples = s.keyframe.samplesperpixel
    channel_axes = [i for i, a in enumerate(s.axes) if a in "SC"]
    channel_axis = None
    if samples > 1 or channel_axes:
        what = (f"multi-channel TIFF (shape {tuple(s.shape)}, axes {s.axes}, "
                f"{samples} samples per pixel)")
        colour = int(s.keyframe.photometric) not in (_MINISWHITE, _MINISBLACK)
        if len(channel_axes) != 1 or (colour and np.dtype(s.dtype).kind != "f"):
            raise ReadError(path, f"{what}: {_SINGLE}, or one probability map per channel")
        channel_axis = channel_axes[0]
    spatial = len(s.shape) - (channel_axis is not None)
    if spatial not in (2, 3):
        raise ReadError(path, f"TIFF image has shape {tuple(s.shape)} (axes {s.axes}); "
                              "expected a 2D image or a 3D stack of pages")
    _check_size(s, path, file_size)
    return np.asarray(s.asarray(maxworkers=1)), channel_axis


def _check_size(s, path: str, file_size: int) -> None:
    """Refuse a series, or tiles, holding more pixel bytes than the file could (see MAX_BYTES,
    MAX_RATIO): checked before tifffile allocates them."""
    if s.dtype is None:
        raise ReadError(path, f"unsupported TIFF sample type ({s.keyframe.bitspersample} bits, "
                              f"sample format {int(s.keyframe.sampleformat)})")
    itemsize = np.dtype(s.dtype).itemsize
    nbytes = int(np.prod(s.shape, dtype=np.float64) * itemsize)
    if nbytes > MAX_BYTES:
        raise ReadError(path, f"TIFF header promises {nbytes} bytes of pixels for shape "
                              f"{tuple(s.shape)}, more than the {MAX_BYTES}-byte limit")
    packed = s.keyframe.compression == 1 and s.keyframe.bitspersample >= 8
    limit = file_size if packed else MAX_RATIO * file_size + 2**20
    if nbytes > limit:
        raise ReadError(path, f"TIFF header promises shape {tuple(s.shape)} ({nbytes} bytes of "
                              f"pixels), more than a {file_size}-byte file can hold (truncated?)")
    page = s.keyframe
    if page.is_tiled:
        tile = (page.tiledepth, page.tilelength, page.tilewidth)
        if math.prod(tile) * page.samplesperpixel * itemsize > max(limit, nbytes):
            raise ReadError(path, f"damaged TIFF file: tiles of {' x '.join(map(str, tile[1:]))} pixels are "
                                  f"larger than a {file_size}-byte file can hold")


class _Collect(logging.Handler):
    """Collect the warnings tifffile logs from this thread; check() raises on damage."""

    def __init__(self, path: str) -> None:
        super().__init__(logging.WARNING)
        self.path = path
        self.thread = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread:
            self.messages.append(record.getMessage())

    def check(self) -> None:
        for message in self.messages:
            if _DAMAGE.search(message):
                raise ReadError(self.path, f"damaged TIFF file ({_logged_words(message)})")


def _describe(exc: BaseException, path: str) -> str:
    """A one-line reason for a tifffile or codec exception, in the TIFF's terms: tifffile's own
    words when it names the problem, else the kind of damage (never a bare Python error)."""
    text = _printable(first_line(exc, path))
    if "image description" in text:
        return "damaged TIFF file (invalid shape metadata in its image description)"
    if isinstance(exc, tifffile.TiffFileError):
        if text.startswith(("not a TIFF file", "invalid TIFF version")):
            return "not a valid TIFF file (unrecognised contents)"
        return f"damaged TIFF file ({text})"
    if "incompatible keyframe" in text:
        return "damaged TIFF file (its pages do not share one layout)"
    if isinstance(exc, EOFError) or re.search(r"failed to read|truncated|unpack requires", text, re.I):
        return "not a valid TIFF file (truncated data)"
    if "COMPRESSION" in text:
        return f"unsupported TIFF compression ({text})"
    if type(exc).__module__.startswith("imagecodecs") or re.search(r"corrupted (strip|tile)", text):
        return "damaged TIFF file (the compressed pixel data do not decode)"
    return "damaged TIFF file (its image directories hold inconsistent tags)"


def _logged_words(message: str) -> str:
    """tifffile's logged message in plain words: "corrupted tag list of page 1 @8 raised
    TiffFileError('suspicious number of tags')" -> "corrupted tag list of page 1 @8: suspicious
    number of tags"."""
    message = re.sub(r"<[^>]*>", "", re.sub(r"<tifffile\.TiffTag (\d+) @\d+>", r"tag \1:", message))
    inner = re.search(r"raised \w+\((['\"])(.*)\1\)", message)
    head = re.sub(r"\s+raised\s+", ": ", message[:inner.start()] if inner else message).strip(" ,")
    words = f"{head}: {inner.group(2).strip()}" if inner and head else inner.group(2) if inner else head
    return _printable(re.sub(r"unpack requires a buffer of \d+ bytes", "the file ends there (truncated)", words))


def _printable(text: str) -> str:
    """``text`` without object reprs and with only printable ASCII, at most 150 characters."""
    text = re.sub(r"<[^>]*>", "", text)
    return re.sub(r"[^ -~]", "?", text).strip()[:150]
