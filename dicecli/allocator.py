"""Keep freed voxel buffers for the next case instead of returning them to the OS.

glibc serves every allocation above its mmap threshold (128 KiB to 32 MiB) with
fresh pages from the kernel and unmaps them on free, so each decoded volume
costs one page fault per 4 KiB page, with the page zeroed first: for a batch of
512x512x96 uint8 cases that is about 0.4 s of CPU in 1.3 s of work, and on two
cores the zeroing competes for memory bandwidth. Serving large blocks from the
heap and not trimming it lets case n+1 reuse case n's pages.

The cost would be that a process keeps the memory of its largest case until it
exits, so that -j 16 after a few 400 MB cases holds 16 x 400 MB while scoring
small ones. So after a large case (decoded inputs of LARGE_CASE_BYTES or more)
the freed memory held beyond RETAIN_BYTES is handed back (malloc_trim): cases
up to a few hundred MB still reuse their pages, and what a worker holds between
cases is bounded by RETAIN_BYTES, not by the largest case it has seen.

Only dice's own processes call keep_freed_memory (the CLI and its pool
workers), never a library user's process. A no-op off glibc.
"""

from __future__ import annotations

import functools
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1
#: Freed memory (bytes) a process may keep for the next case after a large one.
RETAIN_BYTES = 256 * 2**20
#: Decoded input bytes (both files) from which a case counts as large: smaller cases cannot
#: leave much more than RETAIN_BYTES freed, so they skip the check (it walks malloc's bins).
LARGE_CASE_BYTES = 32 * 2**20

_keeping = False


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse; True when it agreed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    global _keeping
    _keeping = bool(mallopt(_M_TRIM_THRESHOLD, _INT_MAX)) and bool(mallopt(_M_MMAP_MAX, 0))
    return _keeping


@functools.cache
def _libc_trim():
    """(mallinfo2 or None, malloc_trim) of glibc, looked up once per process."""
    import ctypes

    class Mallinfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")]

    libc = ctypes.CDLL(None)
    mallinfo2 = getattr(libc, "mallinfo2", None)  # glibc 2.33 and later
    if mallinfo2 is not None:
        mallinfo2.restype = Mallinfo2
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    return mallinfo2, trim


def _free_bytes() -> int | None:
    """Bytes malloc holds freed (glibc mallinfo2: fordblks), None when it cannot tell."""
    mallinfo2 = _libc_trim()[0]
    return None if mallinfo2 is None else int(mallinfo2().fordblks)


def after_case(decoded_bytes: int) -> bool:
    """Call after each case with the bytes of its decoded inputs. After a large case, when malloc
    holds more than RETAIN_BYTES freed, hand it back to the OS, keeping about RETAIN_BYTES at the
    top of the heap for the next case (glibc also releases free pages inside the heap). True when
    it trimmed; False for small cases, when nothing was kept, and off glibc."""
    if not _keeping or decoded_bytes < LARGE_CASE_BYTES:
        return False
    free = _free_bytes()
    if free is not None and free <= RETAIN_BYTES:
        return False
    return bool(_libc_trim()[1](RETAIN_BYTES))

