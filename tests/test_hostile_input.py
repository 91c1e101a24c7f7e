"""Hostile files: each is refused by its reader with one line naming the file and the real reason,
before any big allocation and in bounded work, and the other cases of a run are still scored.

Expected shapes, sizes and values come from the files as written here (numpy, nibabel,
tifffile), never from dice.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

from dicecli.errors import ReadError, ValueKindError
from dicecli.io.readers import read_volume, tiff_directories
from dicecli.core.score import count_labels

GT = np.zeros((6, 5, 4), np.uint8)
GT[1:4, 1:4, 1:3] = 1
RAW_PYTHON_ERRORS = ("division", "modulo", "tuple", "NoneType", "object", "argument", "unpack", "index out")


def nifti(path, array, cls=nib.Nifti1Image):
    nib.save(cls(array, np.eye(4), dtype=array.dtype), str(path))


def refused(path, *words: str) -> str:
    with pytest.raises(ReadError) as info:
        read_volume(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    for word in words:
        assert word in message, message
    assert not any(raw in message for raw in RAW_PYTHON_ERRORS), message
    return message


# --- TIFF: directory chains --------------------------------------------------------------------

def chained_tiff(path, n_pages: int, back_to: int | None) -> None:
    """A classic little-endian TIFF of ``n_pages`` 8x8 uint8 pages sharing one strip; the last
    directory points back to page ``back_to`` (a loop), or ends the chain when None."""
    tags = [(256, 3, 8), (257, 3, 8), (258, 3, 8), (259, 3, 1), (262, 3, 1), (273, 4, 8), (277, 3, 1),
            (278, 3, 8), (279, 4, 64)]
    size = 2 + 12 * len(tags) + 4
    first = 8 + 64
    out = bytearray(b"II*\x00" + struct.pack("<I", first) + bytes(range(64)))
    for page in range(n_pages):
        out += struct.pack("<H", len(tags))
        for code, kind, value in tags:
            out += struct.pack("<HHI", code, kind, 1) + struct.pack("<I" if kind == 4 else "<HH", value,
                                                                    *([] if kind == 4 else [0]))
        following = page + 1 if page + 1 < n_pages else back_to
        out += struct.pack("<I", 0 if following is None else first + following * size)
    path.write_bytes(bytes(out))


def test_the_tiff_builder_writes_what_tifffile_reads(tmp_path):
    chained_tiff(tmp_path / "ok.tif", 3, None)
    assert tifffile.imread(tmp_path / "ok.tif").shape == (3, 8, 8)


@pytest.mark.parametrize("n_pages, back_to", [(1, 0), (150, 60), (130, 0)])
def test_tiff_directory_loops_are_refused(tmp_path, n_pages, back_to):
    chained_tiff(tmp_path / "loop.tif", n_pages, back_to)
    refused(tmp_path / "loop.tif", "loops back", f"after {n_pages} pages")


def test_tiff_loop_through_the_cli_ends(tmp_path):
    """The file that made dice read forever (tifffile checks for loops only at page 100)."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for folder in (gt, pred):
        folder.mkdir()
        chained_tiff(folder / "ok.tif", 2, None)
        chained_tiff(folder / "loop.tif", 2, None)
    chained_tiff(pred / "loop.tif", 150, 60)
    assert (pred / "loop.tif").stat().st_size < 20_000
    run = subprocess.run([sys.executable, "-m", "dicecli", "score", str(gt), str(pred), "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 3
    assert run.stderr.count("dice: error:") == 1 and f"{pred / 'loop.tif'}: damaged TIFF file" in run.stderr
    assert [c["case"] for c in json.loads(run.stdout)["cases"]] == ["ok"]


def test_tiff_cut_inside_a_directory_says_truncated(tmp_path):
    chained_tiff(tmp_path / "cut.tif", 5, None)
    data = (tmp_path / "cut.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[:72 + 2 * 114 + 1])  # one byte into page 3's directory
    refused(tmp_path / "cut.tif", "page 3", "truncated")


def test_overlapping_tiff_directories_are_refused(tmp_path):
    """Directory A (4 entries) points at byte 12 of itself: directory B reads its entry count (2)
    from A's first entry and its entries from A's next two. Real files never share bytes so."""
    entries = [(300, 4, 1, 2 << 16), (256, 3, 1, 8), (257, 3, 1, 8), (0, 0, 0, 0)]
    a = struct.pack("<H", 4) + b"".join(struct.pack("<HHII", *e) for e in entries) + struct.pack("<I", 8 + 12)
    path = tmp_path / "overlap.tif"
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + a)
    refused(path, "damaged TIFF file: its 2 image directories overlap", "62 bytes")


def test_more_pages_than_the_limit_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(tiff_directories, "MAX_PAGES", 4)
    chained_tiff(tmp_path / "four.tif", 4, None)
    assert read_volume(str(tmp_path / "four.tif")).array.shape == (4, 8, 8)
    chained_tiff(tmp_path / "five.tif", 5, None)
    refused(tmp_path / "five.tif", "more than 4 pages")


def patched_tiff(path, tag: int, *, value=None, code=None, kind=None) -> None:
    """A tifffile-written 12x10 uint8 TIFF with one entry of the first directory changed."""
    tifffile.imwrite(path, np.arange(120, dtype=np.uint8).reshape(12, 10), photometric="minisblack")
    data = bytearray(path.read_bytes())
    first = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, first)[0]):
        at = first + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == tag:
            if code is not None:
                struct.pack_into("<H", data, at, code)
            if kind is not None:
                struct.pack_into("<H", data, at + 2, kind)
            if value is not None:
                struct.pack_into("<I", data, at + 8, value)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("change, words", [
    (dict(tag=256, value=0), ["page 1 gives image width 0"]),
    (dict(tag=257, value=0), ["page 1 gives image length 0"]),
    (dict(tag=278, value=0), ["rows per strip 0"]),
    (dict(tag=257, code=999), ["page 1 gives no image length"]),
    (dict(tag=256, kind=86), ["page 1 gives no image width"]),  # an invalid TIFF type: tifffile drops the tag
])
def test_tiff_size_tags_that_make_no_image(tmp_path, change, words):
    patched_tiff(tmp_path / "bad.tif", **change)
    refused(tmp_path / "bad.tif", "damaged TIFF file", *words)


def test_tiff_tiles_larger_than_the_file_can_hold(tmp_path):
    path = tmp_path / "tiles.tif"
    tifffile.imwrite(path, np.zeros((48, 40), np.uint8), tile=(16, 16), compression="zlib")
    data = bytearray(path.read_bytes())
    first = struct.unpack_from("<I", data, 4)[0]
    for i in range(struct.unpack_from("<H", data, first)[0]):
        at = first + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == 323:  # TileLength: 3.5e9 rows, a 56 GB tile
            struct.pack_into("<HHII", data, at, 323, 4, 1, 3523215376)
    path.write_bytes(bytes(data))
    refused(path, "tiles of 3523215376 x 16 pixels")


def test_tifffile_errors_are_worded_not_leaked(tmp_path):
    """Each raw failure inside tifffile becomes a reason in the TIFF's terms."""
    path = tmp_path / "zero.tif"
    tifffile.imwrite(path, np.zeros((4, 12, 10), np.uint8), photometric="minisblack")  # shaped description
    data = path.read_bytes().replace(b'{"shape": [4, 12, 10]}', b'{"shape": [4, 12, 1\xff]}')
    path.write_bytes(data)
    refused(path, "damaged TIFF file", "image description")


# --- .npy / .npz whose header promises more than the file holds ----------------------------------

def npy_header(shape, descr="<u1") -> bytes:
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    text = text.ljust(117) + "\n"  # 128 header bytes, as numpy aligns them
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text.encode()


def test_npy_claiming_a_huge_shape_names_both_sizes(tmp_path):
    path = tmp_path / "huge.npy"
    path.write_bytes(npy_header((100_000, 100_000, 1_000)) + bytes(72))
    assert path.stat().st_size == 200
    message = refused(path, "header promises shape (100000, 100000, 1000)", "10000000000000 bytes",
                      "holds 72 bytes")
    assert "memory" not in message


def test_npy_one_byte_short(tmp_path):
    path = tmp_path / "short.npy"
    np.save(path, np.arange(24, dtype="<i2").reshape(4, 6))
    path.write_bytes(path.read_bytes()[:-1])
    refused(path, "48 bytes", "holds 47 bytes")


def test_npz_member_claiming_a_huge_shape(tmp_path):
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("probabilities.npy", npy_header((2, 50_000, 50_000, 500), "<f4") + bytes(40))
    message = refused(path, "'probabilities.npy'", "10000000000000 bytes", "holds 40 bytes")
    assert "memory" not in message


def test_npz_with_a_wrong_crc_is_refused(tmp_path):
    path = tmp_path / "crc.npz"
    np.savez(path, probabilities=np.zeros((2, 6, 5), np.float32))
    data = bytearray(path.read_bytes())
    at = data.index(b"\x93NUMPY") + 200  # a data byte of the stored member
    data[at] ^= 0x40
    path.write_bytes(bytes(data))
    refused(path, "CRC")


def test_npy_bool_bytes_read_as_numpy_reads_them(tmp_path):
    path = tmp_path / "b.npy"
    path.write_bytes(npy_header((2, 3), "|b1") + bytes([0, 1, 7, 255, 0, 2]))
    expected = np.load(path).astype(np.uint8)  # numpy casts every non-zero byte to 1
    array = read_volume(str(path)).array
    np.testing.assert_array_equal(array.view(np.uint8) if array.dtype == bool else array, expected)


# --- zero-voxel images ------------------------------------------------------------------------

ZERO_VOXEL_WRITERS = {
    "a.nii.gz": lambda p: nifti(p, np.zeros((4, 5, 0), np.uint8)),
    "b.nii": lambda p: nifti(p, np.zeros((0, 5), np.int16)),
    "c.npy": lambda p: np.save(p, np.zeros((3, 0), np.uint8)),
    "d.npz": lambda p: np.savez(p, np.zeros((0, 4, 4), np.float32)),
}


@pytest.mark.parametrize("name", sorted(ZERO_VOXEL_WRITERS))
def test_zero_voxel_image_is_refused(tmp_path, name):
    ZERO_VOXEL_WRITERS[name](tmp_path / name)
    shape = {"a": (4, 5, 0), "b": (0, 5), "c": (3, 0), "d": (0, 4, 4)}[name[0]]
    refused(tmp_path / name, f"has no voxels (shape {shape})")


def test_zero_voxel_pairs_through_the_cli(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    for name, write in ZERO_VOXEL_WRITERS.items():
        write(gt / name)
        write(pred / name)
    nifti(gt / "ok.nii.gz", GT)
    nifti(pred / "ok.nii.gz", GT)
    run = subprocess.run([sys.executable, "-m", "dicecli", "score", str(gt), str(pred), "--format", "json",
                          "-j", "1"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 3, run.stderr
    errors = sorted(line for line in run.stderr.splitlines() if line.startswith("dice: error:"))
    assert len(errors) == 4 and all("has no voxels" in line for line in errors), run.stderr
    assert [c["case"] for c in json.loads(run.stdout)["cases"]] == ["ok"]


# --- NIfTI shapes --------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("shape", [(6, 5, 4, 1, 1, 1, 2), (6, 5, 4, 1, 3), (6, 5, 4, 2, 3), (120,)])
def test_nifti_shapes_beyond_x_y_z_c_are_refused(tmp_path, suffix, shape):
    path = tmp_path / f"pred{suffix}"
    nifti(path, np.zeros(shape, np.uint8))
    refused(path, f"image of shape {shape}")


@pytest.mark.parametrize("shape, kept, channel_axis", [
    ((6, 5, 4, 1, 1), (6, 5, 4), None),
    ((6, 5, 4, 2, 1, 1, 1), (6, 5, 4, 2), 3),
    ((6, 5, 1, 3), (6, 5, 1, 3), 3),
    ((6, 5), (6, 5), None),
])
def test_documented_nifti_shapes_are_read(tmp_path, shape, kept, channel_axis):
    path = tmp_path / "ok.nii.gz"
    nifti(path, np.arange(np.prod(shape), dtype=np.uint8).reshape(shape))
    volume = read_volume(str(path))
    assert volume.array.shape == kept and volume.channel_axis == channel_axis
    np.testing.assert_array_equal(volume.array, np.asanyarray(nib.load(str(path)).dataobj).reshape(kept))


def test_7d_nifti_is_not_scored_as_a_softmax(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    nifti(gt / "c.nii.gz", GT)
    soft = np.stack([1.0 - GT, GT], axis=-1).astype(np.float32).reshape(6, 5, 4, 1, 1, 1, 2)
    nifti(pred / "c.nii.gz", soft)
    run = subprocess.run([sys.executable, "-m", "dicecli", "score", str(gt), str(pred), "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 3
    assert f"dice: error: {pred / 'c.nii.gz'}: image of shape (6, 5, 4, 1, 1, 1, 2)" in run.stderr


# --- labels that int64 cannot hold ---------------------------------------------------------------

@pytest.mark.parametrize("value", [2**63, 2**64 - 1])
@pytest.mark.parametrize("suffix", [".npy", ".nii.gz", ".tif"])
def test_uint64_labels_of_2_63_or_more_are_refused_naming_the_file(tmp_path, value, suffix):
    array = np.zeros((6, 5), np.uint64)
    array[2, 2] = value
    path = tmp_path / f"big{suffix}"
    {".npy": lambda: np.save(path, array), ".nii.gz": lambda: nifti(path, array),
     ".tif": lambda: tifffile.imwrite(path, array)}[suffix]()
    refused(path, f"label value {value} is too large (labels must be below 2**63)")


def test_largest_int64_label_is_kept(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    array = np.zeros((6, 5), np.uint64)
    array[1:3, 1:3] = 2**63 - 1
    np.save(gt / "c.npy", array)
    np.save(pred / "c.npy", array)
    run = subprocess.run([sys.executable, "-m", "dicecli", "score", str(gt), str(pred), "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    classes = json.loads(run.stdout)["cases"][0]["classes"]
    assert classes[str(2**63 - 1)]["tp"] == 4


def test_whole_float_labels_of_2_63_or_more_are_an_input_error(tmp_path):
    """1e19 is a whole float: it becomes a uint64 label that int64 counts cannot hold."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    for name in ("big", "ok"):
        np.save(gt / f"{name}.npy", GT[..., 1].astype(np.float64))
        np.save(pred / f"{name}.npy", GT[..., 1].astype(np.float64))
    np.save(pred / "big.npy", np.where(GT[..., 1] > 0, 1e19, 0.0))
    run = subprocess.run([sys.executable, "-m", "dicecli", "score", str(gt), str(pred), "--format", "json"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 3, run.stderr
    assert (f"dice: error: {pred / 'big.npy'}: label value 10000000000000000000 is too large "
            "(labels must be below 2**63)") in run.stderr
    assert [c["case"] for c in json.loads(run.stdout)["cases"]] == ["ok"]


def test_count_labels_refuses_uint64_labels_it_cannot_keep():
    a = np.zeros(10, np.uint64)
    b = a.copy()
    b[3] = 2**63
    with pytest.raises(ValueKindError, match="label value 9223372036854775808 is too large"):
        count_labels(a, b)
    b[3] = 2**63 - 1
    counts = count_labels(a, b)
    assert counts.labels.tolist() == [0, 2**63 - 1] and counts.fp.tolist() == [0, 1]


# --- PNG chunks ----------------------------------------------------------------------------------

def _png_bytes(tmp_path) -> tuple[bytes, int, int]:
    """A 12x10 grey PNG as pillow writes it (IHDR, one IDAT, IEND), and where its IDAT's data
    start and end."""
    Image.fromarray(np.arange(120, dtype=np.uint8).reshape(12, 10), mode="L").save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    start = data.index(b"IDAT") + 4
    return data, start, start + int.from_bytes(data[start - 8:start - 4], "big")


@pytest.mark.parametrize("damage, words", [
    ("IDAT CRC-32 flipped", "chunk IDAT at byte 33 fails its CRC-32 check"),
    ("cut inside the zlib checksum", "truncated data: the PNG ends inside chunk IDAT at byte 33"),
    ("IEND missing", "truncated data: the PNG ends before its IEND chunk"),
])
def test_damaged_png_chunks_are_refused_though_pillow_decodes_them(tmp_path, damage, words):
    """libpng refuses these files; pillow checks neither the CRC-32 of IDAT nor that IEND comes."""
    data, start, end = _png_bytes(tmp_path)
    bad = {"IDAT CRC-32 flipped": data[:end] + bytes([data[end] ^ 1]) + data[end + 1:],
           "cut inside the zlib checksum": data[:end - 2],
           "IEND missing": data[:-12]}[damage]
    path = tmp_path / "bad.png"
    path.write_bytes(bad)
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image).ravel(), np.arange(120))
    refused(path, words)


@pytest.mark.parametrize("shape", [(6, 5, 4, 1, 1, 1, 2), (6, 5, 4, 1, 3)])
def test_analyze_shapes_beyond_x_y_z_c_are_refused(tmp_path, shape):
    path = tmp_path / "pred.hdr"
    nib.save(nib.AnalyzeImage(np.zeros(shape, np.uint8), np.eye(4)), str(path))
    assert np.asanyarray(nib.load(str(path)).dataobj).shape == shape
    refused(path, f"image of shape {shape}")


def test_mgh_with_a_fourth_axis_keeps_it_as_channels(tmp_path):
    path = tmp_path / "soft.mgz"
    nib.save(nib.MGHImage(np.zeros((6, 5, 4, 3), np.float32), np.eye(4)), str(path))
    volume = read_volume(str(path))
    assert volume.array.shape == (6, 5, 4, 3) and volume.channel_axis == 3
