"""The directions file (``dirs.npz``) written by `sg directions` and read by `sg edit` and `sg info`.

Arrays (all readable without pickle):

* ``directions`` float32 ``[K, w_dim]``: unit vectors in W.
* ``names``      unicode ``[K]``: 'sefa0', 'pc3', 'smile', ... (renamed with `sg directions rename`).
* ``layers``     bool ``[K, num_ws]``: the w layers a direction moves by default.
* ``scale``      float32 ``[K]``: std of w along the direction over sampled w, so strength 1 = one std.
* ``values``     float64 ``[K]``: what ranked it (SeFa eigenvalue, PCA explained variance, SVM accuracy,
                 class mean distance); ``meta['value_name']`` says which.
* ``meta``       JSON string: format, version, method, model path and content hash, num_ws, w_dim, settings.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import SGError
from core.fileio import atomic_output

__all__ = [
    "FORMAT",
    "METHODS",
    "Directions",
    "DirectionRef",
    "load_directions",
    "is_directions_file",
    "parse_direction_ref",
]

FORMAT = "sg-directions"
VERSION = 1
METHODS = ("sefa", "ganspace", "boundary", "class")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.+-]*$")


@dataclass
class Directions:
    """K editing directions in W with their default layers and scales, and where they came from."""

    vectors: np.ndarray
    names: list[str]
    layers: np.ndarray
    scale: np.ndarray
    values: np.ndarray
    method: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def w_dim(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def num_ws(self) -> int:
        return int(self.layers.shape[1])

    @property
    def model_hash(self) -> str | None:
        return self.meta.get("model_hash")

    def index(self, key: str, where: str = "directions") -> int:
        """A direction by name, or by index when ``key`` is a number; unknown keys list what exists."""
        if key in self.names:
            return self.names.index(key)
        if key.lstrip("-").isdigit():
            i = int(key)
            if 0 <= i < self.num:
                return i
            raise SGError(f"{where}: direction index {i} is out of range (0..{self.num - 1})")
        shown = ", ".join(self.names[:12]) + (", ..." if self.num > 12 else "")
        raise SGError(f"{where}: no direction named {key!r} (names: {shown})")

    def rename(self, key: str, new: str, where: str = "directions") -> int:
        """Give direction ``key`` (name or index) the name ``new``; names stay unique and index-free."""
        check_name(new)
        i = self.index(key, where)
        if new in self.names and self.names.index(new) != i:
            raise SGError(f"{where}: the name {new!r} is already used by direction {self.names.index(new)}")
        self.names[i] = new
        return i

    def validate(self, where: str) -> None:
        """Shapes agree, vectors are finite unit vectors, names unique: what every reader relies on."""
        k = self.vectors.shape[0] if self.vectors.ndim == 2 else -1
        if self.vectors.ndim != 2 or k == 0:
            raise SGError(f"{where}: 'directions' has shape {list(self.vectors.shape)}, expected [K, w_dim]")
        if len(self.names) != k or self.scale.shape != (k,) or self.values.shape != (k,):
            raise SGError(f"{where}: names/scale/values do not match the {k} directions")
        if self.layers.ndim != 2 or self.layers.shape[0] != k or self.layers.shape[1] == 0:
            raise SGError(f"{where}: 'layers' has shape {list(self.layers.shape)}, expected [{k}, num_ws]")
        if not np.all(np.isfinite(self.vectors)) or not np.all(np.isfinite(self.scale)):
            raise SGError(f"{where}: directions or scales contain NaN/Inf")
        if len(set(self.names)) != k:
            raise SGError(f"{where}: direction names are not unique")
        if self.method not in METHODS:
            raise SGError(f"{where}: unknown method {self.method!r} (expected one of {', '.join(METHODS)})")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically (a failed write never destroys an existing file)."""
        path = Path(path)
        self.validate(str(path))
        meta = {**self.meta, "format": FORMAT, "version": VERSION, "method": self.method}
        arrays = {
            "directions": np.ascontiguousarray(self.vectors, dtype=np.float32),
            "names": np.array(self.names, dtype=np.str_),
            "layers": np.ascontiguousarray(self.layers, dtype=bool),
            "scale": np.ascontiguousarray(self.scale, dtype=np.float32),
            "values": np.ascontiguousarray(self.values, dtype=np.float64),
            "meta": np.array(json.dumps(meta, allow_nan=False)),
        }
        with atomic_output(path) as f:
            np.savez(f, **arrays)
        return path


def check_name(name: str) -> str:
    """Names must be usable after 'dirs.npz:' on a command line: no ':', '=', ',' or spaces, not a number."""
    if not _NAME.match(name):
        raise SGError(
            f"bad direction name {name!r}: use letters, digits, '_', '.', '+' or '-', starting with a letter"
        )
    return name


def _read(path: Path) -> dict[str, np.ndarray]:
    if not path.exists():
        raise SGError(f"directions file not found: {path}")
    if path.is_dir() or not zipfile.is_zipfile(path):
        raise SGError(f"not a directions .npz file: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as e:
        raise SGError(f"cannot read directions file {path}: {e}") from e
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as e:
        raise SGError(f"corrupt directions file {path}: {e}") from e


def is_directions_file(path: str | os.PathLike[str]) -> bool:
    """True for an .npz holding a 'directions' array (how `sg info` tells it from latents)."""
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return "directions.npy" in z.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def load_directions(path: str | os.PathLike[str]) -> Directions:
    """Load and validate a directions file; a latent file or a foreign npz is a one-line error."""
    path = Path(path)
    where = str(path)
    data = _read(path)
    missing = [k for k in ("directions", "names", "layers", "scale", "values", "meta") if k not in data]
    if missing:
        hint = " (this is a latent file, not directions)" if "w" in data else ""
        raise SGError(f"{where}: not a directions file, missing {', '.join(missing)}{hint}")
    try:
        meta = json.loads(str(data["meta"].item()))
    except (ValueError, TypeError) as e:
        raise SGError(f"{where}: 'meta' is not valid JSON: {e}") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SGError(f"{where}: not an sg directions file (format {meta.get('format')!r})")
    if int(meta.get("version", 0)) > VERSION:
        raise SGError(f"{where}: directions format version {meta.get('version')} is newer than this sg")
    vectors = data["directions"]
    if not np.issubdtype(vectors.dtype, np.floating) or data["names"].dtype.kind != "U":
        raise SGError(f"{where}: 'directions' must be float and 'names' unicode")
    dirs = Directions(
        vectors=vectors.astype(np.float32, copy=False),
        names=[str(n) for n in data["names"].reshape(-1)],
        layers=data["layers"].astype(bool),
        scale=data["scale"].astype(np.float32, copy=False).reshape(-1),
        values=data["values"].astype(np.float64, copy=False).reshape(-1),
        method=str(meta.get("method")),
        meta=meta,
    )
    dirs.validate(where)
    return dirs


@dataclass
class DirectionRef:
    """``dirs.npz:NAME_OR_INDEX[=STRENGTH]`` from the command line."""

    path: Path
    key: str
    strength: float | None
    text: str


def parse_direction_ref(text: str, what: str = "--direction", allow_strength: bool = True) -> DirectionRef:
    """Split 'dirs.npz:smile=1.5' into (path, key, strength); the last ':' separates the key."""
    path_s, sep, rest = str(text).rpartition(":")
    if not sep or not path_s or not rest:
        raise SGError(
            f"{what} {text!r}: expected FILE.npz:NAME_OR_INDEX" + ("[=STRENGTH]" if allow_strength else "")
        )
    key, eq, strength_s = rest.partition("=")
    key = key.strip()
    strength = None
    if eq:
        if not allow_strength:
            raise SGError(f"{what} {text!r}: takes no =STRENGTH")
        try:
            strength = float(strength_s)
        except ValueError:
            raise SGError(f"{what} {text!r}: strength {strength_s!r} is not a number") from None
        if not np.isfinite(strength):
            raise SGError(f"{what} {text!r}: strength must be finite")
    if not key:
        raise SGError(f"{what} {text!r}: no direction name or index after ':'")
    return DirectionRef(Path(path_s), key, strength, str(text))
