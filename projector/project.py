"""Project images into a generator's latent space: W or W+ plus per-layer noise, several images per batch.

The optimiser follows the official projector (Adam, lr 0.1 with ramp-up and cosine ramp-down, w started at
the mean of 10,000 mapped samples and jittered by a shrinking Gaussian, noise maps regularised and
renormalised every step), and adds what it lacks: W+ (one w per layer), MSE losses, batches whose samples
do not influence each other, and the optimised noise kept so that ``w`` + noise re-render the projection.
``project_images`` wraps it for files: preprocessing, batching, outputs, video and pivotal tuning.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.errors import SGError
from core.images import save_png, to_uint8
from core.latents import Latents
from projector.metrics import mse_loss, psnr
from projector.noise_reg import init_noise, noise_regularization, normalize_noise_

if TYPE_CHECKING:
    from projector.tune import TuneConfig

__all__ = [
    "LOSSES",
    "SPACES",
    "ImageResult",
    "ProjectConfig",
    "Projection",
    "WStats",
    "compute_w_stats",
    "learning_rate",
    "project",
    "project_images",
    "render_projection",
    "w_noise_scale",
]

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


class _Distance:
    """The per-sample image distance of ``cfg.loss``; target features are computed once, not every step."""

    def __init__(self, cfg: ProjectConfig, target: torch.Tensor, perceptual: torch.nn.Module | None) -> None:
        if cfg.uses_lpips and perceptual is None:
            raise SGError(f"--loss {cfg.loss} needs the LPIPS network (give perceptual=...)")
        self.cfg, self.target, self.perceptual = cfg, target, perceptual
        self.target_features = None
        if cfg.uses_lpips:
            with torch.no_grad():
                self.target_features = perceptual.features(target)

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        d = img.new_zeros(img.shape[0])
        if self.cfg.uses_lpips:
            d = d + self.perceptual.distance(self.perceptual.features(img), self.target_features)
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
) -> Projection:
    """Optimise w (or per-layer w) and noise so that G reproduces ``target`` [N,C,H,W] in [-1,1].

    The objective is a sum of per-sample terms and Adam works element-wise, so every sample follows the
    path it would follow alone. ``on_step(step, images, loss)`` sees each step's images and per-sample loss.
    """
    _check_targets(G, target)
    device = _device_of(G)
    n = target.shape[0]
    target = target.to(device=device, dtype=torch.float32)
    stats = stats if stats is not None else compute_w_stats(G, cfg.w_avg_samples)
    distance = _Distance(cfg, target, perceptual)
    layers = G.synthesis.noise_layers()

    width = 1 if cfg.space == "w" else G.num_ws
    w_opt = stats.w_avg.to(device).expand(n, width, -1).clone().requires_grad_(True)
    if cfg.optimize_noise:
        noise = [
            m.requires_grad_(True)
            for m in init_noise([layer.resolution for layer in layers], n, cfg.seed, device)
        ]
    else:  # the model's fixed maps (what noise_mode='const' renders), stored so that re-rendering is exact
        noise = [
            layer.noise_const.detach().reshape(1, 1, *layer.noise_const.shape).expand(n, -1, -1, -1).clone()
            for layer in layers
        ]
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
        ws = (w_opt + jitter).expand(-1, G.num_ws, -1)
        img = G.synthesis(ws, noise_mode="const", noise=noise)
        loss = distance(img)
        if cfg.optimize_noise:
            loss = loss + cfg.noise_reg_weight * noise_regularization(noise)
        # autograd.grad, not backward(): G's own parameters never receive .grad, even if they require it.
        for p, g in zip(params, torch.autograd.grad(loss.sum(), params), strict=True):
            p.grad = g
        optimizer.step()
        if cfg.optimize_noise:
            normalize_noise_(noise)
        if on_step is not None:
            on_step(step, img.detach(), loss.detach())

    w = w_opt.detach().expand(-1, G.num_ws, -1).float().cpu().contiguous()
    return Projection(
        w=w,
        noise=[m.detach().float().cpu().contiguous() for m in noise],
        final_loss=loss.detach().float().cpu(),
    )


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


# ------------------------------------------------------------------------------------------- files


@dataclass
class ImageResult:
    """What happened to one input: the files written and the final scores, or the error message."""

    path: Path
    stem: str
    error: str | None = None
    lpips: float | None = None
    psnr: float | None = None
    tuned_psnr: float | None = None
    tuned_lpips: float | None = None
    files: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def _finite_or_none(x: float) -> float | None:
    """JSON metadata refuses inf/nan: a perfect reconstruction's infinite PSNR is stored as null."""
    return float(x) if math.isfinite(x) else None


def _scores(
    img: torch.Tensor, target_u8: torch.Tensor, perceptual: torch.nn.Module | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """PSNR of what the PNGs hold (both quantised to uint8) and LPIPS of the float render, per sample."""
    from projector.preprocess import uint8_to_tensor

    target = torch.stack([uint8_to_tensor(t.numpy()) for t in target_u8])
    shown = torch.stack([uint8_to_tensor(t.numpy()) for t in to_uint8(img)])
    p = psnr(shown, target)
    lp = None
    if perceptual is not None:
        with torch.no_grad():
            dev = next(perceptual.parameters()).device
            lp = perceptual(img.to(dev), target.to(dev)).float().cpu()
    return p, lp


class _Progress:
    """Two rich bars on stderr (images done, steps of the current batch), or nothing at all."""

    def __init__(self, enabled: bool, total_images: int, steps: int) -> None:
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(stderr=True)
        if not console.is_terminal:
            return
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self.images = self.bar.add_task("images", total=total_images)
        self.steps = self.bar.add_task("steps", total=steps)

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def batch(self, description: str, total: int) -> None:
        if self.bar is not None:
            self.bar.reset(self.steps, total=total, description=description)

    def step(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.steps)

    def image_done(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.advance(self.images, n)


def _load_batches(
    inputs: Sequence[Path],
    stems: dict[Path, str],
    batch: int,
    load: Callable[[Path], np.ndarray],
    results: list[ImageResult],
    log: Callable[[str], None],
    progress: _Progress,
):
    """Yield full batches of (path, uint8 target) as inputs load; failures become results and are skipped."""
    pending: list[tuple[Path, np.ndarray]] = []
    for path in inputs:
        try:
            pending.append((path, load(path)))
        except SGError as e:
            results.append(ImageResult(path=path, stem=stems[path], error=str(e)))
            log(f"error: {e}")
            progress.image_done()
            continue
        if len(pending) == batch:
            yield pending
            pending = []
    if pending:
        yield pending


@dataclass
class _Run:
    """Settings shared by every image of a ``project_images`` call."""

    G: torch.nn.Module
    cfg: ProjectConfig
    outdir: Path
    perceptual: torch.nn.Module | None
    lpips_label: str
    video: bool
    tune: TuneConfig | None
    align: bool
    model_path: str | os.PathLike[str] | None
    log: Callable[[str], None]


def project_images(
    G: torch.nn.Module,
    inputs: Sequence[str | os.PathLike[str]],
    outdir: str | os.PathLike[str],
    cfg: ProjectConfig = ProjectConfig(),
    *,
    batch: int = 1,
    perceptual: torch.nn.Module | None = None,
    lpips_label: str = "lpips-vgg16",
    video: bool = False,
    tune: TuneConfig | None = None,
    align: bool = False,
    model_path: str | os.PathLike[str] | None = None,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> list[ImageResult]:
    """Project image files (or folders of them) ``batch`` at a time and write, per image, ``{stem}.npz``
    (w, noise maps, meta), ``{stem}_target.png``, ``{stem}_proj.png`` and with ``video`` ``{stem}_proj.mp4``.

    ``perceptual`` is the LPIPS module (a ``PerceptualLoss``; required by the lpips losses, optional for
    'mse' where it only scores the result); ``lpips_label`` names it in the metadata. ``tune`` (a
    ``projector.tune.TuneConfig``) adds pivotal tuning: ``{stem}_tuned.safetensors`` and ``{stem}_tuned.png``.
    Images that cannot be read are reported through ``log`` and in the result list; the rest go on.
    """
    from projector.preprocess import collect_inputs, load_target_uint8, target_stem

    if batch < 1:
        raise SGError(f"--batch must be >= 1 (got {batch})")
    if cfg.uses_lpips and perceptual is None:
        raise SGError(f"--loss {cfg.loss} needs the LPIPS network (give perceptual=...)")
    paths = collect_inputs(inputs)
    stems = {p: target_stem(p, paths) for p in paths}
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise SGError(f"--outdir {outdir} exists and is not a folder")
    outdir.mkdir(parents=True, exist_ok=True)
    G.eval()
    run = _Run(
        G, cfg, outdir, perceptual, lpips_label, video, tune, align, model_path, log or (lambda m: None)
    )

    if align:
        from projector.align import load_aligned_uint8 as load_fn
    else:
        load_fn = load_target_uint8

    def load(p: Path) -> np.ndarray:
        return load_fn(p, G.img_resolution, G.img_channels)

    stats = compute_w_stats(G, cfg.w_avg_samples)
    results: list[ImageResult] = []
    with _Progress(progress, len(paths), cfg.steps) as bar:
        for group in _load_batches(paths, stems, batch, load, results, run.log, bar):
            results.extend(_project_batch(run, group, [stems[p] for p, _ in group], stats, bar))
    order = {p: k for k, p in enumerate(paths)}
    return sorted(results, key=lambda r: order[r.path])


def _project_batch(
    run: _Run, group: list[tuple[Path, np.ndarray]], names: list[str], stats: WStats, bar: _Progress
) -> list[ImageResult]:
    """Optimise one batch (with its video), then write each image's files, tuning it when asked."""
    from projector.preprocess import uint8_to_tensor

    targets_u8 = torch.stack([torch.from_numpy(a) for _, a in group])
    target = torch.stack([uint8_to_tensor(a) for _, a in group])
    label = ", ".join(names) if len(names) <= 3 else f"{len(names)} images"
    bar.batch(f"projecting {label}", run.cfg.steps)
    t0 = time.perf_counter()
    writer = None
    if run.video:
        from projector.video import ProjectionVideos

        writer = ProjectionVideos([run.outdir / f"{s}_proj.mp4" for s in names], targets_u8, run.cfg.steps)

    def on_step(step: int, img: torch.Tensor, loss: torch.Tensor) -> None:
        bar.step()
        if writer is not None:
            writer.add(step, img)

    try:
        proj = project(run.G, target, run.cfg, run.perceptual, stats, on_step)
        images = render_projection(run.G, proj.w, proj.noise)
        if writer is not None:
            writer.finish(to_uint8(images))
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    seconds = (time.perf_counter() - t0) / len(group)
    p, lp = _scores(images, targets_u8, run.perceptual)
    out = []
    for i, (path, _) in enumerate(group):
        lp_i = None if lp is None else float(lp[i])
        res = _write_one(
            run, path, names[i], proj, i, images[i : i + 1], targets_u8[i], float(p[i]), lp_i, seconds
        )
        if run.tune is not None:
            _tune_one(run, res, proj, i, target[i : i + 1], targets_u8[i : i + 1])
        lp_txt = "n/a" if res.lpips is None else f"{res.lpips:.4f}"
        tuned = "" if res.tuned_psnr is None else f", tuned PSNR {res.tuned_psnr:.2f} dB"
        run.log(f"{path}: PSNR {float(p[i]):.2f} dB, LPIPS {lp_txt}{tuned} -> {run.outdir / names[i]}.npz")
        bar.image_done()
        out.append(res)
    return out


def _write_one(
    run: _Run,
    path: Path,
    stem: str,
    proj: Projection,
    i: int,
    image: torch.Tensor,
    target_u8: torch.Tensor,
    p: float,
    lp: float | None,
    seconds: float,
) -> ImageResult:
    """Write one image's target, projection and latent file; return its result record."""
    G, cfg = run.G, run.cfg
    files = [
        save_png(target_u8, run.outdir / f"{stem}_target.png"),
        save_png(to_uint8(image)[0], run.outdir / f"{stem}_proj.png"),
    ]
    meta = {
        "space": cfg.space,
        "steps": cfg.steps,
        "loss": cfg.loss,
        "seed": cfg.seed,
        "lr": cfg.lr,
        "noise_optimized": cfg.optimize_noise,
        "source": str(path),
        "psnr": _finite_or_none(p),
        "lpips": lp,
        "lpips_net": run.lpips_label if lp is not None else None,
        "aligned": run.align,
        "num_ws": G.num_ws,
        "w_dim": G.w_dim,
        "resolution": G.img_resolution,
        "seconds": round(seconds, 3),
        "projector": dataclasses.asdict(cfg),
    }
    if run.model_path is not None:
        meta["model"] = str(run.model_path)
    lat = Latents(w=proj.w[i : i + 1], noise=[m[i : i + 1] for m in proj.noise], meta=meta)
    files.append(lat.save(run.outdir / f"{stem}.npz"))
    if run.video:
        files.append(run.outdir / f"{stem}_proj.mp4")
    return ImageResult(path=path, stem=stem, lpips=lp, psnr=p, files=files)


def _tune_one(
    run: _Run, res: ImageResult, proj: Projection, i: int, target: torch.Tensor, target_u8: torch.Tensor
) -> None:
    """Pivotal tuning of a copy of G around image i's projection; writes the tuned model and its render."""
    from core.checkpoint import save_checkpoint
    from projector.tune import tune_generator

    w, noise = proj.w[i : i + 1], [m[i : i + 1] for m in proj.noise]
    G_t = tune_generator(run.G, w, noise, target, run.tune, run.perceptual)
    img = render_projection(G_t, w, noise)
    p, lp = _scores(img, target_u8, run.perceptual)
    res.tuned_psnr, res.tuned_lpips = _finite_or_none(float(p[0])), None if lp is None else float(lp[0])
    res.files.append(save_png(to_uint8(img)[0], run.outdir / f"{res.stem}_tuned.png"))
    meta = {
        "tuned": "pivotal tuning (PTI) of the model around one projected latent",
        "pivot_latents": f"{res.stem}.npz",
        "source_image": str(res.path),
        "tune_steps": str(run.tune.steps),
        "tune_lr": repr(run.tune.lr),
        "tune_loss": "lpips+l2" if run.perceptual is not None else "l2",
        "tune_psnr": repr(res.tuned_psnr),
        "tune_lpips": repr(res.tuned_lpips),
    }
    if run.model_path is not None:
        meta["tuned_from"] = str(run.model_path)
    path = run.outdir / f"{res.stem}_tuned.safetensors"
    save_checkpoint(path, G_t, extra_meta=meta)
    res.files.append(path)
