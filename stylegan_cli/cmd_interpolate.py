"""`sg interpolate [MODEL]`: walks through keyframes (seeds or saved latents) to mp4, frames or a strip."""

from __future__ import annotations

from pathlib import Path

import typer

from core import validate
from core.errors import SGError
from core.generate import check_class, check_cutoff, check_noise_mode
from core.interpolate import frame_schedule, latent_keyframes, render_walk, seed_keyframes
from core.video import open_frame_sink, output_kind
from stylegan_cli.common import (
    DEVICE_HELP,
    FAST_HELP,
    MODEL_OPT_HELP,
    console,
    load_model,
    parse_seeds,
    progress,
    resolve_model,
    split_model_arg,
)

SPACES = ("z", "w", "w+")
DEFAULT_SEEDS = "0-3"  # the walk when no keyframes are given


def interpolate_cmd(
    args: list[str] | None = typer.Argument(
        None,
        metavar="[MODEL] [FILES]...",
        help="Keyframe .npz files; every latent in them is a keyframe, in order. An optional MODEL file or "
        "run folder may come first.",
        show_default=False,
    ),
    model_opt: Path | None = typer.Option(None, "--model", "-m", help=MODEL_OPT_HELP, show_default=False),
    space: str = typer.Option(
        "z",
        "--space",
        help="z: slerp in z, then mapping + truncation per frame; "
        "w: linear in W with one w per frame; w+: linear per layer (num_ws x w_dim).",
    ),
    seeds: str | None = typer.Option(
        None,
        "--seeds",
        help=f"Keyframe seeds, e.g. 1,5,9. With no keyframes at all: seeds {DEFAULT_SEEDS}.",
        show_default=False,
    ),
    use_latents: bool = typer.Option(
        False,
        "--latents",
        help="Keyframes are the .npz files given as arguments (e.g. --latents a.npz b.npz).",
    ),
    steps: int = typer.Option(
        60, "--steps", help="Frames per transition: K keyframes give steps*(K-1)+1 frames."
    ),
    loop: bool = typer.Option(False, "--loop", help="Return to the first keyframe: steps*K frames."),
    out: str = typer.Option(
        "interp.mp4",
        "--out",
        help="video.mp4 (H.264 if OpenCV has it, else mp4v = "
        "MPEG-4 Part 2), frames/ (frame00000.png ...), or strip.png/.jpg (a grid), relative to the "
        "current folder.",
    ),
    trunc: float | None = typer.Option(
        None,
        "--trunc",
        help="Truncation psi (seeds: default 1; z latents: the "
        "psi stored in their meta; w/w+ latents: re-truncates the stored w).",
    ),
    trunc_cutoff: int | None = typer.Option(None, "--trunc-cutoff", help="Truncate only ws 0..K-1."),
    noise_mode: str = typer.Option(
        "const",
        "--noise-mode",
        help="const (default), random (seeds: each seed's "
        "maps, blended; otherwise fresh per frame) or none. Stored maps win.",
    ),
    fps: float = typer.Option(30.0, "--fps", help="Video frame rate."),
    class_idx: int | None = typer.Option(None, "--class", help="Class for conditional models."),
    cols: int = typer.Option(10, "--cols", help="Strip output: frames per row before wrapping."),
    batch: int = typer.Option(8, "--batch", help="Frames per forward pass."),
    fast: bool = typer.Option(False, "--fast", help=FAST_HELP),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Render a walk through keyframes: the first and last frames are the keyframes' own images.

    Example: sg interpolate --space w (no keyframes: seeds 0-3, 181 frames, to interp.mp4 here;
    the model is the newest snapshot under ./runs unless --model or $SG_MODEL says otherwise)

    Seeds: sg interpolate ffhq.pkl --space z --seeds 1,5,9 --steps 60 --loop --trunc 0.7 --out walk.mp4

    Latents: sg interpolate --space w+ --latents proj_a.npz proj_b.npz --out frames/ (their model)

    Keyframes with stored noise maps (projections) render with them, blended linearly in between.

    A keyframe without noise maps then contributes the model's const noise.

    Video: H.264 (avc1) when OpenCV has that encoder, else mp4v (MPEG-4 Part 2), named in the output.
    """
    model, files, seed_list = _check_args(args, model_opt, space, seeds, use_latents, noise_mode)
    validate.at_least("--steps", steps, 1)
    validate.at_least("--cols", cols, 1)
    validate.at_least("--batch", batch, 1)
    validate.fps("--fps", fps)
    validate.finite("--trunc", trunc)
    output_kind(out)  # a bad --out is an error before the model loads

    G = load_model(resolve_model(model, files), device, fast=fast)
    cutoff = check_cutoff(trunc_cutoff, G.num_ws)
    check_class(class_idx, G.c_dim)
    if seed_list:
        psi = 1.0 if trunc is None else trunc
        kf = seed_keyframes(G, seed_list, space, psi, cutoff, noise_mode, class_idx)
    else:
        kf = latent_keyframes(G, files, space, trunc, cutoff, noise_mode, class_idx)
    for note in kf.notes:
        console.print(note, highlight=False)
    schedule = frame_schedule(kf.keys.shape[0], steps, loop)
    sink = open_frame_sink(out, fps, G.img_resolution, cols)
    if sink.note:
        console.print(sink.note, highlight=False)
    with progress(len(schedule), "frames") as advance:
        typer.echo(render_walk(G, kf, space, schedule, noise_mode, batch, sink, advance))


def _check_args(
    args: list[str] | None,
    model_opt: Path | None,
    space: str,
    seeds: str | None,
    use_latents: bool,
    noise_mode: str,
) -> tuple[Path | None, list[Path], list[int]]:
    """(model, keyframe files, keyframe seeds) from the arguments; seeds 0-3 when no keyframes are given."""
    if space not in SPACES:
        raise SGError(f"--space must be one of {', '.join(SPACES)} (got {space!r})")
    check_noise_mode(noise_mode)
    model, rest = split_model_arg(args or [], model_opt)
    files = [Path(f) for f in rest]
    if seeds is not None and (files or use_latents):
        raise SGError("give keyframes either with --seeds or with --latents FILES, not both")
    if use_latents and not files:
        raise SGError("--latents needs keyframe files: --latents a.npz b.npz ...")
    if seeds is None and not files:
        seeds = DEFAULT_SEEDS
        console.print(f"no keyframes given: walking through seeds {seeds}", highlight=False)
    for f in files:
        if not f.exists():
            raise SGError(f"latent file not found: {f}")
    return model, files, parse_seeds(seeds) if seeds is not None else []


def register(app: typer.Typer) -> None:
    app.command("interpolate")(interpolate_cmd)
