"""`sg dataset`: prepare a folder or zip of images once into a fast, memory-mappable training dataset."""

from __future__ import annotations

from pathlib import Path

import typer

from core.errors import SGError


def dataset(
    src: Path = typer.Argument(..., help="Folder (searched recursively) or .zip of PNG/JPEG/WebP images."),
    out: Path = typer.Argument(..., help="Output directory (images.npy, labels.npy, meta.json)."),
    resolution: int = typer.Option(..., "--resolution", "-r", help="Output size in pixels, a power of two."),
    transform: str = typer.Option(
        "center-crop",
        "--transform",
        help="center-crop (square centre), center-crop-wide (2:1 centre, black bars), or resize (stretch).",
    ),
    max_images: int | None = typer.Option(None, "--max-images", help="Keep at most this many images."),
    channels: int = typer.Option(3, "--channels", help="3 for RGB, 1 for grayscale."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it already exists."),
) -> None:
    """Prepare SRC into OUT for training; labels come from SRC's dataset.json if present.

    Example: sg dataset photos.zip data/photos256 --resolution 256 --transform center-crop
    """
    from core.data.prepare import prepare_dataset
    from core.training.augment import small_dataset_hint

    if not src.exists():
        raise SGError(f"source not found: {src}")
    if out.exists() and not force:
        raise SGError(f"output already exists: {out} (use --force to overwrite)")
    result = prepare_dataset(
        src,
        out,
        resolution,
        transform=transform,
        channels=channels,
        max_images=max_images,
        overwrite=force,
    )
    classes = f"{result.num_classes} classes" if result.num_classes else "no labels"
    typer.echo(
        f"prepared {result.count} images ({result.skipped} skipped) at "
        f"{result.resolution}x{result.resolution}x{result.channels}, {classes} -> {result.path}"
    )
    hint = small_dataset_hint(result.count)
    if hint:
        typer.secho(f"hint: {hint}", fg="yellow", err=True)  # advice on stderr: stdout is the result line


def register(app: typer.Typer) -> None:
    """Adds `sg dataset` to the app."""
    app.command(
        "dataset",
        help=(
            "Prepare a folder or zip of images into a training dataset.\n\n"
            "Example: sg dataset photos.zip data/photos256 --resolution 256 --transform center-crop"
        ),
    )(dataset)
