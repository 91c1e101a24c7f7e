"""Settings: everything that shapes the numbers of a run, checked and normalised."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from .errors import UsageError
from .core.alignment import AXIS_ORDERS
from .core.classes import first_duplicate
from .components import CONNECTIVITY
from .core.boundary import CONVENTIONS
from .core.geometry import GEOMETRY_MODES
from .core.interpret import PRED_KINDS
from .core.metrics import BOUNDARY_METRICS, METRICS, parse_metrics
from .io.readers import SUFFIXES
from .io.names import names_from_json, parse_label, region, resolve_label
from .core.score import EMPTY_BOTH_VALUES


def _empty_distance(value) -> str | float:
    """"nan" (also "null"), "diagonal", or a number of mm >= 0."""
    text = str(value).strip().lower()
    if text in ("nan", "null", "none"):
        return "nan"
    if text == "diagonal":
        return "diagonal"
    try:
        mm = float(text)
    except ValueError:
        raise ValueError(f"empty_distance must be nan, diagonal or a number of mm, got {value!r}") from None
    if not (np.isfinite(mm) and mm >= 0):
        raise ValueError(f"empty_distance must be a finite number of mm >= 0, got {value!r}")
    return mm


def _sequence(value, name: str, example: str = "(1, 2)") -> list:
    """The items of a list, tuple or array option; a string or a single number is refused."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ValueError(f"{name} must be a sequence such as {example}, got {value!r}")
    return list(value)


def _float(value, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def spacing_mm(value, name: str = "spacing") -> tuple[float, ...]:
    """A voxel size per axis, as floats (a string such as "11" is refused, never read as (1, 1))."""
    return tuple(_float(v, name) for v in _sequence(value, name, "(0.8, 0.8, 2.5)"))


def _pairs(value, name: str) -> list:
    """{key: value} or ((key, value), ...) as a list of pairs."""
    if isinstance(value, dict) or value is None:
        return list((value or {}).items())
    items = list(value) if hasattr(value, "__iter__") and not isinstance(value, (str, bytes)) else [value]
    if any(isinstance(item, (str, bytes)) or not hasattr(item, "__len__") or len(item) != 2 for item in items):
        raise ValueError(f"{name} must be a mapping {{key: value}} or (key, value) pairs, got {value!r}")
    return items


def check_options(options, where: str) -> None:
    """A misspelt keyword is refused with the nearest option name."""
    from dataclasses import fields

    known = [f.name for f in fields(Settings)]
    for name in options:
        if name not in known:
            import difflib  # only to word the error

            near = difflib.get_close_matches(name, known, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else f" (options: {', '.join(known)})"
            raise UsageError(f"{where}() got an unexpected keyword argument {name!r}{hint}")


@dataclass(frozen=True)
class Settings:
    """Everything that shapes the numbers; echoed in every report.

    threshold: probability maps are foreground where p >= threshold.
    thresholds: per-class overrides ((label, t), ...); a single-channel map uses
        class 1's, ``multilabel`` channels their own. Also accepts {label: t}.
    smooth: s in (2·TP + s) / (2·TP + FP + FN + s); 0 gives exact Dice.
    empty_both: "nan" (undefined, left out of means), "one" or "zero".
    labels: plain labels to score; None = every non-zero label found in the run
        (no plain label by default when ``regions`` are given).
    include_background: also score label 0.
    missing_as_empty: score a missing prediction as an empty mask instead of an error.
    geometry: spacing/affine mismatch is an error ("strict"), a warning, or ignored.
    jobs: worker processes; 0 = every usable core, started once the work left pays for them.
    pred_kind: "auto", "labels" or "prob" (see dicecli.core.interpret).
    prob_scale: p = value / prob_scale for probability maps (None: 1 for float
        maps, the dtype's maximum for integer maps under "prob").
    channel_axis: the channel axis of multi-channel predictions (None: guessed).
    multilabel: threshold each channel on its own instead of taking the argmax.
    regions: ((name, (label, ...)), ...) unions scored like classes; or {name: labels}.
    ignore_label: ground-truth voxels with this value leave every count.
    label_names: ((name, label), ...) or {name: label}: names used as class keys.
    metrics: metrics to report besides Dice (from METRICS); "dice,iou" also accepted.
    soft: also report soft Dice for probability maps.
    axis_order: "auto" reverses a prediction's axes when its format orders them
        oppositely to the ground truth's (NIfTI x, y, z against row-major PNG, TIFF,
        nnU-Net .npz); "stored" compares arrays as stored (dicecli.core.alignment).
    region_labels: nnU-Net's regions_class_order, one label per region of
        ``regions`` (the first len(region_labels) of them, from a dataset.json):
        a prediction with exactly that many channels holds one sigmoid map per
        region and is painted into a label map in that order (dicecli.core.channels).
    pred_suffix: in a prediction folder holding several files of a case (nnU-Net's
        case.nii.gz and case.npz), score the one with this suffix; None: the
        label map (dicecli.io.pairing).
    recursive: pair files in sub-folders too, by relative path.
    gt_pattern, pred_pattern: file-name patterns with {case} ('{case}_seg.nii.gz').
    binary: score foreground (any non-zero value) against foreground, as class 1.
    instances: both masks are instance maps: every non-zero id is one object; Dice is scored on
        the foreground (as ``binary``) and objects are matched (dicecli.core.objects).
    connected_components: objects are the connected components of each class (of the instance
        ids with ``instances``), with ``connectivity`` "face" or "full" (dicecli.components).
    iou_thresholds: objects match at IoU >= t, for each t in order (the first one is gated).
    lesion_wise: also report BraTS 2023 lesion-wise Dice per class, lesions being connected
        components merged when their ``lesion_dilation``-step dilations touch; lesions of
        volume <= ``lesion_min_volume`` (mm3, or voxels without spacing) are left out.
    surface_convention: how boundary metrics are computed: "voxel" (boundary
        voxel centres), "deepmind" (area-weighted surfels) or "medpy" (pooled
        HD95); see dicecli.core.boundary.
    nsd_tolerance: NSD's tolerance τ in mm for every class; nsd_tolerances:
        per-class overrides ((class key, mm), ...) or {key: mm}, keys being label
        values, label names or region names.
    spacing: voxel size in mm per array axis of ground truths that carry none
        (PNG, TIFF, .npy); None: 1 mm. A ground truth's own spacing (NIfTI) wins.
    empty_distance: a distance metric when exactly one mask is empty: "nan"
        (undefined), "diagonal" (the image diagonal in mm) or a number of mm.
    """

    threshold: float = 0.5
    smooth: float = 0.0
    empty_both: str = "nan"
    labels: tuple[int, ...] | None = None
    include_background: bool = False
    missing_as_empty: bool = False
    geometry: str = "strict"
    jobs: int = 0
    thresholds: tuple[tuple[int, float], ...] = ()
    pred_kind: str = "auto"
    prob_scale: float | None = None
    channel_axis: int | None = None
    multilabel: bool = False
    regions: tuple[tuple[str, tuple[int, ...]], ...] = ()
    ignore_label: int | None = None
    label_names: tuple[tuple[str, int], ...] = ()
    metrics: tuple[str, ...] = ("dice",)
    soft: bool = False
    axis_order: str = "auto"
    region_labels: tuple[int, ...] = ()
    pred_suffix: str | None = None
    recursive: bool = False
    gt_pattern: str | None = None
    pred_pattern: str | None = None
    binary: bool = False
    instances: bool = False
    connected_components: bool = False
    connectivity: str = "full"
    iou_thresholds: tuple[float, ...] = (0.5,)
    lesion_wise: bool = False
    lesion_dilation: int = 0
    lesion_min_volume: float = 0.0
    surface_convention: str = "voxel"
    nsd_tolerance: float | None = None
    nsd_tolerances: tuple[tuple[str, float], ...] = ()
    spacing: tuple[float, ...] | None = None
    empty_distance: str | float = "nan"

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        try:
            self._normalise(put)
        except (TypeError, ValueError) as exc:
            raise UsageError(str(exc)) from None
        self._check()

    def _normalise(self, put) -> None:
        names = self.label_names
        if isinstance(names, dict) and any(isinstance(v, list) for v in names.values()):
            parsed = names_from_json(names)  # a dataset.json-style mapping with regions
            names = parsed.names
            put("regions", parsed.regions + tuple(_pairs(self.regions, "regions")))
        put("label_names", tuple((str(n), parse_label(v, "label_names")) for n, v in _pairs(names, "label_names")))
        put("regions", tuple(region(n, m) for n, m in _pairs(self.regions, "regions")))
        put("region_labels", tuple(parse_label(v, "region_labels") for v in _sequence(self.region_labels, "region_labels")))
        if self.pred_suffix is not None:
            suffix = str(self.pred_suffix).strip().lower()
            put("pred_suffix", suffix if suffix.startswith(".") else "." + suffix)
        put("threshold", _float(self.threshold, "threshold"))
        put("smooth", _float(self.smooth, "smooth"))
        put("thresholds", tuple(sorted(
            (resolve_label(str(k), self.label_names + self.painted_names, "thresholds"), _float(t, "thresholds"))
            for k, t in _pairs(self.thresholds, "thresholds"))))
        if self.labels is not None:
            put("labels", tuple(parse_label(v, "labels") for v in _sequence(self.labels, "labels")))
        if isinstance(self.metrics, str):
            put("metrics", parse_metrics(self.metrics))
        else:
            put("metrics", parse_metrics(",".join(str(m) for m in _sequence(self.metrics, "metrics", "('dice', 'iou')"))))
        if self.prob_scale is not None:
            put("prob_scale", float(self.prob_scale))
        if self.channel_axis is not None:
            put("channel_axis", int(self.channel_axis))
        if self.ignore_label is not None:
            put("ignore_label", parse_label(self.ignore_label, "ignore_label"))
        iou = self.iou_thresholds
        thresholds: Iterable[Any] = (iou,) if np.isscalar(iou) else iou  # a number or numbers, before normalising
        put("iou_thresholds", tuple(dict.fromkeys(float(t) for t in thresholds)))
        put("lesion_dilation", int(self.lesion_dilation))
        put("lesion_min_volume", float(self.lesion_min_volume))
        if self.nsd_tolerance is not None:
            put("nsd_tolerance", float(self.nsd_tolerance))
        put("nsd_tolerances", tuple((str(k).strip(), _float(v, "nsd_tolerances"))
                                    for k, v in _pairs(self.nsd_tolerances, "nsd_tolerances")))
        if self.spacing is not None:
            put("spacing", spacing_mm(self.spacing))
        put("empty_distance", _empty_distance(self.empty_distance))

    def _check(self) -> None:
        self._check_values()
        self._check_layout()
        self._check_ignore()
        self._check_objects()
        self._check_boundary()
        self._check_names()

    def _check_values(self) -> None:
        """Thresholds, smoothing, rules and kinds: each within its range."""
        for label, t in ((None, self.threshold),) + self.thresholds:
            if not 0.0 <= t <= 1.0:
                where = "threshold" if label is None else f"threshold of class {label}"
                raise UsageError(f"{where} must be within [0, 1], got {t}")
        if not (self.smooth >= 0 and np.isfinite(self.smooth)):
            raise UsageError(f"smooth must be a finite number >= 0, got {self.smooth}")
        if self.empty_both not in EMPTY_BOTH_VALUES:
            raise UsageError(f"empty_both must be one of {', '.join(EMPTY_BOTH_VALUES)}")
        if self.axis_order not in AXIS_ORDERS:
            raise UsageError(f"axis_order must be one of {', '.join(AXIS_ORDERS)}")
        if len(self.region_labels) > len(self.regions):
            raise UsageError(f"region_labels has {len(self.region_labels)} entries for {len(self.regions)} regions")
        if self.geometry not in GEOMETRY_MODES:
            raise UsageError(f"geometry must be one of {', '.join(GEOMETRY_MODES)}")
        if self.labels is not None and any(v < 0 for v in self.labels):
            raise UsageError("labels must be >= 0")
        if self.jobs < 0:
            raise UsageError("jobs must be >= 0")
        if self.pred_kind not in PRED_KINDS:
            raise UsageError(f"pred_kind must be one of {', '.join(PRED_KINDS)}")
        if self.prob_scale is not None:
            if not (np.isfinite(self.prob_scale) and self.prob_scale > 0):
                raise UsageError(f"prob_scale must be a finite number > 0, got {self.prob_scale}")
            if self.pred_kind == "labels":
                raise UsageError("--prob-scale makes no sense with --pred-kind labels")
        if any(m not in METRICS for m in self.metrics):
            raise UsageError(f"metrics must be among {', '.join(METRICS)}")

    def _check_layout(self) -> None:
        """How files are paired: the suffix and the name patterns."""
        if self.pred_suffix is not None and self.pred_suffix not in SUFFIXES:
            raise UsageError(f"pred_suffix {self.pred_suffix}: expected one of {', '.join(SUFFIXES)}")
        for pattern in (self.gt_pattern, self.pred_pattern):
            if pattern is not None:
                from .io.pairing import compile_pattern

                compile_pattern(pattern)

    def _check_ignore(self) -> None:
        """The ignore label is never a class, never 0, in no region."""
        ignore = self.ignore_label
        if ignore is not None:
            if ignore < 0:
                raise UsageError("ignore_label must be >= 0")
            if self.labels is not None and ignore in self.labels:
                raise UsageError(f"label {ignore} is the ignore label; it cannot also be scored")
            if ignore == 0:
                raise UsageError("--ignore-label 0 would leave every background voxel out of the counts, so false "
                                 "positives on background could not be counted and Dice would rise; ignore a label "
                                 "that marks unannotated voxels (nnU-Net puts it above every class)")
            for name, members in self.regions:
                if ignore in members:
                    raise UsageError(f"region {name!r} contains the ignore label {ignore}")

    def _check_names(self) -> None:
        """One name per label, one namespace for label names and regions."""
        seen: dict[int, str] = {}
        for name, value in self.label_names:
            if value in seen:
                raise UsageError(f"label {value} has two names: {seen[value]!r} and {name!r}")
            seen[value] = name
        keys = [n for n, _ in self.label_names] + [n for n, _ in self.regions]
        duplicate = first_duplicate(keys)
        if duplicate is not None:
            raise UsageError(f"name {duplicate!r} is used twice (label names and regions share one namespace)")

    def _check_objects(self) -> None:
        if self.connectivity not in CONNECTIVITY:
            raise UsageError(f"connectivity must be one of {', '.join(CONNECTIVITY)}")
        if not self.iou_thresholds or not all(0 < t <= 1 for t in self.iou_thresholds):
            raise UsageError(f"IoU thresholds must be within (0, 1], got {', '.join(map(str, self.iou_thresholds))}")
        if self.lesion_dilation < 0:
            raise UsageError(f"lesion_dilation must be >= 0, got {self.lesion_dilation}")
        if not (np.isfinite(self.lesion_min_volume) and self.lesion_min_volume >= 0):
            raise UsageError(f"lesion_min_volume must be a finite number >= 0, got {self.lesion_min_volume}")
        options = [name for name, on in (("--instances", self.instances), ("--connected-components",
                   self.connected_components), ("--lesion-wise", self.lesion_wise)) if on]
        if options and self.multilabel:
            raise UsageError(f"{options[0]} needs one label map per case (after argmax or thresholding), "
                             "not --multilabel channels that may overlap")
        if options and self.ignore_label is not None:
            raise UsageError(f"{options[0]} cannot be combined with --ignore-label (objects would be cut "
                             "where the ignored voxels are)")
        if self.foreground_only:
            what = "--instances" if self.instances else "--binary"
            if self.regions:
                raise UsageError(f"{what} scores one class (the foreground, class 1); --region makes no sense "
                                 "with it")
            if self.labels is not None and set(self.labels) - {0, 1}:
                raise UsageError(f"{what} scores one class (the foreground, class 1); --labels can only be 1")

    @property
    def foreground_only(self) -> bool:
        """Dice is scored on the foreground (any non-zero value) as class 1."""
        return self.binary or self.instances

    @property
    def objects(self) -> bool:
        """Objects are matched (F1, PQ at IoU thresholds)."""
        return self.instances or self.connected_components

    def _check_boundary(self) -> None:
        if self.surface_convention not in CONVENTIONS:
            raise UsageError(f"surface_convention must be one of {', '.join(CONVENTIONS)}")
        for where, mm in (("nsd tolerance", self.nsd_tolerance),) + tuple(
                (f"nsd tolerance of class {k}", v) for k, v in self.nsd_tolerances):
            if mm is not None and not (np.isfinite(mm) and mm >= 0):
                raise UsageError(f"{where} must be a finite number of mm >= 0, got {mm}")
        known = {str(v) for v in (self.labels or ())} | {n for n, _ in self.label_names} | {n for n, _ in self.regions}
        for key, _ in self.nsd_tolerances:
            if not (key.isdigit() or key in known):
                raise UsageError(f"nsd tolerance: {key!r} is neither a label value nor a label or region name")
        if self.spacing is not None and (len(self.spacing) not in (2, 3)
                                         or not all(np.isfinite(v) and v > 0 for v in self.spacing)):
            raise UsageError(f"spacing must be 2 or 3 numbers of mm > 0, got {self.spacing}")
        if not self.boundary_metrics:
            return
        if "nsd" in self.metrics and self.nsd_tolerance is None and not self.nsd_tolerances:
            raise UsageError("--metrics nsd needs --nsd-tolerance MM (NSD's tolerance τ in mm)")
        if self.multilabel:
            raise UsageError("boundary metrics (hd, hd95, assd, masd, nsd) need label maps; --multilabel "
                             "channels may overlap and are not supported")
        if self.ignore_label is not None:
            raise UsageError("boundary metrics (hd, hd95, assd, masd, nsd) are not defined with --ignore-label "
                             "(ignored voxels would cut holes in both boundaries)")
        import importlib.util

        if importlib.util.find_spec("pykdtree") is None:
            raise UsageError("boundary metrics need the pykdtree package: pip install 'dicecli[boundary]'")

    @property
    def boundary_metrics(self) -> tuple[str, ...]:
        """The boundary metrics asked for, in report order."""
        return tuple(m for m in self.metrics if m in BOUNDARY_METRICS)

    def tolerance_for(self, spec) -> float | None:
        """NSD's τ in mm for a class (dicecli.core.classes.ClassSpec): its override, else the default."""
        overrides = dict(self.nsd_tolerances)
        if spec.key in overrides:
            return overrides[spec.key]
        if not spec.region and str(spec.label) in overrides:
            return overrides[str(spec.label)]
        return self.nsd_tolerance

    @property
    def layout(self) -> dict:
        """The pairing options, as pair_paths takes them."""
        return dict(pred_suffix=self.pred_suffix, recursive=self.recursive, gt_pattern=self.gt_pattern,
                    pred_pattern=self.pred_pattern)

    @property
    def painted_names(self) -> tuple[tuple[str, int], ...]:
        """(region name, the label its channel paints) for region channels: thresholds may name regions."""
        return tuple((name, label) for (name, _), label in zip(self.regions, self.region_labels, strict=False))

    def reads_region_channels(self, n_channels: int) -> bool:
        """A prediction of ``n_channels`` holds one sigmoid map per region (nnU-Net region-based)."""
        return bool(self.region_labels) and n_channels == len(self.region_labels)

    @property
    def region_members(self) -> list[tuple[int, ...]]:
        """The labels of each region, in ``regions`` order."""
        return [members for _, members in self.regions]

    def threshold_for(self, label: int) -> float:
        """The threshold of class ``label``: its override, else ``threshold``."""
        return dict(self.thresholds).get(int(label), self.threshold)
