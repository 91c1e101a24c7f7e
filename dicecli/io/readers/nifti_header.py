"""Parse a NIfTI-1 or NIfTI-2 header from its bytes (numpy only, no nibabel).

Field offsets follow the NIfTI-1 (348-byte) and NIfTI-2 (540-byte) layouts;
the byte order is the one in which ``sizeof_hdr`` reads 348 or 540.

The voxel-to-world affine follows the NIfTI rules, with the repairs readers
conventionally make to real files before using them:

- ``sform_code`` > 0 -> the sform rows; else ``qform_code`` > 0 -> the qform
  (quaternion b, c, d with a = sqrt(1 - b² - c² - d²), pixdim[1:4] as voxel
  size, pixdim[0] = qfac flipping the third axis); else a diagonal affine
  from the voxel sizes, first axis flipped, origin at the volume's centre.
- xform codes outside 0..5 count as 0; qfac other than ±1 counts as 1;
  voxel sizes of 0 count as 1 and negative ones by their absolute value.

Anything that cannot describe a single-file image (bad magic, unknown or
unsupported data type, dim[0] outside 1..7, negative sizes, data offset inside
the header) raises ReadError with the field at fault.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import ReadError

#: Bytes that hold either header (NIfTI-2 is the longer).
MAX_HEADER_BYTES = 540

_NIFTI1 = {
    "sizeof_hdr": ("i4", 0), "dim": (("i2", 8), 40), "datatype": ("i2", 70), "pixdim": (("f4", 8), 76),
    "vox_offset": ("f4", 108), "scl_slope": ("f4", 112), "scl_inter": ("f4", 116), "xyzt_units": ("u1", 123),
    "qform_code": ("i2", 252), "sform_code": ("i2", 254), "quatern": (("f4", 3), 256),
    "qoffset": (("f4", 3), 268), "srow": (("f4", (3, 4)), 280), "magic": ("S4", 344),
}
_NIFTI2 = {
    "sizeof_hdr": ("i4", 0), "magic": ("S4", 4), "datatype": ("i2", 12), "dim": (("i8", 8), 16),
    "pixdim": (("f8", 8), 104), "vox_offset": ("i8", 168), "scl_slope": ("f8", 176), "scl_inter": ("f8", 184),
    "qform_code": ("i4", 344), "sform_code": ("i4", 348), "quatern": (("f8", 3), 352),
    "qoffset": (("f8", 3), 376), "srow": (("f8", (3, 4)), 400), "xyzt_units": ("i4", 500),
}
# version -> (header bytes, fields, magic of a single-file image, smallest data offset there,
#             |1 - b² - c² - d²| below which the quaternion's a is taken as 0)
_LAYOUTS = {
    1: (348, _NIFTI1, b"n+1", 352, 3 * float(np.finfo(np.float32).eps)),
    2: (540, _NIFTI2, b"n+2", 544, 3 * float(np.finfo(np.float64).eps)),
}

#: NIfTI datatype code -> numpy type of the voxels a mask may hold.
_DTYPES = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2", 768: "u4", 1024: "i8", 1280: "u8"}
#: Codes of voxel types a mask cannot hold, by name for the error message.
_REFUSED = {1: "binary (1 bit)", 32: "complex64", 128: "RGB24", 1536: "float128", 1792: "complex128",
            2048: "complex256", 2304: "RGBA32"}
_UNIT_TO_MM = {1: 1000.0, 2: 1.0, 3: 0.001}  # xyzt_units & 7: metre, millimetre, micron
_XFORM_CODES = range(6)


@dataclass(frozen=True, eq=False)
class NiftiHeader:
    """What a reader needs from a NIfTI header.

    shape: dim[1 : dim[0] + 1]. dtype: voxel type in the file's byte order.
    offset: byte where the voxels start. zooms: voxel size per axis of ``shape``,
    in the file's units after the repairs above; ``unit_to_mm`` converts the
    spatial ones to mm (1.0 when the unit is mm or unknown).
    slope, inter: scaling to apply (value = stored * slope + inter), or None when
    the file says none (slope 0, non-finite, or exactly 1 with inter 0).
    affine: 4x4 float64 voxel-to-world matrix as stored (never reoriented).
    """

    version: int
    header_size: int
    shape: tuple[int, ...]
    dtype: np.dtype
    offset: int
    zooms: tuple[float, ...]
    unit_to_mm: float
    slope: float | None
    inter: float | None
    affine: np.ndarray


def header_version(head: bytes) -> tuple[int, str]:
    """(1 or 2, "<" or ">") from ``sizeof_hdr``; ReadError when it is neither header."""
    if len(head) >= 4:
        for order in ("<", ">"):
            size = int(np.frombuffer(head[:4], dtype=f"{order}i4")[0])
            for version, layout in _LAYOUTS.items():
                if size == layout[0]:
                    return version, order
    raise ReadError(None, "not a NIfTI file (unrecognised header)")


def parse_header(head: bytes) -> NiftiHeader:
    """Parse the header at the start of ``head`` (at least its 348 or 540 bytes)."""
    version, order = header_version(head)
    size, fields, single_magic, min_offset, w2_tolerance = _LAYOUTS[version]
    if len(head) < size:
        raise ReadError(None, f"truncated header ({len(head)} of {size} bytes)")
    layout = np.dtype({
        "names": list(fields),
        "formats": [np.dtype(kind).newbyteorder(order) if isinstance(kind, str)
                    else np.dtype((np.dtype(kind[0]).newbyteorder(order), kind[1])) for kind, _ in fields.values()],
        "offsets": [offset for _, offset in fields.values()],
        "itemsize": size,
    })
    h = np.frombuffer(head, dtype=layout, count=1)[0]
    magic = bytes(h["magic"])
    if magic != single_magic:
        raise ReadError(None, f"not a single-file NIfTI-{version} image (magic {magic!r}, "
                              f"expected {single_magic!r})")
    shape = _shape(h["dim"])
    dtype = _dtype(int(h["datatype"]), order)
    offset = float(h["vox_offset"])
    if not math.isfinite(offset) or offset < min_offset:
        raise ReadError(None, f"invalid header: voxel data offset (vox_offset) is {offset:g}, "
                              f"inside the header (voxels start at byte {min_offset} or later)")
    offset = int(offset)
    pixdim = np.array(h["pixdim"], dtype=np.float64)
    spatial = np.abs(pixdim[1:4])
    spatial[spatial == 0] = 1.0
    pixdim[1:4] = spatial
    qfac = pixdim[0] if pixdim[0] in (-1.0, 1.0) else 1.0
    slope, inter = _scaling(float(h["scl_slope"]), float(h["scl_inter"]))
    return NiftiHeader(
        version=version, header_size=size, shape=shape, dtype=dtype, offset=offset,
        zooms=tuple(float(z) for z in pixdim[1:len(shape) + 1]),
        unit_to_mm=_UNIT_TO_MM.get(int(h["xyzt_units"]) & 7, 1.0),
        slope=slope, inter=inter,
        affine=_affine(h, shape, pixdim, qfac, w2_tolerance),
    )


def _shape(dim: np.ndarray) -> tuple[int, ...]:
    ndim = int(dim[0])
    if not 1 <= ndim <= 7:
        raise ReadError(None, f"invalid header: dim[0] (number of axes) is {ndim}, not 1 to 7")
    shape = tuple(int(n) for n in dim[1:ndim + 1])
    if min(shape) < 0:
        raise ReadError(None, f"invalid header: negative size in shape {shape}")
    return shape


def _dtype(code: int, order: str) -> np.dtype:
    if code in _DTYPES:
        return np.dtype(_DTYPES[code]).newbyteorder(order)
    if code in _REFUSED:
        raise ReadError(None, f"voxels of type {_REFUSED[code]}: a mask holds one real number per voxel")
    raise ReadError(None, f"invalid header: unknown data type code {code}")


def _scaling(slope: float, inter: float) -> tuple[float | None, float | None]:
    if slope == 0 or not math.isfinite(slope):
        return None, None
    if not math.isfinite(inter):
        raise ReadError(None, f"invalid header: scaling slope {slope:g} with non-finite intercept {inter}")
    if slope == 1.0 and inter == 0.0:
        return None, None
    return slope, inter


def _affine(h, shape: tuple[int, ...], pixdim: np.ndarray, qfac: float, w2_tolerance: float) -> np.ndarray:
    affine = np.eye(4)
    if int(h["sform_code"]) in _XFORM_CODES and int(h["sform_code"]) > 0:
        affine[:3] = np.asarray(h["srow"], dtype=np.float64)
    elif int(h["qform_code"]) in _XFORM_CODES and int(h["qform_code"]) > 0:
        affine[:3, :3] = _rotation(np.asarray(h["quatern"], dtype=np.float64), w2_tolerance) \
            * (pixdim[1:4] * [1.0, 1.0, qfac])
        affine[:3, 3] = np.asarray(h["qoffset"], dtype=np.float64)
    else:
        size = np.ones(3)
        zoom = np.ones(3)
        size[:min(3, len(shape))] = shape[:3]
        zoom[:min(3, len(shape))] = pixdim[1:1 + min(3, len(shape))]
        zoom[0] = -zoom[0]
        affine[:3, :3] = np.diag(zoom)
        affine[:3, 3] = -(size - 1) / 2.0 * zoom
    return affine


def _rotation(bcd: np.ndarray, w2_tolerance: float) -> np.ndarray:
    """3x3 rotation of the unit quaternion (a, b, c, d), a >= 0 filled in from b, c, d."""
    w2 = 1.0 - float(bcd @ bcd)
    if abs(w2) < w2_tolerance:
        a = 0.0
    elif w2 < 0:
        raise ReadError(None, f"invalid header: qform quaternion (b, c, d) = {tuple(bcd)} is longer than 1")
    else:
        a = math.sqrt(w2)
    b, c, d = (float(v) for v in bcd)
    norm = a * a + b * b + c * c + d * d
    s = 2.0 / norm
    return np.array([
        [1.0 - s * (c * c + d * d), s * (b * c - a * d), s * (b * d + a * c)],
        [s * (b * c + a * d), 1.0 - s * (b * b + d * d), s * (c * d - a * b)],
        [s * (b * d - a * c), s * (c * d + a * b), 1.0 - s * (b * b + c * c)],
    ])
