"""rosinality/stylegan2-pytorch import: images match an independent re-implementation of its forward pass.

The reference below is written from the maths of rosinality's model.py (not its code): EqualLinear mapping
with lr_mul, modulated conv on its [1,O,I,k,k] weights with the 1/sqrt(fan_in) scale, conv_transpose + blur
upsampling, noise, FusedLeakyReLU, and ToRGB adding the upsampled skip. It works on rosinality-layout dicts.
"""

from __future__ import annotations

import argparse
import math
import os

import pytest
import torch
import torch.nn.functional as F

from core.checkpoint import load_checkpoint, load_generator
from core.checkpoint.rosinality import infer_layout
from core.errors import SGError

SIZE = 32
STYLE_DIM = 32
LR_MLP = 0.01

# ----------------------------------------------------------------------------------------------------------
# Reference forward pass (rosinality semantics), one sample at a time, on plain tensors.


def blur_kernel(gain: float = 4.0) -> torch.Tensor:
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(taps, taps)
    return k / k.sum() * gain


def ref_upfirdn(x: torch.Tensor, k: torch.Tensor, up: int, pad: tuple[int, int]) -> torch.Tensor:
    """Zero-insertion upsampling, padding, then true convolution with k."""
    n, c, h, w = x.shape
    if up > 1:
        y = x.new_zeros(n, c, h * up, w * up)
        y[:, :, ::up, ::up] = x
        x = y
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    return F.conv2d(x, torch.flip(k, [0, 1]).expand(c, 1, *k.shape), groups=c)


def ref_linear(x, weight, bias, lr_mul=1.0, act=False):
    out = x @ (weight * (lr_mul / math.sqrt(weight.shape[1]))).t() + bias * lr_mul
    return F.leaky_relu(out, 0.2) * math.sqrt(2) if act else out


def ref_modconv(x, sd, prefix, w, demodulate=True, up=False):
    weight = sd[prefix + "conv.weight"][0]  # [O, I, k, k]
    styles = ref_linear(w, sd[prefix + "conv.modulation.weight"], sd[prefix + "conv.modulation.bias"])
    out_ch, in_ch, k, _ = weight.shape
    outs = []
    for b in range(x.shape[0]):
        wb = weight / math.sqrt(in_ch * k * k) * styles[b].reshape(1, in_ch, 1, 1)
        if demodulate:
            wb = wb * (wb.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
        if up:
            y = F.conv_transpose2d(x[b : b + 1], wb.transpose(0, 1), stride=2)
            y = ref_upfirdn(y, blur_kernel(), 1, (1, 1))
        else:
            y = F.conv2d(x[b : b + 1], wb, padding=k // 2)
        outs.append(y)
    return torch.cat(outs)


def ref_styled_conv(x, sd, prefix, w, noise, up=False):
    x = ref_modconv(x, sd, prefix, w, up=up)
    x = x + sd[prefix + "noise.weight"] * noise
    return F.leaky_relu(x + sd[prefix + "activate.bias"].reshape(1, -1, 1, 1), 0.2) * math.sqrt(2)


def ref_to_rgb(x, sd, prefix, w, skip):
    out = ref_modconv(x, sd, prefix, w, demodulate=False) + sd[prefix + "bias"]
    if skip is not None:
        out = out + ref_upfirdn(skip, blur_kernel(), 2, (2, 1))
    return out


def ref_mapping(sd, z, n_mlp):
    w = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
    for i in range(1, n_mlp + 1):
        w = ref_linear(w, sd[f"style.{i}.weight"], sd[f"style.{i}.bias"], LR_MLP, act=True)
    return w


def ref_synthesis(sd, latent):
    """latent [N, n_latent, D]; conv i uses latent[:, i], each ToRGB the w after its block's convs."""
    noises = [sd[f"noises.noise_{i}"] for i in range(2 * int(math.log2(SIZE)) - 3)]
    x = sd["input.input"].repeat(latent.shape[0], 1, 1, 1)
    x = ref_styled_conv(x, sd, "conv1.", latent[:, 0], noises[0])
    skip = ref_to_rgb(x, sd, "to_rgb1.", latent[:, 1], None)
    for k in range(int(math.log2(SIZE)) - 2):
        i = 2 * k + 1
        x = ref_styled_conv(x, sd, f"convs.{2 * k}.", latent[:, i], noises[i], up=True)
        x = ref_styled_conv(x, sd, f"convs.{2 * k + 1}.", latent[:, i + 1], noises[i + 1])
        skip = ref_to_rgb(x, sd, f"to_rgbs.{k}.", latent[:, i + 2], skip)
    return skip


def ref_generate(sd, z, n_mlp, latent_avg, psi):
    w = ref_mapping(sd, z, n_mlp)
    if psi < 1:
        w = latent_avg + psi * (w - latent_avg)
    n_latent = 2 * int(math.log2(SIZE)) - 2
    return ref_synthesis(sd, w.unsqueeze(1).repeat(1, n_latent, 1))


# ----------------------------------------------------------------------------------------------------------
# Random rosinality-layout generators.


def small_channels(multiplier: int, cmax: int = 16) -> dict[int, int]:
    """rosinality's table scaled down: full width at low resolutions, halving with res past a threshold."""
    return {r: min(cmax * 8 * multiplier // r, cmax) for r in (4, 8, 16, 32, 64, 128, 256, 512, 1024)}


def rosinality_state(
    n_mlp: int, channels: dict[int, int], seed: int, size: int = SIZE, dim: int = STYLE_DIM, make=None
) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    make = make or (lambda *shape: torch.randn(*shape, generator=gen))
    sd: dict[str, torch.Tensor] = {}
    for i in range(1, n_mlp + 1):
        sd[f"style.{i}.weight"] = make(dim, dim) / LR_MLP
        sd[f"style.{i}.bias"] = make(dim) * 20  # x lr_mul 0.01 -> effective biases of ~0.2

    def styled(prefix, cin, cout, up):
        sd[prefix + "conv.weight"] = make(1, cout, cin, 3, 3)
        sd[prefix + "conv.modulation.weight"] = make(cin, dim)
        sd[prefix + "conv.modulation.bias"] = 1 + 0.2 * make(cin)
        sd[prefix + "noise.weight"] = 0.3 * make(1)
        sd[prefix + "activate.bias"] = 0.2 * make(cout)
        if up:
            sd[prefix + "conv.blur.kernel"] = blur_kernel()

    def to_rgb(prefix, cin, up):
        sd[prefix + "conv.weight"] = make(1, 3, cin, 1, 1)
        sd[prefix + "conv.modulation.weight"] = make(cin, dim)
        sd[prefix + "conv.modulation.bias"] = 1 + 0.2 * make(cin)
        sd[prefix + "bias"] = 0.2 * make(1, 3, 1, 1)
        if up:
            sd[prefix + "upsample.kernel"] = blur_kernel()

    sd["input.input"] = make(1, channels[4], 4, 4)
    styled("conv1.", channels[4], channels[4], False)
    to_rgb("to_rgb1.", channels[4], False)
    log_size = int(math.log2(size))
    for k, res in enumerate(2**i for i in range(3, log_size + 1)):
        styled(f"convs.{2 * k}.", channels[res // 2], channels[res], True)
        styled(f"convs.{2 * k + 1}.", channels[res], channels[res], False)
        to_rgb(f"to_rgbs.{k}.", channels[res], True)
    for i in range((log_size - 2) * 2 + 1):
        res = 2 ** ((i + 5) // 2)
        sd[f"noises.noise_{i}"] = make(1, 1, res, res)
    return sd


def z_batch(n: int = 3, seed: int = 123) -> torch.Tensor:
    return torch.randn(n, STYLE_DIM, generator=torch.Generator().manual_seed(seed))


def assert_images_match(G, sd, n_mlp, latent_avg):
    z = z_batch()
    for psi in (1.0, 0.7):
        with torch.no_grad():
            ours = G(z, truncation_psi=psi, noise_mode="const")
            ref = ref_generate(sd, z, n_mlp, latent_avg, psi)
        assert ours.shape == ref.shape == (3, 3, SIZE, SIZE)
        torch.testing.assert_close(ours, ref, atol=1e-4, rtol=0)


# ----------------------------------------------------------------------------------------------------------
# Tests.


@pytest.mark.parametrize("n_mlp", [2, 8])
@pytest.mark.parametrize("multiplier", [1, 2])
def test_convert_weight_layout_matches_reference(tmp_path, n_mlp, multiplier):
    sd = rosinality_state(n_mlp, small_channels(multiplier), seed=n_mlp + 10 * multiplier)
    latent_avg = 0.5 * torch.randn(STYLE_DIM, generator=torch.Generator().manual_seed(7))
    path = tmp_path / "converted.pt"
    torch.save({"g_ema": sd, "latent_avg": latent_avg}, path)

    ck = load_checkpoint(path)
    cfg = ck.g_config
    assert ck.source == "rosinality" and ck.D is None and ck.G is None
    assert (cfg.img_resolution, cfg.z_dim, cfg.w_dim, cfg.map_layers) == (SIZE, STYLE_DIM, STYLE_DIM, n_mlp)
    assert cfg.conv_clamp is None and cfg.num_fp16_res == 0 and cfg.map_lr_multiplier == LR_MLP
    assert [cfg.channels(r) for r in (4, 8, 16, 32)] == [
        small_channels(multiplier)[r] for r in (4, 8, 16, 32)
    ]
    assert ck.training_state["w_avg_estimated"] is False
    torch.testing.assert_close(ck.G_ema.mapping.w_avg, latent_avg, atol=0, rtol=0)
    assert_images_match(load_generator(path), sd, n_mlp, latent_avg)


def test_style_mixing_uses_rosinalitys_layer_indices(tmp_path):
    """A different w per layer: each conv and ToRGB must read the same latent index as rosinality."""
    sd = rosinality_state(2, small_channels(2), seed=3)
    path = tmp_path / "g.pt"
    torch.save({"g_ema": sd, "latent_avg": torch.zeros(STYLE_DIM)}, path)
    G = load_generator(path)
    latent = torch.randn(2, G.num_ws, STYLE_DIM, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(
            G.synthesis(latent, noise_mode="const"), ref_synthesis(sd, latent), atol=1e-4, rtol=0
        )


def test_train_py_layout_with_args_and_estimated_w_avg(tmp_path):
    n_mlp, mult = 8, 1
    sd_ema = rosinality_state(n_mlp, small_channels(mult), seed=1)
    sd_g = rosinality_state(n_mlp, small_channels(mult), seed=2)
    args = argparse.Namespace(
        size=SIZE,
        latent=STYLE_DIM,
        n_mlp=n_mlp,
        channel_multiplier=mult,
        lr=0.002,
        r1=10.0,
        path="/data/lmdb",
        ckpt=None,
        wandb=False,
        augment_p=0.0,
    )
    g_optim = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(4)}},
        "param_groups": [{"lr": 0.002, "betas": (0.0, 0.99), "eps": 1e-8, "params": [0]}],
    }
    path = tmp_path / "010000.pt"
    torch.save(
        {
            "g": sd_g,
            "d": {"convs.0.0.weight": torch.randn(16, 3, 1, 1)},
            "g_ema": sd_ema,
            "g_optim": g_optim,
            "d_optim": g_optim,
            "args": args,
            "ada_aug_p": 0.0,
        },
        path,
    )

    ck = load_checkpoint(path)
    assert ck.D is None and ck.G is not None
    assert ck.training_state["w_avg_estimated"] is True
    assert ck.training_state["rosinality_args"]["channel_multiplier"] == mult
    assert ck.training_state["rosinality"]["n_mlp"] == n_mlp
    # The estimate is the mapping's mean: compare with an independent estimate from other z.
    z = torch.randn(20_000, STYLE_DIM, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        ws = ref_mapping(sd_ema, z, n_mlp)
    stderr = ws.std(dim=0) / math.sqrt(10_000)
    assert ((ck.G_ema.mapping.w_avg - ws.mean(dim=0)).abs() < 6 * stderr + 1e-6).all()
    assert_images_match(ck.G_ema, sd_ema, n_mlp, ck.G_ema.mapping.w_avg)
    with torch.no_grad():  # g is converted too (training net), with its own estimated average
        torch.testing.assert_close(
            ck.G(z_batch(), noise_mode="const"),
            ref_generate(sd_g, z_batch(), n_mlp, None, 1),
            atol=1e-4,
            rtol=0,
        )


@pytest.mark.parametrize(("multiplier", "size"), [(1, 64), (2, 64), (2, 256), (1, 1024)])
def test_standard_channel_multiplier_is_inferred_from_shapes(multiplier, size):
    standard = {
        4: 512,
        8: 512,
        16: 512,
        32: 512,
        64: 256 * multiplier,
        128: 128 * multiplier,
        256: 64 * multiplier,
        512: 32 * multiplier,
        1024: 16 * multiplier,
    }
    meta = lambda *shape: torch.empty(*shape, device="meta")  # noqa: E731  shapes only, no memory
    sd = rosinality_state(8, standard, seed=0, size=size, dim=512, make=meta)
    layout = infer_layout(sd, "x.pt")
    assert (layout.size, layout.style_dim, layout.n_mlp, layout.channel_multiplier) == (
        size,
        512,
        8,
        multiplier,
    )
    assert (layout.channel_base, layout.channel_max) == (16384 * multiplier, 512)


def test_unsupported_channel_layout_is_refused():
    wide = {4: 512, 8: 512, 16: 512, 32: 512, 64: 1024, 128: 512}  # channel_multiplier 4
    sd = rosinality_state(2, wide, seed=0, size=128, dim=64, make=lambda *s: torch.empty(*s, device="meta"))
    with pytest.raises(SGError, match="channel widths"):
        infer_layout(sd, "x.pt")


def test_unknown_key_is_named(tmp_path):
    sd = rosinality_state(2, small_channels(1), seed=0)
    sd["convs.1.extra_gain"] = torch.ones(1)
    path = tmp_path / "odd.pt"
    torch.save({"g_ema": sd}, path)
    with pytest.raises(SGError, match=r"convs\.1\.extra_gain"):
        load_checkpoint(path)


def test_missing_tensor_and_foreign_files_are_refused(tmp_path):
    sd = rosinality_state(2, small_channels(1), seed=0)
    del sd["convs.2.activate.bias"]
    path = tmp_path / "missing.pt"
    torch.save({"g_ema": sd}, path)
    with pytest.raises(SGError, match=r"b16\.conv0\.bias"):
        load_checkpoint(path)
    other = tmp_path / "classifier.pt"
    torch.save({"model": {"fc.weight": torch.ones(2, 2)}}, other)
    with pytest.raises(SGError, match="g_ema"):
        load_checkpoint(other)


class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_code_in_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": {"style.1.weight": torch.ones(2, 2)}, "args": _RunsCode(str(marker))}, path)
    with pytest.raises(SGError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "\n" not in message and "system" in message and "refusing" in message
    assert not marker.exists()


def test_truncated_file_is_a_clear_error(tmp_path):
    sd = rosinality_state(2, small_channels(1), seed=0)
    good = tmp_path / "good.pt"
    torch.save({"g_ema": sd}, good)
    data = good.read_bytes()
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(SGError, match="truncated") as info:
        load_checkpoint(bad)
    assert "\n" not in str(info.value)
