"""`sg sample [MODEL]`: images from seeds (official z convention), in bulk, or from saved latents."""

from __future__ import annotations

from pathlib import Path

import typer

from core import validate
from core.errors import SGError
from core.fileio import check_output_dir, folder_lock
from core.generate import MAX_SEED, check_class
from core.sampling import (
    Rendering,
    latent_count,
    seed_plan,
    write_grid,
    write_latent_images,
    write_seed_images,
)
from stylegan_cli.common import (
    DEVICE_HELP,
    FAST_HELP,
    MODEL_HELP,
    MODEL_OPT_HELP,
    check_cutoff,
    check_noise_mode,
    console,
    load_model,
    parse_seeds,
    progress,
    resolve_model,
)


def sample(
    model_arg: Path | None = typer.Argument(None, metavar="[MODEL]", help=MODEL_HELP, show_default=False),
    model_opt: Path | None = typer.Option(None, "--model", "-m", help=MODEL_OPT_HELP, show_default=False),
    seeds: str | None = typer.Option(
        None, "--seeds", help="Seeds to render, e.g. 0-9,42 -> seed0000.png ..."
    ),
    num: int | None = typer.Option(
        None,
        "--num",
        help="Bulk mode: N images from seeds --seed..--seed+N-1, streamed to img000000.png ... in batches.",
    ),
    seed: int = typer.Option(0, "--seed", help="First seed of --num."),
    latents: Path | None = typer.Option(
        None,
        "--latents",
        help="Render the latents in this .npz (e.g. a "
        "projection), with its noise maps when stored: STEM.png or STEM_00.png ...",
    ),
    trunc: float | None = typer.Option(
        None,
        "--trunc",
        help="Truncation psi (1 = off, 0.7 is typical). "
        "Default 1; with --latents, re-truncates the stored w towards w_avg.",
    ),
    trunc_cutoff: int | None = typer.Option(None, "--trunc-cutoff", help="Truncate only ws 0..K-1."),
    noise_mode: str | None = typer.Option(
        None,
        "--noise-mode",
        help="const (default), random (noise drawn "
        "from the seed: reproducible) or none. --latents: stored maps win.",
    ),
    class_idx: int | None = typer.Option(
        None,
        "--class",
        help="Class for conditional models (required with --seeds; --num picks random classes without it).",
    ),
    outdir: Path = typer.Option(Path("out"), "--outdir", help="Output folder."),
    grid: bool = typer.Option(False, "--grid", help="Also write grid.png with all images."),
    save_latents: bool = typer.Option(
        False,
        "--save-latents",
        help="Write NAME.npz beside each PNG: w after "
        "truncation, z, noise maps for --noise-mode random, meta (seed, psi, class).",
    ),
    batch: int = typer.Option(8, "--batch", help="Images per forward pass."),
    fast: bool = typer.Option(False, "--fast", help=FAST_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Render images from seeds, in bulk, or from saved latents; one PNG per image (8-bit, official rounding).

    Example: sg sample ffhq.pkl --seeds 0-9,42 --trunc 0.7 --grid --outdir out/

    After `sg train DATA` here: sg sample --seeds 0-9 (the newest snapshot under ./runs)

    Bulk:    sg sample model.safetensors --num 50000 --seed 0 --batch 32 --outdir fid50k/

    Latents: sg sample model.safetensors --latents projected.npz --outdir out/

    GPU, fast path: sg sample ffhq.pkl --num 1000 --batch 16 --fast --outdir out/
    """
    modes = [
        name for name, v in (("--seeds", seeds), ("--num", num), ("--latents", latents)) if v is not None
    ]
    if len(modes) != 1:
        raise SGError(
            "give exactly one of --seeds, --num or --latents"
            + (f" (got {', '.join(modes)})" if modes else "")
        )
    if noise_mode is not None:
        check_noise_mode(noise_mode)
    validate.at_least("--batch", batch, 1)
    validate.finite("--trunc", trunc)
    check_output_dir(outdir)
    seed_list: list[int] = []
    if seeds is not None:
        seed_list = parse_seeds(seeds, unique=True)
    if num is not None:
        if num < 1:
            raise SGError(f"--num must be >= 1 (got {num})")
        if seed < 0 or seed + num - 1 > MAX_SEED:
            raise SGError(f"--seed {seed} with --num {num} runs outside the seed range 0..{MAX_SEED}")
        if grid:
            raise SGError("--grid works with --seeds or --latents, not with bulk --num")
    if latents is not None:
        if save_latents:
            raise SGError("--save-latents applies to --seeds and --num (the latents are already saved)")
        if class_idx is not None:
            raise SGError("--class does not apply to --latents (a saved w already carries its class)")
        if not latents.exists():
            raise SGError(f"latent file not found: {latents}")

    if model_arg is not None and model_opt is not None:
        raise SGError(f"give the model once: {model_arg} as the first argument, or --model {model_opt}")
    model = resolve_model(model_arg or model_opt, [latents] if latents is not None else [])
    G = load_model(model, device, fast=fast)
    cutoff = check_cutoff(trunc_cutoff, G.num_ws)
    check_class(class_idx, G.c_dim)
    how = Rendering(trunc, cutoff, noise_mode, batch)
    if latents is not None:
        with progress(latent_count(G, latents), "rendering") as advance:
            n, used, kept = write_latent_images(G, latents, outdir, how, keep=grid, advance=advance)
        typer.echo(f"wrote {n} image(s) to {outdir} ({used})")
    else:
        seed_list, names, classes, note = seed_plan(G.c_dim, seed_list, num, seed, class_idx)
        if note:
            console.print(note)
        with folder_lock(outdir), progress(len(seed_list), "rendering") as advance:
            record = model if save_latents else None
            kept = write_seed_images(G, seed_list, classes, names, outdir, how, record, grid, advance)
        typer.echo(
            f"wrote {len(seed_list)} image(s) to {outdir}" + (" with .npz latents" if save_latents else "")
        )
    if grid:
        typer.echo(f"wrote {write_grid(kept, outdir)}")


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
