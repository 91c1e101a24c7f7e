"""PNG reader: libpng through imagecodecs for plain grey images, pillow for the rest.

Mode to dtype, values as stored:

- ``L`` (8-bit grey) -> uint8
- 2- and 4-bit grey -> uint8 stored samples 0..3 / 0..15 (pillow stretches them
  to 0..255 as intensities; that stretch is undone so labels stay labels)
- ``P`` (palette) -> uint8 palette *indices*, the labels; the colours are ignored
- ``I;16`` / ``I;16B`` / ``I;16L`` (16-bit grey) -> uint16
- ``I`` (32-bit integer) -> int32
- ``1`` (1-bit) -> uint8 0/1, so a 1-bit mask's foreground is label 1

Anything else (LA, RGB, RGBA, PA, CMYK, ...) is refused: a mask is single-channel.
Animated PNGs are refused too. Images above ``MAX_PIXELS`` pixels are refused from
the header, before any pixel is decoded. Every chunk up to IEND must pass its
CRC-32 check (pillow skips those of the pixel data). No spacing (pHYs is
ignored), no affine.

Plain 8-bit grey images (colour type 0, not interlaced, no tRNS, not animated: what label writers
produce) are decoded by libspng through imagecodecs, a dependency already (tifffile's codecs): about
37 us for a 64x64 mask against about 90 us through pillow's Python-level machinery. libspng reports
faults as errors and never prints (libpng writes warnings such as "Too much image data" to the
terminal; imagecodecs' libspng has no 16-bit grey output, so those stay with pillow). Every other
PNG, and any file libspng refuses, takes the pillow path, whose answer (pixels or the error
message) is the same as before.
"""

from __future__ import annotations

import io
import warnings
import zlib

import numpy as np
from PIL import Image, PngImagePlugin

from ...errors import ReadError
from ...core.volume import Volume
from ._common import first_line, read_file

MAX_PIXELS = 2**31
MAX_DEFLATE_RATIO = 1100  # deflate cannot expand more than ~1032:1

# PIL warns above MAX_IMAGE_PIXELS and refuses above twice that. Raise its limit to
# ours so legitimate big masks below MAX_PIXELS decode silently; never lower it.
if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS

_DTYPES = {"L": np.uint8, "P": np.uint8, "1": np.uint8,
           "I;16": np.uint16, "I;16B": np.uint16, "I;16L": np.uint16, "I": np.int32}
_KINDS = {"LA": "grey+alpha", "La": "grey+alpha", "PA": "palette+alpha", "RGB": "RGB",
          "RGBA": "RGBA", "RGBa": "RGBA", "CMYK": "CMYK", "YCbCr": "YCbCr", "F": "float"}
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SINGLE = "a mask must be single-channel (PNG mode L, P, I;16 or 1)"


def read(path: str) -> Volume:
    """Decode the PNG at ``path``; raise ReadError for anything else."""
    path = str(path)
    data, file_size = read_file(path)
    kinds = _check_chunks(path, data) if data.startswith(_SIGNATURE) else None
    header = _ihdr(data[:26])
    if header is not None:
        width, height, depth, _ = header
        if width * height > MAX_PIXELS:
            raise ReadError(path, _too_big(width, height))
        if width * height * depth // 8 > MAX_DEFLATE_RATIO * file_size + 1024:
            raise ReadError(path, f"header promises {width} x {height} pixels, more than a "
                                  f"{file_size}-byte file can hold (truncated or corrupt)")
        if kinds is not None and _plain_grey(header, data, kinds):
            array = _spng_pixels(data, width, height)
            if array is not None:
                return Volume(array=array, path=path, axes="zyx")
    return _read_with_pillow(path, data, header)


def _read_with_pillow(path: str, data: bytes, header) -> Volume:
    """Decode ``data`` (the file at ``path``) with pillow; ReadError for anything but a mask."""
    try:
        with _open(data, header) as im:  # lazy: header only
            width, height = im.size
            if width * height > MAX_PIXELS:
                raise ReadError(path, _too_big(width, height))
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                raise ReadError(path, f"animated PNG ({frames} frames): a mask is one image")
            mode = im.mode
            if mode not in _DTYPES:
                kind = _KINDS.get(mode, "multi-channel")
                raise ReadError(path, f"{kind} image (mode {mode}): {_SINGLE}")
            im.load()
            array = _pixels(im)
    except ReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ReadError(path, f"image too large ({_describe(exc, path)})") from None
    except Image.UnidentifiedImageError:
        raise ReadError(path, "not a PNG file (unrecognised contents)") from None
    except MemoryError:
        raise ReadError(path, "not enough memory to decode the PNG image") from None
    except Exception as exc:
        raise ReadError(path, f"not a valid PNG file ({_describe(exc, path)})") from None
    dtype = np.dtype(_DTYPES[mode])
    if array.dtype != dtype:  # bool for mode 1, '>u2' for I;16B
        array = array.astype(dtype)
    if mode == "L" and header is not None and header[2] in (2, 4) and header[3] == 0:
        array = array // (255 // (2 ** header[2] - 1))  # undo pillow's 0..255 stretch
    return Volume(array=array, path=path, axes="zyx")


def _open(data: bytes, header) -> Image.Image:
    """The PNG in ``data``, opened (not decoded) by pillow. With an IHDR dice has checked (size
    within MAX_PIXELS) it goes straight to pillow's PNG class, about 10 us a file less than
    Image.open's format search and decompression-bomb check, which dice has made already."""
    if header is not None:
        return PngImagePlugin.PngImageFile(io.BytesIO(data))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(io.BytesIO(data), formats=["PNG"])


def _pixels(im: Image.Image) -> np.ndarray:
    """The decoded pixels, (rows, cols): 8-bit modes straight from their bytes (np.asarray costs
    an encoder object per image, about 10 us on a small one), other modes through numpy."""
    if im.mode in ("L", "P"):
        width, height = im.size
        return np.frombuffer(im.tobytes(), dtype=np.uint8).reshape(height, width)
    return np.asarray(im)


def _plain_grey(header: tuple[int, int, int, int], data: bytes, kinds: set[bytes]) -> bool:
    """Is this PNG 8-bit grey (colour type 0), not interlaced, without tRNS and not animated (acTL:
    pillow's path refuses those)?"""
    _, _, depth, colour = header
    return colour == 0 and depth == 8 and data[28] == 0 and b"tRNS" not in kinds and b"acTL" not in kinds


def _spng_pixels(data: bytes, width: int, height: int) -> np.ndarray | None:
    """The uint8 (rows, cols) pixels of a plain 8-bit grey PNG decoded by libspng; None when libspng
    refuses the file or answers in another shape (pillow's path then decides)."""
    try:
        from imagecodecs import spng_decode

        array = spng_decode(data)
    except Exception:
        return None
    if array.shape != (height, width) or array.dtype != np.uint8:
        return None
    return array


def _check_chunks(path: str, data: bytes) -> set[bytes]:
    """Refuse a PNG whose chunks, up to IEND, are cut short or fail their CRC-32 (pillow does not
    check those of the pixel data, IDAT). Bytes after IEND are ignored, as PNG readers do.
    Returns the kinds of chunk seen (b"IHDR", b"tRNS", ...)."""
    at = len(_SIGNATURE)
    kinds = set()
    while True:
        if at + 8 > len(data):
            raise ReadError(path, "truncated data: the PNG ends before its IEND chunk")
        size = int.from_bytes(data[at:at + 4], "big")
        kind = data[at + 4:at + 8]
        end = at + 8 + size
        if end + 4 > len(data):
            raise ReadError(path, f"truncated data: the PNG ends inside chunk {_chunk_name(kind)} at byte {at}")
        if zlib.crc32(data[at + 4:end]) != int.from_bytes(data[end:end + 4], "big"):
            raise ReadError(path, f"damaged PNG file: chunk {_chunk_name(kind)} at byte {at} fails its CRC-32 "
                                  "check (the file is corrupt)")
        kinds.add(kind)
        if kind == b"IEND":
            return kinds
        at = end + 4


def _chunk_name(kind: bytes) -> str:
    return kind.decode("ascii") if kind.isalpha() else f"0x{kind.hex()}"


def _too_big(width: int, height: int) -> str:
    return (f"image too large ({width} x {height} = {width * height} pixels; "
            f"the limit is {MAX_PIXELS} pixels)")


def _ihdr(head: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bit depth, colour type) from IHDR, without pillow; None if no PNG."""
    if len(head) < 26 or head[:8] != _SIGNATURE or head[12:16] != b"IHDR":
        return None
    return (int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"),
            head[24], head[25])


def _describe(exc: BaseException, path: str) -> str:
    """A short, one-line, path-free description of a decoder exception."""
    text = first_line(exc, path)
    if isinstance(exc, EOFError) or "truncated" in text.lower():
        return "truncated data"
    return (text[:150] or type(exc).__name__)
