"""Safe outputs: write to a temp file beside the target, check it reads back, then rename it into place, so
a full disk, a read-only folder or an interrupted write never truncates or destroys an existing output.

Every file-system failure leaves here as one OutputError line naming the path and the cause
(core.errors.os_error); collisions (a folder where a file should go, a file where a folder should be) are
found before anything is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from core.errors import OutputError, SGError, os_error

Verify = Callable[[str], None]


def _umask_mode() -> int:
    """Permissions a plain open() would give; mkstemp's 0600 would hide outputs from other users."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _blocking_file(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` when it is a file (so no folder can be made there)."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_output_file(path: str | os.PathLike) -> Path:
    """Refuse an output file name that collides with a folder, or whose folder exists as a file."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"cannot write {path}: it is a folder, not a file; give a file name")
    blocker = _blocking_file(path)
    if blocker is not None:
        raise OutputError(f"cannot write {path}: {blocker} exists as a file, not a folder")
    return path


def check_output_dir(path: str | os.PathLike) -> Path:
    """Refuse an output folder that exists as a file (or under one), before any work is done."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"cannot use {path} as the output folder: it exists as a file")
    blocker = _blocking_file(path)
    if blocker is not None:
        raise OutputError(f"cannot create folder {path}: {blocker} exists as a file, not a folder")
    return path


def make_output_dir(path: str | os.PathLike) -> Path:
    """Create an output folder (and its parents); a file in the way is a one-line error, not a traceback."""
    path = check_output_dir(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise os_error(exc, path, "cannot create folder") from None
    return path


@contextlib.contextmanager
def _temp_beside(path: Path, verify: Verify | None = None) -> Iterator[str]:
    """A fresh temp file name beside `path` (same filesystem, so the rename is atomic). When the block
    succeeds and the file passes `verify`, it is renamed onto `path`; otherwise it is removed."""
    check_output_file(path)
    make_output_dir(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise os_error(exc, path) from None
    os.close(fd)
    try:
        yield tmp
        _verify(path, tmp, verify)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise os_error(exc, path) from None
        raise


def _verify(path: Path, tmp: str, verify: Verify | None) -> None:
    """Never put an output in place that does not read back (an empty file, a video without frames...)."""
    try:
        if os.path.getsize(tmp) == 0:
            raise ValueError("the file is empty")
        if verify is not None:
            verify(tmp)
    except (SGError, OSError, MemoryError):
        raise
    except Exception as exc:
        raise OutputError(
            f"cannot write {path}: the written file does not read back ({exc}); nothing was replaced"
        ) from None


def atomic_write(path: str | os.PathLike, write: Callable[[str], None], verify: Verify | None = None) -> Path:
    """Call `write(temp_name)`, check it with `verify(temp_name)`, then rename onto `path`."""
    path = Path(path)
    with _temp_beside(path, verify) as tmp:
        write(tmp)
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, verify: Verify | None = None) -> Iterator[BinaryIO]:
    """`with atomic_output(p) as f: f.write(...)`: the file appears at `p` only if the block succeeds
    (and `verify(temp_name)` accepts what was written)."""
    with _temp_beside(Path(path), verify) as tmp:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def _lock_dir() -> Path:
    uid = getattr(os, "getuid", lambda: "user")()
    return Path(tempfile.gettempdir()) / f"sg-locks-{uid}"


@contextlib.contextmanager
def folder_lock(folder: str | os.PathLike, option: str = "--outdir") -> Iterator[None]:
    """Hold an exclusive lock on an output folder for the block, so two runs never mix their files there.

    The lock file lives in the temp folder (keyed by the folder's real path), not in the user's folder;
    the OS drops the lock when the process ends, however it ends. A no-op where fcntl is missing."""
    try:
        import fcntl
    except ImportError:  # Windows
        yield
        return
    real = os.path.realpath(folder)
    key = hashlib.sha256(os.fsencode(real)).hexdigest()[:20]
    try:
        _lock_dir().mkdir(exist_ok=True)
        f = open(_lock_dir() / f"{key}.lock", "a+")  # noqa: SIM115 - held for the whole block
    except OSError:  # no usable temp folder: run unlocked rather than refuse to work
        yield
        return
    try:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            raise OutputError(
                f"another sg process (pid {holder}) is writing to {folder}; "
                f"wait for it or use another {option}"
            ) from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        yield
    finally:
        f.close()  # closing releases the lock


def read_npy_header(f: BinaryIO) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran order, dtype) of the .npy array at ``f``'s position, reading the header only, so a
    declared size can be checked before numpy allocates it; ``f`` is left at the start of the data."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    return tuple(int(n) for n in shape), bool(fortran), dtype
