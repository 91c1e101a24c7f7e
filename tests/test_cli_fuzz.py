"""Fuzzing through the command line: mutated files of every format, scored by ``dice score``.

For each format, one folder of ground truths and one of predictions hold a few dozen cases,
each with one side mutated (bytes overwritten or flipped, cut short, bytes appended or
inserted). Every case must end one of two ways:

- scored, with exactly the counts of an independent reference decode (tests/reference.py:
  the format's usual library, brute-force counting), or
- an input error: one line ``dice: error: <path>: <reason>`` naming the mutated file (a
  geometry mismatch is reported on the prediction's line, naming the ground truth too),

and the run exits 0 (all scored) or 3 (some refused): never 70, never a traceback, never a
hang. The bulk runs in-process (the same click command the ``dice`` script runs); one real
``dice`` process per format repeats part of it, with a timeout that only detects hangs.
Seeded and bounded: about 300 cases, a few seconds.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest
import tifffile
from click.testing import CliRunner
from PIL import Image

import reference
from dicecli.cli import main

#: Words of Python's own exceptions, which say nothing about the file.
RAW_PYTHON_ERRORS = ("division or modulo", "division by zero", "not supported between", "argument must be",
                     "index out of range", "unpack requires", "NoneType", "object has no attribute")
CASES_PER_FORMAT = 48
SUBPROCESS_CASES = 12
SHAPE_3D, SHAPE_2D = (7, 6, 5), (12, 10)


def _labels(seed: int, shape, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = np.zeros(shape, dtype)
    a[tuple(slice(1, n - 1) for n in shape)] = 1
    a[rng.random(shape) < 0.2] = 2
    a[rng.random(shape) < 0.05] = 3
    return a


def _nifti(path, array, gz: bool) -> None:
    nib.save(nib.Nifti1Image(array, np.diag([0.8, 0.9, 2.5, 1.0]), dtype=array.dtype), str(path))


def _png(path, array) -> None:
    Image.fromarray(array, mode="L").save(path)


WRITERS = {  # format -> (suffix, writer(path, array), shape, dtype)
    "nii": (".nii", lambda p, a: _nifti(p, a, False), SHAPE_3D, np.int16),
    "nii.gz streamed": (".nii.gz", lambda p, a: _nifti(p, a, True), SHAPE_3D, np.uint8),
    "nii.gz whole": (".nii.gz", lambda p, a: _nifti(p, a, True), SHAPE_3D, np.float32),
    "png": (".png", _png, SHAPE_2D, np.uint8),
    "tif": (".tif", lambda p, a: tifffile.imwrite(p, a, photometric="minisblack"), SHAPE_3D, np.uint16),
    "tif lzw": (".tif", lambda p, a: tifffile.imwrite(p, a, compression="lzw"), SHAPE_2D, np.uint8),
    "npy": (".npy", np.save, SHAPE_3D, np.uint8),
    "npz": (".npz", lambda p, a: np.savez_compressed(p, a), SHAPE_3D, np.uint16),
}


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    kind = rnd.randrange(6)
    if kind == 0:  # a few bits flipped
        for _ in range(rnd.randint(1, 3)):
            data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
    elif kind == 1:  # a burst in the first 400 bytes, where headers live
        at = rnd.randrange(min(len(data), 400))
        data[at:at + 4] = rnd.randbytes(4)
    elif kind == 2:  # bytes overwritten anywhere
        for _ in range(rnd.randint(1, 6)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
    elif kind == 3:  # cut short
        del data[rnd.randrange(1, len(data)):]
    elif kind == 4:  # bytes appended
        data += rnd.randbytes(rnd.randint(1, 24))
    else:  # bytes inserted
        at = rnd.randrange(len(data))
        data[at:at] = rnd.randbytes(rnd.randint(1, 8))
    return bytes(data)


def _expected(gt_path, pred_path):
    """{label: (tp, fp, fn)} and voxel count by the reference, or None when dice must refuse."""
    try:
        gt = reference.labels(reference.decode(gt_path), prediction=False)
        pred = reference.labels(reference.decode(pred_path), prediction=True)
    except Exception:
        return None
    if gt is None or pred is None or gt.shape != pred.shape or gt.ndim not in (2, 3) or gt.size == 0:
        return None
    return reference.counts(gt, pred), gt.size


def _make_run(tmp_path, name: str, seed: int):
    """gt/ and pred/ folders of mutated cases: {case: (gt path, pred path, mutated path)}."""
    suffix, write, shape, dtype = WRITERS[name]
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    clean = {}
    for side, array in (("gt", _labels(seed, shape, dtype)), ("pred", _labels(seed + 1, shape, dtype))):
        path = tmp_path / f"{side}{suffix}"
        write(path, array)
        clean[side] = path.read_bytes()
    rnd = random.Random(f"{name} {seed}")
    cases = {}
    for i in range(CASES_PER_FORMAT):
        case = f"case{i:03d}"
        gt, pred = gt_dir / f"{case}{suffix}", pred_dir / f"{case}{suffix}"
        mutated = gt if i % 4 == 3 else pred  # mostly predictions, sometimes the ground truth
        for path, side in ((gt, "gt"), (pred, "pred")):
            path.write_bytes(_mutate(rnd, clean[side]) if path == mutated else clean[side])
        cases[case] = (gt, pred, mutated)
    return gt_dir, pred_dir, cases


def _check_run(exit_code: int, stdout: str, stderr: str, cases: dict) -> dict:
    """Assert the contract for every case of one run; return how many were scored and refused."""
    assert exit_code in (0, 3), (exit_code, stderr)
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    doc = json.loads(stdout)
    error_lines = {line for line in stderr.splitlines() if line.startswith("dice: error: ")}
    refused = {}
    for error in doc["errors"]:
        gt, pred, mutated = cases[error["case"]]
        assert error["path"] in (str(gt), str(pred)) and error["message"].startswith(f"{error['path']}: ")
        assert str(mutated) in error["message"] and "\n" not in error["message"], error  # geometry: pred's line
        assert not any(words in error["message"] for words in RAW_PYTHON_ERRORS), error

        assert f"dice: error: {error['message']}" in error_lines
        refused[error["case"]] = error["message"]
    assert exit_code == (3 if refused else 0)
    scored = {c["case"]: c for c in doc["cases"]}
    assert set(scored) | set(refused) == set(cases) and not set(scored) & set(refused)
    for case, record in scored.items():
        expected = _expected(*cases[case][:2])
        assert expected is not None, f"{case}: dice scored a file the reference refuses ({cases[case][2]})"
        counts, n_voxels = expected
        assert record["n_voxels"] == n_voxels, case
        got = {int(k): (v["tp"], v["fp"], v["fn"]) for k, v in record["classes"].items()}
        assert {k: v for k, v in got.items() if v != (0, 0, 0)} == counts, case
    return {"scored": len(scored), "refused": len(refused)}


@pytest.mark.parametrize("name", sorted(WRITERS))
def test_mutated_files_through_the_cli(tmp_path, name):
    gt_dir, pred_dir, cases = _make_run(tmp_path, name, seed=sorted(WRITERS).index(name))
    result = CliRunner().invoke(main, ["score", str(gt_dir), str(pred_dir), "--format", "json", "-j", "1"])
    tally = _check_run(result.exit_code, result.stdout, result.stderr, cases)
    assert tally["refused"] >= CASES_PER_FORMAT // 4, tally  # the mutations do reach the readers
    # The same files in a real process, a few cases only: a hang fails on the timeout.
    keep = sorted(cases)[:SUBPROCESS_CASES]
    for folder in (gt_dir, pred_dir):
        for path in folder.iterdir():
            if path.name.split(".")[0] not in keep:
                path.unlink()
    run = subprocess.run([sys.executable, "-m", "dicecli", "score", str(gt_dir), str(pred_dir), "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    _check_run(run.returncode, run.stdout, run.stderr, {case: cases[case] for case in keep})
