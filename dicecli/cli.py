"""The ``dice`` command line: thin click wrappers over dicecli.run.evaluate.

Heavy libraries (numpy, pillow, tifffile, rich, ...) are imported inside the commands so
``dice --help`` and ``dice --version`` start fast. Results go to stdout; messages,
warnings and progress go to stderr. Exit statuses are dicecli.errors.ExitStatus.
"""

from __future__ import annotations

import math
import os
import signal
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from . import __version__
from .errors import DiceError, ExitStatus, OutputError, UsageError, os_reason
from .interrupts import Interrupted, install, restore, set_note, unwinding

if TYPE_CHECKING:  # imported when used: dice --help stays fast
    from .io.outputs import Chunks

#: The largest label dice can count (labels travel as int64).
MAX_LABEL = 2**63 - 1


@dataclass(frozen=True)
class CiOptions:
    """``dice score``'s options beyond Settings: gates, baseline, extra reports, journal, cluster.

    min_dice, max_hd95: (default, {class: value}) as parsed (default None: none given);
    min_f1, min_pq: the raw option text (parsed once the metrics are known); inputs: files the
    options read (a --label-names file), which no output may overwrite.
    """

    min_dice: tuple | None = None
    min_f1: str | None = None
    min_pq: str | None = None
    max_hd95: tuple = (None, {})
    gate_on: str | None = None
    baseline_path: str | None = None
    max_drop: float | None = None
    junit_path: str | None = None
    html_path: str | None = None
    journal: str | None = None
    resume: bool = False
    scheduler: str | None = None
    inputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Checks:
    """What the run was checked against: gate verdict and baseline verdict (None when not asked),
    the gate specs and the allowed drop, for the reports."""

    gate: Any = None
    baseline: Any = None
    specs: tuple = ()
    max_drop: float = 0.0


class FilePath(click.Path):
    """A path option or argument that refuses an empty name (an unset shell variable must not
    drop the option silently) and, for an output, '-' (it would be a file named '-')."""

    def __init__(self, *, output: bool = False) -> None:
        super().__init__(path_type=str, dir_okay=not output, readable=False)
        self.output = output

    def convert(self, value, param, ctx):
        if value == "":
            self.fail("empty file name", param, ctx)
        if self.output and value == "-":
            self.fail("'-' would be a file named '-'; give /dev/stdout to write to stdout", param, ctx)
        return super().convert(value, param, ctx)


def _bad_value(param, exc: Exception) -> click.BadParameter:
    """click already names the option ("Invalid value for '--min-dice': ..."), so the parsers' own
    "--min-dice: " prefix goes, and "--min-dice 2: " becomes "class 2: "."""
    text = str(exc)
    for opt in param.opts:
        if text.startswith(f"{opt}: "):
            return click.BadParameter(text[len(opt) + 2:])
        if text.startswith(f"{opt} "):
            return click.BadParameter(f"class {text[len(opt) + 1:]}")
    return click.BadParameter(text)


def _parse_labels(ctx, param, value):
    if value is None:
        return None
    try:
        labels = tuple(sorted({int(part) for part in value.split(",") if part.strip()}))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, got {value!r}") from None
    if not labels or min(labels) < 0:
        raise click.BadParameter("expected one or more labels >= 0")
    if max(labels) > MAX_LABEL:
        raise click.BadParameter(f"label {max(labels)} is too large (at most {MAX_LABEL})")
    return labels


def _parse_max_drop(ctx, param, value):
    """A number from 0 to 1; NaN and infinities are refused (a NaN bar would pass every drop)."""
    if value is None:
        return None
    try:
        drop = float(value)
    except ValueError:
        raise click.BadParameter(f"expected a number from 0 to 1, got {value!r}") from None
    if not (math.isfinite(drop) and 0.0 <= drop <= 1.0):
        raise click.BadParameter(f"expected a number from 0 to 1, got {value!r}")
    return drop


def _parse_min_dice(ctx, param, value):
    if not value:
        return None
    from .checks.gate import parse_min_dice

    try:
        return parse_min_dice(value)
    except ValueError as exc:
        raise _bad_value(param, exc) from None


def _parse_thresholds(ctx, param, value):
    from .io.names import parse_thresholds

    try:
        default, overrides = parse_thresholds(value)
    except ValueError as exc:
        raise _bad_value(param, exc) from None
    return (0.5 if default is None else default), overrides


def _parse_regions(ctx, param, value):
    if not value:
        return ()
    from .io.names import parse_regions

    try:
        return parse_regions(value)
    except ValueError as exc:
        raise _bad_value(param, exc) from None


def _parse_label_names(ctx, param, value):
    """NAME=LABEL,... text, or the path of a JSON names file (nnU-Net dataset.json works)."""
    if value is None:
        return None
    if not value.strip():
        raise click.BadParameter("empty: give NAME=LABEL,... or a names file")
    from .io.names import load_label_names, parse_label_names

    try:
        if "=" in value and not os.path.exists(value):
            return parse_label_names(value)
        _regular_file(value)
        ctx.meta.setdefault("dice.inputs", []).append(value)  # never written over
        return load_label_names(value)
    except OSError as exc:
        raise click.BadParameter(f"cannot read {value} ({os_reason(exc)})") from None
    except RecursionError:
        raise click.BadParameter(f"{value}: JSON nested too deeply") from None
    except ValueError as exc:
        raise (click.BadParameter(f"{value}: {exc}") if os.path.exists(value) else _bad_value(param, exc)) from None


def _regular_file(path: str) -> None:
    """OSError unless ``path`` is a regular file (opening a FIFO to read would wait for a writer)."""
    import stat

    if not stat.S_ISREG(os.stat(path).st_mode):
        raise OSError("not a regular file")


def _parse_metrics(ctx, param, value):
    from .core.metrics import parse_metrics

    try:
        return parse_metrics(value)
    except ValueError as exc:
        raise _bad_value(param, exc) from None


def _parse_mm(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: expected a number of mm, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise ValueError(f"{where}: expected a finite number of mm >= 0, got {text!r}")
    return value


def _parse_keyed_mm(option: str):
    def parse(ctx, param, value):
        if not value:
            return None, ()
        from .io.names import parse_keyed

        try:
            return parse_keyed(value, option=option, parse_value=_parse_mm, example="a number of mm such as 2 or 1=1.5")
        except ValueError as exc:
            raise _bad_value(param, exc) from None
    return parse


def _parse_spacing(ctx, param, value):
    if value is None:
        return None
    try:
        spacing = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise click.BadParameter(f"expected 2 or 3 comma-separated numbers of mm, got {value!r}") from None
    if len(spacing) not in (2, 3) or not all(0 < v < float("inf") for v in spacing):
        raise click.BadParameter(f"expected 2 or 3 comma-separated numbers of mm > 0, got {value!r}")
    return spacing


def _parse_empty_distance(ctx, param, value):
    from .settings import _empty_distance

    try:
        return _empty_distance(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc).replace("empty_distance must be", "expected")) from None


def _say(kind: str, message: str) -> None:
    _line(f"{kind}: {message}")


def _line(text: str) -> None:
    """One line on stderr, ``dice: TEXT``, control characters and undecodable bytes escaped; when
    stderr cannot be written (``2>/dev/full``) the line is dropped and the run goes on, its exit
    status unchanged."""
    from .report.text import printable

    try:
        click.echo(f"dice: {printable(text)}", err=True)
    except BrokenPipeError:
        raise  # stderr closed by a reader: exit 141 (see _run_command)
    except OSError:
        pass


class _DiceGroup(click.Group):
    """The dice group: SIGINT/SIGTERM stop dice cleanly (exit 130/143) from the first line on."""

    def main(self, *args, **kwargs):
        previous = install()
        set_note(None)
        xfsz = _ignore_file_size_signal()
        try:
            _tolerant_stdout()
            return super().main(*args, **kwargs)
        except Interrupted as exc:  # before or after a command body (which handles its own)
            _quiet_exit(lambda: _say("interrupted", "nothing was written"), exc.status)
        except OSError as exc:  # click's own output not written (it handles EPIPE itself)
            stream = _echo_target(exc)
            if stream is None:
                raise  # not a failed write of click's: another error (only --debug lets one get here)
            if stream == "stderr":  # a usage message: it is lost, its status stays
                sys.exit(int(ExitStatus.USAGE))
            reason = os_reason(exc)
            _quiet_exit(lambda: _say("error", f"cannot write to standard output ({reason})"), ExitStatus.OUTPUT_ERROR)
        finally:
            restore(previous)
            restore(xfsz)


def _echo_target(exc: OSError) -> str | None:
    """"stdout" or "stderr" when ``exc`` was raised inside click.echo writing to that stream (the
    help, the version, a usage message), else None."""
    frame, tb = None, exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "echo" and tb.tb_frame.f_globals.get("__name__") == "click.utils":
            frame = tb.tb_frame
        tb = tb.tb_next
    target = None if frame is None else frame.f_locals.get("file")
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if target is not None and target in (stream, getattr(stream, "buffer", None)):
            return name
    return None


def _ignore_file_size_signal() -> dict:
    """A write past the file-size limit (ulimit -f) fails with EFBIG instead of killing dice."""
    if not hasattr(signal, "SIGXFSZ") or sys.platform == "win32":
        return {}
    try:
        return {signal.SIGXFSZ: signal.signal(signal.SIGXFSZ, signal.SIG_IGN)}
    except ValueError:  # not the main thread
        return {}


def _tolerant_stdout() -> None:
    """Text that stdout's encoding cannot carry (an undecodable file-name byte) is escaped, not fatal."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)  # io.TextIOWrapper's; not every stand-in has it
    try:
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    except ValueError:
        pass


def _quiet_exit(report, status: int) -> None:
    """Run ``report`` (a message on stderr) unless stderr is gone, then exit with ``status``."""
    try:
        report()
    except OSError:
        pass
    sys.exit(int(status))


@click.group(cls=_DiceGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="dice", message="%(prog)s %(version)s")
def main():
    """Score segmentation masks against ground truth with hard Dice, per class.

    Run `dice score GT PRED` with two folders (cases paired by file name) or two files;
    add --min-dice or --baseline to gate a CI job. `dice compare A.json B.json` compares
    two runs case by case.
    """
    _one_math_thread()


def _one_math_thread() -> None:
    """Keep numpy's BLAS to one thread (unless the user set it): dice does no linear algebra and
    parallelises over cases, while OpenBLAS's idle thread pool burns ~0.1 s of CPU at start-up that
    the case workers need. Must run before numpy is imported."""
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(name, "1")


@main.command(context_settings={"max_content_width": 100})
@click.argument("gt", type=FilePath())
@click.argument("pred", type=FilePath())
@click.option("--threshold", default="0.5", show_default=True, callback=_parse_thresholds,
              metavar="T|CLASS=T,...",
              help="Probability maps: foreground where p >= T. Per class: '1=0.4,2=0.6' or '0.5,2=0.6' "
                   "(a single map uses class 1's; --multilabel channels their own).")
@click.option("--smooth", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Add S to numerator and denominator: (2TP+S)/(2TP+FP+FN+S). 0 = exact Dice.")
@click.option("--empty-both", type=click.Choice(["nan", "one", "zero"]), default="nan", show_default=True,
              help="Dice when a class is absent from both masks: nan = undefined, left out of means.")
@click.option("--labels", callback=_parse_labels, metavar="1,2,...",
              help="Classes to score. Default: every non-zero label found in the run (none when --region is "
                   "given).")
@click.option("--region", "regions", multiple=True, callback=_parse_regions, metavar="NAME=1,2,...",
              help="Score the union of labels as one class NAME (e.g. WT=1,2,3). Repeatable.")
@click.option("--ignore-label", type=click.IntRange(min=0), metavar="V",
              help="Leave ground-truth voxels equal to V out of every count; V is never a class.")
@click.option("--label-names", callback=_parse_label_names, metavar="NAME=V,...|FILE",
              help="Class names: 'liver=1,spleen=2' or a JSON file ({\"liver\": 1} or an nnU-Net "
                   "dataset.json, whose list entries are regions).")
@click.option("--pred-kind", type=click.Choice(["auto", "labels", "prob"]), default="auto", show_default=True,
              help="How to read predictions: auto (integer = labels, float in [0,1] = probabilities), "
                   "labels, or prob (p = value / --prob-scale).")
@click.option("--prob-scale", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Probabilities are value / S (e.g. 255 for uint8 maps). Default: 1 for float maps, "
                   "the integer type's maximum under --pred-kind prob.")
@click.option("--channel-axis", type=int, metavar="N",
              help="Axis of the channels in multi-channel predictions (default: guessed from the format "
                   "and the ground truth's shape).")
@click.option("--recursive", "-r", is_flag=True,
              help="Also pair files in sub-folders, by relative path (case names keep the folder: site_a/p01).")
@click.option("--gt-pattern", metavar="PATTERN",
              help="Ground-truth file names, with {case} the pairing key and * ? wildcards "
                   "(e.g. '{case}_seg.nii.gz').")
@click.option("--pred-pattern", metavar="PATTERN",
              help="Prediction file names, e.g. '{case}_pred.nii.gz' or '{case}_cp_masks.png'.")
@click.option("--axis-order", type=click.Choice(["auto", "stored"]), default="auto", show_default=True,
              help="auto: line up formats that order axes oppositely (NIfTI x,y,z vs PNG/TIFF/nnU-Net .npz "
                   "z,y,x); stored: compare arrays as stored.")
@click.option("--pred-suffix", metavar="SUFFIX",
              help="When PRED holds several files of a case (nnU-Net's case.nii.gz and case.npz), score the "
                   "one ending in SUFFIX (e.g. .npz). Default: the label map.")
@click.option("--multilabel", is_flag=True,
              help="Threshold each channel on its own (sigmoid outputs; classes may overlap) "
                   "instead of taking the argmax.")
@click.option("--metrics", default="dice", show_default=True, callback=_parse_metrics, metavar="LIST",
              help="Also report: iou, precision, recall, specificity, volume_similarity, and the boundary "
                   "metrics hd, hd95, assd, masd, nsd in mm (comma-separated).")
@click.option("--surface-convention", type=click.Choice(["voxel", "deepmind", "medpy"]), default="voxel",
              show_default=True,
              help="Boundary metrics: voxel = boundary voxel centres, hd95 = max of directed 95th percentiles; "
                   "deepmind = area-weighted surfels; medpy = hd95 of both directions pooled.")
@click.option("--nsd-tolerance", callback=_parse_keyed_mm("--nsd-tolerance"), multiple=True,
              metavar="MM|CLASS=MM,...", help="NSD's tolerance in mm: '2' or '2,liver=1.5' (needed for nsd).")
@click.option("--spacing", callback=_parse_spacing, metavar="X,Y[,Z]",
              help="Voxel size in mm per array axis for ground truths without one (PNG, TIFF, .npy; default 1). "
                   "A NIfTI's own spacing wins.")
@click.option("--empty-distance", default="nan", show_default=True, callback=_parse_empty_distance,
              metavar="nan|diagonal|MM",
              help="hd, hd95, assd, masd when exactly one mask is empty: nan = undefined, diagonal = the "
                   "image diagonal in mm (as BraTS), or MM.")
@click.option("--soft", is_flag=True, help="Also report soft Dice 2Σpg/(Σp+Σg) of probability maps "
                                           "(a separate column; hard Dice stays).")
@click.option("--binary", is_flag=True,
              help="Score the foreground (any non-zero value) against the foreground, as class 1.")
@click.option("--instances", is_flag=True,
              help="Instance masks: each non-zero id is one object (ids need not agree between GT and PRED). "
                   "Reports foreground Dice, and F1, PQ, SQ, RQ of objects matched one-to-one at --iou-threshold.")
@click.option("--connected-components", is_flag=True,
              help="Objects are the connected components of each class (of each id with --instances); "
                   "reports F1, PQ, ... per class as --instances does.")
@click.option("--connectivity", type=click.Choice(["face", "full"]), default="full", show_default=True,
              help="Components: face (4 neighbours in 2D, 6 in 3D) or full (8 in 2D, 26 in 3D).")
@click.option("--iou-threshold", "iou_thresholds", type=click.FloatRange(0, 1, min_open=True), multiple=True,
              metavar="T", help="Objects match when IoU >= T; the matching is one-to-one with the most pairs, then "
                                "the largest IoU sum. Repeatable (a row per T; gates use the first).  [default: 0.5]")
@click.option("--lesion-wise", is_flag=True,
              help="Also report BraTS 2023 lesion-wise Dice per class: per gt lesion the Dice with the predicted "
                   "components touching its dilation, 0 for missed lesions and for each false-positive component.")
@click.option("--lesion-dilation", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
              help="Lesion-wise: dilate gt by N steps (18-neighbourhood in 3D, 8 in 2D); lesions whose dilations "
                   "touch merge, and predictions touching a dilation match (BraTS 2023: 1 or 3).")
@click.option("--lesion-min-volume", type=click.FloatRange(min=0), default=0.0, show_default=True, metavar="MM3",
              help="Lesion-wise: leave out gt lesions of volume <= MM3 (voxels when the spacing is unknown); "
                   "BraTS 2023: 50, or 2 for metastases.")
@click.option("--include-background", is_flag=True, help="Also score label 0 (never in the overall mean).")
@click.option("--missing-as-empty", is_flag=True,
              help="Score a missing prediction as an empty mask instead of an input error.")
@click.option("--geometry", type=click.Choice(["strict", "warn", "ignore"]), default="strict",
              show_default=True, help="NIfTI spacing/affine mismatch: an error, a warning, or ignored.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]), default="table",
              show_default=True, help="What to print on stdout (markdown: table and verdict for PR comments).")
@click.option("--json", "json_path", type=FilePath(output=True), metavar="FILE",
              help="Also write the JSON report to FILE (atomically).")
@click.option("--csv", "csv_path", type=FilePath(output=True), metavar="FILE",
              help="Also write the per-case CSV to FILE (atomically).")
@click.option("--junit", "junit_path", type=FilePath(output=True), metavar="FILE",
              help="Also write the gate and baseline checks as JUnit XML to FILE (atomically).")
@click.option("--html", "html_path", type=FilePath(output=True), metavar="FILE",
              help="Also write a self-contained HTML report with error overlays of the worst cases to FILE.")
@click.option("--min-dice", multiple=True, callback=_parse_min_dice, metavar="BAR|CLASS=BAR,...",
              help="Gate: exit 1 unless each class clears its bar. '0.85' = every class; "
                   "'0.8,2=0.9' = default plus per-class bars. Repeatable.")
@click.option("--min-f1", multiple=True, metavar="BAR|CLASS=BAR,...",
              help="Gate like --min-dice on the object F1 at the first --iou-threshold (needs --instances or "
                   "--connected-components). Repeatable.")
@click.option("--min-pq", multiple=True, metavar="BAR|CLASS=BAR,...",
              help="Gate like --min-dice on the panoptic quality PQ at the first --iou-threshold. Repeatable.")
@click.option("--max-hd95", multiple=True, callback=_parse_keyed_mm("--max-hd95"), metavar="MM|CLASS=MM,...",
              help="Gate: exit 1 unless each class's HD95 (mm) is at most its bar; needs --metrics hd95. "
                   "'10' = every class; '10,2=5' = default plus per-class bars. Repeatable.")
@click.option("--gate-on", type=click.Choice(["mean", "median", "pooled", "min", "cases"]),
              help="Statistic that must clear the bar: mean (default), median, pooled, min, "
                   "or cases (every case with a defined Dice).")
@click.option("--baseline", "baseline_path", type=FilePath(), metavar="FILE",
              help="Compare with an earlier JSON report; exit 1 when a class mean drops by more than --max-drop.")
@click.option("--max-drop", callback=_parse_max_drop, metavar="D",
              help="Largest allowed drop of a class mean Dice against --baseline.  [default: 0]")
@click.option("--per-case", is_flag=True, help="Table: add a row per case, worst first.")
@click.option("--journal", "journal_path", type=FilePath(output=True), metavar="FILE",
              help="Append one JSON line per finished case to FILE (flushed as it finishes).")
@click.option("--resume", is_flag=True,
              help="With --journal: reuse the journal's cases whose files are unchanged; score the rest.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Score on a Dask distributed cluster: tcp://host:8786 or a scheduler file "
                   "(pip install 'dicecli[dask]').")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes; 0 = all usable cores, started once the work left pays for them "
                   "(a short run is scored in one process).")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.option("--debug", is_flag=True, help="Show a traceback for internal errors.")
def score(gt, pred, threshold, smooth, empty_both, labels, regions, ignore_label, label_names, pred_kind,
          prob_scale, channel_axis, recursive, gt_pattern, pred_pattern, axis_order, pred_suffix, multilabel, metrics,
          surface_convention, nsd_tolerance, spacing, empty_distance, soft,
          binary, instances, connected_components, connectivity, iou_thresholds, lesion_wise, lesion_dilation,
          lesion_min_volume, include_background, missing_as_empty,
          geometry, fmt, json_path, csv_path, junit_path, html_path, min_dice, min_f1, min_pq, max_hd95, gate_on,
          baseline_path,
          max_drop, per_case, journal_path, resume, scheduler, jobs, quiet, debug):
    """Score predictions in PRED against ground truth in GT (two folders or two files).

    Cases are paired by file name minus its suffix (.nii.gz, .nii, .png, .tif, .tiff, .npy, .npz);
    in an nnU-Net prediction folder the label map is scored before the .npz (--pred-suffix).
    Predictions may be label maps, probability maps (foreground where p >= T, compared in the
    map's own precision) or multi-channel (softmax, sigmoid, nnU-Net region) maps. Formats that
    order axes oppositely (NIfTI x,y,z; PNG, TIFF, nnU-Net .npz z,y,x) are lined up.
    Boundary metrics (--metrics hd95,nsd ...) are in mm with the ground truth's spacing; with one
    mask empty distances are undefined (--empty-distance) and nsd is 0.
    Prints hard Dice per class; exit status 0 ok, 1 gate failed, 2 usage error, 3 input error,
    70 internal error, 74 output not written, 130 Ctrl-C, 141 broken pipe, 143 SIGTERM.
    """
    ci = CiOptions(min_dice=min_dice, min_f1=min_f1, min_pq=min_pq, max_hd95=max_hd95, gate_on=gate_on,
                   baseline_path=baseline_path, max_drop=max_drop, junit_path=junit_path, html_path=html_path,
                   journal=journal_path, resume=resume, scheduler=scheduler,
                   inputs=tuple(click.get_current_context().meta.get("dice.inputs", ())))
    if (min_f1 or min_pq) and not (instances or connected_components):
        raise click.UsageError(f"--min-{'f1' if min_f1 else 'pq'} needs --instances or --connected-components")
    objects = _object_options(binary=binary, instances=instances, connected_components=connected_components,
                              connectivity=connectivity, iou_thresholds=iou_thresholds, lesion_wise=lesion_wise,
                              lesion_dilation=lesion_dilation, lesion_min_volume=lesion_min_volume)
    names, name_regions, region_labels = (), (), ()
    if label_names is not None:
        names, name_regions, region_labels = label_names.names, label_names.regions, label_names.region_order
        if ignore_label is None:
            ignore_label = label_names.ignore
    _run_command(debug, _score, gt, pred, threshold=threshold[0], thresholds=threshold[1], smooth=smooth,
                 empty_both=empty_both, labels=labels, regions=tuple(name_regions) + tuple(regions),
                 ignore_label=ignore_label, label_names=names, pred_kind=pred_kind, prob_scale=prob_scale,
                 channel_axis=channel_axis, axis_order=axis_order, region_labels=region_labels,
                 pred_suffix=pred_suffix, recursive=recursive, gt_pattern=gt_pattern, pred_pattern=pred_pattern,
                 multilabel=multilabel, metrics=metrics, soft=soft, surface_convention=surface_convention,
                 nsd_tolerance=nsd_tolerance[0], nsd_tolerances=nsd_tolerance[1], spacing=spacing,
                 empty_distance=empty_distance, **objects,
                 include_background=include_background,
                 missing_as_empty=missing_as_empty, geometry=geometry, fmt=fmt,
                 json_path=json_path, csv_path=csv_path, per_case=per_case, jobs=jobs,
                 quiet=quiet, ci=ci)


@main.command(context_settings={"max_content_width": 100})
@click.argument("a", type=FilePath())
@click.argument("b", type=FilePath())
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True,
              help="What to print on stdout.")
@click.option("--debug", is_flag=True, help="Show a traceback for internal errors.")
def compare(a, b, fmt, debug):
    """Compare two JSON reports of `dice score`: per-class paired differences B minus A.

    Pairs cases by name; per class over cases defined in both: n, mean difference, 95%
    bootstrap interval, sign test and Wilcoxon signed-rank p-values. Cases in one file only
    are listed. Exit status 0 ok, 2 usage error, 3 unreadable or invalid report.
    """
    _run_command(debug, _compare, a, b, fmt=fmt)


def _object_options(**options) -> dict:
    """The object and lesion options as Settings fields; options that need another one are refused."""
    ctx = click.get_current_context()
    given = {name for name in options if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE}
    objects = options["instances"] or options["connected_components"]
    needs = [("iou_thresholds", objects, "--iou-threshold", "--instances or --connected-components"),
             ("connectivity", objects or options["lesion_wise"], "--connectivity",
              "--connected-components or --lesion-wise"),
             ("lesion_dilation", options["lesion_wise"], "--lesion-dilation", "--lesion-wise"),
             ("lesion_min_volume", options["lesion_wise"], "--lesion-min-volume", "--lesion-wise")]
    for name, ok, option, what in needs:
        if name in given and not ok:
            raise click.UsageError(f"{option} needs {what}")
    if options["connectivity"] and "connectivity" in given and options["instances"] and not (
            options["connected_components"] or options["lesion_wise"]):
        raise click.UsageError("--connectivity needs --connected-components or --lesion-wise (--instances takes "
                               "objects from the ids as they are)")
    options["iou_thresholds"] = tuple(options["iou_thresholds"]) or (0.5,)
    return options


@main.command(context_settings={"max_content_width": 100})
@click.argument("gt", type=FilePath())
@click.argument("pred", type=FilePath())
@click.option("--steps", type=click.IntRange(1, 10000), default=99, show_default=True,
              help="Thresholds k/(N+1), k = 1..N (99: 0.01, 0.02, ..., 0.99).")
@click.option("--labels", callback=_parse_labels, metavar="1,2,...",
              help="Classes (channels) to sweep. Default: every channel but background.")
@click.option("--ignore-label", type=click.IntRange(min=0), metavar="V",
              help="Leave ground-truth voxels equal to V out of every count.")
@click.option("--label-names", callback=_parse_label_names, metavar="NAME=V,...|FILE",
              help="Class names, or an nnU-Net dataset.json (region channels are swept per region).")
@click.option("--empty-both", type=click.Choice(["nan", "one", "zero"]), default="nan", show_default=True,
              help="Dice when a class is absent from both masks: nan = undefined, left out of means.")
@click.option("--pred-kind", type=click.Choice(["auto", "prob"]), default="auto", show_default=True,
              help="prob: read integer maps as quantised probabilities (value / --prob-scale).")
@click.option("--prob-scale", type=click.FloatRange(min=0, min_open=True), metavar="S",
              help="Probabilities are value / S (e.g. 255 for uint8 maps).")
@click.option("--channel-axis", type=int, metavar="N", help="Axis of the channels (default: guessed).")
@click.option("--axis-order", type=click.Choice(["auto", "stored"]), default="auto", show_default=True,
              help="auto: line up formats that order axes oppositely; stored: compare as stored.")
@click.option("--recursive", "-r", is_flag=True, help="Also pair files in sub-folders, by relative path.")
@click.option("--gt-pattern", metavar="PATTERN", help="Ground-truth file names with {case}.")
@click.option("--pred-pattern", metavar="PATTERN", help="Prediction file names with {case}.")
@click.option("--pred-suffix", metavar="SUFFIX",
              help="When PRED holds several files of a case, sweep the one ending in SUFFIX "
                   "(default: the probability file, .npz/.npy).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="What to print on stdout.")
@click.option("--json", "json_path", type=FilePath(output=True), metavar="FILE",
              help="Also write the JSON curves to FILE.")
@click.option("--csv", "csv_path", type=FilePath(output=True), metavar="FILE",
              help="Also write the CSV curves to FILE.")
@click.option("--plot", "plot_path", type=FilePath(output=True), metavar="FILE",
              help="Write a plot of mean Dice against threshold: FILE.svg or FILE.png.")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes; 0 = all usable cores.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.option("--debug", is_flag=True, help="Show a traceback for internal errors.")
def sweep(gt, pred, steps, labels, ignore_label, label_names, empty_both, pred_kind, prob_scale, channel_axis,
          axis_order, recursive, gt_pattern, pred_pattern, pred_suffix, fmt, json_path, csv_path, plot_path,
          jobs, quiet, debug):
    """Which threshold? Hard Dice of probability maps at every threshold of a grid.

    One pass over the voxels per case (histograms of p split by ground truth). A single map is
    class 1; a map per channel is swept one-vs-rest per class (as --multilabel scores it), nnU-Net
    region channels per region. Per class: mean Dice over cases and pooled Dice at each threshold,
    the best threshold (highest mean, lowest on ties) and a 95% bootstrap interval of its mean.
    Exit status 0 ok, 2 usage error, 3 input error.
    """
    names, name_regions, region_labels = (), (), ()
    if label_names is not None:
        names, name_regions, region_labels = label_names.names, label_names.regions, label_names.region_order
        if ignore_label is None:
            ignore_label = label_names.ignore
    _run_command(debug, _sweep, gt, pred, steps=steps, fmt=fmt, json_path=json_path, csv_path=csv_path,
                 plot_path=plot_path, quiet=quiet, labels=labels, ignore_label=ignore_label, label_names=names,
                 regions=name_regions, region_labels=region_labels, empty_both=empty_both, pred_kind=pred_kind,
                 prob_scale=prob_scale, channel_axis=channel_axis, axis_order=axis_order, recursive=recursive,
                 gt_pattern=gt_pattern, pred_pattern=pred_pattern, pred_suffix=pred_suffix, jobs=jobs)


def _sweep(gt, pred, *, steps, fmt, json_path, csv_path, plot_path, quiet, **options) -> ExitStatus:
    from .run.evaluate import Settings
    from .io.outputs import check_targets
    from .io.pairing import pair_paths
    from .progress import progress_reporter
    from .report import sweep_report
    from .report.text import printable
    from .run.sweep_run import sweep as run_sweep

    settings = Settings(**options)
    if plot_path and not plot_path.lower().endswith((".svg", ".png")):
        raise UsageError(f"--plot {plot_path}: give a file ending in .svg or .png")
    pairing = pair_paths(gt, pred, prefer="probabilities", **settings.layout)
    inputs = [p.gt for p in pairing.pairs] + [p.pred for p in pairing.pairs if p.pred]
    outputs = check_targets([p for p in (json_path, csv_path, plot_path) if p], inputs)  # before any work
    set_note(lambda: _written(outputs))
    if not quiet:
        from .report.text import preflight_lines

        for line in preflight_lines(pairing, settings):
            _line(line)
    with unwinding(), progress_reporter(total=len(pairing.pairs), enabled=not quiet) as advance:
        result = run_sweep(gt, pred, settings, steps=steps, progress=advance, pairing=pairing)
    if not quiet:
        _line(f"{result.n_cases} case(s) swept over {len(result.thresholds)} thresholds")
    for error in result.errors:
        _say("error", printable(error.message))
    texts: dict[str, str | bytes] = {}
    if json_path or fmt == "json":
        texts["json"] = sweep_report.render_json(result)
    if csv_path or fmt == "csv":
        texts["csv"] = sweep_report.render_csv(result)
    if plot_path:
        texts["plot"] = sweep_report.plot_bytes(result, plot_path)
    failure = _commit_then_print(
        outputs, {path: texts[kind] for kind, path in (("json", json_path), ("csv", csv_path), ("plot", plot_path))
                  if path},
        (lambda: _stdout_report_text(texts[fmt])) if fmt in texts
        else (lambda: sweep_report.print_table(result, _stdout_console())))
    if failure:
        _say("error", failure)
        return ExitStatus.OUTPUT_ERROR
    return ExitStatus.INPUT_ERROR if result.errors else ExitStatus.OK


def _stdout_report_text(text) -> None:
    from .io.outputs import encode

    click.echo(encode(text), nl=False)


@main.command(context_settings={"max_content_width": 100})
@click.argument("run_json", metavar="RUN.json", type=FilePath())
@click.option("--html", "html_path", type=FilePath(output=True), metavar="FILE", required=True,
              help="Write the self-contained HTML report of a saved run to FILE.")
@click.option("--no-pictures", is_flag=True, help="Leave out the overlay thumbnails (no file is read again).")
@click.option("--debug", is_flag=True, help="Show a traceback for internal errors.")
def report(run_json, html_path, no_pictures, debug):
    """Render a saved JSON report of `dice score` as a self-contained HTML page.

    The worst cases' overlays are drawn from the files the report names (gt and pred paths,
    relative to where dice score ran). Exit status 0 ok, 2 usage error, 3 unreadable report.
    """
    _run_command(debug, _report, run_json, html_path=html_path, pictures=not no_pictures)


def _report(run_json, *, html_path, pictures) -> ExitStatus:
    import json

    from .checks.baseline import _read_text
    from .errors import InputError
    from .io.outputs import check_targets
    from .report.html import render_html

    outputs = check_targets([html_path], [run_json])
    try:
        record = json.loads(_read_text(run_json))  # a regular file only: a FIFO is refused, never waited on
    except (ValueError, RecursionError) as exc:
        raise InputError(run_json, f"not a JSON report of dice score ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(record, dict) or not isinstance(record.get("cases"), list) or "summary" not in record:
        raise InputError(run_json, "not a JSON report of dice score (no cases and summary)")
    page = render_html(record, pictures=pictures)
    try:
        with unwinding():
            outputs.commit({html_path: page})
    except OutputError as exc:
        _say("error", str(exc))
        return ExitStatus.OUTPUT_ERROR
    return ExitStatus.OK


def _run_command(debug, function, *args, **kwargs) -> None:
    """Run a command body; turn exceptions into one line on stderr and an exit status."""
    try:
        status = function(*args, **kwargs)
    except (KeyboardInterrupt, Interrupted) as exc:
        where = getattr(exc, "outputs_state", "nothing was written")
        _quiet_exit(lambda: _say("interrupted", where), getattr(exc, "status", ExitStatus.INTERRUPTED))
    except BrokenPipeError:  # stdout or stderr closed early (| head): stop quietly, like other tools
        _silence_std_streams()
        status = ExitStatus.BROKEN_PIPE
    except OutputError as exc:
        _say("error", str(exc))
        status = ExitStatus.OUTPUT_ERROR
    except UsageError as exc:
        _say("error", str(exc))
        status = ExitStatus.USAGE
    except DiceError as exc:
        _say("error", str(exc))
        status = ExitStatus.INPUT_ERROR
    except RecursionError as exc:  # input so deeply nested that Python gives up: not a dice bug
        if debug:
            raise
        _say("error", f"input nested too deeply to process ({exc})")
        status = ExitStatus.INPUT_ERROR
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            raise
        _say("internal error", f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
        status = ExitStatus.INTERNAL
    sys.exit(int(status))


def _silence_std_streams() -> None:
    """Point fds 1 and 2 at /dev/null, so nothing left in a buffer hits the broken pipe at exit."""
    for stream in (sys.stdout, sys.stderr):
        try:
            fd = stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a real descriptor (tests' CliRunner)
            continue
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)


def _gate_specs(ci: CiOptions, metrics=()) -> tuple:
    """One GateSpec per gated metric given (--min-dice, --min-f1, --min-pq, --max-hd95), Dice first."""
    hd95_default, hd95_classes = ci.max_hd95
    if ci.min_dice is None and not ci.min_f1 and not ci.min_pq and hd95_default is None and not hd95_classes:
        if ci.gate_on is not None:
            raise UsageError("--gate-on needs --min-dice, --min-f1, --min-pq or --max-hd95")
        return ()  # no gate: the gate module is not even loaded
    from .checks.gate import GateSpec, parse_min_dice

    specs = []
    if ci.min_dice is not None:
        specs.append(GateSpec(ci.min_dice[0], ci.min_dice[1], ci.gate_on or "mean"))
    for metric in ("f1", "pq"):
        if getattr(ci, f"min_{metric}"):
            try:
                default, classes = parse_min_dice(getattr(ci, f"min_{metric}"), metric)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            specs.append(GateSpec(default, classes, ci.gate_on or "mean", metric))
    if hd95_default is not None or hd95_classes:
        if "hd95" not in metrics:
            raise UsageError("--max-hd95 needs --metrics hd95")
        if ci.gate_on == "pooled":
            raise UsageError("--max-hd95 cannot gate on pooled: HD95 has no pooled value (use mean, median, min "
                             "or cases)")
        specs.append(GateSpec(hd95_default, hd95_classes, ci.gate_on or "mean", "hd95"))
    return tuple(specs)


def _score(gt, pred, *, fmt, json_path, csv_path, per_case, quiet, ci, **options) -> ExitStatus:
    from .run.evaluate import Settings
    from .io.outputs import check_targets, refuse_input_overwrite
    from .io.pairing import pair_paths

    settings = Settings(**options)
    specs = _gate_specs(ci, settings.metrics)
    if ci.max_drop is not None and not ci.baseline_path:
        raise UsageError("--max-drop needs --baseline")
    if ci.resume and not ci.journal:
        raise UsageError("--resume needs --journal FILE (the journal to resume from)")
    pairing = pair_paths(gt, pred, **settings.layout)
    inputs = [p.gt for p in pairing.pairs] + [p.pred for p in pairing.pairs if p.pred] + list(pairing.extra)
    inputs += ([ci.baseline_path] if ci.baseline_path else []) + list(ci.inputs)
    if ci.journal:
        refuse_input_overwrite([ci.journal], inputs)
        _refuse_journal_as_report(ci.journal, (json_path, csv_path, ci.junit_path, ci.html_path))
    # Every output target is checked before any case is scored (exit 2 for one that can never work).
    outputs = check_targets([p for p in (json_path, csv_path, ci.junit_path, ci.html_path) if p], inputs)
    from .report import text  # noqa: F401  (loaded now: the signal handler's note must not import)

    set_note(lambda: _written(outputs))  # an interrupt message says what was written, until dice exits
    try:
        return _score_checked(pairing, settings, specs, outputs, inputs, fmt=fmt, json_path=json_path,
                              csv_path=csv_path, per_case=per_case, quiet=quiet, ci=ci)
    except (KeyboardInterrupt, Interrupted) as exc:
        exc.outputs_state = _written(outputs)  # type: ignore[union-attr]  # read back by _run_command (getattr)
        raise


def _written(outputs) -> str:
    from .report.text import printable

    return printable(outputs.state()) if outputs.targets else "nothing was written"


def _refuse_journal_as_report(journal: str, paths) -> None:
    """UsageError when a report would replace the journal (appended to as cases finish); devices pass."""
    from .io.outputs import is_input

    if os.path.exists(journal) and not os.path.isfile(journal):
        return
    for path in paths:
        if path and is_input(path, [journal]):
            raise UsageError(f"--journal {journal} is also a report output; give it a file of its own")


def _score_checked(pairing, settings, specs, outputs, inputs, *, fmt, json_path, csv_path, per_case, quiet,
                   ci) -> ExitStatus:
    from .run.evaluate import evaluate_pairing
    from .progress import progress_reporter
    from .report.text import preflight_lines

    baseline = None
    if ci.baseline_path:
        from .checks.baseline import read_scores

        baseline = read_scores(ci.baseline_path)  # an unusable baseline stops before scoring (exit 3)
    if not quiet:
        for line in preflight_lines(pairing, settings):
            _line(line)
        if per_case and fmt != "table":
            _say("warning", f"--per-case has no effect with --format {fmt} (it adds rows to the table; "
                            "JSON and CSV always hold every case)")
    from .allocator import keep_freed_memory

    keep_freed_memory()  # this process is dice's own: reuse voxel buffers across cases (-j 1)
    with unwinding(), progress_reporter(total=len(pairing.pairs), enabled=not quiet) as advance:
        run = evaluate_pairing(pairing, settings, progress=advance, journal=ci.journal, resume=ci.resume,
                               scheduler=ci.scheduler)  # an interrupt stops the workers
    for error in run.errors:
        _say("error", error.message)
    if not quiet:
        for note in run.notes:
            _say("note", note)
        for warning in run.warnings:
            _say("warning", warning)
    gate = baseline_verdict = None
    if specs:
        from .checks.gate import check_gates

        gate = check_gates(run, specs)
    if baseline is not None:
        from .checks.baseline import check_baseline

        baseline_verdict = check_baseline(run, baseline, ci.max_drop or 0.0)
    checks = Checks(gate=gate, baseline=baseline_verdict, specs=specs, max_drop=ci.max_drop or 0.0)
    failure = _emit(run, outputs, checks, fmt=fmt, json_path=json_path, csv_path=csv_path,
                    junit_path=ci.junit_path, html_path=ci.html_path, per_case=per_case)
    _ci_messages(run, gate, baseline_verdict, inputs + outputs.paths)
    if failure:
        _say("error", failure)
        return ExitStatus.OUTPUT_ERROR  # the files a script expects are not there: worse than anything else
    if run.errors:
        return ExitStatus.INPUT_ERROR  # an input error wins: never reported as a quality failure
    if (gate and not gate.passed) or (baseline_verdict and not baseline_verdict.passed):
        return ExitStatus.GATE_FAILED
    return ExitStatus.OK


def _ci_messages(run, gate, baseline, taken: list[str]) -> None:
    """Verdict blocks on stderr, GitHub annotations and job summary when running in Actions.

    taken: the run's inputs and output files; a job summary file that is one of them is
    never appended to (a warning says so).
    """
    if gate or baseline:
        from .report.verdict import baseline_lines, gate_lines

        for line in (gate_lines(gate) if gate else []) + (baseline_lines(baseline) if baseline else []):
            _line(line)
    from .report import github

    if github.in_actions(os.environ):
        for line in github.annotations(run, gate, baseline):
            click.echo(line, err=True)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        from .io.outputs import is_input
        from .report.markdown import render_markdown

        if is_input(summary, taken):
            _say("warning", f"GITHUB_STEP_SUMMARY={summary} is an input or output of this run; "
                            "the job summary was not appended to it")
            return
        try:
            github.append_step_summary(summary, render_markdown(run, gate, baseline))
        except OSError as exc:
            _say("warning", f"{summary}: cannot append the job summary ({exc.strerror or exc})")


def _json_extras(checks: Checks) -> dict:
    """The gate and baseline parts of the JSON report (the check modules load only when used)."""
    gate, baseline, specs, max_drop = checks.gate, checks.baseline, checks.specs, checks.max_drop
    extra = {}
    settings: dict[str, Any] = {"gate": None, "baseline": None}
    if specs:
        from .checks.gate import specs_record, verdict_record

        settings["gate"] = specs_record(specs)
        if gate is not None:
            extra["gate"] = verdict_record(gate)
    if baseline is not None:
        from .checks.baseline import baseline_record

        extra["baseline"] = baseline_record(baseline)
        settings["baseline"] = {"path": baseline.path, "max_drop": max_drop}
    return {"settings_extra": settings, "extra": extra}


def _render(run, checks: Checks, *, fmt, json_path, csv_path, junit_path, html_path) -> dict[str, str | Chunks]:
    """The text of every report the run needs (for files and stdout), by kind. JSON and CSV are
    Chunks, made piece by piece as they are written (a run can have 100,000 cases)."""
    from .io.outputs import Chunks

    gate, baseline = checks.gate, checks.baseline
    texts: dict[str, str | Chunks] = {}
    if json_path or fmt == "json":
        from .report.json_report import json_chunks

        extras = _json_extras(checks)
        texts["json"] = Chunks(lambda: json_chunks(run, **extras))
    if csv_path or fmt == "csv":
        from .report.csv_report import csv_chunks

        texts["csv"] = Chunks(lambda: csv_chunks(run))
    if junit_path:
        from .report.junit import render_junit

        texts["junit"] = render_junit(run, gate, baseline)
    if html_path:
        from .report.html import render_html
        from .report.records import run_record

        texts["html"] = render_html(run_record(run, **_json_extras(checks)))
    if fmt == "markdown":
        from .report.markdown import render_markdown

        texts["markdown"] = render_markdown(run, gate, baseline)
    return texts


def _emit(run, outputs, checks: Checks, *, fmt, json_path, csv_path, junit_path, html_path, per_case) -> str | None:
    """Write the output files as one commit, then print the stdout report (even if writing failed).

    Returns the one-line write failure (every regular output file left as it was), or None.
    """
    texts = _render(run, checks, fmt=fmt, json_path=json_path, csv_path=csv_path, junit_path=junit_path,
                    html_path=html_path)
    paths = (("json", json_path), ("csv", csv_path), ("junit", junit_path), ("html", html_path))
    return _commit_then_print(outputs, {path: texts[kind] for kind, path in paths if path},
                              lambda: _stdout_report(run, texts.get(fmt), per_case))


def _commit_then_print(outputs, texts, write) -> str | None:
    """Write ``texts`` (path -> text) as one commit, then print the stdout report with ``write``
    (even if the commit failed). Returns the one-line commit failure (every regular output file
    left as it was), or None. When stdout fails too (OutputError), the files are still accounted
    for: the commit failure on its own line first, or what became of the files in the message."""
    failure = None
    try:
        with unwinding():  # an interrupt removes the temporary files
            outputs.commit(texts)
    except OutputError as exc:
        failure = str(exc)
    try:
        _print_report(write)
    except OutputError as exc:
        if failure is not None:
            _say("error", failure)
        elif outputs.targets:
            raise OutputError(f"{exc}; {_written(outputs)}") from None
        raise
    return failure


def _stdout_report(run, text, per_case: bool) -> None:
    if text is not None:
        from .io.outputs import Chunks, encode

        for piece in text if isinstance(text, Chunks) else (text,):
            click.echo(encode(piece), nl=False)  # the very bytes the output file gets
        return
    from .report.table import print_table

    print_table(run, _stdout_console(), per_case=per_case)


def _print_report(write) -> None:
    """Run ``write`` (printing to stdout) and flush; a failed write is an OutputError, a closed pipe
    a BrokenPipeError (both for _run_command)."""
    try:
        write()
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write to standard output ({os_reason(exc)})") from None


def _stdout_console():
    from rich.console import Console

    class StdoutConsole(Console):
        def on_broken_pipe(self) -> None:  # rich would exit 1; dice exits quietly with 141
            raise BrokenPipeError(32, "Broken pipe")

    return StdoutConsole(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 120)


def _compare(a, b, *, fmt) -> ExitStatus:
    from .checks.compare import compare_files

    cmp = compare_files(a, b)
    for warning in cmp.warnings:
        _say("warning", warning)
    if fmt == "json":
        from .io.outputs import encode
        from .report.compare import render_comparison_json

        _print_report(lambda: click.echo(encode(render_comparison_json(cmp)), nl=False))
    else:
        from .report.compare import print_comparison

        _print_report(lambda: print_comparison(cmp, _stdout_console()))
    return ExitStatus.OK
