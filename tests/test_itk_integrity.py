"""Compressed NRRD and MetaImage data are checked to their end before SimpleITK decodes them.

SimpleITK checks neither the gzip CRC-32 of a NRRD nor the zlib Adler-32 of a MetaImage, and
fills voxels past the end of data that are too short with stale memory. The reference for what
is damaged is Python's gzip and zlib; expected voxels are the array the file was written from.
"""

from __future__ import annotations

import gzip
import random
import re
import zlib

import numpy as np
import pytest

from dicecli.errors import ReadError
from dicecli.io.readers import read_volume

sitk = pytest.importorskip("SimpleITK")

ARRAY = np.zeros((20, 18, 16), np.uint8)
ARRAY[3:12, 4:9, 2:8] = 1
ARRAY[15:18, 1:3, 9:14] = 2


def write(tmp_path, name: str) -> tuple[bytes, int]:
    """The bytes of ``name`` written compressed by SimpleITK, and where its voxel data start."""
    path = tmp_path / name
    sitk.WriteImage(sitk.GetImageFromArray(ARRAY), str(path), useCompression=True)
    data = path.read_bytes()
    start = data.index(b"\n\n") + 2 if name.endswith(".nrrd") else data.index(b"ElementDataFile = LOCAL\n") + 24
    return data, start


def python_inflate(name: str, payload: bytes) -> bytes:
    """Python's strict reading of the data: gzip for NRRD, one zlib stream for MetaImage."""
    if name.endswith(".nrrd"):
        return gzip.decompress(payload)
    inflater = zlib.decompressobj()
    out = inflater.decompress(payload)
    if not inflater.eof or inflater.unused_data:
        raise zlib.error("incomplete stream or bytes after it")
    return out


def refused(path, *words) -> str:
    with pytest.raises(ReadError) as info:
        read_volume(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize("name", ["a.nrrd", "a.mha"])
def test_written_files_read_back(tmp_path, name):
    data, start = write(tmp_path, name)
    assert python_inflate(name, data[start:]) == ARRAY.tobytes()
    np.testing.assert_array_equal(read_volume(str(tmp_path / name)).array, ARRAY)


@pytest.mark.parametrize("name", ["a.nrrd", "a.mha"])
@pytest.mark.parametrize("damage, words", [
    (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "checksum"),  # last byte: the gzip length or the Adler-32
    (lambda d: d[:-3], "truncated"),
    (lambda d: d + b"garbage", "trailing garbage"),
])
def test_damaged_compressed_data_are_refused(tmp_path, name, damage, words):
    data, start = write(tmp_path, name)
    bad = damage(data)
    with pytest.raises((OSError, EOFError, zlib.error)):
        python_inflate(name, bad[start:])
    (tmp_path / name).write_bytes(bad)
    refused(tmp_path / name, words)


def test_detached_zraw_is_checked(tmp_path):
    sitk.WriteImage(sitk.GetImageFromArray(ARRAY), str(tmp_path / "a.mhd"), useCompression=True)
    zraw = tmp_path / "a.zraw"
    assert zraw.exists()
    zraw.write_bytes(zraw.read_bytes()[:-2])
    refused(tmp_path / "a.mhd", "truncated")


@pytest.mark.parametrize("name", ["a.nrrd", "a.mha"])
@pytest.mark.parametrize("size", ["36 18 20", "14 18 20"])
def test_header_size_must_match_the_compressed_data(tmp_path, name, size):
    data, _ = write(tmp_path, name)
    field = b"sizes: 16 18 20" if name.endswith(".nrrd") else b"DimSize = 16 18 20"
    (tmp_path / name).write_bytes(data.replace(field, field.replace(b"16 18 20", size.encode())))
    refused(tmp_path / name, "compressed data hold 5760 bytes of voxels", f"size {size.replace(' ', ' x ')}")


@pytest.mark.parametrize("name", ["a.nrrd", "a.mha"])
def test_mutated_compressed_data_are_refused_or_read_exactly(tmp_path, name):
    """Property: a bit flip or overwritten byte in the data gives an error, or, when Python's
    gzip/zlib accept the data, exactly the voxels written."""
    data, start = write(tmp_path, name)
    rnd = random.Random(name)
    outcomes = {"refused": 0, "read": 0}
    for _ in range(150):
        bad = bytearray(data)
        at = rnd.randrange(start, len(data))
        if rnd.random() < 0.5:
            bad[at] ^= 1 << rnd.randrange(8)
        else:
            bad[at] = rnd.randrange(256)
        (tmp_path / name).write_bytes(bytes(bad))
        try:
            expected = python_inflate(name, bytes(bad[start:]))
        except (OSError, EOFError, zlib.error):
            expected = None
        try:
            array = read_volume(str(tmp_path / name)).array
        except ReadError as exc:
            assert "\n" not in str(exc) and not re.search(r"Traceback|\.cxx", str(exc))
            outcomes["refused"] += 1
            continue
        assert expected is not None, "read data Python's gzip/zlib refuse"
        assert array.tobytes() == expected
        outcomes["read"] += 1
    assert outcomes["refused"] > 100, outcomes
