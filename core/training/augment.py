"""The ADA augmentation pipeline (Karras et al. 2020, "Training GANs with Limited Data", appendix B).

Every transform is applied to each image independently with probability `p` times its multiplier, is
differentiable, and runs wherever D sees an image (reals, fakes, the R1 term), so G never learns the
augmentations as long as p stays below the leaking point (~0.8 for `bgc`). Parameters and their
distributions are the paper's. Images are in [-1, 1].

Stages, each a no-op (bit for bit) for the samples it did not pick: pixel blitting (exact integer gather),
general geometry (one composed matrix, one anti-aliased resampling), colour (one 4x4 matrix), band
filtering, additive noise, cutout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import nn

from core.training.augment_ops import (
    BAND_POWER,
    LUMA_AXIS,
    apply_color_matrix,
    band_filter,
    blit,
    filter_bank,
    geometric_filter,
    resample_affine,
    rotate2d,
    rotate_around_axis,
    scale2d,
    scale3d,
    translate2d,
    translate3d,
)


@dataclass(frozen=True)
class AugmentSpec:
    """Probability multipliers (0 = off, 1 = at probability p) and the paper's parameter ranges."""

    # Pixel blitting.
    xflip: float = 0
    rotate90: float = 0
    xint: float = 0
    xint_max: float = 0.125  # integer translation range, relative to the image size
    # General geometric transforms.
    scale: float = 0
    rotate: float = 0
    aniso: float = 0
    xfrac: float = 0
    scale_std: float = 0.2  # log2 std of isotropic scaling
    rotate_max: float = 1.0  # rotation range, 1 = full circle
    aniso_std: float = 0.2  # log2 std of anisotropic scaling
    xfrac_std: float = 0.125  # std of fractional translation, relative to the image size
    # Colour transforms.
    brightness: float = 0
    contrast: float = 0
    lumaflip: float = 0
    hue: float = 0
    saturation: float = 0
    brightness_std: float = 0.2
    contrast_std: float = 0.5  # log2 std
    hue_max: float = 1.0  # 1 = full circle
    saturation_std: float = 1.0  # log2 std
    # Image-space filtering.
    imgfilter: float = 0
    imgfilter_bands: tuple[float, float, float, float] = (1, 1, 1, 1)
    imgfilter_std: float = 1.0  # log2 std of a band's gain
    # Corruptions.
    noise: float = 0
    cutout: float = 0
    noise_std: float = 0.1
    cutout_size: float = 0.5  # side of the cut-out square, relative to the image size


_GROUPS = {
    "b": dict(xflip=1, rotate90=1, xint=1),
    "g": dict(scale=1, rotate=1, aniso=1, xfrac=1),
    "c": dict(brightness=1, contrast=1, lumaflip=1, hue=1, saturation=1),
    "f": dict(imgfilter=1),
    "n": dict(noise=1),
    "c2": dict(cutout=1),
}
_PIPE_GROUPS = {
    "blit": ["b"],
    "geom": ["g"],
    "color": ["c"],
    "filter": ["f"],
    "noise": ["n"],
    "cutout": ["c2"],
    "bg": ["b", "g"],
    "bgc": ["b", "g", "c"],
    "bgcf": ["b", "g", "c", "f"],
    "bgcfn": ["b", "g", "c", "f", "n"],
    "bgcfnc": ["b", "g", "c", "f", "n", "c2"],
}
AUGPIPES = tuple(_PIPE_GROUPS)


def augpipe_spec(name: str) -> AugmentSpec:
    """The named combination of the paper (`bgc` is the default of the official trainer)."""
    if name not in _PIPE_GROUPS:
        raise ValueError(f"unknown augmentation pipeline {name!r}; expected one of {', '.join(AUGPIPES)}")
    kwargs: dict[str, float] = {}
    for g in _PIPE_GROUPS[name]:
        kwargs.update(_GROUPS[g])
    return AugmentSpec(**kwargs)


def _chance(n: int, prob: float | torch.Tensor, device: torch.device, shape: tuple = ()) -> torch.Tensor:
    """Per-sample Bernoulli(prob) mask [N, *shape]."""
    return torch.rand([n, *shape], device=device) < prob


class AugmentPipe(nn.Module):
    """Differentiable augmentation of a batch [N, C, H, W] at strength `p` (a buffer: saved, restored)."""

    def __init__(self, spec: AugmentSpec | str = "bgc", p: float = 0.0) -> None:
        super().__init__()
        self.spec = augpipe_spec(spec) if isinstance(spec, str) else spec
        self.register_buffer("p", torch.tensor(float(p), dtype=torch.float32))
        self.register_buffer("geom_filter", geometric_filter(), persistent=False)
        self.register_buffer("band_bank", filter_bank(), persistent=False)

    def extra_repr(self) -> str:
        on = [f.name for f in fields(self.spec) if getattr(self.spec, f.name) == 1]
        return f"p={float(self.p):.4f}, on={on}"

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        p = float(self.p)
        if p <= 0:
            return images
        images = self._geometry(images, p)
        images = self._color(images, p)
        images = self._filter(images, p)
        return self._corrupt(images, p)

    # ---- geometry ----------------------------------------------------------------------------------------

    def _geometry(self, images: torch.Tensor, p: float) -> torch.Tensor:
        """Pixel blitting, then isotropic scaling, rotation, anisotropic scaling and fractional translation,
        composed into one inverse matrix per sample."""
        s, (n, _, h, w), dev = self.spec, images.shape, images.device
        zeros = torch.zeros(n, dtype=torch.long, device=dev)
        flip, rot, tx, ty = zeros, zeros, zeros, zeros
        if s.xflip > 0:
            i = torch.randint(0, 2, [n], device=dev)
            flip = torch.where(_chance(n, s.xflip * p, dev), i, zeros)
        if s.rotate90 > 0:
            i = torch.randint(0, 4, [n], device=dev)
            rot = torch.where(_chance(n, s.rotate90 * p, dev), i, zeros)
        if s.xint > 0:
            t = (torch.rand([n, 2], device=dev) * 2 - 1) * s.xint_max
            t = torch.where(_chance(n, s.xint * p, dev, (1,)), t, torch.zeros_like(t))
            tx, ty = torch.round(t[:, 0] * w).long(), torch.round(t[:, 1] * h).long()

        ones = torch.ones(n, device=dev)
        M = torch.eye(3, device=dev).repeat(n, 1, 1)  # general transforms only (output -> input)
        if s.scale > 0:
            k = torch.exp2(torch.randn(n, device=dev) * s.scale_std)
            k = torch.where(_chance(n, s.scale * p, dev), k, ones)
            M = M @ scale2d(1 / k, 1 / k)
        # Rotation runs before and after the anisotropic scaling, each with the probability that makes
        # P(either) = rotate * p, so that any orientation of the anisotropy is reachable.
        p_rot = 1 - math.sqrt(min(max(1 - s.rotate * p, 0.0), 1.0))
        if s.rotate > 0:
            theta = (torch.rand(n, device=dev) * 2 - 1) * math.pi * s.rotate_max
            theta = torch.where(_chance(n, p_rot, dev), theta, torch.zeros_like(theta))
            M = M @ rotate2d(theta)
        if s.aniso > 0:
            k = torch.exp2(torch.randn(n, device=dev) * s.aniso_std)
            k = torch.where(_chance(n, s.aniso * p, dev), k, ones)
            M = M @ scale2d(1 / k, k)
        if s.rotate > 0:
            theta = (torch.rand(n, device=dev) * 2 - 1) * math.pi * s.rotate_max
            theta = torch.where(_chance(n, p_rot, dev), theta, torch.zeros_like(theta))
            M = M @ rotate2d(theta)
        if s.xfrac > 0:
            t = torch.randn([n, 2], device=dev) * s.xfrac_std
            t = torch.where(_chance(n, s.xfrac * p, dev, (1,)), t, torch.zeros_like(t))
            M = M @ translate2d(-t[:, 0] * w, -t[:, 1] * h)

        # Blitting is exact for every picked sample; the general transforms then cost one resampling.
        # (The official code folds the blit into the matrix; its asymmetric sym6 filter then blurs flips and
        # quarter turns slightly. Only the content reflected in at the border differs from that order.)
        out = images
        blitted = torch.nonzero((flip != 0) | (rot != 0) | (tx != 0) | (ty != 0)).flatten()
        if blitted.numel():
            b = blitted
            out = out.index_copy(0, b, blit(images[b], flip[b], rot[b], tx[b], ty[b]))
        warped = torch.nonzero((M != torch.eye(3, device=dev)).flatten(1).any(dim=1)).flatten()
        if warped.numel():
            g = warped
            out = out.index_copy(0, g, resample_affine(out[g], M[g], self.geom_filter))
        return out

    # ---- colour --------------------------------------------------------------------------------------------

    def _color(self, images: torch.Tensor, p: float) -> torch.Tensor:
        """Brightness, contrast, luma flip, hue rotation and saturation as one 4x4 matrix per sample."""
        s, (n, ch, _, _), dev = self.spec, images.shape, images.device
        if not (s.brightness or s.contrast or s.lumaflip or s.hue or s.saturation):
            return images
        zeros, ones = torch.zeros(n, device=dev), torch.ones(n, device=dev)
        b, c, i, theta, k = zeros, ones, zeros, zeros, ones
        if s.brightness > 0:
            b = torch.randn(n, device=dev) * s.brightness_std
            b = torch.where(_chance(n, s.brightness * p, dev), b, zeros)
        if s.contrast > 0:
            c = torch.exp2(torch.randn(n, device=dev) * s.contrast_std)
            c = torch.where(_chance(n, s.contrast * p, dev), c, ones)
        if s.lumaflip > 0:
            i = torch.randint(0, 2, [n], device=dev).to(zeros.dtype)
            i = torch.where(_chance(n, s.lumaflip * p, dev), i, zeros)
        if s.hue > 0 and ch > 1:
            theta = (torch.rand(n, device=dev) * 2 - 1) * math.pi * s.hue_max
            theta = torch.where(_chance(n, s.hue * p, dev), theta, zeros)
        if s.saturation > 0 and ch > 1:
            k = torch.exp2(torch.randn(n, device=dev) * s.saturation_std)
            k = torch.where(_chance(n, s.saturation * p, dev), k, ones)
        C = color_matrix(b, c, i, theta, k)
        picked = torch.nonzero((C != torch.eye(4, device=dev)).flatten(1).any(dim=1)).flatten()
        if not picked.numel():
            return images
        return images.index_copy(0, picked, apply_color_matrix(images[picked], C[picked].to(images.dtype)))

    # ---- filtering and corruptions -------------------------------------------------------------------------

    def _filter(self, images: torch.Tensor, p: float) -> torch.Tensor:
        """Random gains per frequency band, renormalised so the expected power spectrum stays the same."""
        s, n, dev = self.spec, images.shape[0], images.device
        if not s.imgfilter > 0:
            return images
        power = torch.as_tensor(BAND_POWER, dtype=torch.float32, device=dev)
        gains = torch.ones([n, 4], device=dev)
        picked = torch.zeros(n, dtype=torch.bool, device=dev)
        for i, strength in enumerate(s.imgfilter_bands):
            g = torch.exp2(torch.randn(n, device=dev) * s.imgfilter_std)
            hit = _chance(n, s.imgfilter * p * strength, dev)
            t = torch.ones([n, 4], device=dev)
            t[:, i] = torch.where(hit, g, torch.ones_like(g))
            t = t / (power * t.square()).sum(dim=-1, keepdim=True).sqrt()
            gains = gains * t
            picked |= hit
        idx = torch.nonzero(picked).flatten()
        if not idx.numel():
            return images
        taps = gains[idx] @ self.band_bank.to(gains.dtype)
        return images.index_copy(0, idx, band_filter(images[idx], taps))

    def _corrupt(self, images: torch.Tensor, p: float) -> torch.Tensor:
        s, (n, ch, h, w), dev = self.spec, images.shape, images.device
        if s.noise > 0:
            sigma = torch.randn([n, 1, 1, 1], device=dev).abs() * s.noise_std
            sigma = torch.where(_chance(n, s.noise * p, dev, (1, 1, 1)), sigma, torch.zeros_like(sigma))
            images = images + torch.randn([n, ch, h, w], device=dev) * sigma
        if s.cutout > 0:
            size = torch.where(_chance(n, s.cutout * p, dev, (1, 1)), s.cutout_size, 0.0)  # [N, 1, 1]
            centre = torch.rand([n, 2, 1, 1], device=dev)
            xs = (torch.arange(w, device=dev).reshape(1, 1, -1) + 0.5) / w
            ys = (torch.arange(h, device=dev).reshape(1, -1, 1) + 0.5) / h
            keep = ((xs - centre[:, 0]).abs() >= size / 2) | ((ys - centre[:, 1]).abs() >= size / 2)
            images = images * keep.unsqueeze(1).to(images.dtype)
        return images


def blit_matrix(flip: torch.Tensor, rot: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    """The inverse matrix [N, 3, 3] that `blit` applies: x-flip @ quarter turns @ translation by -t."""
    f = 1 - 2 * flip.float()
    k = rot % 4
    c = torch.where(k == 0, 1.0, torch.where(k == 2, -1.0, 0.0))
    s = torch.where(k == 1, 1.0, torch.where(k == 3, -1.0, 0.0))
    zero, one = torch.zeros_like(f), torch.ones_like(f)
    R = torch.stack([c, -s, zero, s, c, zero, zero, zero, one], dim=-1).reshape(-1, 3, 3)
    return scale2d(f, one) @ R @ translate2d(-tx.float(), -ty.float())


def color_matrix(
    brightness: torch.Tensor,
    contrast: torch.Tensor,
    lumaflip: torch.Tensor,
    hue: torch.Tensor,
    saturation: torch.Tensor,
) -> torch.Tensor:
    """C [N, 4, 4] (colour_out = C @ colour_in) applying, in this order: + brightness, * contrast, a luma flip
    where lumaflip = 1, a hue rotation by `hue` radians around the luma axis, and saturation scaling.
    Identity parameters (0, 1, 0, 0, 1) give exactly the identity."""
    C = translate3d(brightness)
    C = scale3d(contrast) @ C
    C = luma_flip_matrix(lumaflip) @ C
    C = rotate_around_axis(LUMA_AXIS, hue) @ C
    return saturation_matrix(saturation) @ C


def luma_flip_matrix(i: torch.Tensor) -> torch.Tensor:
    """Householder reflection of colours through the plane normal to the luma axis when i = 1."""
    v = torch.as_tensor(LUMA_AXIS, dtype=torch.float32, device=i.device)
    return torch.eye(4, device=i.device) - 2 * torch.outer(v, v) * i.reshape(-1, 1, 1)


def saturation_matrix(k: torch.Tensor) -> torch.Tensor:
    """Scale the chroma (the part orthogonal to the luma axis) by k; exactly the identity at k = 1."""
    v = torch.as_tensor(LUMA_AXIS, dtype=torch.float32, device=k.device)
    eye = torch.eye(4, device=k.device)
    return eye + (eye - torch.outer(v, v)) * (k.reshape(-1, 1, 1) - 1)


SMALL_DATASET = 5000  # below this, D overfits within a few hundred kimg without augmentation (ADA, fig. 1)


def small_dataset_hint(num_images: int, aug: str | None = None) -> str | None:
    """What to tell someone about to train on few images without ADA (None: nothing to say)."""
    if num_images >= SMALL_DATASET or aug == "ada":
        return None
    return (
        f"{num_images:,} images is a small dataset: without augmentation D overfits within a few hundred "
        "kimg and training collapses; train with --aug ada (the default of sg train), and when fine-tuning a "
        "pretrained model also try --freezed"
    )


__all__ = [
    "AUGPIPES",
    "AugmentPipe",
    "AugmentSpec",
    "augpipe_spec",
    "blit_matrix",
    "color_matrix",
    "small_dataset_hint",
]
