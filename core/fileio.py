"""Atomic file writes: a temp file in the target folder, then a rename, so an interrupted or failed write
never truncates or destroys an existing output."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO


def _umask_mode() -> int:
    """Permissions a plain open() would give; mkstemp's 0600 would hide outputs from other users."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def temp_path_for(path: Path) -> str:
    """A fresh temp file name beside `path` (same filesystem, so the final rename is atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return tmp


def commit_temp(tmp: str, path: Path) -> None:
    os.chmod(tmp, _umask_mode())
    os.replace(tmp, path)


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call `write(temp_name)` then rename onto `path`; for writers that need a file name."""
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        write(tmp)
        commit_temp(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """`with atomic_output(p) as f: f.write(...)`: the file appears at `p` only if the block succeeds."""
    path = Path(path)
    tmp = temp_path_for(path)
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        commit_temp(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
