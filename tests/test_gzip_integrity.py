"""Every gzip member of a .nii.gz is checked to its trailer, on the streamed and the whole path,
with either inflater: data cut short, a wrong CRC-32 or length, or trailing garbage is an input
error naming the file, never a score. Python's gzip module is the reference for what is damaged.
"""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
import zlib

import nibabel as nib
import numpy as np
import pytest

import reference
from dicecli.case import CaseError, CaseResult, score_pair
from dicecli.errors import ReadError
from dicecli.io.pairing import Pair
from dicecli.io.readers import gzip_members, nifti_stream, read_volume
from dicecli.settings import Settings

try:
    from isal import isal_zlib
except ImportError:  # pragma: no cover - platforms without an isal wheel
    isal_zlib = None

INFLATERS = {"zlib": zlib, "isal": isal_zlib}
SHAPE = (21, 19, 11)  # odd sizes: the last streamed piece is ragged


@pytest.fixture(params=sorted(INFLATERS))
def inflater(request, monkeypatch):
    module = INFLATERS[request.param]
    if module is None:
        pytest.skip("isal is not installed")
    monkeypatch.setattr(gzip_members, "inflater_module", module)
    return module


def labels(seed=0, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    a = np.zeros(SHAPE, dtype)
    a[2:15, 3:12, 1:9] = 1
    a[rng.random(SHAPE) < 0.05] = 2
    return a


def nifti_bytes(array) -> bytes:
    image = nib.Nifti1Image(array, np.eye(4))
    image.set_data_dtype(array.dtype)
    return image.to_bytes()


def member(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


def flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


RAW = nifti_bytes(labels())
GZ = member(RAW)
EXTRA = member(b"more bytes after the voxels" * 20)  # a valid member nobody needs for the voxels


def damaged(raw: bytes) -> dict[str, tuple[bytes, str]]:
    """name -> (gzip bytes of ``raw`` damaged so, words the error message must hold)."""
    gz = member(raw)
    first = member(raw[:900])
    return {
        "last 4 bytes (the length) cut": (gz[:-4], "truncated"),
        "whole trailer cut": (gz[:-8], "truncated"),
        "cut inside the deflate data": (gz[:len(gz) * 3 // 4], "truncated"),
        "CRC-32 wrong": (flip(gz, len(gz) - 8), "checksum"),
        "length wrong": (flip(gz, len(gz) - 1), "checksum"),
        "trailing garbage": (gz + b"this is not gzip", "trailing garbage"),
        "one stray byte after the member": (gz + b"\x1f", "trailing garbage"),
        "garbage between members": (gz + b"junk" + EXTRA, "trailing garbage"),
        "second member cut": (gz + EXTRA[:-3], "truncated"),
        "second member's CRC-32 wrong": (gz + flip(EXTRA, len(EXTRA) - 6), "checksum"),
        "voxels split over members, last cut": (first + member(raw[900:])[:-2], "truncated"),
        "voxels split over members, first CRC wrong": (flip(first, len(first) - 7) + member(raw[900:]), "checksum"),
    }


def member_with_fields(raw: bytes, *, extra: bytes | None = None, name: bytes | None = None,
                       comment: bytes | None = None, header_crc: bool = False) -> bytes:
    """A gzip member with the optional header fields of RFC 1952 (FEXTRA, FNAME, FCOMMENT,
    FHCRC), as bgzip (an extra "BC" field), the gzip tool and Python's GzipFile (a name) write."""
    flags = (4 if extra is not None else 0) | (8 if name is not None else 0) | (16 if comment is not None else 0)
    header = b"\x1f\x8b\x08" + bytes([flags | (2 if header_crc else 0)]) + bytes(4) + b"\x00\x03"
    if extra is not None:
        header += len(extra).to_bytes(2, "little") + extra
    for text in (name, comment):
        if text is not None:
            header += text + b"\x00"
    if header_crc:
        header += (zlib.crc32(header) & 0xFFFF).to_bytes(2, "little")
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = deflate.compress(raw) + deflate.flush()
    return header + body + zlib.crc32(raw).to_bytes(4, "little") + (len(raw) % 2**32).to_bytes(4, "little")


DAMAGED = damaged(RAW)
# name -> bytes Python's gzip accepts: read as the same voxels
VALID = {
    "one member": GZ,
    "NUL padding after the member": GZ + bytes(37),
    "several members, an empty one last": member(RAW[:500]) + member(RAW[500:]) + member(b""),
    "an extra member after the voxels, then padding": GZ + EXTRA + bytes(3),
    "bgzip-style members (an extra BC field each)": (member_with_fields(RAW[:700], extra=b"BC\x02\x00\x00\x00")
                                                     + member_with_fields(RAW[700:], extra=b"BC\x02\x00\x00\x00")),
    "a file name and a comment in the header": member_with_fields(RAW, name=b"labels.nii", comment=b"made by hand"),
    "every optional header field, header CRC included": member_with_fields(RAW, extra=b"ab\x01\x00z", name=b"n",
                                                                            comment=b"c", header_crc=True),
}


def write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_python_gzip_agrees_the_damaged_files_are_damaged(name):
    with pytest.raises((OSError, EOFError, zlib.error)):
        gzip.decompress(DAMAGED[name][0])


@pytest.mark.parametrize("name", sorted(VALID))
def test_python_gzip_reads_the_valid_files(name):
    assert gzip.decompress(VALID[name]).startswith(RAW)


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_whole_volume_reader_refuses_damaged_gzip(tmp_path, inflater, name):
    data, words = DAMAGED[name]
    path = write(tmp_path, "bad.nii.gz", data)
    with pytest.raises(ReadError) as info:
        read_volume(path)
    assert str(info.value).startswith(f"{path}: ") and words in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_streamed_pieces_refuse_damaged_gzip(tmp_path, inflater, name):
    data, _ = DAMAGED[name]
    path = write(tmp_path, "bad.nii.gz", data)
    with pytest.raises(ReadError):
        stream = nifti_stream.open_stream(path)
        assert stream is not None
        for _ in stream.pieces(64):
            pass


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_a_damaged_case_is_an_error_naming_the_file(tmp_path, inflater, name):
    gt = write(tmp_path, "gt.nii.gz", GZ)
    pred = write(tmp_path, "pred.nii.gz", DAMAGED[name][0])
    for pair in (Pair("c", gt, pred), Pair("c", pred, gt)):
        outcome = score_pair(pair, Settings())
        assert isinstance(outcome, CaseError)
        assert outcome.message.startswith(f"{pred}: ") and DAMAGED[name][1] in outcome.message


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_gzip_layouts_read_as_their_voxels(tmp_path, inflater, name):
    path = write(tmp_path, "ok.nii.gz", VALID[name])
    np.testing.assert_array_equal(read_volume(path).array, labels())
    pieces = list(nifti_stream.open_stream(path).pieces(64))
    np.testing.assert_array_equal(np.concatenate(pieces), labels().ravel(order="F"))


def test_damaged_files_through_the_cli(tmp_path):
    """One real run: every damaged file is one error line naming it, exit 3; the good case is scored."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    names = {f"case{i:02d}": data for i, (data, _) in enumerate(DAMAGED.values())}
    for case, data in [*names.items(), ("good", GZ)]:
        (gt / f"{case}.nii.gz").write_bytes(GZ)
        (pred / f"{case}.nii.gz").write_bytes(data)
    run = subprocess.run([sys.executable, "-m", "dicecli", "score", str(gt), str(pred), "--format", "json",
                          "-j", "1"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("dice: error: ")]
    assert sorted(line.split(": ")[2] for line in errors) == sorted(str(pred / f"{c}.nii.gz") for c in names)
    assert "Traceback" not in run.stderr
    scored = json.loads(run.stdout)["cases"]
    assert [c["case"] for c in scored] == ["good"]


MUTATION_SEEDS = {  # name -> (ground truth, prediction) of a case
    "uint8, streamed": (labels(1), labels(2)),
    "int16, whole volume": (labels(1, np.int16), labels(2, np.int16)),
}


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    kind = rnd.randrange(6)
    if kind == 4:  # the gzip header's method, flags, time, extra flags or OS byte overwritten
        data[rnd.randrange(2, 10)] = rnd.randrange(256)
    elif kind == 5:  # NUL padding, which gzip readers skip
        data += bytes(rnd.randint(1, 9))
    elif kind == 0:  # one flipped bit
        data[rnd.randrange(len(data))] ^= 1 << rnd.randrange(8)
    elif kind == 1:  # a few bytes overwritten
        for _ in range(rnd.randint(1, 4)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
    elif kind == 2:  # cut short, mostly near the end where the trailer is
        del data[max(1, len(data) - rnd.randint(1, 40)):]
    else:  # bytes appended
        data += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 12)))
    return bytes(data)


@pytest.mark.parametrize("seed_name", sorted(MUTATION_SEEDS))
def test_mutated_nifti_gz_is_refused_or_scored_exactly(tmp_path, seed_name):
    """Property: a mutated .nii.gz gives an error, or exactly the counts of Python's gzip + nibabel."""
    gt_array, pred_array = MUTATION_SEEDS[seed_name]
    gt = write(tmp_path, "gt.nii.gz", member(nifti_bytes(gt_array)))
    good = member(nifti_bytes(pred_array))
    rnd = random.Random(seed_name)
    outcomes = {"error": 0, "scored": 0}
    for _ in range(120):
        data = _mutate(rnd, good)
        pred = write(tmp_path, "pred.nii.gz", data)
        try:
            expected = reference.labels(reference.decode(pred), prediction=True)
        except Exception:
            expected = None
        outcome = score_pair(Pair("c", gt, pred), Settings())
        if isinstance(outcome, CaseError):
            assert outcome.message.startswith(f"{pred}: ") and "\n" not in outcome.message
            outcomes["error"] += 1
            continue
        assert isinstance(outcome, CaseResult)
        assert expected is not None and expected.shape == gt_array.shape, "scored a file the reference refuses"
        want = reference.counts(gt_array, expected)
        got = {int(v): (int(t), int(f), int(n)) for v, t, f, n in
               zip(outcome.counts.labels, outcome.counts.tp, outcome.counts.fp, outcome.counts.fn) if v != 0}
        assert got == want
        outcomes["scored"] += 1
    assert outcomes["error"] > 40 and outcomes["scored"] > 20, outcomes  # both outcomes exercised


@pytest.mark.parametrize("name", sorted(DAMAGED))
def test_mgz_is_checked_like_nii_gz(tmp_path, name):
    """nibabel stops reading a .mgz at the end of its data: the gzip trailer is checked by dice."""
    data, words = damaged(nib.MGHImage(labels(), np.eye(4)).to_bytes())[name]
    path = write(tmp_path, "bad.mgz", data)
    with pytest.raises((OSError, EOFError, zlib.error)):
        gzip.decompress(data)
    with pytest.raises(ReadError) as info:
        read_volume(path)
    assert str(info.value).startswith(f"{path}: ") and words in str(info.value)


def test_valid_mgz_reads_as_nibabel_reads_it(tmp_path):
    path = tmp_path / "ok.mgz"
    nib.save(nib.MGHImage(labels(), np.diag([0.5, 0.7, 2.0, 1.0])), str(path))
    (tmp_path / "padded.mgz").write_bytes(path.read_bytes() + bytes(5))
    for p in (path, tmp_path / "padded.mgz"):
        volume = read_volume(str(p))
        np.testing.assert_array_equal(volume.array, np.asanyarray(nib.load(str(path)).dataobj))
        np.testing.assert_allclose(volume.affine, nib.load(str(path)).affine)
        assert volume.spacing_mm == tuple(float(z) for z in nib.load(str(path)).header.get_zooms())
