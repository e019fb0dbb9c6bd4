"""Rendering edited latents one at a time, so an image depends only on its own latent (the same pixels
as `sg sample --latents` on the saved edit), and tiling them into strips and grids."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from core.generate import render_uint8

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
