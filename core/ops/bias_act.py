"""Bias + activation + gain + clamp, the epilogue of every StyleGAN layer."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Default gains keep activations at unit variance (He init for lrelu/relu).
ACTIVATION_GAIN = {"linear": 1.0, "relu": math.sqrt(2), "lrelu": math.sqrt(2)}


def activate(x: torch.Tensor, act: str, alpha: float = 0.2) -> torch.Tensor:
    if act == "linear":
        return x
    if act == "lrelu":
        return F.leaky_relu(x, alpha)
    if act == "relu":
        return F.relu(x)
    raise ValueError(f"unknown activation {act!r}")


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    act: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
    dim: int = 1,
) -> torch.Tensor:
    """x + b along `dim`, then act, then multiply by gain (default: the act's gain), then clamp to +-clamp.

    The clamp bounds activations in reduced precision so fp16 never overflows.
    """
    if b is not None:
        shape = [1] * x.ndim
        shape[dim] = -1
        x = x + b.reshape(shape)
    x = activate(x, act)
    gain = ACTIVATION_GAIN[act] if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x
