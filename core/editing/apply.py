"""Moving latents along directions: w[layers] += strength * scale * d, several directions at once.

Edits act on [N, num_ws, w_dim] latents layer by layer, so a W+ latent (a projected photo) stays W+ and a
W latent edited on a subset of its layers becomes W+. A zero strength is skipped, not added, so strength 0
returns the input bit for bit (adding 0.0 would turn -0.0 into +0.0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.editing.format import Directions
from core.errors import SGError

__all__ = ["Edit", "apply_edits", "sweep_strengths", "parse_strength_range", "check_directions_fit"]


@dataclass
class Edit:
    """One direction to apply: unit vector [w_dim], its scale, the w layers it moves, and either a fixed
    strength or None (swept along --strength)."""

    name: str
    vector: torch.Tensor
    scale: float
    layers: list[int]
    strength: float | None
    source: str

    def record(self, strength: float) -> dict:
        """What an edited latent file stores about this edit."""
        return {
            "direction": self.source,
            "name": self.name,
            "strength": float(strength),
            "scale": float(self.scale),
            "layers": list(self.layers),
        }


def apply_edits(ws: torch.Tensor, edits: Sequence[tuple[Edit, float]]) -> torch.Tensor:
    """A copy of ``ws`` [N, num_ws, w_dim] moved by ``strength * scale * vector`` on each edit's layers."""
    if ws.ndim != 3:
        raise SGError(f"expected latents [N, num_ws, w_dim], got shape {list(ws.shape)}")
    out = ws.clone()
    for edit, strength in edits:
        if strength == 0 or not edit.layers:
            continue
        if edit.vector.shape[-1] != ws.shape[-1]:
            raise SGError(
                f"direction {edit.name!r} has w_dim {edit.vector.shape[-1]}, latents {ws.shape[-1]}"
            )
        if max(edit.layers) >= ws.shape[1]:
            raise SGError(
                f"direction {edit.name!r} moves layer {max(edit.layers)}; latents have {ws.shape[1]}"
            )
        step = (float(strength) * float(edit.scale)) * edit.vector.to(dtype=ws.dtype, device=ws.device)
        out[:, edit.layers, :] = out[:, edit.layers, :] + step
    return out


def parse_strength_range(spec: str) -> tuple[float, float]:
    """'-3:3' -> (-3.0, 3.0); a single number 'S' -> (S, S)."""
    lo_s, sep, hi_s = str(spec).partition(":")
    try:
        lo = float(lo_s)
        hi = float(hi_s) if sep else lo
    except ValueError:
        raise SGError(f"--strength {spec!r}: expected LOW:HIGH like -3:3, or one number") from None
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise SGError(f"--strength {spec!r} must be finite")
    if lo > hi:
        raise SGError(f"--strength {spec!r} runs backwards; write {hi:g}:{lo:g}")
    return lo, hi


def sweep_strengths(lo: float, hi: float, steps: int) -> list[float]:
    """Strengths from lo to hi; a range around 0 puts exactly 0 (the original) in the middle column."""
    if steps < 1:
        raise SGError(f"--steps must be >= 1 (got {steps})")
    if lo == hi or steps == 1:
        return [lo] if lo == hi else [0.0 if lo < 0 < hi else lo]
    if lo < 0 < hi:
        if steps % 2 == 0:
            raise SGError(
                f"--steps {steps}: use an odd number so the original (strength 0) sits in the middle"
            )
        half = steps // 2
        left = np.linspace(lo, 0.0, half + 1)[:-1]
        right = np.linspace(0.0, hi, half + 1)[1:]
        return [float(s) for s in left] + [0.0] + [float(s) for s in right]
    return [float(s) for s in np.linspace(lo, hi, steps)]


def check_directions_fit(
    dirs: Directions,
    w_dim: int,
    num_ws: int,
    model_hashes: Sequence[str],
    where: str,
    force: bool = False,
) -> None:
    """Directions found on one model do not transfer to another: w_dim and num_ws must agree, and the
    file's model hash must be one of ``model_hashes`` (the rendering model's, and the model the input
    latents were made with, which covers a PTI-tuned copy). ``force`` skips only the hash check."""
    if dirs.w_dim != w_dim:
        raise SGError(f"{where}: directions have w_dim={dirs.w_dim} but the model has w_dim={w_dim}")
    if dirs.num_ws != num_ws:
        raise SGError(f"{where}: directions are for num_ws={dirs.num_ws} but the model has num_ws={num_ws}")
    theirs = dirs.model_hash
    known = [h for h in model_hashes if h]
    if not force and theirs and known and theirs not in known:
        src = dirs.meta.get("model", "another model")
        raise SGError(
            f"{where}: directions were found on a different model ({src}, hash {theirs}; this model is "
            f"{known[0]}); use --any-model to apply them anyway"
        )
