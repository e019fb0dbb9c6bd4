"""Training presets: the official StyleGAN2-ADA values (train.py cfg_specs) and the overrides."""

from __future__ import annotations

import pytest

from core.errors import SGError
from core.networks import build_discriminator, build_generator
from core.networks.presets import PRESET_NAMES, get_preset, network_configs, override_preset

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


def test_overrides_and_network_configs():
    p = override_preset(
        get_preset("stylegan2", 32), channel_base=2048, channel_max=128, map_layers=2, gamma=0.01, batch=None
    )
    assert (p.channel_base, p.channel_max, p.map_layers, p.gamma, p.batch) == (2048, 128, 2, 0.01, 32)
    g, d = network_configs(p, 32, img_channels=1, c_dim=10, arch="stylegan2")
    assert [g.channels(r) for r in (4, 8, 16, 32)] == [128, 128, 128, 64]
    assert (g.map_layers, g.c_dim, g.img_channels, d.mbstd_group_size, d.c_dim) == (2, 10, 1, 4, 10)
    G, D = build_generator(g), build_discriminator(d)
    assert G.num_ws == 8 and D.b4.cmap_dim == 128
    with pytest.raises(ValueError, match="unknown preset fields"):
        override_preset(p, nonsense=1)


def test_cpu_presets_are_small_and_every_name_resolves():
    for name in PRESET_NAMES:
        assert get_preset(name, 32).name == name
    small, tiny = get_preset("small", 32), get_preset("tiny", 32)
    assert small.channel_max <= 128 and tiny.channel_max <= 32 and small.map_layers == 2
    with pytest.raises(SGError, match="unknown --cfg"):
        get_preset("config-z", 32)
    with pytest.raises(SGError, match="power of two"):
        get_preset("auto", 48)
