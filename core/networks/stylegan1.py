"""StyleGAN (v1) synthesis network, computed as NVIDIA's official `G_synthesis` does (Karras et al. 2019).

Per resolution r (official networks_stylegan.py, `layer_epilogue` and `block`):
    r = 4:  const (ones, [C,4,4])                   -> epilogue(w_0)
            conv 3x3                                -> epilogue(w_1)
    r > 4:  upsample 2x + conv 3x3, then blur 1-2-1 -> epilogue(w_2k)     (Conv0_up)
            conv 3x3                                -> epilogue(w_2k+1)   (Conv1)
    epilogue(w): x + noise * per-channel weight -> + bias -> lrelu -> instance norm
                 -> style modulation x * (s + 1) + s', with (s, s') = affine(w)
Then a 1x1 ToRGB (gain 1, bias, linear) at the output resolution (lod 0: a finished network).
The upsampling conv is nearest 2x then a 3x3 conv below 128 px; from 128 px up it is, as official
(fused_scale 'auto'), one stride-2 transposed conv with the 3x3 kernel summed over its four one-pixel
shifts. Note the transposed conv flips the kernel: fused(w) = nearest 2x + conv(flip(w)).
Equalized lr as official: conv weights are scaled by sqrt(2)/sqrt(fan_in) and the activation has no
gain; styles use gain 1. `num_ws = 2*log2(res) - 2`. `num_fp16_res` top blocks may run in reduced precision
on CUDA (instance norm stays fp32); `conv_clamp` is unused: the official network has no clamp, and the
instance norm after every activation keeps values in range.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from core.networks.config import GeneratorConfig
from core.networks.stylegan2 import BlockStack, NoiseInjection, reduced_dtype_for
from core.ops import FullyConnectedLayer, setup_filter, upfirdn2d

BLUR_FILTER = (1, 2, 1)  # the low-pass after each upsampling conv (official blur_filter)
IN_EPS = 1e-8
LRELU_SLOPE = 0.2
CONV_GAIN = math.sqrt(2)  # He gain for lrelu, folded into the weight scale as in the official code
FUSED_MIN_RES = 128  # official fused_scale='auto': fused resampling convs from 128 px up


def instance_norm(x: torch.Tensor) -> torch.Tensor:
    """Per-sample, per-channel standardisation over pixels, in fp32 (fp16 squares overflow past 256)."""
    y = x.to(torch.float32)
    y = y - y.mean(dim=[2, 3], keepdim=True)
    y = y * (y.square().mean(dim=[2, 3], keepdim=True) + IN_EPS).rsqrt()
    return y.to(x.dtype)


def fuse_resample_kernel(w: torch.Tensor) -> torch.Tensor:
    """[..., k, k] -> [..., k+1, k+1]: the kernel summed over its four one-pixel shifts (official fused
    resampling). Stride-2 conv with it / 4 = conv then 2x2 average; stride-2 transposed conv with it =
    nearest-2x upsampling then the conv with the spatially flipped kernel."""
    w = F.pad(w, [1, 1, 1, 1])
    return w[..., 1:, 1:] + w[..., :-1, 1:] + w[..., 1:, :-1] + w[..., :-1, :-1]


class StyleMod(nn.Module):
    """Style modulation: x * (s + 1) + s', where [s, s'] = w @ W + b (dense, gain 1)."""

    def __init__(self, w_dim: int, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.affine = FullyConnectedLayer(w_dim, 2 * channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.affine(w.to(torch.float32)).to(x.dtype).reshape(-1, 2, self.channels, 1, 1)
        return x * (style[:, 0] + 1) + style[:, 1]


class StyledLayer(NoiseInjection):
    """[const | conv 3x3 | up 2x + conv 3x3 + blur] followed by the official layer epilogue."""

    def __init__(
        self,
        in_channels: int,  # input feature maps
        out_channels: int,  # output feature maps
        w_dim: int,  # intermediate latent (W) size
        resolution: int,  # output resolution (of the noise map too)
        conv: bool = True,  # convolve first (False: the 4x4 constant's first layer)
        up: bool = False,  # upsample 2x first (fused into a transposed conv from 128 px up)
    ) -> None:
        super().__init__(resolution, strength_shape=(out_channels,))
        self.in_channels, self.out_channels = in_channels, out_channels
        self.up = up
        self.fused = up and resolution >= FUSED_MIN_RES
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3)) if conv else None
        self.weight_gain = CONV_GAIN / math.sqrt(in_channels * 9)
        if up:
            self.register_buffer("blur_filter", setup_filter(BLUR_FILTER))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.style = StyleMod(w_dim, out_channels)

    def convolve(self, x: torch.Tensor) -> torch.Tensor:
        w = (self.weight * self.weight_gain).to(x.dtype)
        if not self.up:
            return F.conv2d(x, w, padding=1)
        if self.fused:  # official upscale2d_conv2d with fused_scale: conv2d_transpose, SAME, stride 2
            x = F.conv_transpose2d(x, fuse_resample_kernel(w.transpose(0, 1)), stride=2, padding=1)
        else:
            x = F.conv2d(F.interpolate(x, scale_factor=2, mode="nearest"), w, padding=1)
        return upfirdn2d(x, self.blur_filter.to(x.dtype), padding=1)

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "random",
        noise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.weight is not None:
            x = self.convolve(x)
        noise_map = self.make_noise(x.shape[0], x.device, noise_mode, noise)
        if noise_map is not None:
            x = x + noise_map.to(x.dtype)
        x = F.leaky_relu(x + self.bias.to(x.dtype).reshape(1, -1, 1, 1), LRELU_SLOPE)
        return self.style(instance_norm(x), w)

    def extra_repr(self) -> str:
        kind = (
            "const"
            if self.weight is None
            else ("up" + ("-fused" if self.fused else "") if self.up else "conv")
        )
        return f"in={self.in_channels}, out={self.out_channels}, res={self.resolution}, {kind}"


class StyleGAN1Block(nn.Module):
    """One resolution: two styled layers (the first on the learned constant at 4x4, else upsampling)."""

    def __init__(
        self,
        in_channels: int,  # input feature maps, 0 = the 4x4 block (a learned constant)
        out_channels: int,  # output feature maps
        w_dim: int,  # intermediate latent (W) size
        resolution: int,  # this block's resolution
        use_fp16: bool,  # run this block in reduced precision
    ) -> None:
        super().__init__()
        self.resolution, self.use_fp16 = resolution, use_fp16
        self.is_first = in_channels == 0
        if self.is_first:
            self.const = nn.Parameter(torch.ones(out_channels, resolution, resolution))
            self.layer0 = StyledLayer(out_channels, out_channels, w_dim, resolution, conv=False)
        else:
            self.conv0 = StyledLayer(in_channels, out_channels, w_dim, resolution, up=True)
        self.conv1 = StyledLayer(out_channels, out_channels, w_dim, resolution)

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


class ToRGB(nn.Module):
    """1x1 conv (gain 1) + bias, linear: the official ToRGB_lod0."""

    def __init__(self, in_channels: int, img_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(img_channels, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.weight_gain, self.bias)


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
            block = StyleGAN1Block(in_ch, cfg.channels(res), cfg.w_dim, res, use_fp16=res >= fp16_resolution)
            setattr(self, f"b{res}", block)
        self.num_ws = 2 * len(self.block_resolutions)
        self.torgb = ToRGB(cfg.channels(cfg.img_resolution), cfg.img_channels)

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
            dtype = reduced_dtype_for(ws, block.use_fp16, force_fp32, self.reduced_dtype, self.reduced_on_cpu)
            if x is not None and self.channels_last:  # set_memory_format (BlockStack)
                x = x.contiguous(memory_format=torch.channels_last)
            x = block(x, ws[:, 2 * i : 2 * i + 2], noise_mode, noise[2 * i : 2 * i + 2], dtype)
        return self.torgb(x.to(torch.float32))
