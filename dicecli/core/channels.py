"""Multi-channel predictions (softmax or sigmoid outputs): numpy only, no paths.

A prediction whose shape is the ground truth's shape plus one axis holds one
probability map per channel; channel i is label i. Rules (docs/conventions.md, man page):

- the channel axis: ``--channel-axis`` when given; else the axis the reader
  reports (NIfTI: the 4th, after x, y, z; .npy/.npz: the first, as nnU-Net
  writes them; TIFF: its channel/sample axis) when removing it leaves the
  ground truth's shape; else the only axis whose removal does. Several
  candidates and no hint: an error asking for ``--channel-axis``.
- argmax (default): the label of a voxel is its most probable channel; ties go
  to the lowest channel index.
- multilabel: every channel is thresholded on its own (value / scale >= t_c),
  so classes may overlap; counts are per channel, (gt == c) vs channel c.
- region channels (nnU-Net region-based models): channel i is the sigmoid of
  region i, with no background channel; the label map is painted as nnU-Net
  does, region by region in order, label regions_class_order[i] where
  p_i >= t_i, later regions painting over earlier ones.
- soft Dice sums (2·Σp·g / (Σp + Σg)) are collected from the same maps.

Everything runs over spatial slabs of about ``CHUNK_VOXELS`` voxels, so no
one-hot ground truth and no full-size int64/float64 copy is ever made.
"""

from __future__ import annotations

import numpy as np

from .interpret import exact_threshold
from .score import CHUNK_VOXELS, CaseCounts


def _slabs(shape: tuple[int, ...], n_channels: int = 1):
    """Index tuples cutting a spatial ``shape`` along axis 0 into slabs of bounded size."""
    if not shape or 0 in shape:
        return
    per_row = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    budget = max(1, CHUNK_VOXELS // max(1, n_channels))
    rows = max(1, budget // max(1, per_row))
    for start in range(0, shape[0], rows):
        yield (slice(start, min(shape[0], start + rows)),)


def label_dtype(n_channels: int) -> np.dtype:
    return np.dtype(np.uint8 if n_channels <= 256 else np.uint16 if n_channels <= 65536 else np.uint32)


def _in_memory_order(function):
    """Run ``function(stack, ...)`` on a stack whose channels are Fortran-ordered (a NIfTI ground
    truth's order laid over a row-major file) with the spatial axes reversed, so slabs are
    contiguous, and return its label map reversed back: a Fortran-ordered view, which counts
    against a NIfTI ground truth without a copy."""
    def run(stack: np.ndarray, *args, **kwargs) -> np.ndarray:
        spatial = stack.ndim - 1
        if spatial > 1 and not stack[0].flags.c_contiguous and stack[0].flags.f_contiguous:
            flip = (0,) + tuple(range(stack.ndim - 1, 0, -1))
            return function(stack.transpose(flip), *args, **kwargs).T
        return function(stack, *args, **kwargs)

    run.__doc__, run.__name__ = function.__doc__, function.__name__
    return run


#: Up to this many channels, the argmax runs as a running maximum over channels (one pass each,
#: about 2x faster than np.argmax along the channel axis); more channels use np.argmax.
_RUNNING_MAX_CHANNELS = 32


def _comparable(values: np.ndarray) -> np.ndarray:
    """Values that order like ``values`` and compare fast: float16 probabilities (validated >= 0,
    no NaN) as their bit patterns with the sign bit cleared (-0.0 and 0.0 tie), else as they are."""
    if values.dtype == np.float16:
        return values.view(np.uint16) & np.uint16(0x7FFF)
    return values


@_in_memory_order
def argmax_labels(stack: np.ndarray) -> np.ndarray:
    """Label map = index of the largest channel of a (channels, *spatial) stack; ties -> lowest index.

    Probability channels only (validated: finite, non-negative; see interpret.channel_scale).
    """
    n = stack.shape[0]
    out = np.empty(stack.shape[1:], dtype=label_dtype(n))
    for index in _slabs(stack.shape[1:], n):
        if n > _RUNNING_MAX_CHANNELS or n < 2:
            out[index] = np.argmax(stack[(slice(None),) + index], axis=0)
            continue
        best = _comparable(stack[(0,) + index]).copy()
        labels = out[index]
        labels[...] = 0
        for c in range(1, n):
            values = _comparable(stack[(c,) + index])
            higher = values > best  # strictly: a tie keeps the lower channel
            labels[higher] = c
            np.maximum(best, values, out=best)
    return out


@_in_memory_order
def paint_regions(stack: np.ndarray, paint_labels, *, thresholds, scale: float = 1.0) -> np.ndarray:
    """Label map of region channels: voxel = paint_labels[i] of the last channel i with value / scale >= t_i.

    stack: (regions, *spatial); paint_labels: nnU-Net's regions_class_order, one
    label per channel; 0 where no channel is on. Slab by slab, no one-hot copy.
    """
    paint_labels = [int(v) for v in paint_labels]
    out = np.zeros(stack.shape[1:], dtype=label_dtype(max(paint_labels, default=0) + 1))
    cuts = [exact_threshold(t, stack.dtype, scale) for t in thresholds]
    for index in _slabs(stack.shape[1:], stack.shape[0]):
        slab = out[index]
        for channel, (label, cut) in enumerate(zip(paint_labels, cuts, strict=False)):
            slab[stack[(channel,) + index] >= cut] = label
    return out


def channel_thresholds(n_channels: int, default: float, overrides) -> list[float]:
    """The threshold of each channel: its override (by label value) or the default."""
    table = {int(k): float(v) for k, v in overrides}
    return [table.get(c, default) for c in range(n_channels)]


def multilabel_counts(
    gt: np.ndarray, stack: np.ndarray, *, thresholds, scale: float = 1.0, ignore: int | None = None,
    regions=(), soft: bool = False,
) -> tuple[CaseCounts, np.ndarray, np.ndarray | None]:
    """Counts of thresholded channels against a label map, in one slab-wise pass.

    gt: label array (spatial shape); stack: (channels, *spatial). Channel c is
    foreground where value / scale >= thresholds[c]; classes may overlap. A
    region's prediction is the union of its channels, its truth gt in R.
    Returns (CaseCounts without joint cells, (n_regions, 3) region counts,
    soft sums (channels, 2) of Σp·[gt == c] and Σp, or None).
    """
    n = stack.shape[0]
    cut = [exact_threshold(t, stack.dtype, scale) for t in thresholds]
    top = max(int(gt.max()) if gt.size else 0, n - 1)
    gt_hist = np.zeros(top + 1, dtype=np.int64)
    tp, pred = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    reg = np.zeros((len(regions), 3), dtype=np.int64)
    sums = np.zeros((n, 2), dtype=np.float64) if soft else None
    n_ignored = 0
    for index in _slabs(gt.shape, n):
        g = gt[index].ravel()
        keep = None if ignore is None else g != ignore
        if keep is not None:
            n_ignored += int(g.size - np.count_nonzero(keep))
            gt_hist += np.bincount(g[keep], minlength=top + 1)[: top + 1]
        else:
            gt_hist += np.bincount(g, minlength=top + 1)[: top + 1]
        foreground = []
        for c in range(n):
            values = stack[(c,) + index].ravel()
            pc = values >= cut[c]
            if keep is not None:
                pc &= keep
            foreground.append(pc)
            is_c = g == c
            tp[c] += np.count_nonzero(pc & is_c)
            pred[c] += np.count_nonzero(pc)
            if sums is not None:  # soft
                p = values.astype(np.float64) / scale
                if keep is not None:
                    p = np.where(keep, p, 0.0)
                sums[c] += (p[is_c].sum(), p.sum())
        for row, members in enumerate(regions):
            in_g = np.isin(g, np.asarray(members))
            if keep is not None:
                in_g &= keep
            in_p = np.zeros(g.shape, dtype=bool)
            for c in members:
                if c < n:
                    in_p |= foreground[c]
            both = int(np.count_nonzero(in_g & in_p))
            reg[row] += (both, int(np.count_nonzero(in_p)) - both, int(np.count_nonzero(in_g)) - both)
    labels = np.arange(top + 1, dtype=np.int64)
    pred_all = np.zeros(top + 1, dtype=np.int64)
    tp_all = np.zeros(top + 1, dtype=np.int64)
    pred_all[:n], tp_all[:n] = pred, tp
    present = (gt_hist > 0) | (pred_all > 0)
    counts = CaseCounts(
        labels=labels[present], tp=tp_all[present], fp=(pred_all - tp_all)[present],
        fn=(gt_hist - tp_all)[present], n_voxels=int(gt.size) - n_ignored, n_ignored=n_ignored,
    )
    return counts, reg, sums


def soft_sums(gt: np.ndarray, stack: np.ndarray, channel_labels, *, scale: float = 1.0,
              ignore: int | None = None) -> np.ndarray:
    """(channels, 2) float64 sums Σp·[gt == label] and Σp, p = value / scale, ignored voxels left out.

    channel_labels: the label each channel of the (channels, *spatial) stack stands for.
    """
    sums = np.zeros((stack.shape[0], 2), dtype=np.float64)
    for index in _slabs(gt.shape, stack.shape[0]):
        g = gt[index].ravel()
        keep = None if ignore is None else g != ignore
        for c, label in enumerate(channel_labels):
            p = stack[(c,) + index].ravel().astype(np.float64) / scale
            if keep is not None:
                p = np.where(keep, p, 0.0)
            sums[c] += (p[g == label].sum(), p.sum())
    return sums
