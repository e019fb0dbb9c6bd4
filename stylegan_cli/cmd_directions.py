"""`sg directions [MODEL] --method sefa|ganspace|boundary|class --out dirs.npz`: editing directions in W;
`sg directions rename dirs.npz 3 smile` names one."""

from __future__ import annotations

from pathlib import Path

import typer

from core.editing import find, load_directions
from core.editing.directions import class_means, w_moments
from core.editing.format import METHODS
from core.editing.labels import labelled_rows, labelled_w
from core.editing.listing import directions_table
from core.editing.render import PREVIEW_STRENGTHS, preview_grid
from core.errors import SGError
from core.mixing import parse_layers
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
    find.check_request(method, out, preview, num, name, labels, orthogonal_to)
    rows = labelled_rows(labels) if method == "boundary" else []
    npz_inputs = [p for p, _ in rows if isinstance(p, Path)]
    model_path = resolve_model(Path(args[0]) if args else model_opt, npz_inputs)
    G = load_model(Path(model_path), device)
    picked = parse_layers(layers, G.num_ws)
    n_samples = find.sample_count(method, samples)
    others = find.orthogonal_vectors(orthogonal_to, G.w_dim)
    pair = parse_seeds(classes, "--classes") if method == "class" and classes is not None else None
    find.check_class_pair(pair, G.c_dim, classes)

    settings: dict = {"layers": layers, "samples": n_samples, "seed": seed}
    with progress(n_samples, "sampling w") as advance:
        moments = w_moments(G, n_samples, batch, seed, None, advance)
    if method == "sefa":
        found = find.sefa_directions(G, picked, num)
        settings["num"] = num
    elif method == "ganspace":
        found = find.ganspace_directions(moments, num)
        settings["num"] = num
    elif method == "boundary":
        with progress(len(rows), "reading latents") as advance:
            x, y = labelled_w(G, rows, picked, class_idx, batch, advance)
        with console.status(f"fitting a linear SVM on {x.shape[0]} latents ..."):
            found = find.boundary_direction(x, y, fraction, seed, others, name or find.boundary_name(labels))
        settings.update(labels=str(labels), fraction=fraction, orthogonal_to=list(orthogonal_to))
    else:
        with progress(n_samples, "class means") as advance:
            found = find.class_directions(class_means(G, n_samples, batch, seed, advance), pair)
        settings["classes"] = classes
    dirs = find.assemble_directions(G, method, found, picked, moments, settings, model_path)
    path = dirs.save(out)
    console.print(directions_table(dirs, str(path)))
    typer.echo(f"wrote {path} ({dirs.num} {method} direction(s))")
    if preview is not None:
        seeds = parse_seeds(preview_seeds, "--preview-seeds")
        with progress(min(preview_num, dirs.num) * len(seeds) * len(PREVIEW_STRENGTHS), "preview") as advance:
            image = preview_grid(G, dirs, seeds, preview_num, class_idx, advance)
        typer.echo(f"wrote {save_image(image, preview)}")


def register(app: typer.Typer) -> None:
    app.command("directions")(directions)
