"""dice's NIfTI reading (nibabel's header classes, dice's own voxel paths) against nibabel's images.

Headers are written by nibabel, then fields are overwritten byte by byte to
make the messy cases real files have (oblique qforms, sform/qform precedence,
invalid xform codes, qfac 0, zero or negative voxel sizes, scaling, big-endian,
NIfTI-2, spatial units). Expected values are nibabel's for the same bytes.
"""

from __future__ import annotations

import gzip
import io
import struct

import nibabel as nib
import numpy as np
import pytest

from dicecli.errors import ReadError
from dicecli.io.readers import nifti_header, read_volume

# Byte offsets of the fields the tests overwrite (from the NIfTI-1 and NIfTI-2 layouts).
N1 = {"pixdim": (76, "f", 8), "qform_code": (252, "h", 1), "sform_code": (254, "h", 1), "quatern": (256, "f", 3),
      "qoffset": (268, "f", 3), "srow": (280, "f", 12), "scl_slope": (112, "f", 1), "scl_inter": (116, "f", 1),
      "xyzt_units": (123, "B", 1), "vox_offset": (108, "f", 1), "datatype": (70, "h", 1), "dim": (40, "h", 8),
      "magic": (344, "4s", 1)}
N2 = {"pixdim": (104, "d", 8), "qform_code": (344, "i", 1), "sform_code": (348, "i", 1), "quatern": (352, "d", 3),
      "qoffset": (376, "d", 3), "srow": (400, "d", 12), "scl_slope": (176, "d", 1), "scl_inter": (184, "d", 1),
      "xyzt_units": (500, "i", 1), "vox_offset": (168, "q", 1), "datatype": (12, "h", 1), "dim": (16, "q", 8),
      "magic": (4, "4s", 1)}


def nifti_bytes(array, version=1, order="<", **fields) -> bytes:
    """A single-file NIfTI image of ``array`` written by nibabel, then ``fields`` poked in."""
    cls = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    img = cls(array, np.eye(4))
    img.set_data_dtype(array.dtype)
    if order == ">":
        header = img.header.as_byteswapped(">")
        img = cls(array, np.eye(4), header=header)
    data = bytearray(img.to_bytes())
    layout = N1 if version == 1 else N2
    for name, value in fields.items():
        offset, code, n = layout[name]
        values = value if isinstance(value, (list, tuple)) else [value]
        assert len(values) == n, name
        struct.pack_into(f"{order}{n}{code}" if code != "4s" else code, data, offset, *values)
    return bytes(data)


def reference(blob: bytes, version: int):
    """nibabel's reading of the same bytes: (affine, zooms, units, array)."""
    cls = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    img = cls.from_bytes(blob)
    return img.affine, img.header.get_zooms(), img.header.get_xyzt_units()[0], np.asanyarray(img.dataobj)


def ours(tmp_path, blob: bytes, name="x.nii"):
    path = tmp_path / name
    path.write_bytes(gzip.compress(blob) if name.endswith(".gz") else blob)
    return read_volume(str(path))


def random_quaternion(rng) -> list[float]:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    q *= np.sign(q[0]) or 1.0
    return [float(v) for v in q[1:]]


CASES = range(60)


@pytest.mark.parametrize("seed", CASES)
def test_affine_zooms_and_voxels_match_nibabel(tmp_path, seed):
    rng = np.random.default_rng(seed)
    version = 1 + seed % 2
    order = "<>"[(seed // 2) % 2]
    shape = tuple(int(n) for n in rng.integers(1, 6, size=3))
    dtype = [np.uint8, np.int16, np.uint16, np.int32, np.float32, np.float64][seed % 6]
    array = rng.integers(0, 5, size=shape).astype(dtype)
    pixdim = [float(rng.choice([1.0, -1.0, 0.0, 0.5]))] + [float(v) for v in rng.choice(
        [0.8, 2.5, 1.0, -0.7, 0.0, 3.0], size=3)] + [1.0] * 4
    fields = {
        "pixdim": pixdim,
        "qform_code": int(rng.choice([0, 1, 2, 4, 7, -1])),
        "sform_code": int(rng.choice([0, 0, 1, 3, 9])),
        "quatern": random_quaternion(rng),
        "qoffset": [float(v) for v in rng.normal(scale=100, size=3)],
        "srow": [float(v) for v in rng.normal(scale=3, size=12)],
        "xyzt_units": int(rng.choice([0, 1, 2, 3, 10, 11])),
    }
    if seed % 5 == 0:
        fields.update(scl_slope=float(rng.choice([0.5, 2.0, 1.0])), scl_inter=float(rng.choice([0.0, 1.0, -3.0])))
    blob = nifti_bytes(array, version, order, **fields)
    ref_affine, ref_zooms, ref_unit, ref_array = reference(blob, version)
    vol = ours(tmp_path, blob, "x.nii.gz" if seed % 3 == 0 else "x.nii")
    np.testing.assert_allclose(vol.affine, ref_affine, rtol=1e-6, atol=1e-6)
    scale = {"meter": 1000.0, "micron": 0.001}.get(ref_unit, 1.0)
    np.testing.assert_allclose(vol.spacing_mm, np.asarray(ref_zooms[:3], float) * scale, rtol=1e-7)
    assert vol.array.dtype == ref_array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(vol.array, ref_array)


def test_quaternion_of_a_half_turn_is_exact(tmp_path):
    # b = 1, c = d = 0: a 180-degree turn about x, so a = 0 and the rotation is diag(1, -1, -1).
    blob = nifti_bytes(np.zeros((2, 2, 2), np.uint8), qform_code=1, sform_code=0, quatern=[1.0, 0.0, 0.0],
                       qoffset=[1.0, 2.0, 3.0], pixdim=[-1.0, 2.0, 3.0, 4.0] + [1.0] * 4)
    vol = ours(tmp_path, blob)
    expected = np.array([[2.0, 0, 0, 1], [0, -3, 0, 2], [0, 0, 4, 3], [0, 0, 0, 1]])  # qfac -1 flips the z column
    np.testing.assert_array_equal(vol.affine, expected)


def test_no_transform_gives_centred_flipped_diagonal(tmp_path):
    # Neither code set: diag(-dx, dy, dz) with the centre voxel at the origin.
    blob = nifti_bytes(np.zeros((5, 3, 7), np.uint8), qform_code=0, sform_code=0,
                       pixdim=[1.0, 2.0, 0.5, 3.0] + [1.0] * 4)
    vol = ours(tmp_path, blob)
    expected = np.array([[-2.0, 0, 0, 4.0], [0, 0.5, 0, -0.5], [0, 0, 3.0, -9.0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(vol.affine, expected)


def test_scaled_voxels_are_float64_stored_times_slope_plus_inter(tmp_path):
    stored = np.array([[[0, 1], [2, 3]]], np.int16)
    blob = nifti_bytes(stored, scl_slope=0.5, scl_inter=1.0)
    vol = ours(tmp_path, blob)
    assert vol.array.dtype == np.float64
    np.testing.assert_array_equal(vol.array, [[[1.0, 1.5], [2.0, 2.5]]])


@pytest.mark.parametrize("fields, needle", [
    ({"magic": b"ni1\x00"}, "magic"),
    ({"datatype": 128}, "RGB24"),
    ({"datatype": 32}, "complex64"),
    ({"datatype": 3}, "unknown data type code 3"),
    ({"dim": [0, 2, 2, 2, 1, 1, 1, 1]}, "dim[0]"),
    ({"dim": [3, 2, -2, 2, 1, 1, 1, 1]}, "negative size"),
    ({"vox_offset": 0.0}, "vox_offset"),
    ({"scl_slope": 2.0, "scl_inter": float("inf")}, "intercept"),
    ({"qform_code": 1, "sform_code": 0, "quatern": [0.9, 0.9, 0.0]}, "quaternion"),
])
def test_invalid_headers_are_one_line_errors(tmp_path, fields, needle):
    blob = nifti_bytes(np.zeros((2, 2, 2), np.uint8), **fields)
    path = tmp_path / "bad.nii"
    path.write_bytes(blob)
    with pytest.raises(ReadError) as info:
        read_volume(str(path))
    message = str(info.value)
    assert str(path) in message and needle in message and "\n" not in message


def test_nibabel_reads_nifti_headers_but_png_and_tiff_runs_never_import_it():
    # nibabel is the NIfTI header reader (imported once per run, before workers fork); a run
    # of PNG or TIFF files must not pay its ~0.1 s import.
    import glob
    import subprocess
    import sys
    from pathlib import Path
    fixtures = Path(__file__).parent.parent / "fixtures"
    nifti = sorted(glob.glob(str(fixtures / "nifti3d" / "*" / "*.nii.gz")))
    assert nifti
    code = ("import sys; from dicecli.io.readers import read_volume; "
            f"[read_volume(p) for p in {nifti!r}]; "
            "assert 'nibabel.nifti1' in sys.modules, 'nibabel not used'")
    subprocess.run([sys.executable, "-c", code], check=True)
    for kind in ("png2d", "tiff3d"):
        code = ("import sys; from dicecli.cli import main; sys.argv = ['dice', 'score', "
                f"{str(fixtures / kind / 'gt')!r}, {str(fixtures / kind / 'pred')!r}, '-j', '1', '--quiet']\n"
                "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
                "assert 'nibabel' not in sys.modules, 'nibabel imported'")
        subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.DEVNULL)


def test_header_version_reads_both_byte_orders():
    assert nifti_header.header_version(struct.pack("<i", 348)) == (1, "<")
    assert nifti_header.header_version(struct.pack(">i", 540)) == (2, ">")
    with pytest.raises(ReadError):
        nifti_header.header_version(io.BytesIO(b"\x00" * 4).read())


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("order", ["<", ">"])
def test_real_file_fields_extensions_nan_slope_and_trailing_axes(tmp_path, version, order):
    # A header extension moves vox_offset past the header; a NaN (or 0) slope means no scaling,
    # so the stored dtype stays; trailing axes of size 1 after the third are dropped.
    array = np.arange(4 * 3 * 2, dtype=np.int16).reshape(4, 3, 2, 1, 1) % 5
    cls = nib.Nifti1Image if version == 1 else nib.Nifti2Image
    img = cls(array, np.diag([0.5, 0.75, 2.0, 1.0]))
    if order == ">":
        img = cls(array, img.affine, header=img.header.as_byteswapped(">"))
    img.header.extensions.append(nib.nifti1.Nifti1Extension("comment", b"made by a scanner" * 7))
    blob = img.to_bytes()
    for slope in (float("nan"), 0.0):
        poked = bytearray(blob)
        offset, code, _ = (N1 if version == 1 else N2)["scl_slope"]
        struct.pack_into(f"{order}{code}", poked, offset, slope)
        ref_affine, _, _, ref_array = reference(bytes(poked), version)
        vol = ours(tmp_path, bytes(poked), "x.nii.gz")
        assert vol.array.dtype == np.int16 and vol.array.shape == (4, 3, 2)
        np.testing.assert_array_equal(vol.array, ref_array.reshape(4, 3, 2))
        np.testing.assert_array_equal(vol.affine, ref_affine)
        assert vol.spacing_mm == (0.5, 0.75, 2.0)
    header = nifti_header.parse_header(bytes(blob[:540]))
    assert header.offset > header.header_size + 4 and header.version == version
