"""Counting uint8 .nii.gz pairs while they decompress gives exactly what the whole-volume path gives.

The reference is dice's own whole-volume path (read both files, count), which the rest
of the suite checks against hand counts, MedPy and scikit-learn; here every field of
the streamed CaseResult must equal it, over volumes chosen to break piecing: sizes
that are not multiples of 8, many small pieces, labels first met in late pieces,
bgzip files of many gzip members, 2D files and trailing axes of size 1.
"""

from __future__ import annotations

import gzip
import struct
import zlib

import nibabel as nib
import numpy as np
import pytest

from dicecli import case
from dicecli.case import CaseError, CaseResult, score_pair
from dicecli.pairing import Pair
from dicecli.readers import nifti_stream, read_volume
from dicecli.settings import Settings


def save(path, array, zooms=None, affine=None):
    img = nib.Nifti1Image(array, np.eye(4) if affine is None else affine)
    img.set_data_dtype(array.dtype)
    if zooms is not None:
        img.header.set_zooms(zooms)
    nib.save(img, str(path))
    return str(path)


def bgzip(path, member_bytes=4096):
    """Rewrite a .nii.gz as many concatenated gzip members (as bgzip does)."""
    raw = gzip.decompress(open(path, "rb").read())
    members = [gzip.compress(raw[i:i + member_bytes]) for i in range(0, len(raw), member_bytes)]
    open(path, "wb").write(b"".join(members))


def blobs(rng, shape, labels, dtype=np.uint8):
    a = np.zeros(shape, dtype=dtype)
    for label in labels:
        lo = [int(rng.integers(0, max(1, n - 3))) for n in shape]
        hi = [min(n, s + int(rng.integers(1, max(2, n // 2)))) for n, s in zip(shape, lo)]
        a[tuple(slice(s, e) for s, e in zip(lo, hi))] = label
    return a


def whole_volume(pair, settings, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(case, "_streamable", lambda *_: False)
        return score_pair(pair, settings)


def assert_same(a: CaseResult, b: CaseResult):
    assert isinstance(a, CaseResult) and isinstance(b, CaseResult), (a, b)
    for name in ("labels", "tp", "fp", "fn"):
        np.testing.assert_array_equal(getattr(a.counts, name), getattr(b.counts, name), err_msg=name)
    assert (a.counts.n_voxels, a.counts.n_ignored) == (b.counts.n_voxels, b.counts.n_ignored)
    for x, y in zip(a.counts.joint, b.counts.joint):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.region_counts, b.region_counts)
    for name in ("pred_kind", "prob_scale", "quantised", "voxel_volume_mm3", "channel_axis", "warnings",
                 "soft_labels", "soft_sums", "case", "gt", "pred"):
        assert getattr(a, name) == getattr(b, name), name


CASES = [
    # (shape, piece bytes, bgzip member bytes, settings)
    ((37, 41, 23), 4096, None, {}),
    ((64, 64, 64), 1024, None, {"ignore_label": 4}),
    ((30, 33, 17), 8, None, {"regions": (("fg", (1, 2, 3)), ("two", (2,)))}),
    ((50, 61), 512, None, {}),
    ((20, 21, 22, 1), 2048, None, {"pred_kind": "labels"}),
    ((45, 40, 31), 4096, 1000, {}),
    ((45, 40, 31), 4096, 4096, {"ignore_label": 3}),
]


@pytest.mark.parametrize("shape, piece, member, options", CASES)
def test_streamed_case_equals_whole_volume(tmp_path, monkeypatch, shape, piece, member, options):
    rng = np.random.default_rng(sum(shape))
    gt = blobs(rng, shape, [1, 2, 3, 4, 9])
    pred = blobs(rng, shape, [1, 2, 5, 200])
    pred.reshape(-1, order="F")[-1] = 250  # a label met only in the very last voxel
    paths = [save(tmp_path / f"{side}.nii.gz", a, zooms=(0.8, 0.9, 2.5, 1.0)[:len(shape)])
             for side, a in (("gt", gt), ("pred", pred))]
    if member:
        for path in paths:
            bgzip(path, member)
    pair = Pair("c", *paths)
    settings = Settings(**options)
    monkeypatch.setattr(nifti_stream, "PIECE_BYTES", piece)
    used = []
    real = nifti_stream.open_stream
    monkeypatch.setattr(nifti_stream, "open_stream", lambda p: used.append(p) or real(p))
    streamed = score_pair(pair, settings)
    assert used == paths  # the streamed path ran (no fallback before counting)
    assert_same(streamed, whole_volume(pair, settings, monkeypatch))


def test_streamed_pair_never_decodes_a_whole_volume(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    paths = [save(tmp_path / f"{s}.nii.gz", blobs(rng, (40, 40, 40), [1, 2])) for s in ("gt", "pred")]
    monkeypatch.setattr(case, "read_volume", lambda p: pytest.fail(f"read whole: {p}"))
    assert isinstance(score_pair(Pair("c", *paths), Settings()), CaseResult)


@pytest.mark.parametrize("make", ["float_gt", "int16_pred", "scaled_pred", "shape", "spacing", "4d"])
def test_other_pairs_take_the_whole_volume_path(tmp_path, monkeypatch, make):
    rng = np.random.default_rng(2)
    gt, pred = blobs(rng, (20, 22, 24), [1, 2]), blobs(rng, (20, 22, 24), [1, 3])
    zooms = None
    if make == "float_gt":
        gt = gt.astype(np.float32)
    elif make == "int16_pred":
        pred = pred.astype(np.int16)
    elif make == "shape":
        pred = pred[:, :, :20]
    elif make == "spacing":
        zooms = (1.0, 1.0, 3.0)
    elif make == "4d":
        pred = np.stack([pred == 0, pred == 1, pred == 3], axis=-1).astype(np.uint8)
    g = save(tmp_path / "gt.nii.gz", gt)
    p = save(tmp_path / "pred.nii.gz", pred, zooms=zooms)
    if make == "scaled_pred":  # scl_slope 1, scl_inter 0.5 (header bytes 112 and 116)
        raw = bytearray(gzip.decompress(open(p, "rb").read()))
        struct.pack_into("<ff", raw, 112, 1.0, 0.5)
        open(p, "wb").write(gzip.compress(bytes(raw)))
        assert nib.load(p).dataobj.inter == 0.5
    reads = []
    real = case.read_volume
    monkeypatch.setattr(case, "read_volume", lambda path: reads.append(path) or real(path))
    score_pair(Pair("c", g, p), Settings(geometry="warn"))
    assert reads, "expected the whole-volume path"


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "header"])
def test_damaged_files_get_the_whole_volume_readers_error(tmp_path, damage):
    rng = np.random.default_rng(3)
    g = save(tmp_path / "gt.nii.gz", blobs(rng, (30, 30, 30), [1, 2]))
    p = save(tmp_path / "pred.nii.gz", blobs(rng, (30, 30, 30), [1, 2]))
    data = bytearray(open(p, "rb").read())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    elif damage == "corrupt":
        data[len(data) // 2: len(data) // 2 + 40] = bytes(40)
    else:
        data = bytearray(gzip.compress(b"\x00" * 400))
    open(p, "wb").write(bytes(data))
    outcome = score_pair(Pair("c", g, p), Settings())
    assert isinstance(outcome, CaseError)
    with pytest.raises(Exception) as info:
        read_volume(p)
    assert outcome.message == str(info.value)


def test_pieces_are_whole_multiples_of_8_across_gzip_members(tmp_path):
    a = np.arange(7 * 11 * 13, dtype=np.uint8).reshape(7, 11, 13)
    path = save(tmp_path / "a.nii.gz", a)
    bgzip(path, 333)  # members end at odd offsets, inside the header too
    stream = nifti_stream.open_stream(path)
    pieces = list(stream.pieces(64))
    assert all(len(piece) == 64 for piece in pieces[:-1]) and 0 < len(pieces[-1]) <= 64
    np.testing.assert_array_equal(np.concatenate(pieces), a.ravel(order="F"))
    assert zlib.crc32(np.concatenate(pieces).tobytes()) == zlib.crc32(a.ravel(order="F").tobytes())


def test_zero_voxel_pair_is_refused_on_both_paths(tmp_path, monkeypatch):
    paths = [save(tmp_path / f"{s}.nii.gz", np.zeros((4, 5, 0), np.uint8)) for s in ("gt", "pred")]
    pair = Pair("c", *paths)
    for outcome in (score_pair(pair, Settings()), whole_volume(pair, Settings(), monkeypatch)):
        assert isinstance(outcome, CaseError)
        assert outcome.message == f"{paths[0]}: has no voxels (shape (4, 5, 0))"
