"""Keyframe paths for latent walks: spherical in z (the Gaussian's mass lives on a shell), linear in W.

A path through K keyframes with ``steps`` frames per transition has ``steps*(K-1)+1`` frames, or
``steps*K`` with ``loop`` (the last transition returns to the first keyframe, which is not repeated).
Frames that land on a keyframe are the keyframe itself, bit for bit, not a recomputed blend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from core.errors import SGError

__all__ = ["Step", "frame_schedule", "lerp", "slerp", "interpolate", "interpolate_noise"]


@dataclass(frozen=True)
class Step:
    """One frame: blend ``t`` of the way from keyframe ``a`` to keyframe ``b``."""

    a: int
    b: int
    t: float


def frame_schedule(num_keys: int, steps: int, loop: bool = False) -> list[Step]:
    """The frame list for ``num_keys`` keyframes, ``steps`` frames per transition."""
    if num_keys < 2:
        raise SGError(f"interpolation needs at least 2 keyframes (got {num_keys})")
    if steps < 1:
        raise SGError(f"--steps must be >= 1 (got {steps})")
    transitions = num_keys if loop else num_keys - 1
    frames = [Step(k, (k + 1) % num_keys, j / steps) for k in range(transitions) for j in range(steps)]
    if not loop:
        frames.append(Step(num_keys - 1, num_keys - 1, 0.0))
    return frames


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear blend; t is a float or broadcasts against a and b."""
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical blend along the last dim: the angle is interpolated and the norm linearly, so z stays on
    the shell where N(0, I) samples live; (anti)parallel vectors fall back to a linear blend."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    na = a.norm(dim=-1, keepdim=True)
    nb = b.norm(dim=-1, keepdim=True)
    ua = a / na.clamp_min(eps)
    ub = b / nb.clamp_min(eps)
    cos = (ua * ub).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    safe = so.abs() > 1e-6
    so_safe = torch.where(safe, so, torch.ones_like(so))
    wa = torch.where(safe, torch.sin((1 - t) * omega) / so_safe, 1 - t)
    wb = torch.where(safe, torch.sin(t * omega) / so_safe, t)
    direction = wa * ua + wb * ub
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(eps)
    return direction * lerp(na, nb, t)


def interpolate(keys: torch.Tensor, steps: Sequence[Step], method: str = "lerp") -> torch.Tensor:
    """keys [K, ...] -> frames [F, ...] for the given schedule (``method`` 'lerp' or 'slerp')."""
    if method not in ("lerp", "slerp"):
        raise ValueError(f"method must be 'lerp' or 'slerp' (got {method!r})")
    blend = slerp if method == "slerp" else lerp
    out = []
    for s in steps:
        if s.t == 0 or s.a == s.b:
            out.append(keys[s.a].clone())  # exactly the keyframe
        else:
            out.append(blend(keys[s.a], keys[s.b], s.t))
    return torch.stack(out)


def interpolate_noise(
    key_noise: Sequence[Sequence[torch.Tensor]], steps: Sequence[Step]
) -> list[torch.Tensor]:
    """Per-keyframe noise maps (list over keys of lists over layers, each [1,1,r,r]) -> per-layer maps
    [F,1,r,r], blended linearly (mid-way maps have a little less variance than unit noise; fine for walks)."""
    layers = len(key_noise[0])
    out = []
    for i in range(layers):
        keys = torch.cat([kn[i].reshape(1, 1, *kn[i].shape[-2:]) for kn in key_noise])
        out.append(interpolate(keys, steps, "lerp"))
    return out
