"""Training presets: the official StyleGAN2-ADA values (train.py cfg_specs) and the overrides."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.data.layout import write_prepared
from core.errors import SGError
from core.networks import build_discriminator, build_generator
from core.networks.presets import PRESET_NAMES, get_preset
from core.training.options import TrainOptions
from core.training.setup import plan_run

# cfg: (channel_base, map layers, mbstd group, lr, batch, gamma, ema kimg), from the official train.py.
OFFICIAL = {
    "stylegan2": (32768, 8, 4, 0.002, 32, 10, 10),
    "paper256": (16384, 8, 8, 0.0025, 64, 1, 20),
    "paper512": (32768, 8, 8, 0.0025, 64, 0.5, 20),
    "paper1024": (32768, 8, 4, 0.002, 32, 2, 10),
}


@pytest.mark.parametrize("name", sorted(OFFICIAL))
def test_official_presets_match_the_reference(name):
    p = get_preset(name, 256)
    got = (p.channel_base, p.map_layers, p.mbstd_group, p.lr, p.batch, p.gamma, p.ema_kimg)
    assert got == pytest.approx(OFFICIAL[name])
    assert (p.channel_max, p.num_fp16_res, p.conv_clamp) == (512, 4, 256)
    assert (p.style_mixing_prob, p.pl_weight, p.z_dim, p.w_dim) == (0.9, 2.0, 512, 512)


@pytest.mark.parametrize(
    ("res", "gpus", "batch", "cbase", "lr"),
    [
        (256, 1, 16, 16384, 0.0025),
        (256, 8, 64, 16384, 0.0025),
        (512, 1, 8, 32768, 0.0025),
        (1024, 1, 4, 32768, 0.002),
        (32, 1, 32, 16384, 0.0025),
    ],
)
def test_auto_preset_scales_with_resolution(res, gpus, batch, cbase, lr):
    p = get_preset("auto", res, gpus)
    assert (p.batch, p.channel_base, p.lr, p.map_layers, p.ema_rampup) == (batch, cbase, lr, 2, 0.05)
    assert p.gamma == pytest.approx(0.0002 * res**2 / batch)
    assert p.ema_kimg == pytest.approx(batch * 10 / 32)
    assert p.mbstd_group == min(batch // gpus, 4)


def test_flags_override_the_preset_once_and_build_the_networks(tmp_path):
    """Command-line values win over the preset in the one resolved config; its networks have that shape."""
    data = write_prepared(
        tmp_path / "d", np.zeros((32, 1, 32, 32), np.uint8), np.arange(32) % 10, {"source": "test"}
    )
    opts = TrainOptions(
        data=str(data), cfg="stylegan2", cbase=2048, cmax=128, map_depth=2, gamma=0.01, cond=True
    )
    config = plan_run(opts, progress=False).config
    assert (config.cbase, config.cmax, config.map_depth, config.gamma, config.batch) == (
        2048,
        128,
        2,
        0.01,
        32,
    )
    assert (config.lr, config.ema_kimg, config.mbstd_group, config.tick) == (0.002, 10.0, 4, 4.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.gamma = 1.0  # type: ignore[misc]
    g, d = config.network_configs()
    assert [g.channels(r) for r in (4, 8, 16, 32)] == [128, 128, 128, 64]
    assert (g.map_layers, g.c_dim, g.img_channels, d.mbstd_group_size, d.c_dim) == (2, 10, 1, 4, 10)
    G, D = build_generator(g), build_discriminator(d)
    assert G.num_ws == 8 and D.b4.cmap_dim == 128


def test_cpu_presets_are_small_and_every_name_resolves():
    for name in PRESET_NAMES:
        assert get_preset(name, 32).name == name
    small, tiny = get_preset("small", 32), get_preset("tiny", 32)
    assert small.channel_max <= 128 and tiny.channel_max <= 32 and small.map_layers == 2
    with pytest.raises(SGError, match="unknown --cfg"):
        get_preset("config-z", 32)
    with pytest.raises(SGError, match="power of two"):
        get_preset("auto", 48)
