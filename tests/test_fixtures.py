"""The committed fixture sets: dice reproduces the independently computed expected values,
and the committed files are exactly what fixtures/make_fixtures.py generates."""

from __future__ import annotations

import importlib.util
import json
import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent.parent / "fixtures"
SET_NAMES = ("png2d", "binary255", "nifti3d", "tiff3d", "prob")
SUMMARY_KEYS = ("mean", "median", "min", "max", "pooled")


def _load_make_fixtures():
    spec = importlib.util.spec_from_file_location(
        "_dicecli_make_fixtures", FIXTURES / "make_fixtures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@lru_cache(maxsize=None)
def _generated():
    mf = _load_make_fixtures()
    return mf, mf.generate()


def _expected(set_name: str) -> dict:
    return json.loads((FIXTURES / "expected" / f"{set_name}.json").read_text())


def _strict_json(text: str):
    def reject(token):
        raise AssertionError(f"non-strict JSON token {token!r} in output")

    return json.loads(text, parse_constant=reject)


def _same(actual, expected) -> bool:
    if expected is None:
        return actual is None
    return actual is not None and actual == pytest.approx(expected, abs=1e-12)


# --------------------------------------------------------------------------- dice CLI


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_cli_matches_expected(set_name):
    from click.testing import CliRunner

    from dicecli.cli import main

    expected = _expected(set_name)
    gt_dir = str(FIXTURES / set_name / "gt")
    pred_dir = str(FIXTURES / set_name / "pred")
    result = CliRunner().invoke(main, ["score", gt_dir, pred_dir, "--format", "json"])
    assert result.exit_code == 0, (result.output, result.exception)
    out = _strict_json(result.stdout)

    assert out["errors"] == []
    settings = out["settings"]
    assert settings["threshold"] == pytest.approx(0.5)
    assert settings["smooth"] == 0
    assert settings["empty_both"] == "nan"

    labels = {str(label) for label in expected["labels"]}
    cases = {c["case"]: c for c in out["cases"]}
    assert len(cases) == len(out["cases"]), "duplicate case names"
    assert set(cases) == set(expected["cases"])
    for name, exp_classes in expected["cases"].items():
        got_classes = cases[name]["classes"]
        assert set(got_classes) == labels, name
        for label, exp in exp_classes.items():
            got = got_classes[label]
            where = f"{set_name}/{name} class {label}"
            for key in ("tp", "fp", "fn", "status"):
                assert got[key] == exp[key], f"{where}: {key} {got[key]!r} != {exp[key]!r}"
            assert _same(got["dice"], exp["dice"]), f"{where}: dice {got['dice']!r} != {exp['dice']!r}"

    summary = out["summary"]
    assert set(summary["classes"]) == labels
    for label, exp in expected["summary"]["classes"].items():
        got = summary["classes"][label]
        where = f"{set_name} summary class {label}"
        assert got["n"] == exp["n"], where
        assert got["n_undefined"] == exp["n_undefined"], where
        for key in SUMMARY_KEYS:
            assert _same(got[key], exp[key]), f"{where}: {key} {got[key]!r} != {exp[key]!r}"
    assert _same(summary["mean"], expected["summary"]["mean"]), "overall mean"
    assert _same(summary["pooled"], expected["summary"]["pooled"]), "overall pooled"


# --------------------------------------------------------------------------- drift


def _read_png(path: Path):
    from PIL import Image

    with Image.open(path) as img:
        img.load()
        return np.asarray(img), {"mode": img.mode}


def _read_nifti(path: Path):
    import nibabel as nib

    img = nib.load(str(path))
    return np.asanyarray(img.dataobj), {"affine": img.affine, "zooms": img.header.get_zooms()}


TIFF_COMPRESSION = {"zlib": "ADOBE_DEFLATE", "lzw": "LZW", "zstd": "ZSTD"}


def _read_tiff(path: Path):
    import tifffile

    with tifffile.TiffFile(path) as tf:
        pages = list(tf.pages)
        compressions = {page.compression.name for page in pages}
        array = np.stack([page.asarray() for page in pages]) if len(pages) > 1 else pages[0].asarray()
    return array, {"pages": len(pages), "compressions": compressions}


READERS = {"png": _read_png, "nifti": _read_nifti, "tiff": _read_tiff}


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_regenerated_arrays_match_committed_files(set_name):
    mf, data = _generated()
    cases = data[set_name]
    for side in ("gt", "pred"):
        folder = FIXTURES / set_name / side
        committed = sorted(p.name for p in folder.iterdir())
        assert committed == sorted(mf.file_name(c, side) for c in cases), f"{folder}: stray or missing files"
    for case in cases:
        for side in ("gt", "pred"):
            spec = case[side + "_file"]
            path = FIXTURES / set_name / side / mf.file_name(case, side)
            array, meta = READERS[spec["format"]](path)
            want = case[side]
            assert array.dtype == want.dtype, (path, array.dtype, want.dtype)
            assert array.shape == want.shape, (path, array.shape, want.shape)
            assert np.array_equal(array, want), f"{path} differs from make_fixtures.generate()"
            if spec["format"] == "png":
                assert meta["mode"] == spec["mode"], path
            elif spec["format"] == "nifti":
                assert np.allclose(meta["affine"], mf.NIFTI_AFFINE), path
                assert np.allclose(meta["zooms"], mf.NIFTI_SPACING), path
            else:
                assert meta["pages"] == (want.shape[0] if want.ndim == 3 else 1), path
                assert meta["compressions"] == {TIFF_COMPRESSION[spec["compression"]]}, path


@pytest.mark.parametrize("set_name", SET_NAMES)
def test_regenerated_expected_matches_committed_json(set_name):
    mf, data = _generated()
    recomputed = json.loads(mf.dump_json(mf.expected_for_set(set_name, data[set_name])))
    assert recomputed == _expected(set_name)


def test_regenerated_fixtures_cover_the_promised_edge_cases():
    """The special cases the README promises are really in the data."""
    statuses = {
        name: {
            (case, label): rec["status"]
            for case, classes in _expected(name)["cases"].items()
            for label, rec in classes.items()
        }
        for name in SET_NAMES
    }
    assert statuses["png2d"][("case02", "3")] == "both_empty"
    assert statuses["png2d"][("case03", "2")] == "gt_empty"
    assert statuses["png2d"][("case04", "1")] == "pred_empty"
    assert _expected("binary255")["labels"] == [255]
    assert _expected("tiff3d")["labels"] == [1, 2, 7]
    assert "pred_empty" in statuses["nifti3d"].values()
    assert statuses["prob"][("case03", "1")] == "gt_empty"
    assert statuses["prob"][("case04", "1")] == "both_empty"

    mf, data = _generated()
    just_below = np.nextafter(np.float32(0.5), np.float32(0))
    for case in data["prob"]:
        assert case["pred"].dtype == np.float32
        assert (case["pred"] == just_below).sum() > 50
    assert sum(int((c["pred"] == np.float32(0.5)).sum()) for c in data["prob"]) > 500
    floats = [c for c in data["nifti3d"] if c["pred"].dtype == np.float32]
    assert len(floats) == 1 and math.isclose(float(floats[0]["pred"].max()), 2.0)
