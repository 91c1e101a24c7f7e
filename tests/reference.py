"""Independent reference for the fuzz tests: decode a file with its format's usual library and
count a case by brute force. No dice code is used here.

decode() follows each library's plain reading (Python's gzip + nibabel, Pillow, tifffile,
numpy) plus the few facts dice documents (NIfTI trailing axes of size 1 dropped, 1-bit images
as 0/1); it raises on anything the library refuses. labels() turns an array into labels by the
documented rules, or returns None when dice must refuse the values.
"""

from __future__ import annotations

import gzip
import zlib

import nibabel as nib
import numpy as np
import tifffile
from PIL import Image


class Refused(Exception):
    """The reference library (or a documented rule) refuses the file."""


def decode(path) -> np.ndarray:
    path = str(path)
    name = path.lower()
    with open(path, "rb") as handle:
        data = handle.read()
    if name.endswith((".nii", ".nii.gz")):
        return _nifti(gzip.decompress(data) if name.endswith(".gz") else data)
    if name.endswith(".png"):
        return _png(path, data)
    if name.endswith((".tif", ".tiff")):
        array = tifffile.imread(path)
        return array.view(np.uint8) if array.dtype == bool else array
    if name.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    if name.endswith(".npz"):
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            for key in ("probabilities", "softmax"):
                if key in names:
                    return archive[key]
            if len(names) != 1:
                raise Refused(f"{len(names)} arrays")
            return archive[names[0]]
    raise Refused("unknown suffix")


def _nifti(raw: bytes) -> np.ndarray:
    try:
        image = nib.Nifti1Image.from_bytes(raw)
    except Exception:
        image = nib.Nifti2Image.from_bytes(raw)
    array = np.asanyarray(image.dataobj)
    shape = list(array.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape.pop()
    return array.reshape(shape)


def _png(path: str, data: bytes) -> np.ndarray:
    """Pillow's pixels, after checking every chunk's CRC-32 (Pillow skips those of IDAT)."""
    at = 8
    while at < len(data):
        size = int.from_bytes(data[at:at + 4], "big")
        body = data[at + 4:at + 8 + size]
        if len(body) != 4 + size or zlib.crc32(body) != int.from_bytes(data[at + 8 + size:at + 12 + size], "big"):
            raise Refused("bad chunk")
        at += 12 + size
        if body[:4] == b"IEND":
            break
    with Image.open(path) as image:
        image.load()
        array = np.asarray(image)
        mode = image.mode
    return array.astype(np.uint8) if mode == "1" else array


def labels(array: np.ndarray, *, prediction: bool) -> np.ndarray | None:
    """Integer labels (int64 values below 2**63 as Python ints fit) or None when dice must refuse."""
    if array.dtype == bool:
        return array.astype(np.uint8)
    if array.dtype.kind in "ui":
        if array.size and (int(array.min()) < 0 or int(array.max()) >= 2**63):
            return None
        return array
    if array.dtype.kind != "f" or not np.isfinite(array).all():
        return None
    if np.array_equal(array, np.floor(array)):
        if array.size and (array.min() < 0 or array.max() >= 2.0**63):
            return None
        return array.astype(np.uint64)
    if not prediction or array.min() < 0 or array.max() > 1:
        return None
    return (array >= array.dtype.type(0.5)).astype(np.uint8)


def counts(gt: np.ndarray, pred: np.ndarray) -> dict[int, tuple[int, int, int]]:
    """{label: (tp, fp, fn)} for every non-zero label in either array, by brute force."""
    g, p = gt.astype(np.uint64).ravel(), pred.astype(np.uint64).ravel()
    out = {}
    for value in sorted((set(np.unique(g).tolist()) | set(np.unique(p).tolist())) - {0}):
        in_g, in_p = g == value, p == value
        out[int(value)] = (int(np.sum(in_g & in_p)), int(np.sum(in_p & ~in_g)), int(np.sum(in_g & ~in_p)))
    return out
