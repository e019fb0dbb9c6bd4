"""The one latent file format (``.npz``) that every command reads and writes.

Layout (a superset of the official projector's ``projected_w.npz``, which holds only ``w``):

* ``w``        float32 ``[N, num_ws, w_dim]``; ``[num_ws, w_dim]`` and ``[w_dim]`` are accepted on load.
* ``z``        optional float32 ``[N, z_dim]``.
* ``noise_i``  optional per-layer noise maps, ``[N,1,r,r]``, ``[1,1,r,r]`` or ``[r,r]``; ``i`` = 0, 1, ...
* ``meta``     optional JSON string: space ('z'|'w'|'w+'), resolution, num_ws, w_dim, psi, seeds, extras.

Every file sg writes records the model it came from in ``meta``: ``model`` (absolute path) and ``model_hash``
(``model_content_hash``), so a later command can find that model, and notice when it moved or changed.
Files without them (older sg files, the official projector's) stay readable; they just record no model.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import SGError
from core.fileio import atomic_output, read_npy_header

__all__ = [
    "Latents",
    "load_latents",
    "read_latent_meta",
    "validate_noise",
    "model_content_hash",
    "model_record",
    "recorded_model",
    "SPACES",
]

SPACES = ("z", "w", "w+")
_NOISE_KEY = re.compile(r"^noise_(\d+)$")
MODEL_KEY, MODEL_HASH_KEY = "model", "model_hash"
HASH_SAMPLE = 1 << 20  # bytes read at the start, the middle and the end of a model file

ArrayLike = torch.Tensor | np.ndarray


def _to_numpy(x: ArrayLike | Sequence[float]) -> np.ndarray:
    """Detach tensors to CPU numpy so that saving never depends on the device the latents live on."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _check_array(name: str, arr: np.ndarray, where: str) -> np.ndarray:
    """Reject non-float and non-finite data (a NaN latent silently renders garbage); float64 -> float32."""
    if not np.issubdtype(arr.dtype, np.floating):
        raise SGError(f"{where}: '{name}' has dtype {arr.dtype}, expected a floating-point array (float32)")
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise SGError(f"{where}: '{name}' contains {bad} NaN/Inf value(s)")
    return arr.astype(np.float32, copy=False)


def _normalise_noise_map(arr: np.ndarray, name: str, where: str) -> np.ndarray:
    """Bring one noise map to [B,1,r,r] (B = 1 or N) and check it is square."""
    if arr.ndim == 2:
        arr = arr[None, None]
    if arr.ndim != 4 or arr.shape[1] != 1:
        raise SGError(
            f"{where}: '{name}' has shape {list(arr.shape)}, expected [N,1,r,r], [1,1,r,r] or [r,r]"
        )
    if arr.shape[2] != arr.shape[3]:
        raise SGError(f"{where}: '{name}' is not square: {arr.shape[2]}x{arr.shape[3]}")
    return arr


def _json_default(obj: Any) -> Any:
    """Let numpy/torch scalars and arrays, and paths, go into metadata without the caller converting them."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray | torch.Tensor):
        return _to_numpy(obj).tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"metadata value of type {type(obj).__name__} is not JSON-serialisable")


@dataclass
class Latents:
    """A batch of latents plus optional z, noise maps and metadata; ``save`` writes the .npz atomically."""

    w: ArrayLike
    z: ArrayLike | None = None
    noise: list[ArrayLike] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num(self) -> int:
        """Number of latents N (1 for an un-batched [num_ws, w_dim] or [w_dim] w)."""
        return int(self.w.shape[0]) if self.w.ndim == 3 else 1

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Validate and convert to the exact arrays stored in the file (used by ``save``)."""
        where = "latents to save"
        w = _check_array("w", _to_numpy(self.w), where)
        if w.ndim == 2:
            w = w[None]
        if w.ndim not in (1, 3):
            raise SGError(f"{where}: 'w' has shape {list(w.shape)}, expected [N,num_ws,w_dim]")
        out: dict[str, np.ndarray] = {"w": w}
        n = w.shape[0] if w.ndim == 3 else 1
        if self.z is not None:
            z = _check_array("z", _to_numpy(self.z), where)
            if z.ndim == 1:
                z = z[None]
            if z.ndim != 2 or z.shape[0] != n:
                raise SGError(f"{where}: 'z' has shape {list(z.shape)}, expected [{n}, z_dim]")
            out["z"] = z
        for i, nz in enumerate(self.noise or []):
            arr = _normalise_noise_map(_check_array(f"noise_{i}", _to_numpy(nz), where), f"noise_{i}", where)
            if arr.shape[0] not in (1, n):
                raise SGError(f"{where}: 'noise_{i}' has batch {arr.shape[0]}, expected 1 or {n}")
            out[f"noise_{i}"] = arr
        meta = dict(self.meta)
        space = meta.get("space")
        if space is not None and space not in SPACES:
            raise SGError(f"{where}: meta space {space!r} is not one of {', '.join(SPACES)}")
        try:
            out["meta"] = np.array(json.dumps(meta, default=_json_default, allow_nan=False))
        except (TypeError, ValueError) as e:
            raise SGError(f"{where}: metadata cannot be stored as JSON: {e}") from e
        return out

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write exactly ``path`` (no extra '.npz' appended) via a temp file + os.replace, so a crash or a
        failed write never leaves a truncated file or destroys the previous one."""
        path = Path(path)
        arrays = self.to_arrays()

        def verify(tmp: str) -> None:  # every array reads back with its shape (a full disk truncates)
            with np.load(tmp, allow_pickle=False) as data:
                if sorted(data.files) != sorted(arrays):
                    raise ValueError("arrays are missing")
                for k, a in arrays.items():
                    if data[k].shape != a.shape:
                        raise ValueError(f"'{k}' has the wrong shape")

        with atomic_output(path, verify) as f:
            np.savez(f, **arrays)  # a file object (not a name) stops numpy from appending '.npz'
        return path


def model_content_hash(path: str | os.PathLike[str]) -> str:
    """Cheap content hash of a model file: ``sg1:`` + sha256 of the file size (8 bytes, little-endian) and
    three 1 MiB samples (start, middle, end); a file of 3 MiB or less is hashed whole.

    Reads at most 3 MiB, so a 350 MB official pickle costs milliseconds. A retrained, tuned or replaced
    model changes its size or the sampled bytes (every tensor moves); an edit confined to the unsampled
    middle of a same-size file would go unnoticed, which is the price of not reading gigabytes.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        h = hashlib.sha256(size.to_bytes(8, "little"))
        with open(path, "rb") as f:
            if size <= 3 * HASH_SAMPLE:
                h.update(f.read())
            else:
                for start in (0, (size - HASH_SAMPLE) // 2, size - HASH_SAMPLE):
                    f.seek(start)
                    h.update(f.read(HASH_SAMPLE))
    except OSError as e:
        raise SGError(f"cannot read model file {path}: {e.strerror or e}") from e
    return "sg1:" + h.hexdigest()


def model_record(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``meta`` entries that tie a latent file to its model: absolute path and content hash."""
    return {MODEL_KEY: str(Path(path).resolve()), MODEL_HASH_KEY: model_content_hash(path)}


def recorded_model(meta: dict[str, Any]) -> tuple[Path, str] | None:
    """(model path, content hash) recorded in a latent file's meta; None for files that record none."""
    model, digest = meta.get(MODEL_KEY), meta.get(MODEL_HASH_KEY)
    if isinstance(model, str) and model and isinstance(digest, str) and digest:
        return Path(model), digest
    return None


MAX_NPZ_BYTES = 1 << 30  # all arrays of one latent file together (50k w+ of a 1024 px model: 0.9 GB)


def _check_npz_bounds(path: Path) -> None:
    """Read each member's .npy header (not its data) and refuse sizes that are absurd or that the member
    cannot hold, before numpy allocates what the header declares (253 bytes can declare 150 GB)."""
    total = 0
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with zf.open(info) as f:
                    shape, _, dtype = read_npy_header(f)
                    header = f.tell()
                nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                name = info.filename[: -len(".npy")]
                if nbytes > info.file_size - header or nbytes > MAX_NPZ_BYTES:
                    raise SGError(
                        f"{path}: '{name}' declares shape {list(shape)} ({nbytes:,} bytes) but the file "
                        f"holds {info.file_size:,} bytes for it (damaged or crafted file)"
                    )
                total += nbytes
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, RuntimeError) as e:
        raise SGError(f"corrupt .npz latent file {path}: {e}") from None
    if total > MAX_NPZ_BYTES:
        raise SGError(f"{path}: arrays of {total:,} bytes in all, over the {MAX_NPZ_BYTES >> 20} MiB limit")


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read every array of the npz eagerly so that corrupt members surface here as SGError."""
    if not path.exists():
        raise SGError(f"latent file not found: {path}")
    if path.is_dir():
        raise SGError(f"latent path is a folder, expected an .npz file: {path}")
    if not zipfile.is_zipfile(path):
        raise SGError(f"not an .npz latent file (not a zip archive): {path}")
    _check_npz_bounds(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except ValueError as e:  # object arrays need pickle, which we never allow
        raise SGError(f"cannot read latent file {path}: {e}") from e
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as e:
        raise SGError(f"corrupt .npz latent file {path}: {e}") from e


def _parse_meta(raw: np.ndarray | None, where: str) -> dict[str, Any]:
    """Decode the JSON metadata string; an unreadable one is an error, not silently dropped."""
    if raw is None:
        return {}
    try:
        text = raw.item() if raw.ndim == 0 else raw.tobytes().decode("utf-8")
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        meta = json.loads(text)
    except (ValueError, UnicodeDecodeError, TypeError) as e:
        raise SGError(f"{where}: 'meta' is not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise SGError(f"{where}: 'meta' must be a JSON object, got {type(meta).__name__}")
    space = meta.get("space")
    if space is not None and space not in SPACES:
        raise SGError(f"{where}: meta space {space!r} is not one of {', '.join(SPACES)}")
    return meta


def read_latent_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Only the metadata of a latent file (no arrays decoded): what model resolution needs."""
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        raise SGError(f"not an .npz latent file: {path}")
    _check_npz_bounds(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            raw = data["meta"] if "meta" in data.files else None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError, RuntimeError) as e:
        raise SGError(f"corrupt .npz latent file {path}: {e}") from e
    return _parse_meta(raw, str(path))


def load_latents(
    path: str | os.PathLike[str], num_ws: int | None = None, w_dim: int | None = None
) -> Latents:
    """Load and validate a latent .npz; ``w`` always comes back as float32 [N, num_ws, w_dim] tensors.

    ``num_ws``/``w_dim`` are the model's values: a mismatch is an SGError naming both numbers. A single
    [w_dim] vector is broadcast to ``num_ws`` layers (taken from the model, else from the file's meta).
    """
    path = Path(path)
    where = str(path)
    data = _read_npz(path)
    if "w" not in data:
        found = ", ".join(sorted(data)) or "none"
        raise SGError(f"{where}: no 'w' array in latent file (found keys: {found})")
    meta = _parse_meta(data.get("meta"), where)
    w = _read_w(data["w"], where, num_ws if num_ws is not None else meta.get("num_ws"), num_ws, w_dim)
    n = w.shape[0]
    z = _read_z(data["z"], n, where) if "z" in data else None
    return Latents(
        w=torch.from_numpy(np.ascontiguousarray(w)),
        z=None if z is None else torch.from_numpy(np.ascontiguousarray(z)),
        noise=_read_noise(data, n, where),
        meta=meta,
    )


def _read_w(raw: np.ndarray, where: str, layers: object, num_ws: int | None, w_dim: int | None) -> np.ndarray:
    """'w' as [N, num_ws, w_dim]; a [w_dim] vector is broadcast to ``layers`` (the model's or the meta's
    num_ws), a [num_ws, w_dim] array is one latent; checked against the model's ``num_ws`` and ``w_dim``."""
    w = _check_array("w", raw, where)
    if w.ndim == 1:
        if not isinstance(layers, int) or layers <= 0:
            raise SGError(
                f"{where}: 'w' is a single [w_dim] vector and num_ws is unknown (no model or meta num_ws)"
            )
        w = np.broadcast_to(w[None, None], (1, layers, w.shape[0])).copy()
    elif w.ndim == 2:
        w = w[None]
    elif w.ndim != 3:
        raise SGError(
            f"{where}: 'w' has {w.ndim} dims (shape {list(w.shape)}), "
            "expected [N,num_ws,w_dim], [num_ws,w_dim] or [w_dim]"
        )
    if w.shape[0] == 0:
        raise SGError(f"{where}: 'w' holds no latents (shape {list(w.shape)})")
    if num_ws is not None and w.shape[1] != num_ws:
        raise SGError(f"{where}: latent has num_ws={w.shape[1]} but the model expects num_ws={num_ws}")
    if w_dim is not None and w.shape[2] != w_dim:
        raise SGError(f"{where}: latent has w_dim={w.shape[2]} but the model expects w_dim={w_dim}")
    return w


def _read_z(raw: np.ndarray, n: int, where: str) -> np.ndarray:
    """'z' as [n, z_dim] (a single [z_dim] vector is one latent)."""
    z = _check_array("z", raw, where)
    if z.ndim == 1:
        z = z[None]
    if z.ndim != 2 or z.shape[0] != n:
        raise SGError(f"{where}: 'z' has shape {list(raw.shape)}, expected [{n}, z_dim]")
    return z


def _read_noise(data: dict[str, np.ndarray], n: int, where: str) -> list[torch.Tensor] | None:
    """The stored noise maps noise_0..noise_k (contiguous), each with batch 1 (shared) or ``n``."""
    indices = sorted(int(m.group(1)) for k in data if (m := _NOISE_KEY.match(k)))
    if not indices:
        return None
    if indices != list(range(len(indices))):
        raise SGError(f"{where}: noise keys are not contiguous noise_0..noise_{len(indices) - 1}")
    noise = []
    for i in indices:
        arr = _normalise_noise_map(_check_array(f"noise_{i}", data[f"noise_{i}"], where), f"noise_{i}", where)
        if arr.shape[0] not in (1, n):
            raise SGError(f"{where}: 'noise_{i}' has batch {arr.shape[0]}, expected 1 or {n}")
        noise.append(torch.from_numpy(np.ascontiguousarray(arr)))
    return noise


def validate_noise(
    noise: Sequence[ArrayLike], resolutions: Sequence[int], batch: int | None = None
) -> list[torch.Tensor]:
    """Check noise maps against the generator's noise resolutions (one per layer, in order) and return them
    as float32 [B,1,r,r] tensors; B must be 1 or ``batch`` when given."""
    if len(noise) != len(resolutions):
        raise SGError(
            f"latent file has {len(noise)} noise maps but the model has {len(resolutions)} noise layers"
        )
    out = []
    for i, (nz, res) in enumerate(zip(noise, resolutions, strict=True)):
        arr = _normalise_noise_map(_check_array(f"noise_{i}", _to_numpy(nz), "noise"), f"noise_{i}", "noise")
        if arr.shape[2] != res:
            raise SGError(f"noise_{i} is {arr.shape[2]}x{arr.shape[3]} but the model expects {res}x{res}")
        if batch is not None and arr.shape[0] not in (1, batch):
            raise SGError(f"noise_{i} has batch {arr.shape[0]}, expected 1 or {batch}")
        out.append(torch.from_numpy(np.ascontiguousarray(arr)))
    return out
