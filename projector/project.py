"""Project image files: load and preprocess photos, optimise them in batches, write each one's outputs.

``project_images`` is what `sg project` calls. The optimisation is ``projector.optimize`` (re-exported
here), a step's forward and backward ``projector.step``, the files ``projector.outputs``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from core import validate
from core.errors import SGError
from core.fastpath import FastPathOptions
from core.images import to_uint8
from core.progress import make_progress
from projector.optimize import (
    LOSSES,
    SPACES,
    ProjectConfig,
    Projection,
    WStats,
    compute_w_stats,
    learning_rate,
    project,
    render_projection,
    w_noise_scale,
)
from projector.outputs import ImageResult, OutputWriter, Projected, scores

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


class _Progress:
    """Two bars of the one progress helper (images done, steps of the current batch), or nothing at all."""

    def __init__(self, enabled: bool, total_images: int, steps: int) -> None:
        self.bar = make_progress(enabled) if enabled else None
        if self.bar is not None:
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
    fast: FastPathOptions | None = None,
    schedule: str = "fast",
) -> list[ImageResult]:
    """Project image files (or folders of them) ``batch`` at a time and write, per image, ``{stem}.npz``
    (w, noise maps, meta), ``{stem}_target.png``, ``{stem}_proj.png`` and with ``video`` ``{stem}_proj.mp4``.

    ``perceptual`` is the LPIPS module (a ``PerceptualLoss``; required by the lpips losses, optional for
    'mse' where it only scores the result); ``lpips_label`` names it in the metadata. ``tune`` (a
    ``projector.tune.TuneConfig``) adds pivotal tuning: ``{stem}_tuned.safetensors`` and ``{stem}_tuned.png``.
    ``fast`` is how each step runs (None: the fast path for G's device); ``schedule`` is
    ``projector.schedule``'s 'fast' (default) or 'official'. Images that cannot be read are reported
    through ``log`` and in the result list; the rest go on.
    """
    from projector.preprocess import collect_inputs, target_stem
    from projector.schedule import SCHEDULES

    validate.at_least("--batch", batch, 1)
    if schedule not in SCHEDULES:
        raise SGError(f"--schedule must be one of {', '.join(SCHEDULES)} (got {schedule!r})")
    if cfg.uses_lpips and perceptual is None:
        raise SGError(f"--loss {cfg.loss} needs the LPIPS network (give perceptual=...)")
    paths = collect_inputs(inputs)
    stems = {p: target_stem(p, paths) for p in paths}
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise SGError(f"--outdir {outdir} exists and is not a folder")
    outdir.mkdir(parents=True, exist_ok=True)
    G.eval()
    writer = OutputWriter(
        G, cfg, outdir, perceptual, lpips_label, video, tune, align, model_path, schedule=schedule
    )
    log = log or (lambda m: None)
    stats = compute_w_stats(G, cfg.w_avg_samples)
    results: list[ImageResult] = []
    with _Progress(progress, len(paths), cfg.steps) as bar:
        for group in _load_batches(paths, stems, batch, _loader(G, align), results, log, bar):
            results.extend(_project_batch(writer, group, stems, stats, bar, log, fast))
    order = {p: k for k, p in enumerate(paths)}
    return sorted(results, key=lambda r: order[r.path])


def _loader(G: torch.nn.Module, align: bool) -> Callable[[Path], np.ndarray]:
    """Photo -> uint8 [C, H, W] at the model's size (FFHQ-aligned when asked for)."""
    if align:
        from projector.align import load_aligned_uint8 as load_fn
    else:
        from projector.preprocess import load_target_uint8 as load_fn
    return lambda p: load_fn(p, G.img_resolution, G.img_channels)


def _load_batches(
    inputs: Sequence[Path],
    stems: dict[Path, str],
    batch: int,
    load: Callable[[Path], np.ndarray],
    results: list[ImageResult],
    log: Callable[[str], None],
    progress: _Progress,
) -> Iterator[list[tuple[Path, np.ndarray]]]:
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


def _project_batch(
    writer: OutputWriter,
    group: list[tuple[Path, np.ndarray]],
    stems: dict[Path, str],
    stats: WStats,
    bar: _Progress,
    log: Callable[[str], None],
    fast: FastPathOptions | None,
) -> list[ImageResult]:
    """Optimise one batch (with its video), then write each image's files."""
    from projector.preprocess import uint8_to_tensor

    names = [stems[p] for p, _ in group]
    targets_u8 = torch.stack([torch.from_numpy(a) for _, a in group])
    target = torch.stack([uint8_to_tensor(a) for _, a in group])
    bar.batch(
        f"projecting {', '.join(names) if len(names) <= 3 else f'{len(names)} images'}", writer.cfg.steps
    )
    t0 = time.perf_counter()
    proj, images = _optimise(writer, target, targets_u8, names, stats, bar, fast)
    seconds = (time.perf_counter() - t0) / len(group)
    p, lp = scores(images, targets_u8, writer.perceptual)
    out = []
    for i, (path, _) in enumerate(group):
        item = Projected(
            path=path,
            stem=names[i],
            w=proj.w[i : i + 1],
            noise=[m[i : i + 1] for m in proj.noise],
            image=images[i : i + 1],
            target=target[i : i + 1],
            target_u8=targets_u8[i],
            psnr=float(p[i]),
            lpips=None if lp is None else float(lp[i]),
            seconds=seconds,
        )
        res = writer.write(item)
        lp_txt = "n/a" if res.lpips is None else f"{res.lpips:.4f}"
        tuned = "" if res.tuned_psnr is None else f", tuned PSNR {res.tuned_psnr:.2f} dB"
        log(f"{path}: PSNR {item.psnr:.2f} dB, LPIPS {lp_txt}{tuned} -> {writer.outdir / names[i]}.npz")
        bar.image_done()
        out.append(res)
    return out


def _optimise(
    writer: OutputWriter,
    target: torch.Tensor,
    targets_u8: torch.Tensor,
    names: list[str],
    stats: WStats,
    bar: _Progress,
    fast: FastPathOptions | None,
) -> tuple[Projection, torch.Tensor]:
    """One batch's projection and renders; the videos grow step by step and are removed on failure."""
    video = None
    if writer.video:
        from projector.video import ProjectionVideos

        video = ProjectionVideos(
            [writer.outdir / f"{s}_proj.mp4" for s in names], targets_u8, writer.cfg.steps
        )

    def on_step(step: int, img: torch.Tensor, loss: torch.Tensor) -> None:
        bar.step()
        if video is not None:
            video.add(step, img)

    try:
        from projector.schedule import optimise

        G, cfg = writer.G, writer.cfg
        proj = optimise(writer.schedule, G, target, cfg, writer.perceptual, stats, on_step, fast)
        images = render_projection(writer.G, proj.w, proj.noise)
        if video is not None:
            video.finish(to_uint8(images))
    except BaseException:
        if video is not None:
            video.abort()
        raise
    return proj, images
