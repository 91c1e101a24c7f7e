"""Score numpy arrays held in memory: the Python API for notebooks and training loops.

    >>> import numpy as np
    >>> from dicecli import score_arrays
    >>> gt = np.array([[0, 1, 1], [0, 2, 2]])
    >>> pred = np.array([[0, 1, 0], [0, 2, 2]])
    >>> scores = score_arrays(gt, pred)
    >>> round(scores[1].dice, 4), scores[2].dice, scores[1].status
    (0.6667, 1.0, 'ok')
    >>> scores[1].tp, scores[1].fp, scores[1].fn
    (1, 0, 1)

The same code scores files in ``dice score``: the arrays become Volumes and go
through the per-case worker, then the run's aggregation, so every convention
(label map or probability map, thresholds in the map's own precision, empty
masks, regions, ignore label, channel maps) is the CLI's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import UsageError
from .instances import LESION_COUNTS
from .core.volume import Volume

GT_NAME, PRED_NAME = "<gt array>", "<pred array>"


@dataclass(frozen=True)
class ClassScore:
    """The scores of one class of one pair of arrays.

    dice: hard Dice, None when undefined (both masks empty under empty_both="nan").
    tp, fp, fn: voxel counts. status: "ok", "both_empty", "gt_empty" or "pred_empty".
    metrics: the other metrics asked for ({"iou": 0.5, ...}, None when undefined),
        and "soft_dice" with ``soft=True``.
    gt_volume_mm3, pred_volume_mm3: with ``spacing``, the two masks' volumes in mm3.
    objects: with ``instances=True`` or ``connected_components=True``, one dict per IoU threshold
        (``iou_thresholds``, default (0.5,)): iou_threshold, n_gt, n_pred, tp, fp, fn, iou_sum,
        precision, recall, f1, mean_matched_iou, pq, sq, rq (None where undefined).
    lesion_dice, lesions: with ``lesion_wise=True``, BraTS 2023 lesion-wise Dice and the lesion
        counts (n_lesions, n_detected, n_fp, n_small).
    """

    dice: float | None
    tp: int
    fp: int
    fn: int
    status: str
    metrics: dict = field(default_factory=dict)
    gt_volume_mm3: float | None = None
    pred_volume_mm3: float | None = None
    objects: tuple[dict, ...] = ()
    lesion_dice: float | None = None
    lesions: dict = field(default_factory=dict)


def _number(value) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _objects(o, col: int) -> tuple[dict, ...]:
    from .core.objects import OBJECT_SCORES

    n_gt, n_pred = int(o.n_gt[0, col]), int(o.n_pred[0, col])
    return tuple({"iou_threshold": t, "n_gt": n_gt, "n_pred": n_pred, "tp": int(o.tp[0, col, k]),
                  "fp": n_pred - int(o.tp[0, col, k]), "fn": n_gt - int(o.tp[0, col, k]),
                  "iou_sum": float(o.iou_sum[0, col, k]),
                  **{name: _number(o.scores[name][0, col, k]) for name in OBJECT_SCORES}}
                 for k, t in enumerate(o.thresholds))


def score_arrays(gt, pred, *, labels=None, threshold: float = 0.5, smooth: float = 0.0, empty_both: str = "nan",
                 ignore_label: int | None = None, spacing=None, channel_axis: int | None = None,
                 **options) -> dict:
    """Hard Dice per class of a prediction array against a ground-truth array.

    Parameters
    ----------
    gt : array_like
        Integer (or whole-number float) label map, 2D or 3D.
    pred : array_like
        Label map, probability map (floats in [0, 1], foreground where p >= threshold),
        or a map per channel (channels on ``channel_axis``, default: the axis that leaves
        gt's shape, first axis preferred), read by argmax unless ``multilabel=True``.
        A size-1 channel axis is a single map. Both arrays are compared as given.
    labels : sequence of int, optional
        Labels to score; default every non-zero label in either array.
    threshold, smooth, empty_both, ignore_label
        As ``dice score``'s options (docs/conventions.md).
    spacing : sequence of float, optional
        Voxel size in mm per axis of ``gt``: adds volumes (``gt_volume_mm3``), and is
        the spacing of the boundary metrics (``metrics="hd95,nsd"``; 1 mm without it).
    **options
        Any other field of dicecli.settings.Settings (``regions``, ``metrics``,
        ``soft``, ``pred_kind``, ``prob_scale``, ``multilabel``, ``thresholds``,
        ``include_background``, ``label_names``, ``binary``, ``instances``,
        ``connected_components``, ``connectivity``, ``iou_thresholds``, ``lesion_wise``,
        ``lesion_dilation``, ``lesion_min_volume``).

    Returns
    -------
    dict
        Class key -> ClassScore, in column order: an int label for a plain label, the
        name for a named label or a region.

    Raises
    ------
    dicecli.errors.InputError
        Values or shapes that make no sense (the reason says which; no path).
    dicecli.errors.UsageError
        Options that make no sense.

    Examples
    --------
    >>> import numpy as np
    >>> gt = np.zeros((4, 4), np.uint8); gt[1:3, 1:3] = 1
    >>> prob = np.where(gt == 1, 0.9, 0.2).astype(np.float32)
    >>> score_arrays(gt, prob)[1].dice
    1.0
    >>> score_arrays(gt, np.zeros_like(gt), labels=[1])[1].status
    'pred_empty'

    Instance masks (ids need not agree): foreground Dice, and objects matched at IoU >= 0.5

    >>> cells = np.array([[1, 1, 0, 2, 2], [1, 1, 0, 2, 2]])
    >>> found = np.array([[7, 7, 0, 0, 3], [7, 7, 0, 0, 3]])
    >>> match = score_arrays(cells, found, instances=True)[1].objects[0]
    >>> match["tp"], match["fp"], match["fn"], match["f1"], match["pq"]
    (2, 0, 0, 1.0, 0.75)
    """
    from .case import score_volumes
    from .run.evaluate import evaluate_results
    from .io.pairing import Pair, Pairing
    from .settings import Settings, check_options, spacing_mm

    check_options(options, "score_arrays")
    if isinstance(gt, np.ma.MaskedArray) or isinstance(pred, np.ma.MaskedArray):
        raise UsageError("masked arrays are not scored (their masks would be ignored): pass .filled(0), or mark "
                         "the voxels to leave out with a label and ignore_label=")
    gt, pred = np.asanyarray(gt), np.asanyarray(pred)
    if spacing is not None:
        try:
            spacing = spacing_mm(spacing)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if len(spacing) != gt.ndim or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise UsageError(f"spacing must give one positive size per axis of gt ({gt.ndim}), got {spacing}")
    options = {"jobs": 1, **options}  # one pair of arrays: no worker processes
    settings = Settings(labels=labels, threshold=threshold, smooth=smooth, empty_both=empty_both,
                        ignore_label=ignore_label, channel_axis=channel_axis, **options)
    gt_volume = Volume(array=gt, path=GT_NAME, spacing_mm=spacing)
    pred_volume = Volume(array=pred, path=PRED_NAME, channel_axis=0 if pred.ndim == gt.ndim + 1 else None)
    result = score_volumes("arrays", gt_volume, pred_volume, settings)
    run = evaluate_results([result], [], settings, Pairing(pairs=(Pair("arrays", GT_NAME, PRED_NAME),)))
    out = {}
    for col, spec in enumerate(run.classes):
        metrics = {name: _number(table[0, col]) for name, table in run.metrics.items()}
        score = ClassScore(dice=_number(run.dice[0, col]), tp=int(run.tp[0, col]), fp=int(run.fp[0, col]),
                           fn=int(run.fn[0, col]), status=str(run.status[0, col]), metrics=metrics)
        if spacing is not None and run.gt_volume_mm3 is not None and run.pred_volume_mm3 is not None:
            score = replace(score, gt_volume_mm3=_number(run.gt_volume_mm3[0, col]),
                            pred_volume_mm3=_number(run.pred_volume_mm3[0, col]))
        if run.objects is not None:
            score = replace(score, objects=_objects(run.objects, col))
        if run.lesions is not None:
            les = run.lesions
            score = replace(score, lesion_dice=_number(les.lesion_dice[0, col]),
                            lesions={name: int(getattr(les, name)[0, col]) for name in LESION_COUNTS})
        plain_unnamed = not spec.region and spec.key == str(spec.label)
        out[spec.label if plain_unnamed else spec.key] = score
    return out
