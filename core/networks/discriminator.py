"""StyleGAN2 residual discriminator: fromRGB, residual down-blocks, minibatch stddev and a projection head."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from core.networks.config import DiscriminatorConfig
from core.networks.mapping import MappingNetwork
from core.networks.precision import ReducedPrecision
from core.networks.stylegan2 import reduced_dtype_for
from core.ops import Conv2dLayer, FullyConnectedLayer, setup_filter


class DiscriminatorBlock(nn.Module):
    """conv0 -> conv1 (downsampling), plus a 1x1 downsampling skip, each branch scaled by sqrt(1/2)."""

    def __init__(
        self,
        in_channels: int,  # input feature maps, 0 = the first block (reads the image through fromrgb)
        tmp_channels: int,  # feature maps between the two convs
        out_channels: int,  # output feature maps
        img_channels: int,  # image channels
        resample_filter: list[int],  # FIR taps of the downsampling
        conv_clamp: float | None,  # clamp conv outputs to +-this, None = no clamping
        use_fp16: bool,  # run this block in reduced precision
        resolution: int = 0,  # of the block's input; lets set_precision pick the top resolutions
    ) -> None:
        super().__init__()
        self.in_channels, self.use_fp16, self.resolution = in_channels, use_fp16, resolution
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(
                img_channels, tmp_channels, 1, activation="lrelu", conv_clamp=conv_clamp
            )
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(
            tmp_channels,
            out_channels,
            3,
            activation="lrelu",
            down=2,
            resample_filter=resample_filter,
            conv_clamp=conv_clamp,
        )
        self.skip = Conv2dLayer(
            tmp_channels, out_channels, 1, bias=False, down=2, resample_filter=resample_filter
        )

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        force_fp32: bool = False,
        reduced_dtype: torch.dtype = torch.float16,
        allow_cpu: bool = False,
        channels_last: bool = False,
    ) -> torch.Tensor:
        """Precision and memory format come from the network (`set_precision` / `set_memory_format`)."""
        dtype = reduced_dtype_for(
            img if x is None else x, self.use_fp16, force_fp32, reduced_dtype, allow_cpu
        )
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        if self.in_channels == 0:
            x = self.fromrgb(img.to(dtype=dtype, memory_format=fmt))
        else:
            x = x.to(dtype=dtype, memory_format=fmt)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv0(x)
        x = self.conv1(x, gain=math.sqrt(0.5))
        return y + x


class MinibatchStdLayer(nn.Module):
    """Appends the stddev across groups of samples as extra feature maps, so D can see lack of variety."""

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = y - y.mean(dim=0)
        y = y.square().mean(dim=0)
        y = (y + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4])
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4 head: mbstd -> conv -> fc -> out; with labels, the output is projected onto the label embedding."""

    def __init__(
        self,
        in_channels: int,  # input feature maps (at 4x4)
        cmap_dim: int,  # label embedding size of the projection head, 0 = unconditional
        resolution: int,  # input resolution (4)
        mbstd_group_size: int | None,  # images per minibatch-stddev group, None = the whole minibatch
        mbstd_num_channels: int,  # stddev maps appended, 0 = no minibatch-stddev layer
        conv_clamp: float | None,  # clamp conv outputs to +-this, None = no clamping
    ) -> None:
        super().__init__()
        self.cmap_dim = cmap_dim
        self.mbstd = (
            MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        )
        self.conv = Conv2dLayer(
            in_channels + mbstd_num_channels, in_channels, 3, activation="lrelu", conv_clamp=conv_clamp
        )
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None) -> torch.Tensor:
        x = x.to(torch.float32)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.conv(x)
        x = self.fc(x.flatten(1))
        x = self.out(x)
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class Discriminator(ReducedPrecision, nn.Module):
    """D(img, c) -> score [N, 1]: residual blocks from the image resolution down to 8, then the epilogue."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.config = cfg
        self.c_dim, self.img_resolution, self.img_channels = cfg.c_dim, cfg.img_resolution, cfg.img_channels
        log2 = int(np.log2(cfg.img_resolution))
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        fp16_resolution = max(2 ** (log2 + 1 - cfg.num_fp16_res), 8)
        cmap_dim = cfg.cmap_dim if cfg.cmap_dim is not None else cfg.channels(4)
        if cfg.c_dim == 0:
            cmap_dim = 0
        for res in self.block_resolutions:
            in_ch = cfg.channels(res) if res < cfg.img_resolution else 0
            block = DiscriminatorBlock(
                in_ch,
                cfg.channels(res),
                cfg.channels(res // 2),
                cfg.img_channels,
                cfg.resample_filter,
                cfg.conv_clamp,
                use_fp16=res >= fp16_resolution,
                resolution=res,
            )
            setattr(self, f"b{res}", block)
        if cfg.c_dim > 0:
            self.mapping = MappingNetwork(
                0, cfg.c_dim, cmap_dim, num_ws=None, num_layers=cfg.map_layers, w_avg_beta=None
            )
        self.b4 = DiscriminatorEpilogue(
            cfg.channels(4), cmap_dim, 4, cfg.mbstd_group_size, cfg.mbstd_num_channels, cfg.conv_clamp
        )

    def precision_blocks(self) -> list[nn.Module]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def forward(
        self, img: torch.Tensor, c: torch.Tensor | None = None, force_fp32: bool = False
    ) -> torch.Tensor:
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(
                x,
                img,
                force_fp32=force_fp32,
                reduced_dtype=self.reduced_dtype,
                allow_cpu=self.reduced_on_cpu,
                channels_last=self.channels_last,
            )
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, cmap)
