"""StyleGAN (v1) discriminator, computed as NVIDIA's official `D_basic` does at lod 0.

    FromRGB (1x1 conv + lrelu) at the input resolution, then per resolution r > 4:
        Conv0 (3x3 + lrelu) -> blur 1-2-1 -> Conv1_down (3x3, then 2x2 average; + lrelu)
    and at 4x4: minibatch stddev -> Conv (3x3 + lrelu) -> Dense0 (+ lrelu) -> Dense1 (gain 1)
    -> with labels, the output column of the true class ("LabelSwitch": sum(out * c)).
From 128 px inputs up, Conv1_down is one stride-2 conv with the 3x3 kernel summed over its four shifts
and divided by 4 (official fused_scale 'auto'), the same function as conv-then-average.
Equalized lr as official: weights scaled by sqrt(2)/sqrt(fan_in) (Dense1: 1/sqrt(fan_in)), no
activation gain. Channel widths follow `DiscriminatorConfig.channels`; Dense0 has `channels(2)` units.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.networks.config import DiscriminatorConfig
from core.networks.discriminator import MinibatchStdLayer
from core.networks.stylegan1 import BLUR_FILTER, CONV_GAIN, FUSED_MIN_RES, LRELU_SLOPE, fuse_resample_kernel
from core.ops import setup_filter, upfirdn2d


class EqualConv(nn.Module):
    """k x k conv, SAME padding, equalized lr with the gain inside the weight scale, bias, optional lrelu;
    `down` makes it the official conv2d_downscale2d (fused at >= 128 px inputs)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel: int, act: bool = True, down: bool = False
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.act, self.down = in_channels, out_channels, act, down
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = CONV_GAIN / math.sqrt(in_channels * kernel * kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.weight_gain
        pad = self.weight.shape[-1] // 2
        if self.down and min(x.shape[2:]) >= FUSED_MIN_RES:
            x = F.conv2d(x, fuse_resample_kernel(w) * 0.25, stride=2, padding=1)
        else:
            x = F.conv2d(x, w, padding=pad)
            if self.down:
                x = F.avg_pool2d(x, 2)
        x = x + self.bias.reshape(1, -1, 1, 1)
        return F.leaky_relu(x, LRELU_SLOPE) if self.act else x

    def extra_repr(self) -> str:
        return f"in={self.in_channels}, out={self.out_channels}, down={self.down}"


class EqualDense(nn.Module):
    """x @ W^T * gain/sqrt(fan_in) + b, on the NCHW-flattened input, optional lrelu."""

    def __init__(self, in_features: int, out_features: int, gain: float, act: bool) -> None:
        super().__init__()
        self.act = act
        self.weight = nn.Parameter(torch.randn(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features))
        self.weight_gain = gain / math.sqrt(in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.addmm(self.bias.unsqueeze(0), x.flatten(1), (self.weight * self.weight_gain).t())
        return F.leaky_relu(x, LRELU_SLOPE) if self.act else x


class DBlock(nn.Module):
    """One resolution r > 4: [FromRGB at the input resolution,] Conv0, blur, Conv1_down."""

    def __init__(self, in_channels: int, out_channels: int, img_channels: int = 0) -> None:
        super().__init__()
        if img_channels:  # named as StyleGAN2's blocks, so Freeze-D counts layers the same way
            self.fromrgb = EqualConv(img_channels, in_channels, 1)
        self.conv0 = EqualConv(in_channels, in_channels, 3)
        self.register_buffer("blur_filter", setup_filter(BLUR_FILTER))
        self.conv1 = EqualConv(in_channels, out_channels, 3, down=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if hasattr(self, "fromrgb"):
            x = self.fromrgb(x)
        x = self.conv0(x)
        return self.conv1(upfirdn2d(x, self.blur_filter, padding=1))


class StyleGAN1Discriminator(nn.Module):
    """D(img, c) -> score [N, 1]; same call interface as our StyleGAN2 `Discriminator`."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = cfg
        self.c_dim, self.img_resolution, self.img_channels = cfg.c_dim, cfg.img_resolution, cfg.img_channels
        log2 = int(math.log2(cfg.img_resolution))
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        for res in self.block_resolutions:
            rgb = cfg.img_channels if res == cfg.img_resolution else 0
            setattr(self, f"b{res}", DBlock(cfg.channels(res), cfg.channels(res // 2), rgb))
        group = cfg.mbstd_group_size
        self.mbstd = MinibatchStdLayer(group, cfg.mbstd_num_channels) if group and group > 1 else None
        extra = cfg.mbstd_num_channels if self.mbstd is not None else 0
        self.conv = EqualConv(cfg.channels(4) + extra, cfg.channels(4), 3)
        self.fc = EqualDense(cfg.channels(4) * 16, cfg.channels(2), CONV_GAIN, act=True)
        self.out = EqualDense(cfg.channels(2), max(cfg.c_dim, 1), 1.0, act=False)

    def set_precision(self, *args: object, **kwargs: object) -> StyleGAN1Discriminator:
        """Interface parity with `ReducedPrecision`: this network always runs in fp32, as official."""
        return self

    def set_memory_format(self, memory_format: torch.memory_format) -> StyleGAN1Discriminator:
        """Interface parity: NCHW always (the network is small)."""
        return self

    def forward(
        self, img: torch.Tensor, c: torch.Tensor | None = None, force_fp32: bool = False
    ) -> torch.Tensor:
        """`force_fp32` is accepted for interface parity: this network always runs in fp32, as official."""
        del force_fp32
        x = img.to(torch.float32)
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x)))
        if self.c_dim > 0:  # LabelSwitch: the score of the given class
            x = (x * c.to(x.dtype)).sum(dim=1, keepdim=True)
        return x
