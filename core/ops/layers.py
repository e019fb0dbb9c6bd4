"""Equalized-learning-rate layers: weights stored at unit variance, scaled at run time.

Scaling at run time (not at init) makes Adam's per-parameter step sizes uniform across layers of
different fan-in; `lr_multiplier` slows a layer down (the mapping network uses 0.01).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from core.ops.bias_act import ACTIVATION_GAIN, bias_act
from core.ops.conv import conv2d_resample
from core.ops.fir import setup_filter


class FullyConnectedLayer(nn.Module):
    def __init__(
        self,
        in_features: int,  # input vector size
        out_features: int,  # output vector size
        bias: bool = True,  # add a learned bias
        activation: str = "linear",  # bias_act activation: 'linear', 'lrelu', ...
        lr_multiplier: float = 1.0,  # learning rate multiplier of weight and bias (equalised lr)
        bias_init: float = 0.0,  # initial value of the bias
    ) -> None:
        super().__init__()
        self.in_features, self.out_features, self.activation = in_features, out_features, activation
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, act={self.activation}"


class Conv2dLayer(nn.Module):
    """Conv with equalized lr, optional FIR up/down-sampling, bias, activation and clamp."""

    def __init__(
        self,
        in_channels: int,  # input feature maps, 0 = none
        out_channels: int,  # output feature maps
        kernel_size: int,  # width and height of the kernel
        bias: bool = True,  # add a learned bias
        activation: str = "linear",  # bias_act activation: 'linear', 'lrelu', ...
        up: int = 1,  # integer upsampling factor before the conv
        down: int = 1,  # integer downsampling factor after the conv
        resample_filter: Sequence[float] = (1, 3, 3, 1),  # FIR taps of the resampling
        conv_clamp: float | None = None,  # clamp the output to +-this, None = no clamping
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = ACTIVATION_GAIN[activation]
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        x = conv2d_resample(
            x,
            w.to(x.dtype),
            f=self.resample_filter,
            up=self.up,
            down=self.down,
            padding=self.padding,
            flip_weight=(self.up == 1),
        )
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        b = self.bias.to(x.dtype) if self.bias is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)

    def extra_repr(self) -> str:
        return f"in={self.in_channels}, out={self.out_channels}, up={self.up}, down={self.down}"


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm: scale each vector to unit root-mean-square (z normalisation in the mapping net)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
