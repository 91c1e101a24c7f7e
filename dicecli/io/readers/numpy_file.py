"""NumPy files: .npy (one array) and .npz (a zip archive of named .npy arrays); numpy only.

The .npy header (shape, dtype, order) is parsed first and checked against the
bytes that follow it, so a header promising more than the file holds is refused
before any memory is allocated; the array is then a view of those bytes, in
native byte order. Pickled object arrays are refused, never executed, and so
are dtypes that are not one number per voxel. Bool arrays read as numpy reads
them (every non-zero byte is True).

A .npz holds one array, or names it: ``probabilities`` (what nnU-Net writes
with ``--save_probabilities``), then ``softmax``; several other arrays are an
error listing their names. The chosen member is read whole, so zip checks its
CRC-32. A multi-channel array keeps channels first, as nnU-Net writes them
(``channel_axis`` 0); no spacing, no affine. An array named ``probabilities``
(nnU-Net v2) or ``softmax`` (nnU-Net v1, ``--save_npz``) is nnU-Net's: (c, z, y, x),
or (c, 1, y, x) for 2D images (``axes`` "zyx", so it lines up with a NIfTI ground
truth read as x, y, z); any other array has no known axis order and is compared
as stored.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib

import numpy as np
from numpy.lib import format as npy_format

from ...errors import ReadError
from ...core.volume import Volume
from ._common import check_file, read_bytes
from .gzip_members import inflater_module

#: Array names tried in a .npz holding several arrays, in order.
NPZ_KEYS = ("probabilities", "softmax")
NNUNET_KEYS = NPZ_KEYS  # nnU-Net v2's and v1's names; both write (c, z, y, x), SimpleITK's order
_MAGIC = b"\x93NUMPY"
_MAX_HEADER = 10_000  # numpy's own limit on a header's length
MAX_DEFLATE_RATIO = 1100  # deflate cannot expand more than ~1032:1
_ODD_FLAGS = 0x1 | 0x20 | 0x40  # encrypted, compressed patched data, strong encryption: zipfile's to refuse


def read(path: str) -> Volume:
    """Decode the .npy or .npz file at ``path``; raise ReadError for anything else."""
    path = str(path)
    check_file(path, probe_open=False)
    data = read_bytes(path)
    npz = path.lower().endswith(".npz")
    if npz and not data.startswith(b"PK"):
        raise ReadError(path, "not a valid .npz file (not a zip archive)")
    if not npz and not data.startswith(_MAGIC):
        raise ReadError(path, "not a .npy file (no NumPy header)")
    try:
        array, key = _from_npz(data) if npz else (_from_npy(data), None)
    except ReadError as exc:
        raise ReadError(path, exc.reason) from None
    except MemoryError:
        raise ReadError(path, "not enough memory to load the array") from None
    except Exception as exc:  # zipfile and zlib on a damaged archive
        reason = _zip_reason(exc) if npz else "damaged data"
        raise ReadError(path, f"not a valid {'.npz' if npz else 'NumPy'} file ({reason})") from None
    if array.dtype == bool:
        array = array.view(np.uint8) != 0  # numpy's reading of any non-zero byte
    elif not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return Volume(array=array, path=path, channel_axis=0, axes="zyx" if key in NNUNET_KEYS else None)


def _header(handle) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, Fortran order, dtype) from a .npy header, checked to describe numbers per voxel."""
    try:
        version = npy_format.read_magic(handle)
        if version not in ((1, 0), (2, 0), (3, 0)):
            raise ValueError(f"unsupported format version {version[0]}.{version[1]}")
        # Version 3 differs from 2 only in allowing UTF-8 in field names, which a mask has none of.
        parse = npy_format.read_array_header_1_0 if version == (1, 0) else npy_format.read_array_header_2_0
        shape, fortran, dtype = parse(handle)
    except ValueError as exc:
        text = str(exc).splitlines()[0][:150] if str(exc) else "unreadable header"
        raise ReadError(None, f"not a valid NumPy file ({text})") from None
    if dtype.hasobject:
        raise ReadError(None, "holds Python objects (pickled), not numbers")
    if dtype.fields is not None or dtype.kind not in "buif":
        raise ReadError(None, f"holds {dtype} values: a mask holds one number per voxel")
    if any(n < 0 for n in shape):
        raise ReadError(None, f"not a valid NumPy file (negative size in shape {shape})")
    return shape, fortran, dtype


def _array(body, offset: int, shape, fortran: bool, dtype: np.dtype, what: str) -> np.ndarray:
    """The array the header describes, a view of ``body`` from ``offset``; ReadError when
    ``body`` holds fewer bytes than the header promises."""
    count = math.prod(shape)
    needed = count * dtype.itemsize
    held = len(body) - offset
    if needed > held:
        raise ReadError(None, f"truncated {what}: the header promises shape {shape} of {dtype} "
                              f"({needed} bytes), the file holds {max(held, 0)} bytes of data")
    array = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
    return array.reshape(shape, order="F" if fortran else "C")


def _from_npy(data: bytes) -> np.ndarray:
    handle = io.BytesIO(data)
    shape, fortran, dtype = _header(handle)
    return _array(data, handle.tell(), shape, fortran, dtype, ".npy data")


def _from_npz(data: bytes) -> tuple[np.ndarray, str]:
    """(array, its name in the archive)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise ReadError(None, "not a valid .npz file (not a zip archive)") from None
    with archive:
        members = {info.filename.removesuffix(".npy"): info for info in archive.infolist()}
        key = _choose(list(members))
        info = members[key]
        with archive.open(info) as handle:
            head = _head_bytes(handle, info.filename)
            shape, fortran, dtype = _header(io.BytesIO(head))
            needed, held = math.prod(shape) * dtype.itemsize, info.file_size - len(head)
            if needed > held:
                raise ReadError(None, f"truncated .npz member {info.filename!r}: its header promises shape "
                                      f"{shape} of {dtype} ({needed} bytes), the archive says it holds "
                                      f"{max(held, 0)} bytes of data")
            body = _member_bytes(data, info)
            if body is None:  # another compression method or flag: zipfile's own reader
                body = head + handle.read()  # to the member's end, where zip checks its CRC-32
        return _array(body, len(head), shape, fortran, dtype, f".npz member {info.filename!r}"), key


def _member_bytes(data: bytes, info: zipfile.ZipInfo) -> bytes | memoryview | None:
    """The whole member ``info`` of the archive ``data``, inflated in one call (ISA-L when installed,
    about twice as fast as zipfile's zlib path on an nnU-Net softmax, with no copy to join the
    header to the data) and checked against its CRC-32 as zipfile does; None for members it does
    not handle (not stored or deflated, encrypted, other flags). zipfile has checked the local
    header already (ZipFile.open). Failures raise what zipfile would, for the same message."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or info.flag_bits & _ODD_FLAGS:
        return None
    at = info.header_offset
    name_length, extra_length = struct.unpack("<HH", data[at + 26:at + 30])
    start = at + 30 + name_length + extra_length
    stored = memoryview(data)[start:start + info.compress_size]
    if len(stored) < info.compress_size:
        raise EOFError("the member's data end early")
    if info.compress_type == zipfile.ZIP_STORED:
        body = stored
    else:
        if info.file_size > MAX_DEFLATE_RATIO * info.compress_size + 1024:
            raise zipfile.BadZipFile(f"member {info.filename!r} claims {info.file_size} bytes from "
                                     f"{info.compress_size} compressed bytes")
        try:
            body = inflater_module.decompress(stored, -15, max(info.file_size, 1))
        except MemoryError:
            raise
        except Exception as exc:  # zlib.error, isal's IsalError: bad or cut-short deflate data
            if "incomplete" in str(exc) or "truncated" in str(exc):
                raise EOFError(str(exc)) from None
            raise zlib.error(str(exc)) from None
    if len(body) < info.file_size:
        raise EOFError("the member's data end early")
    body = memoryview(body)[:info.file_size]  # zipfile reads no further than the member's size
    if inflater_module.crc32(body) != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
    return body


def _head_bytes(handle, name: str) -> bytes:
    """The bytes of a .npy stream before its data: magic, version, header length, header."""
    start = handle.read(len(_MAGIC) + 2)
    if not start.startswith(_MAGIC):
        raise ReadError(None, f".npz member {name!r} is not a .npy array")
    width = 2 if start[-2:-1] == b"\x01" else 4  # the header length field of version 1, else 2 and 3
    length = handle.read(width)
    return start + length + handle.read(min(int.from_bytes(length, "little"), _MAX_HEADER + 1))


def _choose(names: list[str]) -> str:
    """The name of the array to read: NPZ_KEYS first, else the only one."""
    if not names:
        raise ReadError(None, ".npz archive holds no array")
    for key in NPZ_KEYS:
        if key in names:
            return key
    if len(names) == 1:
        return names[0]
    shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
    raise ReadError(None, f".npz archive holds several arrays ({shown}) and none is named "
                          f"{' or '.join(NPZ_KEYS)}")


def _zip_reason(exc: BaseException) -> str:
    """A real reason for a failure inside zipfile or zlib, never a bare Python error text."""
    if isinstance(exc, EOFError):
        return "truncated data"
    if isinstance(exc, zlib.error):
        return "damaged compressed data"
    if isinstance(exc, (zipfile.BadZipFile, NotImplementedError)) and str(exc):
        return str(exc).splitlines()[0][:150]  # "Bad CRC-32 for file ...", "compression method ..."
    return "damaged zip structure"
