"""Perceptual path length (Karras et al. 2019, section 3.1) as the official StyleGAN2-ADA metric measures it.

Per sample: two latents, a point t on the path between them (t = 0 for 'end' sampling, uniform for 'full'),
images at t and t + epsilon (lerp in W, slerp in Z), fresh random constant noise, optional face crop, area
down-sampling to 256 px, then LPIPS(img_t, img_t+eps) / epsilon^2. The metric is the mean of those values
between their 1st and 99th percentiles. LPIPS comes in as a function so core needs no projector code.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import torch

LpipsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # [-1, 1] RGB images -> [N] distances


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between the directions of a and b (unit vectors out)."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(dim=-1, keepdim=True)
    angle = t * torch.acos(cos)
    ortho = b - cos * a
    ortho = ortho / ortho.norm(dim=-1, keepdim=True)
    out = a * torch.cos(angle) + ortho * torch.sin(angle)
    return out / out.norm(dim=-1, keepdim=True)


def face_crop(img: torch.Tensor) -> torch.Tensor:
    """The official PPL crop for aligned faces: rows 3/8..7/8, columns 2/8..6/8 of a square image."""
    if img.shape[2] != img.shape[3]:
        raise ValueError(f"the face crop needs square images, got {img.shape[2]}x{img.shape[3]}")
    c = img.shape[2] // 8
    return img[:, :, c * 3 : c * 7, c * 2 : c * 6]


def to_lpips_input(img: torch.Tensor, resolution: int) -> torch.Tensor:
    """Area down-sampling by the integer factor resolution // 256 (when > 1) and grayscale as RGB."""
    factor = resolution // 256
    if factor > 1:
        n, ch, h, w = img.shape
        img = img.reshape(n, ch, h // factor, factor, w // factor, factor).mean(dim=(3, 5))
    if img.shape[1] == 1:
        img = img.expand(-1, 3, -1, -1)
    return img


def randomize_noise(G: torch.nn.Module, gen: torch.Generator) -> None:
    """New N(0, 1) constant noise maps, drawn in buffer order (the official sampler does this per batch)."""
    for name, buf in G.named_buffers():
        if name.endswith("noise_const"):
            buf.copy_(torch.randn(buf.shape, generator=gen).to(buf))


@torch.no_grad()
def path_distances(
    G: torch.nn.Module,
    lpips: LpipsFn,
    z0: torch.Tensor,
    z1: torch.Tensor,
    t: torch.Tensor,
    c: torch.Tensor | None = None,
    epsilon: float = 1e-4,
    space: str = "w",
    crop: bool = False,
) -> torch.Tensor:
    """LPIPS(img(t), img(t + epsilon)) / epsilon^2 for each latent pair [N]; G's noise as it stands."""
    if space not in ("w", "z"):
        raise ValueError(f"space must be 'w' or 'z', got {space!r}")
    n = z0.shape[0]
    cc = None if c is None else torch.cat([c, c])
    if space == "w":
        w0, w1 = G.mapping(torch.cat([z0, z1]), cc).chunk(2)
        tt = t.view(-1, 1, 1).to(w0)
        wt0, wt1 = w0.lerp(w1, tt), w0.lerp(w1, tt + epsilon)
    else:
        tt = t.view(-1, 1).to(z0)
        wt0, wt1 = G.mapping(torch.cat([slerp(z0, z1, tt), slerp(z0, z1, tt + epsilon)]), cc).chunk(2)
    img = G.synthesis(torch.cat([wt0, wt1]), noise_mode="const", force_fp32=True)
    if crop:
        img = face_crop(img)
    img = to_lpips_input(img, int(G.img_resolution))
    d = lpips(img[:n], img[n:]).reshape(n)
    return d / epsilon**2


def trimmed_mean(dist: np.ndarray) -> float:
    """Mean of the values between the 1st ('lower') and 99th ('higher') percentiles, as the official PPL."""
    dist = np.asarray(dist, dtype=np.float64)
    lo = np.percentile(dist, 1, method="lower")
    hi = np.percentile(dist, 99, method="higher")
    return float(dist[(dist >= lo) & (dist <= hi)].mean())


def ppl(
    G: torch.nn.Module,
    lpips: LpipsFn,
    num: int = 50000,
    epsilon: float = 1e-4,
    space: str = "w",
    sampling: str = "end",
    crop: bool = False,
    batch: int = 2,
    seed: int = 0,
    labels: np.ndarray | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> tuple[float, np.ndarray]:
    """The PPL metric and its per-sample distances. `labels`: one-hot rows to draw conditioning from (the
    dataset's, as the official code does) for conditional G. Random draws come from one CPU generator
    seeded with `seed`, per batch: t, then z0|z1, then the noise maps, then the labels."""
    if sampling not in ("end", "full"):
        raise ValueError(f"sampling must be 'end' or 'full', got {sampling!r}")
    G = copy.deepcopy(G).eval().requires_grad_(False)  # its noise buffers get overwritten
    dev = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    c_dim = int(getattr(G, "c_dim", 0) or 0)
    out = []
    for start in range(0, num, batch):
        b = min(batch, num - start)
        t = torch.rand(b, generator=gen) * (1.0 if sampling == "full" else 0.0)
        z0, z1 = torch.randn(2 * b, int(G.z_dim), generator=gen).chunk(2)
        randomize_noise(G, gen)
        c = None
        if c_dim > 0:
            if labels is None or len(labels) == 0:
                raise ValueError("a conditional generator needs dataset labels for PPL")
            pick = torch.randint(0, len(labels), (b,), generator=gen).numpy()
            c = torch.as_tensor(np.asarray(labels)[pick], dtype=torch.float32).to(dev)
        d = path_distances(G, lpips, z0.to(dev), z1.to(dev), t.to(dev), c, epsilon, space, crop)
        out.append(d.cpu().double().numpy())
        if on_batch is not None:
            on_batch(b)
    dist = np.concatenate(out)
    return trimmed_mean(dist), dist
