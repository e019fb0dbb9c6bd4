"""Where raw sources get prepared once and reused: a content-keyed cache directory.

The key covers the source (absolute path plus size and mtime of the zip, or of every file in a folder) and
every preparation option, so editing the data or changing an option prepares a fresh copy instead of
silently reusing a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from core.data.layout import FORMAT_VERSION

ENV_VAR = "SG_CACHE_DIR"


def cache_root() -> Path:
    """`$SG_CACHE_DIR` if set, else `~/.cache/sg` (XDG_CACHE_HOME respected)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "sg"


def dataset_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """Explicit `cache_dir`, else `<cache_root()>/datasets`."""
    return Path(cache_dir).expanduser() if cache_dir is not None else cache_root() / "datasets"


def _fingerprint(path: Path) -> list[Any]:
    """Cheap change detector: stat data only, no file contents read."""
    if path.is_dir():
        entries = []
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for f in sorted(files):
                st = os.stat(os.path.join(root, f))
                entries.append([os.path.relpath(os.path.join(root, f), path), st.st_size, st.st_mtime_ns])
        return entries
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def cache_entry(source: str | os.PathLike, options: dict[str, Any], cache_dir=None) -> Path:
    """Directory for `source` prepared with `options` (it may not exist yet)."""
    src = Path(source).expanduser().resolve()
    blob = json.dumps(
        {"source": str(src), "stat": _fingerprint(src), "options": options, "format": FORMAT_VERSION},
        sort_keys=True,
    )
    key = hashlib.sha256(blob.encode()).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", src.stem)[:40] or "data"
    tag = f"{options.get('resolution', 'auto')}px-{options.get('channels', 3)}ch"
    return dataset_cache_dir(cache_dir) / f"{stem}-{tag}-{key}"
