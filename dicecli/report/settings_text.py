"""The settings line every human-readable report ends with (no rich: markdown uses it too)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..run.evaluate import Evaluation

EMPTY_RULE_TEXT = {
    "nan": "both-empty = undefined, left out of means",
    "one": "both-empty = 1",
    "zero": "both-empty = 0",
}


def _threshold_text(run: Evaluation) -> str:
    s = run.settings
    from ..core.interpret import THRESHOLDED

    if run.cases and not any(kind in THRESHOLDED for kind in run.pred_kinds):
        return "no threshold (no prediction was thresholded)"
    text = f"threshold p >= {s.threshold:g}"
    if s.thresholds:
        text += " (" + ", ".join(f"{label}: {t:g}" for label, t in s.thresholds) + ")"
    return text


def _predictions_text(run: Evaluation) -> str:
    """What the predictions were read as, e.g. "predictions: 3 softmax maps (argmax over channels) (--pred-kind auto)"."""
    s = run.settings
    words = {"labels": "label map", "probability": "probability map", "softmax": "softmax map",
             "multilabel": "multilabel map", "regions": "region map", "missing": "missing prediction"}
    notes = {"softmax": " (argmax over channels)", "multilabel": " (channels thresholded one by one)",
             "regions": " (a sigmoid channel per region, painted in regions_class_order)",
             "missing": " (scored as empty)"}
    parts = []
    kinds, all_scales = run.cases.values("pred_kind"), run.cases.values("prob_scale")  # columns, not case records
    for kind, n in run.pred_kinds.items():
        scales = sorted({v for k, v in zip(kinds, all_scales) if k == kind and v not in (None, 1.0)})
        scale = f", p = value / {', '.join(f'{v:g}' for v in scales)}" if scales else ""
        parts.append(f"{n} {words.get(kind, kind)}{'s' if n != 1 else ''}{notes.get(kind, '')}{scale}")
    return f"predictions: {', '.join(parts) or 'none'} (--pred-kind {s.pred_kind})"


def settings_line(run: Evaluation) -> str:
    """The settings that shape the numbers, in one line."""
    s = run.settings
    smooth = "smooth 0 (exact)" if s.smooth == 0 else f"smooth {s.smooth:g} (smoothed, not exact)"
    parts = ["hard Dice", _threshold_text(run), smooth, EMPTY_RULE_TEXT[s.empty_both], _predictions_text(run)]
    if s.ignore_label is not None:
        parts.append(f"ignore label {s.ignore_label} (gt voxels left out)")
    if s.foreground_only:
        parts.append("foreground Dice (any non-zero value is class 1)")
    if s.objects:
        what = "ids" if s.instances else "connected components"
        if s.instances and s.connected_components:
            what = "connected pieces of ids"
        parts.append(f"objects = {what}, matched one-to-one at IoU ≥ " + ", ".join(f"{t:g}" for t in s.iou_thresholds)
                     + " (most pairs, then largest IoU sum)")
    if s.objects or s.lesion_wise:
        parts.append(f"{s.connectivity} connectivity")
    if s.lesion_wise:
        parts.append(f"lesion-wise Dice (BraTS 2023): dilation {s.lesion_dilation}, lesions ≤ {s.lesion_min_volume:g} "
                     "mm3 (voxels without spacing) left out")
    if s.boundary_metrics:
        parts.append(boundary_text(run))
    return " · ".join(parts)


def boundary_text(run: Evaluation) -> str:
    """E.g. "boundary: voxel convention, spacing from files, NSD τ 2 mm, one empty mask = null"."""
    s = run.settings
    sources = sorted({b.spacing_source for b in run.cases.values("boundary") if b is not None})
    words = {"file": "the files", "option": "--spacing", "default": "1 mm (none given)"}
    text = f"boundary: {s.surface_convention} convention, spacing from {' and '.join(words[w] for w in sources) or '–'}"
    if "nsd" in s.metrics:
        taus = ([f"{s.nsd_tolerance:g} mm"] if s.nsd_tolerance is not None else []) + [
            f"{k}: {v:g} mm" for k, v in s.nsd_tolerances]
        text += f", NSD τ {', '.join(taus)}"
    empty = s.empty_distance if isinstance(s.empty_distance, str) else f"{s.empty_distance:g} mm"
    empty = {"nan": "null", "diagonal": "image diagonal"}.get(empty, empty)
    return text + f", distance with one empty mask = {empty}"


def class_text(spec) -> str:
    """A class as the table shows it: its key, with the labels behind a name or region."""
    if not spec.region and spec.key == str(spec.label):
        return spec.key
    return f"{spec.key} ({'+'.join(str(v) for v in spec.labels)})"
