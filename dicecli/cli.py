"""The ``dice`` command line: thin click wrappers over dicecli.evaluate.

Heavy libraries (numpy, nibabel, rich, ...) are imported inside the commands so
``dice --help`` and ``dice --version`` start fast. Results go to stdout; messages,
warnings and progress go to stderr. Exit statuses are dicecli.errors.ExitStatus.
"""

from __future__ import annotations

import os
import sys

import click

from . import __version__
from .errors import DiceError, ExitStatus, UsageError


def _parse_labels(ctx, param, value):
    if value is None:
        return None
    try:
        labels = tuple(sorted({int(part) for part in value.split(",") if part.strip()}))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, got {value!r}") from None
    if not labels or min(labels) < 0:
        raise click.BadParameter("expected one or more labels >= 0")
    return labels


def _say(kind: str, message: str) -> None:
    click.echo(f"dice: {kind}: {message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="dice", message="%(prog)s %(version)s")
def main():
    """Score segmentation masks against ground truth with hard Dice, per class.

    Run `dice score GT PRED` with two folders (cases paired by file name) or two files.
    """


@main.command(context_settings={"max_content_width": 100})
@click.argument("gt", type=click.Path(path_type=str))
@click.argument("pred", type=click.Path(path_type=str))
@click.option("--threshold", type=click.FloatRange(0, 1), default=0.5, show_default=True,
              help="Probability maps: foreground where p >= this value.")
@click.option("--smooth", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Add S to numerator and denominator: (2TP+S)/(2TP+FP+FN+S). 0 = exact Dice.")
@click.option("--empty-both", type=click.Choice(["nan", "one", "zero"]), default="nan", show_default=True,
              help="Dice when a class is absent from both masks: nan = undefined, left out of means.")
@click.option("--labels", callback=_parse_labels, metavar="1,2,...",
              help="Classes to score. Default: every non-zero label found in the run.")
@click.option("--include-background", is_flag=True, help="Also score label 0 (never in the overall mean).")
@click.option("--missing-as-empty", is_flag=True,
              help="Score a missing prediction as an empty mask instead of an input error.")
@click.option("--geometry", type=click.Choice(["strict", "warn", "ignore"]), default="strict",
              show_default=True, help="NIfTI spacing/affine mismatch: an error, a warning, or ignored.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="What to print on stdout.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=str), metavar="FILE",
              help="Also write the JSON report to FILE (atomically).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=str), metavar="FILE",
              help="Also write the per-case CSV to FILE (atomically).")
@click.option("--per-case", is_flag=True, help="Table: add a row per case, worst first.")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes; 0 = all usable cores.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results and errors.")
@click.option("--debug", is_flag=True, help="Show a traceback for internal errors.")
def score(gt, pred, threshold, smooth, empty_both, labels, include_background, missing_as_empty,
          geometry, fmt, json_path, csv_path, per_case, jobs, quiet, debug):
    """Score predictions in PRED against ground truth in GT (two folders or two files).

    Cases are paired by file name minus its suffix (.nii.gz, .nii, .png, .tif, .tiff).
    Prints hard Dice per class; exit status 0 ok, 1 gate failed, 2 usage error, 3 input error.
    """
    try:
        status = _score(gt, pred, threshold=threshold, smooth=smooth, empty_both=empty_both,
                        labels=labels, include_background=include_background,
                        missing_as_empty=missing_as_empty, geometry=geometry, fmt=fmt,
                        json_path=json_path, csv_path=csv_path, per_case=per_case, jobs=jobs,
                        quiet=quiet)
    except KeyboardInterrupt:
        _say("interrupted", "nothing was written")
        status = ExitStatus.INTERRUPTED
    except UsageError as exc:
        _say("error", str(exc))
        status = ExitStatus.USAGE
    except DiceError as exc:
        _say("error", str(exc))
        status = ExitStatus.INPUT_ERROR
    except Exception as exc:  # a bug: one line unless --debug
        if debug:
            raise
        _say("internal error", f"{type(exc).__name__}: {exc} (run with --debug for the traceback)")
        status = ExitStatus.INTERNAL
    sys.exit(int(status))


def _score(gt, pred, *, fmt, json_path, csv_path, per_case, quiet, **options) -> ExitStatus:
    from .evaluate import Settings, evaluate_pairing
    from .outputs import refuse_input_overwrite
    from .pairing import pair_paths
    from .progress import progress_reporter
    from .report.preflight import preflight_lines

    settings = Settings(**options)
    pairing = pair_paths(gt, pred)
    inputs = [p.gt for p in pairing.pairs] + [p.pred for p in pairing.pairs if p.pred]
    outputs = [p for p in (json_path, csv_path) if p]
    refuse_input_overwrite(outputs, inputs + list(pairing.extra))
    if len(outputs) != len({os.path.realpath(p) for p in outputs}):
        raise UsageError("--json and --csv name the same file")
    if not quiet:
        for line in preflight_lines(pairing, settings):
            click.echo(f"dice: {line}", err=True)
    with progress_reporter(total=len(pairing.pairs), enabled=not quiet) as advance:
        run = evaluate_pairing(pairing, settings, progress=advance)
    for error in run.errors:
        _say("error", error.message)
    if not quiet:
        for warning in run.warnings:
            _say("warning", warning)
    _emit(run, fmt=fmt, json_path=json_path, csv_path=csv_path, per_case=per_case)
    return ExitStatus.INPUT_ERROR if run.errors else ExitStatus.OK


def _emit(run, *, fmt, json_path, csv_path, per_case) -> None:
    """Write requested files (atomically), then print the stdout report."""
    from .outputs import write_atomic
    from .report.csv_report import render_csv
    from .report.json_report import render_json

    rendered = {}
    if json_path or fmt == "json":
        rendered["json"] = render_json(run)
    if csv_path or fmt == "csv":
        rendered["csv"] = render_csv(run)
    if json_path:
        write_atomic(json_path, rendered["json"])
    if csv_path:
        write_atomic(csv_path, rendered["csv"])
    if fmt in rendered:
        click.echo(rendered[fmt], nl=False)
        return
    from rich.console import Console

    from .report.table import print_table

    console = Console(file=sys.stdout, highlight=False, width=None if sys.stdout.isatty() else 120)
    print_table(run, console, per_case=per_case)
