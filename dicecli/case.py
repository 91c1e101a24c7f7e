"""Score one case: read both files, decide what the prediction means, count.

This is the worker of a run (it runs in a child process with ``-j``); it returns
a CaseResult or, for any input problem, a CaseError naming the file at fault.
"""

from __future__ import annotations

import math
from decimal import Decimal
from dataclasses import dataclass, replace

import numpy as np

from .allocator import after_case
from .core.alignment import Alignment, align
from .core.boundary_case import CaseBoundary, case_boundary
from .core.channels import argmax_labels, channel_thresholds, multilabel_counts, paint_regions, soft_sums
from .core.classes import build_classes, region_counts
from .errors import GeometryError, InputError
from .core.geometry import geometry_mismatch
from .instances import PerClass, lesion_table, object_counts
from .core.interpret import (LABELS, MISSING, MULTILABEL, PROBABILITY, REGIONS, SOFTMAX, Interpretation,
                             NotStreamable, PieceLabels, channel_kind, channel_scale, looks_like_instances,
                             looks_quantised, single_map, to_labels)
from .io.pairing import Pair
from .io.readers import open_stream, piece_voxels, read_volume
from .core.score import ByteLabelCounter, CaseCounts, count_labels
from .settings import Settings

__all__ = ["MISSING", "MULTILABEL", "REGIONS", "SOFTMAX", "CaseError", "CaseResult", "check_dimensions", "score_pair",
           "score_volumes"]


@dataclass(frozen=True, eq=False)
class CaseResult:
    """A scored case. ``pred`` is None when a missing prediction was scored as empty.

    pred_kind: how the prediction was read: "labels", "probability" (one map,
        thresholded), "softmax" (argmax over channels), "multilabel" (channels
        thresholded one by one), "regions" (one sigmoid channel per region,
        thresholded and painted in nnU-Net's regions_class_order) or "missing".
    axes_reversed: the prediction's axes were reversed to the ground truth's order.
    axes_unchecked: reversed although the shapes fit as stored too (square images),
        and not an nnU-Net .npz, whose order is known: the run warns.
    prob_scale: p = value / prob_scale for probability maps (None otherwise, and
        for integer softmax maps, whose argmax needs no scale).
    region_counts: (n_regions, 3) TP, FP, FN of ``settings.regions`` in order.
    soft_labels, soft_sums: labels with soft-Dice sums and their (Σp·g, Σp);
        empty unless ``settings.soft`` and the prediction holds probabilities.
    voxel_volume_mm3: product of the ground truth's spacing, None when unknown.
    quantised: an integer map read as labels under "auto" that looks like a
        quantised probability map (the run warns once).
    instances: both masks look like instance masks (many ids that rarely match;
        the run warns once: per-id Dice means nothing for them).
    objects: objects and matches per class (settings.objects), dicecli.instances.object_counts.
    lesions: lesion-wise counts per class (settings.lesion_wise), dicecli.instances.lesion_table.
    boundary: boundary metrics per class present in the case (with --metrics hd,
        hd95, assd, masd or nsd), else None.
    """

    case: str
    gt: str
    pred: str | None
    counts: CaseCounts
    pred_kind: str
    warnings: tuple[str, ...] = ()
    prob_scale: float | None = None
    region_counts: np.ndarray | None = None
    soft_labels: tuple[int, ...] = ()
    soft_sums: np.ndarray | None = None
    voxel_volume_mm3: float | None = None
    quantised: bool = False
    instances: bool = False
    channel_axis: int | None = None
    axes_reversed: bool = False
    axes_unchecked: bool = False
    objects: PerClass | None = None
    lesions: PerClass | None = None
    boundary: CaseBoundary | None = None


@dataclass(frozen=True)
class CaseError:
    """A case that could not be scored: the file at fault and a one-line reason."""

    case: str | None
    path: str | None
    message: str


def check_dimensions(volume) -> None:
    """Raise InputError unless ``volume`` is 2D or 3D."""
    if volume.array.ndim not in (2, 3):
        raise InputError(
            volume.path,
            f"is {volume.array.ndim}D with shape {tuple(volume.array.shape)}; a mask must be 2D or 3D",
        )


def _voxel_volume(volume) -> float | None:
    """Product of the spacing in mm3, each spacing read as the decimal its float32 header field
    stores (0.8, not 0.800000011920929), so volumes print as users expect; None when unknown."""
    spacing = volume.spacing_mm
    if not spacing or len(spacing) != volume.array.ndim or not all(math.isfinite(s) and s > 0 for s in spacing):
        return None
    return float(math.prod(Decimal(np.format_float_positional(np.float32(s), unique=True)) for s in spacing))


def _spatial(pred, fit: Alignment, array: np.ndarray):
    """The prediction as a Volume on the ground truth's grid (for the geometry checks)."""
    return replace(pred, array=array, spacing_mm=fit.spatial_spacing(pred.spacing_mm, pred.array.ndim),
                   affine=fit.spatial_affine(pred.affine, pred.array.ndim, array.ndim - (fit.channel_axis is not None)))


def _geometry_mismatch(gt, pred, fit: Alignment, array: np.ndarray, settings: Settings) -> str | None:
    """geometry_mismatch of the prediction on the ground truth's grid; None without a check to
    make (``--geometry ignore``, or a side with neither spacing nor affine, such as a PNG)."""
    if settings.geometry == "ignore" or any(v.spacing_mm is None and v.affine is None for v in (gt, pred)):
        return None
    return geometry_mismatch(gt, _spatial(pred, fit, array))


@dataclass
class _Scored:
    """What counting a prediction gave, on its way to a CaseResult.

    maps: (gt labels, prediction labels) for the object and lesion counts; boundary_maps: the
    maps the boundary metrics measure (the foreground under --binary/--instances). Both are
    dropped before the CaseResult is made.
    """

    counts: CaseCounts
    meaning: Interpretation
    region_counts: np.ndarray | None = None
    soft_labels: tuple[int, ...] = ()
    soft_sums: np.ndarray | None = None
    quantised: bool = False
    instances: bool = False
    maps: tuple[np.ndarray, np.ndarray] | None = None
    boundary_maps: tuple[np.ndarray, np.ndarray] | None = None


def _count(gt_labels: np.ndarray, labels: np.ndarray, settings: Settings, meaning: Interpretation) -> _Scored:
    """Counts of a label-map prediction, and of every region derived from them. Under --binary
    and --instances the counts are those of the foreground (any non-zero value) as label 1."""
    g, p = gt_labels, labels
    if settings.foreground_only:
        g, p = _foreground(gt_labels), _foreground(labels)
    counts = count_labels(g, p, ignore=settings.ignore_label, keep_joint=bool(settings.region_members))
    return _Scored(counts, meaning, region_counts=_regions(counts, settings, g, p), maps=(gt_labels, labels),
                   boundary_maps=(g, p) if settings.boundary_metrics else None)


def _foreground(labels: np.ndarray) -> np.ndarray:
    """1 where ``labels`` is non-zero (uint8)."""
    return (labels != 0).view(np.uint8)


def _objects_and_lesions(maps: tuple[np.ndarray, np.ndarray] | None, settings: Settings,
                         voxel_volume_mm3: float | None) -> dict[str, PerClass | CaseBoundary]:
    """CaseResult fields of the object and lesion counts asked for (none unless asked; the
    caller may add the boundary field)."""
    out: dict[str, PerClass | CaseBoundary] = {}
    if maps is None:
        return out
    gt_labels, pred_labels = maps
    if settings.objects:
        out["objects"] = object_counts(gt_labels, pred_labels, settings)
    if settings.lesion_wise:
        out["lesions"] = lesion_table(gt_labels, pred_labels, settings, voxel_volume_mm3)
    return out


def _spacing(gt, settings: Settings) -> tuple[tuple[float, ...], str]:
    """The spacing boundary metrics use, and where it came from: "file", "option" or "default"."""
    ndim = gt.array.ndim
    own = gt.spacing_mm
    if own and len(own) == ndim and all(math.isfinite(s) and s > 0 for s in own):
        return tuple(float(s) for s in own), "file"
    if settings.spacing is not None:
        if len(settings.spacing) != ndim:
            raise InputError(gt.path, f"--spacing gives {len(settings.spacing)} values for a {ndim}D ground truth")
        return settings.spacing, "option"
    return (1.0,) * ndim, "default"


def _boundary(gt, gt_labels: np.ndarray, pred_labels: np.ndarray, counts: CaseCounts,
              settings: Settings) -> CaseBoundary:
    """Boundary metrics of the case's classes: the run's classes that are in this case."""
    if settings.labels is not None:
        labels = set(settings.labels)
    elif settings.regions:
        labels = set()
    else:
        labels = {int(v) for v in counts.labels if v != 0}
    if settings.include_background:
        labels.add(0)
    present = {int(v) for v in counts.labels}
    classes = build_classes(sorted(labels & present), settings.regions, settings.label_names)
    spacing, source = _spacing(gt, settings)
    return case_boundary(gt_labels, pred_labels, [(c.key, c.labels) for c in classes], spacing_mm=spacing,
                         metrics=settings.boundary_metrics, convention=settings.surface_convention,
                         tolerances=[settings.tolerance_for(c) for c in classes], spacing_source=source)


def _regions(counts: CaseCounts, settings: Settings, gt_labels=None, labels=None) -> np.ndarray | None:
    """The region counts derived from ``counts`` (from the joint cells when kept, else from the
    label arrays)."""
    return region_counts(counts, settings.region_members, gt_labels, labels, ignore=settings.ignore_label)


def _looks_quantised(counts: CaseCounts) -> bool:
    return looks_quantised(counts.labels, counts.tp + counts.fn, counts.tp + counts.fp)


def _looks_like_instances(counts: CaseCounts) -> bool:
    return looks_like_instances(counts.labels, counts.tp, counts.fp, counts.fn)


def _score_channels(gt_labels, stack: np.ndarray, settings: Settings) -> _Scored:
    """Score a (channels, *spatial) prediction: region channels, multilabel or argmax."""
    n = stack.shape[0]
    kind = channel_kind(region_channels=settings.reads_region_channels(n), multilabel=settings.multilabel)
    scale = channel_scale(stack, kind, pred_kind=settings.pred_kind, prob_scale=settings.prob_scale,
                          soft=settings.soft)
    meaning = Interpretation(kind, scale)
    if scale is None:  # argmax of quantised probabilities (channel_scale refuses them for regions, multilabel, soft)
        return _count(gt_labels, argmax_labels(stack), settings, meaning)
    ignore = settings.ignore_label
    if kind == REGIONS:
        thresholds = [settings.threshold_for(label) for label in settings.region_labels]
        labels = paint_regions(stack, settings.region_labels, thresholds=thresholds, scale=scale)
        return _count(gt_labels, labels, settings, meaning)
    soft = tuple(range(n)) if settings.soft else ()
    if kind == MULTILABEL:
        thresholds = channel_thresholds(n, settings.threshold, settings.thresholds)
        counts, regions, sums = multilabel_counts(gt_labels, stack, thresholds=thresholds, scale=scale,
                                                  ignore=ignore, regions=settings.region_members,
                                                  soft=settings.soft)
        return _Scored(counts, meaning, region_counts=regions, soft_labels=soft, soft_sums=sums)
    scored = _count(gt_labels, argmax_labels(stack), settings, meaning)
    if soft:
        scored.soft_labels, scored.soft_sums = soft, soft_sums(gt_labels, stack, soft, scale=scale, ignore=ignore)
    return scored


def _score_single(gt_labels, array: np.ndarray, settings: Settings) -> _Scored:
    labels, meaning = single_map(array, threshold=settings.threshold_for(1), pred_kind=settings.pred_kind,
                                 prob_scale=settings.prob_scale)
    scored = _count(gt_labels, labels, settings, meaning)
    if settings.soft and meaning.kind == PROBABILITY and meaning.scale is not None:  # a probability map has one
        scored.soft_labels = (1,)
        scored.soft_sums = soft_sums(gt_labels, array[np.newaxis], (1,), scale=meaning.scale,
                                     ignore=settings.ignore_label)
    if meaning.kind == LABELS and settings.pred_kind == "auto" and array.dtype.kind in "ui":
        scored.quantised = _looks_quantised(scored.counts)
    if meaning.kind == LABELS and not settings.objects:
        scored.instances = _looks_like_instances(scored.counts)
    return scored


def _streamable(pair: Pair, settings: Settings) -> bool:
    """Could this case be counted while decompressing (two .nii.gz label maps, plain settings)?"""
    return (pair.pred is not None and pair.gt.lower().endswith(".nii.gz") and pair.pred.lower().endswith(".nii.gz")
            and not settings.soft and not settings.multilabel and settings.channel_axis is None
            and not settings.foreground_only and not settings.objects and not settings.lesion_wise
            and not settings.boundary_metrics
            and (settings.pred_kind == "labels" or (settings.pred_kind == "auto" and settings.prob_scale is None)))


def _score_streamed(pair: Pair, settings: Settings) -> CaseResult | None:
    """Score a pair of .nii.gz maps piece by piece, without decoding either whole.

    Each piece becomes 1-byte labels as the whole map would (interpret.PieceLabels:
    labels 0..255, or a thresholded probability map), and the counts are those of
    the whole-volume path (the same counting code, fed in pieces). None when the
    pair is not streamable, differs in shape or geometry, holds other values, or
    any file problem turns up: the caller then scores it the usual way, which also
    words every error and warning.
    """
    if pair.pred is None:
        return None
    try:
        gt = open_stream(pair.gt)
        pred = open_stream(pair.pred) if gt is not None else None
        if gt is None or pred is None or gt.volume.array.shape != pred.volume.array.shape:
            return None
        if settings.geometry != "ignore" and geometry_mismatch(gt.volume, pred.volume):
            return None
        gt_labels = PieceLabels(gt.dtype)
        pred_labels = PieceLabels(pred.dtype, threshold=settings.threshold_for(1) if settings.pred_kind == "auto"
                                  else None)
        counter = ByteLabelCounter(ignore=settings.ignore_label)
        voxels = piece_voxels(gt.dtype, pred.dtype)
        for g, p in zip(gt.pieces(voxels), pred.pieces(voxels), strict=True):
            counter.add(gt_labels(g), pred_labels(p))
    except (InputError, NotStreamable, ValueError):  # ValueError: zip(strict=True) found pieces out of step
        return None
    if counter.n_voxels != gt.n_voxels:
        return None
    counts = counter.result()  # 1-byte labels always keep the joint cells the regions come from
    labels = pred_labels.kind == LABELS
    scored = _Scored(counts, Interpretation(pred_labels.kind, None if labels else 1.0),
                     region_counts=_regions(counts, settings),
                     quantised=(labels and settings.pred_kind == "auto" and pred.dtype.kind in "ui"
                                and _looks_quantised(counts)),
                     instances=labels and _looks_like_instances(counts))
    return _result(pair.case, pair.gt, pair.pred, scored, voxel_volume_mm3=_voxel_volume(gt.volume))


def _result(case: str, gt_path: str, pred_path: str | None, scored: _Scored, **fields) -> CaseResult:
    """The CaseResult of ``scored`` (the joint cells dropped: the regions were counted from them);
    fields: the other CaseResult fields (warnings, voxel volume, objects, lesions, boundary)."""
    meaning = scored.meaning
    return CaseResult(case, gt_path, pred_path, counts=scored.counts.without_joint(), pred_kind=meaning.kind,
                      prob_scale=meaning.scale, channel_axis=meaning.channel_axis,
                      axes_reversed=meaning.axes_reversed, axes_unchecked=meaning.axes_unchecked,
                      region_counts=scored.region_counts, soft_labels=scored.soft_labels,
                      soft_sums=scored.soft_sums, quantised=scored.quantised, instances=scored.instances, **fields)


def score_volumes(case: str, gt, pred, settings: Settings) -> CaseResult:
    """Check and count one case from decoded Volumes (``pred`` None: a missing prediction, empty).

    Raises InputError (ValueKindError, GeometryError, ...) naming the Volume's path.
    """
    check_dimensions(gt)
    gt_labels, _ = to_labels(gt.array, threshold=settings.threshold, allow_probability=False)
    warnings: list[str] = []
    if pred is None:
        scored = _count(gt_labels, np.zeros(gt_labels.shape, dtype=np.uint8), settings, Interpretation(MISSING))
    else:
        try:
            fit = align(pred.array.shape, gt_labels.shape, pred_axes=pred.axes, gt_axes=gt.axes,
                        hint=pred.channel_axis, override=settings.channel_axis, axis_order=settings.axis_order)
        except GeometryError as exc:
            raise GeometryError(pred.path, f"{exc.reason} (ground truth: {gt.path})") from None
        array = fit.apply(pred.array, gt_labels.shape)
        mismatch = _geometry_mismatch(gt, pred, fit, array, settings)
        if mismatch and settings.geometry == "strict":
            raise InputError(pred.path, mismatch)
        if mismatch:
            warnings.append(f"{pred.path}: {mismatch}")
        try:
            if fit.channel_axis is None:
                scored = _score_single(gt_labels, array, settings)
            else:
                scored = _score_channels(gt_labels, array, settings)
        except InputError as exc:
            raise type(exc)(exc.path or pred.path, exc.reason) from None
        scored.meaning = scored.meaning.placed(fit.channel_axis, fit.reverse,
                                               fit.also_fits_stored and not str(pred.path).lower().endswith(".npz"))
    voxel_volume = _voxel_volume(gt)
    extra = _objects_and_lesions(scored.maps, settings, voxel_volume)
    if scored.boundary_maps is not None:
        extra["boundary"] = _boundary(gt, *scored.boundary_maps, scored.counts, settings)
    return _result(case, gt.path, None if pred is None else pred.path, scored, warnings=tuple(warnings),
                   voxel_volume_mm3=voxel_volume, **extra)


def score_pair(pair: Pair, settings: Settings) -> CaseResult | CaseError:
    """Read, check and count one case; any input problem becomes a CaseError.

    After a large case, freed memory beyond allocator.RETAIN_BYTES goes back to the OS, so a
    worker does not hold its largest case's memory while it scores small ones."""
    decoded: list[int] = []  # bytes of each decoded input
    outcome = _read_and_score(pair, settings, decoded)  # its volumes are freed when it returns
    after_case(sum(decoded))
    return outcome


def _read_and_score(pair: Pair, settings: Settings, decoded: list[int]) -> CaseResult | CaseError:
    path = pair.gt
    try:
        if _streamable(pair, settings):
            streamed = _score_streamed(pair, settings)
            if streamed is not None:
                return streamed
        gt = read_volume(pair.gt)
        decoded.append(gt.array.nbytes)
        pred = None
        if pair.pred is not None:
            path = pair.pred
            pred = read_volume(pair.pred)
            decoded.append(pred.array.nbytes)
            path = pair.gt
        return score_volumes(pair.case, gt, pred, settings)
    except InputError as exc:
        exc_path = exc.path or path
        return CaseError(pair.case, exc_path, f"{exc_path}: {exc.reason}")
    except MemoryError:
        return CaseError(pair.case, path, f"{path}: not enough memory to score this case")
