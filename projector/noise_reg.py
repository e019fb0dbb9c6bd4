"""Noise maps for projection: seeded initialisation, the multi-scale autocorrelation penalty, renormalisation.

Without the penalty the optimiser smuggles image content into the per-pixel noise; the official projector
therefore penalises spatial autocorrelation of every noise map at every octave (1 px shifts in x and y,
then 2x2 average pooling down to 8 px) and renormalises the maps after each step. Everything here works per
sample ([N,1,r,r] maps -> [N] values) so that several images can be optimised as one independent batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["init_noise", "noise_regularization", "normalize_noise_"]

MIN_REG_RESOLUTION = 8  # the pyramid stops once a map is this small (the official projector's rule)


def init_noise(
    resolutions: Sequence[int], batch: int, seed: int, device: torch.device | str = "cpu"
) -> list[torch.Tensor]:
    """Unit Gaussian maps [batch,1,r,r], one per noise layer, drawn on the CPU from ``seed``.

    Every sample of the batch gets the same draw, so an image's projection does not depend on which batch
    it lands in or on the device's random number generator.
    """
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    maps = [torch.randn(1, 1, r, r, generator=gen) for r in resolutions]
    return [m.expand(batch, -1, -1, -1).contiguous().to(device) for m in maps]


def _autocorrelation_penalty(x: torch.Tensor) -> torch.Tensor:
    """Squared mean of x times itself shifted by 1 px along y and along x (circularly): [N,1,r,r] -> [N]."""
    down = (x * torch.roll(x, shifts=1, dims=2)).mean(dim=(1, 2, 3))
    right = (x * torch.roll(x, shifts=1, dims=3)).mean(dim=(1, 2, 3))
    return down.square() + right.square()


def noise_regularization(noise: Sequence[torch.Tensor]) -> torch.Tensor:
    """Sum over maps and octaves of the autocorrelation penalty, per sample: list of [N,1,r,r] -> [N]."""
    total: torch.Tensor | None = None
    for n in noise:
        x = n
        while True:
            p = _autocorrelation_penalty(x)
            total = p if total is None else total + p
            if x.shape[2] <= MIN_REG_RESOLUTION:
                break
            x = F.avg_pool2d(x, kernel_size=2)
    if total is None:
        raise ValueError("noise_regularization needs at least one noise map")
    return total


@torch.no_grad()
def normalize_noise_(noise: Sequence[torch.Tensor]) -> None:
    """In place, per sample: zero mean and unit variance, so the maps stay in the range the model saw."""
    for n in noise:
        n.sub_(n.mean(dim=(1, 2, 3), keepdim=True))
        n.mul_(n.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt())
