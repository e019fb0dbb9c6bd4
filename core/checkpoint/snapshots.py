"""Snapshot names in a run directory, so any command can be pointed at a run and take its newest model.

Names follow the official `network-snapshot-<kimg>` with the kimg's fraction appended when it has one
(`network-snapshot-000001.024.safetensors` at 1,024 images), so every snapshot has its own name.
"""

from __future__ import annotations

import re
from pathlib import Path

SNAPSHOT_RE = re.compile(r"^network-snapshot-(\d{6,})(?:\.(\d{3}))?\.safetensors$")


def snapshot_name(nimg: int) -> str:
    whole, frac = divmod(int(nimg), 1000)
    return f"network-snapshot-{whole:06d}" + (f".{frac:03d}" if frac else "") + ".safetensors"


def snapshot_nimg(path: str | Path) -> int | None:
    """Images seen at a snapshot, from its name; None for other files."""
    m = SNAPSHOT_RE.match(Path(path).name)
    if not m:
        return None
    return int(m.group(1)) * 1000 + int(m.group(2) or 0)


def list_snapshots(run_dir: str | Path) -> list[Path]:
    """Snapshots in a run directory, oldest first."""
    found = [(n, p) for p in Path(run_dir).iterdir() if (n := snapshot_nimg(p)) is not None]
    return [p for _, p in sorted(found)]


def newest_snapshot(run_dir: str | Path) -> Path | None:
    """The run's latest snapshot, or None when it has none yet."""
    snaps = list_snapshots(run_dir)
    return snaps[-1] if snaps else None
