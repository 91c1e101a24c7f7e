"""The .npy/.npz reader and multi-channel TIFF/NIfTI: values as stored, channel axis reported."""

import numpy as np
import pytest
import tifffile

from dicecli.errors import ReadError
from dicecli.io.readers import case_name, read_volume


def test_npy_keeps_dtype_native_and_reports_channels_first(tmp_path):
    a = np.arange(24, dtype=">u2").reshape(2, 3, 4)
    np.save(tmp_path / "a.npy", a)
    vol = read_volume(str(tmp_path / "a.npy"))
    assert vol.array.dtype == np.dtype("u2") and vol.array.dtype.isnative
    np.testing.assert_array_equal(vol.array, a)
    assert vol.channel_axis == 0 and vol.spacing_mm is None and vol.affine is None
    assert case_name("x/case_01.npz") == "case_01" and case_name("case.NPY") == "case"


def test_npz_names(tmp_path):
    p = np.random.default_rng(0).random((3, 4, 5)).astype(np.float32)
    np.savez_compressed(tmp_path / "nnunet.npz", probabilities=p, other=np.zeros(2))
    np.testing.assert_array_equal(read_volume(str(tmp_path / "nnunet.npz")).array, p)
    np.savez(tmp_path / "soft.npz", softmax=p, x=np.ones(1))
    np.testing.assert_array_equal(read_volume(str(tmp_path / "soft.npz")).array, p)
    np.savez(tmp_path / "one.npz", whatever=p)
    np.testing.assert_array_equal(read_volume(str(tmp_path / "one.npz")).array, p)
    np.savez(tmp_path / "two.npz", a=p, b=p)
    with pytest.raises(ReadError, match="several arrays"):
        read_volume(str(tmp_path / "two.npz"))


@pytest.mark.parametrize("write, needle", [
    (lambda p: np.save(p.with_suffix(".npy"), np.array([{"a": 1}], dtype=object)), "pickled"),
    (lambda p: p.with_suffix(".npy").write_bytes(b"\x93NUMPY garbage"), "not a valid numpy"),
    (lambda p: p.with_suffix(".npy").write_bytes(b"hello"), "no numpy header"),
    (lambda p: np.save(p.with_suffix(".npy"), np.zeros(3, dtype="U3")), "<U3"),
    (lambda p: p.with_suffix(".npz").write_bytes(b"not a zip"), "zip"),
])
def test_bad_numpy_files(tmp_path, write, needle):
    base = tmp_path / "bad"
    write(base)
    (path,) = [p for p in tmp_path.iterdir()]
    with pytest.raises(ReadError) as info:
        read_volume(str(path))
    assert needle.lower() in info.value.reason.lower() and "\n" not in info.value.reason


def test_tiff_channel_axis_for_probabilities_but_colour_pictures_refused(tmp_path):
    p = np.random.default_rng(1).random((6, 5, 3)).astype(np.float32)
    tifffile.imwrite(tmp_path / "p.tif", p, photometric="minisblack", extrasamples=["unspecified"] * 2)
    vol = read_volume(str(tmp_path / "p.tif"))
    assert vol.array.shape == (6, 5, 3) and vol.channel_axis == 2
    tifffile.imwrite(tmp_path / "c.tif", p, photometric="minisblack", metadata={"axes": "YXC"})
    assert read_volume(str(tmp_path / "c.tif")).channel_axis == 2
    tifffile.imwrite(tmp_path / "pages.tif", p, photometric="minisblack")  # 6 pages: no channel axis
    assert read_volume(str(tmp_path / "pages.tif")).channel_axis is None
    tifffile.imwrite(tmp_path / "rgbf.tif", p, photometric="rgb")  # float samples: maps, not a picture
    assert read_volume(str(tmp_path / "rgbf.tif")).channel_axis == 2
    tifffile.imwrite(tmp_path / "rgb.tif", (p * 255).astype(np.uint8), photometric="rgb")
    with pytest.raises(ReadError, match="multi-channel"):
        read_volume(str(tmp_path / "rgb.tif"))


def test_nifti_4d_reports_the_last_axis(tmp_path):
    import nibabel as nib
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6, 3), np.float32), np.eye(4)), str(tmp_path / "c.nii.gz"))
    vol = read_volume(str(tmp_path / "c.nii.gz"))
    assert vol.array.shape == (4, 5, 6, 3) and vol.channel_axis == 3


@pytest.mark.parametrize("inflater", ["isal", "zlib"])
@pytest.mark.parametrize("compressed", [True, False])
def test_npz_members_read_in_one_call_equal_numpy(tmp_path, monkeypatch, inflater, compressed):
    """Deflated and stored members, larger than zipfile's read chunks, with ISA-L or zlib."""
    import zlib

    from dicecli.io.readers import numpy_file

    if inflater == "zlib":
        monkeypatch.setattr(numpy_file, "inflater_module", zlib)
    p = np.random.default_rng(3).random((4, 30, 41, 37)).astype(np.float16)
    p[:, :10] = 0  # runs that compress well, and values that do not
    path = tmp_path / "c.npz"
    (np.savez_compressed if compressed else np.savez)(path, probabilities=p, other=np.arange(3))
    array = read_volume(str(path)).array
    np.testing.assert_array_equal(array, np.load(path)["probabilities"])
    assert array.dtype == np.float16 and array.shape == p.shape


def _damaged_npz(tmp_path, how):
    import struct

    p = np.random.default_rng(4).random((2, 40, 50)).astype(np.float32)
    path = tmp_path / f"{how}.npz"
    np.savez_compressed(path, probabilities=p)
    data = bytearray(path.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    if how == "flipped":  # a byte of the deflate stream, past the .npy header
        data[central // 2] ^= 0x10
    elif how == "cut":
        data = data[:300] + data[central - 100:]  # the central directory survives, the data do not
    elif how == "size":  # the central directory claims far more inflated bytes than deflate can give
        struct.pack_into("<I", data, central + 24, 0xFFFFFF00)
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("how", ["flipped", "cut", "size"])
def test_damaged_deflated_npz_members_are_refused(tmp_path, how):
    path = _damaged_npz(tmp_path, how)
    with pytest.raises(ReadError) as info:
        read_volume(str(path))
    assert info.value.reason.startswith(("not a valid .npz file", "truncated .npz member")), info.value.reason
    assert "\n" not in info.value.reason
