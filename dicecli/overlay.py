"""Where a case went wrong: the masks of one class, read again, and the slice with most errors.

Used by the HTML report for its worst cases. A case is read exactly as it was
scored (the same readers, axis alignment and interpretation of the prediction:
threshold, argmax, multilabel channels, nnU-Net region channels), then for one
class (a label or a region) G and P are boolean masks on the ground truth's grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core.alignment import align
from .core.channels import argmax_labels, paint_regions
from .core.interpret import (MULTILABEL, REGIONS, channel_kind, channel_scale, exact_threshold, prediction_labels,
                             to_labels)
from .io.readers import read_volume
from .settings import Settings


@dataclass(frozen=True)
class CaseMasks:
    """Ground truth and prediction of one case, as scored: ``labels`` a label map, or ``channels``
    (multilabel: one foreground mask per channel) when no single label map exists."""

    gt: np.ndarray
    labels: np.ndarray | None
    channels: np.ndarray | None
    axes: str | None

    def masks(self, members) -> tuple[np.ndarray, np.ndarray]:
        """(G, P) of the class made of label values ``members``."""
        members = np.asarray(list(members))
        truth = np.isin(self.gt, members)
        if self.labels is not None:
            return truth, np.isin(self.labels, members)
        assert self.channels is not None, "a CaseMasks holds labels or channels"
        pred = np.zeros(self.gt.shape, dtype=bool)
        for c in members:
            if c < len(self.channels):
                pred |= self.channels[c]
        return truth, pred


def read_case_masks(gt_path: str, pred_path: str | None, settings: Settings) -> CaseMasks:
    """Read one case the way ``dice score`` reads it (raises InputError like the scorer)."""
    gt = read_volume(gt_path)
    gt_labels, _ = to_labels(gt.array, threshold=settings.threshold, allow_probability=False)
    if pred_path is None:
        return CaseMasks(gt_labels, np.zeros(gt_labels.shape, np.uint8), None, gt.axes)
    pred = read_volume(pred_path)
    fit = align(pred.array.shape, gt_labels.shape, pred_axes=pred.axes, gt_axes=gt.axes, hint=pred.channel_axis,
                override=settings.channel_axis, axis_order=settings.axis_order)
    array = fit.apply(pred.array, gt_labels.shape)
    if fit.channel_axis is None:
        labels = prediction_labels(array, threshold=settings.threshold_for(1), pred_kind=settings.pred_kind,
                                   prob_scale=settings.prob_scale)[0]
        return CaseMasks(gt_labels, labels, None, gt.axes)
    kind = channel_kind(region_channels=settings.reads_region_channels(array.shape[0]),
                        multilabel=settings.multilabel)
    scale = channel_scale(array, kind, pred_kind=settings.pred_kind, prob_scale=settings.prob_scale,
                          soft=settings.soft)
    if scale is None:  # argmax of quantised probabilities (channel_scale refuses them for regions and multilabel)
        return CaseMasks(gt_labels, argmax_labels(array), None, gt.axes)
    if kind == REGIONS:
        thresholds = [settings.threshold_for(label) for label in settings.region_labels]
        return CaseMasks(gt_labels, paint_regions(array, settings.region_labels, thresholds=thresholds,
                                                  scale=scale), None, gt.axes)
    if kind == MULTILABEL:
        channels = np.stack([array[c] >= exact_threshold(settings.threshold_for(c), array.dtype, scale)
                             for c in range(array.shape[0])])
        return CaseMasks(gt_labels, None, channels, gt.axes)
    return CaseMasks(gt_labels, argmax_labels(array), None, gt.axes)


def worst_slices(truth: np.ndarray, pred: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(view name, G slice, P slice): the whole image in 2D; in 3D the slice with the most errors
    (FP + FN) along each axis, or the most foreground when there is no error."""
    if truth.ndim == 2:
        return [("image", truth, pred)]
    errors = truth ^ pred
    out = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        score = errors.sum(axis=other)
        if not score.any():
            score = (truth | pred).sum(axis=other)
        index = int(np.argmax(score))
        take: list[slice | int] = [slice(None)] * 3
        take[axis] = index
        out.append((f"axis {axis} = {index}", truth[tuple(take)], pred[tuple(take)]))
    return out


#: TP, FP, FN colours that colour-blind readers tell apart (Okabe and Ito): blue, orange, reddish purple.
TP_RGB, FP_RGB, FN_RGB = (0, 114, 178), (230, 159, 0), (204, 121, 167)


def overlay_rgb(truth: np.ndarray, pred: np.ndarray, *, size: int = 160) -> np.ndarray:
    """An RGB picture of one slice: TP, FP, FN in three colours on dark grey, the ground truth's edge
    in white; scaled up by whole pixels to about ``size`` pixels on its longer side."""
    rgb = np.full(truth.shape + (3,), 40, dtype=np.uint8)
    rgb[truth & pred] = TP_RGB
    rgb[~truth & pred] = FP_RGB
    rgb[truth & ~pred] = FN_RGB
    edge = truth & ~_eroded(truth)
    rgb[edge] = (255, 255, 255)
    factor = max(1, size // max(truth.shape))
    return np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)


def _eroded(mask: np.ndarray) -> np.ndarray:
    """Face-connected erosion with the outside counted as background."""
    padded = np.pad(mask, 1, constant_values=False)
    out = padded[1:-1, 1:-1].copy()
    for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
        out &= padded[dy:dy + mask.shape[0], dx:dx + mask.shape[1]]
    return out
