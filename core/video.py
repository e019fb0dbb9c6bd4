"""MP4 writing through OpenCV: H.264 ('avc1') when this OpenCV build has an encoder for it, else
'mp4v' (MPEG-4 Part 2: plays in VLC, ffmpeg and most desktop players, but not in most web browsers).

The pip OpenCV wheels usually lack an H.264 encoder, so expect mp4v. The file is written under a temp
name, opened again and its frames counted, and only then renamed over the target: OpenCV's writer reports
no write errors, so without that check a full disk would put an unreadable video over a good one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import numpy as np

from core import validate
from core.errors import OutputError, SGError, os_cause, os_error
from core.fileio import check_output_file, make_output_dir

__all__ = ["CODECS", "Mp4Writer"]

# (fourcc, human name), in order of preference.
CODECS: tuple[tuple[str, str], ...] = (("avc1", "H.264"), ("mp4v", "MPEG-4 Part 2"))


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Silence ffmpeg/OpenCV C-level messages while probing encoders (a missing H.264 encoder prints
    several lines of errors that are expected here, not problems)."""
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(fd, 2)
    finally:
        os.close(fd)


def _disk_full(path: Path) -> bool:
    """Whether the file system holding `path` has (almost) no space left: OpenCV never says so itself."""
    try:
        st = os.statvfs(path.parent)
    except (OSError, AttributeError):
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


class Mp4Writer:
    """Write RGB ([H,W,3]) or grayscale ([H,W] / [H,W,1]) uint8 frames to an .mp4; ``codec`` says which
    encoder was used. Use as a context manager: the video appears at ``path`` only on a clean exit."""

    def __init__(self, path: str | os.PathLike[str], fps: float, width: int, height: int) -> None:
        import cv2

        validate.fps("--fps", fps)
        self.path = check_output_file(path)
        self.size = (int(width), int(height))
        self.frames = 0
        make_output_dir(self.path.parent)
        self._tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp.mp4")
        self._writer = None
        self.fourcc = self.codec = ""
        try:  # OpenCV would only say "cannot open": find a read-only folder or a full disk here
            with open(self._tmp, "wb"):
                pass
        except OSError as exc:
            raise os_error(exc, self.path) from None
        for fourcc, name in CODECS:
            with _quiet_native_stderr():
                writer = cv2.VideoWriter(
                    str(self._tmp), cv2.VideoWriter_fourcc(*fourcc), float(fps), self.size
                )
            if writer.isOpened():
                self._writer, self.fourcc, self.codec = writer, fourcc, f"{fourcc} ({name})"
                break
            writer.release()
        if self._writer is None:
            self._remove_tmp()
            raise SGError(
                "OpenCV cannot write mp4 here (neither avc1 nor mp4v encoders); write frames with "
                "--out DIR/ instead"
            )

    def write(self, frame: np.ndarray) -> None:
        """Append one uint8 frame (RGB or grayscale) of the size given at construction."""
        import cv2

        a = np.asarray(frame)
        if a.dtype != np.uint8:
            raise ValueError(f"frames must be uint8, got {a.dtype}")
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[:, :, 0]
        if (a.shape[1], a.shape[0]) != self.size:
            raise ValueError(f"frame is {a.shape[1]}x{a.shape[0]}, video is {self.size[0]}x{self.size[1]}")
        bgr = cv2.cvtColor(a, cv2.COLOR_GRAY2BGR) if a.ndim == 2 else cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
        self._writer.write(np.ascontiguousarray(bgr))
        self.frames += 1

    def close(self) -> Path:
        """Finish the file, check that it opens with every frame, and only then move it into place."""
        self._writer.release()
        try:
            if self.frames == 0 or not self._tmp.exists():
                raise SGError(f"no frames were written to {self.path}")
            self._verify()
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self._remove_tmp()
            raise OutputError(f"cannot write {self.path}: {os_cause(exc)}; nothing was replaced") from None
        except BaseException:
            self._remove_tmp()
            raise
        return self.path

    def _verify(self) -> None:
        """The temp video must open and hold as many frames as were written, at the right size."""
        import cv2

        problem = None
        with _quiet_native_stderr():  # ffmpeg prints "moov atom not found" for a stub; we say it in words
            cap = cv2.VideoCapture(str(self._tmp))
        try:
            if not cap.isOpened():
                problem = "it does not open as a video"
            else:
                count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
                with _quiet_native_stderr():
                    ok, frame = cap.read()
                if count != self.frames:
                    problem = f"it holds {count} of {self.frames} frames"
                elif not ok or (frame.shape[1], frame.shape[0]) != self.size:
                    problem = "its first frame does not decode"
        finally:
            cap.release()
        if problem is not None:
            cause = "no space left on the device" if _disk_full(self._tmp) else problem
            raise OutputError(f"cannot write {self.path}: {cause}; nothing was replaced")

    def abort(self) -> None:
        """Drop the partial file, leaving any previous video at ``path`` untouched."""
        self._writer.release()
        self._remove_tmp()

    def _remove_tmp(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> Mp4Writer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
