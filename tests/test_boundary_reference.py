"""Differential tests of the boundary metrics against independent references, at 1e-9:

- MedPy (test extra): its directed surface distances (boundary voxels, face connectivity) give the
  "voxel" convention by the formulas of dicecli.core.boundary; its hd, hd95 and assd give "medpy".
- DeepMind's surface-distance (test extra): surface Dice at tolerance (NSD), robust Hausdorff at 95
  and 100, and average surface distances give NSD and the "deepmind" convention; its lookup tables
  check dicecli.core.surfels for every neighbour code.

Random masks in 2D and 3D with anisotropic spacing, touching the image border, one-voxel-thin
structures and a far false-positive blob. Both masks are non-empty (the references raise or
return inf otherwise; the empty rules are tested by hand in test_boundary.py).
"""

import numpy as np
import pytest

medpy_binary = pytest.importorskip("medpy.metric.binary")
sd = pytest.importorskip("surface_distance")
from surface_distance import lookup_tables  # noqa: E402

from dicecli.core.boundary import boundary_metrics  # noqa: E402
from dicecli.core.surfels import neighbour_codes, surfel_sizes  # noqa: E402

TOL = 1e-9
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
medpy_surface_distances = getattr(medpy_binary, "__surface_distances")


def _cases():
    rng = np.random.default_rng(14)
    out = []
    for i in range(60):
        ndim = 2 + i % 2
        shape = tuple(int(n) for n in rng.integers(3, 16 if ndim == 3 else 30, ndim))
        spacing = tuple(float(s) for s in rng.uniform(0.2, 3.0, ndim))
        kind = i % 5
        if kind == 0:  # noise
            g, p = rng.random(shape) < 0.3, rng.random(shape) < 0.3
        elif kind == 1:  # a blob and a shifted, grown copy, touching the border
            g = np.zeros(shape, bool)
            g[tuple(slice(0, max(1, n // 2)) for n in shape)] = True
            p = np.roll(g, 1, axis=0) | g
        elif kind == 2:  # one-voxel-thin lines
            g, p = np.zeros(shape, bool), np.zeros(shape, bool)
            g[(shape[0] // 2,) + (slice(None),) * (ndim - 1)] = True
            p[(slice(None), shape[1] // 2) + (slice(None),) * (ndim - 2)] = True
        elif kind == 3:  # good overlap plus a far false-positive voxel
            g = rng.random(shape) < 0.5
            p = g.copy()
            p[(0,) * ndim] = True
            p[tuple(n - 1 for n in shape)] ^= True
        else:  # sparse
            g, p = rng.random(shape) < 0.08, rng.random(shape) < 0.08
        if g.any() and p.any():
            out.append(pytest.param(g, p, spacing, float(rng.uniform(0.0, 3.0)), id=f"{ndim}d-{kind}-{i}"))
    return out


CASES = _cases()


@pytest.mark.parametrize("g, p, spacing, tau", CASES)
def test_voxel_and_medpy_conventions_against_medpy(g, p, spacing, tau):
    d_gp = medpy_surface_distances(g, p, spacing, 1)
    d_pg = medpy_surface_distances(p, g, spacing, 1)
    expected = {"hd": max(d_gp.max(), d_pg.max()),
                "hd95": max(np.percentile(d_gp, 95), np.percentile(d_pg, 95)),
                "assd": np.concatenate([d_gp, d_pg]).mean(),
                "masd": (d_gp.mean() + d_pg.mean()) / 2}
    got = boundary_metrics(g, p, spacing_mm=spacing, metrics=tuple(expected))
    for name, value in expected.items():
        assert abs(got[name] - value) <= TOL, name
    medpy = boundary_metrics(g, p, spacing_mm=spacing, metrics=("hd", "hd95", "assd"), convention="medpy")
    assert abs(medpy["hd"] - medpy_binary.hd(g, p, spacing)) <= TOL
    assert abs(medpy["hd95"] - medpy_binary.hd95(g, p, spacing)) <= TOL
    assert abs(medpy["assd"] - medpy_binary.assd(g, p, spacing)) <= TOL


@pytest.mark.parametrize("g, p, spacing, tau", CASES)
def test_nsd_and_deepmind_convention_against_surface_distance(g, p, spacing, tau):
    ref = sd.compute_surface_distances(g, p, spacing)
    a_gt, a_pred = ref["surfel_areas_gt"], ref["surfel_areas_pred"]
    d_gt, d_pred = ref["distances_gt_to_pred"], ref["distances_pred_to_gt"]
    mean_gt, mean_pred = sd.compute_average_surface_distance(ref)
    expected = {"nsd": sd.compute_surface_dice_at_tolerance(ref, tau),
                "hd": sd.compute_robust_hausdorff(ref, 100),
                "hd95": sd.compute_robust_hausdorff(ref, 95),
                "assd": (np.sum(d_gt * a_gt) + np.sum(d_pred * a_pred)) / (np.sum(a_gt) + np.sum(a_pred)),
                "masd": (mean_gt + mean_pred) / 2}
    got = boundary_metrics(g, p, spacing_mm=spacing, convention="deepmind", tolerance_mm=tau)
    for name, value in expected.items():
        assert abs(got[name] - value) <= TOL, name
    default = boundary_metrics(g, p, spacing_mm=spacing, metrics=("nsd",), tolerance_mm=tau)
    assert abs(default["nsd"] - expected["nsd"]) <= TOL


@pytest.mark.parametrize("seed", range(20))
def test_surfel_tables_against_surface_distance(seed):
    rng = np.random.default_rng(seed)
    s3, s2 = rng.uniform(0.05, 5.0, 3), rng.uniform(0.05, 5.0, 2)
    np.testing.assert_allclose(surfel_sizes(s3), lookup_tables.create_table_neighbour_code_to_surface_area(s3),
                               rtol=1e-12, atol=0)
    np.testing.assert_allclose(surfel_sizes(s2), lookup_tables.create_table_neighbour_code_to_contour_length(s2),
                               rtol=1e-12, atol=0)


@pytest.mark.parametrize("ndim", [2, 3])
def test_neighbour_codes_against_surface_distance_kernel(ndim):
    from scipy import ndimage

    rng = np.random.default_rng(ndim)
    mask = rng.random((6, 7, 5)[:ndim]) < 0.5
    padded = np.zeros(tuple(n + 1 for n in mask.shape), np.uint8)
    padded[tuple(slice(0, n) for n in mask.shape)] = mask
    kernel = lookup_tables.ENCODE_NEIGHBOURHOOD_3D_KERNEL if ndim == 3 else lookup_tables.ENCODE_NEIGHBOURHOOD_2D_KERNEL
    assert (neighbour_codes(mask) == ndimage.correlate(padded, kernel, mode="constant", cval=0)).all()


def test_cli_deepmind_convention_and_regions_against_surface_distance(tmp_path):
    """Through `dice score`: labels and a region (union of labels) on PNGs with --spacing, against
    surface-distance on the same binary masks."""
    from helpers import png, run, strict_json

    rng = np.random.default_rng(7)
    spacing = (1.5, 0.6)
    cases = {}
    for i in range(3):
        g = np.zeros((24, 30), np.uint8)
        g[3 + i:12, 4:20] = 1
        g[12:20, 10 + i:26] = 2
        p = g.copy()
        p[rng.random(g.shape) < 0.08] = 0
        p[0:2, 28:30] = 1  # a small false positive in the corner (touches the image border)
        cases[f"c{i}"] = (g, p)
        png(tmp_path / "gt" / f"c{i}.png", g)
        png(tmp_path / "pred" / f"c{i}.png", p)
    r = run(tmp_path / "gt", tmp_path / "pred", "--metrics", "hd,hd95,assd,masd,nsd", "--nsd-tolerance", "1.2",
            "--spacing", "1.5,0.6", "--surface-convention", "deepmind", "--labels", "1,2", "--region", "fg=1,2",
            "--format", "json")
    assert r.exit_code == 0, r.stderr
    for case in strict_json(r.stdout)["cases"]:
        g, p = cases[case["case"]]
        for key, members in (("1", [1]), ("2", [2]), ("fg", [1, 2])):
            ref = sd.compute_surface_distances(np.isin(g, members), np.isin(p, members), spacing)
            got = case["classes"][key]
            assert abs(got["nsd"] - sd.compute_surface_dice_at_tolerance(ref, 1.2)) <= TOL
            assert abs(got["hd95"] - sd.compute_robust_hausdorff(ref, 95)) <= TOL
            assert abs(got["hd"] - sd.compute_robust_hausdorff(ref, 100)) <= TOL
            m_g, m_p = sd.compute_average_surface_distance(ref)
            assert abs(got["masd"] - (m_g + m_p) / 2) <= TOL
