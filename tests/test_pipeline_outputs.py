"""What real pipelines write: size-1 channel axes, nnU-Net region heads and .npz axis order,
mixed formats, float32 thresholds, nnU-Net prediction folders, keys by label value.

Expected values come from hand counts or a brute-force loop over voxels written here
(``brute_dice``), never from dice itself; files are written the way other tools write them
(SimpleITK, nibabel, tifffile, numpy, nnU-Net's conventions).
"""

import json

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk
import tifffile

from dicecli.run.evaluate import evaluate
from helpers import png, run, strict_json


def brute_dice(gt, pred, members):
    """Dice of the sets {gt in members} and {pred in members}, voxel by voxel in Python."""
    tp = fp = fn = 0
    for g, p in zip(np.ravel(gt).tolist(), np.ravel(pred).tolist()):
        in_g, in_p = g in members, p in members
        tp += in_g and in_p
        fp += in_p and not in_g
        fn += in_g and not in_p
    return 2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else None


def label_map(shape, seed, n_labels=3):
    """A blobby label map with every label present and no symmetry (so a transpose shows)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(shape, np.uint8)
    grids = np.indices(shape)
    for label in range(1, n_labels + 1):
        centre = [rng.uniform(0.2, 0.8) * n for n in shape]
        radius = 0.3 * min(shape) if min(shape) > 2 else 0.3 * sorted(shape)[1]
        dist = sum(((g - c) / max(1, n / min(shape))) ** 2 for g, c, n in zip(grids, centre, shape))
        out[dist < radius ** 2] = label
    out[(grids[0] == 0)] = 0  # break any symmetry between the axes
    out[0, : shape[1] // 3] = 1
    return out


def nifti(path, array, zooms=None):
    img = nib.Nifti1Image(np.asarray(array), np.diag([*(zooms or (1.0,) * 3), 1.0][:4]) if zooms else np.eye(4))
    nib.save(img, str(path))


def dirs(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    return gt, pred


# ---------------------------------------------------------------- 1. size-1 channel axes


@pytest.mark.parametrize("write", ["npy", "npz", "tif"])
def test_label_map_with_a_size_one_leading_axis_is_a_single_map(tmp_path, write):
    g = label_map((20, 30), seed=1)
    p = g.copy()
    p[5:9, 5:12] = 2  # some errors, so the expected values are not all 1
    gt_dir, pred_dir = dirs(tmp_path)
    np.save(gt_dir / "a.npy", g)
    if write == "npy":
        np.save(pred_dir / "a.npy", p[None])
    elif write == "npz":
        np.savez(pred_dir / "a.npz", seg=p[None])
    else:
        tifffile.imwrite(pred_dir / "a.tif", p[None])  # tifffile reads it back as (1, 20, 30)
    ev = evaluate(gt_dir, pred_dir, jobs=1)
    assert not ev.errors, ev.errors
    assert ev.cases[0].pred_kind == "labels"
    for col, label in enumerate(ev.labels):
        assert ev.dice[0, col] == pytest.approx(brute_dice(g, p, {label}))


@pytest.mark.parametrize("shape", [(1, 24, 20), (1, 6, 24, 20)])
def test_single_channel_sigmoid_map_is_thresholded_not_argmaxed(tmp_path, shape):
    rng = np.random.default_rng(2)
    spatial = shape[1:]
    g = (rng.random(spatial) < 0.4).astype(np.uint8)
    p = np.clip(g * 0.7 + rng.normal(0, 0.25, spatial), 0, 1).astype(np.float32)
    gt_dir, pred_dir = dirs(tmp_path)
    np.save(gt_dir / "a.npy", g)
    np.save(pred_dir / "a.npy", p.reshape(shape))
    ev = evaluate(gt_dir, pred_dir, jobs=1)
    assert ev.cases[0].pred_kind == "probability"
    want = brute_dice(g, (p >= 0.5).astype(np.uint8), {1})  # numpy's own float32 comparison
    assert 0.3 < want < 0.95
    assert ev.dice[0, 0] == pytest.approx(want)


# ---------------------------------------------------------------- 3. nnU-Net .npz axis order


@pytest.mark.parametrize("key", ["probabilities", "softmax"])  # nnU-Net v2's name, v1's (--save_npz)
@pytest.mark.parametrize("shape", [(9, 9, 9), (12, 10, 7)])
def test_nnunet_npz_is_c_z_y_x_against_a_nifti_ground_truth(tmp_path, shape, key):
    g = label_map(shape, seed=3)
    gt_dir, pred_dir = dirs(tmp_path)
    nifti(gt_dir / "case.nii.gz", g)
    onehot = np.stack([(g == c) for c in range(4)]).astype(np.float32) * 0.8 + 0.05
    # nnU-Net's SimpleITK order: (c, z, y, x), the reverse of nibabel's (x, y, z)
    np.savez_compressed(pred_dir / "case.npz", **{key: onehot.transpose(0, 3, 2, 1)})
    ev = evaluate(gt_dir, pred_dir, jobs=1)
    assert not ev.errors, ev.errors
    assert ev.cases[0].pred_kind == "softmax" and ev.cases[0].axes_reversed
    assert ev.dice[0].tolist() == [1.0, 1.0, 1.0]


def test_nnunet_2d_npz_is_c_1_h_w_against_a_png(tmp_path):
    g = label_map((18, 26), seed=4)
    gt_dir, pred_dir = dirs(tmp_path)
    png(gt_dir / "img.png", g)
    probs = np.stack([(g == c) for c in range(4)]).astype(np.float16)[:, None]  # (c, 1, H, W)
    np.savez(pred_dir / "img.npz", probabilities=probs)
    ev = evaluate(gt_dir, pred_dir, jobs=1)
    assert not ev.errors, ev.errors
    assert ev.dice[0].tolist() == [1.0, 1.0, 1.0]


# ---------------------------------------------------------------- 4. mixed formats, same voxels


def sitk_convert(src, dst):
    """Read with SimpleITK and write another format, as conversion scripts do."""
    sitk.WriteImage(sitk.ReadImage(str(src)), str(dst))


@pytest.mark.parametrize("shape", [(32, 32), (30, 44)])
def test_png_converted_to_nifti_by_simpleitk_scores_one(tmp_path, shape):
    g = label_map(shape, seed=5)
    gt_dir, pred_dir = dirs(tmp_path)
    png(gt_dir / "m.png", g)
    sitk_convert(gt_dir / "m.png", pred_dir / "m.nii.gz")
    assert nib.load(pred_dir / "m.nii.gz").shape[:2] == shape[::-1]  # NIfTI holds (x, y)
    for a, b in ((gt_dir, pred_dir), (pred_dir, gt_dir)):  # either side as ground truth
        ev = evaluate(a, b, jobs=1)
        assert not ev.errors, ev.errors
        assert ev.dice[0].tolist() == [1.0, 1.0, 1.0]
        assert any("would fit as stored" in w for w in ev.warnings) == (shape[0] == shape[1])


def test_tiff_stack_and_simpleitk_nifti_of_one_volume_score_one(tmp_path):
    vol = label_map((7, 16, 21), seed=6)  # (z, y, x) as tifffile and SimpleITK hold it
    gt_dir, pred_dir = dirs(tmp_path)
    tifffile.imwrite(gt_dir / "v.tif", vol)
    image = sitk.GetImageFromArray(vol)
    image.SetSpacing((0.5, 0.5, 2.0))
    sitk.WriteImage(image, str(pred_dir / "v.nii.gz"))
    ev = evaluate(gt_dir, pred_dir, jobs=1)
    assert not ev.errors, ev.errors
    assert ev.dice[0].tolist() == [1.0, 1.0, 1.0]
    # and the reverse, with a one-voxel error placed through nibabel's (x, y, z) view
    data = np.asarray(nib.load(pred_dir / "v.nii.gz").dataobj).copy()
    x, y, z = 3, 2, 1
    assert data[x, y, z] == vol[z, y, x]
    data[x, y, z] = 3 if data[x, y, z] != 3 else 1
    wrong = vol.copy()
    wrong[z, y, x] = data[x, y, z]
    nifti(gt_dir / "v.nii.gz", data)
    (gt_dir / "v.tif").unlink()
    tifffile.imwrite(pred_dir / "v.tif", vol)
    (pred_dir / "v.nii.gz").unlink()
    ev = evaluate(gt_dir, pred_dir, jobs=1)
    for col, label in enumerate(ev.labels):
        assert ev.dice[0, col] == pytest.approx(brute_dice(wrong, vol, {label}))


def test_every_fixture_round_trips_through_simpleitk_and_nibabel(tmp_path):
    """Demo ground truths, rewritten in the other formats by other tools, score 1.0 against themselves."""
    from pathlib import Path

    fixtures = Path(__file__).resolve().parent.parent / "fixtures"
    sources = sorted((fixtures / "png2d" / "gt").glob("*.png"))[:2] + sorted((fixtures / "nifti3d" / "gt").glob("*.nii.gz"))[:2]
    assert len(sources) == 4
    for n, src in enumerate(sources):
        ext = ".nii.gz" if src.name.endswith(".nii.gz") else src.suffix
        work = tmp_path / str(n)
        work.mkdir()
        converted = []
        if ext == ".png":
            for out in ("c.nii.gz", "c.tif"):                     # SimpleITK: PNG -> NIfTI, PNG -> TIFF
                sitk_convert(src, work / out)
                converted.append(work / out)
        else:
            data = np.asarray(nib.load(src).dataobj)              # nibabel: (x, y, z)
            tifffile.imwrite(work / "c.tif", np.ascontiguousarray(data.transpose(2, 1, 0)))  # a (z, y, x) stack
            sitk_convert(src, work / "c.nii")                     # SimpleITK: NIfTI -> NIfTI
            converted += [work / "c.tif", work / "c.nii"]
        for other in converted:
            for gt_file, pred_file in ((src, other), (other, src)):
                ev = evaluate(gt_file, pred_file, jobs=1, geometry="ignore")
                assert not ev.errors, (gt_file, pred_file, ev.errors)
                defined = ev.dice[np.isfinite(ev.dice)]
                assert defined.size and (defined == 1.0).all(), (gt_file, pred_file, ev.dice)


def test_axis_order_stored_compares_as_stored(tmp_path):
    g = label_map((20, 20), seed=7)
    gt_dir, pred_dir = dirs(tmp_path)
    png(gt_dir / "s.png", g)
    nifti(pred_dir / "s.nii.gz", g)  # a PNG array saved by nibabel without converting the axes
    lined_up = evaluate(gt_dir, pred_dir, jobs=1)
    stored = evaluate(gt_dir, pred_dir, jobs=1, axis_order="stored")
    assert stored.dice[0].tolist() == [1.0, 1.0, 1.0]
    for col, label in enumerate(lined_up.labels):
        assert lined_up.dice[0, col] == pytest.approx(brute_dice(g, g.T, {label}))
    assert any("would fit as stored too" in w for w in lined_up.warnings)  # a square image: never silent
    # not square: the shapes disagree once lined up, and the error says what to do
    png(gt_dir / "s.png", label_map((20, 24), seed=7))
    nifti(pred_dir / "s.nii.gz", label_map((20, 24), seed=7))
    bad = evaluate(gt_dir, pred_dir, jobs=1)
    assert bad.errors and "--axis-order stored" in bad.errors[0].message


# ---------------------------------------------------------------- 5. thresholds in the map's precision


def test_threshold_compares_in_the_maps_own_precision(tmp_path):
    t = 0.7
    at = np.float32(t)
    assert float(at) < t  # float32(0.7) is below the double 0.7
    below = np.nextafter(at, np.float32(0))
    values = np.array([0.1, below, at, at, np.nextafter(at, np.float32(1)), 0.9] * 4, np.float32).reshape(4, 6)
    g = np.array([0, 1, 1, 0, 1, 1] * 4, np.uint8).reshape(4, 6)
    gt_dir, pred_dir = dirs(tmp_path)
    np.save(gt_dir / "p.npy", g)
    np.save(pred_dir / "p.npy", values)
    ev = evaluate(gt_dir, pred_dir, jobs=1, threshold=t)
    reference = (values >= t).astype(np.uint8)  # numpy compares a float32 array with float32(t)
    assert reference[0].tolist() == [0, 0, 1, 1, 1, 1]
    assert ev.dice[0, 0] == pytest.approx(brute_dice(g, reference, {1}))
    image = sitk.BinaryThreshold(sitk.GetImageFromArray(values), lowerThreshold=t, upperThreshold=1.0)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(image), reference)  # SimpleITK agrees


# ---------------------------------------------------------------- 2. nnU-Net region-based outputs

DATASET = {
    "channel_names": {"0": "T1"},
    "labels": {"background": 0, "whole tumor": [1, 2, 3], "tumor core": [2, 3], "enhancing tumor": [3]},
    "regions_class_order": [1, 2, 3],
    "numTraining": 3,
    "file_ending": ".nii.gz",
}


def nnunet_paint(probs, order, cut=0.5):
    """nnU-Net's rule, voxel by voxel: regions in order, later ones paint over (here p >= cut)."""
    flat = probs.reshape(probs.shape[0], -1)
    out = []
    for v in range(flat.shape[1]):
        label = 0
        for i, c in enumerate(order):
            if flat[i, v] >= cut:
                label = c
        out.append(label)
    return np.array(out, np.uint8).reshape(probs.shape[1:])


def test_nnunet_region_channels_score_per_region(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps(DATASET))
    gt_dir, pred_dir = dirs(tmp_path)
    rng = np.random.default_rng(8)
    shape = (14, 12, 9)
    g = label_map(shape, seed=9)
    regions = {"whole tumor": {1, 2, 3}, "tumor core": {2, 3}, "enhancing tumor": {3}}
    heads = np.stack([np.isin(g, list(m)) for m in regions.values()]).astype(np.float32)
    perfect = heads * 0.9 + 0.05
    noisy = np.clip(heads * 0.8 + rng.normal(0, 0.3, heads.shape), 0, 1).astype(np.float32)
    for name, probs in (("perfect", perfect), ("noisy", noisy)):
        nifti(gt_dir / f"{name}.nii.gz", g)
        np.savez_compressed(pred_dir / f"{name}.npz", probabilities=probs.transpose(0, 3, 2, 1))
    result = run(gt_dir, pred_dir, "--label-names", tmp_path / "dataset.json", "--format", "json", "-q")
    assert result.exit_code == 0, result.stderr
    doc = strict_json(result.stdout)
    cases = {c["case"]: c for c in doc["cases"]}
    assert {c["pred_kind"] for c in cases.values()} == {"regions"}
    assert {k: v["dice"] for k, v in cases["perfect"]["classes"].items()} == dict.fromkeys(regions, 1.0)
    painted = nnunet_paint(noisy, [1, 2, 3])
    for key, members in regions.items():
        want = brute_dice(g, painted, members)
        assert 0.2 < want < 1.0
        assert cases["noisy"]["classes"][key]["dice"] == pytest.approx(want)
    # nnU-Net's own label map of the same case gives the same numbers
    nifti(pred_dir / "noisy.nii.gz", painted)
    labels = strict_json(run(gt_dir, pred_dir, "--label-names", tmp_path / "dataset.json", "--format", "json",
                             "-q").stdout)
    from_map = {c["case"]: c for c in labels["cases"]}["noisy"]
    assert from_map["pred_kind"] == "labels"
    assert from_map["classes"] == cases["noisy"]["classes"]


def test_region_channel_threshold_by_region_name(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps(DATASET))
    gt_dir, pred_dir = dirs(tmp_path)
    g = label_map((10, 10, 6), seed=10)
    rng = np.random.default_rng(11)
    probs = rng.random((3, 10, 10, 6)).astype(np.float32)
    nifti(gt_dir / "c.nii.gz", g)
    np.savez(pred_dir / "c.npz", probabilities=probs.transpose(0, 3, 2, 1))
    result = run(gt_dir, pred_dir, "--label-names", tmp_path / "dataset.json", "--threshold", "whole tumor=0.3",
                 "--format", "json", "-q")
    assert result.exit_code == 0, result.stderr
    got = strict_json(result.stdout)["cases"][0]["classes"]
    flat = probs.reshape(3, -1)
    painted = []
    for v in range(flat.shape[1]):
        label = 0
        for i, (c, cut) in enumerate(zip([1, 2, 3], [0.3, 0.5, 0.5])):
            if flat[i, v] >= np.float32(cut):
                label = c
        painted.append(label)
    painted = np.array(painted).reshape(g.shape)
    assert got["whole tumor"]["dice"] == pytest.approx(brute_dice(g, painted, {1, 2, 3}))


# ---------------------------------------------------------------- 6. nnU-Net prediction folders


def test_nnunet_prediction_folder_scores_as_it_is(tmp_path):
    gt_dir, pred_dir = dirs(tmp_path)
    g = label_map((12, 11, 5), seed=12, n_labels=2)
    p = g.copy()
    p[2:5, 2:5, :] = 0
    for case in ("c1", "c2"):
        nifti(gt_dir / f"{case}.nii.gz", g)
        nifti(pred_dir / f"{case}.nii.gz", p)
        probs = np.stack([(g == c) for c in range(3)]).astype(np.float32)
        np.savez_compressed(pred_dir / f"{case}.npz", probabilities=probs.transpose(0, 3, 2, 1))
        (pred_dir / f"{case}.pkl").write_bytes(b"\x80\x04N.")
    for name in ("dataset.json", "plans.json", "predict_from_raw_data_args.json"):
        (pred_dir / name).write_text("{}")
    result = run(gt_dir, pred_dir, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "several prediction files" in result.stderr and "c1.npz" in result.stderr
    doc = strict_json(result.stdout)
    assert [c["pred"].rsplit("/", 1)[1] for c in doc["cases"]] == ["c1.nii.gz", "c2.nii.gz"]
    assert doc["cases"][0]["classes"]["1"]["dice"] == pytest.approx(brute_dice(g, p, {1}))
    npz = strict_json(run(gt_dir, pred_dir, "--format", "json", "--pred-suffix", ".npz", "-q").stdout)
    assert [c["pred"].rsplit("/", 1)[1] for c in npz["cases"]] == ["c1.npz", "c2.npz"]
    assert npz["cases"][0]["classes"]["1"]["dice"] == 1.0


# ---------------------------------------------------------------- 7-10. keys, ignore 0, no-op options, advice


def test_gate_key_by_label_value_when_the_class_has_a_name(tmp_path, pngset):
    gt_dir, pred_dir = pngset
    named = run(gt_dir, pred_dir, "--label-names", "liver=1", "--min-dice", "1=0.0", "-q")
    assert named.exit_code == 0, named.stderr
    failing = run(gt_dir, pred_dir, "--label-names", "liver=1", "--min-dice", "1=1.0", "-q")
    assert failing.exit_code == 1 and "liver" in failing.stderr and "not in the run" not in failing.stderr


def test_ignore_label_zero_is_refused_with_the_reason(pngset):
    gt_dir, pred_dir = pngset
    result = run(gt_dir, pred_dir, "--ignore-label", "0")
    assert result.exit_code == 2
    assert "background" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_options_that_do_nothing_say_so(pngset):
    gt_dir, pred_dir = pngset
    result = run(gt_dir, pred_dir, "--threshold", "0.3", "--labels", "1,7", "--per-case", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    assert "--threshold has no effect" in result.stderr
    assert "7 given in --labels appear in no" in result.stderr
    assert "--per-case has no effect with --format csv" in result.stderr
    table = run(gt_dir, pred_dir, "-q")
    assert "no threshold" in table.stdout and "p >= 0.5" not in table.stdout


def test_per_class_threshold_a_single_map_does_not_have_warns(tmp_path):
    gt_dir, pred_dir = dirs(tmp_path)
    rng = np.random.default_rng(13)
    np.save(gt_dir / "a.npy", (rng.random((8, 8)) < 0.5).astype(np.uint8))
    np.save(pred_dir / "a.npy", rng.random((8, 8)).astype(np.float32))
    result = run(gt_dir, pred_dir, "--threshold", "0.5,2=0.6")
    assert result.exit_code == 0
    assert "class(es) 2 has no effect" in result.stderr


def test_relabelled_instance_masks_get_instance_advice_not_quantised(tmp_path):
    gt_dir, pred_dir = dirs(tmp_path)
    g = np.zeros((64, 64), np.uint16)
    for i in range(40):
        r, c = divmod(i, 8)
        g[r * 8 + 1:r * 8 + 6, c * 8 + 1:c * 8 + 6] = i + 1
    rng = np.random.default_rng(14)
    ids = rng.permutation(np.arange(1, 41)) + 100  # the same objects, other ids
    p = np.where(g > 0, np.concatenate([[0], ids])[g], 0).astype(np.uint16)
    tifffile.imwrite(gt_dir / "cells.tif", g)
    tifffile.imwrite(pred_dir / "cells.tif", p)
    result = run(gt_dir, pred_dir, "--format", "csv")
    assert "quantised" not in result.stderr
    assert "instance masks" in result.stderr


# ---------------------------------------------------------------- SPM-style scaled probability maps

def _spm_tissue_map(path, codes, analyze=False):
    """uint8 codes with scl_slope float32(1/255), as SPM writes its c1/c2/c3 tissue maps."""
    cls = nib.Spm2AnalyzeImage if analyze else nib.Nifti1Image
    img = cls(np.asarray(codes, np.uint8), np.eye(4))
    img.set_data_dtype(np.uint8)
    if analyze:
        img.header["scl_slope"] = 1 / 255  # stored as float32: 0.0039215689
    else:
        img.header.set_slope_inter(1 / 255, 0)
    nib.save(img, str(path))


@pytest.mark.parametrize("analyze", [False, True], ids=["nifti", "analyze"])
def test_spm_uint8_map_with_slope_1_over_255_is_a_probability_map(tmp_path, analyze):
    # float32(1/255) * 255 = 1.0000000591 in float64: the code 255 is p = 1 at the header's
    # precision, not a value out of [0, 1]. p = 0, 127/255, 128/255, 1 against gt 0, 1, 1, 1:
    # foreground at 0.5 is 0, 0, 1, 1, so TP 2, FP 0, FN 1, Dice 4/5.
    gt_dir, pred_dir = dirs(tmp_path)
    nifti(gt_dir / "s.nii.gz", np.array([0, 1, 1, 1], np.uint8).reshape(4, 1, 1))
    _spm_tissue_map(pred_dir / ("s.hdr" if analyze else "s.nii.gz"), np.array([0, 127, 128, 255]).reshape(4, 1, 1), analyze)
    assert np.asanyarray(nib.load(str(pred_dir / ("s.hdr" if analyze else "s.nii.gz"))).dataobj).max() > 1
    result = run(gt_dir, pred_dir, "--format", "json", "-q", "--geometry", "ignore")
    assert result.exit_code == 0, result.stderr
    case = strict_json(result.stdout)["cases"][0]
    assert case["pred_kind"] == "probability"
    assert case["classes"]["1"] == {**case["classes"]["1"], "tp": 2, "fp": 0, "fn": 1, "dice": 0.8}


def test_values_just_above_one_are_shown_with_every_digit(tmp_path):
    # An unscaled float64 map with 1.0000000591 stays an error, and the message does not say "0 to 1".
    gt_dir, pred_dir = dirs(tmp_path)
    np.save(gt_dir / "s.npy", np.array([[0, 1]], np.uint8))
    np.save(pred_dir / "s.npy", np.array([[0.25, 1.0000000591389835]]))
    result = run(gt_dir, pred_dir, "-q")
    assert result.exit_code == 3
    assert "values from 0.25 to 1.0000000591389835 are neither" in result.stderr


@pytest.mark.parametrize("t, scale, fg", [("0.2", None, 51), ("0.8", None, 204), ("0.1", "100", 10),
                                          ("0.9", "100", 90)])
def test_quantised_value_exactly_at_the_threshold_is_foreground(tmp_path, t, scale, fg):
    # uint8 p = value / 255 (or / 100): the value whose p equals the typed threshold counts.
    # gt 1 on [fg - 1, fg, fg + 1], pred values the same: foreground fg and fg + 1, so TP 2, FN 1,
    # Dice 4/5 (it was 2/4 when fg itself fell below the cut).
    gt_dir, pred_dir = dirs(tmp_path)
    png(gt_dir / "q.png", np.array([[0, 1, 1, 1]]))
    png(pred_dir / "q.png", np.array([[0, fg - 1, fg, fg + 1]]))
    extra = ["--prob-scale", scale] if scale else ["--pred-kind", "prob"]
    result = run(gt_dir, pred_dir, "--threshold", t, *extra, "--format", "json", "-q")
    assert result.exit_code == 0, result.stderr
    got = strict_json(result.stdout)["cases"][0]["classes"]["1"]
    assert (got["tp"], got["fp"], got["fn"], got["dice"]) == (2, 0, 1, 0.8)


# ---------------------------------------------------------------- SimpleITK vector images


def softmax_zyxc(g_zyx, n_classes, seed):
    """Noisy class probabilities (z, y, x, c), float32, whose argmax is not always ``g_zyx``."""
    rng = np.random.default_rng(seed)
    p = rng.random((*g_zyx.shape, n_classes)).astype(np.float32)
    p[..., :][np.arange(n_classes) == g_zyx[..., None]] += 0.6
    return p / p.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("ext", [".mha", ".nrrd"])
@pytest.mark.parametrize("gt_format", ["nifti", "mha"])
def test_a_float_vector_image_is_a_channel_map_with_channels_last(tmp_path, ext, gt_format):
    g = label_map((7, 11, 13), seed=11)  # (z, y, x), as SimpleITK holds it
    probs = softmax_zyxc(g, 4, seed=12)
    gt_dir, pred_dir = dirs(tmp_path)
    if gt_format == "nifti":
        nifti(gt_dir / "case.nii.gz", g.transpose(2, 1, 0))  # nibabel: (x, y, z)
        reference = sitk.ReadImage(str(gt_dir / "case.nii.gz"))  # a pipeline keeps the input's geometry
    else:
        reference = sitk.GetImageFromArray(g)
        sitk.WriteImage(reference, str(gt_dir / "case.mha"))
    image = sitk.GetImageFromArray(probs, isVector=True)
    image.CopyInformation(reference)
    sitk.WriteImage(image, str(pred_dir / f"case{ext}"), True)
    argmax = probs.argmax(axis=-1)  # the brute-force reference: ties are impossible with random floats
    ev = evaluate(gt_dir, pred_dir, jobs=1)
    assert not ev.errors, ev.errors
    assert ev.cases[0].pred_kind == "softmax"
    expected = [brute_dice(g, argmax, {c}) for c in (1, 2, 3)]
    assert ev.dice[0].tolist() == pytest.approx(expected, abs=1e-15)
    assert min(expected) < 1.0  # the noise moved some voxels: a transpose or a wrong channel would show


def test_an_integer_vector_image_is_refused_as_layers_or_colour(tmp_path):
    g = label_map((5, 9, 8), seed=13)
    gt_dir, pred_dir = dirs(tmp_path)
    sitk.WriteImage(sitk.GetImageFromArray(g), str(gt_dir / "case.nrrd"))
    layers = np.stack([g == 1, g == 2], axis=-1).astype(np.uint8)  # a layered .seg.nrrd
    sitk.WriteImage(sitk.GetImageFromArray(layers, isVector=True), str(pred_dir / "case.nrrd"))
    ev = evaluate(gt_dir, pred_dir, jobs=1)
    assert len(ev.errors) == 1 and "2 integer values per voxel" in ev.errors[0].message
