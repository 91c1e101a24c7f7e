"""Helpers for tests that run `dice` as a real process: data sets, /proc, privileges."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def dice_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "dicecli", *map(str, args)]


def popen(*args, **kwargs) -> subprocess.Popen:
    """Start `dice ARGS` in a session of its own (so the test can find every process it starts)."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(dice_cmd(*args), start_new_session=True, cwd=ROOT, **kwargs)


def nifti_cases(root: Path, n: int, shape=(192, 192, 64)) -> tuple[Path, Path]:
    """``n`` cases of one hand-made 3D pair (hard links, so making many costs nothing)."""
    gt_dir, pred_dir = root / "gt", root / "pred"
    gt_dir.mkdir(parents=True)
    pred_dir.mkdir(parents=True)
    gt = np.zeros(shape, dtype=np.uint8)
    gt[20:120, 30:150, 10:50] = 1
    gt[100:180, 100:180, 20:60] = 2
    pred = np.roll(gt, 3, axis=0)
    affine = np.diag([0.8, 0.8, 2.5, 1.0])
    nib.save(nib.Nifti1Image(gt, affine), str(root / "gt.nii.gz"))
    nib.save(nib.Nifti1Image(pred, affine), str(root / "pred.nii.gz"))
    for i in range(n):
        os.link(root / "gt.nii.gz", gt_dir / f"c{i:03d}.nii.gz")
        os.link(root / "pred.nii.gz", pred_dir / f"c{i:03d}.nii.gz")
    return gt_dir, pred_dir


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # fields after the command name: state, ppid, pgrp, session


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and int(fields[3]) == sid and fields[0] != "Z":
                out.append(int(entry))
    return out


def children(pid: int) -> list[int]:
    """Live child processes of ``pid``."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields and int(fields[1]) == pid and fields[0] != "Z":
                out.append(int(entry))
    return sorted(out)


def wait_until(predicate, timeout: float = 30.0, step: float = 0.005):
    """Poll ``predicate`` until it returns something true; that value, or None on timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def catches(pid: int, signum: int) -> bool:
    """True once process ``pid`` has a handler for ``signum`` (its SigCgt mask in /proc)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    except OSError:
        pass
    return False


def finish(proc: subprocess.Popen, timeout: float = 60.0) -> tuple[bytes, bytes]:
    """communicate() with a timeout; on a hang, kill the whole session and fail."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError(f"dice did not finish within {timeout} s (hang)") from None


def drop_file_permissions_preexec():
    """A preexec_fn that makes a root child obey file permissions (drops CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH from the bounding set before exec); None when not root."""
    if not IS_ROOT:
        return None
    libc = ctypes.CDLL(None, use_errno=True)

    def drop():
        for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
            if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
                os._exit(99)

    return drop


def can_drop_file_permissions() -> bool:
    """True when a child can be made to obey file permissions (always, unless root without CAP_SETPCAP)."""
    if not IS_ROOT:
        return True
    probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=drop_file_permissions_preexec())
    return probe.returncode == 0
