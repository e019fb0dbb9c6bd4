"""StyleGAN1 (AdaIN) synthesis: shapes, AdaIN statistics, noise modes, truncation, training, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from core.checkpoint import load_checkpoint, save_checkpoint
from core.networks import GeneratorConfig, build_generator
from core.networks.stylegan1 import StyleGAN1Synthesis
from core.networks.stylegan2 import NoiseInjection


def tiny_config(res: int = 16, img_channels: int = 3, **kw) -> GeneratorConfig:
    base = dict(
        arch="stylegan1",
        z_dim=32,
        w_dim=32,
        img_resolution=res,
        img_channels=img_channels,
        channel_base=256,
        channel_max=32,
        num_fp16_res=0,
        map_layers=2,
    )
    base.update(kw)
    return GeneratorConfig(**base)


def tiny_generator(res: int = 16, img_channels: int = 3, seed: int = 0, **kw):
    torch.manual_seed(seed)
    G = build_generator(tiny_config(res, img_channels, **kw)).eval()
    with torch.no_grad():  # non-zero noise strengths and a non-trivial w_avg, so noise and truncation matter
        for layer in G.synthesis.noise_layers():
            layer.noise_strength.uniform_(0.2, 0.8)
        G.mapping.w_avg.normal_()
    return G


@pytest.mark.parametrize("res", [8, 16, 32])
@pytest.mark.parametrize("img_channels", [1, 3])
def test_output_shape_and_num_ws(res, img_channels):
    G = tiny_generator(res, img_channels)
    assert isinstance(G.synthesis, StyleGAN1Synthesis)
    assert G.num_ws == G.synthesis.num_ws == 2 * int(math.log2(res)) - 2
    z = torch.randn(3, G.z_dim)
    ws = G.mapping(z, None)
    assert ws.shape == (3, G.num_ws, G.w_dim)
    img = G.synthesis(ws)
    assert img.shape == (3, img_channels, res, res) and img.dtype == torch.float32
    assert torch.isfinite(img).all()
    syn = G.synthesis
    assert (syn.w_dim, syn.img_resolution, syn.img_channels) == (32, res, img_channels)
    assert syn.block_resolutions == [2**i for i in range(2, int(math.log2(res)) + 1)]
    layers = syn.noise_layers()
    assert len(layers) == G.num_ws
    assert all(isinstance(n, NoiseInjection) for n in layers)
    assert [tuple(n.noise_strength.shape) for n in layers] == [(n.out_channels,) for n in layers]
    assert [n.resolution for n in layers] == [r for r in syn.block_resolutions for _ in range(2)]


def test_module_names_read_like_the_paper():
    names = set(tiny_generator(8).state_dict())
    for key in (
        "synthesis.b4.const",
        "synthesis.b4.layer0.adain.affine.weight",
        "synthesis.b4.conv1.weight",
        "synthesis.b8.conv0.weight",
        "synthesis.b8.conv0.blur_filter",
        "synthesis.b8.conv1.noise_strength",
        "synthesis.torgb.weight",
        "mapping.fc1.weight",
        "mapping.w_avg",
    ):
        assert key in names, key
    assert torch.equal(build_generator(tiny_config(8)).synthesis.b4.const, torch.ones(32, 4, 4))


def test_adain_normalises_then_applies_the_style():
    G = tiny_generator(16)
    layer = G.synthesis.b8.conv1
    seen = {}
    layer.adain.norm.register_forward_hook(lambda m, i, o: seen.__setitem__("normed", o))
    layer.register_forward_hook(lambda m, i, o: seen.__setitem__("out", o))
    ws = G.mapping(torch.randn(2, G.z_dim), None)
    with torch.no_grad():
        G.synthesis(ws, noise_mode="const")
    normed, out = seen["normed"], seen["out"]
    torch.testing.assert_close(normed.mean(dim=[2, 3]), torch.zeros(2, 32), atol=1e-5, rtol=0)
    torch.testing.assert_close(normed.std(dim=[2, 3], unbiased=False), torch.ones(2, 32), atol=1e-4, rtol=0)
    # The output's per-channel statistics are exactly the style: mean = bias, std = |scale|.
    with torch.no_grad():
        scale, bias = layer.adain.affine(ws[:, 3]).reshape(2, 2, 32).unbind(dim=1)
    torch.testing.assert_close(out.mean(dim=[2, 3]), bias, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.std(dim=[2, 3], unbiased=False), scale.abs(), atol=1e-4, rtol=1e-4)
    assert (scale - 1).abs().max() > 0.1, "style should move the statistics away from identity"


def test_style_changes_output_statistics():
    G = tiny_generator(16)
    ws = G.mapping(torch.randn(1, G.z_dim), None)
    ws2 = ws.clone()
    ws2[:, -1] = G.mapping(torch.randn(1, G.z_dim), None)[:, -1]  # change the last layer's style only
    seen = []
    G.synthesis.b16.conv1.register_forward_hook(lambda m, i, o: seen.append(o.mean(dim=[2, 3])))
    with torch.no_grad():
        a = G.synthesis(ws, noise_mode="const")
        b = G.synthesis(ws2, noise_mode="const")
    assert (seen[0] - seen[1]).abs().max() > 1e-2
    assert (a - b).abs().max() > 1e-3


def test_noise_modes():
    G = tiny_generator(16)
    ws = G.mapping(torch.randn(2, G.z_dim), None)
    with torch.no_grad():
        c1, c2 = G.synthesis(ws, noise_mode="const"), G.synthesis(ws, noise_mode="const")
        r1, r2 = G.synthesis(ws, noise_mode="random"), G.synthesis(ws, noise_mode="random")
        n1, n2 = G.synthesis(ws, noise_mode="none"), G.synthesis(ws, noise_mode="none")
        explicit = G.synthesis(ws, noise=[n.noise_const for n in G.synthesis.noise_layers()])
    assert torch.equal(c1, c2) and torch.equal(n1, n2)
    assert (r1 - r2).abs().max() > 1e-3
    assert (c1 - n1).abs().max() > 1e-3
    torch.testing.assert_close(explicit, c1)
    # Zero strengths make every mode the same image.
    with torch.no_grad():
        for layer in G.synthesis.noise_layers():
            layer.noise_strength.zero_()
        torch.testing.assert_close(G.synthesis(ws, noise_mode="random"), G.synthesis(ws, noise_mode="none"))
    with pytest.raises(ValueError):
        G.synthesis(ws, noise_mode="bogus")


def test_truncation_psi_zero_gives_the_average_image():
    G = tiny_generator(16)
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        img = G(z, truncation_psi=0, noise_mode="const")
        avg = G.synthesis(G.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1), noise_mode="const")
        half = G(z, truncation_psi=0.5, noise_mode="const")
    torch.testing.assert_close(img, avg.expand_as(img), atol=1e-5, rtol=0)
    assert (half - img).abs().max() > 1e-3


def test_conv_clamp_bounds_the_image():
    G = tiny_generator(8, conv_clamp=0.05)
    with torch.no_grad():
        img = G(torch.randn(4, G.z_dim))
    assert img.abs().max() <= 0.05 + 1e-6


def test_one_training_step_has_finite_gradients_everywhere():
    G = tiny_generator(16).train().requires_grad_(True)
    before = {k: v.detach().clone() for k, v in G.named_parameters()}
    opt = torch.optim.Adam(G.parameters(), lr=1e-2)
    target = torch.zeros(4, 3, 16, 16)
    loss = (G(torch.randn(4, G.z_dim)) - target).square().mean()
    opt.zero_grad()
    loss.backward()
    for name, p in G.named_parameters():
        assert p.grad is not None, f"no gradient for {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient for {name}"
    nonzero = [n for n, p in G.named_parameters() if p.grad.abs().max() > 0]
    assert len(nonzero) >= 0.9 * len(before)
    opt.step()
    changed = [n for n, p in G.named_parameters() if not torch.equal(p, before[n])]
    assert set(changed) == set(nonzero)
    with torch.no_grad():
        loss_after = (G(torch.randn(4, G.z_dim), noise_mode="none") - target).square().mean()
    assert torch.isfinite(loss_after)


def test_save_load_round_trip(tmp_path):
    G = tiny_generator(16, img_channels=1)
    path = tmp_path / "sg1.safetensors"
    save_checkpoint(path, G)
    ck = load_checkpoint(path)
    assert ck.g_config.arch == "stylegan1" and ck.g_config == G.config
    G2 = ck.G_ema
    assert isinstance(G2.synthesis, StyleGAN1Synthesis)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(
            G2(z, noise_mode="const", truncation_psi=0.7),
            G(z, noise_mode="const", truncation_psi=0.7),
            atol=0,
            rtol=0,
        )


def test_reduced_precision_blocks_stay_close_to_fp32(monkeypatch):
    """The top `num_fp16_res` blocks run in reduced precision (CUDA only; forced here with CPU bf16)."""
    import core.networks.stylegan1 as sg1

    G = tiny_generator(32, num_fp16_res=2, conv_clamp=256)
    assert [b.use_fp16 for b in G.synthesis.blocks()] == [False, False, True, True]
    ws = G.mapping(torch.randn(2, G.z_dim), None)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode="const")
        monkeypatch.setattr(
            sg1, "reduced_dtype_for", lambda x, use, f32, red: red if use and not f32 else x.dtype
        )
        G.synthesis.reduced_dtype = torch.bfloat16
        low = G.synthesis(ws, noise_mode="const")
        forced = G.synthesis(ws, noise_mode="const", force_fp32=True)
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    assert 0 < (low - ref).abs().max() < 0.05 * ref.abs().max()
    torch.testing.assert_close(forced, ref, atol=0, rtol=0)
