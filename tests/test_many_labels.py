"""Runs with thousands of classes: the vectorised summaries equal the per-class rules, the JSON
keeps its contract and layout, and the table stays readable. (Speed is measured in
benchmarks/bench.py, never in a timed test.)"""

import statistics

import numpy as np
import pytest
import tifffile

from dicecli.core.aggregate import summarize_columns
from dicecli.core.classes import build_classes, first_duplicate
from helpers import run, strict_json


def test_summarize_columns_equals_statistics_module_per_column():
    rng = np.random.default_rng(7)
    values = rng.uniform(0, 1, (6, 40))
    values[rng.uniform(size=values.shape) < 0.3] = np.nan
    values[:, 0] = np.nan  # a column with no defined value
    values[1:, 1] = np.nan  # one defined value: no sample std
    pooled = rng.uniform(0, 1, 40)
    pooled[3] = np.nan
    for col, s in enumerate(summarize_columns(values, pooled)):
        defined = [v for v in values[:, col].tolist() if np.isfinite(v)]
        assert s.n == len(defined) and s.n_undefined == 6 - len(defined)
        assert s.pooled == (None if col == 3 else pooled[col])
        if not defined:
            assert (s.mean, s.std, s.median, s.min, s.max) == (None,) * 5
            continue
        assert s.mean == pytest.approx(statistics.fmean(defined), abs=1e-15)
        assert s.median == statistics.median(defined)
        assert (s.min, s.max) == (min(defined), max(defined))
        if len(defined) < 2:
            assert s.std is None
        else:
            assert s.std == pytest.approx(statistics.stdev(defined), abs=1e-15)


def test_summarize_columns_without_cases():
    out = summarize_columns(np.zeros((0, 3)), [np.nan, 1.0, None])
    assert [s.n for s in out] == [0, 0, 0] and [s.pooled for s in out] == [None, 1.0, None]
    assert all(s.mean is None and s.median is None for s in out)


def test_duplicate_class_names_found_in_one_pass():
    assert first_duplicate(["a", "b", "c", "b", "a"]) == "b" and first_duplicate(range(50_000)) is None
    assert len(build_classes(range(1, 20_001))) == 20_000
    with pytest.raises(ValueError, match="two classes are named 'WT'"):
        build_classes((1, 2), (("WT", (1, 2)),), (("WT", 1),))


@pytest.fixture
def many(tmp_path):
    """One 2D uint16 case with 300 labels: each a 2x2 block; the prediction shifts every block
    right by one column, so each label has tp 2, fp 2, fn 2 (Dice 0.5)."""
    gt = np.zeros((30, 60), np.uint16)
    pred = np.zeros_like(gt)
    for i in range(300):
        r, c = divmod(i, 20)
        gt[2 * r:2 * r + 2, 3 * c:3 * c + 2] = i + 1
        pred[2 * r:2 * r + 2, 3 * c + 1:3 * c + 3] = i + 1
    for name, array in (("gt", gt), ("pred", pred)):
        (tmp_path / name).mkdir()
        tifffile.imwrite(tmp_path / name / "x.tif", array)
    return tmp_path / "gt", tmp_path / "pred"


def test_json_of_many_classes(many):
    r = run(*many, "--format", "json")
    assert r.exit_code == 0, r.stderr
    doc = strict_json(r.stdout)
    assert doc["settings"]["labels"] == list(range(1, 301))
    scores = doc["cases"][0]["classes"]
    assert len(scores) == 300 and scores["300"] == {"dice": 0.5, "tp": 2, "fp": 2, "fn": 2, "status": "ok"}
    summary = doc["summary"]["classes"]["17"]
    assert summary == {"n": 1, "n_undefined": 0, "mean": 0.5, "std": None, "median": 0.5, "min": 0.5, "max": 0.5,
                       "pooled": 0.5}
    lines = r.stdout.splitlines()
    assert sum(line.startswith('    {"case": ') for line in lines) == 1  # a case is one line
    assert sum(line.startswith('      "') for line in lines) == 300  # a summary class is one line


def test_table_shows_the_first_classes_and_counts_the_rest(many):
    r = run(*many)
    assert r.exit_code == 0, r.stderr
    assert "… 100 more" in r.stdout and "200 of 300 classes shown" in r.stdout
    assert "overall" in r.stdout
