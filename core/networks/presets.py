"""Training presets: the official StyleGAN2-ADA configurations, plus small ones that train on a CPU.

A preset fixes the network size (channel_base, channel_max, mapping depth, minibatch-stddev group) and the
training hyperparameters (lr, batch, R1 gamma, G EMA, style mixing, path length weight). Values of the
official ones follow StyleGAN2-ADA's `train.py` `cfg_specs` (all: channel_max 512, num_fp16_res 4,
conv_clamp 256); command-line flags override single fields when the run config is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import SGError
from core.networks.config import check_resolution


@dataclass(frozen=True)
class TrainingPreset:
    """Network size and training hyperparameters for one resolution (fields named as the paper's)."""

    name: str
    channel_base: int
    channel_max: int
    map_layers: int
    mbstd_group: int
    lr: float
    batch: int
    gamma: float
    ema_kimg: float
    ema_rampup: float | None
    style_mixing_prob: float = 0.9
    pl_weight: float = 2.0
    z_dim: int = 512
    w_dim: int = 512
    num_fp16_res: int = 4
    conv_clamp: float | None = 256
    kimg: float = 25000.0  # default run length, and kimg between snapshots / progress lines
    snap: float = 200.0
    tick: float = 4.0


# The fixed official configurations (ADA-PT `cfg_specs`); `auto` depends on resolution and GPU count.
# stylegan2 uses SG3's EMA ramp-up (0.05): the official code that produced the learning curve in
# bench/learning_curve.py (OFFICIAL_SWD) was StyleGAN3's train.py with --cfg=stylegan2.
_OFFICIAL = {
    "stylegan2": dict(
        channel_base=32768,
        map_layers=8,
        mbstd_group=4,
        lr=0.002,
        batch=32,
        gamma=10.0,
        ema_kimg=10.0,
        ema_rampup=0.05,
    ),
    "paper256": dict(
        channel_base=16384,
        map_layers=8,
        mbstd_group=8,
        lr=0.0025,
        batch=64,
        gamma=1.0,
        ema_kimg=20.0,
        ema_rampup=None,
    ),
    "paper512": dict(
        channel_base=32768,
        map_layers=8,
        mbstd_group=8,
        lr=0.0025,
        batch=64,
        gamma=0.5,
        ema_kimg=20.0,
        ema_rampup=None,
    ),
    "paper1024": dict(
        channel_base=32768,
        map_layers=8,
        mbstd_group=4,
        lr=0.002,
        batch=32,
        gamma=2.0,
        ema_kimg=10.0,
        ema_rampup=None,
    ),
}

# CPU presets: narrow networks and small latents so a 2-core machine learns 32 px images in minutes.
_CPU = {
    # Quick-start preset, tuned on the bundled Fashion-MNIST on 2 CPU cores: with --cond, every class is
    # recognisable after about 10 kimg (~4 minutes). Path length and style mixing are off: on this budget
    # they cost time without visible benefit.
    "small": dict(
        channel_base=1024,
        channel_max=64,
        map_layers=2,
        mbstd_group=4,
        lr=0.0025,
        batch=16,
        gamma=0.1,
        ema_kimg=1.0,
        ema_rampup=0.05,
        style_mixing_prob=0.0,
        pl_weight=0.0,
        z_dim=128,
        w_dim=128,
        kimg=10.0,
        snap=2.0,
        tick=1.0,
    ),
    # Test preset: a few seconds per hundred images; learns little, exercises everything.
    "tiny": dict(
        channel_base=256,
        channel_max=32,
        map_layers=2,
        mbstd_group=4,
        lr=0.0025,
        batch=8,
        gamma=0.1,
        ema_kimg=0.5,
        ema_rampup=0.05,
        z_dim=32,
        w_dim=32,
        kimg=0.1,
        snap=0.05,
        tick=0.05,
    ),
}

PRESET_NAMES = ("auto", *_OFFICIAL, *_CPU)


def auto_preset(resolution: int, gpus: int = 1) -> TrainingPreset:
    """ADA-PT's `auto`: batch, gamma and EMA scaled to the resolution (gamma = 0.0002 * res^2 / batch)."""
    batch = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    return TrainingPreset(
        name="auto",
        channel_base=32768 if resolution >= 512 else 16384,
        channel_max=512,
        map_layers=2,
        mbstd_group=min(batch // gpus, 4),
        lr=0.002 if resolution >= 1024 else 0.0025,
        batch=batch,
        gamma=0.0002 * resolution**2 / batch,
        ema_kimg=batch * 10 / 32,
        ema_rampup=0.05,
    )


def get_preset(name: str, resolution: int, gpus: int = 1) -> TrainingPreset:
    """The preset `name` at `resolution` (only `auto` depends on them); unknown names are an SGError."""
    check_resolution(resolution)
    if name == "auto":
        return auto_preset(resolution, gpus)
    if name in _OFFICIAL:
        return TrainingPreset(name=name, channel_max=512, **_OFFICIAL[name])
    if name in _CPU:
        return TrainingPreset(name=name, **_CPU[name])
    raise SGError(f"unknown --cfg {name!r}; expected one of {', '.join(PRESET_NAMES)}")
