"""CPU process settings that make PyTorch faster on CPU without changing any result.

glibc returns each large freed block to the OS (munmap or heap trim) and page-faults it back in on the
next step, so a CPU training or projection step that allocates and frees hundreds of MB spends up to
half its time in the kernel (measured: a 256 px config-f synthesis fwd+bwd, 16 s -> 12.5 s per step).
Keeping freed memory in the process stops that, at a price: fragmentation raises the peak (measured +56%
on that step; a 1024 px batch-8 projection then ran out of 24 GB). So it is on where models are small
(`sg train` on CPU) and opt-in elsewhere: SG_KEEP_MALLOC=1 turns it on for every command, =0 off everywhere.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_KEEP = 2**31 - 1  # the largest int mallopt takes: never trim, never mmap

_applied: bool | None = None  # None: not tried yet; then whether mallopt took both settings


def keep_freed_memory(default: bool = False) -> bool:
    """Tell glibc's malloc to keep freed memory when SG_KEEP_MALLOC says so (1 / 0), else when `default`.
    Linux only. A call that does not want it changes nothing, so a later caller that does (sg train on CPU,
    after the CLI's start-up call) still gets it. Returns whether the setting is in effect."""
    global _applied
    wanted = {"1": True, "0": False}.get(os.environ.get("SG_KEEP_MALLOC", ""), default)
    if _applied is not None or not wanted or not sys.platform.startswith("linux"):
        return bool(_applied)
    _applied = False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, ctypes.c_int(_KEEP)) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, ctypes.c_int(_KEEP)) == 1 and ok
    except (OSError, AttributeError):  # musl or another libc without mallopt
        return _applied
    _applied = ok
    return _applied
