"""The bad-input matrix: each bad file gives one error line naming it, exit 3, and the
other cases are still scored and written."""

import json
import os
import struct
import zlib

import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dicecli.cli import main

GOOD = np.zeros((8, 8), dtype=np.uint8)
GOOD[2:6, 2:6] = 1
SHIFTED = np.eye(4)
SHIFTED[0, 3] = 4.0  # origin moved 4 mm along the first axis


def save_nifti(path, array, zooms=None, affine=None):
    img = nib.Nifti1Image(array, np.eye(4) if affine is None else affine)
    if zooms:
        img.header.set_zooms(zooms)
    nib.save(img, str(path))


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(path):
    ihdr = struct.pack(">IIBBBBB", 200_000, 200_000, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
                     + png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + png_chunk(b"IEND", b""))


def truncated_nifti(path):
    save_nifti(path, np.arange(8 * 8 * 6, dtype=np.int16).reshape(8, 8, 6))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def symlink_loop(path):
    other = path.with_name("loop_other.nii.gz")
    os.symlink(other, path)
    os.symlink(path, other)


# row name -> (file name in pred/, writer, words the message must contain)
BAD_PREDICTIONS = {
    "zero-byte file": ("bad.nii.gz", lambda p: p.write_bytes(b""), ["empty"]),
    "truncated nii.gz": ("bad.nii.gz", truncated_nifti, ["truncated"]),
    "text named .png": ("bad.png", lambda p: p.write_text("hello, I am text"), ["not a png"]),
    "decompression bomb": ("bad.png", bomb_png, ["200000"]),
    "RGB PNG": ("bad.png", lambda p: Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(p), ["rgb"]),
    "4D NIfTI": ("bad.nii.gz", lambda p: save_nifti(p, np.zeros((8, 8, 2, 3), np.uint8)), ["(8, 8, 2, 3)", "does not match"]),
    "shape mismatch": ("bad.nii.gz", lambda p: save_nifti(p, np.zeros((8, 9), np.uint8)), ["axis 1", "9 vs 8"]),
    "spacing mismatch": ("bad.nii.gz", lambda p: save_nifti(p, GOOD, zooms=(1.0, 1.3)),
                         ["spacing", "axis 1", "by 0.3"]),
    "affine mismatch": ("bad.nii.gz", lambda p: save_nifti(p, GOOD, affine=SHIFTED), ["origin", "axis 0", "by 4"]),
    "NaN in probability map": ("bad.nii.gz", lambda p: save_nifti(p, np.where(GOOD > 0, np.nan, 0.2).astype(np.float32)),
                               ["nan"]),
    "non-whole labels": ("bad.nii.gz", lambda p: save_nifti(p, (GOOD * 2.5).astype(np.float32)), ["2.5"]),
    "symlink loop": ("bad.nii.gz", symlink_loop, ["cannot open"]),
    "softmax channel above 1": ("bad.nii.gz", lambda p: save_nifti(
        p, np.stack([1.0 - GOOD, GOOD * 1.5], axis=-1).astype(np.float32)), ["1.5", "probabilities"]),
    "softmax of another shape": ("bad.npz", lambda p: np.savez(p, probabilities=np.zeros((2, 8, 9), np.float32)),
                                 ["(2, 8, 9)", "(8, 8)"]),
    "pickled .npy": ("bad.npy", lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), ["pickled"]),
}


def make_set(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    for name in ("good1", "good2", "bad"):
        save_nifti(gt / f"{name}.nii.gz", GOOD)
    for name in ("good1", "good2"):
        save_nifti(pred / f"{name}.nii.gz", np.roll(GOOD, 1, axis=0))  # Dice 2*12/32 = 0.75
    return gt, pred


def check_one_error_rest_scored(result, out_json, bad_path, needles):
    assert result.exit_code == 3, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("dice: error:")]
    assert len(errors) == 1, result.stderr
    assert str(bad_path) in errors[0]
    for needle in needles:
        assert needle.lower() in errors[0].lower(), errors[0]
    assert "Traceback" not in result.stderr
    for doc in (json.loads(result.stdout), json.loads(out_json.read_text())):
        assert [c["case"] for c in doc["cases"]] == ["good1", "good2"]
        assert all(c["classes"]["1"]["dice"] == pytest.approx(0.75) for c in doc["cases"])
        assert [e["case"] for e in doc["errors"]] == ["bad"] and str(bad_path) == doc["errors"][0]["path"]


@pytest.mark.parametrize("row", list(BAD_PREDICTIONS))
def test_bad_prediction(tmp_path, row):
    name, write, needles = BAD_PREDICTIONS[row]
    gt, pred = make_set(tmp_path)
    write(pred / name)
    out = tmp_path / "out.json"
    result = CliRunner().invoke(main, ["score", str(gt), str(pred), "--format", "json", "--json", str(out)])
    check_one_error_rest_scored(result, out, pred / name, needles)


def test_bad_ground_truth_is_named(tmp_path):
    gt, pred = make_set(tmp_path)
    save_nifti(pred / "bad.nii.gz", GOOD)
    save_nifti(gt / "bad.nii.gz", np.where(GOOD > 0, 0.7, 0.1).astype(np.float32))
    out = tmp_path / "out.json"
    result = CliRunner().invoke(main, ["score", str(gt), str(pred), "--format", "json", "--json", str(out)])
    check_one_error_rest_scored(result, out, gt / "bad.nii.gz", ["ground truth", "label map"])


def test_unreadable_file(tmp_path, monkeypatch):
    from dicecli.io.readers import _common

    gt, pred = make_set(tmp_path)
    save_nifti(pred / "bad.nii.gz", GOOD)
    real_open = open

    def guarded(path, *args, **kwargs):
        if str(path).endswith(os.path.join("pred", "bad.nii.gz")):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(_common, "open", guarded, raising=False)
    out = tmp_path / "out.json"
    result = CliRunner().invoke(main, ["score", str(gt), str(pred), "--format", "json", "--json", str(out), "-j", "1"])
    check_one_error_rest_scored(result, out, pred / "bad.nii.gz", ["permission denied"])


def test_duplicate_case_names(tmp_path):
    gt, pred = make_set(tmp_path)
    save_nifti(pred / "bad.nii.gz", GOOD)
    save_nifti(pred / "bad.nii", GOOD)
    out = tmp_path / "out.json"
    result = CliRunner().invoke(main, ["score", str(gt), str(pred), "--format", "json", "--json", str(out)])
    check_one_error_rest_scored(result, out, pred / "bad.nii", ["several files", "bad.nii.gz"])


def test_hidden_unrelated_and_unusual_names_are_fine(tmp_path):
    gt, pred = make_set(tmp_path)
    save_nifti(pred / "bad.nii.gz", GOOD)
    for folder in (gt, pred):
        save_nifti(folder / "ünïcode case 3.nii.gz", GOOD)
        (folder / ".DS_Store").write_bytes(b"\0\1")
        (folder / "._bad.nii.gz").write_bytes(b"junk")  # macOS resource fork
        (folder / "notes.txt").write_text("unrelated")
    result = CliRunner().invoke(main, ["score", str(gt), str(pred), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [c["case"] for c in doc["cases"]] == ["bad", "good1", "good2", "ünïcode case 3"]
    assert "2 file(s) of other types ignored" in result.stderr
