"""On-disk layout of a prepared dataset, and how to write one atomically.

A prepared dataset is a directory::

    images.npy   uint8 [N, C, H, W], C-contiguous, read with np.load(mmap_mode="r")
    labels.npy   int64 [N] class indices (absent when the source had no labels)
    meta.json    resolution, channels, count, num_classes, source, transform, skipped, format version

Why this format: a memory-mapped `.npy` costs nothing to decode at train time (images are already the
exact uint8 tensors the trainer wants), random access is a pointer offset, and the OS page cache shares one
copy between every DataLoader worker and every DDP rank on a machine. The stream writer below fills
`images.npy` one image at a time, so preparing never needs the whole dataset in RAM.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import OutputError, SGError, os_error
from core.fileio import make_output_dir, read_npy_header

FORMAT_NAME = "sg-dataset"
FORMAT_VERSION = 1
IMAGES_FILE = "images.npy"
LABELS_FILE = "labels.npy"
META_FILE = "meta.json"
_HEADER_BYTES = 128  # fixed so the header can be rewritten in place once the final count is known


class DatasetExistsError(SGError):
    """The output directory already exists and overwriting was not asked for."""


def is_prepared_dataset(path: str | os.PathLike) -> bool:
    """True for a directory written by this module (has meta.json and images.npy)."""
    p = Path(path)
    return (p / META_FILE).is_file() and (p / IMAGES_FILE).is_file()


MAX_CLASSES = 100_000  # labels are class indices; more classes than this is a damaged or crafted file
MAX_LABELS_JSON_BYTES = 256 << 20


def _meta_error(p: Path, field: str, what: str) -> SGError:
    return SGError(f"{p}: '{field}' {what}")


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """meta.json of a prepared dataset: a format version this code understands, and the fields training
    reads as integers in sane ranges (each problem one line naming the field)."""
    p = Path(path) / META_FILE
    try:
        if p.stat().st_size > 16 << 20:
            raise SGError(f"{p}: {p.stat().st_size:,} bytes is far too large for dataset metadata")
        meta = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SGError(f"{p}: cannot read dataset metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise SGError(f"{p}: dataset metadata must be a JSON object")
    version = meta.get("version", 0)
    if meta.get("format") != FORMAT_NAME or not _is_int(version) or version > FORMAT_VERSION:
        raise SGError(f"{p}: not an sg dataset of a supported version (format {meta.get('format')!r})")
    for field, lo, hi in (("resolution", 4, 1 << 15), ("channels", 1, 4), ("count", 0, 1 << 40)):
        if not _is_int(meta.get(field)) or not lo <= meta[field] <= hi:
            raise _meta_error(p, field, f"must be an integer within {lo}..{hi}, got {meta.get(field)!r}")
    classes = meta.get("num_classes", 0)
    if not _is_int(classes) or not 0 <= classes <= MAX_CLASSES:
        raise _meta_error(p, "num_classes", f"must be an integer within 0..{MAX_CLASSES}, got {classes!r}")
    return meta


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) from a .npy header, without reading or mapping the data."""
    try:
        with open(path, "rb") as f:
            shape, fortran, dtype = read_npy_header(f)
            offset = f.tell()
    except (OSError, ValueError, EOFError) as exc:
        raise SGError(f"{path}: not a readable .npy array ({exc})") from None
    if fortran:
        raise SGError(f"{path}: Fortran-ordered arrays are not supported")
    return shape, dtype, offset


def check_prepared(path: str | os.PathLike) -> dict[str, Any]:
    """Everything a reader relies on, checked before anything is mapped or allocated: meta.json fields,
    images.npy's declared shape against meta.json and against its real size (a truncated copy), and
    labels.npy's shape, type and class range. Returns the metadata."""
    path = Path(path)
    meta = read_meta(path)
    images = path / IMAGES_FILE
    shape, dtype, offset = npy_header(images)
    want = (meta["count"], meta["channels"], meta["resolution"], meta["resolution"])
    if dtype != np.uint8 or shape != want:
        raise SGError(f"{images}: holds {dtype} {list(shape)}, meta.json says uint8 {list(want)}")
    need = offset + int(np.prod(shape, dtype=np.int64))
    size = images.stat().st_size
    if size < need:
        raise SGError(f"{images}: truncated ({size:,} of {need:,} bytes); prepare the dataset again")
    labels = path / LABELS_FILE
    if labels.is_file():
        lshape, ldtype, _ = npy_header(labels)
        if lshape != (meta["count"],) or not np.issubdtype(ldtype, np.integer):
            raise SGError(f"{labels}: holds {ldtype} {list(lshape)}, expected integers [{meta['count']}]")
        try:
            values = np.load(labels, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise SGError(f"{labels}: cannot read ({exc})") from None
        if values.size and (values.min() < 0 or values.max() >= max(meta["num_classes"], 1)):
            raise SGError(
                f"{labels}: labels run {values.min()}..{values.max()}, outside the "
                f"{meta['num_classes']} classes of meta.json"
            )
    return meta


class NpyStreamWriter:
    """Appends same-shaped uint8 arrays to a `.npy` file; the header gets the real count on close."""

    def __init__(self, path: Path, item_shape: tuple[int, ...]) -> None:
        self.path = path
        self.item_shape = tuple(item_shape)
        self.count = 0
        self._f = open(path, "wb")  # closed in close()
        self._f.write(self._header(0))

    def _header(self, n: int) -> bytes:
        desc = {"descr": "|u1", "fortran_order": False, "shape": (n, *self.item_shape)}
        text = repr(desc).encode("latin1")
        pad = _HEADER_BYTES - 10 - len(text) - 1
        if pad < 0:
            raise ValueError(f"shape {desc['shape']} too long for the fixed npy header")
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", _HEADER_BYTES - 10) + text + b" " * pad + b"\n"

    def append(self, item: np.ndarray) -> None:
        if item.shape != self.item_shape or item.dtype != np.uint8:
            raise ValueError(f"expected uint8 {self.item_shape}, got {item.dtype} {item.shape}")
        self._f.write(np.ascontiguousarray(item).tobytes())
        self.count += 1

    def close(self) -> int:
        """Finalise the header; returns the number of items written."""
        if not self._f.closed:
            self._f.seek(0)
            self._f.write(self._header(self.count))
            self._f.close()
        return self.count


def new_temp_dir(out: Path) -> Path:
    """Temp dir next to `out` (same filesystem, so the final rename is atomic)."""
    make_output_dir(out.parent)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        tmp.mkdir()  # normal umask permissions (mkdtemp's 0700 would lock other users out of a shared cache)
    except OSError as exc:
        raise os_error(exc, out, "cannot write the dataset") from None
    return tmp


def write_meta(directory: Path, meta: dict[str, Any]) -> None:
    full = {"format": FORMAT_NAME, "version": FORMAT_VERSION, **meta}
    (directory / META_FILE).write_text(json.dumps(full, indent=2) + "\n")


def commit(tmp: Path, out: Path, overwrite: bool = False) -> None:
    """Check a finished temp dir reads back, then move it into place. Readers never see a half-written
    dataset, and a failed one never replaces the old."""
    try:
        check_prepared(tmp)
    except SGError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write the dataset {out}: it does not read back ({exc})") from None
    if out.exists():
        if not overwrite:
            shutil.rmtree(tmp, ignore_errors=True)
            raise DatasetExistsError(f"output already exists: {out} (use --force to overwrite)")
        trash = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
        os.rename(out, trash)
        os.rename(tmp, out)
        if trash.is_dir():
            shutil.rmtree(trash, ignore_errors=True)
        else:
            trash.unlink()
        return
    try:
        os.rename(tmp, out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if out.exists():  # someone else (another rank) committed first
            raise DatasetExistsError(f"output already exists: {out}") from None
        raise os_error(exc, out, "cannot write the dataset") from None


def write_prepared(
    out: str | os.PathLike,
    images: np.ndarray,
    labels: np.ndarray | None,
    meta: dict[str, Any],
    overwrite: bool = False,
) -> Path:
    """Write in-memory arrays (uint8 [N,C,H,W], int [N] or None) as a prepared dataset, atomically."""
    out = Path(out)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[2] != images.shape[3]:
        raise ValueError(f"images must be uint8 [N, C, R, R], got {images.dtype} {images.shape}")
    n, c, r, _ = images.shape
    tmp = new_temp_dir(out)
    try:
        np.save(tmp / IMAGES_FILE, np.ascontiguousarray(images))
        num_classes = 0
        if labels is not None:
            labels = np.asarray(labels, dtype=np.int64)
            if labels.shape != (n,):
                raise ValueError(f"labels must have shape [{n}], got {labels.shape}")
            np.save(tmp / LABELS_FILE, labels)
            num_classes = int(labels.max()) + 1 if n else 0
        write_meta(
            tmp,
            {
                "count": n,
                "resolution": r,
                "channels": c,
                "num_classes": num_classes,
                "skipped": 0,
                **meta,
            },
        )
        commit(tmp, out, overwrite=overwrite)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError):
            raise os_error(exc, out, "cannot write the dataset") from None
        raise
    return out
