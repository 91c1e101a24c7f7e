"""NIfTI-1 and NIfTI-2 reader (.nii, .nii.gz; nibabel).

Values are what the file means, never the raw codes:

- no scaling -> the stored dtype (uint8/int16/int32/uint16 labels, float32 or
  float64 masks) in native byte order
- ``scl_slope``/``scl_inter`` set -> the scaled values, as floats

Axes of size 1 at index 3 or later are dropped ((x, y, z, 1) -> (x, y, z));
a real fourth axis (x, y, z, c) is kept, reported as ``channel_axis`` 3, for
the caller to judge against the ground truth (softmax outputs).
``spacing_mm`` is the voxel size per kept axis (converted to mm when the header
says metres or microns); ``affine`` is nibabel's 4x4 voxel-to-world matrix as
stored (float64, never reoriented). RGB and complex voxels are refused, and so
is a header that promises more voxel data than the file can hold.
"""

from __future__ import annotations

import io
import logging
import threading
import zlib

import nibabel
import numpy as np

try:  # ISA-L inflates gzip about 2.5x faster than zlib; same bytes out
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - platforms without an isal wheel
    _inflate = zlib

from ..errors import ReadError
from ..volume import Volume
from ._common import check_file, first_line, read_bytes

_HEAD_BYTES = 544  # a NIfTI-2 header (540 bytes) plus the extension flag
MAX_DEFLATE_RATIO = 1100  # deflate cannot expand more than ~1032:1
_UNIT_TO_MM = {"meter": 1000.0, "micron": 0.001}
_READING: set[int] = set()  # threads inside read(): nibabel's header-fix chatter is muted


class _MuteWhileReading(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.thread not in _READING


logging.getLogger("nibabel.global").addFilter(_MuteWhileReading())


def read(path: str) -> Volume:
    """Decode the NIfTI file at ``path``; raise ReadError for anything else."""
    path = str(path)
    file_size = check_file(path, probe_open=False)
    _READING.add(threading.get_ident())
    try:
        img, data = _load(path, file_size)
        header = img.header
        zooms = [float(z) for z in header.get_zooms()]
        unit = header.get_xyzt_units()[0]
        affine = np.array(img.affine, dtype=np.float64)
    except ReadError as exc:
        raise ReadError(path, exc.reason) from None
    except MemoryError:
        raise ReadError(path, "not enough memory to decode the NIfTI image") from None
    except Exception as exc:
        raise ReadError(path, f"not a valid NIfTI file ({_describe(exc, path)})") from None
    finally:
        _READING.discard(threading.get_ident())
    if data.dtype.fields is not None or data.dtype.kind == "c":
        raise ReadError(path, f"voxels of type {header.get_data_dtype()} (RGB or complex): "
                              "a mask holds one number per voxel")
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    keep = [i for i, n in enumerate(data.shape) if i < 3 or n != 1]
    if len(keep) < data.ndim:
        data = data.reshape([data.shape[i] for i in keep])
    scale = _UNIT_TO_MM.get(unit, 1.0)
    spacing = tuple(zooms[i] * scale for i in keep if i < len(zooms))
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise ReadError(path, "invalid orientation: the affine is not a finite 4x4 matrix")
    channel_axis = 3 if data.ndim == 4 else None  # (x, y, z, c): softmax outputs keep channels last
    return Volume(array=data, path=path, spacing_mm=spacing or None, affine=affine, channel_axis=channel_axis)


def _load(path: str, file_size: int):
    """(image, voxels), decoding the file in one buffer.

    The header is parsed first, from the first bytes, and checked against the
    file size before any voxel memory is allocated. Unscaled voxels are a view
    of the decompressed bytes (no second copy); scaled ones go through nibabel.
    """
    stored = read_bytes(path)
    compressed = path.lower().endswith(".gz")
    head = _gunzip(stored, _HEAD_BYTES) if compressed else stored[:_HEAD_BYTES]
    klass = _image_class(head)
    header = klass.header_class.from_fileobj(io.BytesIO(head))
    shape = tuple(int(n) for n in header.get_data_shape())
    dtype = header.get_data_dtype()
    offset = int(header.get_data_offset())
    _check_size(path, shape, dtype, offset, int(header.sizeof_hdr), file_size)
    needed = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = _gunzip(stored, needed) if compressed else stored
    del stored
    if len(raw) < needed:
        raise ReadError(path, f"truncated data: the header promises {needed} bytes, "
                              f"the file holds {len(raw)}")
    img = klass.from_bytes(raw)
    slope, inter = header.get_slope_inter()
    if slope not in (None, 1.0) or inter not in (None, 0.0) or dtype.fields is not None:
        return img, np.asarray(np.asanyarray(img.dataobj))
    count = int(np.prod(shape, dtype=np.int64))
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(shape, order="F")
    return img, data


def _gunzip(stored: bytes, limit: int) -> bytes:
    """At most ``limit`` bytes of gzip data, across concatenated members (bgzip)."""
    parts, total = [], 0
    while stored and total < limit:
        decompressor = _inflate.decompressobj(31)
        part = decompressor.decompress(stored, limit - total)
        parts.append(part)
        total += len(part)
        if not decompressor.eof:
            break
        stored = decompressor.unused_data
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _image_class(head: bytes):
    """Nifti1Image or Nifti2Image, from the header size field (either byte order)."""
    if len(head) >= 4:
        for order in ("<", ">"):
            size = int(np.frombuffer(head[:4], dtype=f"{order}i4")[0])
            if size == 348:
                return nibabel.Nifti1Image
            if size == 540:
                return nibabel.Nifti2Image
    raise ReadError(None, "not a NIfTI file (unrecognised header)")


def _check_size(path: str, shape, dtype, offset: int, header_size: int, file_size: int) -> None:
    """Refuse headers whose voxel data overlaps the header or overruns the file."""
    nbytes = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
    if offset < header_size:
        raise ReadError(path, f"invalid header: voxel data offset (vox_offset) is {offset}, "
                              f"inside the {header_size}-byte header")
    if path.lower().endswith(".gz"):
        if offset + nbytes > MAX_DEFLATE_RATIO * file_size:
            raise ReadError(path, f"header promises shape {shape} ({nbytes} bytes of voxels), "
                                  f"more than a {file_size}-byte compressed file can hold")
    elif offset + nbytes > file_size:
        raise ReadError(path, f"truncated file: header promises shape {shape} ({nbytes} bytes "
                              f"of voxels from byte {offset}) but the file has {file_size} bytes")


def _describe(exc: BaseException, path: str) -> str:
    """A short, one-line, path-free description of a decoder exception."""
    text = first_line(exc, path)
    if isinstance(exc, EOFError) or "Expected" in text and "bytes" in text:
        return "truncated data"
    if isinstance(exc, nibabel.filebasedimages.ImageFileError):
        return "unrecognised or truncated header"
    return (text[:150] or type(exc).__name__)
