"""The generator's exponential moving average G_ema, whose samples are what the run is judged by."""

from __future__ import annotations

import torch
from torch import nn


def ema_beta(batch: int, ema_kimg: float, cur_nimg: int, ema_rampup: float | None = None) -> float:
    """beta = 0.5 ** (batch / ema_nimg): the weights' half-life is `ema_kimg` thousand images.

    With a ramp-up the half-life is at most `ema_rampup` times the images seen so far, so early
    G_ema is not dominated by the random initial weights.
    """
    ema_nimg = ema_kimg * 1000
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    return 0.5 ** (batch / max(ema_nimg, 1e-8))


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, beta: float) -> None:
    """G_ema <- beta * G_ema + (1 - beta) * G for parameters; buffers (w_avg, noise) are copied."""
    ema_params = list(G_ema.parameters())
    params = list(G.parameters())
    torch._foreach_lerp_(ema_params, params, 1.0 - beta)
    for b_ema, b in zip(G_ema.buffers(), G.buffers(), strict=True):
        b_ema.copy_(b)
