"""Read mask and probability-map files into :class:`~dicecli.core.volume.Volume` records.

One module per format; the format libraries (pillow, tifffile, ISA-L) are
imported only when a file of that format is read, so ``dice --help`` stays fast.
Every reader raises :class:`~dicecli.errors.ReadError` (path + one-line reason)
for anything it cannot decode, never another exception type.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from types import ModuleType

import numpy as np

from ...errors import ReadError
from ...core.score import MAX_LABEL, label_too_large
from ...core.volume import Volume

# Longest suffixes first so ".nii.gz" wins over ".gz". Matched case-insensitively.
_FORMATS: tuple[tuple[str, str], ...] = (
    (".nii.gz", "nifti"),
    (".nii", "nifti"),
    (".png", "png"),
    (".ome.tiff", "tiff"),  # OME-TIFF (microscopy): the case of "a.ome.tif" is "a"
    (".ome.tif", "tiff"),
    (".tiff", "tiff"),
    (".tif", "tiff"),
    (".npz", "numpy_file"),
    (".npy", "numpy_file"),
    (".seg.nrrd", "itk_image"),
    (".nrrd", "itk_image"),
    (".mha", "itk_image"),
    (".mhd", "itk_image"),
    (".mgz", "nibabel_image"),
    (".mgh", "nibabel_image"),
    (".hdr", "nibabel_image"),
)

#: Data files read through their header (.mhd + .raw, Analyze .hdr + .img): never cases themselves.
SIDECARS: dict[str, str] = {".raw": ".mhd", ".zraw": ".mhd", ".img": ".hdr"}

SUFFIXES: tuple[str, ...] = tuple(suffix for suffix, _ in _FORMATS)
_READERS = dict(_FORMATS)  # every suffix has at most two dots

_MODULES: dict[str, ModuleType] = {}  # reader modules by name, once imported

#: Spatial axis order of each reader's arrays (see Volume.axes); numpy files say per file.
_AXES = {"nifti": "xyz", "png": "zyx", "tiff": "zyx"}


def split_suffix(filename: str) -> tuple[str, str] | None:
    """Split ``name.nii.gz`` into ``("name", ".nii.gz")``; None for unsupported files.

    Case-insensitive on the suffix; the case name keeps its original spelling.
    """
    lower = filename.lower()
    last = lower.rfind(".")
    before = lower.rfind(".", 0, last) if last > 0 else -1
    for start in (before, last):  # the longer suffix first (".nii.gz" before ".gz", ".seg.nrrd" before ".nrrd")
        if start > 0 and lower[start:] in _READERS:
            return filename[:start], filename[start:]
    return None


def case_name(filename: str) -> str | None:
    """The case name of a file (its base name minus the format suffix), or None."""
    parts = split_suffix(os.path.basename(filename))
    return None if parts is None else parts[0]


def _reader_name(path: str) -> str | None:
    parts = split_suffix(os.path.basename(str(path)))
    return None if parts is None else _READERS[parts[1].lower()]


def preload(paths) -> None:
    """Import the readers (and their format libraries) that ``paths`` need.

    Called before forking workers, so each worker inherits them instead of
    importing its own copy. Unsupported paths, and readers that fail to import,
    are skipped: read_volume reports them per file.
    """
    examples: dict[str, str] = {}  # one path per last suffix: the reader follows from it (40,000 paths in 20 ms)
    for path in paths:
        path = str(path)
        examples.setdefault(path[path.rfind("."):].lower(), path)
    for name in sorted({name for p in examples.values() if (name := _reader_name(p)) is not None}):
        try:
            importlib.import_module(f".{name}", __name__)
        except ImportError:
            pass


def read_volume(path: str) -> Volume:
    """Decode ``path`` with the reader its suffix names.

    Raises ReadError for unsupported suffixes, for every decoding failure, for
    an image with no voxels (an axis of size 0), which no score could use, and
    for uint64 values of 2**63 or more, which no label count can keep.
    """
    path = str(path)
    module_name = _reader_name(path)
    if module_name is None:
        raise ReadError(path, f"unsupported file type (expected one of {', '.join(SUFFIXES)})")
    reader = _MODULES.get(module_name) or _MODULES.setdefault(
        module_name, importlib.import_module(f".{module_name}", __name__))
    volume = reader.read(path)
    if 0 in volume.array.shape:
        raise ReadError(path, f"has no voxels (shape {tuple(volume.array.shape)})")
    if volume.array.dtype == np.uint64:
        top = int(volume.array.max())
        if top > MAX_LABEL:
            raise ReadError(path, label_too_large(top))
    if volume.axes is None and module_name in _AXES:
        volume = dataclasses.replace(volume, axes=_AXES[module_name])
    return volume


def open_stream(path: str):
    """A VoxelStream over ``path`` (a .nii.gz read piece by piece, never decoded whole), or None
    when the file cannot be streamed (see nifti_stream). Raises ReadError for an unreadable file."""
    from .nifti_stream import open_stream as open_nifti_stream

    return open_nifti_stream(path)


def piece_voxels(*dtypes) -> int:
    """Voxels per piece when streams of ``dtypes`` are read in step (see nifti_stream)."""
    from .nifti_stream import piece_voxels as nifti_piece_voxels

    return nifti_piece_voxels(*dtypes)
