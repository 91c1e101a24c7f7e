"""Match ground-truth and prediction files by case name.

Case name = file name minus its format suffix (``ct_01.nii.gz`` -> ``ct_01``), so
formats may differ between the two folders. Hidden files (leading dot) are skipped;
files of other types and sub-folders are listed as ignored, never silently used.
Nothing is dropped silently: missing, extra and duplicate cases are all reported.

A prediction folder may hold a label map and a probability file of one case side
by side, as ``nnUNetv2_predict --save_probabilities`` leaves them (``case.nii.gz``
and ``case.npz``): the label map (NIfTI, PNG, TIFF) is scored and the NumPy file
listed as not scored, unless ``pred_suffix`` picks the suffix to score. Any other
case with several files is a duplicate, an input error.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field

from ..errors import PairingError, UsageError, os_reason
from .readers import SIDECARS, SUFFIXES, case_name, split_suffix

#: Suffixes of probability files that give way to a label map of the same case.
PROBABILITY_SUFFIXES = (".npz", ".npy")


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
    set_aside: (case, chosen file, files not scored) where the prediction folder
        holds several files of a case and one was chosen (label map over
        probability file, or ``pred_suffix``).
    notes: warnings about the layout (case names differing only in letter case).
    """

    pairs: tuple[Pair, ...]
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    duplicates: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ignored: tuple[str, ...] = field(default=())
    set_aside: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    notes: tuple[str, ...] = ()


def compile_pattern(pattern: str) -> re.Pattern:
    """``'{case}_seg.nii.gz'`` -> a regex matching a file name and capturing the case name.

    ``{case}`` is the pairing key (one or more characters); ``*`` and ``?`` are glob
    wildcards within a name; everything else is literal, matched case-insensitively
    like suffixes. Raises UsageError when ``{case}`` is missing or repeated.
    """
    if pattern.count("{case}") != 1:
        raise UsageError(f"pattern {pattern!r} must contain {{case}} exactly once (e.g. '{{case}}_seg.nii.gz')")
    parts = []
    for piece in re.split(r"(\{case\}|\*|\?)", pattern):
        parts.append({"{case}": "(?P<case>.+?)", "*": "[^/]*", "?": "[^/]"}.get(piece, re.escape(piece)))
    return re.compile("".join(parts) + r"\Z", re.IGNORECASE)


def _walk(folder: str, recursive: bool):
    """(relative path, path, is a folder) of every non-hidden entry, sorted; sub-folders only with
    ``recursive`` (then folders themselves are not listed)."""
    try:
        with os.scandir(folder) as found:  # the entry types come with the listing: no stat per file
            entries = sorted((e.name, e.path, _is_dir(e)) for e in found if not e.name.startswith("."))
    except FileNotFoundError:
        raise PairingError(folder, "no such directory") from None
    except NotADirectoryError:
        raise PairingError(folder, "not a directory") from None
    except OSError as exc:
        raise PairingError(folder, f"cannot list directory ({exc.strerror or exc})") from None
    if not recursive:
        yield from entries
        return
    for root, subdirs, files in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        rel_root = os.path.relpath(root, folder)
        for name in sorted(files):
            if not name.startswith("."):
                rel = name if rel_root == "." else f"{rel_root}/{name}".replace(os.sep, "/")
                yield rel, os.path.join(root, name), False


def _is_dir(entry: os.DirEntry) -> bool:
    """Whether the entry is a folder (a link to one included), False when that cannot be told
    (a link loop, a vanished entry), as os.path.isdir says: the reader then words the problem."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _is_sidecar(path: str) -> bool:
    """A .raw/.zraw/.img data file whose header (.mhd/.hdr of the same stem) sits beside it."""
    stem, ext = os.path.splitext(path)
    header = SIDECARS.get(ext.lower())
    return header is not None and any(os.path.exists(stem + h) for h in (header, header.upper()))


def _list_cases(folder: str, *, recursive: bool = False,
                pattern: re.Pattern | None = None) -> tuple[dict[str, list[str]], list[str]]:
    """Map case name -> files in ``folder`` (sorted), plus the ignored files.

    The case name is the file name minus its suffix, or what ``pattern`` captures as
    {case}; under ``recursive`` it keeps the sub-folder (``site_a/p01``).
    """
    cases: dict[str, list[str]] = {}
    ignored: list[str] = []
    for rel, path, is_dir in _walk(folder, recursive):
        name = rel.rpartition("/")[2]
        if is_dir:
            ignored.append(path)
            continue
        parts = split_suffix(name)
        case = None if parts is None else parts[0]
        if case is not None and pattern is not None:
            match = pattern.match(name)
            case = match.group("case") if match else None
        if case is None:
            if not _is_sidecar(path):
                ignored.append(path)
            continue
        folder_part = rel.rpartition("/")[0]
        key = f"{folder_part}/{case}" if folder_part else case
        cases.setdefault(key, []).append(path)
    return cases, ignored


def case_collisions(gt_cases, pred_cases) -> list[str]:
    """Messages for case names that differ only in letter case (never paired by guessing)."""
    out = []
    for where, cases in (("ground truth", gt_cases), ("prediction", pred_cases)):
        seen: dict[str, str] = {}
        for case in sorted(cases):
            other = seen.setdefault(case.casefold(), case)
            if other != case:
                out.append(f"{where} cases {other!r} and {case!r} differ only in letter case")
    pred_folded = {c.casefold(): c for c in pred_cases}
    for case in sorted(gt_cases):
        twin = pred_folded.get(case.casefold())
        if twin is not None and twin != case and case not in pred_cases:
            out.append(f"prediction {twin!r} differs from ground truth {case!r} only in letter case: not paired")
    return out


def _suffix(path: str) -> str:
    parts = split_suffix(os.path.basename(path))
    return "" if parts is None else parts[1].lower()


def choose_predictions(pred_cases: dict[str, list[str]], pred_suffix: str | None = None,
                       prefer: str = "labels"):
    """Settle cases with several prediction files; returns (cases, set_aside).

    pred_suffix: keep only files with this suffix (case-insensitive, e.g. ".npz").
    Otherwise, when exactly one file of a case is not a probability file
    (.npz/.npy), it is chosen and the probability files are set aside (``prefer``
    "probabilities", as ``dice sweep`` wants: the one probability file is chosen);
    other ties are left for the caller to report as duplicates.
    """
    if pred_suffix is not None and pred_suffix.lower() not in SUFFIXES:
        raise UsageError(f"--pred-suffix {pred_suffix}: expected one of {', '.join(SUFFIXES)}")
    chosen: dict[str, list[str]] = {}
    set_aside = []
    for case, files in pred_cases.items():
        if pred_suffix is not None:
            keep = [f for f in files if _suffix(f) == pred_suffix.lower()]
        elif len(files) > 1:
            probability = prefer == "probabilities"
            keep = [f for f in files if (_suffix(f) in PROBABILITY_SUFFIXES) == probability]
            keep = keep if len(keep) == 1 else files
        else:
            keep = files
        if keep:
            chosen[case] = keep
        if len(keep) == 1 and len(files) > 1:
            set_aside.append((case, keep[0], tuple(f for f in files if f not in keep)))
    return chosen, set_aside


def pair_folders(gt_dir: str, pred_dir: str, *, pred_suffix: str | None = None, recursive: bool = False,
                 gt_pattern: str | None = None, pred_pattern: str | None = None, prefer: str = "labels") -> Pairing:
    """Pair every case of ``gt_dir`` with the file of the same case in ``pred_dir``.

    pred_suffix: score only prediction files with this suffix (see choose_predictions).
    recursive: also pair files in sub-folders, by relative path (case ``site_a/p01``).
    gt_pattern, pred_pattern: file-name patterns with ``{case}`` (see compile_pattern).
    Raises PairingError when a folder is missing or holds no supported file.
    """
    gt_cases, gt_ignored = _list_cases(gt_dir, recursive=recursive,
                                       pattern=compile_pattern(gt_pattern) if gt_pattern else None)
    pred_cases, pred_ignored = _list_cases(pred_dir, recursive=recursive,
                                           pattern=compile_pattern(pred_pattern) if pred_pattern else None)
    listed = [f for files in pred_cases.values() for f in files]
    pred_cases, set_aside = choose_predictions(pred_cases, pred_suffix, prefer)
    used = {f for files in pred_cases.values() for f in files} | {f for _, _, fs in set_aside for f in fs}
    pred_ignored += [f for f in listed if f not in used]  # other suffixes than --pred-suffix
    if not gt_cases:
        wanted = f"matching {gt_pattern!r}" if gt_pattern else f"supported: {', '.join(SUFFIXES)}"
        raise PairingError(gt_dir, f"no ground-truth masks found ({wanted}"
                                   f"{'' if recursive else '; sub-folders are searched with --recursive'})")
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
        set_aside=tuple(sorted(set_aside)),
        notes=tuple(case_collisions(gt_cases, pred_cases)),
    )


def _kind(path: str) -> bool:
    """True for a folder, False for anything else; PairingError when ``path`` cannot be looked at
    (missing, a symbolic-link loop, a parent folder without permission)."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except FileNotFoundError:
        reason = "broken symbolic link" if os.path.islink(path) else "no such file or directory"
        raise PairingError(path, reason) from None
    except OSError as exc:
        raise PairingError(path, f"cannot open ({os_reason(exc)})") from None


def pair_paths(gt: str, pred: str, **layout) -> Pairing:
    """Pair two folders, or two files (one case named after the ground-truth file).

    layout: pred_suffix, recursive, gt_pattern, pred_pattern (see pair_folders).
    """
    gt_is_dir, pred_is_dir = _kind(gt), _kind(pred)
    if gt_is_dir and pred_is_dir:
        return pair_folders(gt, pred, **layout)
    if not gt_is_dir and not pred_is_dir:
        case = case_name(gt) or os.path.basename(gt)
        return Pairing(pairs=(Pair(case, gt, pred),))
    raise UsageError("give two folders or two files, not one of each")
