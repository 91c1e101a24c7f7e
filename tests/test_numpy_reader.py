"""The .npy/.npz reader and multi-channel TIFF/NIfTI: values as stored, channel axis reported."""

import numpy as np
import pytest
import tifffile

from dicecli.errors import ReadError
from dicecli.readers import case_name, read_volume


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
