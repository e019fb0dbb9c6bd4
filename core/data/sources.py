"""Raw image sources (a folder tree or a zip) behind one small interface, so preparation does not care which.

Names are POSIX paths relative to the source root, sorted, which is also how the official `dataset.json`
labels file refers to images; that keeps labels matching on every platform.
"""

from __future__ import annotations

import json
import os
import threading
import zipfile
from pathlib import Path

from core.errors import SGError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
LABELS_FILE = "dataset.json"


def _is_image_name(name: str) -> bool:
    """Image by extension; hidden files and macOS resource forks (`__MACOSX/`, `._x.jpg`) are not images."""
    parts = name.split("/")
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return name.lower().endswith(IMAGE_EXTENSIONS)


class ImageSource:
    """Sorted image names plus byte access and the optional labels file; subclasses differ only in storage."""

    path: Path
    names: list[str]

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def _read_labels_bytes(self) -> bytes | None:
        raise NotImplementedError

    def close(self) -> None:
        """Release file handles (a no-op for folders)."""

    def labels(self) -> dict[str, int] | None:
        """`{relative_path: label}` from `dataset.json`, or None when absent or `"labels": null`."""
        raw = self._read_labels_bytes()
        if raw is None:
            return None
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SGError(f"{self.path}: {LABELS_FILE} is not valid JSON ({exc})") from exc
        if not isinstance(doc, dict) or "labels" not in doc:
            raise SGError(f'{self.path}: {LABELS_FILE} must be an object with a "labels" key')
        entries = doc["labels"]
        if entries is None:
            return None
        if isinstance(entries, dict):  # tolerate {"path": label}
            entries = list(entries.items())
        if not isinstance(entries, list):
            raise SGError(f'{self.path}: "labels" in {LABELS_FILE} must be a list of [path, int] pairs')
        out: dict[str, int] = {}
        for entry in entries:
            if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], str)):
                raise SGError(f"{self.path}: bad entry in {LABELS_FILE}: {entry!r} (want [path, int])")
            value = entry[1]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value:
                raise SGError(f"{self.path}: label for {entry[0]!r} must be an integer class, got {value!r}")
            if value < 0:
                raise SGError(f"{self.path}: label for {entry[0]!r} is negative ({value})")
            out[entry[0].replace("\\", "/")] = int(value)
        return out

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FolderSource(ImageSource):
    """All images under a directory, recursively."""

    def __init__(self, path: Path) -> None:
        self.path = path
        names = []
        for root, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            rel_root = Path(root).relative_to(path).as_posix()
            for f in files:
                name = f if rel_root == "." else f"{rel_root}/{f}"
                if _is_image_name(name):
                    names.append(name)
        self.names = sorted(names)

    def read(self, name: str) -> bytes:
        return (self.path / name).read_bytes()

    def _read_labels_bytes(self) -> bytes | None:
        p = self.path / LABELS_FILE
        return p.read_bytes() if p.is_file() else None


class ZipSource(ImageSource):
    """All images inside a zip archive; reads are serialised so worker threads can share one handle."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._zip = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise SGError(f"{path}: not a readable zip file ({exc})") from exc
        self._lock = threading.Lock()
        self.names = sorted(n for n in self._zip.namelist() if not n.endswith("/") and _is_image_name(n))

    def read(self, name: str) -> bytes:
        with self._lock:
            return self._zip.read(name)

    def _read_labels_bytes(self) -> bytes | None:
        try:
            with self._lock:
                return self._zip.read(LABELS_FILE)
        except KeyError:
            return None

    def close(self) -> None:
        self._zip.close()


def open_source(path: str | os.PathLike) -> ImageSource:
    """A folder or a `.zip`; anything else (or nothing there) is a user error."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SGError(f"source not found: {p}")
    if p.is_dir():
        return FolderSource(p)
    if zipfile.is_zipfile(p):
        return ZipSource(p)
    raise SGError(f"source must be a folder or a .zip of images: {p}")
