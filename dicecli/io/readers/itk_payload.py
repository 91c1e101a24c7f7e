"""Check the compressed voxel data of NRRD and MetaImage files before SimpleITK decodes them.

SimpleITK inflates compressed data only as far as the voxels need and checks
neither the gzip CRC-32 (NRRD ``encoding: gzip``) nor the zlib Adler-32
(MetaImage ``CompressedData = True``), so a flipped bit often gives different
voxels and no error. Here the compressed data are inflated (and discarded) to
their end first, every checksum checked:

- NRRD: the data after the header's first blank line, or the detached
  ``data file:``, when the encoding is gzip (:mod:`.gzip_members`);
- MetaImage: the data after the ``ElementDataFile = LOCAL`` line (.mha), or the
  file it names (.mhd + .zraw), when ``CompressedData = True``: one zlib stream,
  which must end where the data end.

Uncompressed data, bzip2 NRRD and data split over several files are left to
SimpleITK. Problems raise ReadError without a path (the reader adds it). The
inflated size is returned, for the reader to hold against the header's image
size: SimpleITK reads a stream too short for it without an error, filling the
rest with whatever memory held.
"""

from __future__ import annotations

import os
import re

from ...errors import ReadError
from ._common import read_bytes
from .gzip_members import CHECK_STEP, GzipMembers, damaged, inflater_module

_NRRD_END = re.compile(rb"\r?\n\r?\n")


def check_payload(path: str) -> tuple[int, bool] | None:
    """Inflate and check the compressed voxel data of the NRRD or MetaImage file at ``path``.

    Returns (bytes of voxels they hold, whether the image must fill them exactly), or None when
    the data are not compressed or not checked here.
    """
    lower = path.lower()
    if lower.endswith(".nrrd"):
        return _check_nrrd(path, read_bytes(path))
    if lower.endswith((".mha", ".mhd")):
        return _check_metaimage(path, read_bytes(path))
    return None


def _check_nrrd(path: str, data: bytes) -> tuple[int, bool] | None:
    end = _NRRD_END.search(data)
    if end is None:
        return None  # no header end: SimpleITK says what is wrong
    fields = _fields(data[:end.start()], ":")
    if fields.get("encoding") not in ("gzip", "gz"):
        return None
    detached = fields.get("data file", fields.get("datafile"))
    if detached is None:
        payload = data[end.end():]
    elif " " in detached or detached.upper().startswith("LIST"):
        return None  # several data files: left to SimpleITK
    else:
        payload = read_bytes(os.path.join(os.path.dirname(path), detached))
    members = GzipMembers(payload)
    members.finish()
    skip = fields.get("byte skip", fields.get("byteskip", "0"))
    if skip == "-1":  # the voxels are the last bytes of the data
        return members.inflated, False
    return members.inflated - (int(skip) if skip.isdigit() else 0), True


def _check_metaimage(path: str, data: bytes) -> tuple[int, bool] | None:
    line = re.search(rb"^\s*ElementDataFile\s*=\s*(.*?)\s*$", data, re.M | re.I)
    if line is None:
        return None
    fields = _fields(data[:line.start()], "=")
    if fields.get("compresseddata", "").lower() != "true":
        return None
    name = line.group(1).decode("latin-1")
    if name.upper() == "LOCAL":
        payload = data[line.end():]
        payload = payload[1:] if payload.startswith(b"\n") else payload[2:] if payload.startswith(b"\r\n") else payload
    elif name.upper().startswith("LIST") or "%" in name or " " in name:
        return None  # several data files: left to SimpleITK
    else:
        payload = read_bytes(os.path.join(os.path.dirname(path), name))
    return _check_zlib(payload), True


def _fields(header: bytes, separator: str) -> dict[str, str]:
    """Lower-case key -> value of the ``key<separator>value`` lines of a text header."""
    fields = {}
    for raw in header.decode("latin-1").splitlines():
        key, found, value = raw.partition(separator)
        if found and not key.lstrip().startswith("#"):
            fields[key.strip().lower()] = value.strip()
    return fields


def _check_zlib(payload: bytes) -> int:
    """Bytes of one zlib stream inflated to its end (Adler-32 checked), with nothing after it."""
    inflater = inflater_module.decompressobj(15)
    data, inflated = payload, 0
    while not inflater.eof:
        before = len(data)
        try:
            out = inflater.decompress(data, CHECK_STEP)
        except MemoryError:
            raise
        except Exception as exc:  # zlib.error, isal_zlib.error
            raise damaged(exc, "zlib data") from None
        inflated += len(out)
        data = inflater.unconsumed_tail
        if not out and len(data) == before:
            raise ReadError(None, "truncated data: the zlib data end early (no Adler-32 checksum; the file was "
                                  "cut short)")
    if inflater.unused_data:
        raise ReadError(None, f"damaged compressed data: {len(inflater.unused_data)} bytes after the end of "
                              "the zlib stream (trailing garbage; the file is corrupt)")
    return inflated
