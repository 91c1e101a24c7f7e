"""Objects and lesions per class: counts of one case from its label maps (the worker's part) and
the run's tables and summaries (numpy only; components come from dicecli.components).

Which objects a class has (docs/conventions.md, "Instances and lesions"):
- ``instances``: every non-zero id is an object of class 1 (with ``connected_components``, each
  connected piece of an id is one);
- ``connected_components`` alone: the connected components of each label value are its objects
  (of the foreground, class 1, with ``binary``); a region's objects are the components of the
  union of its labels;
- lesions (``lesion_wise``) are always found from each class's binary mask (dicecli.components).
Label 0 (background) has no objects and no lesions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core.aggregate import ClassSummary, summarize_columns
from .components import label_components, lesion_counts
from .core.objects import OBJECT_SCORES, Overlaps, match_pairs, object_overlaps, object_scores
from .core.score import EMPTY_BOTH_VALUES

LESION_COUNTS = ("n_lesions", "n_detected", "n_fp", "n_small")


@dataclass(frozen=True, eq=False)
class PerClass:
    """Numbers of one case per class: a row per label value of ``labels`` (sorted), then a row per
    region of the run's settings, in order. values: name -> array with one row per class."""

    labels: np.ndarray
    n_regions: int
    values: dict

    def record(self) -> dict:
        """JSON-safe data (for the journal); PerClass.from_record restores it exactly."""
        return {"labels": self.labels.tolist(), "n_regions": self.n_regions,
                "values": {name: {"dtype": a.dtype.str, "shape": list(a.shape), "data": a.ravel().tolist()}
                           for name, a in self.values.items()}}

    @classmethod
    def from_record(cls, data: dict) -> "PerClass":
        values = {name: np.asarray(v["data"], dtype=v["dtype"]).reshape(v["shape"]) for name, v in data["values"].items()}
        return cls(np.asarray(data["labels"], dtype=np.int64), int(data["n_regions"]), values)

    def take(self, classes, regions) -> dict:
        """The values of ``classes`` (ClassSpecs) in order; a class without a row gets zeros."""
        order = {name: i for i, (name, _) in enumerate(regions)}
        positions = []
        for spec in classes:
            if spec.region:
                positions.append(len(self.labels) + order[spec.key])
            else:
                at = int(np.searchsorted(self.labels, spec.label))
                found = at < len(self.labels) and self.labels[at] == spec.label
                positions.append(at if found else -1)
        index = np.asarray(positions, dtype=np.int64)
        out = {}
        for name, column in self.values.items():
            padded = np.concatenate([column, np.zeros((1,) + column.shape[1:], column.dtype)])
            out[name] = padded[index]  # -1 picks the zero row
        return out


# ---------------------------------------------------------------------------------------------
# One case
# ---------------------------------------------------------------------------------------------


def _only_classes(o: Overlaps, gt_class: np.ndarray, pred_class: np.ndarray) -> Overlaps:
    """``o`` without the pairs whose two objects belong to different classes."""
    same = gt_class[o.pair_gt] == pred_class[o.pair_pred]
    return Overlaps(o.gt_ids, o.gt_sizes, o.pred_ids, o.pred_sizes, o.pair_gt[same], o.pair_pred[same],
                    o.pair_voxels[same])


def _matched(o: Overlaps, pair_class: np.ndarray, rows: int, thresholds) -> tuple[np.ndarray, np.ndarray]:
    """(tp, iou_sum), each (rows, thresholds), of the pairs matched at each threshold, by class row."""
    tp = np.zeros((rows, len(thresholds)), np.int64)
    iou_sum = np.zeros((rows, len(thresholds)))
    iou = o.iou
    for k, t in enumerate(thresholds):
        hit = match_pairs(o, t)
        tp[:, k] = np.bincount(pair_class[hit], minlength=rows)
        iou_sum[:, k] = np.bincount(pair_class[hit], weights=iou[hit], minlength=rows)
    return tp, iou_sum


def _region_objects(gt, pred, members, settings) -> tuple[int, int, np.ndarray, np.ndarray]:
    g = label_components(np.isin(gt, members), connectivity=settings.connectivity)[0]
    p = label_components(np.isin(pred, members), connectivity=settings.connectivity)[0]
    o = object_overlaps(g, p)
    tp, iou_sum = _matched(o, np.zeros(len(o.pair_gt), np.int64), 1, settings.iou_thresholds)
    return len(o.gt_ids), len(o.pred_ids), tp[0], iou_sum[0]


def object_counts(gt: np.ndarray, pred: np.ndarray, settings) -> PerClass:
    """Objects of each class of one case and their matches at every IoU threshold.

    gt, pred: the label (or id) maps of the case, of one shape. values: n_gt, n_pred (rows),
    tp and iou_sum (rows x thresholds).
    """
    thresholds = settings.iou_thresholds
    if settings.instances:
        g, p = gt, pred
        if settings.connected_components:
            g = label_components(gt, connectivity=settings.connectivity)[0]
            p = label_components(pred, connectivity=settings.connectivity)[0]
        o = object_overlaps(g, p)
        tp, iou_sum = _matched(o, np.zeros(len(o.pair_gt), np.int64), 1, thresholds)
        values = dict(n_gt=np.array([len(o.gt_ids)]), n_pred=np.array([len(o.pred_ids)]), tp=tp, iou_sum=iou_sum)
        return PerClass(np.array([1], np.int64), 0, values)
    if settings.binary:
        gt, pred = (gt != 0).view(np.uint8), (pred != 0).view(np.uint8)
    g, g_class = label_components(gt, connectivity=settings.connectivity)
    p, p_class = label_components(pred, connectivity=settings.connectivity)
    o = object_overlaps(g, p)
    g_class, p_class = g_class[o.gt_ids], p_class[o.pred_ids]  # class of each object, in Overlaps order
    o = _only_classes(o, g_class, p_class)
    labels = np.union1d(g_class, p_class).astype(np.int64)
    row_g, row_p = np.searchsorted(labels, g_class), np.searchsorted(labels, p_class)
    tp, iou_sum = _matched(o, row_g[o.pair_gt], len(labels), thresholds)
    n_gt, n_pred = np.bincount(row_g, minlength=len(labels)), np.bincount(row_p, minlength=len(labels))
    regions = [_region_objects(gt, pred, members, settings) for members in settings.region_members]
    if regions:
        n_gt = np.concatenate([n_gt, [r[0] for r in regions]])
        n_pred = np.concatenate([n_pred, [r[1] for r in regions]])
        tp = np.concatenate([tp, np.stack([r[2] for r in regions])])
        iou_sum = np.concatenate([iou_sum, np.stack([r[3] for r in regions])])
    return PerClass(labels, len(regions), dict(n_gt=n_gt, n_pred=n_pred, tp=tp, iou_sum=iou_sum))


def _boxes(gt: np.ndarray, pred: np.ndarray, margin: int) -> tuple[np.ndarray, list[tuple[slice, ...]]]:
    """(non-zero label values, the bounding box of each in gt or pred grown by ``margin``), from
    one pass over the foreground voxels instead of one pass per label."""
    flat_g, flat_p = gt.reshape(-1), pred.reshape(-1)
    where = [np.flatnonzero(flat_g), np.flatnonzero(flat_p)]
    values = np.concatenate([flat_g[where[0]], flat_p[where[1]]]).astype(np.int64)
    if not values.size:
        return np.zeros(0, np.int64), []
    coords = np.stack(np.unravel_index(np.concatenate(where), gt.shape), axis=1)
    order = np.argsort(values, kind="stable")
    values, coords = values[order], coords[order]
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    low, high = np.minimum.reduceat(coords, starts), np.maximum.reduceat(coords, starts)
    boxes = [tuple(slice(max(int(a) - margin, 0), min(int(b) + margin + 1, n)) for a, b, n in zip(lo, hi, gt.shape))
             for lo, hi in zip(low, high)]
    return values[starts], boxes


def lesion_table(gt: np.ndarray, pred: np.ndarray, settings, voxel_volume_mm3: float | None) -> PerClass:
    """Lesion-wise counts of each class of one case (dicecli.components.lesion_counts).

    Each label is scored inside its bounding box grown by the dilation, so the cost follows the
    labels' extents rather than one pass over the image per label.
    """
    options = dict(dilation=settings.lesion_dilation, connectivity=settings.connectivity,
                   voxel_volume=1.0 if voxel_volume_mm3 is None else voxel_volume_mm3,
                   min_volume=settings.lesion_min_volume)
    margin = settings.lesion_dilation + 1
    if settings.foreground_only:
        gt, pred = (gt != 0).view(np.uint8), (pred != 0).view(np.uint8)
    labels, boxes = _boxes(gt, pred, margin)
    rows = [lesion_counts(gt[box] == v, pred[box] == v, **options) for v, box in zip(labels.tolist(), boxes)]
    rows += [lesion_counts(np.isin(gt, m), np.isin(pred, m), **options) for m in settings.region_members]
    values = {name: np.asarray([r[name] for r in rows], np.int64) for name in LESION_COUNTS}
    values["dice_sum"] = np.asarray([r["dice_sum"] for r in rows], np.float64)
    return PerClass(labels, len(settings.regions), values)


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class ObjectTables:
    """Objects of a run. n_gt, n_pred: (cases x classes); tp, iou_sum and every score of
    OBJECT_SCORES: (cases x classes x thresholds), NaN where undefined. summaries[name][c][k]: the
    ClassSummary of score ``name`` of class c at threshold k over cases (pooled = the score of the
    counts summed over cases)."""

    thresholds: tuple[float, ...]
    n_gt: np.ndarray
    n_pred: np.ndarray
    tp: np.ndarray
    iou_sum: np.ndarray
    scores: dict
    summaries: dict

    @property
    def fp(self) -> np.ndarray:
        return self.n_pred[..., np.newaxis] - self.tp

    @property
    def fn(self) -> np.ndarray:
        return self.n_gt[..., np.newaxis] - self.tp


def _stack(results, field: str, classes, regions, names, shape) -> dict:
    tables = {name: np.zeros((len(results), len(classes)) + shape.get(name, ()),
                             np.float64 if name in ("iou_sum", "dice_sum") else np.int64) for name in names}
    for row, r in enumerate(results):
        per_class = getattr(r, field)
        if per_class is not None:
            for name, values in per_class.take(classes, regions).items():
                tables[name][row] = values
    return tables


def _summaries(values: np.ndarray, pooled: np.ndarray) -> list:
    """ClassSummaries of a (cases x classes x thresholds) table, as [class][threshold]."""
    n_cases, n_classes, n_thresholds = values.shape
    flat = summarize_columns(values.reshape(n_cases, -1), pooled.reshape(-1))
    return [tuple(flat[c * n_thresholds:(c + 1) * n_thresholds]) for c in range(n_classes)]


def object_tables(results, classes, settings) -> ObjectTables:
    """The run's object tables and summaries (see ObjectTables)."""
    n_t = len(settings.iou_thresholds)
    t = _stack(results, "objects", classes, settings.regions, ("n_gt", "n_pred", "tp", "iou_sum"),
               {"tp": (n_t,), "iou_sum": (n_t,)})
    n_gt, n_pred = t["n_gt"][..., np.newaxis], t["n_pred"][..., np.newaxis]
    scores = object_scores(n_gt, n_pred, t["tp"], t["iou_sum"], empty_both=settings.empty_both)
    pooled = object_scores(n_gt.sum(axis=0), n_pred.sum(axis=0), t["tp"].sum(axis=0), t["iou_sum"].sum(axis=0),
                           empty_both=settings.empty_both)
    summaries = {name: _summaries(scores[name], pooled[name]) for name in OBJECT_SCORES}
    return ObjectTables(tuple(settings.iou_thresholds), t["n_gt"], t["n_pred"], t["tp"], t["iou_sum"], scores,
                        summaries)


@dataclass(frozen=True, eq=False)
class LesionTables:
    """Lesions of a run, (cases x classes) each: the counts of LESION_COUNTS, dice_sum, and
    lesion_dice (NaN where undefined); summaries: a ClassSummary of lesion_dice per class, whose
    pooled value is Σ dice_sum / Σ (n_lesions + n_fp) over cases (every lesion of the run
    weighs the same)."""

    n_lesions: np.ndarray
    n_detected: np.ndarray
    n_fp: np.ndarray
    n_small: np.ndarray
    dice_sum: np.ndarray
    lesion_dice: np.ndarray
    summaries: tuple[ClassSummary, ...]


def _lesion_dice(dice_sum, denominator, empty_both: str) -> np.ndarray:
    dice_sum, denominator = np.asarray(dice_sum, np.float64), np.asarray(denominator, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = dice_sum / np.where(denominator > 0, denominator, 1)
    return np.where(denominator > 0, values, EMPTY_BOTH_VALUES[empty_both])


def lesion_tables(results, classes, settings) -> LesionTables:
    """The run's lesion tables and summaries (see LesionTables)."""
    t = _stack(results, "lesions", classes, settings.regions, LESION_COUNTS + ("dice_sum",), {})
    denominator = t["n_lesions"] + t["n_fp"]
    values = _lesion_dice(t["dice_sum"], denominator, settings.empty_both)
    pooled = _lesion_dice(t["dice_sum"].sum(axis=0), denominator.sum(axis=0), settings.empty_both)
    return LesionTables(t["n_lesions"], t["n_detected"], t["n_fp"], t["n_small"], t["dice_sum"], values,
                        summarize_columns(values, pooled))
