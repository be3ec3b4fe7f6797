"""Keeping the daemon's resident memory flat (glibc's allocator, through ctypes).

The pose models allocate hundreds of megabytes natively, from many threads.
glibc gives each thread that allocates an arena of its own (up to eight per
core) and keeps what is freed in them: a camera restarted by a reload (a new
calibration, new camera settings) makes new models on new threads, and the
memory the old ones freed stays resident in the old arenas. Measured on the
mixed-use soak (bench/mixed.py): RSS rose by about 300 MB over three minutes of
calibration saves. Two allocator settings keep it flat:

* ``M_ARENA_MAX`` = 2 before any thread starts (what ``MALLOC_ARENA_MAX=2`` in
  the environment does): freed memory is reused instead of stranded;
* ``malloc_trim(0)`` after work that frees a lot (a reload that replaced
  cameras or regions), and every few minutes: free pages go back to the system.

Elsewhere than glibc (musl, macOS) both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
M_ARENA_MAX = -8  # glibc's mallopt parameter numbers
M_MMAP_THRESHOLD = -3
ARENAS = 2
MMAP_THRESHOLD = 4 * 2**20


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.mallopt  # noqa: B018 (glibc only)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Call before the first thread starts; True when the allocator took it."""
    if _LIBC is None:
        return False
    return bool(_LIBC.mallopt(M_ARENA_MAX, arenas)) and bool(
        _LIBC.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    )


def trim() -> bool:
    """Give freed memory back to the system; True when some was."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(0))
