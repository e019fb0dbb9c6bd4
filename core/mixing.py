"""Style mixing: which w layers to swap (a small spec language) and the swap itself.

Layer words follow the StyleGAN paper's split by resolution: coarse = 4-8 px, middle = 16-32 px,
fine = 64 px and up. The w index i drives the layers at ``4 * 2**(i // 2)`` px: two ws per resolution,
as in StyleGAN, where index 2k and 2k+1 style the two convolutions at 4*2**k px (in StyleGAN2 the odd
index also feeds the ToRGB of the previous resolution). So for any model coarse = 0-3, middle = 4-7,
fine = 8..num_ws-1 (18 ws at 1024 px: fine = 8-17; a 16 px model, 6 ws, has no fine layers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from core.errors import SGError

__all__ = ["LAYER_WORDS", "layer_resolution", "layer_groups", "parse_layers", "mix_ws", "mixing_grid_ws"]

# Word -> inclusive resolution range in px (None = no upper bound).
LAYER_WORDS: dict[str, tuple[int, int | None]] = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, None)}
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


def layer_resolution(index: int) -> int:
    """Resolution in px of the layers styled by w index ``index``."""
    return 4 * 2 ** (index // 2)


def layer_groups(num_ws: int) -> dict[str, list[int]]:
    """The w indices of each word for a model with ``num_ws`` ws (a group may be empty for small models)."""
    out: dict[str, list[int]] = {}
    for word, (lo, hi) in LAYER_WORDS.items():
        out[word] = [
            i
            for i in range(num_ws)
            if lo <= layer_resolution(i) and (hi is None or layer_resolution(i) <= hi)
        ]
    return out


def parse_layers(spec: str, num_ws: int) -> list[int]:
    """'0-3,8,10-13', 'coarse', 'middle,fine', 'all' -> sorted unique w indices, each checked < num_ws."""
    if spec is None or not str(spec).strip():
        raise SGError("empty layer spec; use e.g. 0-3,8 or coarse, middle, fine, all")
    groups = layer_groups(num_ws)
    picked: set[int] = set()
    for raw in str(spec).split(","):
        tok = raw.strip().lower()
        if not tok:
            raise SGError(f"empty item in layer spec {spec!r}")
        if tok == "all":
            picked.update(range(num_ws))
            continue
        if tok in groups:
            if not groups[tok]:
                lo, hi = LAYER_WORDS[tok]
                raise SGError(
                    f"'{tok}' layers ({lo} px and up) do not exist in this model ({num_ws} ws)"
                    if hi is None
                    else f"'{tok}' layers ({lo}-{hi} px) do not exist in this model"
                )
            picked.update(groups[tok])
            continue
        m = _RANGE.match(tok)
        if m:
            a, b = int(m.group(1)), int(m.group(2))
            if a > b:
                raise SGError(f"layer range {tok!r} runs backwards; write {b}-{a}")
        elif tok.isdigit():
            a = b = int(tok)
        else:
            raise SGError(
                f"bad layer item {raw.strip()!r} in {spec!r}; use numbers, ranges (0-3) or "
                f"{', '.join(LAYER_WORDS)}, all"
            )
        if b >= num_ws:
            raise SGError(f"layer {b} is out of range: the model has {num_ws} ws (0..{num_ws - 1})")
        picked.update(range(a, b + 1))
    return sorted(picked)


def mix_ws(base: torch.Tensor, donor: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """A copy of ``base`` [..., num_ws, w_dim] with ``layers`` taken from ``donor`` (broadcast against it)."""
    base, donor = torch.broadcast_tensors(base, donor)
    out = base.clone()
    idx = list(layers)
    if idx:
        out[..., idx, :] = donor[..., idx, :]
    return out


def mixing_grid_ws(row_ws: torch.Tensor, col_ws: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """Cells [R, C, num_ws, w_dim]: cell (r, c) = row latent r with ``layers`` from column latent c
    (the official style_mixing.py convention)."""
    return mix_ws(row_ws[:, None], col_ws[None, :], layers)
