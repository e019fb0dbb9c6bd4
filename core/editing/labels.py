"""Labelled latents for InterFaceGAN boundaries (`sg directions --method boundary --labels labels.csv`):
a CSV of ``latent,label`` rows, where a latent is an .npz file or a seed."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.errors import SGError
from core.generate import seed_latents
from core.latents import load_latents

_SEED = re.compile(r"^\d+$")


def read_labels(path: Path) -> list[tuple[str, float, int]]:
    """Rows ``latent,label`` (a header row and '#' comments are allowed) -> (latent, label, line)."""
    if not path.is_file():
        raise SGError(f"labels file not found: {path}")
    rows: list[tuple[str, float, int]] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for line_no, row in enumerate(csv.reader(f), start=1):
                if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                    continue
                if len(row) != 2:
                    raise SGError(f"{path}:{line_no}: expected 'latent,label', got {len(row)} field(s)")
                latent, label = row[0].strip(), row[1].strip()
                try:
                    value = float(label)
                except ValueError:
                    if not rows and line_no == 1:
                        continue  # a header row
                    raise SGError(f"{path}:{line_no}: label {label!r} is not a number") from None
                if not np.isfinite(value):
                    raise SGError(f"{path}:{line_no}: label must be finite")
                rows.append((latent, value, line_no))
    except UnicodeDecodeError as e:
        raise SGError(f"{path}: not a UTF-8 text file ({e})") from None
    if not rows:
        raise SGError(f"{path}: no labelled rows")
    return rows


def resolve_latent(text: str, csv_path: Path, line: int) -> Path | int:
    """An npz path (relative to the CSV's folder first, then the current folder) or a seed."""
    for cand in (csv_path.parent / text, Path(text)):
        if cand.is_file():
            return cand
    if _SEED.match(text):
        return int(text)
    raise SGError(f"{csv_path}:{line}: {text!r} is neither an existing .npz latent file nor a seed")


def labelled_rows(path: Path) -> list[tuple[Path | int, float]]:
    """The labels CSV as (npz path or seed, label) rows."""
    return [(resolve_latent(latent, path, line), y) for latent, y, line in read_labels(path)]


def labelled_w(
    G: torch.nn.Module,
    rows: list[tuple[Path | int, float]],
    layers: list[int],
    class_idx: int | None,
    batch: int,
    advance: Callable[[int], None] = lambda n: None,
) -> tuple[np.ndarray, np.ndarray]:
    """w [N, w_dim] (mean over ``layers``, so W+ latents of projected photos count too) and labels [N].
    Seeds are mapped ``batch`` at a time, so 100,000 labelled seeds never hold [N, num_ws, w_dim]."""
    seeds = [(i, s) for i, (s, _) in enumerate(rows) if isinstance(s, int)]
    if seeds and G.c_dim and class_idx is None:
        raise SGError(f"the model is conditional: give --class 0..{G.c_dim - 1} for labelled seeds")
    ws: list[np.ndarray | None] = [None] * len(rows)
    for start in range(0, len(seeds), batch):
        part = seeds[start : start + batch]
        classes = [class_idx] * len(part) if G.c_dim else None
        lat = seed_latents(G, [s for _, s in part], classes)
        for (i, _), w in zip(part, lat.w, strict=True):
            ws[i] = w[layers].mean(dim=0).double().numpy()[None]
        advance(len(part))
    for i, (src, _) in enumerate(rows):
        if ws[i] is None:
            lat = load_latents(src, num_ws=G.num_ws, w_dim=G.w_dim)
            ws[i] = lat.w[:, layers].mean(dim=1).double().numpy()
            advance(1)
    ys = [label for block, (_, label) in zip(ws, rows, strict=True) for _ in range(block.shape[0])]
    return np.concatenate(ws), np.asarray(ys)
