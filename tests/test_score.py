"""Counts and Dice on tiny hand-drawn arrays; expected values computed by hand."""

import numpy as np
import pytest

from dicecli.core.score import CHUNK_VOXELS, count_labels, dice, statuses


def counts_dict(c):
    return {int(l): (int(t), int(p), int(n)) for l, t, p, n in zip(c.labels, c.tp, c.fp, c.fn)}


def test_counts_by_hand_2d():
    gt = np.array([[0, 1, 1],
                   [0, 2, 2],
                   [0, 0, 2]], dtype=np.uint8)
    pred = np.array([[1, 1, 0],
                     [0, 2, 0],
                     [0, 2, 2]], dtype=np.uint8)
    # label 1: gt {(0,1),(0,2)}, pred {(0,0),(0,1)} -> tp 1, fp 1, fn 1
    # label 2: gt {(1,1),(1,2),(2,2)}, pred {(1,1),(2,1),(2,2)} -> tp 2, fp 1, fn 1
    # label 0: gt {(0,0),(1,0),(2,0),(2,1)}, pred {(0,2),(1,0),(1,2),(2,0)} -> tp 2, fp 2, fn 2
    c = count_labels(gt, pred)
    assert counts_dict(c) == {0: (2, 2, 2), 1: (1, 1, 1), 2: (2, 1, 1)}
    assert c.n_voxels == 9
    d = dice(c.tp, c.fp, c.fn)
    np.testing.assert_allclose(d, [4 / 8, 2 / 4, 4 / 6])


def test_label_absent_from_one_side():
    gt = np.array([0, 3, 3, 0], dtype=np.uint8)
    pred = np.array([5, 0, 0, 0], dtype=np.uint8)
    c = count_labels(gt, pred)
    assert counts_dict(c) == {0: (1, 2, 1), 3: (0, 0, 2), 5: (0, 1, 0)}
    assert list(statuses(c.tp, c.fp, c.fn)) == ["ok", "pred_empty", "gt_empty"]


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.uint32, np.int64])
def test_large_label_values_and_many_labels(dtype):
    rng = np.random.default_rng(0)
    values = np.array([0, 7, 300, 301, 4000, 65535 if dtype == np.uint16 else 2_000_000], dtype=dtype)
    gt = rng.choice(values, size=(17, 13, 5)).astype(dtype)
    pred = np.where(rng.random(gt.shape) < 0.3, rng.choice(values, size=gt.shape), gt).astype(dtype)
    c = count_labels(gt, pred)
    g, p = gt.ravel().tolist(), pred.ravel().tolist()
    for label in values.tolist():
        tp = sum(1 for a, b in zip(g, p) if a == label and b == label)
        fp = sum(1 for a, b in zip(g, p) if a != label and b == label)
        fn = sum(1 for a, b in zip(g, p) if a == label and b != label)
        assert counts_dict(c).get(label, (0, 0, 0)) == (tp, fp, fn)


def test_chunk_boundaries_and_fortran_order():
    rng = np.random.default_rng(1)
    n = CHUNK_VOXELS + 12345
    gt = rng.integers(0, 4, size=n, dtype=np.uint8)
    pred = rng.integers(0, 4, size=n, dtype=np.uint8)
    c = count_labels(gt, pred)
    for label in range(4):
        tp = int(np.sum((gt == label) & (pred == label)))
        assert counts_dict(c)[label] == (tp, int(np.sum(pred == label)) - tp, int(np.sum(gt == label)) - tp)
    # Same voxels in Fortran order on both sides, and mixed orders, give the same counts.
    g3 = np.asfortranarray(gt[: 60 * 50 * 40].reshape(60, 50, 40))
    p3 = np.asfortranarray(pred[: 60 * 50 * 40].reshape(60, 50, 40))
    expected = counts_dict(count_labels(np.ascontiguousarray(g3), np.ascontiguousarray(p3)))
    assert counts_dict(count_labels(g3, p3)) == expected
    assert counts_dict(count_labels(g3, np.ascontiguousarray(p3))) == expected


def test_bool_masks_and_empty_arrays():
    gt = np.array([True, True, False])
    pred = np.array([True, False, False])
    assert counts_dict(count_labels(gt, pred)) == {0: (1, 1, 0), 1: (1, 0, 1)}
    c = count_labels(np.zeros(0, np.uint8), np.zeros(0, np.uint8))
    assert c.n_voxels == 0 and len(c.labels) == 0


@pytest.mark.parametrize("fill", ["noise", "regions"])
def test_counting_memory_is_chunk_bounded(fill):
    """Temporaries are bounded by the chunk size, not the volume: no full-size wide copy."""
    import tracemalloc

    rng = np.random.default_rng(5)
    peaks = []
    for n_voxels in (8 * CHUNK_VOXELS, 16 * CHUNK_VOXELS):
        if fill == "noise":  # worst case: every word mixed, every voxel counted one by one
            gt = rng.integers(0, 7, size=n_voxels, dtype=np.uint8)
            pred = rng.integers(0, 7, size=n_voxels, dtype=np.uint8)
        else:
            gt = np.zeros(n_voxels, dtype=np.uint8)
            gt[n_voxels // 3: n_voxels // 2] = 3
            pred = np.roll(gt, 1000)
        tracemalloc.start()
        count_labels(gt, pred)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # a uint8 volume of 16 chunks is 32 MiB; an int64 copy of it would be 256 MiB
    assert peaks[1] < 16 * CHUNK_VOXELS  # 32 MiB: about one int64 chunk plus narrow ones
    assert peaks[1] < 1.25 * peaks[0] + (1 << 20)


def test_dice_formula_and_empty_rules():
    tp, fp, fn = np.array([3, 0, 0, 0]), np.array([1, 0, 2, 0]), np.array([2, 0, 0, 4])
    np.testing.assert_allclose(dice(tp, fp, fn)[[0, 2, 3]], [6 / 9, 0.0, 0.0])
    assert np.isnan(dice(tp, fp, fn)[1])
    assert dice(tp, fp, fn, empty_both="one")[1] == 1.0
    assert dice(tp, fp, fn, empty_both="zero")[1] == 0.0
    # smoothing: (2TP + s) / (2TP + FP + FN + s); both-empty still follows the empty rule
    s = dice(tp, fp, fn, smooth=1.0)
    np.testing.assert_allclose(s[[0, 2, 3]], [7 / 10, 1 / 3, 1 / 5])
    assert np.isnan(s[1])
    with pytest.raises(ValueError):
        dice(tp, fp, fn, empty_both="maybe")


def test_select_fills_absent_labels_with_zero():
    c = count_labels(np.array([0, 2, 2], np.uint8), np.array([0, 2, 0], np.uint8))
    tp, fp, fn = c.select(np.array([1, 2, 9]))
    assert tp.tolist() == [0, 1, 0] and fp.tolist() == [0, 0, 0] and fn.tolist() == [0, 1, 0]


def brute_counts(gt, pred):
    """Reference counts with one boolean comparison per label (independent of count_labels)."""
    out = {}
    for label in np.union1d(np.unique(gt), np.unique(pred)).tolist():
        g, p = gt == label, pred == label
        out[int(label)] = (int(np.sum(g & p)), int(np.sum(~g & p)), int(np.sum(g & ~p)))
    return out


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32])
def test_sparse_large_volume_skips_background_exactly(dtype):
    gt = np.zeros((130, 120, 45), dtype=np.uint8)
    gt[30:60, 40:70, 10:20] = 1
    gt[90:95, 5:9, 30:33] = 2
    pred = np.roll(gt, 2, axis=0)
    pred[100, 100, 40] = 3  # a lone false positive
    gt[-1, -1, -1] = 4  # a label in the very last voxel (ragged tail / last word)
    if dtype == np.float32:
        pred = pred.astype(np.float32)
        from dicecli.core.interpret import to_labels
        pred = to_labels(pred, threshold=0.5, allow_probability=True)[0]
    else:
        gt, pred = gt.astype(dtype), pred.astype(dtype)
    assert counts_dict(count_labels(gt, pred)) == brute_counts(gt, pred)
    assert counts_dict(count_labels(np.asfortranarray(gt), np.asfortranarray(pred))) == brute_counts(gt, pred)


def test_foreground_without_background_in_active_words():
    gt = np.zeros(1 << 20, dtype=np.uint8)
    gt[800:864] = 5  # eight whole 8-byte words, no zero inside them
    assert counts_dict(count_labels(gt, gt.copy())) == {0: ((1 << 20) - 64, 0, 0), 5: (64, 0, 0)}
    assert counts_dict(count_labels(np.zeros(1 << 20, np.uint8), np.zeros(1 << 20, np.uint8))) == {0: (1 << 20, 0, 0)}


def test_mixed_dtypes_between_gt_and_pred():
    gt = np.zeros((200, 400), dtype=np.uint8)
    gt[10:20, 10:30] = 1
    pred = np.zeros((200, 400), dtype=np.uint16)
    pred[12:22, 10:30] = 1
    pred[50, 50] = 700
    assert counts_dict(count_labels(gt, pred)) == brute_counts(gt.astype(np.int64), pred.astype(np.int64))


def test_uint8_labels_first_met_late_and_in_the_tail():
    # uint8 counts grow their table as labels appear: here label 9 first shows up in the third
    # chunk, label 250 only in the last 5 voxels (after the 8-byte words), 3 only in the prediction.
    n = 2 * CHUNK_VOXELS + 8 * 1000 + 5
    gt = np.zeros(n, np.uint8)
    pred = np.zeros(n, np.uint8)
    gt[100:200] = 1
    pred[150:260] = 1
    pred[CHUNK_VOXELS + 7] = 3
    gt[2 * CHUNK_VOXELS + 40: 2 * CHUNK_VOXELS + 90] = 9
    pred[2 * CHUNK_VOXELS + 64: 2 * CHUNK_VOXELS + 120] = 9
    gt[-5:] = [250, 250, 0, 9, 1]
    pred[-5:] = [250, 0, 250, 9, 2]
    counts = count_labels(gt, pred)
    expected = brute_counts(gt, pred)
    assert counts.labels.tolist() == sorted(expected)
    for i, label in enumerate(counts.labels):
        assert (counts.tp[i], counts.fp[i], counts.fn[i]) == expected[int(label)], label
    rows, cols, cells = counts.joint
    assert int(cells.sum()) == n
    assert {(int(r), int(c)) for r, c in zip(rows, cols)} >= {(0, 3), (9, 9), (250, 0), (0, 250), (1, 2)}
