"""`sg edit [MODEL] (LATENTS.npz... | --seeds S) --direction dirs.npz:NAME[=STRENGTH] --out ...`: move latents
along editing directions; strips, grids, a video sweep, or the edited latents themselves."""

from __future__ import annotations

from pathlib import Path

import typer

from core.editing import parse_direction_ref
from core.editing.apply import parse_strength_range, sweep_strengths
from core.editing.outputs import (
    LATENT_SUFFIX,
    edit_grid,
    edit_rows,
    output_kind,
    render_rows,
    video_strengths,
    write_edit_folder,
    write_sweep_video,
)
from core.editing.sources import edit_sources, edited_latents, resolve_edits
from core.errors import SGError
from core.latents import MODEL_HASH_KEY, model_content_hash
from stylegan_cli.common import (
    DEVICE_HELP,
    MODEL_HELP,
    check_noise_mode,
    load_model,
    parse_seeds,
    progress,
    resolve_model,
    save_image,
)


def edit(
    inputs: list[str] | None = typer.Argument(
        None, metavar="[MODEL] [LATENTS.npz...]", help=f"{MODEL_HELP} Then latent .npz files to edit."
    ),
    model_opt: Path | None = typer.Option(None, "--model", "-m", help="Model (e.g. a PTI-tuned generator)."),
    seeds: str | None = typer.Option(None, "--seeds", help="Edit these seeds' latents, e.g. 0-3."),
    direction: list[str] = typer.Option(
        [],
        "--direction",
        "-d",
        help="DIRS.npz:NAME_OR_INDEX[=STRENGTH], repeatable. With =STRENGTH the direction is applied at that "
        "strength; without, it is swept along --strength.",
    ),
    strength: str = typer.Option("-3:3", "--strength", help="Sweep range LOW:HIGH, in units of each scale."),
    steps: int = typer.Option(7, "--steps", help="Columns of the sweep (odd: strength 0 in the middle)."),
    layers: str | None = typer.Option(
        None, "--layers", help="w layers to move (0-5, coarse, ...); default: each direction's own."
    ),
    out: str = typer.Option(
        ...,
        "--out",
        help="strip.png (rows = latents), video.mp4 (sweep), edited.npz, or edits/ (one "
        ".png + .npz per edit).",
    ),
    frames: int = typer.Option(60, "--frames", help="Video: frames of one sweep 0 -> high -> low -> 0."),
    fps: float = typer.Option(30.0, "--fps", help="Video frame rate."),
    trunc: float = typer.Option(1.0, "--trunc", help="Truncation psi for --seeds."),
    noise_mode: str = typer.Option("const", "--noise-mode", help="Noise for --seeds: const, random or none."),
    class_idx: int | None = typer.Option(None, "--class", help="Class for seeds of a conditional model."),
    any_model: bool = typer.Option(
        False, "--any-model", help="Apply directions found on a different model (e.g. its PTI-tuned copy)."
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Move latents along editing directions: w += strength x scale x direction, on chosen layers.

    Example: sg edit proj.npz --direction dirs.npz:smile --strength -3:3 --steps 7 --out smile.png

    Seeds: sg edit ffhq.pkl --seeds 0-3 --direction dirs.npz:0 --layers 0-5 --out grid.png

    Several at once: sg edit proj.npz -d dirs.npz:age=2 -d dirs.npz:smile=-1 --out edited.npz

    The edited .npz keeps stored noise and records the edits; it re-renders exactly with
    sg sample --latents and feeds sg mix / sg interpolate. Strength 0 returns the input bit for bit.
    """
    check_noise_mode(noise_mode)
    kind = output_kind(out)
    items = list(inputs or [])
    files = [Path(p) for p in items if p.lower().endswith(LATENT_SUFFIX)]
    others = [p for p in items if not p.lower().endswith(LATENT_SUFFIX)]
    if len(others) > 1:
        raise SGError(f"expected one MODEL and .npz latent files, got {', '.join(others)}")
    if others and model_opt is not None:
        raise SGError("give the model either as MODEL or as --model, not both")
    for f in files:
        if not f.is_file():
            raise SGError(f"latent file not found: {f}")
    seed_list = parse_seeds(seeds) if seeds is not None else []
    if not files and not seed_list:
        raise SGError("nothing to edit: give latent .npz files or --seeds")
    if not direction:
        raise SGError("give at least one --direction DIRS.npz:NAME_OR_INDEX[=STRENGTH]")
    lo, hi = parse_strength_range(strength)
    if frames < 2 or fps <= 0:
        raise SGError("--frames must be >= 2 and --fps > 0")
    refs = [parse_direction_ref(d) for d in direction]  # syntax errors before the model loads
    for ref in refs:
        if not ref.path.is_file():
            raise SGError(f"directions file not found: {ref.path}")

    model_path = resolve_model(Path(others[0]) if others else model_opt, files)
    G = load_model(model_path, device)
    srcs = edit_sources(G, files, seed_list, class_idx, trunc, noise_mode)
    hashes = [model_content_hash(model_path)] + [s.meta.get(MODEL_HASH_KEY) for s in srcs]
    edits = resolve_edits(G, direction, layers, hashes, any_model)
    swept = any(e.strength is None for e in edits)
    sweep: list[float | None] = sweep_strengths(lo, hi, steps) if swept else [None]

    if kind == "video":
        if not swept:
            raise SGError("a video sweeps a direction: give one without =STRENGTH")
        with progress(frames, "video") as advance:
            codec = write_sweep_video(G, srcs, edits, video_strengths(lo, hi, frames), fps, out, advance)
        typer.echo(f"wrote {out} ({frames} frames at {fps:g} fps, codec {codec})")
        return

    rows = edit_rows(srcs, edits, sweep)
    if kind == "latents":
        lat = edited_latents(G, [(s, w, p) for s, w, p, _ in rows], model_path)
        typer.echo(f"wrote {lat.save(out)} ({len(rows)} edited latent(s))")
        return
    pairs_view = kind == "image" and not swept  # one fixed edit: [original, edited] per latent
    with progress(len(rows) + (len(srcs) if pairs_view else 0), "editing") as advance:
        if kind == "image":
            grid = edit_grid(G, rows, srcs, len(sweep), pairs_view, advance)
            typer.echo(f"wrote {save_image(grid, out)}")
            return
        tiles = render_rows(G, rows, advance)
    write_edit_folder(G, rows, tiles, Path(out), model_path)
    typer.echo(f"wrote {len(rows)} edited image(s) and latent(s) to {Path(out)}")


def register(app: typer.Typer) -> None:
    app.command("edit")(edit)
