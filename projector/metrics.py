"""Pixel metrics reported by the projector (cheap, no network weights needed)."""

from __future__ import annotations

import torch

__all__ = ["mse_loss", "psnr"]


def _check_pair(a: torch.Tensor, b: torch.Tensor) -> None:
    """Both [N,C,H,W] (b may have N=1 and broadcast); mismatched shapes are a caller bug."""
    if a.ndim != 4 or b.ndim != 4:
        raise ValueError(f"expected [N,C,H,W] images, got {list(a.shape)} and {list(b.shape)}")
    if a.shape[1:] != b.shape[1:] or b.shape[0] not in (1, a.shape[0]):
        raise ValueError(f"image shapes do not match: {list(a.shape)} vs {list(b.shape)}")


def mse_loss(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error [N] on whatever scale the inputs use (differentiable)."""
    _check_pair(a, b)
    return (a - b).square().flatten(1).mean(dim=1)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-sample PSNR in dB [N] for images in [-1,1], with the full range (2.0) as peak.

    That is the same number as 8-bit PSNR with MAX=255 (or [0,1] with MAX=1) on the same images;
    identical images give +inf.
    """
    mse = mse_loss(a.detach().double(), b.detach().double())
    return (10.0 * torch.log10(4.0 / mse)).to(torch.float32)
