"""What a projection leaves on disk, per image: ``{stem}.npz`` (w, noise maps, scores, settings),
``{stem}_target.png``, ``{stem}_proj.png``, and with pivotal tuning ``{stem}_tuned.safetensors`` / ``.png``.
(``{stem}_proj.mp4`` is written while optimising, by ``projector.video``.)
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from core.images import save_png, to_uint8
from core.latents import Latents, model_record
from projector.metrics import psnr
from projector.optimize import ProjectConfig, render_projection

if TYPE_CHECKING:
    from projector.tune import TuneConfig


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


@dataclass
class Projected:
    """One image's optimisation outcome, ready to be written."""

    path: Path  # the input photo
    stem: str
    w: torch.Tensor  # [1, num_ws, w_dim]
    noise: list[torch.Tensor]  # [1, 1, r, r] each
    image: torch.Tensor  # [1, C, H, W] float render of (w, noise)
    target: torch.Tensor  # [1, C, H, W] float in [-1, 1]
    target_u8: torch.Tensor  # [C, H, W] uint8, what {stem}_target.png holds
    psnr: float
    lpips: float | None
    seconds: float  # optimisation time per image


def finite_or_none(x: float) -> float | None:
    """JSON metadata refuses inf/nan: a perfect reconstruction's infinite PSNR is stored as null."""
    return float(x) if math.isfinite(x) else None


def scores(
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


@dataclass
class OutputWriter:
    """Writes every projected image of one ``project_images`` call into ``outdir``."""

    G: torch.nn.Module
    cfg: ProjectConfig
    outdir: Path
    perceptual: torch.nn.Module | None = None
    lpips_label: str = "lpips-vgg16"
    video: bool = False  # {stem}_proj.mp4 was written during the optimisation
    tune: TuneConfig | None = None
    align: bool = False
    model_path: str | os.PathLike[str] | None = None
    schedule: str = "official"  # projector.schedule: which optimisation schedule ran

    def write(self, item: Projected) -> ImageResult:
        """The target and projection PNGs and the latent file (then pivotal tuning, when asked for)."""
        files = [
            save_png(item.target_u8, self.outdir / f"{item.stem}_target.png"),
            save_png(to_uint8(item.image)[0], self.outdir / f"{item.stem}_proj.png"),
        ]
        lat = Latents(w=item.w, noise=item.noise, meta=self.latent_meta(item))
        files.append(lat.save(self.outdir / f"{item.stem}.npz"))
        if self.video:
            files.append(self.outdir / f"{item.stem}_proj.mp4")
        res = ImageResult(path=item.path, stem=item.stem, lpips=item.lpips, psnr=item.psnr, files=files)
        if self.tune is not None:
            self.write_tuned(res, item)
        return res

    def latent_meta(self, item: Projected) -> dict[str, object]:
        """The npz's JSON meta: settings, scores and where the latent came from."""
        G, cfg = self.G, self.cfg
        meta = {
            "space": cfg.space,
            "steps": cfg.steps,
            "loss": cfg.loss,
            "seed": cfg.seed,
            "lr": cfg.lr,
            "noise_optimized": cfg.optimize_noise,
            "schedule": self.schedule,
            "source": str(item.path),
            "psnr": finite_or_none(item.psnr),
            "lpips": item.lpips,
            "lpips_net": self.lpips_label if item.lpips is not None else None,
            "aligned": self.align,
            "num_ws": G.num_ws,
            "w_dim": G.w_dim,
            "resolution": G.img_resolution,
            "seconds": round(item.seconds, 3),
            "projector": dataclasses.asdict(cfg),
        }
        if self.model_path is not None:
            meta.update(
                model_record(self.model_path)
            )  # absolute path + content hash: `sg mix a.npz` finds it
        return meta

    def write_tuned(self, res: ImageResult, item: Projected) -> None:
        """Pivotal tuning of a copy of G around the projection; writes the tuned model and its render."""
        from core.checkpoint import save_checkpoint
        from projector.tune import tune_generator

        G_t = tune_generator(self.G, item.w, item.noise, item.target, self.tune, self.perceptual)
        img = render_projection(G_t, item.w, item.noise)
        p, lp = scores(img, item.target_u8[None], self.perceptual)
        res.tuned_psnr, res.tuned_lpips = finite_or_none(float(p[0])), None if lp is None else float(lp[0])
        res.files.append(save_png(to_uint8(img)[0], self.outdir / f"{res.stem}_tuned.png"))
        meta = {
            "tuned": "pivotal tuning (PTI) of the model around one projected latent",
            "pivot_latents": f"{res.stem}.npz",
            "source_image": str(res.path),
            "tune_steps": str(self.tune.steps),
            "tune_lr": repr(self.tune.lr),
            "tune_loss": "lpips+l2" if self.perceptual is not None else "l2",
            "tune_psnr": repr(res.tuned_psnr),
            "tune_lpips": repr(res.tuned_lpips),
        }
        if self.model_path is not None:
            meta["tuned_from"] = str(self.model_path)
        save_checkpoint(self.outdir / f"{res.stem}_tuned.safetensors", G_t, extra_meta=meta)
