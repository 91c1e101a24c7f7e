"""FreeSurfer MGH/MGZ (.mgh, .mgz) and Analyze 7.5 / NIfTI pairs (.hdr + .img) through nibabel.

nibabel reads them as it reads NIfTI: (x, y, z) arrays (``axes`` "xyz"),
``scl_slope``/``scl_inter``-style scaling applied (values become floats; 1 + float32
rounding is 1, as for NIfTI), the
affine as nibabel gives it (``img.affine``, voxel to RAS mm), spacing from the
header's zooms. Trailing axes of size 1 beyond the third are dropped; a real
fourth axis is kept as a channel axis (hint 3), any other shape refused, as for
NIfTI. A .mgz is inflated here, every gzip member checked as for .nii.gz (nibabel
stops reading before the checksum). A .hdr needs its .img beside it.
"""

from __future__ import annotations

import os

import numpy as np

from ...errors import ReadError
from ...core.volume import Volume
from ._common import check_file, first_line, native_numbers, read_bytes
from .gzip_members import gunzip_all
from .nifti import kept_shape, settle_scaled_ones


def read(path: str) -> Volume:
    """Decode the MGH/MGZ or Analyze file at ``path``; raise ReadError for anything else."""
    path = str(path)
    check_file(path)
    if path.lower().endswith(".hdr"):
        image_file = path[:-4] + (".IMG" if path.endswith(".HDR") else ".img")
        if not os.path.exists(image_file):
            raise ReadError(path, f"Analyze header without its image file {os.path.basename(image_file)}")
    try:
        import nibabel
    except ImportError:
        raise ReadError(path, "reading this format needs nibabel: pip install nibabel") from None
    try:
        image: nibabel.spatialimages.SpatialImage
        if path.lower().endswith(".mgz"):
            image = nibabel.MGHImage.from_bytes(gunzip_all(read_bytes(path)))
        elif path.lower().endswith(".mgh"):  # from bytes: nibabel.load leaves a file open when it fails
            image = nibabel.MGHImage.from_bytes(read_bytes(path))
        else:
            loaded = nibabel.load(path)
            if not isinstance(loaded, nibabel.spatialimages.SpatialImage):  # an Analyze .hdr always is
                raise ReadError(path, f"not an image with voxels ({type(loaded).__name__})")
            image = loaded
        data = np.asanyarray(image.dataobj)
        zooms = tuple(float(z) for z in image.header.get_zooms())
        affine = np.asarray(image.affine, dtype=np.float64)
    except ReadError as exc:
        raise ReadError(path, exc.reason) from None
    except MemoryError:
        raise ReadError(path, "not enough memory to decode the image") from None
    except Exception as exc:
        raise ReadError(path, f"cannot read the image ({first_line(exc, path)[:150] or type(exc).__name__})") from None
    data = native_numbers(path, data)
    if data.dtype == np.float64 and (getattr(image.dataobj, "slope", 1.0) != 1.0
                                     or getattr(image.dataobj, "inter", 0.0) != 0.0):
        if not data.flags.writeable:
            data = data.copy()
        settle_scaled_ones(data)  # float32 scaling just above 1 is 1
    try:
        shape = kept_shape(tuple(data.shape))
    except ReadError as exc:
        raise ReadError(path, exc.reason) from None
    data = data.reshape(shape)
    spacing = zooms[:len(shape)] or None
    return Volume(array=data, path=path, spacing_mm=spacing, affine=affine,
                  channel_axis=3 if data.ndim == 4 else None, axes="xyz")
