"""Bounded fuzzing of the readers: damaged files give a Volume or a ReadError, nothing else.

Valid small PNG, TIFF and NIfTI files are mutated (bytes overwritten, cut short,
extended, bytes inserted) and pure random bytes are tried under every suffix.
About 200 cases in all, a few seconds.
"""

from __future__ import annotations

import random

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

from dicecli.errors import InputError, ReadError
from dicecli.io.readers import SUFFIXES, read_volume
from dicecli.core.volume import Volume

PLAIN_CASES = 130
HYPOTHESIS_CASES = 60


def _write_seeds(directory) -> dict[str, bytes]:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 5, (12, 10), dtype=np.uint8)
    b = rng.integers(0, 4, (6, 5, 4), dtype=np.uint8)
    Image.fromarray(a).save(directory / "grey.png")
    Image.fromarray(a, mode="L").convert("P").save(directory / "palette.png")
    Image.fromarray(a.astype(np.uint16) * 300).save(directory / "sixteen.png")
    Image.fromarray(a > 2).save(directory / "bits.png")
    tifffile.imwrite(directory / "plain.tif", a)
    tifffile.imwrite(directory / "lzw.tif", np.stack([a, a]).astype(np.uint16),
                     photometric="minisblack", compression="lzw")
    tifffile.imwrite(directory / "zstd.tiff", np.stack([a, a, a]),
                     photometric="minisblack", compression="zstd")
    tifffile.imwrite(directory / "prob.tif", rng.random((6, 7), dtype=np.float32))
    nib.save(nib.Nifti1Image(b, np.eye(4)), str(directory / "labels.nii"))
    nib.save(nib.Nifti1Image(b.astype(np.int16), np.eye(4)), str(directory / "labels.nii.gz"))
    nib.save(nib.Nifti2Image(b, np.eye(4)), str(directory / "two.nii"))
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    directory = tmp_path_factory.mktemp("seeds")
    found = _write_seeds(directory)
    for name in found:  # the unmutated seeds themselves read fine
        assert isinstance(read_volume(str(directory / name)), Volume)
    return found


def _check(path) -> None:
    """The only acceptable outcomes: a sane Volume, or a one-line ReadError naming the path."""
    try:
        vol = read_volume(str(path))
    except ReadError as err:
        assert isinstance(err, InputError)
        assert str(path) in str(err)
        assert "\n" not in str(err)
        return
    assert isinstance(vol, Volume)
    assert isinstance(vol.array, np.ndarray)
    assert vol.array.dtype.isnative
    assert vol.array.ndim >= 2


def _mutate(rnd: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    op = rnd.choice(["overwrite", "overwrite", "header", "truncate", "append", "insert"])
    if op == "overwrite":
        for _ in range(rnd.randint(1, 8)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
    elif op == "header":  # a burst in the first 400 bytes, where sizes and offsets live
        start = rnd.randrange(min(len(data), 400))
        data[start:start + 4] = bytes(rnd.randrange(256) for _ in range(4))
    elif op == "truncate":
        del data[rnd.randrange(1, len(data)):]
    elif op == "append":
        data += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 64)))
    else:
        at = rnd.randrange(len(data))
        data[at:at] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
    return bytes(data)


def test_mutated_and_random_files_plain(seeds, tmp_path):
    rnd = random.Random(20240601)
    names = sorted(seeds)
    for i in range(PLAIN_CASES):
        if i % 10 == 9:  # pure random bytes under every suffix in turn
            suffix = SUFFIXES[i // 10 % len(SUFFIXES)]
            path = tmp_path / f"random_{i}{suffix}"
            path.write_bytes(bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 700))))
        else:
            name = rnd.choice(names)
            path = tmp_path / f"fuzz_{i}_{name}"
            path.write_bytes(_mutate(rnd, seeds[name]))
        _check(path)


try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a test extra
    given = None

if given is not None:
    edits = st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                     max_size=8)

    @settings(max_examples=HYPOTHESIS_CASES, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(index=st.integers(0, 10_000), edits=edits,
           keep=st.none() | st.floats(0.01, 1.0), tail=st.binary(max_size=32),
           noise=st.none() | st.binary(min_size=1, max_size=400))
    def test_mutated_and_random_files_hypothesis(seeds, tmp_path, index, edits, keep, tail,
                                                 noise):
        names = sorted(seeds)
        name = names[index % len(names)]
        if noise is not None:
            data = noise
        else:
            data = bytearray(seeds[name])
            for where, value in edits:
                data[int(where * len(data))] = value
            if keep is not None:
                data = data[: max(1, int(keep * len(data)))]
            data = bytes(data) + tail
        path = tmp_path / f"hyp_{name}"
        path.write_bytes(data)
        _check(path)
