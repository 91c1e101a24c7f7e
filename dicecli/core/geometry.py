"""Check that a prediction lies on the same voxel grid as its ground truth.

Shapes must match exactly. Spacing and affine are compared only when both files
carry them (NIfTI); both are compared as stored, never reoriented.
"""

from __future__ import annotations

import numpy as np

from ..errors import GeometryError
from .volume import Volume

#: Spacing tolerance: |a - b| <= SPACING_ATOL_MM + SPACING_RTOL * |a|.
SPACING_ATOL_MM = 1e-4
SPACING_RTOL = 1e-3
#: Largest allowed difference of any affine element (mm for the translation column).
AFFINE_ATOL = 1e-3

GEOMETRY_MODES = ("strict", "warn", "ignore")


def check_shape(gt: Volume, pred_shape: tuple[int, ...], pred_path: str) -> None:
    """Raise GeometryError naming the first differing axis when shapes differ."""
    gt_shape = gt.array.shape
    if tuple(gt_shape) == tuple(pred_shape):
        return
    if len(gt_shape) != len(pred_shape):
        raise GeometryError(
            pred_path,
            f"has {len(pred_shape)} dimensions {tuple(pred_shape)}, ground truth {gt.path} has "
            f"{len(gt_shape)} {tuple(gt_shape)}",
        )
    axis = next(i for i, (a, b) in enumerate(zip(gt_shape, pred_shape)) if a != b)
    raise GeometryError(
        pred_path,
        f"shape {tuple(pred_shape)} differs from ground truth {gt.path} {tuple(gt_shape)} "
        f"on axis {axis} ({pred_shape[axis]} vs {gt_shape[axis]} voxels)",
    )


def geometry_mismatch(gt: Volume, pred: Volume) -> str | None:
    """A one-line description of the first spacing or affine difference, or None."""
    if gt.spacing_mm is not None and pred.spacing_mm is not None:
        a = np.asarray(gt.spacing_mm, dtype=float)
        b = np.asarray(pred.spacing_mm, dtype=float)
        if a.shape == b.shape:
            bad = np.abs(a - b) > SPACING_ATOL_MM + SPACING_RTOL * np.abs(a)
            if bad.any():
                axis = int(np.argmax(bad))
                return (
                    f"spacing differs from ground truth {gt.path} on axis {axis}: "
                    f"{b[axis]:g} vs {a[axis]:g} mm (by {abs(b[axis] - a[axis]):.4g} mm)"
                )
    if gt.affine is not None and pred.affine is not None:
        diff = np.abs(np.asarray(pred.affine, float) - np.asarray(gt.affine, float))
        if diff.max() > AFFINE_ATOL:
            row, col = np.unravel_index(int(np.argmax(diff)), diff.shape)
            what = f"origin along axis {row}" if col == 3 else f"affine element [{row}, {col}]"
            return (
                f"{what} differs from ground truth {gt.path}: {pred.affine[row, col]:.6g} vs "
                f"{gt.affine[row, col]:.6g} (by {diff[row, col]:.4g})"
            )
    return None
