"""More formats (MetaImage, NRRD, FreeSurfer MGZ, Analyze) and layouts (nested folders, name
patterns, letter case). Files are written by SimpleITK and nibabel as other tools write them;
expected Dice comes from a brute-force count on the arrays that were written."""

import json
import sys

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from dicecli.run.evaluate import evaluate
from helpers import png, run, strict_json


def brute_dice(gt, pred, label):
    g, p = np.ravel(gt) == label, np.ravel(pred) == label
    tp = int(np.sum(g & p))
    denominator = int(g.sum() + p.sum())
    return 2 * tp / denominator if denominator else None


def volumes():
    """A (x, y, z) label volume and a copy with asymmetric errors."""
    rng = np.random.default_rng(0)
    a = np.zeros((13, 11, 7), np.uint8)
    a[2:9, 3:8, 1:5] = 1
    a[5:12, 1:4, 2:7] = 2
    a[0, :5, 0] = 3
    b = a.copy()
    b[rng.random(a.shape) < 0.08] = 0
    b[10:13, 8:11, 5:7] = 2
    return a, b


SPACING = (0.8, 0.9, 2.5)


def save_nifti(path, xyz):
    nib.save(nib.Nifti1Image(xyz, np.diag([*SPACING, 1.0])), str(path))


def write_as(fmt, xyz, path_stem):
    """Write the (x, y, z) volume ``xyz`` in ``fmt`` the way its usual tool does; return the path."""
    if fmt in ("mha", "mhd", "nrrd", "seg.nrrd"):
        tmp = path_stem.parent / f"_{path_stem.name}.nii.gz"
        save_nifti(tmp, xyz)
        image = sitk.ReadImage(str(tmp))  # SimpleITK converts NIfTI's RAS into ITK's LPS itself
        tmp.unlink()
        path = path_stem.parent / f"{path_stem.name}.{fmt}"
        sitk.WriteImage(image, str(path))
        return path
    if fmt == "mgz":
        path = path_stem.parent / f"{path_stem.name}.mgz"
        nib.save(nib.MGHImage(xyz, np.diag([*SPACING, 1.0])), str(path))
        return path
    if fmt == "hdr":
        path = path_stem.parent / f"{path_stem.name}.hdr"
        img = nib.AnalyzeImage(xyz, np.diag([*SPACING, 1.0]))
        nib.save(img, str(path))
        return path
    raise AssertionError(fmt)


FORMATS = ["mha", "mhd", "nrrd", "seg.nrrd", "mgz", "hdr"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_format_scores_like_the_same_voxels_in_nifti(tmp_path, fmt):
    a, b = volumes()
    for gt_side in ("nifti", fmt):
        gt_dir, pred_dir = tmp_path / f"{gt_side}-gt", tmp_path / f"{gt_side}-pred"
        gt_dir.mkdir()
        pred_dir.mkdir()
        if gt_side == "nifti":
            save_nifti(gt_dir / "case.nii.gz", a)
            written = write_as(fmt, b, pred_dir / "case")
        else:
            written = write_as(fmt, a, gt_dir / "case")
            save_nifti(pred_dir / "case.nii.gz", b)
        geometry = "ignore" if fmt == "hdr" else "strict"  # Analyze stores no orientation
        ev = evaluate(gt_dir, pred_dir, jobs=1, geometry=geometry)
        assert not ev.errors, (written, ev.errors)
        assert ev.labels == (1, 2, 3)
        for col, label in enumerate(ev.labels):
            assert ev.dice[0, col] == pytest.approx(brute_dice(a, b, label)), (fmt, gt_side, label)
        assert ev.cases[0].voxel_volume_mm3 == pytest.approx(np.prod(SPACING), rel=1e-6)
        if fmt in ("mhd", "hdr"):
            assert not ev.pairing.ignored  # the .raw / .img data file is no case and no noise


def test_geometry_is_compared_across_formats(tmp_path):
    a, _ = volumes()
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    save_nifti(gt_dir / "c.nii.gz", a)
    path = write_as("mha", a, pred_dir / "c")
    image = sitk.ReadImage(str(path))
    image.SetOrigin((5.0, 0.0, 0.0))
    sitk.WriteImage(image, str(path))
    ev = evaluate(gt_dir, pred_dir, jobs=1)
    assert ev.errors and "origin" in ev.errors[0].message


def test_layered_seg_nrrd_is_refused(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    png(gt_dir / "s.png", np.zeros((6, 5)))
    layers = sitk.GetImageFromArray(np.zeros((6, 5, 2), np.uint8), isVector=True)
    sitk.WriteImage(layers, str(pred_dir / "s.seg.nrrd"))
    result = run(gt_dir, pred_dir)
    assert result.exit_code == 3
    assert "s.seg.nrrd" in result.stderr and "label map" in result.stderr


def test_without_simpleitk_the_error_names_the_extra(tmp_path, monkeypatch):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    a, _ = volumes()
    save_nifti(gt_dir / "c.nii.gz", a)
    write_as("nrrd", a, pred_dir / "c")
    monkeypatch.setitem(sys.modules, "SimpleITK", None)  # import SimpleITK now raises ImportError
    result = run(gt_dir, pred_dir, "-j", "1")
    assert result.exit_code == 3
    assert "dicecli[itk]" in result.stderr and len(result.stderr.strip().splitlines()) <= 3


def test_recursive_pairs_by_relative_path(tmp_path):
    a, b = volumes()
    for site in ("site_a", "site_b"):
        for side, vol in (("gt", a), ("pred", b)):
            (tmp_path / side / site).mkdir(parents=True)
            save_nifti(tmp_path / side / site / "p01.nii.gz", vol if site == "site_a" else a)
    flat = run(tmp_path / "gt", tmp_path / "pred")
    assert flat.exit_code == 3 and "--recursive" in flat.stderr
    result = run(tmp_path / "gt", tmp_path / "pred", "--recursive", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = strict_json(result.stdout)
    cases = {c["case"]: c for c in doc["cases"]}
    assert sorted(cases) == ["site_a/p01", "site_b/p01"]
    assert cases["site_a/p01"]["classes"]["1"]["dice"] == pytest.approx(brute_dice(a, b, 1))
    assert cases["site_b/p01"]["classes"]["1"]["dice"] == 1.0
    assert doc["settings"]["recursive"] is True


def test_name_patterns(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    g = np.zeros((8, 8), np.uint8)
    g[2:6, 2:6] = 1
    p = g.copy()
    p[2, 2:6] = 0
    for case in ("p01", "p02"):
        png(gt_dir / f"{case}_seg.png", g)
        png(pred_dir / f"{case}_cp_masks.png", p)
    png(pred_dir / "p01_flows.png", g)  # Cellpose writes more than masks
    result = run(gt_dir, pred_dir, "--gt-pattern", "{case}_seg.png", "--pred-pattern", "{case}_cp_masks.png",
                 "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = [line.split(",") for line in result.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == ["p01", "p02"]
    assert float(rows[0][2]) == pytest.approx(brute_dice(g, p, 1))
    assert "p01_flows.png" in result.stderr and "'p01'" in result.stderr  # ignored, and the match shown
    glob = run(gt_dir, pred_dir, "--gt-pattern", "*_{case}.png", "--pred-pattern", "*_{case}.png", "-q")
    assert glob.exit_code == 3  # 'seg' and 'masks' are the keys now: nothing pairs
    bad = run(gt_dir, pred_dir, "--gt-pattern", "seg.png")
    assert bad.exit_code == 2 and "{case}" in bad.stderr


def test_letter_case_collisions_are_reported_not_guessed(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    png(gt_dir / "Case1.png", np.eye(4))
    png(pred_dir / "case1.png", np.eye(4))
    result = run(gt_dir, pred_dir)
    assert result.exit_code == 3
    assert "differs from ground truth 'Case1' only in letter case" in result.stderr


def test_settings_echo_layout(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    png(gt_dir / "a_seg.png", np.eye(4))
    png(pred_dir / "a.png", np.eye(4))
    doc = strict_json(run(gt_dir, pred_dir, "--gt-pattern", "{case}_seg.png", "--format", "json", "-q").stdout)
    assert doc["settings"]["gt_pattern"] == "{case}_seg.png" and doc["settings"]["pred_pattern"] is None
    assert json.dumps(doc["cases"][0]["case"]) == '"a"'
