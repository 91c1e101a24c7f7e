"""Counting .nii.gz pairs while they decompress gives exactly what the whole-volume path gives.

The reference is dice's own whole-volume path (read both files, count), which the rest
of the suite checks against hand counts, MedPy and scikit-learn; here every field of
the streamed CaseResult must equal it, over volumes chosen to break piecing: sizes
that are not multiples of 8, many small pieces, labels first met in late pieces,
bgzip files of many gzip members, 2D files and trailing axes of size 1; over every
voxel type (integer and whole-number float labels, big-endian files) and float
probability maps whose first non-whole value comes late; and a stream that has to
give up part way (labels above 255, negative or NaN values) ends as the whole path does.
"""

from __future__ import annotations

import dataclasses
import gzip
import struct
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from dicecli import case
from dicecli.core import interpret
from dicecli.case import CaseError, CaseResult, score_pair
from dicecli.io.pairing import Pair
from dicecli.io.readers import nifti_stream, read_volume
from dicecli.settings import Settings


def save(path, array, zooms=None, affine=None):
    """Write ``array`` as NIfTI-1 in its own dtype, big-endian (header and voxels) for a '>' dtype."""
    header = nib.Nifti1Header(endianness=">" if array.dtype.byteorder == ">" else "<")
    header.set_data_dtype(array.dtype)
    img = nib.Nifti1Image(array, np.eye(4) if affine is None else affine, header=header)
    if zooms is not None:
        img.header.set_zooms(zooms)
    nib.save(img, str(path))
    return str(path)


def bgzip(path, member_bytes=4096):
    """Rewrite a .nii.gz as many concatenated gzip members (as bgzip does)."""
    raw = gzip.decompress(Path(path).read_bytes())
    members = [gzip.compress(raw[i:i + member_bytes]) for i in range(0, len(raw), member_bytes)]
    Path(path).write_bytes(b"".join(members))


def blobs(rng, shape, labels, dtype=np.uint8):
    a = np.zeros(shape, dtype=dtype)
    for label in labels:
        lo = [int(rng.integers(0, max(1, n - 3))) for n in shape]
        hi = [min(n, s + int(rng.integers(1, max(2, n // 2)))) for n, s in zip(shape, lo)]
        a[tuple(slice(s, e) for s, e in zip(lo, hi))] = label
    return a


def set_at(array, index, value):
    """Set the voxel ``index`` in file order (x fastest, as NIfTI stores voxels)."""
    array[np.unravel_index(index, array.shape, order="F")] = value


def whole_volume(pair, settings, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(case, "_streamable", lambda *_: False)
        return score_pair(pair, settings)


def assert_same(a: CaseResult, b: CaseResult):
    """Every field of two CaseResults (and of their counts) equal, arrays element by element."""
    assert isinstance(a, CaseResult) and isinstance(b, CaseResult), (a, b)
    for field in dataclasses.fields(a.counts):
        x, y = getattr(a.counts, field.name), getattr(b.counts, field.name)
        if field.name == "joint":
            assert (x is None) == (y is None)
            for u, v in zip(x or (), y or ()):
                np.testing.assert_array_equal(u, v)
        else:
            np.testing.assert_array_equal(x, y, err_msg=field.name)
            assert np.asarray(x).dtype == np.asarray(y).dtype, field.name
    for field in dataclasses.fields(a):
        if field.name == "counts":
            continue
        x, y = getattr(a, field.name), getattr(b, field.name)
        if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=field.name)
        else:
            assert x == y and type(x) is type(y), field.name


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
    set_at(pred, pred.size - 1, 250)  # a label met only in the very last voxel
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


def streamed_and_whole(tmp_path, monkeypatch, gt, pred, settings=None, piece=None):
    """(streamed outcome, whole-volume outcome, whether the streamed path read a file whole)."""
    paths = [save(tmp_path / f"{side}.nii.gz", a, zooms=(0.8, 0.9, 2.5)[:a.ndim])
             for side, a in (("gt", gt), ("pred", pred))]
    pair, settings = Pair("c", *paths), settings or Settings()
    if piece is not None:
        monkeypatch.setattr(nifti_stream, "PIECE_BYTES", piece)
    reads = []
    real = case.read_volume
    with monkeypatch.context() as m:
        m.setattr(case, "read_volume", lambda path: reads.append(path) or real(path))
        streamed = score_pair(pair, settings)
    return streamed, whole_volume(pair, settings, monkeypatch), bool(reads)


DTYPES = [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.float32, np.float64,
          ">i2", ">f4", ">f8"]


@pytest.mark.parametrize("gt_dtype, pred_dtype", [(d, d) for d in DTYPES] + [
    (np.uint8, np.float32), (np.float64, np.uint8), (np.int16, ">u2"), (np.float32, np.int32)])
@pytest.mark.parametrize("options", [{}, {"ignore_label": 4}, {"regions": (("fg", (1, 2, 3)), ("two", (2,)))},
                                     {"pred_kind": "labels"}])
def test_every_label_dtype_streams_as_the_whole_volume(tmp_path, monkeypatch, gt_dtype, pred_dtype, options):
    rng = np.random.default_rng(5)
    shape = (29, 31, 19)
    top = 127 if np.dtype(pred_dtype) == np.int8 else 250
    gt = blobs(rng, shape, [1, 2, 3, 4, 9]).astype(gt_dtype)
    pred = blobs(rng, shape, [1, 2, 5, 100]).astype(pred_dtype)
    set_at(pred, pred.size - 1, top)  # a label met only in the very last voxel
    streamed, whole, read = streamed_and_whole(tmp_path, monkeypatch, gt, pred, Settings(**options), piece=1024)
    assert not read, "expected the streamed path to finish"
    assert_same(streamed, whole)


def probability_map(rng, shape, *, late: int, ones=True, dtype=np.float32):
    """A map that is 0 (and 1 in a block, when ``ones``) up to voxel ``late`` in file order and
    random probabilities from there, with values exactly at 0.5 too."""
    flat = rng.random(int(np.prod(shape))).astype(dtype)
    flat[::97] = 0.5
    flat[:late] = 0
    if ones:
        flat[late // 3: late // 2] = 1
    return flat.reshape(shape, order="F")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, ">f4"])
@pytest.mark.parametrize("threshold, late", [(0.5, 0), (0.5, 20_000), (0.5, 41 * 37 * 23 - 1), (1.0, 9_000),
                                             (0.3, 20_000)])
def test_probability_maps_are_thresholded_while_streaming(tmp_path, monkeypatch, dtype, threshold, late):
    rng = np.random.default_rng(6)
    shape = (41, 37, 23)
    gt = blobs(rng, shape, [1, 3])
    pred = probability_map(rng, shape, late=late, dtype=dtype)
    streamed, whole, read = streamed_and_whole(tmp_path, monkeypatch, gt, pred, Settings(threshold=threshold),
                                               piece=1024)
    assert not read, "a probability map is thresholded while streaming, never read again"
    assert whole.pred_kind == "probability"
    assert_same(streamed, whole)


@pytest.mark.parametrize("make", ["label_300", "negative", "nan", "prob_after_label_2", "threshold_0",
                                  "above_1", "gt_prob", "labels_kind_prob", "labels_then_fraction"])
def test_a_stream_that_gives_up_ends_as_the_whole_volume_path(tmp_path, monkeypatch, make):
    rng = np.random.default_rng(7)
    shape = (29, 31, 19)
    late = 15_000
    gt = blobs(rng, shape, [1, 2]).astype(np.int16)
    pred = blobs(rng, shape, [1, 3]).astype(np.float32)
    settings = Settings()
    if make == "label_300":
        set_at(pred, late, 300)
    elif make == "negative":
        set_at(gt, late, -1)
    elif make == "nan":
        pred = probability_map(rng, shape, late=late)
        set_at(pred, late + 1000, np.nan)
    elif make == "prob_after_label_2":
        pred = probability_map(rng, shape, late=late)
        set_at(pred, 10, 2)
    elif make == "threshold_0":
        pred, settings = probability_map(rng, shape, late=late), Settings(threshold=0.0)
    elif make == "above_1":
        pred = probability_map(rng, shape, late=late)
        set_at(pred, late + 1000, 1.5)
    elif make == "gt_prob":
        gt = probability_map(rng, shape, late=late)
    elif make == "labels_kind_prob":
        pred, settings = probability_map(rng, shape, late=late), Settings(pred_kind="labels")
    elif make == "labels_then_fraction":
        for i in range(late, late + 40):
            set_at(pred, i, 0.25)
    streamed, whole, read = streamed_and_whole(tmp_path, monkeypatch, gt, pred, settings, piece=1024)
    assert read, "expected the stream to give up and the whole-volume path to run"
    if isinstance(whole, CaseError):
        assert streamed == whole
    else:
        assert_same(streamed, whole)


def test_piece_labels_keep_values_as_the_whole_map():
    labels = interpret.PieceLabels(np.dtype(np.float64), threshold=0.5)
    piece = np.array([0.0, -0.0, 1.0, 255.0, 7.0] * 8)
    np.testing.assert_array_equal(labels(piece), [0, 0, 1, 255, 7] * 8)
    for bad in (256.0, -1.0, 1e300, np.inf, np.nan, 2.5):
        with pytest.raises(interpret.NotStreamable):
            labels(np.array([bad] + [0.0] * 7))
    ints = interpret.PieceLabels(np.dtype(np.int16))
    np.testing.assert_array_equal(ints(np.array([0, 255, 3], np.int16)), [0, 255, 3])
    for bad in (256, -1, -32768):
        with pytest.raises(interpret.NotStreamable):
            ints(np.array([bad, 0], np.int16))
    with pytest.raises(interpret.NotStreamable):
        interpret.PieceLabels(np.dtype(np.int8))(np.array([-1, 0], np.int8))


@pytest.mark.parametrize("make", ["scaled_pred", "shape", "spacing", "4d"])
def test_other_pairs_take_the_whole_volume_path(tmp_path, monkeypatch, make):
    rng = np.random.default_rng(2)
    gt, pred = blobs(rng, (20, 22, 24), [1, 2]), blobs(rng, (20, 22, 24), [1, 3])
    zooms = None
    if make == "shape":
        pred = pred[:, :, :20]
    elif make == "spacing":
        zooms = (1.0, 1.0, 3.0)
    elif make == "4d":
        pred = np.stack([pred == 0, pred == 1, pred == 3], axis=-1).astype(np.uint8)
    g = save(tmp_path / "gt.nii.gz", gt)
    p = save(tmp_path / "pred.nii.gz", pred, zooms=zooms)
    if make == "scaled_pred":  # scl_slope 1, scl_inter 0.5 (header bytes 112 and 116)
        raw = bytearray(gzip.decompress(Path(p).read_bytes()))
        struct.pack_into("<ff", raw, 112, 1.0, 0.5)
        Path(p).write_bytes(gzip.compress(bytes(raw)))
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
    data = bytearray(Path(p).read_bytes())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    elif damage == "corrupt":
        data[len(data) // 2: len(data) // 2 + 40] = bytes(40)
    else:
        data = bytearray(gzip.compress(b"\x00" * 400))
    Path(p).write_bytes(bytes(data))
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


@pytest.mark.parametrize("dtype", [np.int16, ">i2", np.float64, ">f8", np.uint32])
def test_pieces_of_wider_types_are_native_voxels_in_file_order(tmp_path, dtype):
    a = (np.arange(7 * 11 * 13) % 200).astype(dtype).reshape(7, 11, 13)
    path = save(tmp_path / "a.nii.gz", a)
    bgzip(path, 333)
    stream = nifti_stream.open_stream(path)
    pieces = list(stream.pieces(40))
    assert all(p.dtype.isnative and p.dtype == np.dtype(dtype).newbyteorder("=") for p in pieces)
    assert all(len(p) == 40 for p in pieces[:-1])
    np.testing.assert_array_equal(np.concatenate(pieces), a.ravel(order="F"))
    assert nifti_stream.piece_voxels(np.uint8, np.float64) == nifti_stream.PIECE_BYTES // 8


def test_zero_voxel_pair_is_refused_on_both_paths(tmp_path, monkeypatch):
    paths = [save(tmp_path / f"{s}.nii.gz", np.zeros((4, 5, 0), np.uint8)) for s in ("gt", "pred")]
    pair = Pair("c", *paths)
    for outcome in (score_pair(pair, Settings()), whole_volume(pair, Settings(), monkeypatch)):
        assert isinstance(outcome, CaseError)
        assert outcome.message == f"{paths[0]}: has no voxels (shape (4, 5, 0))"
