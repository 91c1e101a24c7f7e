"""TIFF reader (tifffile; LZW, deflate and zstd need imagecodecs).

Values keep their stored dtype (uint8/uint16 label and instance masks, float32
probability maps, ...), made native byte order:

- one page -> 2D (rows, cols)
- a stack of equal pages -> 3D (pages, rows, cols)
- 1-bit (bilevel) -> uint8 0/1, the stored bits (foreground is label 1)

- one channel axis (samples per pixel > 1, or a C axis) -> kept and reported as
  ``channel_axis`` (per-class probability maps; see dicecli.channels), when the
  samples are floats or the image is not a colour picture

Refused: colour pictures (integer RGB, YCbCr, CMYK, palette samples), more than
one channel axis, files with several differently shaped images, more spatial
axes than three, and headers promising more than ``MAX_BYTES`` of pixel data.
No spacing, no affine.
"""

from __future__ import annotations

import logging
import re
import threading

import numpy as np
import tifffile

from ..errors import ReadError
from ..volume import Volume
from ._common import check_file, first_line

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
        raise ReadError(path, f"not a valid TIFF file ({_describe(exc, path)})") from None
    finally:
        logger.removeHandler(log)
    if array.dtype == bool:  # 1-bit (bilevel) TIFF: foreground is label 1
        array = array.view(np.uint8)
    elif not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return Volume(array=array, path=path, channel_axis=channel_axis)


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
    nbytes = int(np.prod(s.shape, dtype=np.float64) * np.dtype(s.dtype).itemsize)
    if nbytes > MAX_BYTES:
        raise ReadError(path, f"TIFF header promises {nbytes} bytes of pixels for shape "
                              f"{tuple(s.shape)}, more than the {MAX_BYTES}-byte limit")
    packed = s.keyframe.compression == 1 and s.keyframe.bitspersample >= 8
    if nbytes > (file_size if packed else MAX_RATIO * file_size + 2**20):
        raise ReadError(path, f"TIFF header promises shape {tuple(s.shape)} ({nbytes} bytes of "
                              f"pixels), more than a {file_size}-byte file can hold (truncated?)")
    return np.asarray(s.asarray(maxworkers=1)), channel_axis


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
                detail = re.sub(r"<[^>]*>", "", message).strip()[:150]
                raise ReadError(self.path, f"damaged TIFF file ({detail})")


def _describe(exc: BaseException, path: str) -> str:
    """A short, one-line, path-free description of a decoder exception."""
    text = first_line(exc, path)
    if isinstance(exc, tifffile.TiffFileError) and text.startswith("not a TIFF file"):
        return "unrecognised contents"
    if isinstance(exc, EOFError) or "failed to read" in text or "truncated" in text.lower():
        return "truncated data"
    return (text[:150] or type(exc).__name__)
