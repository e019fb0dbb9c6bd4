"""Images (and their latents) written to a folder: from seeds, in bulk, or re-rendered from an .npz.

What `sg sample` does once its options are checked; progress goes through an ``advance(n)`` callback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.errors import SGError
from core.generate import (
    NOISE_MODES,
    batch_ranges,
    random_classes,
    render_uint8,
    retruncate,
    seed_latents,
    take_noise,
)
from core.images import make_grid, save_png
from core.latents import Latents, load_latents, model_record, validate_noise

Advance = Callable[[int], None]


@dataclass(frozen=True)
class Rendering:
    """How latents become images: truncation (psi None: as stored / 1), noise mode, batch size."""

    psi: float | None = None
    cutoff: int | None = None
    noise_mode: str | None = None  # None: const, or what a latent file recorded
    batch: int = 8


def seed_plan(
    c_dim: int, seed_list: list[int], num: int | None, seed: int, class_idx: int | None
) -> tuple[list[int], list[str], list[int] | None, str | None]:
    """(seeds, file names, classes, note) for `sg sample`: --seeds as given (a conditional model needs
    --class), or --num images from --seed on (a random class per image, reproducible, unless --class)."""
    classes: list[int] | None = None
    note = None
    if num is None:
        if c_dim and class_idx is None:
            raise SGError(f"the model is conditional with {c_dim} classes: give --class 0..{c_dim - 1}")
        names = [f"seed{s:04d}" for s in seed_list]
    else:
        seed_list = list(range(seed, seed + num))
        names = [f"img{i:06d}" for i in range(num)]
        if c_dim and class_idx is None:
            note = (
                f"conditional model: picking a random class (0..{c_dim - 1}) per image, "
                f"reproducible from --seed {seed}; pass --class to fix one"
            )
            classes = random_classes(c_dim, num, seed)
    if c_dim and classes is None:
        classes = [class_idx] * len(seed_list)
    return seed_list, names, classes, note


def grid_cols(n: int) -> int:
    """A near-square grid."""
    return max(1, int(np.ceil(np.sqrt(n))))


def write_grid(images: list[np.ndarray], outdir: Path) -> Path:
    return save_png(make_grid(np.stack(images), grid_cols(len(images))), outdir / "grid.png")


def _latent_record(lat: Latents, i: int, meta: dict) -> Latents:
    """Latent i of a batch as its own one-latent file (noise maps sliced to that image)."""
    noise = take_noise(lat.noise, i, i + 1)
    return Latents(w=lat.w[i : i + 1], z=None if lat.z is None else lat.z[i : i + 1], noise=noise, meta=meta)


def write_seed_images(
    G: torch.nn.Module,
    seeds: list[int],
    classes: list[int] | None,
    names: list[str],
    outdir: Path,
    how: Rendering,
    model_path: Path | None = None,
    keep: bool = False,
    advance: Advance = lambda n: None,
) -> list[np.ndarray]:
    """`{name}.png` per seed (and `{name}.npz` with its w, noise and settings when ``model_path`` is given,
    which the npz records); returns the uint8 images when ``keep`` (for a grid)."""
    psi, mode = 1.0 if how.psi is None else float(how.psi), how.noise_mode or "const"
    record = model_record(model_path) if model_path is not None else None
    kept: list[np.ndarray] = []
    for start, stop in batch_ranges(len(seeds), how.batch):
        cls = classes[start:stop] if classes is not None else None
        lat = seed_latents(G, seeds[start:stop], cls, psi, how.cutoff, mode)
        for j0, imgs in render_uint8(G, lat.w, mode, lat.noise, batch=stop - start):
            for j, img in enumerate(imgs, start=j0):
                name = names[start + j]
                save_png(img, outdir / f"{name}.png")
                if record is not None:
                    meta = {
                        "space": "w",
                        "seed": seeds[start + j],
                        "psi": psi,
                        "trunc_cutoff": how.cutoff,
                        "noise_mode": mode,
                        "class": None if cls is None else cls[j],
                        "num_ws": G.num_ws,
                        "w_dim": G.w_dim,
                        "resolution": G.img_resolution,
                        **record,
                    }
                    _latent_record(lat, j, meta).save(outdir / f"{name}.npz")
                if keep:
                    kept.append(img.numpy())
        advance(stop - start)
    return kept


def write_latent_images(
    G: torch.nn.Module,
    path: Path,
    outdir: Path,
    how: Rendering,
    keep: bool = False,
    advance: Advance = lambda n: None,
) -> tuple[int, str, list[np.ndarray]]:
    """Every latent of an .npz as `{stem}.png` (`{stem}_NN.png` for several), with its stored noise maps when
    it has them (an exact re-render); returns how many, what noise was used and the kept images."""
    lat = load_latents(path, num_ws=G.num_ws, w_dim=G.w_dim)
    n = lat.num
    noise = None
    if lat.noise:
        noise = validate_noise(lat.noise, [layer.resolution for layer in G.synthesis.noise_layers()], batch=n)
    stored = lat.meta.get("noise_mode")
    mode = how.noise_mode or (stored if stored in NOISE_MODES else "const")
    ws = retruncate(G, lat.w.to(G.mapping.w_avg.device), how.psi, how.cutoff)
    names = [path.stem] if n == 1 else [f"{path.stem}_{i:02d}" for i in range(n)]
    kept: list[np.ndarray] = []
    for start, imgs in render_uint8(G, ws, mode, noise, batch=how.batch):
        for j, img in enumerate(imgs, start=start):
            save_png(img, outdir / f"{names[j]}.png")
            if keep:
                kept.append(img.numpy())
        advance(imgs.shape[0])
    return n, ("stored noise maps" if noise is not None else f"noise {mode}"), kept


def latent_count(G: torch.nn.Module, path: Path) -> int:
    """How many latents an .npz holds (for a progress total), checked against the model."""
    return load_latents(path, num_ws=G.num_ws, w_dim=G.w_dim).num
