"""Object matching: hand-drawn cases, then differential tests against an independent brute-force
reference (IoU by loops over every pair, every one-to-one matching enumerated or solved with
scipy's linear_sum_assignment) and against StarDist's ``matching`` when it is installed."""

import itertools
import math
import zlib

import numpy as np
import pytest

from dicecli.core.objects import match, match_pairs, object_overlaps, object_scores


def scores_of(gt, pred, threshold=0.5, empty_both="nan"):
    gt, pred = np.asarray(gt), np.asarray(pred)
    o = object_overlaps(gt, pred)
    m = match(o, threshold)
    s = object_scores(len(o.gt_ids), len(o.pred_ids), m.tp, m.iou_sum, empty_both=empty_both)
    out = {k: (None if math.isnan(v) else float(v)) for k, v in s.items()}
    out.update(tp=m.tp, fp=len(o.pred_ids) - m.tp, fn=len(o.gt_ids) - m.tp, iou_sum=m.iou_sum)
    return out


# ---------------------------------------------------------------------------------------------
# Hand-drawn cases (values computed by hand in the comments)
# ---------------------------------------------------------------------------------------------


def test_relabelled_ids_match_perfectly():
    gt = [[1, 1, 0, 2], [1, 1, 0, 2]]
    pred = [[40, 40, 0, 7], [40, 40, 0, 7]]  # same objects, unrelated ids
    s = scores_of(gt, pred)
    assert (s["tp"], s["fp"], s["fn"]) == (2, 0, 0)
    assert s["f1"] == s["precision"] == s["recall"] == s["pq"] == s["sq"] == s["rq"] == 1.0


def test_split_object_exactly_in_halves():
    # gt: one object of 4 px; pred: two halves of 2 px, each IoU 2/4 = 0.5
    gt = [[1, 1, 1, 1]]
    pred = [[5, 5, 6, 6]]
    s = scores_of(gt, pred, 0.5)  # IoU >= 0.5: one half matches (either gives the same scores)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 0)
    assert s["precision"] == 0.5 and s["recall"] == 1.0 and s["f1"] == 2 / 3
    assert s["sq"] == 0.5 and s["pq"] == pytest.approx(0.5 / (1 + 0.5))
    s = scores_of(gt, pred, 0.75)
    assert (s["tp"], s["fp"], s["fn"]) == (0, 2, 1) and s["f1"] == 0.0 and s["pq"] == 0.0
    assert s["sq"] is None  # no match: mean matched IoU undefined


def test_merged_objects():
    # gt: two objects of 2 px; pred: one object over both, IoU 2/4 each
    s = scores_of([[1, 1, 2, 2]], [[7, 7, 7, 7]], 0.5)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 1)
    s = scores_of([[1, 1, 2, 2, 2]], [[7, 7, 7, 7, 7]], 0.5)  # IoU 2/5 and 3/5: the larger matches
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 1) and s["iou_sum"] == pytest.approx(3 / 5)


def test_touching_objects_kept_apart_by_their_ids():
    gt = [[1, 1, 2, 2], [1, 1, 2, 2]]
    pred = [[9, 9, 9, 3], [9, 9, 3, 3]]  # object 9 takes one px of gt 2: IoU 4/5 and 3/4
    s = scores_of(gt, pred)
    assert (s["tp"], s["fp"], s["fn"]) == (2, 0, 0)
    assert s["sq"] == pytest.approx((4 / 5 + 3 / 4) / 2) and s["pq"] == pytest.approx((4 / 5 + 3 / 4) / 2)


def test_missed_object_and_false_positive():
    gt = [[1, 1, 0, 0, 2, 2]]
    pred = [[1, 1, 0, 3, 0, 0]]  # gt 2 missed, pred 3 touches nothing
    s = scores_of(gt, pred)
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 1)
    assert s["precision"] == 0.5 and s["recall"] == 0.5 and s["f1"] == 0.5
    assert s["pq"] == pytest.approx(1.0 / (1 + 0.5 + 0.5))


def test_no_ground_truth_object_and_no_prediction():
    s = scores_of([[0, 0, 0]], [[0, 4, 4]])  # only a false positive
    assert s["recall"] is None and s["precision"] == 0.0 and s["f1"] == 0.0 and s["pq"] == 0.0
    s = scores_of([[0, 4, 4]], [[0, 0, 0]])  # only a missed object
    assert s["precision"] is None and s["recall"] == 0.0 and s["f1"] == 0.0 and s["pq"] == 0.0


def test_both_empty_follows_the_empty_rule():
    s = scores_of(np.zeros((2, 2), int), np.zeros((2, 2), int))
    assert all(s[k] is None for k in ("precision", "recall", "f1", "pq", "sq", "rq", "mean_matched_iou"))
    assert scores_of(np.zeros((2, 2), int), np.zeros((2, 2), int), empty_both="one")["f1"] == 1.0
    assert scores_of(np.zeros((2, 2), int), np.zeros((2, 2), int), empty_both="zero")["pq"] == 0.0


def test_below_half_the_most_pairs_win_over_the_largest_single_iou():
    # gt A (3 px) overlaps pred X (IoU 2/4) and pred Y (IoU 1/3); gt B (1 px) overlaps only X (IoU 1/4).
    # At t = 0.25 A-X alone would have the largest IoU, but A-Y + B-X match two pairs.
    gt = [[1, 1, 1, 2]]
    pred = [[5, 6, 6, 6]]
    o = object_overlaps(np.asarray(gt), np.asarray(pred))
    iou = dict(zip(zip(o.gt_ids[o.pair_gt].tolist(), o.pred_ids[o.pair_pred].tolist()), o.iou.tolist()))
    assert iou == {(1, 5): 1 / 3, (1, 6): 2 / 4, (2, 6): 1 / 3}
    s = scores_of(gt, pred, 0.25)
    assert s["tp"] == 2 and s["iou_sum"] == pytest.approx(1 / 3 + 1 / 3)
    assert scores_of(gt, pred, 0.4)["tp"] == 1


def test_3d_and_dtypes():
    gt = np.zeros((2, 3, 3), np.uint32)
    gt[0, :2, :2] = 70000  # ids beyond uint16
    pred = np.zeros((2, 3, 3), np.int16)
    pred[0, :2, :2] = 3
    pred[1, 2, 2] = 4
    s = scores_of(np.asfortranarray(gt), np.asfortranarray(pred))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 0) and s["sq"] == 1.0
    assert scores_of(gt.astype(bool), pred.astype(bool))["tp"] == 1  # bool masks: one object each


def test_threshold_outside_zero_one_is_refused():
    o = object_overlaps(np.ones((2, 2), int), np.ones((2, 2), int))
    with pytest.raises(ValueError):
        match_pairs(o, 0.0)


# ---------------------------------------------------------------------------------------------
# Differential: an independent brute-force reference
# ---------------------------------------------------------------------------------------------


def reference(gt, pred, threshold):
    """tp and matched IoU sum by the rule, from scratch: IoU of every (gt, pred) object pair by
    loops over ids, then the matching with the most pairs and, among those, the largest IoU sum."""
    from scipy.optimize import linear_sum_assignment

    g_ids = [int(v) for v in np.unique(gt) if v != 0]
    p_ids = [int(v) for v in np.unique(pred) if v != 0]
    iou = np.zeros((len(g_ids), len(p_ids)))
    for i, a in enumerate(g_ids):
        ga = gt == a
        for j, b in enumerate(p_ids):
            pb = pred == b
            inter = int(np.logical_and(ga, pb).sum())
            iou[i, j] = inter / int(np.logical_or(ga, pb).sum())
    ok = iou >= threshold
    n, m = iou.shape
    if n == 0 or m == 0 or not ok.any():
        return len(g_ids), len(p_ids), 0, 0.0
    if min(n, m) <= 4 and max(n, m) <= 7:  # enumerate every one-to-one matching
        best = (0, 0.0)
        rows, cols = (range(n), range(m)) if n <= m else (range(m), range(n))
        for k in range(len(rows), 0, -1):
            for chosen_rows in itertools.combinations(rows, k):
                for chosen_cols in itertools.permutations(cols, k):
                    pairs = list(zip(chosen_rows, chosen_cols)) if n <= m else [(c, r) for r, c in
                                                                                zip(chosen_rows, chosen_cols)]
                    if all(ok[i, j] for i, j in pairs):
                        best = max(best, (k, sum(iou[i, j] for i, j in pairs)))
            if best[0]:
                break
        return n, m, best[0], best[1]
    weight = np.where(ok, (min(n, m) + 1) + iou, 0.0)
    r, c = linear_sum_assignment(-weight)
    keep = ok[r, c]
    return n, m, int(keep.sum()), float(iou[r, c][keep].sum())


def random_instances(rng, shape, n_objects, max_id):
    """Random boxes painted over each other with random ids (later boxes cover earlier ones)."""
    out = np.zeros(shape, np.int64)
    for _ in range(n_objects):
        lo = [int(rng.integers(0, s)) for s in shape]
        hi = [min(s, a + int(rng.integers(1, 5))) for a, s in zip(lo, shape)]
        out[tuple(slice(a, b) for a, b in zip(lo, hi))] = int(rng.integers(1, max_id))
    return out


def perturbed(rng, gt, max_id):
    """A prediction: the gt's ids permuted, shifted by up to one voxel, plus extra boxes."""
    ids = np.unique(gt)
    perm = np.zeros(int(gt.max()) + 1, np.int64)
    perm[ids[ids != 0]] = rng.choice(np.arange(1, max_id), size=int((ids != 0).sum()), replace=False)
    out = np.roll(perm[gt], tuple(int(v) for v in rng.integers(-1, 2, gt.ndim)), axis=tuple(range(gt.ndim)))
    extra = random_instances(rng, gt.shape, int(rng.integers(0, 3)), max_id)
    return np.where(extra != 0, extra, out)


@pytest.mark.parametrize("shape", [(12, 14), (6, 7, 8)], ids=["2d", "3d"])
@pytest.mark.parametrize("threshold", [0.1, 0.25, 0.3, 0.5, 0.7, 0.9])
def test_matches_brute_force_reference(shape, threshold):
    rng = np.random.default_rng(zlib.crc32(repr((shape, threshold)).encode()))
    for _ in range(40):
        gt = random_instances(rng, shape, int(rng.integers(0, 9)), 60)
        pred = perturbed(rng, gt, 60)
        o = object_overlaps(gt.astype(np.uint16), pred.astype(np.uint16))
        m = match(o, threshold)
        n_gt, n_pred, tp, iou_sum = reference(gt, pred, threshold)
        assert (len(o.gt_ids), len(o.pred_ids), m.tp) == (n_gt, n_pred, tp)
        assert abs(m.iou_sum - iou_sum) <= 1e-9


def test_overlap_table_matches_loops():
    rng = np.random.default_rng(3)
    gt = random_instances(rng, (9, 10, 11), 12, 5000)
    pred = perturbed(rng, gt, 5000)
    o = object_overlaps(gt.astype(np.uint16), pred.astype(np.uint16))
    got = {(int(o.gt_ids[i]), int(o.pred_ids[j])): int(n) for i, j, n in zip(o.pair_gt, o.pair_pred, o.pair_voxels)}
    want = {}
    for a, b in zip(gt.ravel().tolist(), pred.ravel().tolist()):
        if a and b:
            want[(a, b)] = want.get((a, b), 0) + 1
    assert got == want
    assert dict(zip(o.gt_ids.tolist(), o.gt_sizes.tolist())) == {int(v): int((gt == v).sum())
                                                                 for v in np.unique(gt) if v}


# ---------------------------------------------------------------------------------------------
# Differential: StarDist's matching (stardist.matching, numpy/numba/scipy; no TensorFlow)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(16, 18), (7, 8, 9)], ids=["2d", "3d"])
@pytest.mark.parametrize("threshold", [0.25, 0.5, 0.75, 0.875])
def test_matches_stardist(shape, threshold):
    """Thresholds exactly representable in float32: StarDist computes IoU in float32, so its IoU
    sums agree to float32 precision (1e-6) and its matches exactly. StarDist gives 0 where a
    ratio is undefined; those are compared as None here."""
    stardist = pytest.importorskip("stardist.matching")
    rng = np.random.default_rng(zlib.crc32(repr((shape, threshold, "sd")).encode()))
    for _ in range(30):
        gt = random_instances(rng, shape, int(rng.integers(1, 10)), 300).astype(np.uint16)
        pred = perturbed(rng, gt, 300).astype(np.uint16)
        want = stardist.matching(gt, pred, thresh=threshold)
        got = scores_of(gt, pred, threshold)
        assert (got["tp"], got["fp"], got["fn"]) == (want.tp, want.fp, want.fn)
        for ours, theirs in (("precision", "precision"), ("recall", "recall"), ("f1", "f1"),
                             ("mean_matched_iou", "mean_matched_score"), ("pq", "panoptic_quality")):
            assert (got[ours] or 0.0) == pytest.approx(float(getattr(want, theirs)), abs=1e-6)
