"""Real-image features, computed once per dataset, resolution, network and count, then read from a cache.

The official metrics cache their real statistics the same way (FID of a 70k-image dataset spends most of its
time on the reals otherwise). The key holds the prepared dataset's path and the size and modification time
of its files, so re-preparing or editing the dataset makes a new entry; the network's identity (weights
file, or 'random') and the number of images are in it too. Entries are .npz files of float32 features.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from core.data.cache import cache_root
from core.fileio import atomic_write
from core.metrics.features import FeatureNet

CACHE_VERSION = 1
DATASET_FILES = ("meta.json", "images.npy", "labels.npy")


def metrics_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Explicit `cache_dir`, else `<cache_root()>/metrics` ($SG_CACHE_DIR or ~/.cache/sg)."""
    return Path(cache_dir).expanduser() if cache_dir is not None else cache_root() / "metrics"


def dataset_fingerprint(ds) -> dict:
    """Path, shape and the stat data of the prepared dataset's files: changes when the dataset does."""
    root = Path(ds.path).expanduser().resolve()
    files = []
    for name in DATASET_FILES:
        p = root / name
        if p.is_file():
            st = p.stat()
            files.append([name, st.st_size, st.st_mtime_ns])
    return {
        "path": str(root),
        "files": files,
        "num_images": int(ds.num_images),
        "resolution": int(ds.resolution),
        "channels": int(ds.channels),
    }


def cache_file(ds, net: FeatureNet, num: int, cache_dir: str | os.PathLike | None = None) -> Path:
    """Where the features of the first `num` images of `ds` under `net` are cached."""
    blob = json.dumps(
        {"dataset": dataset_fingerprint(ds), "net": net.identity, "num": num, "version": CACHE_VERSION},
        sort_keys=True,
    )
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(ds.path).name)[:40] or "data"
    return metrics_cache_dir(cache_dir) / f"{stem}-{ds.resolution}px-{net.name}-{num}-{key}.npz"


def _read(path: Path, net: FeatureNet, num: int) -> dict[str, np.ndarray] | None:
    """A cache entry if it is complete and has the expected shapes; None for anything else (recomputed)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            out = {k: np.asarray(f[k]) for k in net.outputs}
    except Exception:
        return None
    ok = all(v.shape == (num, net.outputs[k][1]) for k, v in out.items())
    return out if ok else None


def real_features(
    ds,
    net: FeatureNet,
    num: int | None = None,
    batch: int = 64,
    cache_dir: str | os.PathLike | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[dict[str, np.ndarray], Path, bool]:
    """Features of the first `num` (default: all) dataset images, in dataset order as the official code
    takes them; returns (features, cache file, whether it came from the cache)."""
    n = ds.num_images if num is None else min(int(num), ds.num_images)
    path = cache_file(ds, net, n, cache_dir)
    cached = _read(path, net, n) if path.is_file() else None
    if cached is not None:
        return cached, path, True
    parts: dict[str, list[np.ndarray]] = {k: [] for k in net.outputs}
    for s in range(0, n, batch):
        images, _ = ds.get_batch(np.arange(s, min(s + batch, n)))
        for k, v in net(images).items():
            parts[k].append(v.numpy().astype(np.float32))
        if on_batch is not None:
            on_batch(images.shape[0])
    feats = {k: np.concatenate(v) for k, v in parts.items()}

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **feats)

    atomic_write(path, write, verify=lambda tmp: np.load(tmp, allow_pickle=False).close())
    return feats, path, False
