"""StyleGAN2 generator (config F: skip ToRGB outputs, modulated convolution, noise injection).

Module and parameter names match the official code (`mapping.fc0`, `synthesis.b64.conv1.affine`, ...)
so official weights load one-to-one. Computation matches the official fp32 outputs to float rounding.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from core.networks.config import GeneratorConfig
from core.networks.mapping import MappingNetwork
from core.networks.precision import ReducedPrecision
from core.ops import (
    ACTIVATION_GAIN,
    FullyConnectedLayer,
    bias_act,
    modulated_conv2d,
    setup_filter,
    upsample2d,
)

NOISE_MODES = ("const", "random", "none")  # const: the stored maps; random: fresh ones; none: zeros


def reduced_dtype_for(
    x: torch.Tensor,
    use_reduced: bool,
    force_fp32: bool,
    reduced: torch.dtype,
    allow_cpu: bool = False,
) -> torch.dtype:
    """Reduced precision runs only on CUDA: CPU half-precision convs are slow or missing.
    `allow_cpu` is an explicit override so CPU tests can exercise the reduced-precision path."""
    if use_reduced and not force_fp32 and (x.device.type == "cuda" or allow_cpu):
        return reduced
    return torch.float32


class NoiseInjection(nn.Module):
    """Per-pixel noise, scaled by a learned strength; `noise_const` is the fixed map used for const mode."""

    def __init__(self, resolution: int, strength_shape: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.resolution = resolution
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.noise_strength = nn.Parameter(torch.zeros(strength_shape))

    def make_noise(
        self, batch: int, device: torch.device, mode: str, noise: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Unit-variance map times strength; an explicit `noise` map (e.g. projected) replaces the buffer."""
        if noise is not None:
            base = noise.reshape(-1, 1, self.resolution, self.resolution)
        elif mode == "random":
            base = torch.randn(batch, 1, self.resolution, self.resolution, device=device)
        elif mode == "const":
            base = self.noise_const
        elif mode == "none":
            return None
        else:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES} (got {mode!r})")
        strength = self.noise_strength
        if strength.ndim == 1:  # per-channel strengths (StyleGAN1)
            return base.reshape(-1, 1, self.resolution, self.resolution) * strength.reshape(1, -1, 1, 1)
        return base * strength


class SynthesisLayer(NoiseInjection):
    """Modulated 3x3 conv (optionally upsampling 2x) + noise + bias + lrelu, styled by one w."""

    def __init__(
        self,
        in_channels: int,  # input feature maps
        out_channels: int,  # output feature maps
        w_dim: int,  # intermediate latent (W) size
        resolution: int,  # output resolution (of the noise map too)
        kernel_size: int = 3,  # convolution kernel size
        up: int = 1,  # integer upsampling factor
        resample_filter: list[int] | tuple[int, ...] = (1, 3, 3, 1),  # FIR taps of the upsampling
        conv_clamp: float | None = None,  # clamp the output to +-this, None = no clamping
    ) -> None:
        super().__init__(resolution)
        self.in_channels, self.out_channels, self.w_dim = in_channels, out_channels, w_dim
        self.up, self.conv_clamp = up, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATION_GAIN["lrelu"]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "random",
        fused_modconv: bool = True,
        gain: float = 1.0,
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        styles = self.affine(w)
        noise_map = self.make_noise(x.shape[0], x.device, noise_mode, noise)
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            noise=noise_map,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            flip_weight=(self.up == 1),
            fused_modconv=fused_modconv,
        )
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act="lrelu", gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """1x1 modulated conv to image channels, without demodulation (colour must keep its scale)."""

    def __init__(
        self,
        in_channels: int,  # input feature maps
        out_channels: int,  # image channels
        w_dim: int,  # intermediate latent (W) size
        kernel_size: int = 1,  # convolution kernel size
        conv_clamp: float | None = None,  # clamp the output to +-this, None = no clamping
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution: [const | upsampling conv0] -> conv1 -> ToRGB added to the upsampled skip image."""

    def __init__(
        self,
        in_channels: int,  # input feature maps, 0 = the 4x4 block (a learned constant)
        out_channels: int,  # output feature maps
        w_dim: int,  # intermediate latent (W) size
        resolution: int,  # this block's resolution
        img_channels: int,  # image channels (of the skip image)
        resample_filter: list[int],  # FIR taps of the upsampling
        conv_clamp: float | None,  # clamp conv outputs to +-this, None = no clamping
        use_fp16: bool,  # run this block in reduced precision
    ) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.use_fp16 = in_channels, resolution, use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv0 = SynthesisLayer(
                in_channels,
                out_channels,
                w_dim,
                resolution,
                up=2,
                resample_filter=resample_filter,
                conv_clamp=conv_clamp,
            )
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.num_conv += 1
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_torgb = 1

    def noise_layers(self) -> list[SynthesisLayer]:
        return [self.conv0, self.conv1] if self.in_channels else [self.conv1]

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str = "random",
        noise: list[torch.Tensor | None] | None = None,
        force_fp32: bool = False,
        fused_modconv: bool | None = None,
        reduced_dtype: torch.dtype = torch.float16,
        allow_cpu: bool = False,
        channels_last: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Precision and memory format come from the network (`set_precision` / `set_memory_format`)."""
        w_iter = iter(ws.unbind(dim=1))
        ref = ws if x is None else x
        dtype = reduced_dtype_for(ref, self.use_fp16, force_fp32, reduced_dtype, allow_cpu=allow_cpu)
        if fused_modconv is None:
            fused_modconv = (not self.training) and (dtype == torch.float32 or ws.shape[0] == 1)
        noise = noise or [None] * self.num_conv
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            x = self.conv1(x, next(w_iter), noise_mode, fused_modconv, noise=noise[0])
        else:
            x = x.to(dtype)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            x = self.conv0(x, next(w_iter), noise_mode, fused_modconv, noise=noise[0])
            x = self.conv1(x, next(w_iter), noise_mode, fused_modconv, noise=noise[1])
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).to(torch.float32)
        img = img + y if img is not None else y
        return x, img


class BlockStack(ReducedPrecision, nn.Module):
    """Synthesis networks made of blocks `b4`, `b8`, ... (StyleGAN1 and StyleGAN2 alike); precision and
    memory format are set on the network (`set_precision`, `set_memory_format`) and honoured by both."""

    block_resolutions: list[int]

    def blocks(self) -> list[nn.Module]:
        return [getattr(self, f"b{res}") for res in self.block_resolutions]

    def precision_blocks(self) -> list[nn.Module]:
        return self.blocks()

    def noise_layers(self) -> list[NoiseInjection]:
        """Layers that take a noise map, in the order of the `noise` list forward() accepts."""
        return [layer for block in self.blocks() for layer in block.noise_layers()]


class SynthesisNetwork(BlockStack):
    """ws [N, num_ws, w_dim] -> image [N, C, H, W]; block r uses ws[k : k+num_conv+1], sharing its ToRGB w
    with the next block's first conv, as the official layout does."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.img_resolution, cfg.img_channels
        log2 = int(np.log2(cfg.img_resolution))
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        fp16_resolution = max(2 ** (log2 + 1 - cfg.num_fp16_res), 8)
        self.num_ws = 0
        for res in self.block_resolutions:
            in_ch = cfg.channels(res // 2) if res > 4 else 0
            block = SynthesisBlock(
                in_ch,
                cfg.channels(res),
                cfg.w_dim,
                res,
                cfg.img_channels,
                cfg.resample_filter,
                cfg.conv_clamp,
                use_fp16=res >= fp16_resolution,
            )
            self.num_ws += block.num_conv
            setattr(self, f"b{res}", block)
        self.num_ws += 1  # the last ToRGB

    def ensure_conv_clamp(self, clamp: float) -> SynthesisNetwork:
        for block in self.blocks():
            for layer in [*block.noise_layers(), block.torgb]:
                layer.conv_clamp = clamp if layer.conv_clamp is None else layer.conv_clamp
        return self

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "random",
        noise: list[torch.Tensor | None] | None = None,
        force_fp32: bool = False,
        fused_modconv: bool | None = None,
    ) -> torch.Tensor:
        x = img = None
        w_idx = 0
        n_idx = 0
        for block in self.blocks():
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            block_noise = noise[n_idx : n_idx + block.num_conv] if noise is not None else None
            x, img = block(
                x,
                img,
                block_ws,
                noise_mode=noise_mode,
                noise=block_noise,
                force_fp32=force_fp32,
                fused_modconv=fused_modconv,
                reduced_dtype=self.reduced_dtype,
                allow_cpu=self.reduced_on_cpu,
                channels_last=self.channels_last,
            )
            w_idx += block.num_conv
            n_idx += block.num_conv
        return img


class Generator(nn.Module):
    """G(z, c) = synthesis(mapping(z, c)), the public face shared by StyleGAN1 and StyleGAN2 generators."""

    def __init__(self, cfg: GeneratorConfig, synthesis: nn.Module | None = None) -> None:
        super().__init__()
        self.config = cfg
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.img_resolution, self.img_channels = cfg.img_resolution, cfg.img_channels
        self.synthesis = synthesis if synthesis is not None else SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            cfg.z_dim,
            cfg.c_dim,
            cfg.w_dim,
            self.num_ws,
            num_layers=cfg.map_layers,
            lr_multiplier=cfg.map_lr_multiplier,
            w_avg_beta=cfg.w_avg_beta,
            trunc_cutoff=cfg.trunc_cutoff,
            label_concat=cfg.label_concat,
        )

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
        **synthesis_kwargs,
    ) -> torch.Tensor:
        ws = self.mapping(
            z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_emas=update_emas
        )
        return self.synthesis(ws, **synthesis_kwargs)

    def set_precision(
        self, dtype: torch.dtype = torch.float16, num_res: int | None = None, on_cpu: bool = False
    ) -> Generator:
        """Reduced precision in the synthesis network's top blocks (see `ReducedPrecision.set_precision`);
        the mapping network always runs fp32."""
        self.synthesis.set_precision(dtype, num_res, on_cpu)
        return self

    def set_memory_format(self, memory_format: torch.memory_format) -> Generator:
        self.synthesis.set_memory_format(memory_format)
        return self
