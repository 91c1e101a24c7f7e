"""NIfTI-1 and NIfTI-2 reader (.nii, .nii.gz).

Values are what the file means, never the raw codes:

- no scaling -> the stored dtype (uint8/int16/int32/uint16 labels, float32 or
  float64 masks) in native byte order
- ``scl_slope``/``scl_inter`` set -> ``stored * slope + inter`` in float64; values above 1
  by less than float32 rounding are 1 (see :func:`settle_scaled_ones`)

Trailing axes of size 1 from index 3 on are dropped ((x, y, z, 1, 1) -> (x, y, z));
a real fourth axis (x, y, z, c) is kept, reported as ``channel_axis`` 3, for
the caller to judge against the ground truth (softmax outputs). Any other
shape (1D, a real fifth axis such as (x, y, z, 1, c), an axis of size 0) is
refused from the header, before the voxels are inflated.
``spacing_mm`` is the voxel size per kept axis (converted to mm when the header
says metres or microns); ``affine`` is the 4x4 voxel-to-world matrix as stored
(float64, never reoriented; see :mod:`.nifti_header`). RGB and complex voxels
are refused, and so is a header that promises more voxel data than the file
can hold. Gzip data are inflated to the end of the last member and every
member's checksum is checked (:mod:`.gzip_members`), whatever the voxels need.

The header is read with nibabel's header classes (:mod:`.nifti_header`;
nibabel is imported once per run, before the workers fork, and only when NIfTI
files are read); the voxels are dice's own: ISA-L inflate, ``np.frombuffer`` on
the inflated bytes, and the streaming reader (:mod:`.nifti_stream`).
"""

from __future__ import annotations

import numpy as np

from ...errors import ReadError
from ...core.volume import Volume
from ._common import check_file, first_line, read_bytes
from .gzip_members import GzipMembers, gunzip
from .nifti_header import MAX_HEADER_BYTES, NiftiHeader, parse_header

_HEAD_BYTES = MAX_HEADER_BYTES
MAX_DEFLATE_RATIO = 1100  # deflate cannot expand more than ~1032:1


def read(path: str) -> Volume:
    """Decode the NIfTI file at ``path``; raise ReadError for anything else."""
    path = str(path)
    file_size = check_file(path, probe_open=False)
    try:
        header, data = _load(path, file_size)
    except ReadError as exc:
        raise ReadError(path, exc.reason) from None
    except MemoryError:
        raise ReadError(path, "not enough memory to decode the NIfTI image") from None
    except Exception as exc:
        raise ReadError(path, f"not a valid NIfTI file ({_describe(exc, path)})") from None
    if not data.dtype.isnative:
        data = data.astype(data.dtype.newbyteorder("="))
    return volume_of(path, header, data)


def kept_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` without its trailing axes of size 1 from index 3 on: 2, 3 or 4 axes (x, y, z, c).

    ReadError (no path) for any other shape and for a shape with no voxels.
    """
    if 0 in shape:
        raise ReadError(None, f"has no voxels (shape {shape})")
    ndim = len(shape)
    while ndim > 3 and shape[ndim - 1] == 1:
        ndim -= 1
    if not 2 <= ndim <= 4:
        raise ReadError(None, f"image of shape {shape}: dice reads 2D, 3D or 4D (x, y, z, channels) images "
                              "(trailing axes of size 1 are dropped)")
    return shape[:ndim]


def volume_of(path: str, header: NiftiHeader, data: np.ndarray) -> Volume:
    """The Volume of native-order voxels ``data`` (shaped as ``header.shape``): trailing axes of
    size 1 dropped (see kept_shape), spacing in mm, the affine checked."""
    try:
        shape = kept_shape(tuple(data.shape))
    except ReadError as exc:
        raise ReadError(path, exc.reason) from None
    if shape != data.shape:
        data = data.reshape(shape)
    spacing = tuple(z * header.unit_to_mm for z in header.zooms[:len(shape)])
    affine = header.affine
    if affine.shape != (4, 4) or not np.all(np.isfinite(affine)):
        raise ReadError(path, "invalid orientation: the affine is not a finite 4x4 matrix")
    channel_axis = 3 if data.ndim == 4 else None  # (x, y, z, c): softmax outputs keep channels last
    return Volume(array=data, path=path, spacing_mm=spacing or None, affine=affine, channel_axis=channel_axis)


def _load(path: str, file_size: int) -> tuple[NiftiHeader, np.ndarray]:
    """(header, voxels), decoding the file in one buffer.

    The header is parsed first, from the first bytes, and checked against the
    file size before any voxel memory is allocated. Unscaled voxels are a view
    of the decompressed bytes (no second copy); scaled ones are float64.
    """
    stored = read_bytes(path)
    compressed = path.lower().endswith(".gz")
    head = gunzip(stored, _HEAD_BYTES) if compressed else stored[:_HEAD_BYTES]
    header = parse_header(head)
    kept_shape(header.shape)
    count = int(np.prod(header.shape, dtype=object))
    _check_size(path, header.shape, header.dtype, header.offset, file_size)
    needed = header.offset + count * header.dtype.itemsize
    if compressed:
        members = GzipMembers(stored)
        raw = members.read(needed)
        members.finish()  # every member's checksum, and nothing after the last one
    else:
        raw = stored
    del stored
    if len(raw) < needed:
        raise ReadError(path, f"truncated data: the header promises {needed} bytes, "
                              f"the file holds {len(raw)}")
    data = np.frombuffer(raw, dtype=header.dtype, count=count, offset=header.offset).reshape(header.shape, order="F")
    if header.slope is not None:
        data = data.astype(np.float64)
        if header.slope != 1.0:
            data *= header.slope
        if header.inter != 0.0:
            data += header.inter
        settle_scaled_ones(data)
    return header, data


#: Largest value that rounds to 1.0 in float32 (round half to even): 1 + 2**-24.
_FLOAT32_ONE_BOUND = 1.0 + 2.0**-24


def settle_scaled_ones(data: np.ndarray) -> None:
    """Set scaled values in (1, 1 + 2**-24] to exactly 1.0, in place (float64 ``data``).

    ``scl_slope``/``scl_inter`` are float32, so probabilities stored as codes scale to
    just above 1: SPM writes its tissue maps as uint8 with slope float32(1/255), and
    255 * slope = 1.0000000591. Such a value is 1 at the header's own precision (it
    rounds to 1.0 in float32); left as it is, the map is refused as out of [0, 1].
    Only values that would otherwise be an error change (they are not whole, and above 1).
    """
    if data.size and data.max() > 1.0:
        data[(data > 1.0) & (data <= _FLOAT32_ONE_BOUND)] = 1.0


def _check_size(path: str, shape, dtype, offset: int, file_size: int) -> None:
    """Refuse headers whose voxel data overruns the file."""
    nbytes = int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize
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
    return (text[:150] or type(exc).__name__)
