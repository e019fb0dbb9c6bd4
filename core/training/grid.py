"""Sample grids written with each snapshot: the same latents every time, so grids show progress.

Conditional runs get one row per class (up to 16 classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.data import ImageDataset, one_hot
from core.images import make_grid, save_png, to_uint8


@dataclass
class GridSpec:
    z: torch.Tensor  # [N, z_dim]
    c: torch.Tensor | None  # [N, c_dim] one-hot or None
    cols: int


def grid_shape(resolution: int) -> tuple[int, int]:
    """(cols, rows): about 512 px wide, between 4 and 16 images a side."""
    side = int(np.clip(512 // resolution, 4, 16))
    return side, side


def make_grid_spec(z_dim: int, c_dim: int, resolution: int, seed: int = 0) -> GridSpec:
    """Fixed latents from a private generator: drawing them leaves the training RNG untouched."""
    cols, rows = grid_shape(resolution)
    c = None
    if c_dim > 0:
        rows = min(c_dim, 16)
        c = one_hot(torch.arange(rows).repeat_interleave(cols), c_dim)
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(rows * cols, z_dim, generator=gen)
    return GridSpec(z=z, c=c, cols=cols)


@torch.no_grad()
def save_fakes(G: torch.nn.Module, spec: GridSpec, path: str | Path, batch: int = 32) -> Path:
    """G's images for the grid latents (noise const, no truncation) as one PNG."""
    device = next(G.parameters()).device
    out = []
    for i in range(0, spec.z.shape[0], batch):
        z = spec.z[i : i + batch].to(device)
        c = spec.c[i : i + batch].to(device) if spec.c is not None else None
        out.append(to_uint8(G(z, c, noise_mode="const")).cpu())
    return save_png(make_grid(torch.cat(out), spec.cols), path)


def save_reals(dataset: ImageDataset, resolution: int, path: str | Path, seed: int = 0) -> Path:
    """A grid of training images (per class for labelled data) to compare the fakes against."""
    cols, rows = grid_shape(resolution)
    rng = np.random.default_rng(seed)
    labels = dataset.labels
    if dataset.has_labels and labels is not None:
        rows = min(dataset.num_classes, 16)
        idx = []
        for k in range(rows):
            members = np.flatnonzero(labels == k)
            pick = rng.choice(members, size=cols, replace=len(members) < cols) if len(members) else []
            idx.extend(int(i) for i in pick)
    else:
        idx = rng.choice(len(dataset), size=min(rows * cols, len(dataset)), replace=False).tolist()
    images, _ = dataset.get_batch(idx)
    return save_png(make_grid(images.permute(0, 2, 3, 1).contiguous(), cols), path)
