"""Keep freed voxel buffers for the next case instead of returning them to the OS.

glibc serves every allocation above its mmap threshold (128 KiB to 32 MiB) with
fresh pages from the kernel and unmaps them on free, so each decoded volume
costs one page fault per 4 KiB page, with the page zeroed first: for a batch of
512x512x96 uint8 cases that is about 0.4 s of CPU in 1.3 s of work, and on two
cores the zeroing competes for memory bandwidth. Serving large blocks from the
heap and not trimming it lets case n+1 reuse case n's pages.

The cost: a process keeps the memory of its largest case until it exits (its
peak RSS is unchanged). Only dice's own processes call this (the CLI and its
pool workers), never a library user's process. A no-op off glibc.
"""

from __future__ import annotations

import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_INT_MAX = 2**31 - 1


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
    return bool(mallopt(_M_TRIM_THRESHOLD, _INT_MAX)) and bool(mallopt(_M_MMAP_MAX, 0))

