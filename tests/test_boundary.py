"""Boundary metrics on tiny hand-drawn masks with anisotropic spacing (values worked out by hand),
the empty-mask rules, the settings echo and the --max-hd95 gate."""

import math

import numpy as np
import pytest

from helpers import png, run, strict_json
import dicecli.core.boundary as boundary_module
from dicecli.core.boundary import boundary_metrics, boundary_voxels, directed_distances, within
from dicecli.errors import ExitStatus
from dicecli.core.surfels import surfel_sizes

SP = (2.0, 0.5)  # rows 2 mm apart, columns 0.5 mm


def test_boundary_voxels_keep_the_image_border():
    m = np.ones((3, 4), bool)  # touches every border: only the middle two voxels are interior
    expected = np.ones((3, 4), bool)
    expected[1, 1:3] = False
    assert (boundary_voxels(m) == expected).all()


def test_thin_structures_are_all_boundary():
    m = np.zeros((5, 5), bool)
    m[2, :] = True
    assert (boundary_voxels(m) == m).all()


def test_shifted_bar_by_hand():
    # gt: row 1, columns 1..3; pred: row 2, columns 1..3 (one row = 2 mm lower).
    g = np.zeros((4, 5), bool); g[1, 1:4] = True
    p = np.zeros((4, 5), bool); p[2, 1:4] = True
    v = boundary_metrics(g, p, spacing_mm=SP, tolerance_mm=1.0)
    # every voxel is boundary; each is 2 mm from the voxel below/above it
    assert v["hd"] == v["hd95"] == v["assd"] == v["masd"] == 2.0
    # surfels: both contours are 3 x 1 voxel rectangles 2 mm apart. Along rows the corner grids share
    # the line between rows 1 and 2 (distance 0); the outer long sides are 2 mm away; the short sides
    # (2 mm tall) have their middle corner points on the other contour's short-side line? No: they are
    # 2 mm from it. Within tau = 1 mm: only the shared long side, 4 corners x (0.5 mm), ends weighted.
    assert 0.0 < v["nsd"] < 1.0


def test_far_false_positive_blob_sets_hd_but_barely_the_mean():
    g = np.zeros((3, 40), bool); g[1, 1:3] = True
    p = g.copy(); p[1, 38] = True  # one voxel 36 columns = 18 mm away from gt's right end (col 2)
    v = boundary_metrics(g, p, spacing_mm=SP, metrics=("hd", "assd", "masd"))
    assert v["hd"] == 18.0
    assert v["assd"] == pytest.approx(18.0 / 5)  # distances 0, 0 (gt) and 0, 0, 18 (pred)
    assert v["masd"] == pytest.approx((0 + 18.0 / 3) / 2)


def test_hd95_conventions_differ_by_hand():
    # gt: 20 voxels in a row; pred: the same plus one voxel 10 columns (5 mm) past the end.
    g = np.zeros((3, 40), bool); g[1, 0:20] = True
    p = g.copy(); p[1, 29] = True
    d_pred = np.r_[np.zeros(20), 5.0]  # pred -> gt; gt -> pred all 0
    voxel = boundary_metrics(g, p, spacing_mm=SP, metrics=("hd95",))["hd95"]
    medpy = boundary_metrics(g, p, spacing_mm=SP, metrics=("hd95",), convention="medpy")["hd95"]
    # numpy's linear 95th percentile of 21 values: rank 0.95 * 20 = 19 -> the 20th smallest = 0
    assert voxel == max(0.0, float(np.percentile(d_pred, 95))) == 0.0
    # pooled 41 values, rank 0.95 * 40 = 38 -> 0
    assert medpy == 0.0
    p[1, 25:30] = True  # now 5 far voxels 2.5..5 mm away: the directed 95th percentile of pred sees them
    voxel = boundary_metrics(g, p, spacing_mm=SP, metrics=("hd95",))["hd95"]
    medpy = boundary_metrics(g, p, spacing_mm=SP, metrics=("hd95",), convention="medpy")["hd95"]
    d_pred = np.r_[np.zeros(20), [3.0, 3.5, 4.0, 4.5, 5.0]]  # columns 25..29 from column 19, 0.5 mm each
    # 25 values, rank 0.95 * 24 = 22.8: between 4.0 (index 22) and 4.5 -> 4.4
    assert voxel == pytest.approx(4.4)
    # pooled with gt's 20 zeros: 45 values, rank 0.95 * 44 = 41.8: between 3.5 (index 41) and 4.0 -> 3.9
    assert medpy == pytest.approx(3.9)


def test_3d_anisotropic_shift_along_the_coarse_axis():
    g = np.zeros((4, 5, 5), bool); g[1, 1:4, 1:4] = True
    p = np.zeros((4, 5, 5), bool); p[2, 1:4, 1:4] = True  # one slice (3 mm) up
    v = boundary_metrics(g, p, spacing_mm=(3.0, 0.7, 0.7), metrics=("hd", "hd95", "assd", "masd"))
    assert v == {"hd": 3.0, "hd95": 3.0, "assd": 3.0, "masd": 3.0}


def test_surfel_lengths_in_2d_by_hand():
    sizes = surfel_sizes((2.0, 0.5))
    diagonal = 0.5 * math.hypot(2.0, 0.5)
    assert sizes[0] == sizes[15] == 0
    assert sizes[1] == sizes[8] == diagonal  # one corner voxel inside
    assert sizes[0b0011] == 0.5 and sizes[0b0101] == 2.0  # a row pair cut along axis 1, a column pair
    assert sizes[0b0110] == 2 * diagonal  # saddle


def test_nsd_of_a_square_by_hand():
    # gt: 2x2 voxels of 1 mm; pred: the same. 8 boundary corners of unit-ish surfels, all within 0.
    g = np.zeros((4, 4), bool); g[1:3, 1:3] = True
    assert boundary_metrics(g, g, spacing_mm=(1.0, 1.0), metrics=("nsd",), tolerance_mm=0.0)["nsd"] == 1.0


def test_within_is_inclusive_at_the_tolerance():
    a = np.zeros((1, 6), bool); a[0, 0] = True
    b = np.zeros((1, 6), bool); b[0, 4] = True  # 4 columns of 0.5 mm = 2 mm
    assert within(a, b, spacing_mm=(1.0, 0.5), radius_mm=2.0).tolist() == [True]
    assert within(a, b, spacing_mm=(1.0, 0.5), radius_mm=1.999).tolist() == [False]


@pytest.mark.parametrize("tau", [30.0, 1e5, 1e9])
@pytest.mark.parametrize("convention", ["voxel", "deepmind"])
def test_nsd_tolerance_beyond_the_image_is_one(tau, convention):
    # an 8x7x5 image of 0.5x1x3 mm spans sqrt(3.5² + 6² + 12²) = 13.9 mm, so every surfel of either
    # mask is within tau of the other surface: NSD 1 (was a memory error at 1e5, exit 70 at 1e9)
    g = np.zeros((8, 7, 5), bool); g[0:2, 0:2, 0:2] = True
    p = np.zeros((8, 7, 5), bool); p[7, 6, 4] = True
    v = boundary_metrics(g, p, spacing_mm=(0.5, 1.0, 3.0), metrics=("nsd",), convention=convention, tolerance_mm=tau)
    assert v["nsd"] == 1.0
    a = np.zeros((1, 6), bool); a[0, 0] = True
    b = np.zeros((1, 6), bool); b[0, 5] = True
    assert within(a, b, spacing_mm=(1.0, 0.5), radius_mm=tau).tolist() == [True]


def _brute_force(a, b, spacing):
    """Every pair: sqrt of the sum of (voxel offset * spacing)^2 in axis order (as dice and DeepMind's EDT)."""
    offsets = np.argwhere(a)[:, None, :] - np.argwhere(b)[None, :, :]
    return np.sqrt(((offsets * np.asarray(spacing)) ** 2).sum(axis=2)).min(axis=1)


@pytest.mark.parametrize("rows", [1, 3, 100_000])  # k-d tree for nearly every point, both, rows only
@pytest.mark.parametrize("seed", range(6))
def test_directed_distances_against_brute_force(monkeypatch, rows, seed):
    rng = np.random.default_rng(seed)
    ndim = 2 + seed % 2
    shape = tuple(int(n) for n in rng.integers(2, 12 if ndim == 3 else 40, ndim))
    spacing = tuple(float(s) for s in rng.uniform(0.3, 3.0, ndim))
    a, b = rng.random(shape) < 0.2, rng.random(shape) < 0.05
    a.flat[0] = b.flat[-1] = True
    monkeypatch.setattr(boundary_module, "ROWS_PER_POINT", rows)
    d_ab, d_ba = directed_distances(a, b, spacing_mm=spacing)
    assert np.allclose(d_ab, _brute_force(a, b, spacing), rtol=0, atol=1e-12)
    assert np.allclose(d_ba, _brute_force(b, a, spacing), rtol=0, atol=1e-12)


def test_within_matches_brute_force_at_every_tolerance():
    rng = np.random.default_rng(3)
    a, b = rng.random((9, 7, 8)) < 0.1, rng.random((9, 7, 8)) < 0.1
    spacing = (2.5, 0.8, 0.7)
    exact = _brute_force(a, b, spacing)
    for tau in [0.0, 0.7, 0.8, 1.5, 2.5, 3.0, *np.unique(exact)[:20]]:
        assert (within(a, b, spacing_mm=spacing, radius_mm=float(tau)) == (exact <= tau)).all(), tau


@pytest.mark.parametrize("gt_empty", [True, False])
def test_one_empty_mask(gt_empty):
    m = np.zeros((4, 4), bool); m[1:3, 1:3] = True
    e = np.zeros((4, 4), bool)
    g, p = (e, m) if gt_empty else (m, e)
    v = boundary_metrics(g, p, spacing_mm=(1.0, 1.0), tolerance_mm=1.0)
    assert all(math.isnan(v[k]) for k in ("hd", "hd95", "assd", "masd")) and v["nsd"] == 0.0


def test_both_empty():
    e = np.zeros((4, 4), bool)
    v = boundary_metrics(e, e, spacing_mm=(1.0, 1.0), tolerance_mm=1.0)
    assert all(math.isnan(x) for x in v.values())


# --- through the command line -------------------------------------------------------------------

@pytest.fixture
def shifted(tmp_path):
    """a: class 1 shifted by one row; b: class 1 only in the ground truth (pred_empty); c: identical."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    a_g = np.zeros((6, 8)); a_g[1:3, 2:6] = 1
    a_p = np.zeros((6, 8)); a_p[2:4, 2:6] = 1
    b_g = np.zeros((6, 8)); b_g[0:2, 0:2] = 1
    c = np.zeros((6, 8)); c[3:5, 1:7] = 1
    for name, g, p in (("a", a_g, a_p), ("b", b_g, np.zeros((6, 8))), ("c", c, c)):
        png(gt / f"{name}.png", g)
        png(pred / f"{name}.png", p)
    return gt, pred


def _classes(out, case):
    return next(c for c in out["cases"] if c["case"] == case)["classes"]["1"]


@pytest.mark.parametrize("args, said", [
    (("--nsd-tolerance", "2"), "--nsd-tolerance has no effect without --metrics nsd"),
    (("--metrics", "nsd", "--nsd-tolerance", "2", "--empty-distance", "diagonal"),
     "--empty-distance has no effect without a distance metric"),
    (("--spacing", "1,2"), "--spacing has no effect without boundary metrics"),
])
def test_boundary_options_that_change_nothing_say_so(shifted, args, said):
    r = run(*shifted, *args)
    assert r.exit_code == 0 and f"warning: {said}" in r.stderr, r.stderr


def test_spacing_beside_ground_truths_with_their_own_says_so(tmp_path):
    import nibabel as nib
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for folder in (gt, pred):
        folder.mkdir()
        a = np.zeros((4, 5, 3), np.uint8)
        a[1:3, 1:4, 1] = 1
        nib.save(nib.Nifti1Image(a, np.diag([0.5, 0.5, 2.0, 1.0])), str(folder / "c.nii.gz"))
    r = run(gt, pred, "--metrics", "hd95", "--spacing", "1,1,1")
    assert r.exit_code == 0 and "--spacing has no effect: every ground truth has its own spacing" in r.stderr
    assert "has no effect" not in run(*(gt, pred), "--metrics", "hd95").stderr


def test_table_says_when_a_metric_mean_covers_fewer_cases_than_n(shifted):
    # class 1: n 3 for Dice; HD95 is undefined in case b (prediction empty), so its mean is over 2
    r = run(*shifted, "--metrics", "hd95,iou")
    assert "HD95 mm mean: over the cases where defined, not the n cases of Dice" in r.stdout, r.stdout
    assert "not the n cases" not in run(*shifted, "--metrics", "iou").stdout


def test_a_wide_table_off_a_terminal_keeps_every_digit(shifted):
    # Every metric adds a column; in a file or a pipe the table is as wide as its cells, never cut
    # to "0.63…". Class 1, by hand: a 0.5 (tp 4 of 8 + 8), b 0, c 1: mean 0.5; ASSD (spacing 1):
    # a 8/16 = 0.5 mm, b undefined, c 0 -> mean 0.25.
    r = run(*shifted, "--metrics", "hd,hd95,assd,masd,nsd,iou,precision,recall", "--nsd-tolerance", "1")
    assert r.exit_code == 0, r.stderr
    row = next(line.split() for line in r.stdout.splitlines() if line.split()[:1] == ["1"])
    assert "…" not in r.stdout and row[:4] == ["1", "3", "0", "0.5000"], r.stdout
    # class n undef mean std median min max pooled | IoU precision recall HD HD95 ASSD MASD NSD
    assert len(row) == 17 and row[14] == "0.25", r.stdout


def test_cli_json_values_rules_and_echo(shifted):
    r = run(*shifted, "--metrics", "hd95,assd,nsd", "--nsd-tolerance", "1", "--spacing", "2,0.5",
            "--format", "json")
    assert r.exit_code == 0, r.stderr
    out = strict_json(r.stdout)
    a = _classes(out, "a")
    # 2x4 blocks one row (2 mm) apart: every voxel is boundary; the shared row is at 0, the other at 2 mm
    assert a["hd95"] == 2.0 and a["assd"] == 2.0 * 8 / 16
    assert _classes(out, "b")["hd95"] is None and _classes(out, "b")["nsd"] == 0.0
    assert _classes(out, "c")["hd95"] == 0.0 and _classes(out, "c")["nsd"] == 1.0
    case = next(c for c in out["cases"] if c["case"] == "a")
    assert case["spacing_mm"] == [2.0, 0.5] and case["spacing_source"] == "option"
    assert case["diagonal_mm"] == pytest.approx(math.hypot(6 * 2.0, 8 * 0.5))
    b = out["settings"]["boundary"]
    assert b["convention"] == "voxel" and b["nsd_tolerance_mm"] == {"default": 1.0, "classes": {}}
    assert b["empty_distance"] is None and "nsd 0" in b["empty"]["one"]
    summary = out["summary"]["classes"]["1"]["metrics"]
    assert summary["hd95"]["n"] == 2 and summary["hd95"]["n_undefined"] == 1 and summary["hd95"]["pooled"] is None
    assert summary["nsd"]["n"] == 3


def test_cli_empty_distance_diagonal_and_default_spacing(shifted):
    r = run(*shifted, "--metrics", "hd95", "--empty-distance", "diagonal", "--format", "json")
    out = strict_json(r.stdout)
    assert _classes(out, "b")["hd95"] == pytest.approx(math.hypot(6, 8)) == 10.0
    assert next(c for c in out["cases"] if c["case"] == "b")["spacing_source"] == "default"
    assert _classes(out, "a")["hd95"] == 1.0  # one row at 1 mm


def test_cli_csv_has_boundary_columns(shifted):
    r = run(*shifted, "--metrics", "hd,masd", "--format", "csv")
    header = r.stdout.splitlines()[0].split(",")
    assert header[:7] == ["case", "class", "dice", "tp", "fp", "fn", "status"]
    assert "hd" in header and "masd" in header


@pytest.mark.parametrize("args, reason", [
    (("--metrics", "nsd"), "needs --nsd-tolerance"),
    (("--max-hd95", "5"), "needs --metrics hd95"),
    (("--metrics", "hd95", "--max-hd95", "5", "--gate-on", "pooled"), "no pooled value"),
    (("--metrics", "hd", "--ignore-label", "9"), "ignore-label"),
    (("--spacing", "1,0"), "mm > 0"),
    (("--empty-distance", "far"), "expected nan, diagonal"),
    (("--empty-distance", "-3"), "'--empty-distance': expected a finite number of mm >= 0, got '-3'"),
])
def test_boundary_usage_errors(shifted, args, reason):
    r = run(*shifted, *args)
    assert r.exit_code == ExitStatus.USAGE and reason in r.stderr, r.stderr


def test_max_hd95_gate(shifted):
    # case a: HD95 1 mm (one row at the default 1 mm), b: undefined (pred empty), c: 0 -> mean 0.5
    r = run(*shifted, "--metrics", "hd95", "--max-hd95", "0.4", "-q", "--format", "json")
    assert r.exit_code == ExitStatus.GATE_FAILED
    assert ("class 1 mean HD95 0.5000 mm > 0.4 mm over 2 case(s), 1 with HD95 undefined (a mask empty) left out; "
            "worst cases: a 1.0000 mm, c 0.0000 mm") in r.stderr
    gate = strict_json(r.stdout)["gate"]["hd95"]["classes"]["1"]
    assert gate["value"] == 0.5 and gate["n_undefined"] == 1
    r = run(*shifted, "--metrics", "hd95", "--max-hd95", "0.5", "--gate-on", "min")
    assert r.exit_code == ExitStatus.GATE_FAILED and "max HD95 1.0000 mm > 0.5 mm" in r.stderr
    r = run(*shifted, "--metrics", "hd95", "--max-hd95", "1", "--min-dice", "0")
    assert r.exit_code == ExitStatus.OK, r.stderr
    assert "1 case HD95 value(s) undefined" in r.stderr


def test_regions_junit_and_markdown(shifted, tmp_path):
    junit = tmp_path / "gate.xml"
    r = run(*shifted, "--metrics", "hd95", "--region", "all=1", "--max-hd95", "0.4", "--junit", junit,
            "--format", "markdown")
    assert r.exit_code == ExitStatus.GATE_FAILED
    assert "class all HD95 mean HD95 0.5000 mm > 0.4 mm" in r.stdout or "mean HD95 0.5000 mm > 0.4 mm" in r.stdout
    xml = junit.read_text()
    assert 'name="class all: mean HD95 &lt;= 0.4 mm"' in xml and "DiceGateFailure" in xml


def test_nifti_spacing_from_the_file_and_wrong_spacing_length(tmp_path):
    nib = pytest.importorskip("nibabel")
    g = np.zeros((5, 6, 4), np.uint8); g[1:3, 1:4, 1:3] = 1
    p = np.zeros((5, 6, 4), np.uint8); p[1:3, 1:4, 2:4] = 1  # one slice (2.5 mm) further along z
    for sub, a in (("gt", g), ("pred", p)):
        (tmp_path / sub).mkdir()
        nib.save(nib.Nifti1Image(a, np.diag([0.8, 0.8, 2.5, 1.0])), tmp_path / sub / "x.nii.gz")
    r = run(tmp_path / "gt", tmp_path / "pred", "--metrics", "hd", "--spacing", "9,9,9", "--format", "json")
    case = strict_json(r.stdout)["cases"][0]
    assert case["spacing_source"] == "file" and case["spacing_mm"] == pytest.approx([0.8, 0.8, 2.5])
    assert case["classes"]["1"]["hd"] == pytest.approx(2.5)
    png(tmp_path / "g2" / "x.png", np.ones((3, 3)))
    r = run(tmp_path / "g2", tmp_path / "g2", "--metrics", "hd", "--spacing", "1,1,1")
    assert r.exit_code == ExitStatus.INPUT_ERROR and "--spacing gives 3 values for a 2D ground truth" in r.stderr


def test_workers_forked_after_an_in_process_search_do_not_hang(shifted):
    # a k-d tree query in this process first (pykdtree's OpenMP runtime), then a forked pool
    g = np.zeros((3, 400), bool); g[1, :2] = True
    p = g.copy(); p[1, 399] = True  # 398 columns away: beyond the row search, so the k-d tree answers
    assert 2 * boundary_module._search_radius((1.0, 1.0)) < 398
    assert boundary_metrics(g, p, spacing_mm=(1.0, 1.0), metrics=("hd",))["hd"] == 398.0
    r = run(*shifted, "--metrics", "hd", "-j", "2", "--format", "json")
    assert r.exit_code == 0 and _classes(strict_json(r.stdout), "a")["hd"] == 1.0


def test_journal_resume_keeps_boundary_values_and_a_new_metric_rescores(shifted, tmp_path):
    journal = tmp_path / "run.jsonl"
    args = ("--metrics", "hd95,nsd", "--nsd-tolerance", "1", "--format", "json")
    clean = strict_json(run(*shifted, *args).stdout)
    first = run(*shifted, *args, "--journal", journal)
    again = run(*shifted, *args, "--journal", journal, "--resume")
    assert again.exit_code == 0 and "3 case(s) taken from the journal" in again.stderr
    for out in (strict_json(first.stdout), strict_json(again.stdout)):
        assert [c["classes"] for c in out["cases"]] == [c["classes"] for c in clean["cases"]]
    other = run(*shifted, "--metrics", "hd95,masd", "--format", "json", "--journal", journal, "--resume")
    assert "journaled under other settings" in other.stderr
    assert _classes(strict_json(other.stdout), "a")["masd"] == 0.5  # half of each boundary 1 mm away


def test_score_arrays_gives_boundary_metrics_with_its_spacing():
    from dicecli import score_arrays

    g = np.zeros((4, 5), int); g[1, 1:4] = 1
    p = np.zeros((4, 5), int); p[2, 1:4] = 1  # one row lower: 2 mm with spacing (2, 0.5)
    scores = score_arrays(g, p, spacing=(2.0, 0.5), metrics="hd95,assd", empty_distance="diagonal")
    assert scores[1].metrics == {"hd95": 2.0, "assd": 2.0}
    assert score_arrays(g, p, metrics="hd95")[1].metrics == {"hd95": 1.0}  # 1 mm without a spacing
    assert score_arrays(g, 0 * p, metrics="hd95", spacing=(2.0, 0.5),
                        empty_distance="diagonal")[1].metrics["hd95"] == pytest.approx(math.hypot(8, 2.5))


def test_a_one_slice_volume_is_scored_as_2d(tmp_path):
    nib = pytest.importorskip("nibabel")
    g = np.zeros((6, 8), np.uint8); g[1:5, 2:6] = 1
    p = np.zeros((6, 8), np.uint8); p[1:5, 3:7] = 1  # one column (0.5 mm) over
    for sub, a in (("gt", g), ("pred", p)):
        (tmp_path / sub).mkdir()
        nib.save(nib.Nifti1Image(a[:, :, None], np.diag([2.0, 0.5, 3.0, 1.0])), tmp_path / sub / "x.nii.gz")
    out = strict_json(run(tmp_path / "gt", tmp_path / "pred", "--metrics", "assd,nsd", "--nsd-tolerance", "0.4",
                          "--format", "json").stdout)
    got = out["cases"][0]["classes"]["1"]
    want = boundary_metrics(g.astype(bool), p.astype(bool), spacing_mm=(2.0, 0.5), metrics=("assd", "nsd"),
                            tolerance_mm=0.4)
    assert got["assd"] == pytest.approx(want["assd"]) and got["nsd"] == pytest.approx(want["nsd"])
    assert out["cases"][0]["diagonal_mm"] == pytest.approx(math.hypot(12.0, 4.0))
    # as a slab every voxel would touch the z border and count as boundary: the contour mean is larger
    slab = boundary_metrics(g[:, :, None] > 0, p[:, :, None] > 0, spacing_mm=(2.0, 0.5, 3.0), metrics=("assd",))
    assert slab["assd"] != pytest.approx(want["assd"])


def _label_maps(seed, shape, labels):
    rng = np.random.default_rng(seed)
    g = np.zeros(shape, np.uint8)
    p = np.zeros(shape, np.uint8)
    for value in range(1, labels + 1):  # boxes of each label at random places, the prediction shifted
        corner = [int(rng.integers(0, n - 2)) for n in shape]
        size = [int(rng.integers(1, 4)) for _ in shape]
        box = tuple(slice(c, c + s) for c, s in zip(corner, size))
        g[box] = value
        p[tuple(slice(b.start + 1, b.stop + 1) for b in box)] = value
    return g, p


@pytest.mark.parametrize("dtypes", [(np.uint8, np.uint8), (np.uint16, np.uint16), (np.int32, np.uint8)])
@pytest.mark.parametrize("shape", [(9, 11), (7, 8, 10), (5, 6, 13), (6, 7, 16), (5, 40)])
def test_class_boxes_by_rows_and_by_sort_agree_and_hold_every_voxel(monkeypatch, shape, dtypes):
    import dicecli.core.boundary_case as bc

    g, p = _label_maps(len(shape), shape, 20)
    g, p = g.astype(dtypes[0]), p.astype(dtypes[1])
    classes = [(v,) for v in range(1, 24)] + [(2, 5), (7, 21, 3)]
    monkeypatch.setattr(bc, "SORT_FROM_CLASSES", len(classes))
    monkeypatch.setattr(bc, "ROW_BLOCK_VOXELS", 3 * shape[-1])  # several blocks of rows
    by_rows = bc._boxes(g, p, classes)
    monkeypatch.setattr(bc, "SORT_FROM_CLASSES", 0)
    assert bc._boxes(g, p, classes) == by_rows
    for members, box in zip(classes, by_rows):
        mask = np.isin(g, members) | np.isin(p, members)
        if box is None:
            assert not mask.any()
            continue
        inside = np.zeros(shape, bool); inside[box] = True
        assert mask[box].any() and not (mask & ~inside).any()
        for axis in range(len(shape)):  # tight: every face of the box touches the class
            assert np.moveaxis(mask[box], axis, 0)[0].any() and np.moveaxis(mask[box], axis, 0)[-1].any()


def test_background_class_is_scored_on_the_whole_image():
    from dicecli.core.boundary_case import case_boundary

    g, p = _label_maps(1, (12, 14), 3)
    metrics = ("hd", "hd95", "assd", "masd", "nsd")
    got = case_boundary(g, p, [("0", (0,)), ("1", (1,))], spacing_mm=(1.5, 0.7), metrics=metrics,
                        convention="voxel", tolerances=[1.0, 1.0])
    for row, label in enumerate((0, 1)):
        want = boundary_metrics(g == label, p == label, spacing_mm=(1.5, 0.7), metrics=metrics, tolerance_mm=1.0)
        assert got.values[row].tolist() == [want[m] for m in metrics]
