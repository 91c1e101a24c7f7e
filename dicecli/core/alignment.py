"""Put a prediction on its ground truth's voxel grid (numpy only, no paths).

Three things can stand between a prediction array and its ground truth's shape,
and each is settled here, in this order (docs/conventions.md, "Axes and shapes"):

1. **Axis order.** Libraries read formats in different orders: nibabel reads
   NIfTI as (x, y, z); PNG and TIFF are row-major, (y, x) and (z, y, x), and so
   are nnU-Net's ``.npz`` probabilities, (c, z, y, x). When both sides say their
   order and the orders differ, the prediction's spatial axes are reversed (a
   view, no copy); ``axis_order="stored"`` compares as stored instead. A side
   with no known order (plain .npy) is compared as stored.
2. **Size-1 axes.** Axes of size 1 carry no voxels: (1, H, W), (H, W, 1) and
   (H, W) are one image. They are added or dropped to match the ground truth,
   as long as the other axes agree in order and size.
3. **Channels.** A prediction with one more non-trivial axis than the ground
   truth holds one map per channel. A size-1 channel axis is no channel axis:
   a single map (label map or probability map), never a 1-channel softmax.

Errors are GeometryError (no fitting reading) or ValueKindError (several
readings fit and nothing says which), without a path; the caller adds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import GeometryError, ValueKindError

XYZ, ZYX = "xyz", "zyx"
AXIS_ORDERS = ("auto", "stored")


@dataclass(frozen=True)
class Alignment:
    """How to read a prediction array on the ground truth's grid.

    channel_axis: the stored array's axis holding channels, None for a single map.
    reverse: the spatial axes are reversed (the two formats order axes oppositely).
    also_fits_stored: reversed, yet the shapes would fit as stored too (a square or
        palindromic shape), so a file written without converting its axis order
        would go unnoticed; the run warns about such cases.
    """

    channel_axis: int | None
    reverse: bool
    also_fits_stored: bool = False

    def apply(self, array: np.ndarray, gt_shape) -> np.ndarray:
        """A view of ``array`` shaped ``gt_shape`` (single map) or (channels, *gt_shape)."""
        gt_shape = tuple(int(n) for n in gt_shape)
        lead: tuple[int, ...]
        if self.channel_axis is not None:
            array = np.moveaxis(array, self.channel_axis, 0)
            lead = (array.shape[0],)
        else:
            lead = ()
        if self.reverse:
            n = len(lead)
            array = array.transpose(tuple(range(n)) + tuple(range(array.ndim - 1, n - 1, -1)))
        return array.reshape(lead + gt_shape)

    def spatial_affine(self, affine, ndim: int, gt_ndim: int):
        """The prediction's affine with its index columns in the ground truth's axis order, or None
        when it cannot be carried over (channels before the spatial axes, size-1 axes added or dropped)."""
        if affine is None:
            return None
        n = ndim - (self.channel_axis is not None)
        if n != gt_ndim or n > 3 or (self.channel_axis is not None and self.channel_axis < n):
            return None
        if not self.reverse:
            return affine
        out = np.array(affine, dtype=np.float64, copy=True)
        out[:, :n] = out[:, :n][:, ::-1]
        return out

    def spatial_spacing(self, spacing, ndim: int):
        """The prediction's spacing per ground-truth axis, or None when it cannot be carried over."""
        if spacing is None or len(spacing) != ndim:
            return None
        spacing = list(spacing)
        if self.channel_axis is not None:
            del spacing[self.channel_axis]
        return tuple(spacing[::-1] if self.reverse else spacing)


def _nonunit(shape) -> tuple[int, ...]:
    return tuple(int(n) for n in shape if n != 1)


def reverses(pred_axes: str | None, gt_axes: str | None, axis_order: str = "auto") -> bool:
    """True when the prediction's spatial axes must be reversed to follow the ground truth's."""
    return axis_order == "auto" and pred_axes is not None and gt_axes is not None and pred_axes != gt_axes


def align(pred_shape, gt_shape, *, pred_axes: str | None = None, gt_axes: str | None = None,
          hint: int | None = None, override: int | None = None, axis_order: str = "auto") -> Alignment:
    """The reading of ``pred_shape`` that lands on ``gt_shape`` (see the module docstring).

    hint: the axis the format keeps channels on (used when several axes fit);
    override: ``--channel-axis``, the only candidate when the prediction has channels.
    """
    pred_shape = tuple(int(n) for n in pred_shape)
    gt_shape = tuple(int(n) for n in gt_shape)
    reverse = reverses(pred_axes, gt_axes, axis_order)
    target = _nonunit(gt_shape)

    def fits(spatial) -> bool:
        return _nonunit(spatial[::-1] if reverse else spatial) == target

    def without(axis: int) -> tuple[int, ...]:
        return pred_shape[:axis] + pred_shape[axis + 1:]

    def stored_fits(spatial) -> bool:
        return reverse and _nonunit(spatial) == target

    if fits(pred_shape):  # a single map, whatever --channel-axis says (runs may mix kinds)
        return Alignment(None, reverse, stored_fits(pred_shape))
    ndim = len(pred_shape)
    if override is not None:
        if not -ndim <= override < ndim:
            raise GeometryError(None, f"--channel-axis {override} is out of range for shape {pred_shape}")
        axis = override % ndim
        if not fits(without(axis)):
            raise GeometryError(None, f"shape {pred_shape} without channel axis {axis} is {without(axis)}, "
                                      f"which does not match the ground truth's {gt_shape}"
                                      f"{_order_note(pred_axes, gt_axes, reverse)}")
        return Alignment(axis, reverse, stored_fits(without(axis)))
    candidates = [a for a in range(ndim) if pred_shape[a] > 1 and fits(without(a))]
    if hint is not None and -ndim <= hint < ndim and hint % ndim in candidates:
        return Alignment(hint % ndim, reverse, stored_fits(without(hint % ndim)))
    if len(candidates) == 1:
        return Alignment(candidates[0], reverse, stored_fits(without(candidates[0])))
    if candidates:
        raise ValueKindError(None, f"shape {pred_shape}: axes {', '.join(map(str, candidates))} could each be "
                                   "the channel axis; say which with --channel-axis")
    raise GeometryError(None, _mismatch(pred_shape, gt_shape, pred_axes, gt_axes, reverse, axis_order))


def _order_note(pred_axes, gt_axes, reverse: bool) -> str:
    if not reverse:
        return ""
    return (f" (axes compared in the ground truth's order: the prediction's {pred_axes} axes reversed "
            f"to {gt_axes})")


def _mismatch(pred_shape, gt_shape, pred_axes, gt_axes, reverse: bool, axis_order: str) -> str:
    """The reason no reading fits, with a hint when another axis order would have."""
    shown = pred_shape[::-1] if reverse else pred_shape
    text = f"shape {pred_shape} does not match the ground truth's {gt_shape}"
    if len(shown) == len(gt_shape):
        axis = next(i for i, (a, b) in enumerate(zip(shown, gt_shape, strict=False)) if a != b)
        text += f" on axis {axis} ({shown[axis]} vs {gt_shape[axis]} voxels)"
    if reverse:
        text += f" (in the ground truth's {gt_axes} order it is {shown})"
    if len(_nonunit(pred_shape)) == len(_nonunit(gt_shape)) + 1:
        text += ", nor that shape plus one channel axis"
    stored_fits = _nonunit(pred_shape) == _nonunit(gt_shape) or any(
        _nonunit(pred_shape[:a] + pred_shape[a + 1:]) == _nonunit(gt_shape) for a in range(len(pred_shape)))
    reversed_fits = _nonunit(pred_shape[::-1]) == _nonunit(gt_shape) or any(
        _nonunit((pred_shape[:a] + pred_shape[a + 1:])[::-1]) == _nonunit(gt_shape) for a in range(len(pred_shape)))
    if reverse and stored_fits:
        text += ("; as stored the shapes agree: if this file was written without converting the axis order "
                 "(e.g. a PNG array saved as NIfTI with nibabel), give --axis-order stored")
    elif not reverse and reversed_fits and axis_order == "stored":
        text += "; its axes are the ground truth's in reverse order: drop --axis-order stored"
    elif not reverse and reversed_fits:
        text += ("; its axes are the ground truth's in reverse order (z, y, x against x, y, z?): "
                 "its axis order is not known (a plain .npy/.npz array, or an array in memory), so it is "
                 "compared as stored; transpose it, or save nnU-Net probabilities as an .npz array named "
                 "'probabilities'")
    return text
