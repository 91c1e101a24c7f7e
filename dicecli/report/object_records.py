"""The object and lesion parts of the records (JSON and CSV): settings with the rules in words,
per-case fields of each class, and summaries. Undefined values are None, never NaN."""

from __future__ import annotations

import math
from typing import Any

from ..core.objects import OBJECT_SCORES

MATCHING_RULE = ("one-to-one matching of objects at IoU >= t: the most matched pairs, then the largest total "
                 "IoU; TP = matched pairs, FP = unmatched predicted objects, FN = unmatched ground-truth objects; "
                 "PQ = sum of matched IoU / (TP + FP/2 + FN/2), SQ = mean matched IoU, RQ = F1")
OBJECT_RULES = {
    "instances": "every non-zero id of a mask is one object (ids need not agree between gt and prediction); "
                 "Dice is that of the foreground as class 1",
    "connected_components": "the objects of a class are the connected components of its voxels",
}
CONNECTIVITY_RULE = {"face": "voxels sharing a face are connected (4 neighbours in 2D, 6 in 3D)",
                     "full": "voxels sharing a face, edge or corner are connected (8 neighbours in 2D, 26 in 3D)"}
LESION_RULE = ("BraTS 2023 lesion-wise Dice: gt components whose dilations (N steps of the 18-neighbourhood in "
               "3D, the 8-neighbourhood in 2D) touch are one lesion; a predicted component overlapping a lesion's "
               "dilation is matched to it; lesion Dice = Dice of the lesion and its matched components (0 if none); "
               "lesions of volume <= the minimum are left out; unmatched predicted components count 0; "
               "lesion-wise Dice = sum of lesion Dice / (lesions + false positives)")
EMPTY_RULE = ("a score whose denominator is 0 is null (no predicted object: precision; no gt object: recall; no "
              "match: SQ); with no object (or lesion) on either side every score follows empty_both")


def _value(x) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def threshold_key(t: float) -> str:
    """How a threshold is written in CSV column names: 0.5 -> "0.5"."""
    return f"{t:g}"


def object_settings(settings) -> dict:
    """The settings fields of objects and lesions, with their rules in words."""
    out = {"binary": settings.binary, "instances": settings.instances,
           "connected_components": settings.connected_components, "lesion_wise": settings.lesion_wise}
    if settings.objects or settings.lesion_wise:
        out["connectivity"] = settings.connectivity
        out["connectivity_rule"] = CONNECTIVITY_RULE[settings.connectivity]
    if settings.objects:
        out["iou_thresholds"] = list(settings.iou_thresholds)
        out["objects_rule"] = "; ".join(rule for name, rule in OBJECT_RULES.items() if getattr(settings, name))
        out["matching_rule"] = MATCHING_RULE
        out["object_empty_rule"] = EMPTY_RULE
    if settings.lesion_wise:
        out.update(lesion_dilation=settings.lesion_dilation, lesion_min_volume=settings.lesion_min_volume,
                   lesion_rule=LESION_RULE)
    return out


def case_class_fields(run, row: int) -> list[dict]:
    """Per class of case ``row`` (in column order): its "instances" (a record per IoU threshold)
    and "lesion_dice" / "lesions" fields; empty dicts when neither was asked for."""
    out: list[dict[str, Any]] = [{} for _ in run.classes]
    o = run.objects
    if o is not None:
        n_gt, n_pred = o.n_gt[row].tolist(), o.n_pred[row].tolist()
        tp, iou = o.tp[row].tolist(), o.iou_sum[row].tolist()
        scores = {name: o.scores[name][row] for name in OBJECT_SCORES}
        for col, fields in enumerate(out):
            fields["instances"] = [
                {"iou_threshold": t, "n_gt": n_gt[col], "n_pred": n_pred[col], "tp": tp[col][k],
                 "fp": n_pred[col] - tp[col][k], "fn": n_gt[col] - tp[col][k], "iou_sum": iou[col][k],
                 **{name: _value(scores[name][col, k]) for name in OBJECT_SCORES}}
                for k, t in enumerate(o.thresholds)]
    lesions = run.lesions
    if lesions is not None:
        for col, fields in enumerate(out):
            fields["lesion_dice"] = _value(lesions.lesion_dice[row, col])
            fields["lesions"] = lesion_counts(lesions, row, col)
    return out


def lesion_counts(lesions, row, col) -> dict:
    """Lesion counts of one cell (row None: summed over cases)."""
    pick = (lambda a: int(a[:, col].sum())) if row is None else (lambda a: int(a[row, col]))
    n, found = pick(lesions.n_lesions), pick(lesions.n_detected)
    return {"n_lesions": n, "detected": found, "missed": n - found, "fp": pick(lesions.n_fp),
            "small_left_out": pick(lesions.n_small)}


def summary_class_fields(run, col: int) -> dict:
    """Summary fields of class ``col``: per IoU threshold the summed counts and the statistics of
    every score; the lesion-wise Dice statistics and summed lesion counts."""
    out: dict[str, Any] = {}
    o = run.objects
    if o is not None:
        n_gt, n_pred = int(o.n_gt[:, col].sum()), int(o.n_pred[:, col].sum())
        out["instances"] = [
            {"iou_threshold": t, "n_gt": n_gt, "n_pred": n_pred, "tp": int(o.tp[:, col, k].sum()),
             "fp": n_pred - int(o.tp[:, col, k].sum()), "fn": n_gt - int(o.tp[:, col, k].sum()),
             "metrics": {name: o.summaries[name][col][k]._asdict() for name in OBJECT_SCORES}}
            for k, t in enumerate(o.thresholds)]
    if run.lesions is not None:
        out["lesion_dice"] = run.lesions.summaries[col]._asdict()
        out["lesions"] = lesion_counts(run.lesions, None, col)
    return out


def csv_columns(run) -> tuple[str, ...]:
    """CSV columns of objects (per IoU threshold, suffixed @t) and lesions."""
    out: list[str] = []
    if run.objects is not None:
        out += ["obj_n_gt", "obj_n_pred"]
        for t in run.objects.thresholds:
            out += [f"obj_{name}@{threshold_key(t)}" for name in ("tp", "fp", "fn") + OBJECT_SCORES]
    if run.lesions is not None:
        out += ["lesion_dice", "lesion_n", "lesion_detected", "lesion_missed", "lesion_fp", "lesion_small"]
    return tuple(out)


def csv_cells(fields: dict) -> dict:
    """The CSV cells of one class's fields (from case_class_fields), by column name."""
    out: dict[str, Any] = {}
    records = fields.get("instances")
    if records:
        out.update(obj_n_gt=records[0]["n_gt"], obj_n_pred=records[0]["n_pred"])
        for r in records:
            key = threshold_key(r["iou_threshold"])
            out.update({f"obj_{name}@{key}": r[name] for name in ("tp", "fp", "fn") + OBJECT_SCORES})
    if "lesions" in fields:
        c = fields["lesions"]
        out.update(lesion_dice=fields["lesion_dice"], lesion_n=c["n_lesions"], lesion_detected=c["detected"],
                   lesion_missed=c["missed"], lesion_fp=c["fp"], lesion_small=c["small_left_out"])
    return out


def has_objects(run) -> bool:
    return run.objects is not None or run.lesions is not None
