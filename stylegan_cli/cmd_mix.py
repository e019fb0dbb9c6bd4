"""`sg mix [MODEL] A B --layers L`: style mixing of two latents, or the paper's mixing grid from seeds."""

from __future__ import annotations

from pathlib import Path

import typer

from core import validate
from core.errors import SGError
from core.generate import check_class
from core.images import save_png
from core.mixing import SEED_ARG, format_layers, mix_source, mix_ws, mixing_grid, parse_layers, render_one
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
    model, a, b, grid = _check_args(args, model_opt, row_seeds, col_seeds, out)
    latent_files = [Path(x) for x in (a, b) if x is not None and Path(x).is_file()]
    G = load_model(resolve_model(model, latent_files), device)
    cutoff = check_cutoff(trunc_cutoff, G.num_ws)
    picked = parse_layers(layers, G.num_ws)
    check_class(class_idx, G.c_dim)
    if G.c_dim and class_idx is None and (grid or not (Path(a).exists() and Path(b).exists())):
        raise SGError(
            f"the model is conditional with {G.c_dim} classes: give --class 0..{G.c_dim - 1} for seeds"
        )
    if grid:
        rows, cols = grid
        total = (len(rows) + 1) * (len(cols) + 1) - 1
        psi = 1.0 if trunc is None else trunc
        with progress(total, "mixing") as advance:
            image = mixing_grid(G, rows, cols, picked, psi, cutoff, noise_mode, class_idx, advance)
        path = save_png(image, out or Path("mixgrid.png"))
        typer.echo(
            f"wrote {path} ({len(rows)} rows x {len(cols)} columns, layers {format_layers(picked)} "
            "from the columns)"
        )
        return
    src_a = mix_source(a, G, trunc, cutoff, noise_mode, class_idx)
    src_b = mix_source(b, G, trunc, cutoff, noise_mode, class_idx)
    noise = src_b.noise if len(picked) == G.num_ws else src_a.noise
    path = save_png(
        render_one(G, mix_ws(src_a.w, src_b.w, picked), noise, noise_mode), out or Path("mixed.png")
    )
    typer.echo(f"wrote {path} ({src_a.label} with layers {format_layers(picked)} from {src_b.label})")


def _check_args(
    args: list[str] | None,
    model_opt: Path | None,
    row_seeds: str | None,
    col_seeds: str | None,
    out: Path | None,
) -> tuple[Path | None, str | None, str | None, tuple[list[int], list[int]] | None]:
    """(model, A, B, grid seeds or None): two sources, or the grid's row and column seeds, not both."""
    model, rest = split_model_arg(args or [], model_opt)
    if len(rest) > 2:
        raise SGError(
            f"expected A and B, got {len(rest)} arguments ({' '.join(rest)}); a model goes first "
            "(.safetensors/.pkl/.pt or a run folder) or in --model"
        )
    a, b = (rest + [None, None])[:2]
    grid = None
    if row_seeds is not None or col_seeds is not None:
        if a is not None or b is not None:
            raise SGError("give either A and B, or --row-seeds and --col-seeds, not both")
        if row_seeds is None or col_seeds is None:
            raise SGError("the mixing grid needs both --row-seeds and --col-seeds")
        grid = parse_seeds(row_seeds, "--row-seeds"), parse_seeds(col_seeds, "--col-seeds")
    elif a is None or b is None:
        raise SGError("give two latents A and B (.npz files or seeds), or --row-seeds and --col-seeds")
    else:
        for arg in (a, b):
            if not Path(arg).exists() and not SEED_ARG.match(arg):
                raise SGError(f"{arg}: no such latent file (and not a seed)")
    if out is not None and out.suffix.lower() != ".png":
        raise SGError(f"--out must be a .png file (got {out})")
    return model, a, b, grid


def register(app: typer.Typer) -> None:
    app.command("mix")(mix)
