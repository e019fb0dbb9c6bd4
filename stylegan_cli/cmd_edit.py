"""`sg edit [MODEL] (LATENTS.npz... | --seeds S) --direction dirs.npz:NAME[=STRENGTH] --out ...`: move latents
along editing directions; strips, grids, a video sweep, or the edited latents themselves."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import typer

from core.editing import Edit, apply_edits, check_directions_fit, load_directions, parse_direction_ref
from core.editing.apply import parse_strength_range, sweep_strengths
from core.editing.format import Directions
from core.editing.render import render_each
from core.errors import SGError
from core.generate import NOISE_MODES, seed_latents
from core.images import make_grid
from core.latents import (
    MODEL_HASH_KEY,
    Latents,
    load_latents,
    model_content_hash,
    model_record,
    validate_noise,
)
from core.mixing import parse_layers
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


@dataclass
class Source:
    """One latent to edit: w [1, num_ws, w_dim], its noise maps (or None), how to render it, its meta."""

    label: str
    w: torch.Tensor
    noise: list[torch.Tensor] | None
    noise_mode: str
    meta: dict


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


def _sources(
    G: torch.nn.Module,
    files: list[Path],
    seeds: list[int],
    class_idx: int | None,
    psi: float,
    noise_mode: str,
) -> list[Source]:
    """Latents from .npz files (every latent in each, with its stored noise maps) and from seeds."""
    out: list[Source] = []
    res = [layer.resolution for layer in G.synthesis.noise_layers()]
    for path in files:
        lat = load_latents(path, num_ws=G.num_ws, w_dim=G.w_dim)
        noise = validate_noise(lat.noise, res, batch=lat.num) if lat.noise else None
        stored = lat.meta.get("noise_mode")
        mode = stored if stored in NOISE_MODES else "const"
        for i in range(lat.num):
            label = path.stem if lat.num == 1 else f"{path.stem}_{i:02d}"
            maps = None if noise is None else [n if n.shape[0] == 1 else n[i : i + 1] for n in noise]
            out.append(Source(label, lat.w[i : i + 1], maps, mode, dict(lat.meta)))
    if seeds:
        if G.c_dim and class_idx is None:
            raise SGError(f"the model is conditional with {G.c_dim} classes: give --class 0..{G.c_dim - 1}")
        if class_idx is not None and not G.c_dim:
            raise SGError(f"--class {class_idx} given but the model is unconditional (no classes)")
        classes = [class_idx] * len(seeds) if G.c_dim else None
        lat = seed_latents(G, seeds, classes, psi, None, noise_mode)
        for i, s in enumerate(seeds):
            maps = None if lat.noise is None else [n[i : i + 1] for n in lat.noise]
            meta = {**lat.meta, "seeds": [s]}
            if classes:
                meta["classes"] = [classes[i]]
            out.append(Source(f"seed{s:04d}", lat.w[i : i + 1], maps, noise_mode, meta))
    return out


def _edits(
    G: torch.nn.Module, refs: list[str], layers: str | None, hashes: list[str], any_model: bool
) -> list[Edit]:
    """Resolve every --direction against its file, checking the file fits this model."""
    cache: dict[Path, Directions] = {}
    override = parse_layers(layers, G.num_ws) if layers is not None else None
    edits = []
    for text in refs:
        ref = parse_direction_ref(text)
        if ref.path not in cache:
            dirs = load_directions(ref.path)
            check_directions_fit(dirs, G.w_dim, G.num_ws, hashes, str(ref.path), force=any_model)
            cache[ref.path] = dirs
        dirs = cache[ref.path]
        i = dirs.index(ref.key, str(ref.path))
        picked = override if override is not None else [j for j, on in enumerate(dirs.layers[i]) if on]
        edits.append(
            Edit(
                name=dirs.names[i],
                vector=torch.from_numpy(dirs.vectors[i].copy()),
                scale=float(dirs.scale[i]),
                layers=picked,
                strength=ref.strength,
                source=f"{ref.path}:{dirs.names[i]}",
            )
        )
    return edits


def _at(edits: list[Edit], t: float | None) -> list[tuple[Edit, float]]:
    """(edit, strength) pairs at sweep position t: fixed strengths stay, swept ones take t."""
    return [(e, e.strength if e.strength is not None else float(t or 0.0)) for e in edits]


def _filled_noise(G: torch.nn.Module, src: Source) -> list[torch.Tensor]:
    """A source's noise as explicit maps: stored ones, else what its mode renders with (const / zeros), so
    latents of mixed origins can share one file and still re-render exactly."""
    if src.noise is not None:
        return src.noise
    layers = G.synthesis.noise_layers()
    if src.noise_mode == "none":
        return [torch.zeros(1, 1, layer.resolution, layer.resolution) for layer in layers]
    if src.noise_mode == "random":
        raise SGError(f"{src.label}: noise mode 'random' without stored maps cannot be saved reproducibly")
    return [
        layer.noise_const.detach().float().cpu().reshape(1, 1, *layer.noise_const.shape) for layer in layers
    ]


def _edited_latents(
    G: torch.nn.Module, rows: list[tuple[Source, torch.Tensor, list[tuple[Edit, float]]]], model: Path
) -> Latents:
    """Edited latents in the shared format: stored noise kept, each row's edits recorded."""
    w = torch.cat([w for _, w, _ in rows])
    any_maps = any(src.noise is not None for src, _, _ in rows)
    modes = {src.noise_mode for src, _, _ in rows}
    noise = None
    if any_maps or len(modes) > 1:
        per = [_filled_noise(G, src) for src, _, _ in rows]
        noise = [torch.cat(maps) for maps in zip(*per, strict=True)]
    first = rows[0][0].meta
    meta = {k: first[k] for k in ("psi", "tuned_from") if k in first}
    meta.update(
        space="w" if bool(torch.all(w == w[:, :1])) else "w+",
        num_ws=G.num_ws,
        w_dim=G.w_dim,
        resolution=G.img_resolution,
        noise_mode=modes.pop() if noise is None else "const",
        edits=[
            {"source": src.label, "edits": [e.record(s) for e, s in pairs if s != 0]}
            for src, _, pairs in rows
        ],
    )
    meta.update(model_record(model))  # the model that rendered the edit (e.g. a PTI-tuned one)
    return Latents(w=w, noise=noise, meta=meta)


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
    srcs = _sources(G, files, seed_list, class_idx, trunc, noise_mode)
    hashes = [model_content_hash(model_path)] + [s.meta.get(MODEL_HASH_KEY) for s in srcs]
    edits = _edits(G, direction, layers, hashes, any_model)
    swept = any(e.strength is None for e in edits)
    sweep: list[float | None] = sweep_strengths(lo, hi, steps) if swept else [None]

    if kind == "video":
        if not swept:
            raise SGError("a video sweeps a direction: give one without =STRENGTH")
        _video(G, srcs, edits, lo, hi, frames, fps, out)
        return

    rows = [(src, apply_edits(src.w, _at(edits, t)), _at(edits, t), t) for src in srcs for t in sweep]
    if kind == "latents":
        lat = _edited_latents(G, [(s, w, p) for s, w, p, _ in rows], model_path)
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
        _edited_latents(G, [(src, w, pairs)], model_path).save(folder / f"{stem}.npz")
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
                G, [(s, apply_edits(s.w, _at(edits, t)), None, t) for s in srcs], lambda n=1: None
            )
            writer.write(make_grid(tiles, cols))
            advance(1)
    typer.echo(f"wrote {out} ({frames} frames at {fps:g} fps, codec {writer.codec})")


def register(app: typer.Typer) -> None:
    app.command("edit")(edit)
