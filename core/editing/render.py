"""Rendering edited latents one at a time, so an image depends only on its own latent (the same pixels
as `sg sample --latents` on the saved edit), and tiling them into strips and grids."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.editing.apply import Edit, apply_edits
from core.editing.format import Directions
from core.generate import render_uint8, seed_latents
from core.images import make_grid

__all__ = ["render_each", "noise_row"]


def noise_row(noise: Sequence[torch.Tensor] | None, i: int) -> list[torch.Tensor] | None:
    """Latent i's noise maps ([1,1,r,r] each) from per-latent ([N,...]) or shared ([1,...]) maps."""
    if noise is None:
        return None
    return [n if n.shape[0] == 1 else n[i : i + 1] for n in noise]


def render_each(
    G: torch.nn.Module,
    ws: torch.Tensor,
    noise: list[list[torch.Tensor] | None],
    noise_mode: str,
    advance: Callable[[int], None] = lambda n=1: None,
) -> np.ndarray:
    """uint8 [N, H, W, C]: latent i rendered alone (batch 1) with its own noise maps ``noise[i]``."""
    out = []
    for i in range(ws.shape[0]):
        _, img = next(render_uint8(G, ws[i : i + 1], noise_mode, noise[i], batch=1))
        out.append(img[0].numpy())
        advance(1)
    return np.stack(out)


PREVIEW_STRENGTHS = (-2.0, -1.0, 0.0, 1.0, 2.0)


def preview_grid(
    G: torch.nn.Module,
    dirs: Directions,
    seeds: list[int],
    num: int,
    class_idx: int | None,
    advance: Callable[[int], None] = lambda n: None,
) -> np.ndarray:
    """The preview image: rows = the first ``num`` directions; columns = each seed at strengths -2..2
    (x scale)."""
    classes = [class_idx if class_idx is not None else 0] * len(seeds) if G.c_dim else None
    base = seed_latents(G, seeds, classes)
    k = min(num, dirs.num)
    ws, noise = [], []
    for d in range(k):
        edit = Edit(
            dirs.names[d],
            torch.from_numpy(dirs.vectors[d]),
            float(dirs.scale[d]),
            [i for i, on in enumerate(dirs.layers[d]) if on],
            None,
            "",
        )
        for s in range(len(seeds)):
            for t in PREVIEW_STRENGTHS:
                ws.append(apply_edits(base.w[s : s + 1], [(edit, t)]))
                noise.append(noise_row(base.noise, s))
    tiles = render_each(G, torch.cat(ws), noise, "const", advance)
    return make_grid(tiles, len(seeds) * len(PREVIEW_STRENGTHS))
