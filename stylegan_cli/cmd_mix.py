"""`sg mix MODEL A B --layers L`: style mixing of two latents, or the paper's mixing grid from seeds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import typer

from core import validate
from core.errors import SGError
from core.generate import render_uint8, retruncate, seed_latents
from core.images import make_grid, save_png
from core.latents import load_latents, validate_noise
from core.mixing import mix_ws, mixing_grid_ws, parse_layers
from stylegan_cli.common import (
    DEVICE_HELP,
    MODEL_OPT_HELP,
    check_cutoff,
    check_noise_mode,
    load_model,
    parse_seeds,
    progress,
    resolve_model,
    split_model_arg,
)

_SEED = re.compile(r"^\d+$")


@dataclass
class Source:
    """One latent to mix: w [1, num_ws, w_dim] and its noise maps ([1,1,r,r] each) when it has its own."""

    w: torch.Tensor
    noise: list[torch.Tensor] | None
    label: str


def _resolve_source(
    arg: str,
    G: torch.nn.Module,
    psi: float | None,
    cutoff: int | None,
    noise_mode: str,
    class_idx: int | None,
) -> Source:
    """An .npz holding one latent, or a seed (mapped with --trunc/--class, as `sg sample` does)."""
    path = Path(arg)
    if not path.exists() and _SEED.match(arg):
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


def _check_class(G: torch.nn.Module, class_idx: int | None, needed: bool) -> None:
    if class_idx is not None and not G.c_dim:
        raise SGError(f"--class {class_idx} given but the model is unconditional (no classes)")
    if class_idx is not None and not 0 <= class_idx < G.c_dim:
        raise SGError(
            f"--class {class_idx} is out of range: this model has {G.c_dim} classes (0..{G.c_dim - 1})"
        )
    if needed and G.c_dim and class_idx is None:
        raise SGError(
            f"the model is conditional with {G.c_dim} classes: give --class 0..{G.c_dim - 1} for seeds"
        )


def _render_one(
    G: torch.nn.Module, w: torch.Tensor, noise: list[torch.Tensor] | None, mode: str
) -> np.ndarray:
    """One image, uint8 [H,W,C], rendered alone (batch 1) so equal inputs give bit-identical outputs."""
    return next(render_uint8(G, w, mode, noise, batch=1))[1][0].numpy()


def mix(
    args: list[str] | None = typer.Argument(
        None,
        metavar="[MODEL] A B",
        help="A: latent .npz or seed supplying every layer NOT in --layers (and the noise maps, if it has "
        "its own); B: latent .npz or seed supplying the layers in --layers. An optional MODEL file or run "
        "folder may come first.",
        show_default=False,
    ),
    model_opt: Path | None = typer.Option(None, "--model", "-m", help=MODEL_OPT_HELP, show_default=False),
    layers: str = typer.Option(
        ...,
        "--layers",
        help="w layers taken from B: numbers and ranges (0-3,8,10-13), "
        "or coarse (4-8 px: ws 0-3), middle (16-32 px: ws 4-7), fine (64 px+: ws 8+), "
        "all. w index i styles the layers at 4*2^(i//2) px.",
    ),
    row_seeds: str | None = typer.Option(None, "--row-seeds", help="Grid mode: seeds down the left (bases)."),
    col_seeds: str | None = typer.Option(
        None, "--col-seeds", help="Grid mode: seeds along the top (donors of --layers)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Output PNG (default mixed.png, or mixgrid.png for a grid)."
    ),
    trunc: float | None = typer.Option(
        None,
        "--trunc",
        help="Truncation psi for seeds (default 1); for .npz latents, re-truncates the stored w.",
    ),
    trunc_cutoff: int | None = typer.Option(None, "--trunc-cutoff", help="Truncate only ws 0..K-1."),
    noise_mode: str = typer.Option(
        "const",
        "--noise-mode",
        help="const (default: deterministic), random "
        "(drawn from each seed) or none; latents with stored noise maps use them.",
    ),
    class_idx: int | None = typer.Option(None, "--class", help="Class for seeds of a conditional model."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Mix styles: the output is A's latent everywhere except --layers, which come from B.

    Example: sg mix a.npz b.npz --layers 0-3 (the model the latents record; writes mixed.png)

    With a model: sg mix ffhq.pkl a.npz b.npz --layers coarse --out mixed.png

    A and B are .npz latents or seeds (sg mix ffhq.pkl 12 345 --layers 0-3); --layers all gives B exactly.

    Noise maps come from A, or from B when --layers covers every layer.

    Grid: sg mix ffhq.pkl --row-seeds 1,2,3 --col-seeds 4,5,6 --layers 0-6 --out grid.png

    Column seeds run along the top, row seeds down the left; the top-left cell is blank.

    Cell (r, c) = row seed r's latent with --layers copied from column seed c, as official style_mixing.py.

    The StyleGAN paper's Fig. 3 is the transpose: bases (source A) on top, donors (source B) on the left.
    """
    check_noise_mode(noise_mode)
    validate.finite("--trunc", trunc)
    model, rest = split_model_arg(args or [], model_opt)
    if len(rest) > 2:
        raise SGError(
            f"expected A and B, got {len(rest)} arguments ({' '.join(rest)}); a model goes first "
            "(.safetensors/.pkl/.pt or a run folder) or in --model"
        )
    a, b = (rest + [None, None])[:2]
    grid_mode = row_seeds is not None or col_seeds is not None
    if grid_mode:
        if a is not None or b is not None:
            raise SGError("give either A and B, or --row-seeds and --col-seeds, not both")
        if row_seeds is None or col_seeds is None:
            raise SGError("the mixing grid needs both --row-seeds and --col-seeds")
        rows, cols = parse_seeds(row_seeds, "--row-seeds"), parse_seeds(col_seeds, "--col-seeds")
    elif a is None or b is None:
        raise SGError("give two latents A and B (.npz files or seeds), or --row-seeds and --col-seeds")
    else:
        for arg in (a, b):
            if not Path(arg).exists() and not _SEED.match(arg):
                raise SGError(f"{arg}: no such latent file (and not a seed)")
    if out is not None and out.suffix.lower() != ".png":
        raise SGError(f"--out must be a .png file (got {out})")

    latent_files = [Path(x) for x in (a, b) if x is not None and Path(x).is_file()]
    G = load_model(resolve_model(model, latent_files), device)
    cutoff = check_cutoff(trunc_cutoff, G.num_ws)
    picked = parse_layers(layers, G.num_ws)
    all_layers = len(picked) == G.num_ws

    if grid_mode:
        _check_class(G, class_idx, needed=True)
        _mix_grid(G, rows, cols, picked, trunc, cutoff, noise_mode, class_idx, out or Path("mixgrid.png"))
        return

    needs_class = any(not Path(arg).exists() for arg in (a, b))
    _check_class(G, class_idx, needed=needs_class)
    src_a = _resolve_source(a, G, trunc, cutoff, noise_mode, class_idx)
    src_b = _resolve_source(b, G, trunc, cutoff, noise_mode, class_idx)
    w = mix_ws(src_a.w, src_b.w, picked)
    noise = src_b.noise if all_layers else src_a.noise
    path = save_png(_render_one(G, w, noise, noise_mode), out or Path("mixed.png"))
    typer.echo(f"wrote {path} ({src_a.label} with layers {_ranges(picked)} from {src_b.label})")


def _mix_grid(
    G: torch.nn.Module,
    rows: list[int],
    cols: list[int],
    picked: list[int],
    trunc: float | None,
    cutoff: int | None,
    noise_mode: str,
    class_idx: int | None,
    out: Path,
) -> None:
    """Render the (rows+1) x (cols+1) grid: sources on the top row and left column, mixes inside."""
    psi = 1.0 if trunc is None else trunc
    one = [class_idx] if G.c_dim else None
    row_lat = seed_latents(G, rows, None if one is None else one * len(rows), psi, cutoff, noise_mode)
    col_lat = seed_latents(G, cols, None if one is None else one * len(cols), psi, cutoff, noise_mode)
    cells = mixing_grid_ws(row_lat.w, col_lat.w, picked)  # [R, C, num_ws, w_dim]
    all_layers = len(picked) == G.num_ws

    def noise_of(lat, i: int) -> list[torch.Tensor] | None:
        return None if lat.noise is None else [n[i : i + 1] for n in lat.noise]

    h, w, ch = G.img_resolution, G.img_resolution, G.img_channels
    tiles = np.zeros(((len(rows) + 1) * (len(cols) + 1), h, w, ch), dtype=np.uint8)
    ncols = len(cols) + 1
    with progress((len(rows) + 1) * (len(cols) + 1) - 1, "mixing") as advance:
        for c in range(len(cols)):
            tiles[c + 1] = _render_one(G, col_lat.w[c : c + 1], noise_of(col_lat, c), noise_mode)
            advance(1)
        for r in range(len(rows)):
            tiles[(r + 1) * ncols] = _render_one(G, row_lat.w[r : r + 1], noise_of(row_lat, r), noise_mode)
            advance(1)
            for c in range(len(cols)):
                noise = noise_of(col_lat, c) if all_layers else noise_of(row_lat, r)
                tiles[(r + 1) * ncols + c + 1] = _render_one(G, cells[r, c][None], noise, noise_mode)
                advance(1)
    path = save_png(make_grid(tiles, ncols), out)
    typer.echo(
        f"wrote {path} ({len(rows)} rows x {len(cols)} columns, layers {_ranges(picked)} from the columns)"
    )


def _ranges(idx: list[int]) -> str:
    """[0,1,2,3,8] -> '0-3,8' for messages."""
    parts, start = [], None
    for i, v in enumerate(idx):
        if start is None:
            start = v
        if i + 1 == len(idx) or idx[i + 1] != v + 1:
            parts.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ",".join(parts)


def register(app: typer.Typer) -> None:
    app.command("mix")(mix)
