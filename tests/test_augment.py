"""ADA: the augmentation pipeline's transforms against exact references, R1 through it, the p controller."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.training.ada import AdaController
from core.training.augment import AUGPIPES, AugmentPipe, AugmentSpec, augpipe_spec, blit_matrix, color_matrix
from core.training.augment_ops import (
    apply_color_matrix,
    bilinear_sample,
    blit,
    filter_bank,
    geometric_filter,
    resample_affine,
    rotate2d,
    scale2d,
    translate2d,
)


def images(n: int = 8, ch: int = 3, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, ch, size, size, generator=torch.Generator().manual_seed(seed))


def smooth_images(n: int = 2, size: int = 32) -> torch.Tensor:
    """Low-frequency content (off-centre blobs), where anti-aliased resampling is close to exact."""
    ys, xs = torch.meshgrid(torch.arange(size) - 10.0, torch.arange(size) - 14.0, indexing="ij")
    blob = torch.exp(-(xs.square() + 2 * ys.square()) / 60)
    return torch.stack([blob * (c + 1) for c in range(3)]).unsqueeze(0).repeat(n, 1, 1, 1)


# ---- identity at p = 0 ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", AUGPIPES)
def test_p_zero_is_identity_bit_for_bit(name):
    x = images()
    assert torch.equal(AugmentPipe(name, p=0.0)(x), x)
    # A tiny but non-zero p runs every stage; samples no transform picked must still come out untouched.
    torch.manual_seed(0)
    assert torch.equal(AugmentPipe(name, p=1e-12)(x), x)


def test_unknown_pipeline_is_an_error():
    with pytest.raises(ValueError, match="bgc"):
        augpipe_spec("bgx")


# ---- pixel blitting equals array operations exactly ----------------------------------------------


def test_blit_equals_flip_rot90_and_reflected_shift_exactly():
    x = images(n=1)
    z = torch.zeros(1, dtype=torch.long)
    assert torch.equal(blit(x, z + 1, z, z, z), x.flip(3))
    for k in range(4):
        assert torch.equal(blit(x, z, z + k, z, z), torch.rot90(x, k, dims=(2, 3)))
    padded = F.pad(x, [3, 3, 3, 3], mode="reflect")
    for tx, ty in [(2, 0), (-3, 1), (1, -2), (3, 3)]:
        expected = padded[:, :, 3 - ty : 3 - ty + 16, 3 - tx : 3 - tx + 16]  # out(q) = in(q - t)
        assert torch.equal(blit(x, z, z, z + tx, z + ty), expected)
    # out(q) = in(flip(rot(q - t))): as array operations, flip first, then the quarter turns, then the shift.
    turned = F.pad(torch.rot90(x.flip(3), 3, dims=(2, 3)), [3, 3, 3, 3], mode="reflect")
    assert torch.equal(blit(x, z + 1, z + 3, z + 2, z + 1), turned[:, :, 2:18, 1:17])  # t = (2, 1)


@pytest.mark.parametrize("what", ["xflip", "rotate90", "xint"])
def test_pipeline_blit_outputs_are_exact_array_ops(what):
    x = images(n=32)
    torch.manual_seed(1)
    out = AugmentPipe(AugmentSpec(**{what: 1}), p=1.0)(x)
    m = int(0.125 * 16)
    padded = F.pad(x, [m, m, m, m], mode="reflect")
    seen = set()
    for i in range(len(x)):
        if what == "xflip":
            cands = {0: x[i], 1: x[i].flip(2)}
        elif what == "rotate90":
            cands = {k: torch.rot90(x[i], k, dims=(1, 2)) for k in range(4)}
        else:
            cands = {
                (tx, ty): padded[i, :, m - ty : m - ty + 16, m - tx : m - tx + 16]
                for tx in range(-m, m + 1)
                for ty in range(-m, m + 1)
            }
        hits = [k for k, v in cands.items() if torch.equal(out[i], v)]
        assert hits, f"sample {i} is not an exact {what} of its input"
        seen.add(hits[0])
    assert len(seen) >= (2 if what == "xflip" else 4)  # the random choice really varies


# ---- general geometry ----------------------------------------------------------------------------


def test_bilinear_sampler_matches_grid_sample():
    x = images(n=2, size=10)
    gen = torch.Generator().manual_seed(3)
    xs, ys = torch.rand(2, 7, 9, generator=gen) * 14 - 2, torch.rand(2, 7, 9, generator=gen) * 14 - 2
    grid = torch.stack([(2 * xs + 1) / 10 - 1, (2 * ys + 1) / 10 - 1], dim=-1)
    ref = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    torch.testing.assert_close(bilinear_sample(x, xs, ys), ref, atol=1e-5, rtol=0)


def test_polyphase_resamplers_equal_the_fir_ops():
    """The fast 2x up/down filters of the geometric path give upsample2d / downsample2d's values."""
    from core.ops.fir import downsample2d, upsample2d
    from core.training.augment_ops import downsample2x, upsample2x

    f = geometric_filter()
    x = images(n=2, size=14)
    torch.testing.assert_close(upsample2x(x, f), upsample2d(x, f, up=2), atol=2e-6, rtol=0)
    y = torch.randn(2, 3, 40, 36)
    ref = downsample2d(y, f, down=2, padding=-6, flip_filter=True)
    torch.testing.assert_close(downsample2x(y, f, padding=-6), ref, atol=2e-6, rtol=0)


def test_resampling_an_integer_translation_is_exact_in_the_interior():
    """The orthogonal sym6 filter pair makes up -> shift -> down a perfect reconstruction: this pins down the
    half-pixel conventions of the padding, the upsampling and the sampling grid."""
    x = images(n=2)
    one = torch.ones(2)
    G = translate2d(torch.tensor([-2.0, 1.0]), torch.tensor([1.0, -3.0]))  # inverse: t = (2, -1), (-1, 3)
    out = resample_affine(x, G, geometric_filter())
    t = torch.zeros(2, dtype=torch.long)
    exact = blit(x, t, t, torch.tensor([2, -1]), torch.tensor([-1, 3]))
    torch.testing.assert_close(out[..., 4:-4, 4:-4], exact[..., 4:-4, 4:-4], atol=2e-5, rtol=0)
    assert torch.equal(blit_matrix(t, t, torch.tensor([2, -1]), torch.tensor([-1, 3])), G)
    torch.testing.assert_close(
        resample_affine(x, scale2d(one, one), geometric_filter()), x, atol=2e-5, rtol=0
    )


def test_resampled_quarter_turn_and_flip_follow_the_blit_convention():
    """Rotation and flip matrices turn the image the same way as the exact blit (smooth content: the
    asymmetric wavelet blurs a resampled flip slightly)."""
    x = smooth_images()
    z = torch.zeros(2, dtype=torch.long)
    for flip, rot in [(0, 1), (0, 3), (1, 0), (1, 2)]:
        G = blit_matrix(z + flip, z + rot, z, z)
        torch.testing.assert_close(
            resample_affine(x, G, geometric_filter()), blit(x, z + flip, z + rot, z, z), atol=0.05, rtol=0
        )
        wrong = blit(x, z + flip, (z + rot + 2) % 4, z, z)  # the other way round is far off
        assert float((resample_affine(x, G, geometric_filter()) - wrong).abs().max()) > 1
    # rotate2d(pi/2) is one quarter turn, the same as blit's rot = 1.
    q = rotate2d(torch.full([2], math.pi / 2))
    torch.testing.assert_close(
        resample_affine(x, q, geometric_filter()), blit(x, z, z + 1, z, z), atol=0.05, rtol=0
    )


def test_geometric_transforms_keep_a_constant_image_constant_away_from_the_border():
    x = torch.full([64, 3, 32, 32], 0.37)
    torch.manual_seed(2)
    out = AugmentPipe("geom", p=1.0)(x)
    inner = out[..., 8:-8, 8:-8]
    torch.testing.assert_close(inner, torch.full_like(inner, 0.37), atol=1e-5, rtol=0)
    assert not torch.equal(AugmentPipe("geom", p=1.0)(images(n=4)), images(n=4))


# ---- colour --------------------------------------------------------------------------------------


def reference_color(rgb: np.ndarray, b: float, c: float, flip: int, theta: float, s: float) -> np.ndarray:
    """Per-pixel colour transform [3, P] written from the paper's definitions, in float64."""
    v = np.ones(3) / np.sqrt(3)
    x = (rgb + b) * c
    if flip:
        x = x - 2 * np.outer(v, v) @ x  # mirror through the plane orthogonal to the grey axis
    # Rotation about the grey axis by theta: exp(theta * [v]_x).
    K = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    R = np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K
    x = R @ x
    grey = np.outer(v, v) @ x
    return grey + s * (x - grey)


def test_color_transform_with_known_parameters_equals_its_matrix():
    x = images(n=3)
    params = [(0.2, 1.5, 1, 0.7, 0.5), (-0.1, 0.8, 0, -2.0, 1.7), (0.0, 1.0, 0, 0.0, 1.0)]
    cols = [torch.tensor([p[k] for p in params], dtype=torch.float32) for k in range(5)]
    C = color_matrix(*cols)
    out = apply_color_matrix(x, C)
    for i, (b, c, f, th, s) in enumerate(params):
        ref = reference_color(x[i].reshape(3, -1).double().numpy(), b, c, f, th, s)
        np.testing.assert_allclose(out[i].reshape(3, -1).numpy(), ref, atol=1e-5)
    assert torch.equal(C[2], torch.eye(4)) and torch.equal(out[2], x[2])


def test_color_stage_is_one_affine_map_per_image():
    """With p = 1 every image gets some colour matrix: a least-squares fit of [R G B 1] reproduces it."""
    x = images(n=6)
    torch.manual_seed(4)
    out = AugmentPipe("color", p=1.0)(x)
    for i in range(len(x)):
        A = torch.cat([x[i].reshape(3, -1), torch.ones(1, 256)]).double().T
        Y = out[i].reshape(3, -1).double().T
        sol = torch.linalg.lstsq(A, Y).solution
        assert float((A @ sol - Y).abs().max()) < 1e-4
        assert not torch.allclose(out[i], x[i])


def test_grayscale_color_uses_the_mean_row():
    x = images(n=2, ch=1)
    C = color_matrix(
        torch.tensor([0.1, 0.0]),
        torch.tensor([2.0, 1.0]),
        torch.tensor([0.0, 1.0]),
        torch.zeros(2),
        torch.ones(2),
    )
    out = apply_color_matrix(x, C)
    torch.testing.assert_close(out[0], (x[0] + 0.1) * 2)
    torch.testing.assert_close(out[1], -x[1])  # a luma flip inverts grey levels


# ---- filtering and corruptions -------------------------------------------------------------------


def test_filter_bank_bands_sum_to_an_impulse():
    bank = filter_bank().double()
    total = bank.sum(dim=0)
    impulse = torch.zeros_like(total)
    impulse[total.numel() // 2] = 1
    torch.testing.assert_close(total, impulse, atol=1e-6, rtol=0)
    assert bank.shape == (4, 43)


def test_filter_and_noise_and_cutout_change_images():
    x = images(n=16)
    for name in ("filter", "noise", "cutout"):
        torch.manual_seed(5)
        out = AugmentPipe(name, p=1.0)(x)
        assert out.shape == x.shape and not torch.equal(out, x)
    torch.manual_seed(6)
    cut = AugmentPipe("cutout", p=1.0)(x)
    for i in range(len(x)):
        hole = (cut[i] == 0).all(dim=0)  # a square of half the side, clipped at the border: 1/16 to 1/4
        rows, cols = hole.any(dim=1).nonzero().flatten(), hole.any(dim=0).nonzero().flatten()
        assert 16 <= int(hole.sum()) <= 64 and int(hole.sum()) == len(rows) * len(cols)
        assert torch.equal(cut[i][:, ~hole], x[i][:, ~hole])


# ---- R1 through the pipeline: double backward ----------------------------------------------------


class SmoothD(nn.Module):
    """A tiny D with smooth activations, so second derivatives are non-trivial."""

    def __init__(self) -> None:
        super().__init__()
        self.c0 = nn.Conv2d(3, 4, 3, padding=1)
        self.c1 = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 1)

    def forward(self, x):
        x = F.softplus(self.c0(x))
        x = F.softplus(self.c1(x))
        return self.fc(x.flatten(1))


def r1(D: nn.Module, pipe: AugmentPipe, x: torch.Tensor, seed: int) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    torch.manual_seed(seed)  # the same augmentation every call
    logits = D(pipe(x))
    (g,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
    return g.square().sum(dim=[1, 2, 3]).mean()


def test_r1_through_the_pipeline_has_finite_grads_and_matches_finite_differences():
    dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        torch.manual_seed(0)
        D = SmoothD()
        pipe = AugmentPipe("bgcf", p=1.0)
        x = images(n=3).double()
        penalty = r1(D, pipe, x, seed=7)
        penalty.backward()
        # Every weight the input gradient depends on (all but the last bias) gets a finite gradient.
        grads = [D.c0.weight.grad, D.c0.bias.grad, D.c1.weight.grad, D.c1.bias.grad, D.fc.weight.grad]
        assert all(g is not None and bool(g.isfinite().all()) for g in grads)
        assert float(D.c0.weight.grad.abs().sum()) > 0
        eps = 1e-6
        for idx in [(0, 0, 1, 1), (2, 1, 0, 2), (3, 2, 2, 0)]:
            w = D.c0.weight
            with torch.no_grad():
                w[idx] += eps
            plus = float(r1(D, pipe, x, seed=7).detach())
            with torch.no_grad():
                w[idx] -= 2 * eps
            minus = float(r1(D, pipe, x, seed=7).detach())
            with torch.no_grad():
                w[idx] += eps
            fd = (plus - minus) / (2 * eps)
            assert fd == pytest.approx(float(w.grad[idx]), rel=1e-5, abs=1e-9)
    finally:
        torch.set_default_dtype(dtype)


# ---- the p controller ----------------------------------------------------------------------------


def test_ada_rule_on_a_scripted_sequence_of_signs():
    p = torch.zeros([])
    messages: list[str] = []
    ada = AdaController(p, target=0.6, ada_kimg=0.1, interval=4, p_max=1.0, warn=messages.append)
    step = 8 * 4 / (0.1 * 1000)  # batch 8, every 4 steps: p moves by 0.32 per update
    # The mean sign over each group of 4 steps (8 logits per step) decides the direction.
    group_means = [1, 1, 0.25, 1, 1, 1, -1, -1, -1, -1, -1]
    per_step = {1: [1] * 8, 0.25: [1] * 5 + [-1] * 3, -1: [-1] * 8}
    expected, q = [], np.float32(0)
    for r_t in group_means:
        q = np.float32(np.clip(q + np.float32(np.sign(r_t - 0.6) * step), 0, 1))
        expected.append(float(q))
    got, batch_idx = [], 0
    for r_t in group_means:
        for _ in range(4):
            ada.accumulate(torch.tensor(per_step[r_t], dtype=torch.float32).reshape(-1, 1) * 3.5)
            batch_idx += 1
            if ada.maybe_update(batch_idx, batch_size=8, reduce=lambda t: None):
                got.append(float(p))
    assert got == expected
    want = [0.32, 0.64, 0.32, 0.64, 0.96, 1.0, 0.68, 0.36, 0.04, 0.0, 0.0]
    assert got == pytest.approx(want, abs=1e-6)
    assert sum("leak" in m for m in messages) == 2 and any("ceiling" in m for m in messages)


def test_ada_ceiling_below_one_and_target_tie():
    p = torch.tensor(0.45)
    msgs: list[str] = []
    ada = AdaController(p, target=0.5, ada_kimg=0.01, interval=1, p_max=0.5, warn=msgs.append)
    ada.accumulate(torch.ones(4, 1))
    ada.maybe_update(1, 4, reduce=lambda t: None)
    assert float(p) == 0.5 and len(msgs) == 1 and "leak" in msgs[0] and "--p-max 0.5" in msgs[0]
    ada.accumulate(torch.tensor([[1.0], [1.0], [1.0], [-1.0]]))  # r_t = 0.5 == target: p stays
    ada.maybe_update(2, 4, reduce=lambda t: None)
    assert float(p) == 0.5
    with pytest.raises(ValueError, match="ceiling"):
        AdaController(torch.zeros([]), p_max=1.5)


def test_ada_state_round_trips_bit_for_bit():
    p = torch.tensor(0.123456789, dtype=torch.float32)
    ada = AdaController(p, interval=4)
    ada.accumulate(torch.tensor([[0.3], [-2.0], [5.0]]))
    state = ada.state_tensors()
    q = torch.zeros([])
    other = AdaController(q, interval=4)
    other.load_state_tensors(state)
    assert torch.equal(q, p) and torch.equal(other.acc, ada.acc)


# ---- the trainer: losses, resume, Freeze-D, CLI ----------------------------------------------------


@pytest.fixture(scope="module")
def data16(tmp_path_factory):
    """48 smooth 16x16 RGB images: a prepared dataset, instant to open."""
    from core.data.layout import write_prepared

    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:16, 0:16]
    imgs = []
    for _ in range(48):
        cy, cx = rng.uniform(4, 12, size=2)
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 8)
        imgs.append((np.stack([blob, blob * rng.uniform(), 1 - blob]) * 255).astype(np.uint8))
    return write_prepared(tmp_path_factory.mktemp("aug") / "blobs", np.stack(imgs), None, {"source": "test"})


def tiny_opts(data, out, **kw):
    from core.training import TrainOptions

    base = dict(data=str(data), outdir=str(out), cfg="tiny", batch=8, snap=1.0, tick=1.0, progress=False)
    base.update(r1_interval=2, pl_interval=2, seed=0)
    base.update(kw)
    return TrainOptions(**base)


def test_r1_of_the_real_loss_differentiates_through_the_pipeline():
    from core.networks import DiscriminatorConfig, GeneratorConfig, build_discriminator, build_generator
    from core.training.loss import StyleGAN2Loss

    torch.manual_seed(0)
    g = GeneratorConfig(z_dim=16, w_dim=16, img_resolution=16, channel_base=128, channel_max=16, map_layers=2)
    G = build_generator(g).requires_grad_(False)
    D = build_discriminator(DiscriminatorConfig(img_resolution=16, channel_base=128, channel_max=16))
    loss = StyleGAN2Loss(G, D, r1_gamma=1.0)
    loss.augment_pipe = AugmentPipe("bgcfnc", p=1.0)
    D.requires_grad_(True)
    stats = loss.accumulate_gradients("Dreg", images(n=4), None, torch.randn(4, 16), None, gain=1.0)
    grads = [p.grad for p in D.parameters() if p.grad is not None]
    assert len(grads) > 5 and all(bool(g.isfinite().all()) for g in grads)
    assert float(sum(g.abs().sum() for g in grads)) > 0
    assert set(stats["signs/real"].flatten().tolist()) <= {-1.0, 0.0, 1.0}
    # Fakes and reals are augmented alike in the main phase (both go through run_D).
    calls = []
    loss.augment_pipe.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    loss.accumulate_gradients("Dmain", images(n=4), None, torch.randn(4, 16), None, gain=1.0)
    loss.accumulate_gradients("Gmain", images(n=4), None, torch.randn(4, 16), None, gain=1.0)
    assert calls == [4, 4, 4]


def test_ada_training_logs_p_and_resume_restores_it_bit_for_bit(data16, tmp_path):
    """12 steps straight == 6 steps (a snapshot halfway through a 4-step ADA interval) + 6 resumed."""
    from core.checkpoint import load_checkpoint
    from core.training import TrainOptions, train
    from core.training.progress import read_metrics

    kw = dict(aug="ada", p=0.3, ada_kimg=0.5, target=0.6)
    straight = train(tiny_opts(data16, tmp_path / "a", kimg=0.096, tick=0.032, **kw))
    half = train(tiny_opts(data16, tmp_path / "b", kimg=0.048, **kw))
    mid = load_checkpoint(half.snapshot)
    assert float(mid.state_tensors["augment.acc"][1]) > 0  # signs pending for the next update
    resumed = train(TrainOptions(resume=str(half.run_dir), kimg=0.096, progress=False))
    a, b = load_checkpoint(straight.snapshot), load_checkpoint(resumed.snapshot)
    pa, pb = a.state_tensors["augment.p"], b.state_tensors["augment.p"]
    assert pa.dtype == torch.float32 and torch.equal(pa, pb)
    assert torch.equal(a.state_tensors["augment.acc"], b.state_tensors["augment.acc"])
    step = 8 * 4 / 500
    moved = round((float(pa) - 0.3) / step)  # 3 updates of +-step each
    assert abs(float(pa) - 0.3 - moved * step) < 1e-6 and moved in (-3, -1, 1, 3)
    assert b.training_state["augment"]["p"] == float(pb) and b.training_state["augment"]["mode"] == "ada"
    rows = read_metrics(straight.run_dir)
    assert [r["nimg"] for r in rows] == [32, 64, 96]
    assert all("aug/p" in r and -1 <= r["signs/real"] <= 1 for r in rows)
    assert rows[-1]["aug/p"] == float(pa)


def test_noaug_and_fixed_runs(data16, tmp_path):
    from core.checkpoint import load_checkpoint
    from core.training import train
    from core.training.progress import read_metrics

    res = train(tiny_opts(data16, tmp_path, kimg=0.016, aug="noaug"))
    assert res.run_dir.name.endswith("-noaug")
    assert not any("aug/p" in r for r in read_metrics(res.run_dir))
    assert "augment.p" not in load_checkpoint(res.snapshot).state_tensors
    res = train(tiny_opts(data16, tmp_path, kimg=0.016, aug="fixed", p=0.25))
    assert [r["aug/p"] for r in read_metrics(res.run_dir)] == [0.25]
    assert load_checkpoint(res.snapshot).training_state["augment"]["p"] == 0.25


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(aug="fixed"), "--aug fixed needs the strength"),
        (dict(aug="sometimes"), "--aug must be one of ada, fixed, noaug"),
        (dict(augpipe="bgx"), "--augpipe must be one of"),
        (dict(p_max=1.5), r"--p-max must be in \(0, 1\]"),
        (dict(p=0.9, p_max=0.5), "--p must be in"),
        (dict(target=1.2), "--target must be in"),
        (dict(freezed=-1), "--freezed must be >= 0"),
    ],
)
def test_bad_augment_options_are_one_line_errors(data16, tmp_path, kw, message):
    from core.errors import SGError
    from core.training import train

    with pytest.raises(SGError, match=message):
        train(tiny_opts(data16, tmp_path, kimg=0.008, **kw))
    assert not any(tmp_path.iterdir())  # found before any run folder was made


def test_freeze_d_keeps_the_first_layers_fixed(data16, tmp_path):
    from core.checkpoint import load_checkpoint
    from core.training import train
    from core.training.freeze import d_layers

    first = train(tiny_opts(data16, tmp_path / "a", kimg=0.016, aug="noaug"))
    res = train(tiny_opts(data16, tmp_path / "b", kimg=0.032, resume=str(first.snapshot), freezed=3))
    before, after = load_checkpoint(first.snapshot).D, load_checkpoint(res.snapshot).D
    names = [n for n, _ in d_layers(after)]
    assert names[:4] == ["b16.fromrgb", "b16.conv0", "b16.conv1", "b16.skip"]
    old, new = dict(before.named_parameters()), dict(after.named_parameters())
    for name in new:
        frozen = name.startswith(("b16.fromrgb.", "b16.conv0.", "b16.conv1."))
        assert torch.equal(old[name], new[name]) == frozen, name


def test_cli_help_info_and_the_small_dataset_hint(data16, tmp_path):
    import re

    from typer.testing import CliRunner

    from core.training import train
    from stylegan_cli.main import app

    runner = CliRunner()
    helptext = re.sub(r"\s+", " ", runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output)
    for flag in ("--aug", "--augpipe", "--target", "--ada-kimg", "--p-max", "--freezed", "fine-tuning"):
        assert flag in helptext, flag
    res = train(tiny_opts(data16, tmp_path, kimg=0.008, aug="fixed", p=0.125))
    out = runner.invoke(app, ["info", str(res.run_dir)], env={"COLUMNS": "200"})
    assert out.exit_code == 0 and "augmentation" in out.output and "p 0.1250" in out.output
    src = tmp_path / "src"
    src.mkdir()
    from PIL import Image

    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(src / f"{i}.png")
    out = runner.invoke(app, ["dataset", str(src), str(tmp_path / "prep"), "--resolution", "16"])
    assert out.exit_code == 0 and "prepared 3 images" in out.output
    assert "3 images is a small dataset" in out.output and "--aug ada" in out.output
