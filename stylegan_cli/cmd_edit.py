"""`sg edit [MODEL] (LATENTS.npz... | --seeds S) --direction dirs.npz:NAME[=STRENGTH] --out ...`: move latents
along editing directions; strips, grids, a video sweep, or the edited latents themselves."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import typer

from core.editing import Edit, apply_edits, parse_direction_ref
from core.editing.apply import parse_strength_range, sweep_strengths
from core.editing.render import render_each
from core.editing.sources import Source, at_strength, edit_sources, edited_latents, resolve_edits
from core.errors import SGError
from core.images import make_grid
from core.latents import (
    MODEL_HASH_KEY,
    model_content_hash,
)
from core.video import Mp4Writer
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

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LATENT_SUFFIX = ".npz"


def _output_kind(out: str) -> str:
    """'image' (.png/.jpg strip or grid), 'video' (.mp4), 'latents' (.npz) or 'folder' (DIR/)."""
    if out.endswith(("/", "\\")) or Path(out).suffix == "":
        return "folder"
    suffix = Path(out).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix == ".mp4":
        return "video"
    if suffix == LATENT_SUFFIX:
        return "latents"
    raise SGError(f"--out {out!r}: use strip.png/.jpg, video.mp4, edited.npz, or a folder edits/")


def _strength_tag(t: float | None) -> str:
    return "edit" if t is None else f"s{t:+.2f}"


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
    kind = _output_kind(out)
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
        _video(G, srcs, edits, lo, hi, frames, fps, out)
        return

    rows = [
        (src, apply_edits(src.w, at_strength(edits, t)), at_strength(edits, t), t)
        for src in srcs
        for t in sweep
    ]
    if kind == "latents":
        lat = edited_latents(G, [(s, w, p) for s, w, p, _ in rows], model_path)
        typer.echo(f"wrote {lat.save(out)} ({len(rows)} edited latent(s))")
        return
    pairs_view = kind == "image" and not swept  # one fixed edit: [original, edited] per latent
    with progress(len(rows) + (len(srcs) if pairs_view else 0), "editing") as advance:
        tiles = _render_rows(G, rows, advance)
        if kind == "image":
            cols = len(sweep)
            if pairs_view:
                originals = _render_rows(G, [(s, s.w, [], None) for s in srcs], advance)
                tiles = np.stack([t for pair in zip(originals, tiles, strict=True) for t in pair])
                cols = 2
            typer.echo(f"wrote {save_image(make_grid(tiles, cols), out)}")
            return
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    for (src, w, pairs, t), tile in zip(rows, tiles, strict=True):
        stem = f"{src.label}_{_strength_tag(t)}"
        save_image(tile, folder / f"{stem}.png")
        edited_latents(G, [(src, w, pairs)], model_path).save(folder / f"{stem}.npz")
    typer.echo(f"wrote {len(rows)} edited image(s) and latent(s) to {folder}")


def _render_rows(G, rows, advance) -> np.ndarray:
    """uint8 [N,H,W,C]: each edited latent alone, with its source's noise maps and mode."""
    return np.concatenate([render_each(G, w, [src.noise], src.noise_mode, advance) for src, w, _, _ in rows])


def _video(
    G, srcs: list[Source], edits: list[Edit], lo: float, hi: float, frames: int, fps: float, out: str
) -> None:
    """One loop, every latent in a grid per frame: 0 -> high -> 0 -> low -> 0 for a range around 0 (it
    starts on the input), else low -> high -> low."""
    phase = np.arange(frames) / frames
    if lo <= 0 <= hi:
        tri = np.where(phase < 0.25, 4 * phase, np.where(phase < 0.75, 2 - 4 * phase, 4 * phase - 4))
        ts = [float(v * hi if v >= 0 else -v * lo) for v in tri]
    else:
        ts = [float(lo + (hi - lo) * (1 - abs(1 - 2 * p))) for p in phase]
    cols = math.ceil(math.sqrt(len(srcs)))
    size = G.img_resolution
    rows_n = math.ceil(len(srcs) / cols)
    with (
        Mp4Writer(out, fps, size * min(cols, len(srcs)), size * rows_n) as writer,
        progress(frames, "video") as advance,
    ):
        for t in ts:
            tiles = _render_rows(
                G, [(s, apply_edits(s.w, at_strength(edits, t)), None, t) for s in srcs], lambda n=1: None
            )
            writer.write(make_grid(tiles, cols))
            advance(1)
    typer.echo(f"wrote {out} ({frames} frames at {fps:g} fps, codec {writer.codec})")


def register(app: typer.Typer) -> None:
    app.command("edit")(edit)
