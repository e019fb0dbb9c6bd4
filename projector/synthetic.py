"""Projection targets with a known answer, for the tests and bench/project_quality.py.

No trained model can be downloaded here, so the model is a small random StyleGAN2 with two adjustments
that make it behave like a trained one where projection is concerned: noise strengths of 0.05 (re-drawing
the noise changes an image by about as much as in trained models) and ToRGB weights x0.3 (images mostly
inside [-1, 1] instead of std 2).
"""

from __future__ import annotations

import torch

from core.images import to_uint8
from core.networks import GeneratorConfig, build_generator
from projector.preprocess import uint8_to_tensor


def trained_like_generator(res: int, width: int = 32, seed: int = 0) -> torch.nn.Module:
    """A random StyleGAN2 at `res` px with z, w and at most `width` channels, tweaked as described above."""
    torch.manual_seed(seed)
    cfg = GeneratorConfig(
        z_dim=width,
        w_dim=width,
        img_resolution=res,
        channel_base=16 * res,
        channel_max=width,
        map_layers=2,
        num_fp16_res=0,
    )
    G = build_generator(cfg).eval().requires_grad_(False)
    with torch.no_grad():
        for layer in G.synthesis.noise_layers():
            layer.noise_strength.fill_(0.05)
        for block in G.synthesis.blocks():
            block.torgb.weight.mul_(0.3)
    return G


def as_png(img: torch.Tensor) -> torch.Tensor:
    """Quantise like a saved PNG and back to [-1, 1]."""
    return torch.stack([uint8_to_tensor(a.numpy()) for a in to_uint8(img)])


def generated_targets(
    G: torch.nn.Module, n: int, seed: int = 0, noise_seed: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """n images of known w (seeded z), rendered with fresh random noise the projector never sees and
    quantised like PNGs; returns (ws, targets)."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=gen)
    with torch.no_grad():
        ws = G.mapping(z, None)
        torch.manual_seed(seed + 1 if noise_seed is None else noise_seed)
        img = G.synthesis(ws, noise_mode="random")
    return ws, as_png(img)
