"""The default projection schedule: the official one's optimiser, started from several points, without the
w jitter, with a step size in units of the spread of w, and stopping once the objective stops improving.

Why (bench/project_convergence.py, bench/RESULTS.md): the official projector jitters w with a Gaussian of
std ``0.05 * w_std`` *per coordinate*, where ``w_std`` is the RMS *length* of w - w_avg over all w_dim
coordinates: that is ``0.05 * sqrt(w_dim)`` (1.1 for w_dim 512) times the per-coordinate spread of w, more
than the whole spread of the latent space, and it decays to zero only at 75 % of the steps. Short runs spend
most of their steps optimising a blurred objective. Here there is no jitter; instead ``starts`` starting
points (w_avg and truncated mapped samples) are optimised together in one batch for the first ``probe``
steps, and each image keeps its best. Adam's step size is ``lr`` times the per-coordinate spread of w (the
official 0.1 is in absolute units, which fits one model's scale of w only). The distance is that of what
the saved 8-bit image shows (``ShownDistance``: a render past black or white where the target is black or
white is no error). Every image's best state so far is kept, and the loop ends early once no image improved
by ``min_improvement`` (relative) within ``patience`` steps, with ``--steps`` as the cap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import SGError
from core.fastpath import FastPathOptions
from projector.noise_reg import normalize_noise_
from projector.optimize import (
    Distance,
    ProjectConfig,
    Projection,
    StepCallback,
    WStats,
    _check_targets,
    compute_w_stats,
    initial_noise,
    learning_rate,
    project,
)
from projector.step import ProjectionStep, default_fast_path

__all__ = [
    "DEFAULT_SCHEDULE",
    "SCHEDULES",
    "FastSchedule",
    "check_schedule",
    "optimise",
    "ScheduledProjection",
    "project_fast",
    "start_points",
]

SCHEDULES = ("fast", "official")
DEFAULT_SCHEDULE = "fast"
SATURATED = 1.0 - 1.0 / 255  # a target pixel this close to +-1 is 0 or 255 in its file
START_SEED_OFFSET = 7919  # the starts' z come from RandomState(seed + this), apart from the noise maps' seed


def check_schedule(name: str) -> str:
    """``--schedule``: one of SCHEDULES."""
    if name not in SCHEDULES:
        raise SGError(f"--schedule must be one of {', '.join(SCHEDULES)} (got {name!r})")
    return name


@dataclass(frozen=True)
class FastSchedule:
    """Hyperparameters of the default schedule (measured in bench/project_convergence.py)."""

    starts: int = 4  # starting points per image: w_avg plus (starts - 1) truncated mapped samples
    start_psi: float = 0.5  # those samples are pulled this far from w_avg towards themselves
    probe: float = 0.1  # fraction of the steps all starts run before each image keeps its best
    lr: float = 0.3  # Adam step size for w in W, in units of the per-coordinate spread of w
    lr_wplus: float = 0.15  # the same in W+ (num_ws vectors, each moving this far per step)
    noise_lr: float = 0.1  # Adam step size for the (unit-variance) noise maps, as the official one
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    clip_aware: bool = True  # score the render as its saved 8-bit image would look (ShownDistance)
    patience: int = 50  # early stopping: steps without a relative improvement of ...
    min_improvement: float = 1e-3  # ... this much in any image's best objective

    def __post_init__(self) -> None:
        if self.starts < 1:
            raise SGError(f"starts must be >= 1 (got {self.starts})")
        if not 0 <= self.probe < 1:
            raise SGError(f"probe must be in [0, 1) (got {self.probe})")
        lrs = (self.lr, self.lr_wplus, self.noise_lr)
        if not all(x > 0 and math.isfinite(x) for x in lrs):
            raise SGError(f"step sizes must be positive (got {lrs})")
        if self.patience < 1 or not self.min_improvement >= 0:
            raise SGError("patience must be >= 1 and min_improvement >= 0")


@dataclass
class ScheduledProjection(Projection):
    """A projection plus what the schedule did: steps actually run and the start each image kept."""

    steps_run: int = 0
    start_index: torch.Tensor | None = None  # [N] index into ``start_points``
    probe_loss: torch.Tensor | None = None  # [N, starts]: each start's lowest objective during the probe


def w_spread(stats: WStats, w_dim: int) -> float:
    """Per-coordinate RMS spread of w around w_avg (``w_std`` is the RMS length over all coordinates)."""
    return stats.w_std / math.sqrt(w_dim)


@torch.no_grad()
def start_points(G: torch.nn.Module, stats: WStats, count: int, psi: float, seed: int) -> torch.Tensor:
    """[count, 1, w_dim]: w_avg first, then mapped samples truncated towards w_avg by ``psi`` (random classes
    for conditional models); the same for every image and batch, drawn from ``seed``."""
    device = stats.w_avg.device
    w_avg = stats.w_avg.reshape(1, 1, -1)
    if count == 1:
        return w_avg.clone()
    rng = np.random.RandomState(seed + START_SEED_OFFSET)
    z = torch.from_numpy(rng.randn(count - 1, G.z_dim).astype(np.float32))
    c = torch.zeros(count - 1, G.c_dim)
    if G.c_dim:
        c[torch.arange(count - 1), torch.from_numpy(rng.randint(0, G.c_dim, count - 1))] = 1
    g_dev = next(G.parameters()).device
    w = G.mapping(z.to(g_dev), c.to(g_dev))[:, :1].to(device=device, dtype=torch.float32)
    return torch.cat([w_avg, w_avg + psi * (w - w_avg)])


class ShownDistance(Distance):
    """``Distance`` to what an 8-bit image of the render shows: where the target is saturated (black or white
    in the file) a render beyond that end is no error, since saving clips it to the same value. The plain
    distance pulls such renders back into [-1, 1] and away from the latent that reproduces the image."""

    def __call__(self, img: torch.Tensor, reduced: torch.dtype | None = None) -> torch.Tensor:
        return super().__call__(clip_like_target(img, self.target), reduced)


def clip_like_target(img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``img`` clipped to [-1, 1] only where ``target`` sits at that end (elsewhere untouched, so the
    gradient still pulls renders that overshoot an unsaturated pixel back)."""
    hi = (target >= SATURATED) & (img > 1)
    lo = (target <= -SATURATED) & (img < -1)
    return torch.where(hi | lo, img.detach().clamp(-1, 1), img)


class _Best:
    """Each sample's lowest objective so far and the latents that gave it."""

    def __init__(self, w: torch.Tensor, noise: Sequence[torch.Tensor]) -> None:
        self.loss = torch.full((w.shape[0],), math.inf, device=w.device)
        self.w = w.detach().clone()
        self.noise = [m.detach().clone() for m in noise]

    @torch.no_grad()
    def update(self, loss: torch.Tensor, w: torch.Tensor, noise: Sequence[torch.Tensor]) -> None:
        better = loss < self.loss
        self.loss = torch.where(better, loss, self.loss)
        self.w = torch.where(better.view(-1, 1, 1), w, self.w)
        self.noise = [
            torch.where(better.view(-1, 1, 1, 1), m, b) for m, b in zip(noise, self.noise, strict=True)
        ]

    def select(self, idx: torch.Tensor) -> None:
        self.loss, self.w = self.loss[idx], self.w[idx]
        self.noise = [b[idx] for b in self.noise]


def _select_params(
    optimizer: torch.optim.Adam, params: list[torch.Tensor], idx: torch.Tensor
) -> tuple[torch.optim.Adam, list[torch.Tensor]]:
    """The rows ``idx`` of every optimised tensor, with their Adam moments, as a new optimiser."""
    new_params = [p.detach()[idx].clone().requires_grad_(True) for p in params]
    position = {id(p): i for i, p in enumerate(params)}
    groups = [
        {"params": [new_params[position[id(p)]] for p in g["params"]], "lr": g["lr"]}
        for g in optimizer.param_groups
    ]
    new_opt = torch.optim.Adam(groups, betas=(0.9, 0.999))
    for p, q in zip(params, new_params, strict=True):
        state = optimizer.state.get(p)
        if state:
            new_opt.state[q] = {
                "step": state["step"].clone(),
                "exp_avg": state["exp_avg"][idx].clone(),
                "exp_avg_sq": state["exp_avg_sq"][idx].clone(),
            }
    return new_opt, new_params


def project_fast(
    G: torch.nn.Module,
    target: torch.Tensor,
    cfg: ProjectConfig = ProjectConfig(),
    schedule: FastSchedule = FastSchedule(),
    perceptual: torch.nn.Module | None = None,
    stats: WStats | None = None,
    on_step: StepCallback | None = None,
    fast: FastPathOptions | None = None,
) -> ScheduledProjection:
    """Optimise w (or w+) and noise like ``projector.optimize.project``, on the schedule described above.

    Uses ``cfg``'s space, steps (the cap), loss, noise switch, noise weight and seed; its lr and jitter
    settings belong to the official schedule and are ignored. Samples stay independent (per-sample objective,
    element-wise Adam, starts and noise drawn the same for every image), so a batch equals its images one by
    one. ``on_step(step, images, loss)`` sees one image per target: during the probe that of the start
    with the lowest objective so far.
    Long because the probe's cut to one start per image swaps the optimiser, params and step mid-loop.
    """
    _check_targets(G, target)
    device = next(G.parameters()).device
    n, k = target.shape[0], schedule.starts
    target = target.to(device=device, dtype=torch.float32)
    stats = stats if stats is not None else compute_w_stats(G, cfg.w_avg_samples)
    fast = fast if fast is not None else default_fast_path(device, cfg.steps)
    probe_steps = round(schedule.probe * cfg.steps) if k > 1 else 0
    if probe_steps == 0:
        k = 1
    width = 1 if cfg.space == "w" else G.num_ws
    starts = start_points(G, stats, k, schedule.start_psi, cfg.seed).to(device)  # [k,1,w_dim]
    w_opt = starts.repeat(n, width, 1).requires_grad_(True)  # image-major: row i*k + j is image i, start j
    noise = initial_noise(G, cfg, n * k, device)
    params = [w_opt] + (noise if cfg.optimize_noise else [])
    groups = [{"params": [w_opt], "lr": 0.0}]
    if cfg.optimize_noise:
        groups.append({"params": noise, "lr": 0.0})
    optimizer = torch.optim.Adam(groups, betas=(0.9, 0.999))
    distance = ShownDistance if schedule.clip_aware else Distance
    step_fn = ProjectionStep(G, distance(cfg, target.repeat_interleave(k, 0), perceptual), cfg, fast)
    zero = torch.zeros(1, width, G.w_dim, device=device)
    lr_w = (schedule.lr if cfg.space == "w" else schedule.lr_wplus) * w_spread(stats, G.w_dim)
    best = _Best(w_opt, noise)
    kept = torch.zeros(n, dtype=torch.long)
    probe_loss = None
    history: list[torch.Tensor] = []  # best objective per sample after each step
    step = 0
    for step in range(cfg.steps):
        ramp = learning_rate(step, cfg.steps, 1.0, schedule.lr_rampup, schedule.lr_rampdown)
        optimizer.param_groups[0]["lr"] = lr_w * ramp
        if cfg.optimize_noise:
            optimizer.param_groups[1]["lr"] = schedule.noise_lr * ramp
        img, loss = step_fn(w_opt, zero, noise, params)
        best.update(loss, w_opt.detach(), [m.detach() for m in noise])
        optimizer.step()
        if cfg.optimize_noise:
            normalize_noise_(noise)
        if on_step is not None:  # during the probe: each image's currently best start
            lead = torch.arange(n, device=device) * k + best.loss.view(n, k).argmin(dim=1)
            on_step(step, img[lead] if k > 1 else img, loss[lead] if k > 1 else loss)
        if k > 1 and step + 1 == probe_steps:  # each image keeps its best start, with its Adam moments
            probe_loss = best.loss.view(n, k).float().cpu()
            choice = best.loss.view(n, k).argmin(dim=1)
            kept = choice.cpu()
            idx = torch.arange(n, device=device) * k + choice
            optimizer, params = _select_params(optimizer, params, idx)
            w_opt, noise = params[0], (params[1:] if cfg.optimize_noise else [m[idx] for m in noise])
            if not cfg.optimize_noise:
                params = [w_opt]
            best.select(idx)
            history = [h.view(n, k).gather(1, choice.view(n, 1)).view(n) for h in history]
            step_fn = ProjectionStep(G, distance(cfg, target, perceptual), cfg, fast)
            k = 1
        history.append(best.loss.clone())
        if k == 1 and _plateaued(history, schedule):
            break
    return ScheduledProjection(
        w=best.w.expand(-1, G.num_ws, -1).float().cpu().contiguous(),
        noise=[m.float().cpu().contiguous() for m in best.noise],
        final_loss=best.loss.float().cpu(),
        steps_run=step + 1,
        start_index=kept,
        probe_loss=probe_loss,
    )


def _plateaued(history: list[torch.Tensor], schedule: FastSchedule) -> bool:
    """True when no sample's best objective fell by more than ``min_improvement`` (relative) over the last
    ``patience`` steps."""
    if len(history) <= schedule.patience:
        return False
    before, now = history[-1 - schedule.patience], history[-1]
    gain = (before - now) / before.abs().clamp_min(1e-12)
    return bool((gain <= schedule.min_improvement).all())


def optimise(
    schedule: str,
    G: torch.nn.Module,
    target: torch.Tensor,
    cfg: ProjectConfig,
    perceptual: torch.nn.Module | None = None,
    stats: WStats | None = None,
    on_step: StepCallback | None = None,
    fast: FastPathOptions | None = None,
) -> Projection:
    """Project on the named schedule: ``fast`` (the default, above) or ``official`` (optimize.project)."""
    if schedule == "official":
        return project(G, target, cfg, perceptual, stats, on_step, fast)
    if schedule == "fast":
        return project_fast(G, target, cfg, FastSchedule(), perceptual, stats, on_step, fast)
    raise SGError(f"--schedule must be one of {', '.join(SCHEDULES)} (got {schedule!r})")
