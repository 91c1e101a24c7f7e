"""Connected components, dilation and lesion-wise Dice: hand-drawn cases, and differential tests
against scipy.ndimage and an independent per-lesion reference written from the BraTS 2023
definition (one lesion at a time, with scipy's dilation and labelling)."""

import zlib

import numpy as np
import pytest
from scipy import ndimage

from dicecli.components import dilate, label_components, lesion_counts


def lesion_dice(counts, empty=np.nan):
    n = counts["n_lesions"] + counts["n_fp"]
    return counts["dice_sum"] / n if n else empty


# ---------------------------------------------------------------------------------------------
# Components and dilation
# ---------------------------------------------------------------------------------------------


def test_face_and_full_connectivity_2d():
    mask = np.array([[1, 0, 0],
                     [0, 1, 0],
                     [0, 0, 2]])
    comps, classes = label_components(mask, connectivity="face")
    assert comps.max() == 3 and sorted(classes[1:].tolist()) == [1, 1, 2]
    comps, classes = label_components(mask, connectivity="full")
    assert comps.max() == 2 and sorted(classes[1:].tolist()) == [1, 2]  # label 2 never joins label 1
    assert label_components(np.zeros((3, 3), int))[1].tolist() == [0]


def test_read_only_and_fortran_maps():
    labels = np.asfortranarray(np.array([[[1, 0], [0, 1]], [[0, 0], [2, 2]]], np.uint8))
    labels.flags.writeable = False  # as a memory-mapped or decoded-once reader array
    comps, classes = label_components(labels, connectivity="face")
    assert comps.max() == 3 and sorted(classes[1:].tolist()) == [1, 1, 2]


@pytest.mark.parametrize("connectivity", ["face", "full"])
@pytest.mark.parametrize("shape", [(20, 23), (9, 10, 11)], ids=["2d", "3d"])
def test_components_partition_equals_scipy_per_label(connectivity, shape):
    rng = np.random.default_rng(zlib.crc32(repr((connectivity, shape)).encode()))
    labels = rng.integers(0, 4, shape) * (rng.uniform(size=shape) < 0.5)
    comps, classes = label_components(labels, connectivity=connectivity)
    structure = ndimage.generate_binary_structure(len(shape), 1 if connectivity == "face" else len(shape))
    for value in (1, 2, 3):
        ref, n = ndimage.label(labels == value, structure=structure)
        ours = comps[labels == value]
        assert set(np.unique(classes[ours]).tolist()) == {value}
        pairs = set(zip(ref[labels == value].tolist(), ours.tolist()))
        assert len(pairs) == n == len(set(ours.tolist()))  # the same partition, ids aside


@pytest.mark.parametrize("iterations", [1, 2, 3])
@pytest.mark.parametrize("shape", [(15, 17), (8, 9, 10)], ids=["2d", "3d"])
def test_dilation_equals_scipy(iterations, shape):
    rng = np.random.default_rng(zlib.crc32(repr((iterations, shape)).encode()))
    structure = ndimage.generate_binary_structure(len(shape), 2)
    for density in (0.0, 0.01, 0.05, 0.3):
        mask = rng.uniform(size=shape) < density
        want = ndimage.binary_dilation(mask, structure=structure, iterations=iterations)
        assert np.array_equal(dilate(mask, iterations), want)


# ---------------------------------------------------------------------------------------------
# Lesion-wise Dice, by hand
# ---------------------------------------------------------------------------------------------


def test_lesion_wise_by_hand():
    gt = np.zeros((1, 12), bool)
    pred = np.zeros((1, 12), bool)
    gt[0, 0:4] = True        # lesion A, 4 px; pred covers 2 of them -> Dice 2*2/(4+2) = 2/3
    pred[0, 2:4] = True
    gt[0, 6:8] = True        # lesion B, 2 px, missed -> 0
    pred[0, 10:12] = True    # a false positive -> 0
    c = lesion_counts(gt, pred)
    assert c == {"n_lesions": 2, "n_detected": 1, "n_fp": 1, "n_small": 0, "dice_sum": pytest.approx(2 / 3)}
    assert lesion_dice(c) == pytest.approx((2 / 3) / 3)


def test_dilation_merges_close_lesions_and_catches_near_predictions():
    gt = np.zeros((1, 9), bool)
    gt[0, [0, 1, 3, 4]] = True  # two gt components one voxel apart
    pred = np.zeros((1, 9), bool)
    pred[0, 6] = True           # near, not overlapping: matched only through the dilation
    c0 = lesion_counts(gt, pred)
    assert (c0["n_lesions"], c0["n_detected"], c0["n_fp"]) == (2, 0, 1)
    c1 = lesion_counts(gt, pred, dilation=2)
    # one merged lesion of 4 px; its dilation (cols 0..6) reaches the prediction: Dice 0/(4+1) = 0
    assert (c1["n_lesions"], c1["n_detected"], c1["n_fp"], c1["dice_sum"]) == (1, 1, 0, 0.0)


def test_small_lesions_left_out_and_their_matches_are_not_false_positives():
    gt = np.zeros((4, 8), bool)
    pred = np.zeros((4, 8), bool)
    gt[0:2, 0:2] = True         # 4 voxels of 2 mm3 = 8 mm3: kept when min volume < 8
    pred[0:2, 0:2] = True
    gt[3, 6] = True             # 1 voxel = 2 mm3: small
    pred[3, 6:8] = True
    c = lesion_counts(gt, pred, voxel_volume=2.0, min_volume=2.0)
    assert (c["n_lesions"], c["n_small"], c["n_fp"], c["dice_sum"]) == (1, 1, 0, 1.0)
    c = lesion_counts(gt, pred, voxel_volume=2.0, min_volume=8.0)  # "<= min volume" is left out
    assert (c["n_lesions"], c["n_small"], c["n_fp"]) == (0, 2, 0) and np.isnan(lesion_dice(c))


def test_one_prediction_over_two_lesions_counts_for_both():
    gt = np.zeros((1, 7), bool)
    gt[0, [0, 1, 5, 6]] = True
    pred = np.zeros((1, 7), bool)
    pred[0, 1:6] = True  # touches both lesions: each is compared with the whole component (5 px)
    c = lesion_counts(gt, pred)
    assert c["n_lesions"] == 2 and c["n_detected"] == 2 and c["n_fp"] == 0
    assert c["dice_sum"] == pytest.approx(2 * (2 * 1 / (2 + 5)))


def test_both_empty():
    c = lesion_counts(np.zeros((3, 3), bool), np.zeros((3, 3), bool), dilation=2)
    assert c == {"n_lesions": 0, "n_detected": 0, "n_fp": 0, "n_small": 0, "dice_sum": 0.0}


# ---------------------------------------------------------------------------------------------
# Lesion-wise Dice, differential
# ---------------------------------------------------------------------------------------------


def reference(gt, pred, dilation, voxel_volume, min_volume):
    """The BraTS 2023 procedure one lesion at a time with scipy: merge gt components whose
    dilations touch, dilate each merged lesion on its own, collect the predicted components it
    overlaps, Dice against their union; unmatched predicted components are false positives."""
    full = ndimage.generate_binary_structure(gt.ndim, gt.ndim)
    grow = ndimage.generate_binary_structure(gt.ndim, 2)
    reach = ndimage.binary_dilation(gt, structure=grow, iterations=dilation) if dilation else gt
    merged, n = ndimage.label(reach, structure=full)
    parts, n_parts = ndimage.label(pred, structure=full)
    total, count, seen = 0.0, 0, set()
    for k in range(1, n + 1):
        lesion = gt & (merged == k)
        around = ndimage.binary_dilation(lesion, structure=grow, iterations=dilation) if dilation else lesion
        hit = set(np.unique(parts[around]).tolist()) - {0}
        seen |= hit
        union = np.isin(parts, list(hit)) if hit else np.zeros_like(pred)
        if lesion.sum() * voxel_volume > min_volume:
            total += 2 * (lesion & union).sum() / (lesion.sum() + union.sum())
            count += 1
    fp = n_parts - len(seen)
    return total / (count + fp) if count + fp else np.nan


@pytest.mark.parametrize("dilation", [0, 1, 3])
@pytest.mark.parametrize("shape", [(24, 26), (10, 11, 12)], ids=["2d", "3d"])
def test_lesion_wise_matches_reference(dilation, shape):
    rng = np.random.default_rng(zlib.crc32(repr((dilation, shape)).encode()))
    for _ in range(12):
        gt = ndimage.binary_opening(rng.uniform(size=shape) < 0.25) | (rng.uniform(size=shape) < 0.01)
        pred = np.roll(gt, 1, axis=0) & (rng.uniform(size=shape) < 0.9) | (rng.uniform(size=shape) < 0.01)
        volume, threshold = float(rng.choice([1.0, 0.5])), float(rng.choice([0.0, 2.0]))
        want = reference(gt, pred, dilation, volume, threshold)
        got = lesion_dice(lesion_counts(gt, pred, dilation=dilation, voxel_volume=volume, min_volume=threshold))
        assert (np.isnan(want) and np.isnan(got)) or abs(got - want) <= 1e-9
