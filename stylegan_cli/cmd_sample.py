"""`sg sample MODEL`: images from seeds (official z convention), in bulk, or from saved latents."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import typer

from core import validate
from core.errors import SGError
from core.fileio import check_output_dir, folder_lock
from core.generate import (
    MAX_SEED,
    NOISE_MODES,
    batch_ranges,
    random_classes,
    render_uint8,
    retruncate,
    seed_latents,
    take_noise,
)
from core.images import make_grid, save_png
from core.latents import Latents, load_latents, model_record, validate_noise
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


def _grid_cols(n: int) -> int:
    """A near-square grid."""
    return max(1, int(np.ceil(np.sqrt(n))))


def _latent_record(lat: Latents, i: int, meta: dict) -> Latents:
    """Latent i of a batch as its own one-latent file (noise maps sliced to that image)."""
    noise = take_noise(lat.noise, i, i + 1)
    return Latents(w=lat.w[i : i + 1], z=None if lat.z is None else lat.z[i : i + 1], noise=noise, meta=meta)


def _render_seeds(
    G: torch.nn.Module,
    seeds: list[int],
    classes: list[int] | None,
    names: list[str],
    outdir: Path,
    psi: float,
    cutoff: int | None,
    noise_mode: str,
    batch: int,
    save_latents: bool,
    keep: bool,
    model_path: Path,
) -> list[np.ndarray]:
    """Map, render and write seeds batch by batch; returns the uint8 images when ``keep`` (for --grid)."""
    kept: list[np.ndarray] = []
    record = model_record(model_path) if save_latents else {}
    with progress(len(seeds), "rendering") as advance:
        for start, stop in batch_ranges(len(seeds), batch):
            cls = classes[start:stop] if classes is not None else None
            lat = seed_latents(G, seeds[start:stop], cls, psi, cutoff, noise_mode)
            for j0, imgs in render_uint8(G, lat.w, noise_mode, lat.noise, batch=stop - start):
                for j, img in enumerate(imgs, start=j0):
                    name = names[start + j]
                    save_png(img, outdir / f"{name}.png")
                    if save_latents:
                        meta = {
                            "space": "w",
                            "seed": seeds[start + j],
                            "psi": psi,
                            "trunc_cutoff": cutoff,
                            "noise_mode": noise_mode,
                            "class": None if cls is None else cls[j],
                            "num_ws": G.num_ws,
                            "w_dim": G.w_dim,
                            "resolution": G.img_resolution,
                            **record,
                        }
                        _latent_record(lat, j, meta).save(outdir / f"{name}.npz")
                    if keep:
                        kept.append(img.numpy())
            advance(stop - start)
    return kept


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
    if class_idx is not None:
        if not G.c_dim:
            raise SGError(f"--class {class_idx} given but the model is unconditional (no classes)")
        if not 0 <= class_idx < G.c_dim:
            raise SGError(
                f"--class {class_idx} is out of range: this model has {G.c_dim} classes (0..{G.c_dim - 1})"
            )

    if latents is not None:
        _sample_latents(G, latents, trunc, cutoff, noise_mode, outdir, grid, batch)
        return

    psi = 1.0 if trunc is None else float(trunc)
    mode = noise_mode or "const"
    classes: list[int] | None = None
    if seeds is not None:
        if G.c_dim and class_idx is None:
            raise SGError(f"the model is conditional with {G.c_dim} classes: give --class 0..{G.c_dim - 1}")
        names = [f"seed{s:04d}" for s in seed_list]
    else:
        seed_list = list(range(seed, seed + num))
        names = [f"img{i:06d}" for i in range(num)]
        if G.c_dim and class_idx is None:
            console.print(
                f"conditional model: picking a random class (0..{G.c_dim - 1}) per image, "
                f"reproducible from --seed {seed}; pass --class to fix one"
            )
            classes = random_classes(G.c_dim, num, seed)
    if G.c_dim and classes is None:
        classes = [class_idx] * len(seed_list)

    with folder_lock(outdir):  # a second sg sample into this folder stops instead of mixing files
        kept = _render_seeds(
            G, seed_list, classes, names, outdir, psi, cutoff, mode, batch, save_latents, grid, model
        )
    typer.echo(
        f"wrote {len(seed_list)} image(s) to {outdir}" + (" with .npz latents" if save_latents else "")
    )
    if grid:
        path = save_png(make_grid(np.stack(kept), _grid_cols(len(kept))), outdir / "grid.png")
        typer.echo(f"wrote {path}")


def _sample_latents(
    G: torch.nn.Module,
    path: Path,
    trunc: float | None,
    cutoff: int | None,
    noise_mode: str | None,
    outdir: Path,
    grid: bool,
    batch: int,
) -> None:
    """Render every latent of an .npz, using its noise maps when it has them (exact re-render)."""
    lat = load_latents(path, num_ws=G.num_ws, w_dim=G.w_dim)
    n = lat.num
    noise = None
    if lat.noise:
        noise = validate_noise(lat.noise, [layer.resolution for layer in G.synthesis.noise_layers()], batch=n)
    stored = lat.meta.get("noise_mode")
    mode = noise_mode or (stored if stored in NOISE_MODES else "const")
    ws = retruncate(G, lat.w.to(G.mapping.w_avg.device), trunc, cutoff)
    names = [path.stem] if n == 1 else [f"{path.stem}_{i:02d}" for i in range(n)]
    kept: list[np.ndarray] = []
    with progress(n, "rendering") as advance:
        for start, imgs in render_uint8(G, ws, mode, noise, batch=batch):
            for j, img in enumerate(imgs, start=start):
                save_png(img, outdir / f"{names[j]}.png")
                if grid:
                    kept.append(img.numpy())
            advance(imgs.shape[0])
    how = "stored noise maps" if noise is not None else f"noise {mode}"
    typer.echo(f"wrote {n} image(s) to {outdir} ({how})")
    if grid:
        out = save_png(make_grid(np.stack(kept), _grid_cols(n)), outdir / "grid.png")
        typer.echo(f"wrote {out}")


def register(app: typer.Typer) -> None:
    app.command("sample")(sample)
