"""The ops against slow, obviously-correct references."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.ops import (
    bias_act,
    conv2d_resample,
    downsample2d,
    modulated_conv2d,
    setup_filter,
    upfirdn2d,
    upsample2d,
)


def naive_upfirdn2d(
    x: np.ndarray, f: np.ndarray, up: int, down: int, pad: tuple[int, int, int, int]
) -> np.ndarray:
    """Loop-based definition: zero-stuff, pad, true convolution with f, decimate."""
    n, c, h, w = x.shape
    z = np.zeros((n, c, h * up, w * up), x.dtype)
    z[:, :, ::up, ::up] = x
    px0, px1, py0, py1 = pad
    z = np.pad(z, ((0, 0), (0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))))
    z = z[:, :, max(-py0, 0) : z.shape[2] - max(-py1, 0), max(-px0, 0) : z.shape[3] - max(-px1, 0)]
    kh, kw = f.shape
    out = np.zeros((n, c, z.shape[2] - kh + 1, z.shape[3] - kw + 1), x.dtype)
    ff = f[::-1, ::-1]
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = (z[:, :, i : i + kh, j : j + kw] * ff).sum(axis=(2, 3))
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize(
    "up,down,pad",
    [
        (1, 1, (1, 2, 0, 1)),
        (2, 1, (2, 1, 2, 1)),
        (1, 2, (1, 1, 1, 1)),
        (2, 2, (0, 0, 0, 0)),
        (1, 1, (-1, 1, 2, -1)),
    ],
)
def test_upfirdn2d_matches_loop_reference(up, down, pad):
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, 7, 6).astype(np.float64)
    f = rng.rand(4, 3)
    got = upfirdn2d(torch.from_numpy(x), torch.from_numpy(f), up=up, down=down, padding=pad).numpy()
    np.testing.assert_allclose(got, naive_upfirdn2d(x, f, up, down, pad), atol=1e-12)


def test_setup_filter_is_normalised_outer_product():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4)
    torch.testing.assert_close(
        f, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64
    )


def test_up_and_down_preserve_constant_images():
    f = setup_filter([1, 3, 3, 1])
    x = torch.full((1, 2, 8, 8), 0.7, dtype=torch.float64)
    up = upsample2d(x, f.double())
    down = downsample2d(x, f.double())
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.full_like(up[..., 2:-2, 2:-2], 0.7))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full_like(down[..., 1:-1, 1:-1], 0.7))


@pytest.mark.parametrize("k,up,down", [(3, 1, 1), (3, 2, 1), (3, 1, 2), (1, 1, 2), (1, 2, 1)])
def test_conv2d_resample_equals_resample_then_conv(k, up, down):
    torch.manual_seed(0)
    f = setup_filter([1, 3, 3, 1]).double()
    x = torch.randn(2, 4, 8, 8, dtype=torch.float64)
    w = torch.randn(5, 4, k, k, dtype=torch.float64)
    got = conv2d_resample(x, w, f=f, up=up, down=down, padding=k // 2, flip_weight=(up == 1))
    ref = x
    if up > 1:
        ref = upsample2d(ref, f, up=up)
    # The up path is a true convolution (flip_weight=False) on the upsampled grid.
    ref = F.conv2d(ref, w.flip([2, 3]) if up > 1 else w, padding=k // 2)
    if down > 1:
        ref = downsample2d(ref, f, down=down)
    assert got.shape == ref.shape
    if k > 1 and (up > 1 or down > 1):  # the fused forms pad their borders differently; the interior is exact
        m = 3 if up > 1 else 1
        got, ref = got[..., m:-m, m:-m], ref[..., m:-m, m:-m]
    torch.testing.assert_close(got, ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_fused_equals_per_sample(up, demodulate):
    torch.manual_seed(1)
    f = setup_filter([1, 3, 3, 1])
    x = torch.randn(3, 6, 8, 8)
    w = torch.randn(4, 6, 3, 3)
    s = torch.randn(3, 6)
    noise = torch.randn(3, 1, 8 * up, 8 * up)
    kw = dict(up=up, padding=1, resample_filter=f, demodulate=demodulate, flip_weight=(up == 1), noise=noise)
    a = modulated_conv2d(x, w, s, fused_modconv=True, **kw)
    b = modulated_conv2d(x, w, s, fused_modconv=False, **kw)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_demodulation_gives_unit_norm_output_weights():
    """With unit-variance i.i.d. inputs, demodulated outputs have unit variance whatever the style scale."""
    torch.manual_seed(2)
    x = torch.randn(1, 64, 32, 32)
    w = torch.randn(32, 64, 3, 3)
    for scale in (0.01, 1.0, 100.0):
        y = modulated_conv2d(x, w, torch.rand(1, 64) * scale + 0.1, padding=1)
        assert abs(y[..., 1:-1, 1:-1].std().item() - 1.0) < 0.1


def test_bias_act_gain_and_clamp():
    x = torch.tensor([[-2.0, 0.5, 10.0]]).reshape(1, 3, 1, 1)
    b = torch.tensor([1.0, 0.0, 0.0])
    y = bias_act(x, b, act="lrelu", clamp=5.0).flatten()
    expected = torch.tensor([-1.0 * 0.2 * 2**0.5, 0.5 * 2**0.5, 5.0])
    torch.testing.assert_close(y, expected)
