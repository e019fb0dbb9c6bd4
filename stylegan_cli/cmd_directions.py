"""`sg directions [MODEL] --method sefa|ganspace|boundary|class --out dirs.npz`: editing directions in W;
`sg directions rename dirs.npz 3 smile` names one."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import typer
from rich.table import Table

from core.editing import load_directions, parse_direction_ref
from core.editing.directions import (
    class_means,
    fit_boundary,
    orthogonalize,
    w_moments,
)
from core.editing.find import assemble_directions, class_directions, ganspace_directions, sefa_directions
from core.editing.format import METHODS, Directions, check_name
from core.editing.labels import labelled_w, read_labels, resolve_latent
from core.editing.render import PREVIEW_STRENGTHS, preview_grid
from core.errors import SGError
from core.mixing import format_layers, parse_layers
from stylegan_cli.common import (
    DEVICE_HELP,
    MODEL_HELP,
    console,
    load_model,
    parse_seeds,
    progress,
    resolve_model,
    save_image,
)

DEFAULT_SAMPLES = {"ganspace": 100_000}
SCALE_SAMPLES = 10_000
_SEED = re.compile(r"^\d+$")


# --------------------------------------------------------------------------- listing (also `sg info`)


def directions_table(dirs: Directions, title: str) -> Table:
    """A table of the directions: index, name, value, scale, default layers."""
    meta = dirs.meta
    value_name = meta.get("value_name", "value")
    table = Table(title=f"{title}: {dirs.num} {dirs.method} direction(s), w_dim {dirs.w_dim}")
    for col in ("#", "name", value_name, "scale", "layers"):
        table.add_column(col, justify="right" if col in ("#", value_name, "scale") else "left")
    for i in range(dirs.num):
        table.add_row(
            str(i), dirs.names[i], f"{dirs.values[i]:.4g}", f"{dirs.scale[i]:.4g}", _ranges(dirs.layers[i])
        )
    table.caption = f"model {meta.get('model', '?')} (hash {str(meta.get('model_hash') or '?')[:12]})"
    return table


def print_directions(path: Path) -> None:
    """What `sg info dirs.npz` prints."""
    from rich.console import Console

    dirs = load_directions(path)
    Console().print(directions_table(dirs, str(path)))
    settings = dirs.meta.get("settings", {})
    if settings:
        typer.echo("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()))


def _ranges(mask: np.ndarray | list[int]) -> str:
    """[T,T,T,F,T] or [0,1,2,4] -> '0-2,4' ('-' for none)."""
    idx = [i for i, on in enumerate(mask) if on] if isinstance(mask, np.ndarray) else list(mask)
    return format_layers(idx) or "-"


# --------------------------------------------------------------------------- the command


def _labelled(G, rows, picked, class_idx, batch):
    with progress(len(rows), "reading latents") as advance:
        return labelled_w(G, rows, picked, class_idx, batch, advance)


def _rename(args: list[str]) -> None:
    if len(args) != 4:
        raise SGError("usage: sg directions rename DIRS.npz NAME_OR_INDEX NEW_NAME")
    path = Path(args[1])
    dirs = load_directions(path)
    i = dirs.rename(args[2], args[3], str(path))
    dirs.save(path)
    typer.echo(f"{path}: direction {i} is now {args[3]!r}")


def directions(
    args: list[str] | None = typer.Argument(
        None, metavar="[MODEL] | rename DIRS.npz NAME_OR_INDEX NEW_NAME", help=MODEL_HELP, show_default=False
    ),
    method: str | None = typer.Option(None, "--method", help=f"One of {', '.join(METHODS)}."),
    out: Path | None = typer.Option(None, "--out", help="Directions file to write (.npz)."),
    model_opt: Path | None = typer.Option(
        None, "--model", "-m", help="Model (instead of the MODEL argument)."
    ),
    layers: str = typer.Option(
        "all",
        "--layers",
        help="w layers: all, coarse, middle, fine or numbers/ranges (0-3). SeFa factorises the style "
        "affines these ws feed; every method stores them as the directions' default layers for sg edit.",
    ),
    num: int = typer.Option(10, "--num", help="sefa/ganspace: how many directions to keep."),
    samples: int | None = typer.Option(
        None,
        "--samples",
        help="Sampled w: GANSpace's PCA (default 100,000), class means and every method's per-direction "
        "scale (default 10,000).",
    ),
    batch: int = typer.Option(1024, "--batch", help="Samples mapped per batch."),
    seed: int = typer.Option(0, "--seed", help="Seed of the sampled z."),
    labels: Path | None = typer.Option(
        None, "--labels", help="boundary: CSV of 'latent,label' rows; latent = .npz file or seed."
    ),
    fraction: float = typer.Option(
        0.2, "--fraction", help="boundary, continuous labels: train on the top and bottom fraction."
    ),
    orthogonal_to: list[str] = typer.Option(
        [], "--orthogonal-to", help="boundary: DIRS.npz:NAME to project out (repeatable)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="boundary: the direction's name (default: CSV stem)."
    ),
    class_idx: int | None = typer.Option(None, "--class", help="Class for seeds of a conditional model."),
    classes: str | None = typer.Option(
        None, "--classes", help="class: A,B gives mean w(B) - mean w(A); default: each class minus the mean."
    ),
    preview: Path | None = typer.Option(None, "--preview", help="Also render a preview grid (.png)."),
    preview_seeds: str = typer.Option("0-2", "--preview-seeds", help="Seeds of the preview grid."),
    preview_num: int = typer.Option(8, "--preview-num", help="Directions (rows) in the preview grid."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Find editing directions in W, with a per-direction scale (std of w along it).

    Example: sg directions ffhq.pkl --method sefa --layers coarse --num 10 --out dirs.npz --preview dirs.png

    GANSpace: sg directions ffhq.pkl --method ganspace --samples 100000 --out pcs.npz

    Boundary: sg directions ffhq.pkl --method boundary --labels smile.csv --out smile.npz
    (rows 'latent,label'; binary labels, or a score split at its top/bottom --fraction)

    Class: sg directions cond.safetensors --method class --classes 2,7 --out c.npz

    Name one: sg directions rename dirs.npz 3 smile.  List: sg info dirs.npz
    """
    args = list(args or [])
    if args and args[0] == "rename":
        _rename(args)
        return
    if len(args) > 1:
        raise SGError(f"expected at most one MODEL argument, got {len(args)}: {' '.join(args)}")
    if args and model_opt is not None:
        raise SGError("give the model either as MODEL or as --model, not both")
    if method not in METHODS:
        raise SGError(f"--method must be one of {', '.join(METHODS)} (got {method!r})")
    if out is None or out.suffix.lower() != ".npz":
        raise SGError("--out must name the directions file to write, e.g. --out dirs.npz")
    if preview is not None and preview.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise SGError(f"--preview must be a .png or .jpg file (got {preview})")
    if num < 1:
        raise SGError(f"--num must be >= 1 (got {num})")
    if name is not None:
        check_name(name)

    rows: list[tuple[Path | int, float]] = []
    if method == "boundary":
        if labels is None:
            raise SGError("--method boundary needs --labels labels.csv (rows: latent,label)")
        rows = [
            (
                resolve_latent(lat, labels, line),
                y,
            )
            for lat, y, line in read_labels(labels)
        ]
    elif labels is not None or orthogonal_to:
        raise SGError("--labels and --orthogonal-to apply to --method boundary only")
    npz_inputs = [p for p, _ in rows if isinstance(p, Path)]
    model_path = resolve_model(Path(args[0]) if args else model_opt, npz_inputs)
    G = load_model(Path(model_path), device)
    picked = parse_layers(layers, G.num_ws)
    n_samples = samples if samples is not None else DEFAULT_SAMPLES.get(method, SCALE_SAMPLES)
    if n_samples < 2:
        raise SGError(f"--samples must be >= 2 (got {n_samples})")

    others = []
    for ref_text in orthogonal_to:
        ref = parse_direction_ref(ref_text, "--orthogonal-to", allow_strength=False)
        od = load_directions(ref.path)
        if od.w_dim != G.w_dim:
            raise SGError(f"--orthogonal-to {ref_text}: w_dim {od.w_dim} but the model has w_dim {G.w_dim}")
        others.append(od.vectors[od.index(ref.key, str(ref.path))].astype(np.float64))

    settings: dict = {"layers": layers, "samples": n_samples, "seed": seed}
    with progress(n_samples, "sampling w") as advance:
        moments = w_moments(G, n_samples, batch, seed, None, advance)
    if method == "sefa":
        found = sefa_directions(G, picked, num)
        settings["num"] = num
    elif method == "ganspace":
        found = ganspace_directions(moments, num)
        settings["num"] = num
    elif method == "boundary":
        x, y = _labelled(G, rows, picked, class_idx, batch)
        with console.status(f"fitting a linear SVM on {x.shape[0]} latents ..."):
            normal, info = fit_boundary(x, y, fraction, seed)
        normal = orthogonalize(normal, others)
        acc = info.get("val_accuracy", info["train_accuracy"])
        value_name = "val accuracy" if "val_accuracy" in info else "train accuracy"
        found = (
            normal[None],
            np.array([acc]),
            [name or _name_from(labels)],
            {"value_name": value_name, "svm": info},
        )
        settings.update(labels=str(labels), fraction=fraction, orthogonal_to=list(orthogonal_to))
    else:
        pair = None
        if classes is not None:
            pair = parse_seeds(classes, "--classes")
            if len(pair) != 2 or max(pair) >= G.c_dim:
                raise SGError(f"--classes takes two classes A,B within 0..{G.c_dim - 1} (got {classes!r})")
        with progress(n_samples, "class means") as advance:
            found = class_directions(class_means(G, n_samples, batch, seed, advance), pair)
        settings["classes"] = classes
    dirs = assemble_directions(G, method, found, picked, moments, settings, model_path)
    path = dirs.save(out)
    console.print(directions_table(dirs, str(path)))
    typer.echo(f"wrote {path} ({dirs.num} {method} direction(s))")
    if preview is not None:
        seeds = parse_seeds(preview_seeds, "--preview-seeds")
        with progress(min(preview_num, dirs.num) * len(seeds) * len(PREVIEW_STRENGTHS), "preview") as advance:
            image = preview_grid(G, dirs, seeds, preview_num, class_idx, advance)
        typer.echo(f"wrote {save_image(image, preview)}")


def _name_from(labels: Path | None) -> str:
    """A direction name from the labels file's stem ('smile.csv' -> 'smile'), else 'boundary'."""
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", labels.stem) if labels is not None else ""
    return stem if stem and re.match(r"^[A-Za-z_]", stem) else "boundary"


def register(app: typer.Typer) -> None:
    app.command("directions")(directions)
