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

from core.data.decode import ImageDecodeError
from core.data.layout import MAX_CLASSES, MAX_LABELS_JSON_BYTES
from core.errors import SGError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp")
LABELS_FILE = "dataset.json"
MAX_IMAGE_BYTES = 256 << 20  # one image file; a bigger one is skipped, never read into memory


def _check_size(name: str, size: int) -> None:
    """Bound one image before it is read (a zip member can declare gigabytes in a few bytes)."""
    if size > MAX_IMAGE_BYTES:
        raise ImageDecodeError(f"{size:,} bytes is over the {MAX_IMAGE_BYTES >> 20} MiB limit for one image")


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
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # 3.0 is class 3; 1e999 (inf) and 2.5 are not classes
            if isinstance(value, bool) or not isinstance(value, int):
                raise SGError(f"{self.path}: label for {entry[0]!r} must be an integer class, got {value!r}")
            if not 0 <= value < MAX_CLASSES:
                raise SGError(
                    f"{self.path}: label for {entry[0]!r} is {value}, "
                    f"outside the class range 0..{MAX_CLASSES - 1}"
                )
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
        p = self.path / name
        _check_size(name, p.stat().st_size)
        return p.read_bytes()

    def _read_labels_bytes(self) -> bytes | None:
        p = self.path / LABELS_FILE
        if not p.is_file():
            return None
        _check_labels_size(p, p.stat().st_size)
        return p.read_bytes()


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
            _check_size(name, self._zip.getinfo(name).file_size)  # the declared size bounds the read
            try:
                return self._zip.read(name)
            except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError) as exc:
                raise ImageDecodeError(f"damaged zip member ({exc})") from None

    def _read_labels_bytes(self) -> bytes | None:
        try:
            with self._lock:
                _check_labels_size(self.path / LABELS_FILE, self._zip.getinfo(LABELS_FILE).file_size)
                return self._zip.read(LABELS_FILE)
        except KeyError:
            return None
        except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError, OSError) as exc:
            raise SGError(f"{self.path}: cannot read {LABELS_FILE} ({exc})") from None

    def close(self) -> None:
        self._zip.close()


def _check_labels_size(where: Path, size: int) -> None:
    if size > MAX_LABELS_JSON_BYTES:
        raise SGError(f"{where}: {size:,} bytes is far too large for a labels file")


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
