"""The ignore label: voxels whose ground truth is V leave every count (brute force as reference)."""

import numpy as np
import pytest

from dicecli.core.score import count_labels


def brute(gt, pred, ignore):
    """Per-label (tp, fp, fn) over the voxels where gt != ignore, by a plain loop."""
    out = {}
    for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist()):
        if g == ignore:
            continue
        for label in {g, p}:
            out.setdefault(label, [0, 0, 0])
        if g == p:
            out[g][0] += 1
        else:
            out[p][1] += 1
            out[g][2] += 1
    return {k: tuple(v) for k, v in out.items() if any(v)}


def as_dict(c):
    return {int(l): (int(t), int(p), int(n)) for l, t, p, n in zip(c.labels, c.tp, c.fp, c.fn)
            if (t, p, n) != (0, 0, 0)}


def test_by_hand():
    gt = np.array([0, 1, 1, 4, 4, 2], np.uint8)
    pred = np.array([4, 1, 4, 1, 4, 0], np.uint8)
    # voxels 3 and 4 (gt 4) leave; pred 4 at voxel 0 (gt 0) is a miss of 0, at voxel 2 a miss of 1.
    c = count_labels(gt, pred, ignore=4)
    assert as_dict(c) == {0: (0, 1, 1), 1: (1, 0, 1), 2: (0, 0, 1), 4: (0, 2, 0)}
    assert c.n_voxels == 4 and c.n_ignored == 2
    # the joint cells no longer hold the ignored row
    cells = {(int(a), int(b)): int(n) for a, b, n in zip(*c.joint)}
    assert cells == {(0, 4): 1, (1, 1): 1, (1, 4): 1, (2, 0): 1}


@pytest.mark.parametrize("values", [
    [0, 1, 2, 255],  # joint tally
    [0, 1, 2, 3, 7],  # joint tally, ignore absent from some cases
    list(range(0, 600, 2)),  # more than 256 labels: dense tally
    [0, 3, 5, 3_000_000],  # huge values: compact indices
])
@pytest.mark.parametrize("ignore_pick", [0, 1, -1])
def test_against_brute_force(values, ignore_pick):
    rng = np.random.default_rng(len(values) * 10 + ignore_pick)
    dtype = np.uint32 if max(values) > 65535 else np.uint16
    gt = np.zeros((23, 19, 7), dtype)
    gt[3:15, 2:12, 1:5] = rng.choice(values, size=(12, 10, 4))
    pred = np.where(rng.random(gt.shape) < 0.2, rng.choice(values, size=gt.shape), gt).astype(dtype)
    pred[0:4, :, :] = 0  # word-aligned background, skipped by the counting
    ignore = values[ignore_pick]
    c = count_labels(gt, pred, ignore=ignore)
    assert as_dict(c) == brute(gt, pred, ignore)
    assert c.n_voxels + c.n_ignored == gt.size and c.n_ignored == int(np.sum(gt == ignore))
    if c.joint is not None:
        g, p = gt.ravel(), pred.ravel()
        keep = g != ignore
        pairs, n = np.unique(np.stack([g[keep], p[keep]]), axis=1, return_counts=True)
        assert sorted(zip(pairs[0].tolist(), pairs[1].tolist(), n.tolist())) == sorted(
            zip(c.joint[0].tolist(), c.joint[1].tolist(), c.joint[2].tolist()))


def test_uniform_ignore_region_in_dense_tally():
    """A long run of the ignore label in both arrays is counted per word; it must still leave."""
    gt = np.zeros(4096, np.uint16)
    gt[:300] = np.arange(300)  # > 256 labels
    gt[1000:2000] = 299
    pred = gt.copy()
    pred[1500:1600] = 7
    c = count_labels(gt, pred, ignore=299)
    assert as_dict(c) == brute(gt, pred, 299)


def test_ignore_value_absent_changes_nothing():
    gt = np.array([[0, 1], [1, 2]], np.uint8)
    pred = np.array([[1, 1], [0, 2]], np.uint8)
    a, b = count_labels(gt, pred), count_labels(gt, pred, ignore=9)
    assert as_dict(a) == as_dict(b) and b.n_ignored == 0
