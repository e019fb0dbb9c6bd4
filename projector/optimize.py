"""The projection itself: optimise w (or one w per layer) and per-layer noise so that G reproduces targets.

The optimiser follows the official projector (Adam, lr 0.1 with ramp-up and cosine ramp-down, w started at
the mean of 10,000 mapped samples and jittered by a shrinking Gaussian, noise maps regularised and
renormalised every step), and adds what it lacks: W+ (one w per layer), MSE losses, batches whose samples
do not influence each other, and the optimised noise kept so that ``w`` + noise re-render the projection.
Each step's forward and backward run in ``projector.step.ProjectionStep`` (eager fp32, or the fast path on
CUDA); files are ``projector.project``'s and ``projector.outputs``' business.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import SGError
from core.fastpath import FastPathOptions
from projector.metrics import mse_loss
from projector.noise_reg import init_noise, normalize_noise_
from projector.step import ProjectionStep, default_fast_path

SPACES = ("w", "w+")
LOSSES = ("lpips", "mse", "lpips+mse")
W_STATS_SEED = 123  # the official projector draws its 10,000 z from RandomState(123)

StepCallback = Callable[[int, torch.Tensor, torch.Tensor], None]


@dataclass(frozen=True)
class ProjectConfig:
    """Projection hyperparameters; the defaults are the official projector's (1000 steps, Adam lr 0.1 with
    5% ramp-up and 25% cosine ramp-down, w noise 0.05 * w_std ramped to 0 over 75%, noise weight 1e5)."""

    space: str = "w"
    steps: int = 1000
    lr: float = 0.1
    lr_rampup: float = 0.05  # fraction of the steps with a linear ramp-up
    lr_rampdown: float = 0.25  # fraction of the steps with a cosine ramp-down to 0
    w_noise_factor: float = 0.05  # initial w jitter, in units of w_std
    w_noise_ramp: float = 0.75  # fraction of the steps over which the jitter decays (quadratically) to 0
    noise_reg_weight: float = 1e5
    optimize_noise: bool = True
    loss: str = "lpips"
    mse_weight: float = 1.0  # weight of the MSE term of 'lpips+mse' (images in [-1,1])
    w_avg_samples: int = 10_000
    seed: int = 0

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise SGError(f"--space must be one of {', '.join(SPACES)} (got {self.space!r})")
        if self.loss not in LOSSES:
            raise SGError(f"--loss must be one of {', '.join(LOSSES)} (got {self.loss!r})")
        if self.steps < 1:
            raise SGError(f"--steps must be >= 1 (got {self.steps})")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise SGError(f"--lr must be a positive number (got {self.lr})")
        if self.w_avg_samples < 2:
            raise SGError(f"w_avg_samples must be >= 2 (got {self.w_avg_samples})")
        if not (self.noise_reg_weight >= 0 and math.isfinite(self.noise_reg_weight)):
            raise SGError(f"--noise-reg must be >= 0 (got {self.noise_reg_weight})")
        if not 0 <= self.seed < 2**63:
            raise SGError(f"--seed must be a non-negative integer (got {self.seed})")

    @property
    def uses_lpips(self) -> bool:
        """Whether the loss needs the perceptual network (and so the VGG16 weights)."""
        return "lpips" in self.loss


def learning_rate(
    step: int, num_steps: int, base_lr: float, rampup: float = 0.05, rampdown: float = 0.25
) -> float:
    """Official schedule: linear ramp-up over the first ``rampup`` fraction, cosine ramp-down over the last
    ``rampdown`` fraction (step 0 has lr 0, as in the official projector)."""
    t = step / num_steps
    down = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    down = 0.5 - 0.5 * math.cos(down * math.pi)
    up = min(1.0, t / rampup) if rampup > 0 else 1.0
    return base_lr * down * up


def w_noise_scale(step: int, num_steps: int, w_std: float, factor: float = 0.05, ramp: float = 0.75) -> float:
    """Std of the Gaussian added to w at ``step``: ``factor * w_std``, decaying quadratically to 0 at ``ramp``
    (a fraction of the steps)."""
    t = step / num_steps
    return w_std * factor * max(0.0, 1.0 - t / ramp) ** 2


@dataclass
class WStats:
    """Where projections start (``w_avg`` [1,1,w_dim]) and how far mapped samples spread (``w_std``, the RMS
    distance of a sample to the mean, which scales the w jitter)."""

    w_avg: torch.Tensor
    w_std: float


def _device_of(G: torch.nn.Module) -> torch.device:
    return next(G.parameters()).device


@torch.no_grad()
def compute_w_stats(G: torch.nn.Module, num_samples: int = 10_000, seed: int = W_STATS_SEED) -> WStats:
    """Mean and spread of ``num_samples`` mapped z (conditional models: classes drawn uniformly).

    G's own running ``w_avg`` is not used: it is missing from some files and stale in early snapshots.
    """
    device = _device_of(G)
    rng = np.random.RandomState(seed)
    z = torch.from_numpy(rng.randn(num_samples, G.z_dim).astype(np.float32))
    c = torch.zeros(num_samples, G.c_dim)
    if G.c_dim:
        c[torch.arange(num_samples), torch.from_numpy(rng.randint(0, G.c_dim, num_samples))] = 1
    ws = torch.cat(
        [
            G.mapping(zb.to(device), cb.to(device))[:, 0].double()
            for zb, cb in zip(z.split(2048), c.split(2048), strict=True)
        ]
    )
    w_avg = ws.mean(dim=0, keepdim=True)
    w_std = float(((ws - w_avg).square().sum() / num_samples).sqrt())
    return WStats(w_avg=w_avg.float().reshape(1, 1, -1), w_std=w_std)


@dataclass
class Projection:
    """Optimised latents of a batch, on the CPU: ``w`` [N,num_ws,w_dim] and noise maps [N,1,r,r]."""

    w: torch.Tensor
    noise: list[torch.Tensor]
    final_loss: torch.Tensor  # [N], the per-sample objective at the last step (w jitter is 0 by then)


def _check_targets(G: torch.nn.Module, target: torch.Tensor) -> None:
    shape = (G.img_channels, G.img_resolution, G.img_resolution)
    if target.ndim != 4 or tuple(target.shape[1:]) != shape:
        raise SGError(
            f"targets must be [N,{shape[0]},{shape[1]},{shape[2]}] for this model, got {list(target.shape)}"
        )


class Distance:
    """The per-sample image distance of ``cfg.loss``; target features are computed once, not every step."""

    def __init__(self, cfg: ProjectConfig, target: torch.Tensor, perceptual: torch.nn.Module | None) -> None:
        if cfg.uses_lpips and perceptual is None:
            raise SGError(f"--loss {cfg.loss} needs the LPIPS network (give perceptual=...)")
        self.cfg, self.target, self.perceptual = cfg, target, perceptual
        self.target_features = None
        if cfg.uses_lpips:
            with torch.no_grad():
                self.target_features = perceptual.features(target)

    def __call__(self, img: torch.Tensor, reduced: torch.dtype | None = None) -> torch.Tensor:
        """[N] distances; with ``reduced`` the perceptual backbone runs under autocast in that dtype."""
        d = img.new_zeros(img.shape[0])
        if self.cfg.uses_lpips:
            autocast = torch.autocast(img.device.type, reduced) if reduced is not None else nullcontext()
            with autocast:
                features = self.perceptual.features(img)
            features = [f.float() for f in features]
            d = d + self.perceptual.distance(features, self.target_features)
        if self.cfg.loss == "mse":
            d = d + mse_loss(img, self.target)
        elif self.cfg.loss == "lpips+mse":
            d = d + self.cfg.mse_weight * mse_loss(img, self.target)
        return d


def project(
    G: torch.nn.Module,
    target: torch.Tensor,
    cfg: ProjectConfig = ProjectConfig(),
    perceptual: torch.nn.Module | None = None,
    stats: WStats | None = None,
    on_step: StepCallback | None = None,
    fast: FastPathOptions | None = None,
) -> Projection:
    """Optimise w (or per-layer w) and noise so that G reproduces ``target`` [N,C,H,W] in [-1,1].

    The objective is a sum of per-sample terms and Adam works element-wise, so every sample follows the
    path it would follow alone. ``on_step(step, images, loss)`` sees each step's images and per-sample loss.
    ``fast`` says how a step runs (None: ``default_fast_path``, what ``sg project`` runs on G's device).
    """
    _check_targets(G, target)
    device = _device_of(G)
    n = target.shape[0]
    target = target.to(device=device, dtype=torch.float32)
    stats = stats if stats is not None else compute_w_stats(G, cfg.w_avg_samples)
    fast = fast if fast is not None else default_fast_path(device, cfg.steps)
    step_fn = ProjectionStep(G, Distance(cfg, target, perceptual), cfg, fast)
    width = 1 if cfg.space == "w" else G.num_ws
    w_opt = stats.w_avg.to(device).expand(n, width, -1).clone().requires_grad_(True)
    noise = initial_noise(G, cfg, n, device)
    params = [w_opt] + (noise if cfg.optimize_noise else [])
    optimizer = torch.optim.Adam(params, betas=(0.9, 0.999), lr=cfg.lr)
    # The w jitter comes from its own CPU stream, identical for every sample and device.
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed + 1)

    loss = torch.zeros(n, device=device)
    for step in range(cfg.steps):
        lr = learning_rate(step, cfg.steps, cfg.lr, cfg.lr_rampup, cfg.lr_rampdown)
        for group in optimizer.param_groups:
            group["lr"] = lr
        sigma = w_noise_scale(step, cfg.steps, stats.w_std, cfg.w_noise_factor, cfg.w_noise_ramp)
        jitter = torch.randn(1, width, G.w_dim, generator=gen).to(device) * sigma
        img, loss = step_fn(w_opt, jitter, noise, params)
        optimizer.step()
        if cfg.optimize_noise:
            normalize_noise_(noise)
        if on_step is not None:
            on_step(step, img, loss)

    w = w_opt.detach().expand(-1, G.num_ws, -1).float().cpu().contiguous()
    return Projection(
        w=w,
        noise=[m.detach().float().cpu().contiguous() for m in noise],
        final_loss=loss.float().cpu(),
    )


def initial_noise(G: torch.nn.Module, cfg: ProjectConfig, n: int, device: torch.device) -> list[torch.Tensor]:
    """Noise maps to optimise (seeded), or the model's fixed maps (what noise_mode='const' renders), stored
    so that re-rendering is exact."""
    layers = G.synthesis.noise_layers()
    if cfg.optimize_noise:
        maps = init_noise([layer.resolution for layer in layers], n, cfg.seed, device)
        return [m.requires_grad_(True) for m in maps]
    return [
        layer.noise_const.detach().reshape(1, 1, *layer.noise_const.shape).expand(n, -1, -1, -1).clone()
        for layer in layers
    ]


@torch.no_grad()
def render_projection(G: torch.nn.Module, w: torch.Tensor, noise: Sequence[torch.Tensor]) -> torch.Tensor:
    """Images [N,C,H,W] (CPU float) of saved latents, one sample at a time so that each equals what a later
    ``G.synthesis(w_i, noise=noise_i)`` with batch 1 renders, bit for bit."""
    device = _device_of(G)
    out = []
    for i in range(w.shape[0]):
        maps = [m[i : i + 1] if m.shape[0] > 1 else m for m in noise]
        img = G.synthesis(w[i : i + 1].to(device), noise_mode="const", noise=[m.to(device) for m in maps])
        out.append(img.float().cpu())
    return torch.cat(out)
