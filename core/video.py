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

__all__ = ["CODECS", "FrameFolder", "Mp4Writer", "Strip", "VideoSink", "open_frame_sink", "output_kind"]

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


# ---- frame sinks: where a sequence of frames goes (sg interpolate) ---------------------------------

STRIP_SUFFIXES = (".png", ".jpg", ".jpeg")


def output_kind(out: str) -> str:
    """'video' (.mp4), 'strip' (.png/.jpg) or 'frames' (no extension, or a trailing slash)."""
    if out.endswith(("/", "\\")) or Path(out).suffix == "":
        return "frames"
    suffix = Path(out).suffix.lower()
    if suffix == ".mp4":
        return "video"
    if suffix in STRIP_SUFFIXES:
        return "strip"
    raise SGError(f"--out {out!r}: use a .mp4 video, a .png/.jpg strip, or a folder for frames (DIR/)")


class FrameFolder:
    """frames/frame00000.png ...: one PNG per frame, written as they come."""

    note = ""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def write(self, i: int, img: np.ndarray) -> None:
        from core.images import save_png

        save_png(img, self.folder / f"frame{i:05d}.png")

    def finish(self, count: int) -> str:
        return f"wrote {count} frames to {self.folder}/frame00000.png ..."

    def abort(self) -> None:
        """Frames already written stay (each is complete); nothing else to undo."""


class Strip:
    """One grid image of all frames, row-major, wrapping after ``cols`` frames (frames kept in memory)."""

    note = ""

    def __init__(self, path: str, cols: int) -> None:
        self.path, self.cols = path, cols
        self.frames: list[np.ndarray] = []

    def write(self, i: int, img: np.ndarray) -> None:
        self.frames.append(img)

    def finish(self, count: int) -> str:
        from core.images import make_grid, save_image

        cols = min(self.cols, count)
        path = save_image(make_grid(np.stack(self.frames), cols), self.path)
        return f"wrote {path} ({count} frames, {cols} per row)"

    def abort(self) -> None:
        self.frames.clear()


class VideoSink:
    """An .mp4 through ``Mp4Writer`` (verified, then moved into place); ``note`` names the codec."""

    def __init__(self, path: str, fps: float, size: int) -> None:
        self.fps = fps
        self.writer = Mp4Writer(path, fps, size, size)
        self.note = f"video codec: {self.writer.codec}" + (
            "" if self.writer.fourcc == "avc1" else " (this OpenCV has no H.264 encoder)"
        )

    def write(self, i: int, img: np.ndarray) -> None:
        self.writer.write(img)

    def finish(self, count: int) -> str:
        path = self.writer.close()
        return f"wrote {path} ({count} frames at {self.fps:g} fps, codec {self.writer.codec})"

    def abort(self) -> None:
        self.writer.abort()


def open_frame_sink(out: str, fps: float, size: int, cols: int) -> FrameFolder | Strip | VideoSink:
    """The sink ``out`` names (see ``output_kind``) for square frames of ``size`` px."""
    kind = output_kind(out)
    if kind == "frames":
        return FrameFolder(out)
    if kind == "strip":
        return Strip(out, cols)
    return VideoSink(out, fps, size)
