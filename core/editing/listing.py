"""The directions file as a table (`sg directions` after writing one, `sg info dirs.npz`)."""

from __future__ import annotations

import os

import numpy as np
from rich.console import Console
from rich.table import Table

from core.editing.format import Directions, load_directions
from core.mixing import format_layers


def layer_ranges(mask: np.ndarray | list[int]) -> str:
    """[T,T,T,F,T] or [0,1,2,4] -> '0-2,4' ('-' for none)."""
    idx = [i for i, on in enumerate(mask) if on] if isinstance(mask, np.ndarray) else list(mask)
    return format_layers(idx) or "-"


def directions_table(dirs: Directions, title: str) -> Table:
    """A table of the directions: index, name, value, scale, default layers."""
    meta = dirs.meta
    value_name = meta.get("value_name", "value")
    table = Table(title=f"{title}: {dirs.num} {dirs.method} direction(s), w_dim {dirs.w_dim}")
    for col in ("#", "name", value_name, "scale", "layers"):
        table.add_column(col, justify="right" if col in ("#", value_name, "scale") else "left")
    for i in range(dirs.num):
        table.add_row(
            str(i),
            dirs.names[i],
            f"{dirs.values[i]:.4g}",
            f"{dirs.scale[i]:.4g}",
            layer_ranges(dirs.layers[i]),
        )
    table.caption = f"model {meta.get('model', '?')} (hash {str(meta.get('model_hash') or '?')[:12]})"
    return table


def settings_line(dirs: Directions) -> str | None:
    """'settings: k=v, ...' from the file's record of how it was found (None when it has none)."""
    settings = dirs.meta.get("settings", {})
    return "settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()) if settings else None


def print_directions(path: str | os.PathLike[str]) -> None:
    """What `sg info dirs.npz` prints: the table, then the settings it was found with."""
    dirs = load_directions(path)
    Console().print(directions_table(dirs, str(path)))
    line = settings_line(dirs)
    if line:
        print(line)
