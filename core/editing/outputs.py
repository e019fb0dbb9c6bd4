"""What `sg edit` writes: a strip or grid image, a folder of edited images and latents, or a video that
sweeps the directions; rows are (source, edited w, the edits applied, strength or None)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from core.editing.apply import Edit, apply_edits
from core.editing.render import render_each
from core.editing.sources import Source, at_strength, edited_latents
from core.errors import SGError
from core.images import make_grid, save_image
from core.video import Mp4Writer

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LATENT_SUFFIX = ".npz"

Row = tuple[Source, torch.Tensor, list | None, float | None]


def output_kind(out: str) -> str:
    """'image' (.png/.jpg strip or grid), 'video' (.mp4), 'latents' (.npz) or 'folder' (DIR/)."""
    if out.endswith(("/", "\\")) or Path(out).suffix == "":
        return "folder"
    suffix = Path(out).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix == ".mp4":
        return "video"
    if suffix == LATENT_SUFFIX:
        return "latents"
    raise SGError(f"--out {out!r}: use strip.png/.jpg, video.mp4, edited.npz, or a folder edits/")


def strength_tag(t: float | None) -> str:
    """The file-name tag of a strength: 'edit' for fixed strengths, else 's+1.50'."""
    return "edit" if t is None else f"s{t:+.2f}"


def render_rows(G: torch.nn.Module, rows: list[Row], advance: Callable[[int], None]) -> np.ndarray:
    """uint8 [N,H,W,C]: each edited latent alone, with its source's noise maps and mode."""
    return np.concatenate([render_each(G, w, [src.noise], src.noise_mode, advance) for src, w, _, _ in rows])


def edit_grid(
    G: torch.nn.Module, rows: list[Row], srcs: list[Source], cols: int, pairs_view: bool, advance
) -> np.ndarray:
    """The strip image: rows = latents, columns = strengths; with ``pairs_view`` (one fixed edit) each
    edited latent stands beside its original."""
    tiles = render_rows(G, rows, advance)
    if pairs_view:
        originals = render_rows(G, [(s, s.w, [], None) for s in srcs], advance)
        tiles = np.stack([t for pair in zip(originals, tiles, strict=True) for t in pair])
        cols = 2
    return make_grid(tiles, cols)


def edit_rows(srcs: list[Source], edits: list[Edit], sweep: list[float | None]) -> list[Row]:
    """Each source at each strength of the sweep (None: the edits' own fixed strengths)."""
    return [
        (src, apply_edits(src.w, at_strength(edits, t)), at_strength(edits, t), t)
        for src in srcs
        for t in sweep
    ]


def write_edit_folder(
    G: torch.nn.Module, rows: list[Row], tiles: np.ndarray, folder: Path, model_path: str | Path
) -> None:
    """One {label}_{strength}.png and .npz per edited latent."""
    folder.mkdir(parents=True, exist_ok=True)
    for (src, w, pairs, t), tile in zip(rows, tiles, strict=True):
        stem = f"{src.label}_{strength_tag(t)}"
        save_image(tile, folder / f"{stem}.png")
        edited_latents(G, [(src, w, pairs)], model_path).save(folder / f"{stem}.npz")


def video_strengths(lo: float, hi: float, frames: int) -> list[float]:
    """One loop: 0 -> high -> 0 -> low -> 0 for a range around 0 (it starts on the input), else
    low -> high -> low."""
    phase = np.arange(frames) / frames
    if lo <= 0 <= hi:
        tri = np.where(phase < 0.25, 4 * phase, np.where(phase < 0.75, 2 - 4 * phase, 4 * phase - 4))
        return [float(v * hi if v >= 0 else -v * lo) for v in tri]
    return [float(lo + (hi - lo) * (1 - abs(1 - 2 * p))) for p in phase]


def write_sweep_video(
    G: torch.nn.Module,
    srcs: list[Source],
    edits: list[Edit],
    strengths: list[float],
    fps: float,
    out: str,
    advance: Callable[[int], None],
) -> str:
    """Every latent in a grid per frame, swept through ``strengths``; returns the codec used."""
    cols = math.ceil(math.sqrt(len(srcs)))
    size = G.img_resolution
    rows_n = math.ceil(len(srcs) / cols)
    with Mp4Writer(out, fps, size * min(cols, len(srcs)), size * rows_n) as writer:
        for t in strengths:
            rows = [(s, apply_edits(s.w, at_strength(edits, t)), None, t) for s in srcs]
            writer.write(make_grid(render_rows(G, rows, lambda n=1: None), cols))
            advance(1)
    return writer.codec
