"""`sg metrics`: measure a generator against real data (sliced Wasserstein distance, needs no weights)."""

from __future__ import annotations

from pathlib import Path

import typer

from core.errors import SGError

METRICS = ("swd",)
EXAMPLE = "Example: sg metrics model.pkl --data data/faces64 --metric swd --num 8192"


def metrics(
    model: Path = typer.Argument(..., help="Generator checkpoint (anything `sg` can load)."),
    data: Path = typer.Option(
        ..., "--data", help="Prepared dataset dir, or a raw folder/zip (prepared once)."
    ),
    metric: str = typer.Option("swd", "--metric", help="Metric to compute: swd."),
    num: int = typer.Option(8192, "--num", help="Images per side (real and generated)."),
    psi: float = typer.Option(1.0, "--psi", help="Truncation psi for the generated images."),
    batch: int = typer.Option(32, "--batch", help="Generator batch size."),
    seed: int = typer.Option(0, "--seed", help="Seed for latents, real-image choice and projections."),
    device: str = typer.Option("auto", "--device", help="cpu, cuda, cuda:1 ... or auto."),
) -> None:
    """Compute a metric for MODEL against the images in --data and print a table.

    Example: sg metrics model.pkl --data data/faces64 --metric swd --num 8192
    """
    import numpy as np
    import torch
    from rich.console import Console
    from rich.table import Table

    from core.checkpoint import load_generator
    from core.data.dataset import open_dataset
    from core.data.progress import make_progress
    from core.metrics.swd import generate_images, pyramid_sizes, swd

    if metric not in METRICS:
        raise SGError(f"unknown metric {metric!r}; available: {', '.join(METRICS)}")
    if num < 2:
        raise SGError(f"--num must be at least 2, got {num}")
    if not model.exists():
        raise SGError(f"model not found: {model}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"

    G = load_generator(str(model), device=device)
    if hasattr(G, "eval"):
        G.eval()
    res = getattr(G, "img_resolution", None)
    ch = getattr(G, "img_channels", None)
    ds = open_dataset(data, resolution=res, channels=ch)
    n = min(num, ds.num_images)
    if n < num:
        typer.echo(f"note: dataset has only {ds.num_images} images; using {n} per side", err=True)

    pick = np.sort(np.random.default_rng(seed).choice(ds.num_images, size=n, replace=False))
    real, _ = ds.get_batch(pick)
    with make_progress() as bar:
        task = bar.add_task("generating", total=n)
        fake = generate_images(G, n, batch=batch, psi=psi, seed=seed, on_batch=lambda k: bar.advance(task, k))
    if fake.shape[1:] != real.shape[1:]:
        raise SGError(
            f"generator makes {tuple(fake.shape[1:])} images but the data is {tuple(real.shape[1:])}"
        )

    values = swd(real, fake, seed=seed, device=device, progress=True)
    typer.echo(f"SWD x1e3 per Laplacian level, {n} real vs {n} generated images (psi={psi}, seed={seed})")
    table = Table()
    table.add_column("pyramid level")
    table.add_column("SWD x1e3", justify="right")
    for (h, w), v in zip(pyramid_sizes(real.shape[2], real.shape[3]), values[:-1], strict=True):
        table.add_row(f"{h}x{w}", f"{v:.3f}")
    table.add_row("mean", f"{values[-1]:.3f}", style="bold")
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Adds `sg metrics` to the app."""
    app.command("metrics", help=f"Measure a generator against real images (SWD).\n\n{EXAMPLE}")(metrics)
