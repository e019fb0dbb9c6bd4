"""Architecture configs: plain dataclasses that round-trip through JSON, so checkpoints rebuild models."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Self

from core.errors import SGError

ARCHS = ("stylegan2", "stylegan1")


def check_resolution(resolution: int) -> int:
    """StyleGAN needs a power-of-two resolution from 4 up."""
    if not isinstance(resolution, int) or resolution < 4 or resolution & (resolution - 1):
        raise SGError(f"resolution must be a power of two >= 4 (got {resolution})")
    return resolution


class _ConfigBase:
    """What both network configs share: channel widths and a strict JSON round trip (checkpoint metadata)."""

    channel_base: int
    channel_max: int
    _what = "network"

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SGError(f"{cls._what} config has unknown fields: {', '.join(sorted(unknown))}")
        return cls(**d)


@dataclass
class GeneratorConfig(_ConfigBase):
    """Everything needed to rebuild a generator (the official `G_kwargs`, flattened)."""

    _what = "generator"
    arch: str = "stylegan2"  # "stylegan2", or "stylegan1" (NVIDIA's StyleGAN1 synthesis, same mapping)
    z_dim: int = 512  # input latent (Z) dimensionality
    c_dim: int = 0  # conditioning label (C) dimensionality, 0 = unconditional
    w_dim: int = 512  # intermediate latent (W) dimensionality
    img_resolution: int = 1024  # output resolution (a power of two)
    img_channels: int = 3  # output colour channels: 3 = RGB, 1 = greyscale
    channel_base: int = 32768  # feature maps at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 512  # the most feature maps of any layer
    num_fp16_res: int = 4  # the top N resolutions run in reduced precision (official default 0)
    conv_clamp: float | None = 256  # clamp conv outputs to +-this, None = no clamping (official default None)
    map_layers: int = 8  # mapping MLP depth (official: mapping_kwargs.num_layers)
    map_lr_multiplier: float = 0.01  # learning rate multiplier of the mapping (official: lr_multiplier)
    w_avg_beta: float = 0.995  # decay of the tracked mean of W, the truncation centre
    resample_filter: list[int] = field(default_factory=lambda: [1, 3, 3, 1])  # FIR taps for up/downsampling
    # The model's own truncation cutoff: psi applies to ws 0..cutoff-1 unless a command overrides it
    # (None = every layer, as StyleGAN2; NVIDIA's StyleGAN1 uses 8).
    trunc_cutoff: int | None = None
    # Labels as NVIDIA's TF mapping takes them: c @ W (raw, no bias) concatenated with z before the
    # pixel norm, instead of StyleGAN2-ADA's separately normalised embedding.
    label_concat: bool = False

    def __post_init__(self) -> None:
        check_resolution(self.img_resolution)
        if self.arch not in ARCHS:
            raise SGError(f"unknown architecture {self.arch!r}; expected one of {', '.join(ARCHS)}")
        if self.img_channels not in (1, 3):
            raise SGError(f"img_channels must be 1 or 3 (got {self.img_channels})")
        if self.trunc_cutoff is not None and not 1 <= self.trunc_cutoff:
            raise SGError(f"trunc_cutoff must be >= 1 or None (got {self.trunc_cutoff})")

    @property
    def num_ws(self) -> int:
        return 2 * int(math.log2(self.img_resolution)) - 2


@dataclass
class DiscriminatorConfig(_ConfigBase):
    """The residual StyleGAN2 discriminator with minibatch stddev and a projection head for labels, or
    (arch "stylegan1") NVIDIA's StyleGAN1 D_basic, which uses only the size and mbstd fields."""

    _what = "discriminator"

    arch: str = "stylegan2"  # "stylegan2" (residual), or "stylegan1" (NVIDIA's D_basic)
    c_dim: int = 0  # conditioning label (C) dimensionality, 0 = unconditional
    img_resolution: int = 1024  # input resolution (a power of two)
    img_channels: int = 3  # input colour channels: 3 = RGB, 1 = greyscale
    channel_base: int = 32768  # feature maps at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 512  # the most feature maps of any layer
    num_fp16_res: int = 4  # the top N resolutions run in reduced precision (official default 0)
    conv_clamp: float | None = 256  # clamp conv outputs to +-this, None = no clamping (official default None)
    mbstd_group_size: int | None = 4  # images per minibatch-stddev group, None = the whole minibatch
    mbstd_num_channels: int = 1  # stddev maps appended (channels split in as many groups), 0 = none
    cmap_dim: int | None = None  # projection head's label embedding size, None = channels at 4x4
    map_layers: int = 8  # depth of the label-embedding MLP (official: mapping_kwargs.num_layers)
    resample_filter: list[int] = field(default_factory=lambda: [1, 3, 3, 1])  # FIR taps for downsampling

    def __post_init__(self) -> None:
        check_resolution(self.img_resolution)
        if self.arch not in ARCHS:
            raise SGError(f"unknown D architecture {self.arch!r}; expected one of {', '.join(ARCHS)}")
