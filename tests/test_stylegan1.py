"""StyleGAN1 (AdaIN) G and D_basic: structure, the official layer epilogue, fused resampling convs, noise
modes, truncation with the model's cutoff, labels, training gradients and checkpoints. Exactness against
NVIDIA's TF code is in test_tf_import.py."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from core.checkpoint import load_checkpoint, save_checkpoint
from core.networks import DiscriminatorConfig, GeneratorConfig, build_discriminator, build_generator
from core.networks.discriminator_stylegan1 import EqualConv, StyleGAN1Discriminator
from core.networks.stylegan1 import StyledLayer, StyleGAN1Synthesis, fuse_resample_kernel, instance_norm
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
        trunc_cutoff=8,
    )
    base.update(kw)
    return GeneratorConfig(**base)


def tiny_generator(res: int = 16, img_channels: int = 3, seed: int = 0, **kw):
    torch.manual_seed(seed)
    G = build_generator(tiny_config(res, img_channels, **kw)).eval()
    with torch.no_grad():  # non-zero noise weights, biases, styles and w_avg, so that every term matters
        for layer in G.synthesis.noise_layers():
            layer.noise_strength.uniform_(0.2, 0.8)
            layer.bias.normal_(0, 0.3)
            layer.style.affine.bias.normal_(0, 0.3)
        G.mapping.w_avg.normal_()
    return G


def tiny_d(res: int = 16, c_dim: int = 0, **kw) -> StyleGAN1Discriminator:
    torch.manual_seed(1)
    cfg = DiscriminatorConfig(
        arch="stylegan1", c_dim=c_dim, img_resolution=res, channel_base=256, channel_max=32, **kw
    )
    D = build_discriminator(cfg)
    with torch.no_grad():
        for m in D.modules():
            if isinstance(m, EqualConv):
                m.bias.normal_(0, 0.3)
    return D


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
    assert syn.block_resolutions == [2**i for i in range(2, int(math.log2(res)) + 1)]
    layers = syn.noise_layers()
    assert len(layers) == G.num_ws
    assert all(isinstance(n, NoiseInjection) for n in layers)
    assert [tuple(n.noise_strength.shape) for n in layers] == [(n.out_channels,) for n in layers]
    assert [n.resolution for n in layers] == [r for r in syn.block_resolutions for _ in range(2)]


def test_module_names_and_initial_values_follow_the_official_network():
    G = build_generator(tiny_config(8))
    names = set(G.state_dict())
    for key in (
        "synthesis.b4.const",
        "synthesis.b4.layer0.style.affine.weight",
        "synthesis.b4.layer0.noise_strength",
        "synthesis.b4.conv1.weight",
        "synthesis.b8.conv0.weight",
        "synthesis.b8.conv0.blur_filter",
        "synthesis.b8.conv1.noise_const",
        "synthesis.torgb.weight",
        "mapping.fc1.weight",
        "mapping.w_avg",
    ):
        assert key in names, key
    assert "synthesis.b4.layer0.weight" not in names  # the constant gets the epilogue without a conv
    assert torch.equal(G.synthesis.b4.const, torch.ones(32, 4, 4))
    layer = G.synthesis.b8.conv1
    assert torch.equal(layer.style.affine.bias, torch.zeros(64))  # x * (0 + 1) + 0: identity style at init
    assert torch.equal(layer.noise_strength, torch.zeros(32))


def test_layer_epilogue_is_noise_bias_lrelu_instance_norm_then_style():
    """One layer by hand: conv -> + noise * per-channel weight -> + bias -> lrelu -> IN -> x*(s+1)+s'."""
    G = tiny_generator(16)
    layer: StyledLayer = G.synthesis.b8.conv1
    x = torch.randn(2, 32, 8, 8)
    w = torch.randn(2, 32)
    with torch.no_grad():
        got = layer(x, w, noise_mode="const")
        y = F.conv2d(x, layer.weight * math.sqrt(2) / math.sqrt(32 * 9), padding=1)
        y = y + layer.noise_const.reshape(1, 1, 8, 8) * layer.noise_strength.reshape(1, -1, 1, 1)
        y = F.leaky_relu(y + layer.bias.reshape(1, -1, 1, 1), 0.2)
        y = (y - y.mean(dim=[2, 3], keepdim=True)) / (
            y.var(dim=[2, 3], unbiased=False, keepdim=True) + 1e-8
        ).sqrt()
        s = w @ (layer.style.affine.weight / math.sqrt(32)).t() + layer.style.affine.bias
        want = y * (s[:, :32, None, None] + 1) + s[:, 32:, None, None]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    # So the output's per-channel statistics are exactly the style: mean s', std |s + 1|.
    torch.testing.assert_close(got.mean(dim=[2, 3]), s[:, 32:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        got.std(dim=[2, 3], unbiased=False), (s[:, :32] + 1).abs(), atol=1e-4, rtol=1e-4
    )


@pytest.mark.parametrize("size", [4, 9])
def test_fused_resampling_convs(size):
    """Official fused convs (>= 128 px): the transposed conv with the shift-summed kernel is nearest 2x +
    conv with the *flipped* kernel (so fused and separate networks differ); the fused down conv is
    conv + 2x2 average. Borders included."""
    torch.manual_seed(0)
    x, w = torch.randn(2, 5, size, size, dtype=torch.float64), torch.randn(5, 5, 3, 3, dtype=torch.float64)
    fused = F.conv_transpose2d(x, fuse_resample_kernel(w.transpose(0, 1)), stride=2, padding=1)
    up = F.interpolate(x, scale_factor=2, mode="nearest")
    torch.testing.assert_close(fused, F.conv2d(up, w.flip([2, 3]), padding=1), atol=1e-12, rtol=0)
    assert (fused - F.conv2d(up, w, padding=1)).abs().max() > 1e-3
    even = x[..., : size // 2 * 2, : size // 2 * 2]  # the fused conv-downscale: conv then 2x2 average
    down_fused = F.conv2d(even, fuse_resample_kernel(w) * 0.25, stride=2, padding=1)
    down_separate = F.avg_pool2d(F.conv2d(even, w, padding=1), 2)
    torch.testing.assert_close(down_fused, down_separate, atol=1e-12, rtol=0)


def test_fused_convs_are_used_from_128_px():
    cfg = tiny_config(128, channel_base=512, channel_max=8)
    syn = build_generator(cfg).synthesis
    assert [syn.b64.conv0.fused, syn.b128.conv0.fused] == [False, True]
    D = StyleGAN1Discriminator(
        DiscriminatorConfig(arch="stylegan1", img_resolution=128, channel_base=512, channel_max=8)
    )
    x = torch.randn(1, D.b128.conv1.in_channels, 128, 128)
    with torch.no_grad():  # the fused path (input >= 128) and the separate one compute the same
        fused = D.b128.conv1(x)
        w = D.b128.conv1.weight * D.b128.conv1.weight_gain
        sep = F.leaky_relu(
            F.avg_pool2d(F.conv2d(x, w, padding=1), 2) + D.b128.conv1.bias.reshape(1, -1, 1, 1), 0.2
        )
    torch.testing.assert_close(fused, sep, atol=1e-5, rtol=0)


def test_instance_norm_runs_in_fp32():
    x = (torch.randn(1, 2, 8, 8) * 300).to(torch.float16)
    y = instance_norm(x)
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    torch.testing.assert_close(y.float().std(dim=[2, 3], unbiased=False), torch.ones(1, 2), atol=2e-3, rtol=0)


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
    with torch.no_grad():  # zero weights make every mode the same image
        for layer in G.synthesis.noise_layers():
            layer.noise_strength.zero_()
        torch.testing.assert_close(G.synthesis(ws, noise_mode="random"), G.synthesis(ws, noise_mode="none"))
    with pytest.raises(ValueError):
        G.synthesis(ws, noise_mode="bogus")


def test_truncation_uses_the_models_cutoff_unless_overridden():
    G = tiny_generator(64)  # 10 ws; the official StyleGAN1 cutoff 8 leaves ws 8 and 9 alone
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        free = G.mapping(z, None)
        default = G.mapping(z, None, truncation_psi=0.5)
        all_layers = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=G.num_ws)
    avg = G.mapping.w_avg
    torch.testing.assert_close(default[:, :8], avg.lerp(free[:, :8], 0.5))
    assert torch.equal(default[:, 8:], free[:, 8:])
    torch.testing.assert_close(all_layers, avg.lerp(free, 0.5))
    from core.generate import retruncate

    torch.testing.assert_close(retruncate(G, free, 0.5), default)
    torch.testing.assert_close(retruncate(G, free, 0.5, cutoff=3)[:, 3:], free[:, 3:])


def test_labels_are_concatenated_with_z_before_the_pixel_norm():
    """Official G_mapping: x = pixel_norm([z, c @ W]) with a raw (unscaled) W, then the dense layers."""
    G = tiny_generator(8, c_dim=4, label_concat=True)
    z, c = torch.randn(2, 32), torch.eye(4)[[1, 3]]
    with torch.no_grad():
        x = torch.cat([z, c @ G.mapping.label_embed.t()], dim=1)
        x = x * (x.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for i in range(G.mapping.num_layers):
            x = G.mapping.__getattr__(f"fc{i}")(x)
        torch.testing.assert_close(G.mapping(z, c)[:, 0], x)
    assert G.mapping.fc0.weight.shape == (32, 64) and not hasattr(G.mapping, "embed")


def test_discriminator_shapes_label_switch_and_minibatch_stddev():
    D = tiny_d(16, c_dim=3).eval()
    img = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        scores = D.out(D.fc(D.conv(D.mbstd(D.b8(D.b16(img))))))
        assert scores.shape == (4, 3)
        c = torch.eye(3)[[0, 2, 1, 2]]
        torch.testing.assert_close(D(img, c), scores.gather(1, torch.tensor([[0], [2], [1], [2]])))
        # One stddev group of 4: changing one image changes every score; alone, each image differs.
        other = img.clone()
        other[3] = torch.randn(3, 16, 16)
        assert (D(img, c)[:3] - D(other, c)[:3]).abs().min() > 0
        alone = torch.cat([D(img[i : i + 1], c[i : i + 1]) for i in range(4)])
        assert (alone - D(img, c)).abs().max() > 1e-6
    assert D.fc.weight.shape == (32, 32 * 16) and D.conv.weight.shape == (32, 33, 3, 3)
    from core.training.freeze import frozen_parameters  # Freeze-D counts from the input, as for StyleGAN2

    assert frozen_parameters(D, 3)[1] == ["b16.fromrgb", "b16.conv0", "b16.conv1"]


@pytest.mark.parametrize("c_dim", [0, 3])
def test_one_training_step_has_finite_gradients_everywhere(c_dim):
    G = tiny_generator(16, c_dim=c_dim, label_concat=c_dim > 0).train().requires_grad_(True)
    D = tiny_d(16, c_dim=c_dim).train().requires_grad_(True)
    c = torch.eye(3)[[0, 1, 2, 1]] if c_dim else None
    fake = G(torch.randn(4, G.z_dim), c)
    loss = F.softplus(-D(fake, c)).mean() + F.softplus(D(torch.randn(4, 3, 16, 16), c)).mean()
    loss.backward()
    for net in (G, D):
        for name, p in net.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().max() > 0, name


def test_save_load_round_trip(tmp_path):
    G = tiny_generator(16, img_channels=1)
    D = tiny_d(16, img_channels=1)
    path = tmp_path / "sg1.safetensors"
    save_checkpoint(path, G, D=D)
    ck = load_checkpoint(path)
    assert ck.g_config.arch == "stylegan1" and ck.g_config == G.config and ck.d_config.arch == "stylegan1"
    assert isinstance(ck.G_ema.synthesis, StyleGAN1Synthesis) and isinstance(ck.D, StyleGAN1Discriminator)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        a = ck.G_ema(z, noise_mode="const", truncation_psi=0.7)
        torch.testing.assert_close(a, G(z, noise_mode="const", truncation_psi=0.7), atol=0, rtol=0)
        torch.testing.assert_close(ck.D(a), D(a), atol=0, rtol=0)
        assert ck.D.set_precision(torch.float16, on_cpu=True) is ck.D  # D_basic stays fp32
        torch.testing.assert_close(ck.D(a), D(a), atol=0, rtol=0)


def test_reduced_precision_blocks_stay_close_to_fp32(monkeypatch):
    """The top `num_fp16_res` blocks run in reduced precision (CUDA only; forced here with CPU bf16)."""
    import core.networks.stylegan1 as sg1

    G = tiny_generator(32, num_fp16_res=2)
    assert [b.use_fp16 for b in G.synthesis.blocks()] == [False, False, True, True]
    ws = G.mapping(torch.randn(2, G.z_dim), None)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode="const")
        monkeypatch.setattr(
            sg1, "reduced_dtype_for", lambda x, use, f32, red, *_: red if use and not f32 else x.dtype
        )
        G.synthesis.reduced_dtype = torch.bfloat16
        low = G.synthesis(ws, noise_mode="const")
        forced = G.synthesis(ws, noise_mode="const", force_fp32=True)
    assert low.dtype == torch.float32 and torch.isfinite(low).all()
    assert 0 < (low - ref).abs().max() < 0.05 * ref.abs().max()
    torch.testing.assert_close(forced, ref, atol=0, rtol=0)
