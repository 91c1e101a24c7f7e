"""Match ground-truth and prediction files by case name.

Case name = file name minus its format suffix (``ct_01.nii.gz`` -> ``ct_01``), so
formats may differ between the two folders. Hidden files (leading dot) are skipped;
files of other types and sub-folders are listed as ignored, never silently used.
Nothing is dropped silently: missing, extra and duplicate cases are all reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import PairingError, UsageError
from .readers import SUFFIXES, case_name


@dataclass(frozen=True)
class Pair:
    """One case: its name and both files (``pred`` is None when the prediction is missing)."""

    case: str
    gt: str
    pred: str | None


@dataclass(frozen=True)
class Pairing:
    """The outcome of matching two folders (or two files).

    pairs: cases with a ground truth, sorted by case name (``pred`` None if missing).
    missing: cases with a ground truth but no prediction.
    extra: prediction files whose case has no ground truth.
    duplicates: (case, [paths]) where one folder holds several files of one case;
        such cases are not scored.
    ignored: files skipped because their type is not supported.
    """

    pairs: tuple[Pair, ...]
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    duplicates: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ignored: tuple[str, ...] = field(default=())


def _list_cases(folder: str) -> tuple[dict[str, list[str]], list[str]]:
    """Map case name -> files in ``folder`` (sorted), plus the ignored files."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        raise PairingError(folder, "no such directory") from None
    except NotADirectoryError:
        raise PairingError(folder, "not a directory") from None
    except OSError as exc:
        raise PairingError(folder, f"cannot list directory ({exc.strerror or exc})") from None
    cases: dict[str, list[str]] = {}
    ignored: list[str] = []
    for name in names:
        if name.startswith("."):
            continue
        path = os.path.join(folder, name)
        case = case_name(name)
        if case is None or os.path.isdir(path):
            ignored.append(path)
            continue
        cases.setdefault(case, []).append(path)
    return cases, ignored


def pair_folders(gt_dir: str, pred_dir: str) -> Pairing:
    """Pair every case of ``gt_dir`` with the file of the same case in ``pred_dir``.

    Raises PairingError when a folder is missing or holds no supported file.
    """
    gt_cases, gt_ignored = _list_cases(gt_dir)
    pred_cases, pred_ignored = _list_cases(pred_dir)
    if not gt_cases:
        raise PairingError(gt_dir, f"no ground-truth masks found (supported: {', '.join(SUFFIXES)})")
    duplicates = [
        (case, tuple(files))
        for cases in (gt_cases, pred_cases)
        for case, files in sorted(cases.items())
        if len(files) > 1
    ]
    duplicated = {case for case, _ in duplicates}
    pairs, missing = [], []
    for case in sorted(gt_cases):
        if case in duplicated:
            continue
        preds = pred_cases.get(case)
        if preds is None:
            missing.append(case)
        pairs.append(Pair(case, gt_cases[case][0], preds[0] if preds else None))
    extra = [files[0] for case, files in sorted(pred_cases.items()) if case not in gt_cases]
    return Pairing(
        pairs=tuple(pairs),
        missing=tuple(missing),
        extra=tuple(extra),
        duplicates=tuple(duplicates),
        ignored=tuple(gt_ignored + pred_ignored),
    )


def pair_paths(gt: str, pred: str) -> Pairing:
    """Pair two folders, or two files (one case named after the ground-truth file)."""
    for path in (gt, pred):
        if not os.path.lexists(path):
            raise PairingError(path, "no such file or directory")
    gt_is_dir, pred_is_dir = os.path.isdir(gt), os.path.isdir(pred)
    if gt_is_dir and pred_is_dir:
        return pair_folders(gt, pred)
    if not gt_is_dir and not pred_is_dir:
        case = case_name(gt) or os.path.basename(gt)
        return Pairing(pairs=(Pair(case, gt, pred),))
    raise UsageError("give two folders or two files, not one of each")
