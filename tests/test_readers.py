"""The PNG, TIFF and NIfTI readers: values, dtypes, geometry, and one-line ReadErrors.

Every expected value is the array the test wrote itself.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import subprocess
import sys
import zlib

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

from dicecli.errors import InputError, ReadError
from dicecli.io.readers import read_volume
from dicecli.core.volume import Volume

RNG = np.random.default_rng(20240601)



def _mode(path) -> str:
    with Image.open(path) as im:
        return im.mode

def read_ok(path) -> Volume:
    vol = read_volume(str(path))
    assert isinstance(vol, Volume)
    assert vol.path == str(path)
    assert vol.array.dtype.isnative
    return vol


def read_error(path, *needles: str) -> str:
    """Assert read_volume(path) raises a one-line ReadError naming the path (and needles)."""
    with pytest.raises(ReadError) as info:
        read_volume(str(path))
    message = str(info.value)
    assert isinstance(info.value, InputError)
    assert str(path) in message
    assert "\n" not in message and "\r" not in message
    for needle in needles:
        assert needle.lower() in message.lower(), message
    return message


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_nifti(path, array, affine=None, header=None, cls=nib.Nifti1Image, zooms=None):
    img = cls(array, np.eye(4) if affine is None else affine, header=header)
    img.set_data_dtype(array.dtype)
    if zooms is not None:
        img.header.set_zooms(zooms)
    nib.save(img, str(path))
    return path


# --------------------------------------------------------------------------- PNG


def test_png_mode_L(tmp_path):
    a = RNG.integers(0, 256, (7, 5), dtype=np.uint8)
    Image.fromarray(a, mode="L").save(tmp_path / "a.png")
    vol = read_ok(tmp_path / "a.png")
    assert vol.array.dtype == np.uint8 and vol.array.shape == (7, 5)
    np.testing.assert_array_equal(vol.array, a)
    assert vol.spacing_mm is None and vol.affine is None


def test_png_palette_returns_indices_not_colours(tmp_path):
    a = np.array([[0, 3, 7], [2, 2, 0], [7, 1, 3]], np.uint8)
    img = Image.new("P", (3, 3))
    img.putdata(a.ravel().tolist())
    # Colours unrelated to the indices: index 1 is bright red, index 7 is dark grey, ...
    palette = [((255 - 31 * i) % 256, (97 * i) % 256, (53 * i + 11) % 256) for i in range(256)]
    img.putpalette([c for rgb in palette for c in rgb])
    img.save(tmp_path / "p.png")
    assert _mode(tmp_path / "p.png") == "P"
    vol = read_ok(tmp_path / "p.png")
    assert vol.array.dtype == np.uint8
    np.testing.assert_array_equal(vol.array, a)


def test_png_16_bit_keeps_values_above_255(tmp_path):
    a = np.array([[0, 256, 1000], [65535, 300, 1]], np.uint16)
    Image.fromarray(a).save(tmp_path / "a16.png")
    assert _mode(tmp_path / "a16.png").startswith("I;16")
    vol = read_ok(tmp_path / "a16.png")
    assert vol.array.dtype == np.uint16
    np.testing.assert_array_equal(vol.array, a)


def test_png_mode_1_foreground_is_label_1(tmp_path):
    a = np.array([[0, 1, 1, 0, 1, 0, 0, 0, 1], [1, 0, 0, 0, 0, 0, 0, 1, 1]], bool)
    Image.fromarray(a).save(tmp_path / "b.png")
    assert _mode(tmp_path / "b.png") == "1"
    vol = read_ok(tmp_path / "b.png")
    assert vol.array.dtype == np.uint8
    np.testing.assert_array_equal(vol.array, a.astype(np.uint8))


def _raw_png(depth: int, colour_type: int, rows: list[bytes], width: int, plte=b"") -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, len(rows), depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\0" + row for row in rows))  # filter type 0 per row
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + (png_chunk(b"PLTE", plte) if plte else b"")
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


@pytest.mark.parametrize("depth, row, expected", [
    (2, bytes([0b00011011]), [0, 1, 2, 3]),
    (4, bytes([0x01, 0x2F]), [0, 1, 2, 15]),
])
def test_png_low_bit_depth_grey_gives_stored_samples(tmp_path, depth, row, expected):
    # pillow reads these as mode L stretched to 0..255 (1 -> 85 or 17); labels must stay labels.
    (tmp_path / "g.png").write_bytes(_raw_png(depth, 0, [row, row], 4))
    assert _mode(tmp_path / "g.png") == "L"
    vol = read_ok(tmp_path / "g.png")
    assert vol.array.dtype == np.uint8
    np.testing.assert_array_equal(vol.array, [expected, expected])


def test_png_2_bit_palette_gives_indices(tmp_path):
    (tmp_path / "p.png").write_bytes(_raw_png(2, 3, [bytes([0b00011011])], 4, bytes(range(12))))
    np.testing.assert_array_equal(read_ok(tmp_path / "p.png").array, [[0, 1, 2, 3]])


def test_png_0_255_mask_kept_as_stored(tmp_path):
    a = np.where(RNG.random((6, 9)) > 0.5, 255, 0).astype(np.uint8)
    Image.fromarray(a).save(tmp_path / "m.png")
    vol = read_ok(tmp_path / "m.png")
    assert vol.array.dtype == np.uint8
    np.testing.assert_array_equal(vol.array, a)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA"])
def test_png_multichannel_refused_with_mode(tmp_path, mode):
    Image.new(mode, (4, 3)).save(tmp_path / "c.png")
    read_error(tmp_path / "c.png", f"mode {mode}", "single-channel")


def test_png_animated_refused(tmp_path):
    frames = [Image.fromarray(np.full((4, 4), v, np.uint8)) for v in (0, 1, 2)]
    frames[0].save(tmp_path / "anim.png", save_all=True, append_images=frames[1:])
    read_error(tmp_path / "anim.png", "animated", "3 frames")


def test_png_text_file(tmp_path):
    (tmp_path / "x.png").write_text("this is not a picture\n")
    read_error(tmp_path / "x.png", "png")


def test_png_jpeg_named_png_refused(tmp_path):
    Image.new("L", (8, 8)).save(tmp_path / "j.png", format="JPEG")
    read_error(tmp_path / "j.png", "not a png")


def test_png_truncated(tmp_path):
    a = RNG.integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    read_error(tmp_path / "cut.png", "truncated")


def test_png_header_promising_enormous_image_refused_before_decoding(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0)  # 8-bit grey
    signature = b"\x89PNG\r\n\x1a\n"
    data = signature + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(data)
    message = read_error(tmp_path / "bomb.png", "too large", "100000 x 100000")
    assert "10000000000" in message


def test_png_header_bigger_than_file_can_hold(tmp_path):
    # Below MAX_PIXELS, but no deflate stream of this size can expand to 1.6e9 bytes.
    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IEND", b"")
    (tmp_path / "liar.png").write_bytes(data)
    read_error(tmp_path / "liar.png", "40000 x 40000")


def test_png_big_legit_image_does_not_trip_pil_bomb_check(tmp_path):
    import dicecli.io.readers.png as png_reader

    assert Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS >= png_reader.MAX_PIXELS


# --------------------------------------------------------------------------- TIFF


def test_tiff_single_page_uint8(tmp_path):
    a = RNG.integers(0, 5, (9, 11), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", a)
    vol = read_ok(tmp_path / "a.tif")
    assert vol.array.dtype == np.uint8 and vol.array.shape == (9, 11)
    np.testing.assert_array_equal(vol.array, a)
    assert vol.spacing_mm is None and vol.affine is None


def test_tiff_multipage_uint16_stack_is_3d(tmp_path):
    a = RNG.integers(0, 400, (4, 6, 7), dtype=np.uint16)
    # Separate pages, no tifffile shape metadata: the stack comes from the page count.
    with tifffile.TiffWriter(tmp_path / "stack.tiff") as tw:
        for page in a:
            tw.write(page, photometric="minisblack", metadata=None)
    with tifffile.TiffFile(tmp_path / "stack.tiff") as tif:
        assert len(tif.pages) == 4
    vol = read_ok(tmp_path / "stack.tiff")
    assert vol.array.dtype == np.uint16 and vol.array.shape == (4, 6, 7)
    np.testing.assert_array_equal(vol.array, a)


@pytest.mark.parametrize("compression", ["lzw", "adobe_deflate", "zstd"])
def test_tiff_compressed(tmp_path, compression):
    a = RNG.integers(0, 300, (3, 16, 12), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "c.tif", a, photometric="minisblack", compression=compression)
    vol = read_ok(tmp_path / "c.tif")
    assert vol.array.dtype == np.uint16 and vol.array.shape == (3, 16, 12)
    np.testing.assert_array_equal(vol.array, a)


def test_tiff_float32_probability_map(tmp_path):
    a = RNG.random((8, 8), dtype=np.float32)
    tifffile.imwrite(tmp_path / "p.tif", a)
    vol = read_ok(tmp_path / "p.tif")
    assert vol.array.dtype == np.float32
    np.testing.assert_array_equal(vol.array, a)


def test_tiff_big_endian_made_native(tmp_path):
    a = np.arange(60, dtype=np.uint16).reshape(6, 10) * 1000
    tifffile.imwrite(tmp_path / "be.tif", a, byteorder=">")
    vol = read_ok(tmp_path / "be.tif")
    assert vol.array.dtype == np.uint16
    np.testing.assert_array_equal(vol.array, a)


def test_tiff_bilevel_is_uint8_0_1(tmp_path):
    a = np.array([[0, 1, 1], [1, 0, 0]], bool)
    Image.fromarray(a).save(tmp_path / "b.tif")
    vol = read_ok(tmp_path / "b.tif")
    assert vol.array.dtype == np.uint8
    np.testing.assert_array_equal(vol.array, a.astype(np.uint8))


def test_tiff_rgb_refused(tmp_path):
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((5, 5, 3), np.uint8), photometric="rgb")
    read_error(tmp_path / "rgb.tif", "multi-channel", "single-channel")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tiff_three_pages_written_with_defaults_is_planar_rgb(tmp_path):
    # A real trap: tifffile stores a (3, rows, cols) array as planar RGB unless told
    # photometric="minisblack". It is refused, not read as a 3-slice stack.
    tifffile.imwrite(tmp_path / "s.tif", np.zeros((3, 5, 5), np.uint8))
    read_error(tmp_path / "s.tif", "multi-channel")


def test_tiff_garbage(tmp_path):
    (tmp_path / "g.tif").write_bytes(bytes(RNG.integers(0, 256, 777, dtype=np.uint8)))
    read_error(tmp_path / "g.tif", "tiff")


def test_tiff_truncated_stack_is_an_error_not_fewer_pages(tmp_path):
    a = RNG.integers(0, 9, (4, 32, 32), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "s.tif", a, photometric="minisblack", compression="zstd")
    data = (tmp_path / "s.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    read_error(tmp_path / "cut.tif")


# --------------------------------------------------------------------------- NIfTI


def test_nifti_uint8_labels(tmp_path):
    a = RNG.integers(0, 4, (5, 6, 7), dtype=np.uint8)
    write_nifti(tmp_path / "l.nii.gz", a)
    vol = read_ok(tmp_path / "l.nii.gz")
    assert vol.array.dtype == np.uint8 and vol.array.shape == (5, 6, 7)
    np.testing.assert_array_equal(vol.array, a)
    assert vol.spacing_mm == (1.0, 1.0, 1.0)
    assert vol.affine.dtype == np.float64 and vol.affine.shape == (4, 4)


def test_nifti_int16_uncompressed(tmp_path):
    a = RNG.integers(-1000, 3000, (4, 5, 6), dtype=np.int16)
    write_nifti(tmp_path / "i.nii", a)
    vol = read_ok(tmp_path / "i.nii")
    assert vol.array.dtype == np.int16
    np.testing.assert_array_equal(vol.array, a)


def test_nifti_float32_labels_stay_float(tmp_path):
    a = RNG.integers(0, 3, (4, 4, 4)).astype(np.float32)
    write_nifti(tmp_path / "f.nii.gz", a)
    vol = read_ok(tmp_path / "f.nii.gz")
    assert vol.array.dtype == np.float32
    np.testing.assert_array_equal(vol.array, a)
    assert 2.0 in vol.array


def test_nifti_scaled_data_comes_back_scaled(tmp_path):
    raw = RNG.integers(0, 5, (3, 4, 5), dtype=np.int16)
    img = nib.Nifti1Image(raw, np.eye(4))
    img.set_data_dtype(np.int16)
    img.header.set_slope_inter(2, 1)
    nib.save(img, str(tmp_path / "s.nii.gz"))
    vol = read_ok(tmp_path / "s.nii.gz")
    assert vol.array.dtype.kind == "f"
    np.testing.assert_array_equal(vol.array, raw * 2.0 + 1.0)


def test_nifti_big_endian_made_native(tmp_path):
    a = RNG.integers(0, 700, (4, 5, 6), dtype=np.int16)
    header = nib.Nifti1Header(endianness=">")
    header.set_data_dtype(np.int16)
    write_nifti(tmp_path / "be.nii", a, header=header)
    assert nib.load(str(tmp_path / "be.nii")).get_data_dtype().byteorder == ">"
    vol = read_ok(tmp_path / "be.nii")
    assert vol.array.dtype == np.dtype(np.int16) and vol.array.dtype.isnative
    np.testing.assert_array_equal(vol.array, a)


def test_nifti2(tmp_path):
    a = RNG.integers(0, 6, (3, 4, 5), dtype=np.int32)
    write_nifti(tmp_path / "n2.nii", a, cls=nib.Nifti2Image)
    assert isinstance(nib.load(str(tmp_path / "n2.nii")), nib.Nifti2Image)
    vol = read_ok(tmp_path / "n2.nii")
    assert vol.array.dtype == np.int32
    np.testing.assert_array_equal(vol.array, a)


def test_nifti_oblique_affine_kept_as_stored(tmp_path):
    t = np.deg2rad(17)
    affine = np.array([[0, 0, -1.5, 10.0],            # axes permuted and flipped,
                       [np.cos(t), -np.sin(t), 0, -4.0],  # and rotated about one axis
                       [np.sin(t), np.cos(t), 0, 7.25],
                       [0, 0, 0, 1]])
    a = np.zeros((3, 4, 5), np.uint8)
    a[1, 2, 3] = 1
    write_nifti(tmp_path / "o.nii.gz", a, affine=affine)
    vol = read_ok(tmp_path / "o.nii.gz")
    np.testing.assert_allclose(vol.affine, affine, atol=1e-5)
    np.testing.assert_array_equal(vol.array, a)


def test_nifti_float64_binary_mask(tmp_path):
    a = (RNG.random((4, 5, 6)) > 0.5).astype(np.float64)
    write_nifti(tmp_path / "m.nii.gz", a)
    vol = read_ok(tmp_path / "m.nii.gz")
    assert vol.array.dtype == np.float64
    np.testing.assert_array_equal(vol.array, a)


def test_nifti_uint16_hundreds_of_labels(tmp_path):
    a = np.arange(300 * 2, dtype=np.uint16).reshape(10, 6, 10) % 300
    write_nifti(tmp_path / "inst.nii.gz", a)
    vol = read_ok(tmp_path / "inst.nii.gz")
    assert vol.array.dtype == np.uint16
    np.testing.assert_array_equal(vol.array, a)
    assert len(np.unique(vol.array)) == 300


def test_nifti_anisotropic_spacing(tmp_path):
    a = np.zeros((4, 4, 3), np.uint8)
    write_nifti(tmp_path / "an.nii.gz", a, affine=np.diag([0.7, 0.7, 3.0, 1.0]))
    vol = read_ok(tmp_path / "an.nii.gz")
    np.testing.assert_allclose(vol.spacing_mm, (0.7, 0.7, 3.0), rtol=1e-6)
    assert all(type(s) is float for s in vol.spacing_mm)


def test_nifti_spacing_in_microns_converted_to_mm(tmp_path):
    img = nib.Nifti1Image(np.zeros((2, 2, 2), np.uint8), np.diag([500.0, 500.0, 2000.0, 1.0]))
    img.header.set_xyzt_units(xyz="micron")
    nib.save(img, str(tmp_path / "um.nii.gz"))
    vol = read_ok(tmp_path / "um.nii.gz")
    np.testing.assert_allclose(vol.spacing_mm, (0.5, 0.5, 2.0))


def test_nifti_4d_with_channels_stays_4d(tmp_path):
    a = RNG.integers(0, 3, (3, 4, 5, 3), dtype=np.uint8)
    write_nifti(tmp_path / "c.nii.gz", a)
    vol = read_ok(tmp_path / "c.nii.gz")
    assert vol.array.shape == (3, 4, 5, 3)
    np.testing.assert_array_equal(vol.array, a)
    assert len(vol.spacing_mm) == 4


def test_nifti_trailing_singleton_dropped(tmp_path):
    a = RNG.integers(0, 3, (3, 4, 5, 1), dtype=np.uint8)
    write_nifti(tmp_path / "t.nii.gz", a, zooms=(0.5, 0.6, 2.0, 1.0))
    vol = read_ok(tmp_path / "t.nii.gz")
    assert vol.array.shape == (3, 4, 5)
    np.testing.assert_array_equal(vol.array, a[..., 0])
    np.testing.assert_allclose(vol.spacing_mm, (0.5, 0.6, 2.0))


def test_nifti_singleton_third_axis_kept(tmp_path):
    a = RNG.integers(0, 3, (6, 7, 1), dtype=np.uint8)
    write_nifti(tmp_path / "s.nii.gz", a)
    vol = read_ok(tmp_path / "s.nii.gz")
    assert vol.array.shape == (6, 7, 1)


def test_nifti_truncated_gz(tmp_path):
    a = RNG.integers(0, 9, (30, 30, 30), dtype=np.uint8)
    write_nifti(tmp_path / "full.nii.gz", a)
    data = (tmp_path / "full.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[: len(data) // 2])
    read_error(tmp_path / "cut.nii.gz", "truncated")


def test_nifti_gz_cut_inside_header(tmp_path):
    write_nifti(tmp_path / "full.nii.gz", np.zeros((2, 2, 2), np.uint8))
    data = (tmp_path / "full.nii.gz").read_bytes()
    (tmp_path / "cut.nii.gz").write_bytes(data[:40])
    read_error(tmp_path / "cut.nii.gz", "nifti")


def test_nifti_truncated_uncompressed(tmp_path):
    write_nifti(tmp_path / "full.nii", RNG.integers(0, 9, (20, 20, 20), dtype=np.uint8))
    data = (tmp_path / "full.nii").read_bytes()
    (tmp_path / "cut.nii").write_bytes(data[: len(data) // 2])
    read_error(tmp_path / "cut.nii", "truncated", "(20, 20, 20)")


def test_nifti_text_file(tmp_path):
    (tmp_path / "x.nii.gz").write_text("not a volume at all\n")
    read_error(tmp_path / "x.nii.gz", "nifti")


def _giant_header(cls=nib.Nifti1Header):
    header = cls()
    header.set_data_shape((30000, 30000, 30000))
    header.set_data_dtype(np.float32)
    header.set_data_offset(352 if cls is nib.Nifti1Header else 544)
    return header


@pytest.mark.parametrize("cls", [nib.Nifti1Header, nib.Nifti2Header])
def test_nifti_uncompressed_header_claiming_giant_shape(tmp_path, cls):
    header = _giant_header(cls)
    block = header.binaryblock
    pad = header.get_data_offset() - len(block)
    (tmp_path / "giant.nii").write_bytes(block + b"\0" * pad + b"\1" * 4096)
    read_error(tmp_path / "giant.nii", "(30000, 30000, 30000)", "truncated")


def test_nifti_gz_header_claiming_giant_shape(tmp_path):
    header = _giant_header()
    (tmp_path / "giant.nii.gz").write_bytes(gzip.compress(header.binaryblock + b"\0" * 4100))
    read_error(tmp_path / "giant.nii.gz", "(30000, 30000, 30000)")


def test_nifti_voxel_offset_inside_header_refused(tmp_path):
    # vox_offset 0 in a single .nii file: nibabel would read the header bytes as voxels.
    header = nib.Nifti1Header()
    header.set_data_shape((4, 4, 4))
    header.set_data_dtype(np.uint8)
    (tmp_path / "z.nii").write_bytes(header.binaryblock + b"\0" * 4 + bytes(64))
    read_error(tmp_path / "z.nii", "vox_offset")


# --------------------------------------------------------------------------- common


def _valid_file(directory, name):
    path = directory / name
    if name.endswith(".png"):
        Image.fromarray(np.eye(4, dtype=np.uint8)).save(path)
    elif name.endswith((".tif", ".tiff")):
        tifffile.imwrite(path, np.eye(4, dtype=np.uint8))
    else:
        write_nifti(path, np.eye(4, dtype=np.uint8)[..., None])
    return path


SUFFIXES = [".png", ".tif", ".tiff", ".nii", ".nii.gz"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_missing_file(tmp_path, suffix):
    read_error(tmp_path / f"absent{suffix}", "no such file")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_directory(tmp_path, suffix):
    (tmp_path / f"x{suffix}").mkdir()
    read_error(tmp_path / f"x{suffix}", "directory")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_zero_byte_file(tmp_path, suffix):
    (tmp_path / f"empty{suffix}").write_bytes(b"")
    read_error(tmp_path / f"empty{suffix}", "empty")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_permission_denied(tmp_path, suffix):
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        pytest.skip("root can read any file")
    path = _valid_file(tmp_path, f"locked{suffix}")
    path.chmod(0)
    try:
        read_error(path, "permission denied")
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_permission_error_reported_even_as_root(tmp_path, suffix, monkeypatch):
    """Root can read anything, so simulate the PermissionError open() raises for others."""
    from dicecli.io.readers import _common as module

    path = _valid_file(tmp_path, f"locked{suffix}")

    def denied(file, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(module, "open", denied, raising=False)
    read_error(path, "permission denied")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_symlink_loop(tmp_path, suffix):
    a, b = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    os.symlink(a, b)
    os.symlink(b, a)
    read_error(a, "symbolic links")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_dangling_symlink(tmp_path, suffix):
    os.symlink(tmp_path / "nowhere", tmp_path / f"d{suffix}")
    read_error(tmp_path / f"d{suffix}", "no such file")


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_names_with_spaces_and_non_ascii(tmp_path, suffix):
    path = _valid_file(tmp_path, f"case é 1{suffix}")
    vol = read_ok(path)
    assert vol.array.shape[:2] == (4, 4)
    np.testing.assert_array_equal(vol.array.reshape(4, 4), np.eye(4, dtype=np.uint8))
    bad = tmp_path / f"cas ü 2{suffix}"
    bad.write_bytes(b"garbage " * 8)
    read_error(bad)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_reading_never_modifies_the_file(tmp_path, suffix):
    path = _valid_file(tmp_path, f"keep{suffix}")
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    read_ok(path)
    read_ok(path)
    assert (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns) == before


def test_importing_readers_does_not_import_format_libraries():
    code = ("import sys, dicecli.io.readers; "
            "print(sorted(m for m in ('PIL', 'nibabel', 'tifffile', 'imagecodecs') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nifti_gz_in_several_gzip_members(tmp_path):
    """bgzip-style files are concatenated gzip members; every member is part of the image."""
    import gzip

    data = np.arange(6 * 5 * 4, dtype=np.uint8).reshape(6, 5, 4) % 7
    plain = tmp_path / "x.nii"
    nib.save(nib.Nifti1Image(data, np.eye(4)), str(plain))
    raw = plain.read_bytes()
    gz = tmp_path / "x.nii.gz"
    gz.write_bytes(gzip.compress(raw[:200]) + gzip.compress(raw[200:500]) + gzip.compress(raw[500:]))
    np.testing.assert_array_equal(read_volume(str(gz)).array, data)


def test_preload_imports_only_the_readers_the_paths_need():
    code = ("import sys; from dicecli.io.readers import preload; "
            "preload(['a/x.nii.gz', 'b/y.PNG', 'c/z.txt', 'd/w.nii']); "
            "print(sorted(m for m in sys.modules if m.startswith('dicecli.io.readers.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(["dicecli.io.readers._common", "dicecli.io.readers.gzip_members", "dicecli.io.readers.nifti",
                               "dicecli.io.readers.nifti_header", "dicecli.io.readers.png"])


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_nifti_gz_with_a_wrong_checksum_is_refused(tmp_path, dtype):
    # Stored (level 0) deflate blocks decode whatever the bytes are, so only the gzip CRC-32 can
    # tell that a voxel byte was flipped: the file must be refused, not scored with a wrong voxel.
    # Bytes after the voxels make the reader go past what it needs to reach the checksum.
    a = np.zeros((30, 30, 30), dtype)
    a[5:20, 5:20, 5:20] = 1
    write_nifti(tmp_path / "ok.nii.gz", a)
    raw = gzip.decompress((tmp_path / "ok.nii.gz").read_bytes()) + bytes(64)  # bytes after the voxels
    packer = zlib.compressobj(0, zlib.DEFLATED, 31)
    damaged = bytearray(packer.compress(raw) + packer.flush())
    damaged[len(damaged) // 2] ^= 0xFF
    (tmp_path / "bad.nii.gz").write_bytes(bytes(damaged))
    read_error(tmp_path / "bad.nii.gz", "checksum")
