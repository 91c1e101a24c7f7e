"""The Volume record: one decoded image and the geometry needed to compare it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Volume:
    """A decoded mask or probability map.

    array: values as stored (integer labels keep their integer dtype; scaled NIfTI
        data is already scaled), native byte order, 2D (rows, cols) or 3D.
    path: the file it came from, as given by the caller.
    spacing_mm: voxel size per array axis in millimetres, or None when the format
        has none (PNG, most TIFF).
    affine: 4x4 voxel-to-world matrix (NIfTI), or None.
    channel_axis: the axis the format keeps channels on, when the array may hold
        one map per channel (NIfTI: 3, .npy/.npz: 0, TIFF: its channel/sample
        axis), else None. A hint: whether it is a channel axis is decided
        against the ground truth's shape (dicecli.core.alignment).
    axes: the order of the spatial axes as its library reads them: "xyz"
        (NIfTI through nibabel: x, y, z), "zyx" (row-major: PNG and 2D TIFF
        (y, x), multi-page TIFF (z, y, x), nnU-Net's .npz ``probabilities``
        (c, z, y, x)), or None when the format does not say (plain .npy/.npz):
        then it is compared as stored.
    """

    array: np.ndarray
    path: str
    spacing_mm: tuple[float, ...] | None = None
    affine: np.ndarray | None = None
    channel_axis: int | None = None
    axes: str | None = None
