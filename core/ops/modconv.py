"""Modulated convolution with weight demodulation (StyleGAN2's replacement for AdaIN).

Styles scale the input channels of the weight (modulation); demodulation rescales each output
channel to unit expected norm, which removes AdaIN's droplet artefacts. Two equivalent forms:
- fused: one grouped convolution with a per-sample weight (fast at inference, batch 1);
- per-sample scaling: scale activations instead of weights (cheaper gradients in training).
"""

from __future__ import annotations

import math

import torch

from core.ops.conv import conv2d_resample


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
    fused_modconv: bool = True,
) -> torch.Tensor:
    """x [N,I,H,W], weight [O,I,k,k], styles [N,I] -> [N,O,H',W'] (+ noise, added after demodulation).

    Kept whole, as the official `modulated_conv2d`: the reduced-precision rescaling, the per-sample and the
    fused (grouped) forms share their demodulation coefficients and must apply them in the same order."""
    batch = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape

    # Keep reduced-precision intermediates in range: normalise before multiplying large numbers.
    if x.dtype in (torch.float16, torch.bfloat16) and demodulate:
        weight = weight * (
            1 / math.sqrt(in_ch * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True)
        )
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)

    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)  # [N,O,I,k,k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N,O]
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.to(x.dtype).reshape(batch, -1, 1, 1)
        x = conv2d_resample(
            x,
            weight.to(x.dtype),
            f=resample_filter,
            up=up,
            down=down,
            padding=padding,
            flip_weight=flip_weight,
        )
        if demodulate:
            x = x * dcoefs.to(x.dtype).reshape(batch, -1, 1, 1)
        if noise is not None:
            x = x + noise.to(x.dtype)
        return x

    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_ch, kh, kw)
    x = conv2d_resample(
        x,
        w.to(x.dtype),
        f=resample_filter,
        up=up,
        down=down,
        padding=padding,
        groups=batch,
        flip_weight=flip_weight,
    )
    x = x.reshape(batch, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x
