"""StyleGAN (v1) synthesis network: AdaIN styles on instance-normalised features (Karras et al. 2019).

Paper, figure 1(b), per resolution r:
    r = 4:  const (ones)                  -> noise -> bias + lrelu -> IN -> AdaIN(w_0)
            conv 3x3                      -> noise -> bias + lrelu -> IN -> AdaIN(w_1)
    r > 4:  up 2x, conv 3x3, blur [1,2,1] -> noise -> bias + lrelu -> IN -> AdaIN(w_2k)
            conv 3x3                      -> noise -> bias + lrelu -> IN -> AdaIN(w_2k+1)
where noise is a per-pixel map times a learned per-channel strength and AdaIN is x * scale + bias
with (scale, bias) an affine map of w. Then a 1x1 ToRGB (no style) at the output resolution; no
progressive growing. Two ws per resolution, so `num_ws = 2*log2(res) - 2`. Mapping network and
truncation come from the shared `Generator`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.networks.config import GeneratorConfig
from core.networks.stylegan2 import BlockStack, NoiseInjection, reduced_dtype_for
from core.ops import ACTIVATION_GAIN, Conv2dLayer, FullyConnectedLayer, bias_act, setup_filter, upfirdn2d

BLUR_FILTER = (1, 2, 1)  # the paper's low-pass after each upsampling conv
IN_EPS = 1e-8


class InstanceNorm(nn.Module):
    """Per-sample, per-channel standardisation over pixels, in fp32 (fp16 squares overflow past 256)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.to(torch.float32)
        y = y - y.mean(dim=[2, 3], keepdim=True)
        y = y * (y.square().mean(dim=[2, 3], keepdim=True) + IN_EPS).rsqrt()
        return y.to(x.dtype)


class AdaIN(nn.Module):
    """Adaptive instance norm: normalise, then x * scale + bias with (scale, bias) = affine(w)."""

    def __init__(self, w_dim: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.norm = InstanceNorm()
        self.affine = FullyConnectedLayer(w_dim, 2 * channels)
        with torch.no_grad():
            self.affine.bias[:channels].fill_(1.0)  # scale starts at 1, bias at 0: identity style

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, bias = self.affine(w).to(x.dtype).reshape(x.shape[0], 2, self.channels, 1, 1).unbind(dim=1)
        return self.norm(x) * scale + bias


class StyledLayer(NoiseInjection):
    """[up 2x -> conv 3x3 -> blur | conv 3x3 | nothing] -> per-channel noise -> bias + lrelu -> AdaIN(w)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        conv: bool = True,
        up: bool = False,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__(resolution, strength_shape=(out_channels,))
        self.in_channels, self.out_channels = in_channels, out_channels
        self.up, self.conv_clamp = up, conv_clamp
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3)) if conv else None
        self.weight_gain = 1 / math.sqrt(in_channels * 9)
        if up:
            self.register_buffer("blur_filter", setup_filter(BLUR_FILTER))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.adain = AdaIN(w_dim, out_channels)

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "random",
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.up:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.weight is not None:
            x = F.conv2d(x, (self.weight * self.weight_gain).to(x.dtype), padding=1)
        if self.up:
            x = upfirdn2d(x, self.blur_filter, padding=1)
        noise_map = self.make_noise(x.shape[0], x.device, noise_mode, noise)
        if noise_map is not None:
            x = x + noise_map.to(x.dtype)
        x = bias_act(
            x, self.bias.to(x.dtype), act="lrelu", gain=ACTIVATION_GAIN["lrelu"], clamp=self.conv_clamp
        )
        return self.adain(x, w)

    def extra_repr(self) -> str:
        return f"in={self.in_channels}, out={self.out_channels}, res={self.resolution}, up={self.up}"


class StyleGAN1Block(nn.Module):
    """One resolution: two styled layers (the first on the constant at 4x4, else upsampling)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        conv_clamp: float | None,
        use_fp16: bool,
    ) -> None:
        super().__init__()
        self.resolution, self.use_fp16 = resolution, use_fp16
        self.is_first = in_channels == 0
        if self.is_first:
            self.const = nn.Parameter(torch.ones(out_channels, resolution, resolution))
            self.layer0 = StyledLayer(
                out_channels, out_channels, w_dim, resolution, conv=False, conv_clamp=conv_clamp
            )
        else:
            self.conv0 = StyledLayer(
                in_channels, out_channels, w_dim, resolution, up=True, conv_clamp=conv_clamp
            )
        self.conv1 = StyledLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)

    @property
    def first(self) -> StyledLayer:
        return self.layer0 if self.is_first else self.conv0

    def noise_layers(self) -> list[StyledLayer]:
        return [self.first, self.conv1]

    def forward(
        self,
        x: torch.Tensor | None,
        ws: torch.Tensor,
        noise_mode: str,
        noise: list[torch.Tensor | None],
        dtype: torch.dtype,
    ) -> torch.Tensor:
        if self.is_first:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        x = self.first(x.to(dtype), ws[:, 0], noise_mode, noise=noise[0])
        return self.conv1(x, ws[:, 1], noise_mode, noise=noise[1])


class StyleGAN1Synthesis(BlockStack):
    """ws [N, num_ws, w_dim] -> image [N, C, H, W]; layer i is styled by ws[:, i]. Same interface as
    `SynthesisNetwork`, so mapping, truncation, projection and noise modes work unchanged."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.img_resolution, cfg.img_channels
        log2 = int(math.log2(cfg.img_resolution))
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        fp16_resolution = max(2 ** (log2 + 1 - cfg.num_fp16_res), 8)
        self.reduced_dtype = torch.float16  # the training loop may switch to bf16
        for res in self.block_resolutions:
            in_ch = cfg.channels(res // 2) if res > 4 else 0
            block = StyleGAN1Block(
                in_ch, cfg.channels(res), cfg.w_dim, res, cfg.conv_clamp, use_fp16=res >= fp16_resolution
            )
            setattr(self, f"b{res}", block)
        self.num_ws = 2 * len(self.block_resolutions)
        self.torgb = Conv2dLayer(
            cfg.channels(cfg.img_resolution), cfg.img_channels, kernel_size=1, conv_clamp=cfg.conv_clamp
        )

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "random",
        noise: list[torch.Tensor | None] | None = None,
        force_fp32: bool = False,
        fused_modconv: bool | None = None,
    ) -> torch.Tensor:
        """`fused_modconv` is accepted for interface parity and ignored (AdaIN has no modulated conv)."""
        del fused_modconv
        noise = list(noise) if noise is not None else [None] * self.num_ws
        x = None
        for i, block in enumerate(self.blocks()):
            dtype = reduced_dtype_for(ws, block.use_fp16, force_fp32, self.reduced_dtype)
            x = block(x, ws[:, 2 * i : 2 * i + 2], noise_mode, noise[2 * i : 2 * i + 2], dtype)
        return self.torgb(x.to(torch.float32))
