"""NumPy files: .npy (one array) and .npz (an archive of named arrays); numpy only.

Arrays are loaded with ``allow_pickle=False`` (a pickled object array is refused,
never executed) and made native byte order. A .npz holds one array, or names it:
``probabilities`` (what nnU-Net writes with ``--save_probabilities``), then
``softmax``; several other arrays are an error listing their names.
A multi-channel array keeps channels first, as nnU-Net writes them
(``channel_axis`` 0); no spacing, no affine. An array named ``probabilities``
is nnU-Net's: (c, z, y, x), or (c, 1, y, x) for 2D images (``axes`` "zyx", so it
lines up with a NIfTI ground truth read as x, y, z); any other array has no
known axis order and is compared as stored.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from ..errors import ReadError
from ..volume import Volume
from ._common import check_file, read_bytes

#: Array names tried in a .npz holding several arrays, in order.
NPZ_KEYS = ("probabilities", "softmax")
NNUNET_KEY = "probabilities"  # nnU-Net's name; its arrays are (c, z, y, x)


def read(path: str) -> Volume:
    """Decode the .npy or .npz file at ``path``; raise ReadError for anything else."""
    path = str(path)
    check_file(path, probe_open=False)
    data = read_bytes(path)
    npz = path.lower().endswith(".npz")
    if npz and not data.startswith(b"PK"):
        raise ReadError(path, "not a valid .npz file (not a zip archive)")
    if not npz and not data.startswith(b"\x93NUMPY"):
        raise ReadError(path, "not a .npy file (no NumPy header)")
    try:
        if npz:
            array, key = _from_npz(path, data)
        else:
            array, key = np.load(io.BytesIO(data), allow_pickle=False), None
    except ReadError:
        raise
    except MemoryError:
        raise ReadError(path, "not enough memory to load the array") from None
    except ValueError as exc:
        text = str(exc)
        if "pickle" in text.lower():
            raise ReadError(path, "holds Python objects (pickled), not numbers") from None
        raise ReadError(path, f"not a valid NumPy file ({text.splitlines()[0][:150] if text else 'ValueError'})") from None
    except Exception as exc:
        text = str(exc).splitlines()[0][:150] if str(exc) else type(exc).__name__
        raise ReadError(path, f"not a valid NumPy file ({text})") from None
    if not isinstance(array, np.ndarray):
        raise ReadError(path, "does not hold an array")
    if array.dtype.fields is not None or array.dtype.kind not in "buif":
        raise ReadError(path, f"holds {array.dtype} values: a mask holds one number per voxel")
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return Volume(array=array, path=path, channel_axis=0, axes="zyx" if key == NNUNET_KEY else None)


def _from_npz(path: str, data: bytes) -> tuple[np.ndarray, str]:
    """(array, its name in the archive)."""
    try:
        archive = np.load(io.BytesIO(data), allow_pickle=False)
    except zipfile.BadZipFile:
        raise ReadError(path, "not a valid .npz file (not a zip archive)") from None
    with archive:
        names = list(archive.files)
        if not names:
            raise ReadError(path, ".npz archive holds no array")
        for key in NPZ_KEYS:
            if key in names:
                return archive[key], key
        if len(names) == 1:
            return archive[names[0]], names[0]
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        raise ReadError(path, f".npz archive holds several arrays ({shown}) and none is named "
                              f"{' or '.join(NPZ_KEYS)}")
