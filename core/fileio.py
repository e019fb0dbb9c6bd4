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


@contextlib.contextmanager
def _temp_beside(path: Path) -> Iterator[str]:
    """A fresh temp file name beside `path` (same filesystem, so the rename is atomic), renamed onto `path`
    when the block succeeds and removed when it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call `write(temp_name)` then rename onto `path`; for writers that need a file name."""
    path = Path(path)
    with _temp_beside(path) as tmp:
        write(tmp)
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """`with atomic_output(p) as f: f.write(...)`: the file appears at `p` only if the block succeeds."""
    with _temp_beside(Path(path)) as tmp, open(tmp, "wb") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())
