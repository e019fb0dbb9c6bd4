"""Projector: schedules, noise regularisation, recovery, exact re-rendering, batches, tuning, CLI, align."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from core.checkpoint import load_generator, save_checkpoint
from core.errors import SGError
from core.fastpath import FastPathOptions
from core.images import save_png, to_uint8
from core.latents import load_latents
from projector.metrics import mse_loss, psnr
from projector.noise_reg import init_noise, noise_regularization, normalize_noise_
from projector.preprocess import uint8_to_tensor
from projector.project import (
    ProjectConfig,
    compute_w_stats,
    learning_rate,
    project,
    project_images,
    render_projection,
    w_noise_scale,
)
from projector.synthetic import as_png, generated_targets, trained_like_generator
from projector.tune import TuneConfig, tune_generator

REPO = Path(__file__).resolve().parents[1]


pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def G16() -> torch.nn.Module:
    return trained_like_generator(16)


@pytest.fixture(scope="module")
def stats16(G16):
    return compute_w_stats(G16)


# ----------------------------------------------------------------------------- schedules


def test_learning_rate_schedule_at_key_steps() -> None:
    lr = [learning_rate(s, 1000, 0.1) for s in range(1001)]
    assert lr[0] == 0.0  # official: the ramp-up starts at 0
    assert lr[25] == pytest.approx(0.05)  # half-way through the 5% ramp-up
    assert lr[50] == pytest.approx(0.1)
    assert lr[500] == pytest.approx(0.1) and lr[750] == pytest.approx(0.1)
    assert lr[875] == pytest.approx(0.05)  # half-way down the 25% cosine ramp
    assert lr[1000] == pytest.approx(0.0, abs=1e-12)
    assert lr[800] == pytest.approx(0.1 * (0.5 - 0.5 * math.cos(0.8 * math.pi)))
    assert all(a <= b + 1e-12 for a, b in zip(lr[:50], lr[1:51], strict=True))  # monotone up
    assert all(a >= b - 1e-12 for a, b in zip(lr[750:-1], lr[751:], strict=True))  # monotone down


def test_w_noise_ramps_quadratically_to_zero_at_75_percent() -> None:
    assert w_noise_scale(0, 1000, 2.0) == pytest.approx(0.1)  # 0.05 * w_std
    assert w_noise_scale(375, 1000, 2.0) == pytest.approx(0.1 * 0.25)  # (1 - 0.5)^2
    assert w_noise_scale(750, 1000, 2.0) == 0.0 and w_noise_scale(900, 1000, 2.0) == 0.0


def test_w_stats_are_the_mean_and_rms_spread_of_mapped_samples(G16) -> None:
    stats = compute_w_stats(G16, num_samples=500, seed=5)
    z = torch.from_numpy(np.random.RandomState(5).randn(500, G16.z_dim).astype(np.float32))
    w = G16.mapping(z, None)[:, 0].double()
    torch.testing.assert_close(stats.w_avg.double().reshape(-1), w.mean(0), atol=1e-5, rtol=1e-5)
    assert stats.w_std == pytest.approx(float((w - w.mean(0)).square().sum(1).mean().sqrt()), rel=1e-5)


# ----------------------------------------------------------------------------- noise


def test_normalize_noise_gives_zero_mean_unit_variance_per_sample() -> None:
    a = torch.randn(1, 1, 16, 16) * 5 + 3
    b = torch.rand(1, 1, 16, 16) - 7
    both = [torch.cat([a, b]), torch.cat([b, a])[:, :, :8, :8].contiguous()]
    normalize_noise_(both)
    for m in both:
        torch.testing.assert_close(m.mean(dim=(1, 2, 3)), torch.zeros(2), atol=1e-5, rtol=0)
        torch.testing.assert_close(m.square().mean(dim=(1, 2, 3)), torch.ones(2), atol=1e-5, rtol=0)
    alone = [a.clone()]
    normalize_noise_(alone)
    torch.testing.assert_close(both[0][0:1], alone[0])  # samples do not influence each other


def test_noise_regularization_pyramid_and_per_sample_values() -> None:
    # A constant map correlates perfectly at every octave: 2 (x and y) per octave, octaves 32, 16, 8.
    assert noise_regularization([torch.ones(1, 1, 32, 32)]).item() == pytest.approx(6.0)
    assert noise_regularization([torch.ones(1, 1, 4, 4)]).item() == pytest.approx(2.0)  # below 8 px: one
    white = init_noise([64], 1, seed=0)
    smooth = torch.nn.functional.interpolate(init_noise([8], 1, seed=1)[0], scale_factor=8, mode="bilinear")
    normalize_noise_([smooth])
    reg_white, reg_smooth = noise_regularization(white).item(), noise_regularization([smooth]).item()
    assert reg_white < 1e-3 and reg_smooth > 100 * reg_white
    batch = noise_regularization([torch.cat([white[0], smooth])])
    torch.testing.assert_close(batch, torch.tensor([reg_white, reg_smooth]))


def test_init_noise_is_seeded_and_the_same_for_every_sample() -> None:
    a = init_noise([4, 8, 8], 3, seed=7)
    b = init_noise([4, 8, 8], 1, seed=7)
    assert [tuple(m.shape) for m in a] == [(3, 1, 4, 4), (3, 1, 8, 8), (3, 1, 8, 8)]
    for ma, mb in zip(a, b, strict=True):
        assert torch.equal(ma, mb.expand_as(ma))
    assert not torch.equal(init_noise([8], 1, seed=8)[0], b[1])


# ----------------------------------------------------------------------------- the optimiser


def test_w_space_keeps_one_w_and_optimised_noise_stays_normalised(G16, stats16) -> None:
    _, target = generated_targets(G16, 1)
    cfg = ProjectConfig(space="w", steps=30, loss="mse")
    losses = []
    proj = project(
        G16, target, cfg, stats=stats16, on_step=lambda s, img, loss: losses.append(float(loss[0]))
    )
    assert proj.w.shape == (1, G16.num_ws, G16.w_dim)
    assert torch.equal(proj.w, proj.w[:, :1].expand_as(proj.w))  # W: the same w in every layer
    assert len(proj.noise) == len(G16.synthesis.noise_layers())
    for m, layer in zip(proj.noise, G16.synthesis.noise_layers(), strict=True):
        assert m.shape == (1, 1, layer.resolution, layer.resolution)
        assert abs(float(m.mean())) < 1e-4 and float(m.square().mean()) == pytest.approx(1.0, abs=1e-4)
    assert len(losses) == 30 and losses[-1] < losses[0]


def test_projection_leaves_the_generator_alone(stats16) -> None:
    G = trained_like_generator(16).requires_grad_(True)  # e.g. a model in the middle of training
    before = {k: v.clone() for k, v in G.state_dict().items()}
    _, target = generated_targets(G, 1)
    project(G, target, ProjectConfig(space="w+", steps=3, loss="mse"), stats=stats16)
    assert all(p.grad is None for p in G.parameters())
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in before.items())


def test_no_noise_keeps_the_models_const_noise(G16, stats16) -> None:
    _, target = generated_targets(G16, 1)
    proj = project(
        G16, target, ProjectConfig(space="w+", steps=5, loss="mse", optimize_noise=False), stats=stats16
    )
    for m, layer in zip(proj.noise, G16.synthesis.noise_layers(), strict=True):
        assert torch.equal(m[0, 0], layer.noise_const)
    assert not torch.equal(proj.w[:, 0], proj.w[:, -1])  # W+: layers move independently


def test_w_plus_with_noise_recovers_generated_images(G16, stats16) -> None:
    """The targets' own random noise is unknowable, so the reference is the true w rendered with the
    model's const noise instead: 27.8 and 25.9 dB. Measured after 300 steps (MSE loss): 29.1 and 26.8 dB,
    from 17.0 and 12.8 dB at the w_avg start. Thresholds: 24 dB, and no worse than the reference - 1.5 dB."""
    ws, target = generated_targets(G16, 2)
    with torch.no_grad():
        reference = psnr(as_png(G16.synthesis(ws, noise_mode="const")), target)
    start = psnr(
        as_png(
            render_projection(
                G16,
                stats16.w_avg.expand(2, G16.num_ws, -1),
                init_noise([layer.resolution for layer in G16.synthesis.noise_layers()], 2, 0),
            )
        ),
        target,
    )
    proj = project(G16, target, ProjectConfig(space="w+", steps=300, loss="mse"), stats=stats16)
    p = psnr(as_png(render_projection(G16, proj.w, proj.noise)), target)
    msg = f"PSNR {p.tolist()}, reference {reference.tolist()}, start {start.tolist()}"
    assert (p > 24.0).all() and (p > reference - 1.5).all(), msg
    assert (p > start + 8).all(), msg


@pytest.mark.parametrize("space", ["w", "w+"])
def test_projection_step_gradients_match_autograd(G16, space: str) -> None:
    """The step `sg project` runs (eager fp32 on CPU) puts d(sum of per-sample objectives) into .grad of
    w and the noise maps, exactly as autograd through G.synthesis does, and leaves G without grads."""
    from projector.optimize import Distance
    from projector.step import ProjectionStep

    _, target = generated_targets(G16, 2, seed=5)
    cfg = ProjectConfig(space=space, loss="mse")
    width = 1 if space == "w" else G16.num_ws
    w0 = torch.randn(2, width, G16.w_dim) * 0.1
    jitter = torch.randn(1, width, G16.w_dim) * 0.01
    noise0 = init_noise([layer.resolution for layer in G16.synthesis.noise_layers()], 2, seed=1)
    w, noise = w0.clone().requires_grad_(True), [m.clone().requires_grad_(True) for m in noise0]
    step = ProjectionStep(G16, Distance(cfg, target, None), cfg, FastPathOptions())
    img, loss = step(w, jitter, noise, [w, *noise])

    w_ref, n_ref = w0.clone().requires_grad_(True), [m.clone().requires_grad_(True) for m in noise0]
    img_ref = G16.synthesis((w_ref + jitter).expand(-1, G16.num_ws, -1), noise_mode="const", noise=n_ref)
    loss_ref = mse_loss(img_ref, target) + cfg.noise_reg_weight * noise_regularization(n_ref)
    loss_ref.sum().backward()
    assert torch.equal(img, img_ref.detach()) and torch.allclose(loss, loss_ref.detach())
    assert torch.allclose(w.grad, w_ref.grad, rtol=1e-5, atol=1e-7)
    assert all(
        torch.allclose(a.grad, b.grad, rtol=1e-5, atol=1e-7) for a, b in zip(noise, n_ref, strict=True)
    )
    assert all(p.grad is None for p in G16.parameters())


def test_fast_projection_agrees_with_fp32(G16, stats16) -> None:
    """The CUDA fast path's switches, forced on CPU: bf16 in the top blocks and torch.compile of the step
    (forward and backward through AOT autograd; the CPU code generator is tested in test_fast_paths).
    Tolerance: final PSNR within 0.5 dB of the fp32 projection and w within 2% (relative L2)."""
    _, target = generated_targets(G16, 2, seed=6)
    cfg = ProjectConfig(space="w+", steps=40, loss="mse")
    ref = project(G16, target, cfg, stats=stats16, fast=FastPathOptions())
    opts = FastPathOptions(
        precision="bf16", reduced_res=2, allow_cpu_reduced=True, compile=True, compile_backend="aot_eager"
    )  # G16 is an fp32 config: reduced_res picks its top 2 resolutions, as num_fp16_res would
    fast = project(G16, target, cfg, stats=stats16, fast=opts)
    assert not torch.equal(fast.w, ref.w)  # bf16 really ran
    assert ((fast.w - ref.w).norm() / ref.w.norm()).item() < 0.02
    p_ref = psnr(as_png(render_projection(G16, ref.w, ref.noise)), target)
    p_fast = psnr(as_png(render_projection(G16, fast.w, fast.noise)), target)
    assert (p_fast - p_ref).abs().max().item() < 0.5


def test_sg_project_fast_path_is_bf16_compiled_on_cuda_and_fp32_eager_on_cpu() -> None:
    from projector.step import COMPILE_MIN_STEPS, default_fast_path

    assert default_fast_path(torch.device("cpu"), 1000) == FastPathOptions()
    cuda = default_fast_path(torch.device("cuda"), 1000)
    assert (cuda.precision, cuda.compile, cuda.cuda_graphs) == ("bf16", True, True)
    short = default_fast_path(torch.device("cuda"), COMPILE_MIN_STEPS - 1)
    assert (short.precision, short.compile) == ("bf16", False)


def test_batch_of_two_equals_one_by_one(G16, stats16) -> None:
    _, target = generated_targets(G16, 2, seed=3)
    cfg = ProjectConfig(space="w+", steps=40, loss="mse", seed=11)
    both = project(G16, target, cfg, stats=stats16)
    for i in range(2):
        one = project(G16, target[i : i + 1], cfg, stats=stats16)
        torch.testing.assert_close(both.w[i : i + 1], one.w, atol=1e-4, rtol=1e-4)
        for mb, mo in zip(both.noise, one.noise, strict=True):
            torch.testing.assert_close(mb[i : i + 1], mo, atol=1e-4, rtol=1e-4)


def test_lpips_loss_with_random_backbone_runs_and_scores(tmp_path, G16) -> None:
    from projector.lpips_loss import PerceptualLoss

    perceptual = PerceptualLoss(net="vgg", random_backbone=True)
    _, target = generated_targets(G16, 1)
    save_png(to_uint8(target)[0], tmp_path / "a.png")
    cfg = ProjectConfig(space="w", steps=8, loss="lpips+mse", w_avg_samples=500)
    res = project_images(
        G16,
        [tmp_path / "a.png"],
        tmp_path / "out",
        cfg,
        perceptual=perceptual,
        lpips_label="lpips-vgg16 (random backbone)",
    )
    assert res[0].ok and res[0].lpips is not None and res[0].lpips >= 0
    meta = load_latents(tmp_path / "out" / "a.npz").meta
    assert meta["lpips"] == pytest.approx(res[0].lpips) and meta["lpips_net"].endswith("(random backbone)")
    with pytest.raises(SGError, match="LPIPS"):
        project_images(G16, [tmp_path / "a.png"], tmp_path / "out", ProjectConfig(loss="lpips"))


def test_config_validation_is_one_line_sg_errors() -> None:
    for kw, what in [
        ({"space": "z"}, "--space"),
        ({"loss": "l1"}, "--loss"),
        ({"steps": 0}, "--steps"),
        ({"lr": -1.0}, "--lr"),
    ]:
        with pytest.raises(SGError, match=what):
            ProjectConfig(**kw)


# ----------------------------------------------------------------------------- files and re-rendering


def test_saved_npz_rerenders_the_projection_png_bit_for_bit(tmp_path, G16) -> None:
    _, target = generated_targets(G16, 2, seed=4)
    for i, name in enumerate(["a", "b"]):
        save_png(to_uint8(target)[i], tmp_path / f"{name}.png")
    cfg = ProjectConfig(space="w+", steps=15, loss="mse", w_avg_samples=500)
    res = project_images(G16, [tmp_path], tmp_path / "out", cfg, batch=2)
    assert [r.stem for r in res] == ["a", "b"] and all(r.ok for r in res)
    for name in ("a", "b"):
        lat = load_latents(tmp_path / "out" / f"{name}.npz", G16.num_ws, G16.w_dim)
        assert lat.w.shape == (1, G16.num_ws, G16.w_dim) and len(lat.noise) == len(
            G16.synthesis.noise_layers()
        )
        assert lat.meta["space"] == "w+" and lat.meta["steps"] == 15 and lat.meta["loss"] == "mse"
        assert (
            lat.meta["seed"] == 0 and lat.meta["source"].endswith(f"{name}.png") and lat.meta["lpips"] is None
        )
        with torch.no_grad():
            img = G16.synthesis(lat.w, noise=lat.noise)
        png = np.array(Image.open(tmp_path / "out" / f"{name}_proj.png"))
        assert np.array_equal(to_uint8(img)[0].numpy(), png)
        tgt = np.array(Image.open(tmp_path / "out" / f"{name}_target.png"))
        assert np.array_equal(tgt, np.asarray(Image.open(tmp_path / f"{name}.png")))
        p = psnr(uint8_to_tensor(png)[None], uint8_to_tensor(tgt)[None])
        assert lat.meta["psnr"] == pytest.approx(float(p), abs=1e-3)


# ----------------------------------------------------------------------------- pivotal tuning


def test_pivotal_tuning_lowers_the_reconstruction_error(G16, stats16) -> None:
    # A real photo is outside what the random model can make: projection alone leaves a large error.
    photo = REPO.parent / "shared" / "data" / "photos" / "astronaut.png"
    if photo.exists():
        from projector.preprocess import load_target

        target = load_target(photo, 16, 3, min_size=0)[None]
    else:
        target = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    proj = project(G16, target, ProjectConfig(space="w", steps=60, loss="mse"), stats=stats16)
    before = mse_loss(render_projection(G16, proj.w, proj.noise), target).item()
    params = {k: v.clone() for k, v in G16.state_dict().items()}
    tuned = tune_generator(G16, proj.w, proj.noise, target, TuneConfig(steps=100, lr=3e-3))
    after = mse_loss(render_projection(tuned, proj.w, proj.noise), target).item()
    assert after < 0.5 * before, (before, after)
    assert all(torch.equal(v, G16.state_dict()[k]) for k, v in params.items())  # G itself untouched
    for layer, m in zip(tuned.synthesis.noise_layers(), proj.noise, strict=True):
        assert torch.equal(layer.noise_const, m[0, 0])  # the pivot's noise becomes the const noise
    assert not any(p.requires_grad for p in tuned.parameters())


# ----------------------------------------------------------------------------- CLI


def _sg(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "stylegan_cli.main", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=full_env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def cli_setup(tmp_path_factory):
    """A saved tiny model, two generated photos, and an empty torch hub (so no VGG16 weights exist)."""
    root = tmp_path_factory.mktemp("cli")
    G = trained_like_generator(16, seed=1)
    save_checkpoint(root / "tiny.safetensors", G)
    _, target = generated_targets(G, 2, seed=9)
    for i, name in enumerate(["one", "two"]):
        save_png(to_uint8(target)[i], root / "photos" / f"{name}.png")
    (root / "torch_home").mkdir()
    return root


def test_cli_end_to_end_writes_every_file_and_sample_rerenders_exactly(cli_setup) -> None:
    root = cli_setup
    out = root / "out"
    env = {"TORCH_HOME": str(root / "torch_home")}
    r = _sg(
        "project",
        str(root / "tiny.safetensors"),
        str(root / "photos"),
        "--loss",
        "mse",
        "--steps",
        "20",
        "--space",
        "w+",
        "--batch",
        "2",
        "--video",
        "--tune",
        "--tune-steps",
        "5",
        "--outdir",
        str(out),
        "--device",
        "cpu",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    for stem in ("one", "two"):
        for suffix in (".npz", "_target.png", "_proj.png", "_proj.mp4", "_tuned.safetensors", "_tuned.png"):
            f = out / f"{stem}{suffix}"
            assert f.is_file() and f.stat().st_size > 0, f
    assert r.stdout.split() == [str(out / "one.npz"), str(out / "two.npz")]
    lat = load_latents(out / "one.npz")
    assert lat.meta["space"] == "w+" and lat.meta["steps"] == 20 and lat.meta["psnr"] > 10
    G_t = load_generator(out / "one_tuned.safetensors")
    assert G_t.img_resolution == 16
    from safetensors import safe_open

    with safe_open(str(out / "one_tuned.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert "tuned" in meta and meta["pivot_latents"] == "one.npz"
    # `sg sample --latents` re-renders the projection exactly from w + the stored noise maps.
    r2 = _sg(
        "sample",
        str(root / "tiny.safetensors"),
        "--latents",
        str(out / "one.npz"),
        "--outdir",
        str(root / "resampled"),
        "--device",
        "cpu",
    )
    assert r2.returncode == 0, r2.stderr
    again = np.asarray(Image.open(root / "resampled" / "one.png"))
    assert np.array_equal(again, np.asarray(Image.open(out / "one_proj.png")))


def test_cli_corrupt_image_is_one_line_and_the_others_are_written(cli_setup) -> None:
    root = cli_setup
    bad_dir = root / "mixed"
    bad_dir.mkdir()
    for name in ("one", "two"):
        (bad_dir / f"{name}.png").write_bytes((root / "photos" / f"{name}.png").read_bytes())
    (bad_dir / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    out = root / "out_mixed"
    r = _sg(
        "project",
        str(root / "tiny.safetensors"),
        str(bad_dir),
        "--loss",
        "mse",
        "--steps",
        "3",
        "--outdir",
        str(out),
        "--device",
        "cpu",
        env={"TORCH_HOME": str(root / "torch_home")},
    )
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    bad_lines = [ln for ln in r.stderr.splitlines() if "broken.png" in ln]
    assert len(bad_lines) == 1 and bad_lines[0].startswith("error:"), r.stderr
    assert (out / "one.npz").is_file() and (out / "two.npz").is_file() and (out / "two_proj.png").is_file()
    assert not (out / "broken.npz").exists()
    assert r.stderr.strip().splitlines()[-1].startswith("error: 1 of 3 image(s) failed")


def test_cli_missing_vgg_weights_fails_before_any_work(cli_setup) -> None:
    root = cli_setup
    out = root / "out_novgg"
    r = _sg(
        "project",
        str(root / "tiny.safetensors"),
        str(root / "photos"),
        "--outdir",
        str(out),
        env={"TORCH_HOME": str(root / "torch_home")},
    )
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "--vgg-weights" in lines[0] and "Traceback" not in r.stderr, r.stderr
    assert not out.exists()  # nothing was started
    r = _sg(
        "project",
        str(root / "tiny.safetensors"),
        str(root / "photos"),
        "--vgg-weights",
        str(root / "nope.pth"),
        "--outdir",
        str(out),
    )
    assert r.returncode != 0 and "nope.pth" in r.stderr and not out.exists()


def test_cli_help_has_an_example() -> None:
    from typer.testing import CliRunner

    from stylegan_cli.main import app

    r = CliRunner().invoke(app, ["project", "--help"], terminal_width=200)
    assert r.exit_code == 0 and "Example: sg project" in r.output


# ----------------------------------------------------------------------------- face alignment


def _face_landmarks(eye_l=(40.0, 50.0), eye_r=(60.0, 50.0), mouth_l=(42.0, 80.0), mouth_r=(58.0, 80.0)):
    """68 dlib-layout points of which only the eyes (36-47) and mouth corners (48, 54) matter."""
    lm = np.zeros((68, 2))
    ring = np.array([[-3, 0], [-1, -1], [1, -1], [3, 0], [1, 1], [-1, 1]], dtype=float)
    lm[36:42] = np.asarray(eye_l) + ring
    lm[42:48] = np.asarray(eye_r) + ring
    lm[48], lm[54] = mouth_l, mouth_r
    lm[0:36] = lm[49:54] = lm[55:68] = np.nan  # unused points must not matter
    return lm


def _rotate(points: np.ndarray, deg: float, centre=(50.0, 50.0)) -> np.ndarray:
    a = math.radians(deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return (points - centre) @ rot.T + centre


def test_face_quad_geometry_for_an_upright_face() -> None:
    from projector.align import face_quad

    quad = face_quad(_face_landmarks())
    # eye_to_eye (20,0), eye_to_mouth (0,30): half side max(2*20, 1.8*30) = 54, centre (50, 50+3).
    expected = np.array([[-4, -1], [-4, 107], [104, 107], [104, -1]], dtype=float)
    np.testing.assert_allclose(quad, expected, atol=1e-9)


@pytest.mark.parametrize("deg", [-30.0, 12.0, 90.0])
def test_face_quad_rotates_scales_and_moves_with_the_face(deg: float) -> None:
    from projector.align import face_quad

    lm = _face_landmarks()
    base = face_quad(np.nan_to_num(lm))
    moved = _rotate(np.nan_to_num(lm), deg) * 1.5 + np.array([7.0, -3.0])
    np.testing.assert_allclose(face_quad(moved), _rotate(base, deg) * 1.5 + np.array([7.0, -3.0]), atol=1e-9)
    # Wide-set eyes: the size follows 2x the eye distance instead.
    wide = face_quad(np.nan_to_num(_face_landmarks(eye_l=(20.0, 50.0), eye_r=(80.0, 50.0))))
    assert np.hypot(*(wide[3] - wide[0])) == pytest.approx(2 * 2 * 60)


@pytest.mark.parametrize("deg", [0.0, 25.0])
def test_warp_quad_puts_the_eyes_where_ffhq_puts_them(deg: float) -> None:
    from projector.align import face_quad, warp_quad

    lm = np.nan_to_num(_face_landmarks())
    lm = _rotate(lm, deg) + 40  # a tilted face in a 180 px photo, near its centre
    im = Image.new("RGB", (180, 180), (128, 128, 128))
    draw = ImageDraw.Draw(im)
    for centre, colour in ((lm[36:42].mean(0), (255, 0, 0)), (lm[42:48].mean(0), (0, 0, 255))):
        draw.ellipse([centre[0] - 3, centre[1] - 3, centre[0] + 3, centre[1] + 3], fill=colour)
    out = np.asarray(warp_quad(im, face_quad(lm), 64)).astype(float)
    # Canonical eye positions: quad side 108, left eye 44 px right / 51 px down from the corner, right eye 64.
    for channel, (u, v) in ((0, (44 / 108, 51 / 108)), (2, (64 / 108, 51 / 108))):
        other = 2 - channel
        mask = (out[:, :, channel] > 180) & (out[:, :, other] < 100)
        ys, xs = np.nonzero(mask)
        assert len(xs) > 0
        assert xs.mean() + 0.5 == pytest.approx(u * 64, abs=1.5) and ys.mean() + 0.5 == pytest.approx(
            v * 64, abs=1.5
        )


def test_align_without_dlib_says_how_to_install_it(monkeypatch) -> None:
    from projector.align import check_align_available

    monkeypatch.setitem(sys.modules, "dlib", None)  # makes `import dlib` fail
    with pytest.raises(SGError, match="pip install dlib-bin face-recognition-models"):
        check_align_available()


def test_real_dlib_alignment_frames_the_face_like_ffhq() -> None:
    """Runs only where dlib and the landmark model are installed: an aligned face, aligned again, must
    give (nearly) the whole frame as its crop square."""
    from projector.align import align_face, check_align_available, detect_landmarks, face_quad

    pytest.importorskip("dlib")
    try:
        check_align_available()
    except SGError as e:
        pytest.skip(str(e))
    photo = REPO.parent / "shared" / "data" / "photos" / "astronaut.png"
    if not photo.exists():
        pytest.skip(f"sample photo not found: {photo}")
    aligned = align_face(Image.open(photo), 256)
    assert aligned.size == (256, 256)
    quad = face_quad(detect_landmarks(np.asarray(aligned)))
    frame = np.array([[0, 0], [0, 256], [256, 256], [256, 0]], dtype=float)
    assert np.abs(quad - frame).max() < 16, quad


def test_npz_meta_is_plain_json(tmp_path, G16) -> None:
    _, target = generated_targets(G16, 1)
    save_png(to_uint8(target)[0], tmp_path / "x.png")
    project_images(
        G16, [tmp_path / "x.png"], tmp_path / "o", ProjectConfig(loss="mse", steps=2, w_avg_samples=100)
    )
    with np.load(tmp_path / "o" / "x.npz") as data:
        meta = json.loads(str(data["meta"]))
        assert set(data.files) == {"w", "meta"} | {
            f"noise_{i}" for i in range(len(G16.synthesis.noise_layers()))
        }
    assert meta["projector"]["noise_reg_weight"] == 1e5 and meta["noise_optimized"] is True
