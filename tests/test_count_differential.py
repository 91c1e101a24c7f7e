"""count_labels against a plain np.bincount reference, over dtypes, label ranges, chunk sizes
and ignore labels. The reference is written here from numpy's documented bincount, voxel sets
taken literally: TP(l) = #(g == l & p == l), FP(l) = #(p == l & g != l), FN(l) = #(g == l & p != l),
with voxels whose ground truth is the ignore label left out of everything."""

import contextlib

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dicecli.core.score as score
from dicecli.core.interpret import to_labels
from dicecli.core.score import count_labels

DTYPES = ["u1", "u2", "i2", "i4", "u8", "f4", "f8"]
#: label ranges: few (compare path), byte-sized, above 256 (dense tally), above 2**20 (compact values)
RANGES = {"<=24": 24, "<=256": 255, ">256": 3000, ">2**20": (1 << 20) + 5000}


def reference(g: np.ndarray, p: np.ndarray, ignore):
    """{label: (tp, fp, fn)} for every label present in g or p (after leaving ignored voxels out)."""
    g, p = g.ravel().astype(np.int64), p.ravel().astype(np.int64)
    if ignore is not None:
        keep = g != ignore
        g, p = g[keep], p[keep]
    values = np.union1d(g, p)
    gi, pi = np.searchsorted(values, g), np.searchsorted(values, p)
    n = len(values)
    gt_hist = np.bincount(gi, minlength=n)
    pred_hist = np.bincount(pi, minlength=n)
    tp = np.bincount(gi[gi == pi], minlength=n)
    return {int(v): (int(tp[i]), int(pred_hist[i] - tp[i]), int(gt_hist[i] - tp[i])) for i, v in enumerate(values)}


def as_dict(counts):
    return {int(v): (int(a), int(b), int(c)) for v, a, b, c in zip(counts.labels, counts.tp, counts.fp, counts.fn)
            if a or b or c}


@st.composite
def cases(draw):
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    top = RANGES[draw(st.sampled_from(sorted(RANGES)))]
    if dtype.kind in "ui":
        top = min(top, np.iinfo(dtype).max)
    n = draw(st.integers(1, 700))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # a few distinct values spread over the range, with background dominant and runs of zeros
    palette = np.unique(np.concatenate([[0], rng.integers(0, top + 1, size=draw(st.integers(1, 40)))]))
    g = palette[rng.integers(0, len(palette), n)]
    g[rng.random(n) < 0.5] = 0
    p = g.copy()
    flip = rng.random(n) < draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    p[flip] = palette[rng.integers(0, len(palette), int(flip.sum()))]
    ignore_kind = draw(st.sampled_from(["none", "zero", "present", "absent"]))
    present = [int(v) for v in np.unique(g)]
    ignore = {"none": None, "zero": 0, "present": present[len(present) // 2],
              "absent": int(top) + 1 if top + 1 not in present else None}[ignore_kind]
    return g.astype(dtype), p.astype(dtype), ignore


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from([8, 64, 1 << 21]), st.sampled_from([0, score._SMALL_VOXELS]))
def test_count_labels_equals_bincount_reference(case, chunk, small):
    g, p, ignore = case
    with chunk_size(chunk), patched(score, "_SMALL_VOXELS", small):
        check_against_reference(g, p, ignore)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.sampled_from([8, 64, 1 << 21]))
def test_small_images_count_as_the_word_path_does(case, chunk):
    """One joint histogram (small images) gives the word path's CaseCounts, field for field."""
    g, p, ignore = case
    if g.dtype.kind == "f":
        g = to_labels(g, threshold=0.5, allow_probability=False)[0]
        p = to_labels(p, threshold=0.5, allow_probability=False)[0]
    small = count_labels(g, p, ignore=ignore)
    with chunk_size(chunk), patched(score, "_SMALL_VOXELS", 0):
        words = count_labels(g, p, ignore=ignore)
    lean = count_labels(g, p, ignore=ignore, keep_joint=False)  # what a run without regions asks for
    for name in ("labels", "tp", "fp", "fn", "n_voxels", "n_ignored"):
        np.testing.assert_array_equal(getattr(small, name), getattr(words, name), err_msg=name)
        np.testing.assert_array_equal(getattr(lean, name), getattr(words, name), err_msg=name)
        if name not in ("n_voxels", "n_ignored"):
            assert getattr(small, name).dtype == getattr(lean, name).dtype == getattr(words, name).dtype == np.int64
    assert (small.joint is None) == (words.joint is None)
    for a, b in zip(small.joint or (), words.joint or ()):
        np.testing.assert_array_equal(a, b)


@contextlib.contextmanager
def patched(module, name, value):
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def chunk_size(n):
    """Count in chunks of ``n`` voxels (several chunks per case for small n)."""
    return patched(score, "CHUNK_VOXELS", n)


def check_against_reference(g, p, ignore):
    if g.dtype.kind == "f":  # whole-number float maps become labels first, as every reader's output does
        g = to_labels(g, threshold=0.5, allow_probability=False)[0]
        p = to_labels(p, threshold=0.5, allow_probability=False)[0]
    got = count_labels(g, p, ignore=ignore)
    want = reference(g, p, ignore)
    assert as_dict(got) == {k: v for k, v in want.items() if any(v)}
    n_ignored = 0 if ignore is None else int(np.count_nonzero(g.ravel().astype(np.int64) == ignore))
    assert (got.n_voxels, got.n_ignored) == (g.size - n_ignored, n_ignored)


def test_ignored_row_matters_for_uint16_maps_with_many_labels():
    """The case that once passed with the ignored-row correction deleted: uint16, > 256 labels, ignore 0."""
    rng = np.random.default_rng(0)
    g = rng.integers(0, 400, 5000).astype(np.uint16)
    p = g.copy()
    p[rng.random(5000) < 0.3] = 7
    g[1000:2000] = p[1000:2000] = 0  # whole 8-byte words of background in both, counted in bulk
    for ignore in (0, 7, None):
        check_against_reference(g, p, ignore)
