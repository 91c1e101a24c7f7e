"""Read a NIfTI-1 or NIfTI-2 header from its bytes with nibabel's header classes.

nibabel is the reader of record for NIfTI: the fields, the byte order, the data
type, the scaling and the voxel-to-world affine are those of
:class:`nibabel.Nifti1Header` / :class:`nibabel.Nifti2Header` for the same bytes,
with nibabel's usual repairs (``check_fix``, as ``nibabel.load`` makes them, but
silently: no log lines on stderr):

- the affine: ``sform_code`` > 0 -> the sform rows; else ``qform_code`` > 0 ->
  the qform (quaternion b, c, d with a filled in, pixdim[1:4] as voxel size,
  pixdim[0] = qfac flipping the third axis); else a diagonal affine from the
  voxel sizes, first axis flipped, origin at the volume's centre
  (``get_best_affine``);
- xform codes outside 0..5 count as 0; qfac other than ±1 counts as 1; voxel
  sizes of 0 count as 1 and negative ones by their absolute value;
- ``scl_slope`` 0 or non-finite means no scaling (``get_slope_inter``).

Only the header goes through nibabel: the voxels are dice's own (ISA-L inflate,
``np.frombuffer``, streaming; see :mod:`.nifti` and :mod:`.nifti_stream`).

Anything that cannot describe a single-file image (bad magic, unknown or
unsupported data type, dim[0] outside 1..7, negative sizes, data offset inside
the header, a non-finite intercept, a qform quaternion longer than 1) raises
ReadError with the field at fault, before nibabel is asked to repair anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from nibabel.nifti1 import Nifti1Header
from nibabel.nifti2 import Nifti2Header
from nibabel.spatialimages import HeaderDataError

from ...errors import ReadError

#: Bytes that hold either header (NIfTI-2 is the longer).
MAX_HEADER_BYTES = 540

# version -> (nibabel header class, header bytes, smallest data offset of a single-file image)
_LAYOUTS: dict[int, tuple[type[Nifti1Header], int, int]] = {
    1: (Nifti1Header, 348, 352),
    2: (Nifti2Header, 540, 544),
}

#: NIfTI datatype codes of voxel types a mask may hold (u1 i2 i4 f4 f8 i1 u2 u4 i8 u8).
_ACCEPTED = frozenset({2, 4, 8, 16, 64, 256, 512, 768, 1024, 1280})
#: Codes of voxel types a mask cannot hold, by name for the error message.
_REFUSED = {1: "binary (1 bit)", 32: "complex64", 128: "RGB24", 1536: "float128", 1792: "complex128",
            2048: "complex256", 2304: "RGBA32"}
_UNIT_TO_MM = {1: 1000.0, 2: 1.0, 3: 0.001}  # xyzt_units & 7: metre, millimetre, micron
#: xform codes nibabel knows (unknown, scanner, aligned, Talairach, MNI, template); others count as 0.
_XFORM_CODES = frozenset(range(6))
#: Problem level above every level nibabel's checks report: check_fix repairs, never raises
#: (the refusals are dice's own, made before with their own messages).
_NEVER_RAISE = 100


class _Quiet:
    """A logger for nibabel's check_fix that drops its reports (nibabel's own logger writes them
    to stderr, which belongs to dice's messages)."""

    def log(self, level: int, msg: object, *args: object) -> None:
        pass


_QUIET = _Quiet()


@dataclass(frozen=True, eq=False)
class NiftiHeader:
    """What a reader needs from a NIfTI header.

    shape: the data shape (dim[1 : dim[0] + 1]). dtype: voxel type in the file's byte
    order. offset: byte where the voxels start. zooms: voxel size per axis of
    ``shape``, in the file's units after the repairs above; ``unit_to_mm`` converts
    the spatial ones to mm (1.0 when the unit is mm or unknown).
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
                if size == layout[1]:
                    return version, order
    raise ReadError(None, "not a NIfTI file (unrecognised header)")


def parse_header(head: bytes) -> NiftiHeader:
    """Parse the header at the start of ``head`` (at least its 348 or 540 bytes)."""
    version, order = header_version(head)
    klass, size, min_offset = _LAYOUTS[version]
    if len(head) < size:
        raise ReadError(None, f"truncated header ({len(head)} of {size} bytes)")
    hdr = klass(binaryblock=head[:size], endianness=order, check=False)
    magic = hdr["magic"].item()
    if magic != klass.single_magic:
        raise ReadError(None, f"not a single-file NIfTI-{version} image (magic {magic!r}, "
                              f"expected {klass.single_magic!r})")
    _check_dim(hdr["dim"])
    code = int(hdr["datatype"])
    if code not in _ACCEPTED:
        if code in _REFUSED:
            raise ReadError(None, f"voxels of type {_REFUSED[code]}: a mask holds one real number per voxel")
        raise ReadError(None, f"invalid header: unknown data type code {code}")
    offset = float(hdr["vox_offset"])
    if not math.isfinite(offset) or offset < min_offset:
        raise ReadError(None, f"invalid header: voxel data offset (vox_offset) is {offset:g}, "
                              f"inside the header (voxels start at byte {min_offset} or later)")
    slope, inter = _scaling(hdr)
    if _needs_repair(hdr):
        hdr.check_fix(logger=_QUIET, error_level=_NEVER_RAISE)  # nibabel's repairs, as nibabel.load makes them
    shape = tuple(int(n) for n in hdr.get_data_shape())
    return NiftiHeader(
        version=version, header_size=size, shape=shape, dtype=hdr.get_data_dtype(), offset=int(offset),
        zooms=tuple(float(z) for z in hdr.get_zooms()[:len(shape)]),
        unit_to_mm=_UNIT_TO_MM.get(int(hdr["xyzt_units"]) & 7, 1.0),
        slope=slope, inter=inter, affine=_affine(hdr),
    )


def _needs_repair(hdr: Nifti1Header) -> bool:
    """Whether nibabel's check_fix would change a field read here: voxel sizes <= 0, qfac not ±1,
    an xform code it does not know (the checks that repair; the others only log, or test what
    parse_header refused already). check_fix costs more than the rest of the parse, and most
    files need none of it."""
    pixdim = hdr["pixdim"].tolist()
    return (pixdim[0] not in (-1.0, 1.0) or not min(pixdim[1:4]) > 0  # (NaN too: check_fix leaves it)
            or int(hdr["qform_code"]) not in _XFORM_CODES or int(hdr["sform_code"]) not in _XFORM_CODES)


def _check_dim(dim: np.ndarray) -> None:
    ndim = int(dim[0])
    if not 1 <= ndim <= 7:
        raise ReadError(None, f"invalid header: dim[0] (number of axes) is {ndim}, not 1 to 7")
    shape = tuple(int(n) for n in dim[1:ndim + 1])
    if min(shape) < 0:
        raise ReadError(None, f"invalid header: negative size in shape {shape}")


def _scaling(hdr: Nifti1Header) -> tuple[float | None, float | None]:
    """nibabel's (slope, inter), None for both when the file says no scaling or the identity."""
    try:
        slope, inter = hdr.get_slope_inter()
    except HeaderDataError:  # a valid slope with a non-finite intercept
        raise ReadError(None, f"invalid header: scaling slope {float(hdr['scl_slope']):g} "
                              f"with non-finite intercept {float(hdr['scl_inter'])}") from None
    if slope is None or (slope == 1.0 and inter == 0.0):
        return None, None
    return float(slope), float(inter)


def _affine(hdr: Nifti1Header) -> np.ndarray:
    """nibabel's best affine (sform, qform or the base affine), float64."""
    try:
        return np.asarray(hdr.get_best_affine(), dtype=np.float64)
    except ValueError:  # the quaternion's b² + c² + d² is above 1 (fillpositive)
        bcd = tuple(float(hdr[f"quatern_{q}"]) for q in "bcd")
        raise ReadError(None, f"invalid header: qform quaternion (b, c, d) = {bcd} is longer than 1") from None
