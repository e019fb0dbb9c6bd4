"""`sg interpolate MODEL`: walks through keyframes (seeds or saved latents) to mp4, frames or a strip."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import typer

from core import validate
from core.errors import SGError
from core.generate import (
    batch_ranges,
    labels_for,
    map_z,
    one_hot,
    render_uint8,
    retruncate,
    seed_noise,
    seeds_to_z,
)
from core.images import make_grid, save_png
from core.interpolate import Step, frame_schedule, interpolate, interpolate_noise
from core.latents import load_latents, validate_noise
from core.video import Mp4Writer
from stylegan_cli.common import (
    DEVICE_HELP,
    FAST_HELP,
    MODEL_OPT_HELP,
    check_cutoff,
    check_noise_mode,
    console,
    load_model,
    parse_seeds,
    progress,
    resolve_model,
    save_image,
    split_model_arg,
)

SPACES = ("z", "w", "w+")
DEFAULT_SEEDS = "0-3"  # the walk when no keyframes are given
STRIP_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class Keyframes:
    """What gets interpolated: ``keys`` [K, z_dim] (z), [K, w_dim] (w) or [K, num_ws, w_dim] (w+), plus
    labels [K, c_dim] for z, and per-key noise maps (lists of [1,1,r,r]) when any keyframe has its own."""

    keys: torch.Tensor
    labels: torch.Tensor | None = None
    noise: list[list[torch.Tensor]] | None = None
    psi: float | None = None
    cutoff: int | None = None


def _output_kind(out: str) -> str:
    """'video' (.mp4), 'strip' (.png/.jpg) or 'frames' (no extension, or a trailing slash)."""
    if out.endswith(("/", "\\")) or Path(out).suffix == "":
        return "frames"
    suffix = Path(out).suffix.lower()
    if suffix == ".mp4":
        return "video"
    if suffix in STRIP_SUFFIXES:
        return "strip"
    raise SGError(f"--out {out!r}: use a .mp4 video, a .png/.jpg strip, or a folder for frames (DIR/)")


def _seed_keyframes(
    G: torch.nn.Module,
    seeds: list[int],
    space: str,
    psi: float,
    cutoff: int | None,
    noise_mode: str,
    class_idx: int | None,
) -> Keyframes:
    """Keyframes from seeds: z (official convention), or their ws, mapped exactly as `sg sample` does."""
    c = labels_for(G.c_dim, class_idx, len(seeds))
    # 'random': each seed's own maps, as `sg sample --noise-mode random` draws them, blended between keys.
    noise = [seed_noise(G, s) for s in seeds] if noise_mode == "random" else None
    z = seeds_to_z(seeds, G.z_dim)
    if space == "z":
        return Keyframes(z, labels=c, noise=noise, psi=psi, cutoff=cutoff)
    if space == "w":  # interpolate untruncated w; truncation is affine, so it is applied per frame
        return Keyframes(map_z(G, z, c).cpu()[:, 0], noise=noise, psi=psi, cutoff=cutoff)
    return Keyframes(map_z(G, z, c, psi, cutoff).cpu(), noise=noise)


def _latent_keyframes(
    G: torch.nn.Module,
    files: list[Path],
    space: str,
    trunc: float | None,
    cutoff: int | None,
    noise_mode: str,
    class_idx: int | None,
) -> Keyframes:
    """Keyframes from .npz files (every latent of every file, in order)."""
    resolutions = [layer.resolution for layer in G.synthesis.noise_layers()]
    ws, zs, metas, noises, names = [], [], [], [], []
    for path in files:
        lat = load_latents(path, num_ws=G.num_ws, w_dim=G.w_dim)
        maps = validate_noise(lat.noise, resolutions, batch=lat.num) if lat.noise else None
        for i in range(lat.num):
            ws.append(lat.w[i])
            zs.append(None if lat.z is None else lat.z[i])
            metas.append(lat.meta)
            noises.append(None if maps is None else [m if m.shape[0] == 1 else m[i : i + 1] for m in maps])
            names.append(str(path) if lat.num == 1 else f"{path}[{i}]")
    noise = None
    if any(n is not None for n in noises):
        fill = [
            layer.noise_const.detach().cpu().reshape(1, 1, r, r)
            for layer, r in zip(G.synthesis.noise_layers(), resolutions, strict=True)
        ]
        if noise_mode == "none":
            fill = [torch.zeros_like(f) for f in fill]
        if any(n is None for n in noises):
            console.print(
                f"keyframes without noise maps use the model's {'zero' if noise_mode == 'none' else 'const'}"
                " noise, blended with the stored maps of the others"
            )
        noise = [n if n is not None else fill for n in noises]

    if space == "z":
        missing = [name for name, z in zip(names, zs, strict=True) if z is None]
        if missing:
            raise SGError(f"{missing[0]} has no 'z' (projected latents live in W): use --space w or w+")
        if zs[0].shape[0] != G.z_dim:
            raise SGError(f"{names[0]}: z has {zs[0].shape[0]} dims but the model expects z_dim={G.z_dim}")
        psi = trunc if trunc is not None else _common_meta(metas, "psi", 1.0, "--trunc")
        if cutoff is None:
            cutoff = check_cutoff(_common_meta(metas, "trunc_cutoff", None, "--trunc-cutoff"), G.num_ws)
        if not G.c_dim:
            labels = torch.zeros(len(zs), 0)
        elif class_idx is not None:
            labels = one_hot([class_idx] * len(zs), G.c_dim)
        else:
            classes = [m.get("class") for m in metas]
            if any(not isinstance(k, int) for k in classes):
                raise SGError(
                    f"conditional model: give --class 0..{G.c_dim - 1} (a keyframe's file stores no class)"
                )
            labels = one_hot(classes, G.c_dim)
        return Keyframes(torch.stack(zs), labels=labels, noise=noise, psi=psi, cutoff=cutoff)

    w = torch.stack(ws)  # [K, num_ws, w_dim]
    if space == "w":
        differ = [name for name, x in zip(names, ws, strict=True) if not torch.equal(x, x[:1].expand_as(x))]
        if differ:
            console.print(
                f"{differ[0]}{' and others' if len(differ) > 1 else ''}: ws differ per layer; "
                "--space w uses layer 0 (use --space w+ to keep every layer)"
            )
        return Keyframes(w[:, 0], noise=noise, psi=trunc, cutoff=cutoff)
    return Keyframes(w, noise=noise, psi=trunc, cutoff=cutoff)


def _common_meta(metas: list[dict], key: str, default: object, option: str) -> object:
    """A setting every keyframe file agrees on (e.g. psi), else ask for the option."""
    values = {repr(m.get(key, default)) for m in metas}
    if len(values) > 1:
        raise SGError(f"keyframe files were made with different {key} values; choose one with {option}")
    return metas[0].get(key, default)


def _frames_ws(G: torch.nn.Module, kf: Keyframes, space: str, steps: list[Step]) -> torch.Tensor:
    """ws [B, num_ws, w_dim] of a slice of the schedule."""
    if space == "z":
        z = interpolate(kf.keys, steps, "slerp")
        c = interpolate(kf.labels, steps, "lerp")
        return map_z(G, z, c, 1.0 if kf.psi is None else kf.psi, kf.cutoff)
    frames = interpolate(kf.keys, steps, "lerp")
    if space == "w":
        frames = frames[:, None].repeat(1, G.num_ws, 1)
    return retruncate(G, frames, kf.psi, kf.cutoff)


class FrameFolder:
    """frames/frame00000.png ...: one PNG per frame, written as they come."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def write(self, i: int, img: np.ndarray) -> None:
        save_png(img, self.folder / f"frame{i:05d}.png")

    def finish(self, count: int) -> str:
        return f"wrote {count} frames to {self.folder}/frame00000.png ..."

    def abort(self) -> None:
        """Frames already written stay (each is complete); nothing else to undo."""


class Strip:
    """One grid image of all frames, row-major, wrapping after ``cols`` frames (frames kept in memory)."""

    def __init__(self, path: str, cols: int) -> None:
        self.path, self.cols = path, cols
        self.frames: list[np.ndarray] = []

    def write(self, i: int, img: np.ndarray) -> None:
        self.frames.append(img)

    def finish(self, count: int) -> str:
        cols = min(self.cols, count)
        path = save_image(make_grid(np.stack(self.frames), cols), self.path)
        return f"wrote {path} ({count} frames, {cols} per row)"

    def abort(self) -> None:
        self.frames.clear()


class Video:
    """An .mp4 through OpenCV (see core.video for the codec choice); moved into place only when complete."""

    def __init__(self, path: str, fps: float, size: int) -> None:
        self.fps = fps
        self.writer = Mp4Writer(path, fps, size, size)
        note = "" if self.writer.fourcc == "avc1" else " (this OpenCV has no H.264 encoder)"
        console.print(f"video codec: {self.writer.codec}{note}")

    def write(self, i: int, img: np.ndarray) -> None:
        self.writer.write(img)

    def finish(self, count: int) -> str:
        path = self.writer.close()
        return f"wrote {path} ({count} frames at {self.fps:g} fps, codec {self.writer.codec})"

    def abort(self) -> None:
        self.writer.abort()


def _open_sink(kind: str, out: str, fps: float, size: int, cols: int) -> FrameFolder | Strip | Video:
    if kind == "frames":
        return FrameFolder(out)
    if kind == "strip":
        return Strip(out, cols)
    return Video(out, fps, size)


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
    if steps < 1:
        raise SGError(f"--steps must be >= 1 (got {steps})")
    if cols < 1:
        raise SGError(f"--cols must be >= 1 (got {cols})")
    if batch < 1:
        raise SGError(f"--batch must be >= 1 (got {batch})")
    validate.fps("--fps", fps)
    validate.finite("--trunc", trunc)
    kind = _output_kind(out)
    seed_list = parse_seeds(seeds) if seeds is not None else []
    for f in files:
        if not f.exists():
            raise SGError(f"latent file not found: {f}")

    G = load_model(resolve_model(model, files), device, fast=fast)
    cutoff = check_cutoff(trunc_cutoff, G.num_ws)
    if class_idx is not None and not G.c_dim:
        raise SGError(f"--class {class_idx} given but the model is unconditional (no classes)")
    if seed_list:
        psi = 1.0 if trunc is None else trunc
        kf = _seed_keyframes(G, seed_list, space, psi, cutoff, noise_mode, class_idx)
    else:
        kf = _latent_keyframes(G, files, space, trunc, cutoff, noise_mode, class_idx)
    schedule = frame_schedule(kf.keys.shape[0], steps, loop)
    count = len(schedule)

    sink = _open_sink(kind, out, fps, G.img_resolution, cols)
    try:
        with progress(count, "frames") as advance:
            for start, stop in batch_ranges(count, batch):
                part = schedule[start:stop]
                ws = _frames_ws(G, kf, space, part)
                noise = interpolate_noise(kf.noise, part) if kf.noise is not None else None
                for j, imgs in render_uint8(G, ws, noise_mode, noise, batch=stop - start):
                    for k, img in enumerate(imgs.numpy()):
                        sink.write(start + j + k, img)
                advance(stop - start)
    except BaseException:
        sink.abort()
        raise
    typer.echo(sink.finish(count))


def register(app: typer.Typer) -> None:
    app.command("interpolate")(interpolate_cmd)
