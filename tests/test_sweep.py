"""dice sweep: every grid point equals dice score at that threshold (the CLI's own scorer, and a
numpy brute force), thresholds compare in the map's precision, and the outputs are usable."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from dicecli.cli import main
from dicecli.run.evaluate import evaluate
from dicecli.settings import Settings
from dicecli.core.sweep import cuts_for, threshold_counts, threshold_grid
from dicecli.run.sweep_run import sweep
from helpers import strict_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def sweep_cli(*args):
    return CliRunner().invoke(main, ["sweep", *map(str, args)])


def test_grid():
    grid = threshold_grid(99)
    assert grid[0] == 0.01 and grid[-1] == 0.99 and len(grid) == 99
    assert threshold_grid(3).tolist() == [0.25, 0.5, 0.75]


def test_counts_equal_numpy_at_every_cut():
    rng = np.random.default_rng(0)
    values = rng.random(5000).astype(np.float32)
    values[:300] = np.float32(0.7)  # exactly on a grid point
    truth = rng.random(5000) < 0.4
    keep = rng.random(5000) < 0.9
    grid = threshold_grid(99)
    tp, predicted, n_truth = threshold_counts(truth, values, cuts_for(grid, values.dtype), keep)
    for k, t in enumerate(grid.tolist()):
        fg = (values >= t) & keep  # numpy's own comparison of float32 with a Python float (in float32)
        assert tp[k] == np.count_nonzero(fg & truth) and predicted[k] == np.count_nonzero(fg)
    assert n_truth == np.count_nonzero(truth & keep)


@pytest.mark.parametrize("set_name, multilabel", [("prob", False), ("softmax", True)])
def test_every_grid_point_equals_dice_score(set_name, multilabel):
    gt, pred = FIXTURES / set_name / "gt", FIXTURES / set_name / "pred"
    result = sweep(str(gt), str(pred), Settings(), steps=19)
    assert not result.errors
    for k, t in enumerate(result.thresholds):
        run = evaluate(gt, pred, jobs=1, threshold=float(t), multilabel=multilabel)
        for c in result.classes:
            col = run.keys.index(c.key)
            summary = run.summary.classes[col]
            for got, want in ((c.mean_dice[k], summary.mean), (c.pooled_dice[k], summary.pooled)):
                if want is None or not np.isfinite(want):
                    assert not np.isfinite(got)
                else:
                    assert got == pytest.approx(want, abs=1e-12), (set_name, t, c.key)


def brute_mean(gt_arrays, prob_arrays, t, label=1):
    values = []
    for g, p in zip(gt_arrays, prob_arrays):
        G, P = g == label, p >= t
        denominator = G.sum() + P.sum()
        if denominator:
            values.append(2 * np.sum(G & P) / denominator)
    return np.mean(values) if values else np.nan


def test_best_threshold_and_curve_against_brute_force(tmp_path):
    rng = np.random.default_rng(1)
    gts, probs = [], []
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for i in range(4):
        g = (rng.random((12, 10, 6)) < 0.3).astype(np.uint8)
        p = np.clip(g * 0.35 + rng.random(g.shape) * 0.6, 0, 1).astype(np.float32)
        nib.save(nib.Nifti1Image(g, np.eye(4)), str(tmp_path / "gt" / f"c{i}.nii.gz"))
        nib.save(nib.Nifti1Image(p, np.eye(4)), str(tmp_path / "pred" / f"c{i}.nii.gz"))
        gts.append(g)
        probs.append(p)
    result = sweep_cli(tmp_path / "gt", tmp_path / "pred", "--format", "json", "-q")
    assert result.exit_code == 0, result.stderr
    doc = strict_json(result.stdout)
    curve = doc["classes"]["1"]["curve"]
    means = [brute_mean(gts, probs, c["threshold"]) for c in curve]
    for c, m in zip(curve, means):
        assert c["mean_dice"] == pytest.approx(m, abs=1e-12)
    best = int(np.nanargmax(means))
    assert doc["classes"]["1"]["best_threshold"] == curve[best]["threshold"]
    lo, hi = doc["classes"]["1"]["best_mean_dice_ci95"]
    assert lo <= doc["classes"]["1"]["best_mean_dice"] <= hi


def test_nnunet_folder_sweeps_the_npz_and_label_maps_are_refused(tmp_path):
    gt_dir, pred_dir = tmp_path / "gt", tmp_path / "pred"
    gt_dir.mkdir()
    pred_dir.mkdir()
    g = np.zeros((6, 5, 4), np.uint8)
    g[1:4, 1:4, 1:3] = 1
    nib.save(nib.Nifti1Image(g, np.eye(4)), str(gt_dir / "a.nii.gz"))
    nib.save(nib.Nifti1Image(g, np.eye(4)), str(pred_dir / "a.nii.gz"))
    probs = np.stack([1 - g, g]).astype(np.float32) * 0.8 + 0.1
    np.savez(pred_dir / "a.npz", probabilities=probs.transpose(0, 3, 2, 1))
    result = sweep_cli(gt_dir, pred_dir, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "a.npz" in result.stderr and "not scored" in result.stderr
    doc = strict_json(result.stdout)
    assert doc["classes"]["1"]["best_mean_dice"] == 1.0
    refused = sweep_cli(gt_dir, pred_dir, "--pred-suffix", ".nii.gz")
    assert refused.exit_code == 3 and "label map has no threshold" in refused.stderr


def test_outputs_csv_plots(tmp_path):
    gt, pred = FIXTURES / "prob" / "gt", FIXTURES / "prob" / "pred"
    out = tmp_path / "s"
    result = sweep_cli(gt, pred, "--csv", f"{out}.csv", "--json", f"{out}.json", "--plot", f"{out}.svg", "-q")
    assert result.exit_code == 0, result.stderr
    assert "best t" in result.stdout
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert rows[0] == "class,threshold,mean_dice,pooled_dice,n" and len(rows) == 100
    assert json.loads((tmp_path / "s.json").read_text())["settings"]["thresholds"][0] == 0.01
    assert ET.parse(tmp_path / "s.svg").getroot().tag.endswith("svg")
    assert sweep_cli(gt, pred, "--plot", f"{out}.png", "-q").exit_code == 0
    with Image.open(f"{out}.png") as im:
        assert im.format == "PNG" and im.size == (640, 400)
    assert sweep_cli(gt, pred, "--plot", f"{out}.gif").exit_code == 2


def test_outputs_are_checked_before_sweeping_and_committed_together(tmp_path):
    gt, pred = FIXTURES / "prob" / "gt", FIXTURES / "prob" / "pred"
    missing = sweep_cli(gt, pred, "--json", tmp_path / "nope" / "s.json", "-q")
    assert missing.exit_code == 2 and "nope" in missing.stderr and len(missing.stderr.splitlines()) == 1
    over_input = sweep_cli(gt, pred, "--csv", next(gt.iterdir()), "-q")
    assert over_input.exit_code == 2
    (tmp_path / "old.json").write_text("old")
    ok = sweep_cli(gt, pred, "--json", tmp_path / "old.json", "--plot", tmp_path / "p.svg", "-q")
    assert ok.exit_code == 0 and (tmp_path / "old.json").read_text() != "old" and (tmp_path / "p.svg").exists()


def test_report_refuses_a_fifo_instead_of_waiting(tmp_path):
    import os

    fifo = tmp_path / "run.json"
    os.mkfifo(fifo)
    result = sweep_cli.__globals__["CliRunner"]().invoke(main, ["report", str(fifo), "--html", str(tmp_path / "r.html")])
    assert result.exit_code == 3 and "regular file" in result.stderr


@pytest.mark.parametrize("steps", [1, 2, 9, 19, 99, 254, 255, 1000])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_binning_equals_searchsorted_at_and_around_every_cut(steps, dtype):
    """Every fast binning (table lookup, estimate-and-correct) against np.searchsorted itself."""
    from dicecli.core.sweep import _bins

    rng = np.random.default_rng(steps)
    cuts = cuts_for(threshold_grid(steps), dtype)
    near = np.concatenate([cuts, np.nextafter(cuts, dtype(0)), np.nextafter(cuts, dtype(1))])
    values = np.concatenate([near, np.array([0, -0.0, 1, np.finfo(dtype).tiny], dtype),
                             rng.random(20000).astype(dtype), (rng.random(2000) ** 20).astype(dtype)])
    want = np.searchsorted(cuts, values, side="right")
    for uniform in (None, steps):
        assert (np.asarray(_bins(values, cuts, uniform)) == want).all()
