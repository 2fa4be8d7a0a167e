"""Keep the memory a meta-step frees for the next one.

A meta-step on the sinusoid MLP allocates buffers of about 1 MiB (the inner path: 25 tasks ×
6 points × 1,761 float32 numbers) and frees them at its end. glibc hands blocks that size
back to the system (``munmap``, or trimming the top of the heap), so the next step faults
every 4 KiB page in again: 258 page faults, about 1.1 ms of a 13 ms step on the 2-core
machine. Raising glibc's mmap and trim thresholds keeps such blocks in the heap for reuse;
the price is up to ``trim_threshold`` bytes of freed memory the process keeps.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's malloc.h
M_MMAP_THRESHOLD = -3

_applied: bool | None = None


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 64 << 20) -> bool:
    """Set glibc's malloc thresholds once per process; True where they are in force.

    Parameters
    ----------
    mmap_threshold : blocks below this size come from the heap, not from their own ``mmap``
    trim_threshold : free memory at the heap's top is returned to the system only above this

    Returns False where the C library has no ``mallopt`` (not Linux, or not glibc).
    """
    global _applied
    if _applied is None:
        _applied = _mallopt(M_MMAP_THRESHOLD, mmap_threshold) and \
            _mallopt(M_TRIM_THRESHOLD, trim_threshold)
    return _applied


def _mallopt(option: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return mallopt(ctypes.c_int(option), ctypes.c_int(value)) == 1
