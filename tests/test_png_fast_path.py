"""The PNG reader's libspng path (plain 8-bit grey) against pillow's decoding of the same files,
and the files that must keep taking pillow's path (16-bit, palette, tRNS, interlaced, animated,
corrupt)."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import imagecodecs
import numpy as np
import pytest
from PIL import Image

from dicecli.errors import ReadError
from dicecli.io.readers import png


def _pillow(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _hand_png(rows: np.ndarray, *, interlace: int = 0, extra: bytes = b"") -> bytes:
    """An 8-bit grey PNG written byte by byte (filter 0 on every row)."""
    height, width = rows.shape
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, interlace)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows.astype(np.uint8))
    return (png._SIGNATURE + _chunk(b"IHDR", ihdr) + extra + _chunk(b"IDAT", zlib.compress(raw))
            + _chunk(b"IEND", b""))


def _spy(monkeypatch) -> list:
    """Record every call of the libspng path and what it answered."""
    calls = []
    real = png._spng_pixels

    def spy(*args):
        answer = real(*args)
        calls.append(answer is not None)
        return answer

    monkeypatch.setattr(png, "_spng_pixels", spy)
    return calls


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_reader_equals_pillow_on_label_maps(tmp_path, monkeypatch, seed, dtype):
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 90)), int(rng.integers(1, 90)))
    top = 255 if dtype == np.uint8 else 65535
    # blocky labels (the Sub/Up/Paeth filters pillow's adaptive choice picks) plus noise
    labels = np.repeat(np.repeat(rng.integers(0, 6, (shape[0] // 4 + 1, shape[1] // 4 + 1)), 4, 0), 4, 1)
    labels = labels[:shape[0], :shape[1]].astype(dtype)
    labels[rng.random(shape) < 0.1] = rng.integers(0, top + 1)
    calls = _spy(monkeypatch)
    for level, writer in enumerate(["pillow", "pillow-optimize", "libpng"]):
        path = tmp_path / f"m{level}.png"
        if writer == "libpng":  # another encoder's filter choices
            path.write_bytes(imagecodecs.png_encode(labels))
        else:
            Image.fromarray(labels).save(path, optimize=writer.endswith("optimize"))
        array = png.read(str(path)).array
        assert array.dtype == dtype and array.shape == shape
        np.testing.assert_array_equal(array, _pillow(path))
        np.testing.assert_array_equal(array, labels)
    assert calls == ([True, True, True] if dtype == np.uint8 else [])  # 16-bit grey stays with pillow


def test_hand_written_png_with_trailing_bytes_after_iend(tmp_path, monkeypatch):
    rows = np.arange(35).reshape(5, 7)
    path = tmp_path / "h.png"
    path.write_bytes(_hand_png(rows) + b"trailing junk")
    calls = _spy(monkeypatch)
    np.testing.assert_array_equal(png.read(str(path)).array, rows)
    assert calls == [True]


@pytest.mark.parametrize("case", ["palette", "trns", "interlaced", "low_depth"])
def test_other_pngs_take_pillows_path(tmp_path, monkeypatch, case):
    rows = (np.arange(36).reshape(6, 6) % 4).astype(np.uint8)
    path = tmp_path / f"{case}.png"
    if case == "palette":
        Image.fromarray(rows, mode="L").convert("P").save(path)
    elif case == "trns":
        Image.fromarray(rows).save(path, transparency=0)
    elif case == "interlaced":
        path.write_bytes(_hand_png(rows[:1, :1], interlace=1))
        rows = rows[:1, :1]
    else:
        Image.fromarray(rows != 0).save(path)  # mode 1
        rows = (rows != 0).astype(np.uint8)
    calls = _spy(monkeypatch)
    array = png.read(str(path)).array
    assert calls == []
    if case == "palette":
        assert array.dtype == np.uint8 and array.shape == (6, 6)
    else:
        np.testing.assert_array_equal(array, rows)


def test_damaged_pixel_data_gets_pillows_message(tmp_path, monkeypatch):
    # a zlib stream cut short, with a valid chunk CRC: libspng refuses it and the pillow path names the fault
    rows = np.random.default_rng(1).integers(0, 255, (40, 40)).astype(np.uint8)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)
    body = zlib.compress(raw)[:-30]
    data = (png._SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", 40, 40, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", body) + _chunk(b"IEND", b""))
    path = tmp_path / "cut.png"
    path.write_bytes(data)
    calls = _spy(monkeypatch)
    with pytest.raises(ReadError) as error:
        png.read(str(path))
    assert calls == [False]
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_animated_png_refused_without_libspng(tmp_path, monkeypatch):
    frames = [Image.fromarray(np.full((4, 4), v, np.uint8)) for v in (1, 2)]
    path = tmp_path / "anim.png"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    calls = _spy(monkeypatch)
    with pytest.raises(ReadError, match="animated"):
        png.read(str(path))
    assert calls == []


def test_reader_output_is_not_a_view_of_a_shared_buffer(tmp_path):
    # two reads give independent arrays (the scoring code may modify in place)
    path = tmp_path / "a.png"
    Image.fromarray(np.eye(5, dtype=np.uint8)).save(path)
    first, second = png.read(str(path)).array, png.read(str(path)).array
    assert not np.shares_memory(first, second)


def test_surplus_pixel_data_is_read_without_a_word_on_the_terminal(tmp_path):
    # libpng would print "IDAT: Too much image data" from C; libspng and pillow say nothing
    rows = np.arange(40 * 40).reshape(40, 40) % 7
    raw = b"".join(b"\x00" + row.astype(np.uint8).tobytes() for row in rows) + bytes(100)
    data = (png._SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", 40, 40, 8, 0, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b""))
    path = tmp_path / "surplus.png"
    path.write_bytes(data)
    code = ("import sys; from dicecli.io.readers import png; "
            "print(png.read(sys.argv[1]).array.sum())")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    assert int(done.stdout) == int(rows.sum())


def test_gamma_and_significant_bits_chunks_leave_stored_values(tmp_path, monkeypatch):
    # a decoder that applied gAMA or sBIT would change the labels: both paths keep what is stored
    from PIL import PngImagePlugin

    rows = (np.arange(40 * 40) % 251).astype(np.uint8).reshape(40, 40)
    info = PngImagePlugin.PngInfo()
    info.add(b"gAMA", struct.pack(">I", 20000))  # gamma 0.2
    info.add(b"sBIT", bytes([3]))
    path = tmp_path / "gamma.png"
    Image.fromarray(rows).save(path, pnginfo=info)
    calls = _spy(monkeypatch)
    np.testing.assert_array_equal(png.read(str(path)).array, rows)
    np.testing.assert_array_equal(_pillow(path), rows)
    assert calls == [True]
