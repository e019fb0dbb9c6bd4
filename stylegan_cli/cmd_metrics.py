"""`sg metrics`: FID, KID, precision/recall, PPL, IS (official names and protocols) and SWD for a model,
saved to metrics-<model>.json; `sg metrics --compare A B` puts runs side by side."""

from __future__ import annotations

from pathlib import Path

import typer

from core import validate
from core.errors import SGError
from stylegan_cli.common import DEVICE_HELP, MODEL_HELP, MODEL_OPT_HELP, console, resolve_model

EXAMPLE = (
    "Example: sg metrics runs/00003-faces --data data/faces256 --metric fid50k_full,kid50k_full\n\n"
    "Quick: sg metrics model.pkl --data faces.zip --metric fid50k_full --num-gen 5000 --weights-dir w\n\n"
    "Compare: sg metrics --compare runs/00003-faces runs/00004-faces-noaug"
)
METRIC_HELP = (
    "Comma-separated: fid50k_full, kid50k_full, pr50k3_full, ppl2_wend, is50k (official StyleGAN2-ADA "
    "protocols), the legacy fid50k, kid50k, pr50k3, ppl_zfull, ppl_wfull, ppl_zend, ppl_wend (face crop), "
    "and swd (needs no weights)."
)
WEIGHTS_HELP = (
    "Folder with the pretrained files (weights-inception-2015-12-05-6726825d.pth for FID/KID/IS, "
    "vgg16-397923af.pth for PR/PPL). Else the torch hub cache, else downloaded there when online."
)


def metrics(
    args: list[Path] | None = typer.Argument(None, metavar="[MODEL]", help=MODEL_HELP, show_default=False),
    model_opt: Path | None = typer.Option(None, "--model", "-m", help=MODEL_OPT_HELP, show_default=False),
    data: Path | None = typer.Option(
        None, "--data", help="Prepared dataset dir, or a raw folder/zip (prepared once).", show_default=False
    ),
    metric: str = typer.Option("swd", "--metric", help=METRIC_HELP),
    num_gen: int | None = typer.Option(
        None,
        "--num-gen",
        "--num",
        help="Generated images per metric (PPL: samples; SWD: images per side). Default: the protocol's.",
        show_default=False,
    ),
    max_real: int | None = typer.Option(
        None, "--max-real", help="At most this many real images. Default: the protocol's.", show_default=False
    ),
    weights_dir: Path | None = typer.Option(None, "--weights-dir", help=WEIGHTS_HELP, show_default=False),
    out: Path | None = typer.Option(
        None, "--out", help="Folder for metrics-<model>.json (default: beside the model).", show_default=False
    ),
    psi: float = typer.Option(1.0, "--psi", help="Truncation psi for the generated images (official: 1)."),
    batch: int = typer.Option(32, "--batch", help="Images per batch through G and the feature networks."),
    seed: int = typer.Option(0, "--seed", help="Seed for latents, KID subsets, PPL draws and SWD."),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
    compare: bool = typer.Option(
        False, "--compare", help="Compare: the arguments are run folders or metrics-*.json files."
    ),
) -> None:
    """Compute metrics for MODEL against the images in --data, print them and save metrics-<model>.json.

    Example: sg metrics runs/00003-faces --data data/faces256 --metric fid50k_full,kid50k_full
    """
    args = list(args or [])
    if compare:
        _compare(args)
        return
    import torch

    from core.checkpoint import load_generator
    from core.data.dataset import open_dataset
    from core.metrics.protocols import MetricOptions, check_weights, compute_metrics, counts, parse_metrics
    from core.metrics.results import results_path, write_results

    protocols = parse_metrics(metric)
    if len(args) > 1:
        raise SGError(f"give one model (got {len(args)} arguments); to compare runs, add --compare")
    if args and model_opt is not None:
        raise SGError(f"give the model once: {args[0]} as the argument, or --model {model_opt}")
    if data is None:
        raise SGError("--data is required: the real images to compare with (a prepared dataset or a folder)")
    for value, name, low in ((num_gen, "--num-gen", 2), (max_real, "--max-real", 2), (batch, "--batch", 1)):
        if value is not None and value < low:
            raise SGError(f"{name} must be at least {low}, got {value}")
    validate.finite("--psi", psi)
    validate.seed("--seed", seed)
    validate.device("--device", device)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    opts = MetricOptions(
        num_gen=num_gen,
        max_real=max_real,
        batch=batch,
        seed=seed,
        psi=psi,
        device=device,
        weights_dir=weights_dir,
    )
    check_weights(protocols, opts)  # a missing weights file fails before the model and data load
    model = resolve_model(args[0] if args else model_opt)

    G = load_generator(str(model), device=device)
    if hasattr(G, "eval"):
        G.eval()
    res = getattr(G, "img_resolution", None)
    ch = getattr(G, "img_channels", None)
    ds = open_dataset(data, resolution=res, channels=ch)
    for p in protocols:
        n_gen, n_real = counts(p, ds.num_images, opts)
        if p.kind == "swd" and num_gen is not None and n_gen < num_gen:
            console.print(f"note: dataset has only {ds.num_images} images; SWD uses {n_gen} per side")

    results = compute_metrics(protocols, G, ds, opts, log=lambda s: console.print(s, markup=False))
    _print(results, psi, seed)
    path = write_results(results_path(model, out), model, ds.path, results)
    console.print(f"results: {path}", markup=False, soft_wrap=True)


def _print(results: dict, psi: float, seed: int) -> None:
    """The SWD table per pyramid level (as before), then one table of every value."""
    from rich.console import Console

    from core.metrics.report import swd_table, values_table

    out = Console(highlight=False)
    swd = results.get("swd")
    if swd is not None:
        n = swd["num_gen"]
        typer.echo(f"SWD x1e3 per Laplacian level, {n} real vs {n} generated images (psi={psi}, seed={seed})")
        out.print(swd_table(swd))
    table = values_table(results, psi, seed)
    if table is not None:
        out.print(table)


def _compare(args: list[Path]) -> None:
    """One row per metric value, one column per run (its newest metrics-*.json)."""
    from rich.console import Console

    from core.metrics.report import compare_table

    Console(highlight=False, width=max(100, 30 + 28 * len(args))).print(compare_table(args))


def register(app: typer.Typer) -> None:
    """Adds `sg metrics` to the app."""
    app.command("metrics", help=f"Measure a generator: FID, KID, PR, PPL, IS, SWD.\n\n{EXAMPLE}")(metrics)
