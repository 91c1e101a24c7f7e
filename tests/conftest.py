"""Fixtures shared by the test modules."""

import numpy as np
import pytest
from helpers import png


@pytest.fixture
def pngset(tmp_path):
    """Three 2D cases with hand-countable overlaps.

    a: gt 4 px of label 1, pred 2 of them + 2 others -> tp 2, fp 2, fn 2 -> Dice 0.5
    b: identical masks of label 1 (6 px) -> 1.0; label 2 only in pred (3 px) -> 0, gt_empty
    c: gt label 1 (2 px), pred empty -> 0, pred_empty
    """
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    a_gt = np.zeros((4, 5)); a_gt[0, :4] = 1
    a_pr = np.zeros((4, 5)); a_pr[0, 2:4] = 1; a_pr[1, 0:2] = 1
    b_gt = np.zeros((4, 5)); b_gt[1:3, 1:4] = 1
    b_pr = b_gt.copy(); b_pr[3, 0:3] = 2
    c_gt = np.zeros((4, 5)); c_gt[3, 3:5] = 1
    c_pr = np.zeros((4, 5))
    for name, g, p in (("a", a_gt, a_pr), ("b", b_gt, b_pr), ("c", c_gt, c_pr)):
        png(gt / f"{name}.png", g)
        png(pred / f"{name}.png", p)
    return gt, pred
