"""Pivotal tuning (PTI, Roich et al. 2021): fine-tune a copy of the generator around a projected latent.

A W projection rarely reproduces a real photo's identity. PTI keeps the found latent fixed (the pivot) and
adjusts the synthesis weights instead, for a near-exact reconstruction that still edits like a W latent.
Defaults are the paper's: 350 Adam steps at lr 3e-4, LPIPS + L2 with weight 1 each.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from core.errors import SGError
from projector.metrics import mse_loss
from projector.schedule import clip_like_target

__all__ = ["TuneConfig", "tune_generator"]


@dataclass(frozen=True)
class TuneConfig:
    """PTI hyperparameters; ``lpips_stop`` ends early once LPIPS falls below it (PTI: 0.06, AlexNet)."""

    steps: int = 350
    lr: float = 3e-4
    lpips_weight: float = 1.0
    l2_weight: float = 1.0
    lpips_stop: float | None = None

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise SGError(f"--tune-steps must be >= 1 (got {self.steps})")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise SGError(f"tuning lr must be a positive number (got {self.lr})")


def _pivot_noise(G: torch.nn.Module, noise: Sequence[torch.Tensor]) -> None:
    """Store the pivot's noise as the tuned model's const noise: with noise_mode='const' the tuned model
    then renders the pivot as tuned, even without the latent file's noise maps."""
    layers = G.synthesis.noise_layers()
    if len(layers) != len(noise):
        raise SGError(f"{len(noise)} noise maps for a model with {len(layers)} noise layers")
    with torch.no_grad():
        for layer, m in zip(layers, noise, strict=True):
            layer.noise_const.copy_(m.reshape(layer.noise_const.shape))


def tune_generator(
    G: torch.nn.Module,
    w: torch.Tensor,
    noise: Sequence[torch.Tensor],
    target: torch.Tensor,
    cfg: TuneConfig = TuneConfig(),
    perceptual: torch.nn.Module | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> torch.nn.Module:
    """A tuned copy of G (G itself is untouched): synthesis weights fitted so that ``w`` [1,num_ws,w_dim]
    with ``noise`` ([1,1,r,r] maps) renders ``target`` [1,C,H,W]. Without ``perceptual``: L2 loss only."""
    if w.ndim != 3 or w.shape[0] != 1 or target.ndim != 4 or target.shape[0] != 1:
        raise SGError(f"tune one image at a time: got w {list(w.shape)} and target {list(target.shape)}")
    device = next(G.parameters()).device
    G_t = copy.deepcopy(G).eval()
    G_t.requires_grad_(False)
    params = list(G_t.synthesis.parameters())  # the pivot is fixed, so mapping would get no gradient anyway
    for p in params:
        p.requires_grad_(True)
    w = w.to(device)
    maps = [m.to(device) for m in noise]
    target = target.to(device=device, dtype=torch.float32)
    target_features = None
    if perceptual is not None:
        with torch.no_grad():
            target_features = perceptual.features(target)
    optimizer = torch.optim.Adam(params, lr=cfg.lr)
    # fp32 keeps the small weight updates from vanishing in reduced-precision activations on GPUs.
    fp32 = device.type == "cuda"
    for step in range(cfg.steps):
        img = G_t.synthesis(w, noise_mode="const", noise=maps, force_fp32=fp32)
        # Scored as its 8-bit file shows it, like the default projection schedule: a pivot whose render
        # overshoots a black or white target region needs no fixing there (projector.schedule).
        img = clip_like_target(img, target)
        loss = cfg.l2_weight * mse_loss(img, target).sum()
        lp = None
        if perceptual is not None:
            lp = perceptual.distance(perceptual.features(img), target_features).sum()
            loss = loss + cfg.lpips_weight * lp
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if on_step is not None:
            on_step(step, float(loss))
        if cfg.lpips_stop is not None and lp is not None and float(lp) < cfg.lpips_stop:
            break
    G_t.requires_grad_(False)
    _pivot_noise(G_t, noise)
    return G_t
