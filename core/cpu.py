"""CPU process settings that make PyTorch faster on CPU without changing any result.

glibc returns each large freed block to the OS (munmap or heap trim) and page-faults it back in on the
next step, so a CPU training or projection step that allocates and frees hundreds of MB spends up to
half its time in the kernel (measured: a 256 px config-f synthesis fwd+bwd, 16 s -> 12.5 s per step).
Keeping freed memory in the process stops that, at a price: fragmentation raises the peak (measured +56%
on that step; a 1024 px batch-8 projection then ran out of 24 GB). So it is on where models are small
(`sg train` on CPU) and opt-in elsewhere: SG_KEEP_MALLOC=1 turns it on for every command, =0 off everywhere.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import ctypes.util
import os
import sys
import tempfile
import time
from pathlib import Path

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


# ---- sharing the cores between sg processes --------------------------------------------------------
#
# Two CPU trainings that each start one thread per core run ~60x slower than alone on a 2-core machine
# (measured: OpenMP threads spin waiting for cores the other process holds). Each sg process therefore
# registers itself in a folder of the temp dir and uses cores // (sg processes running) threads,
# re-counted now and then (`rebalance_cpu`), unless the user chose: SG_THREADS=N, or OMP_NUM_THREADS.

_REBALANCE_EVERY_S = 5.0
_registered: Path | None = None
_last_check = 0.0


def _registry() -> Path:
    uid = getattr(os, "getuid", lambda: "user")()
    return Path(tempfile.gettempdir()) / f"sg-running-{uid}"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks (/proc), so a reused pid is not taken for a live sg."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def _alive(entry: Path) -> bool:
    try:
        pid = int(entry.name)
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True  # not ours to judge (another user's pid space rules): count it
    try:
        recorded = entry.read_text().strip()
    except OSError:
        return False
    return not recorded or recorded == _start_time(pid)


def running_sg_processes() -> int:
    """How many sg processes (this one included) are running on this machine now; stale entries go."""
    n = 0
    try:
        entries = list(_registry().iterdir())
    except OSError:
        return 1
    for entry in entries:
        if _alive(entry):
            n += 1
        else:
            with contextlib.suppress(OSError):
                entry.unlink()
    return max(n, 1)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def fair_threads() -> int | None:
    """Threads this process should use: SG_THREADS when set, None when OMP_NUM_THREADS decides (torch
    already follows it), else the cores divided among the running sg processes."""
    env = os.environ.get("SG_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    if os.environ.get("OMP_NUM_THREADS", "").strip():
        return None
    return max(1, _cores() // running_sg_processes())


_applied_threads: int | None = None


def _apply(threads: int | None) -> None:
    """Set the thread count, unless the program chose its own (a count that is neither torch's default
    nor the last one set here: a test fixture, a library caller)."""
    global _applied_threads
    if threads is None:
        return
    import torch

    current = torch.get_num_threads()
    if current not in (_applied_threads, _cores()):
        return
    if current != threads:
        torch.set_num_threads(threads)
    _applied_threads = threads


def share_cpu() -> int | None:
    """Register this process as a running sg and set its thread count fairly; returns the count chosen."""
    global _registered, _last_check
    if _registered is None:
        entry = _registry() / str(os.getpid())
        try:
            entry.parent.mkdir(exist_ok=True)
            entry.write_text(_start_time(os.getpid()))
            _registered = entry
            atexit.register(_unregister)
        except OSError:
            pass
    _last_check = time.monotonic()
    threads = fair_threads()
    _apply(threads)
    return threads


def rebalance_cpu() -> None:
    """Re-count the running sg processes (at most every few seconds) and adjust this process's threads;
    called from the training loop, on the main thread (thread counts are per calling thread in OpenMP)."""
    global _last_check
    if _registered is None or time.monotonic() - _last_check < _REBALANCE_EVERY_S:
        return
    _last_check = time.monotonic()
    _apply(fair_threads())


def _unregister() -> None:
    global _registered
    if _registered is not None:
        with contextlib.suppress(OSError):
            _registered.unlink()
        _registered = None
