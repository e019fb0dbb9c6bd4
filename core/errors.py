"""User-facing errors: the CLI prints their message as one line and exits non-zero, never a traceback.

`os_error` is the one place that turns an OSError into such a line, naming the path and the cause in
words a user can act on (no space left, read-only, is a folder, exists as a file ...).
"""

from __future__ import annotations

import errno
import os


class SGError(Exception):
    """A problem with the user's input or environment that the user can fix (bad file, wrong shape...)."""

    exit_code = 2


class OutputError(SGError):
    """An output could not be written (disk full, read-only, a path collision); the old file is intact."""


_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for this file system",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOTDIR: "a part of the path exists as a file, not a folder",
    errno.EEXIST: "exists already",
    errno.ENOENT: "no such file or folder",
    errno.ENAMETOOLONG: "file name too long",
    errno.EMFILE: "too many open files",
    errno.EIO: "input/output error (failing disk or network file system?)",
    errno.ENOTEMPTY: "folder is not empty",
    errno.EXDEV: "cannot move across file systems",
}


def os_cause(exc: BaseException) -> str:
    """The cause of an OSError in words (errno first, then the OS's own text)."""
    code = getattr(exc, "errno", None)
    if code in _CAUSES:
        return _CAUSES[code]
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text[0].lower() + text[1:] if text else type(exc).__name__


def os_error(
    exc: OSError, path: str | os.PathLike | None = None, action: str = "cannot write"
) -> OutputError:
    """One line naming the path and the cause: `cannot write out/a.png: no space left on the device`."""
    where = path if path is not None else (exc.filename or exc.filename2)
    cause = os_cause(exc)
    if where is None:
        return OutputError(f"{action}: {cause}")
    return OutputError(f"{action} {os.fsdecode(where)}: {cause}")
