"""Write output files safely: atomically, and never over an input file."""

from __future__ import annotations

import os
import tempfile
from typing import Iterable

from .errors import UsageError


def _real(path: str) -> str:
    return os.path.normcase(os.path.realpath(path))


def refuse_input_overwrite(outputs: Iterable[str], inputs: Iterable[str]) -> None:
    """Raise UsageError when an output path is (a link to) an input file or a folder."""
    input_paths = {_real(p) for p in inputs}
    for out in outputs:
        if os.path.isdir(out):
            raise UsageError(f"output {out} is a directory")
        if _real(out) in input_paths:
            raise UsageError(f"refusing to write output {out} over an input file")


def write_atomic(path: str, text: str | bytes) -> None:
    """Write ``text`` (UTF-8; bytes as they are) to ``path`` via a temporary file and a rename.

    Readers of ``path`` see either the old file or the complete new one, never
    a half-written file; the temporary file is removed if anything fails.
    """
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8") if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
