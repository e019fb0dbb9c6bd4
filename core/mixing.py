"""Style mixing: which w layers to swap (a small spec language) and the swap itself.

Layer words follow the StyleGAN paper's split by resolution: coarse = 4-8 px, middle = 16-32 px,
fine = 64 px and up. The w index i drives the layers at ``4 * 2**(i // 2)`` px: two ws per resolution,
as in StyleGAN, where index 2k and 2k+1 style the two convolutions at 4*2**k px (in StyleGAN2 the odd
index also feeds the ToRGB of the previous resolution). So for any model coarse = 0-3, middle = 4-7,
fine = 8..num_ws-1 (18 ws at 1024 px: fine = 8-17; a 16 px model, 6 ws, has no fine layers).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.errors import SGError

__all__ = [
    "LAYER_WORDS",
    "Source",
    "format_layers",
    "layer_groups",
    "layer_resolution",
    "mix_source",
    "mix_ws",
    "mixing_grid",
    "mixing_grid_ws",
    "parse_layers",
    "render_one",
]

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


# ---- sources and renders (sg mix) ------------------------------------------------------------------

SEED_ARG = re.compile(r"^\d+$")  # `sg mix MODEL 12 345`: a source that is not a file is a seed


@dataclass
class Source:
    """One latent to mix: w [1, num_ws, w_dim] and its noise maps ([1,1,r,r] each) when it has its own."""

    w: torch.Tensor
    noise: list[torch.Tensor] | None
    label: str


def mix_source(
    arg: str,
    G: torch.nn.Module,
    psi: float | None,
    cutoff: int | None,
    noise_mode: str,
    class_idx: int | None,
) -> Source:
    """An .npz holding one latent, or a seed (mapped with psi/class, as `sg sample` does)."""
    from core.generate import retruncate, seed_latents
    from core.latents import load_latents, validate_noise

    path = Path(arg)
    if not path.exists() and SEED_ARG.match(arg):
        classes = None if not G.c_dim else [class_idx]
        lat = seed_latents(G, [int(arg)], classes, 1.0 if psi is None else psi, cutoff, noise_mode)
        return Source(lat.w, lat.noise, f"seed {arg}")
    lat = load_latents(path, num_ws=G.num_ws, w_dim=G.w_dim)
    if lat.num != 1:
        raise SGError(f"{path} holds {lat.num} latents; mix takes one latent per file")
    noise = None
    if lat.noise:
        noise = validate_noise(lat.noise, [layer.resolution for layer in G.synthesis.noise_layers()], batch=1)
    return Source(retruncate(G, lat.w, psi, cutoff), noise, str(path))


def render_one(
    G: torch.nn.Module, w: torch.Tensor, noise: list[torch.Tensor] | None, mode: str
) -> np.ndarray:
    """One image, uint8 [H,W,C], rendered alone (batch 1) so equal inputs give bit-identical outputs."""
    from core.generate import render_uint8

    return next(render_uint8(G, w, mode, noise, batch=1))[1][0].numpy()


def mixing_grid(
    G: torch.nn.Module,
    rows: list[int],
    cols: list[int],
    picked: list[int],
    psi: float,
    cutoff: int | None,
    noise_mode: str,
    class_idx: int | None,
    advance: Callable[[int], None] = lambda n: None,
) -> np.ndarray:
    """The (rows+1) x (cols+1) grid image: column seeds on top, row seeds on the left, mixes inside (cell
    (r, c) is row seed r with ``picked`` layers from column seed c, as official style_mixing.py)."""
    from core.generate import seed_latents
    from core.images import make_grid

    one = [class_idx] if G.c_dim else None
    row_lat = seed_latents(G, rows, None if one is None else one * len(rows), psi, cutoff, noise_mode)
    col_lat = seed_latents(G, cols, None if one is None else one * len(cols), psi, cutoff, noise_mode)
    cells = mixing_grid_ws(row_lat.w, col_lat.w, picked)  # [R, C, num_ws, w_dim]
    all_layers = len(picked) == G.num_ws

    def noise_of(lat, i: int) -> list[torch.Tensor] | None:
        return None if lat.noise is None else [n[i : i + 1] for n in lat.noise]

    res, ncols = G.img_resolution, len(cols) + 1
    tiles = np.zeros(((len(rows) + 1) * ncols, res, res, G.img_channels), dtype=np.uint8)
    for c in range(len(cols)):
        tiles[c + 1] = render_one(G, col_lat.w[c : c + 1], noise_of(col_lat, c), noise_mode)
        advance(1)
    for r in range(len(rows)):
        tiles[(r + 1) * ncols] = render_one(G, row_lat.w[r : r + 1], noise_of(row_lat, r), noise_mode)
        advance(1)
        for c in range(len(cols)):
            noise = noise_of(col_lat, c) if all_layers else noise_of(row_lat, r)
            tiles[(r + 1) * ncols + c + 1] = render_one(G, cells[r, c][None], noise, noise_mode)
            advance(1)
    return make_grid(tiles, ncols)


def format_layers(idx: list[int]) -> str:
    """[0,1,2,3,8] -> '0-3,8' for messages."""
    parts, start = [], None
    for i, v in enumerate(idx):
        if start is None:
            start = v
        if i + 1 == len(idx) or idx[i + 1] != v + 1:
            parts.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ",".join(parts)
