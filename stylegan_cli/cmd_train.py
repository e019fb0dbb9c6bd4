"""`sg train [DATA]`: train StyleGAN2 (or StyleGAN1) as the official trainer does, on CPU or GPUs."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from core import validate
from core.errors import SGError
from core.fileio import check_output_dir


def train(
    data: Path | None = typer.Argument(
        None,
        help="Images: folder, zip or prepared dataset. "
        "Omitted: the bundled 4,000 Fashion-MNIST images (32x32, 10 classes).",
    ),
    outdir: Path | None = typer.Option(None, "--outdir", help="Where run directories go [default: runs]."),
    cfg: str | None = typer.Option(
        None,
        "--cfg",
        help="Preset: auto, stylegan2, paper256, paper512, paper1024, "
        "small, tiny [default: auto on GPU, small on CPU].",
    ),
    arch: str | None = typer.Option(None, "--arch", help="Generator: stylegan2 or stylegan1 (AdaIN)."),
    resolution: int | None = typer.Option(None, "--resolution", help="Train at N px (raw data is resized)."),
    cond: bool | None = typer.Option(
        None, "--cond/--no-cond", help="Condition on the dataset's class labels."
    ),
    mirror: bool | None = typer.Option(
        None, "--mirror/--no-mirror", help="Add x-flipped copies of the data."
    ),
    cbase: int | None = typer.Option(
        None, "--cbase", help="Channel base (channels = min(cbase / res, cmax))."
    ),
    cmax: int | None = typer.Option(None, "--cmax", help="Most channels of any layer."),
    map_depth: int | None = typer.Option(None, "--map-depth", help="Layers of the mapping network."),
    mbstd_group: int | None = typer.Option(None, "--mbstd-group", help="Minibatch-stddev group size."),
    gamma: float | None = typer.Option(None, "--gamma", help="R1 regularisation weight."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate of G and D."),
    batch: int | None = typer.Option(None, "--batch", help="Total batch size (over all GPUs)."),
    batch_gpu: int | None = typer.Option(
        None, "--batch-gpu", help="Batch per pass; gradients accumulate up to the per-GPU batch."
    ),
    ema_kimg: float | None = typer.Option(None, "--ema", help="G_ema half-life in kimg."),
    kimg: float | None = typer.Option(
        None, "--kimg", help="Train until this many thousand images (fractions ok)."
    ),
    snap: float | None = typer.Option(None, "--snap", help="kimg between snapshots."),
    tick: float | None = typer.Option(None, "--tick", help="kimg between progress lines."),
    keep: int | None = typer.Option(None, "--keep", help="Keep only the N newest snapshots."),
    resume: Path | None = typer.Option(
        None,
        "--resume",
        help="Continue a run (its folder or a snapshot), or "
        "start from any model file (official .pkl ...) at kimg 0.",
    ),
    seed: int | None = typer.Option(None, "--seed", help="Random seed [default: 0]."),
    gpus: int | None = typer.Option(
        None, "--gpus", help="Processes (one per GPU; gloo on CPU) [default: 1]."
    ),
    loss: str | None = typer.Option(None, "--loss", help="ns (logistic + R1, default) or wgan-gp."),
    fp32: bool = typer.Option(False, "--fp32", help="No reduced precision (same as --precision fp32)."),
    precision: str | None = typer.Option(
        None,
        "--precision",
        help="auto, bf16, fp16 or fp32 for the top resolutions on CUDA (CPU always runs fp32).",
    ),
    compile: bool | None = typer.Option(
        None, "--compile/--no-compile", help="torch.compile G and D forward."
    ),
    workers: int | None = typer.Option(None, "--workers", help="Data loader processes."),
    device: str | None = typer.Option(None, "--device", help="cpu or cuda [default: cuda if available]."),
    aug: str | None = typer.Option(
        None,
        "--aug",
        help="Discriminator augmentation: ada (adaptive p, the default), fixed (--p), or noaug. "
        "Small datasets (a few thousand images) need ada.",
    ),
    augpipe: str | None = typer.Option(
        None,
        "--augpipe",
        help="Transforms: blit, geom, color, filter, noise, cutout, bg, bgc (default), "
        "bgcf, bgcfn, bgcfnc (b=blit, g=geom, c=color, f=filter, n=noise, last c=cutout). "
        "If samples show colours the data lacks (green or blue faces), train with bg: on a small "
        "dataset the colour group can leak even at low p (bench/RESULTS.md).",
    ),
    target: float | None = typer.Option(
        None, "--target", help="ADA target for the mean sign of D on reals [default: 0.6]."
    ),
    ada_kimg: float | None = typer.Option(
        None, "--ada-kimg", help="ADA speed: kimg for p to go from 0 to 1 [default: 500]."
    ),
    p: float | None = typer.Option(
        None, "--p", help="Augmentation strength: required with --aug fixed; with ada, where p starts [0]."
    ),
    p_max: float | None = typer.Option(
        None,
        "--p-max",
        help="Ceiling of the ADA strength [default: 1]; above ~0.8 augmentations can leak into the fakes.",
    ),
    freezed: int | None = typer.Option(
        None,
        "--freezed",
        help="Freeze-D: keep D's first N layers (from the image side) fixed. For fine-tuning a pretrained "
        "model (--resume model.pkl) on a small dataset, where D overfits first; e.g. 10 at 256 px. "
        "Not for training from scratch [default: 0].",
    ),
    metrics: str | None = typer.Option(
        None,
        "--metrics",
        help="Metrics computed at every snapshot into metrics.jsonl and metrics-<snapshot>.json, named "
        "as in `sg metrics`, e.g. fid50k_full,kid50k_full (the official trainer's: fid50k_full). "
        "Default: none.",
    ),
    metrics_num: int | None = typer.Option(
        None,
        "--metrics-num",
        help="Generated images per snapshot metric. Default: the protocol's (50000 for fid50k_full).",
    ),
    weights_dir: Path | None = typer.Option(
        None,
        "--weights-dir",
        help="Folder with the metrics' pretrained files (else the torch hub cache, else downloaded).",
    ),
) -> None:
    """Train a GAN; writes snapshots, sample grids, metrics.jsonl (and TensorBoard logs) under --outdir.

    Example (CPU, about 3 minutes, bundled Fashion-MNIST, one row per class): sg train --cond --kimg 10
    Example (GPU): sg train faces.zip --cfg stylegan2 --gpus 2 --batch 32 --gamma 10 --mirror

    Example (1,000 photos, fine-tuning FFHQ): sg train photos.zip --resume ffhq.pkl --aug ada --freezed 10
    """
    from core.training import TrainOptions
    from core.training import train as run_training
    from core.training.distributed import train_in_processes

    params = {k: str(v) if isinstance(v, Path) else v for k, v in locals().items()}  # the options, by name
    if fp32 and precision not in (None, "fp32"):
        raise SGError("--fp32 contradicts --precision " + str(precision))
    if device is not None:  # before any process or run folder exists
        validate.device("--device", device)
    if outdir is not None:
        check_output_dir(outdir)
    opts = TrainOptions.from_dict({**params, "precision": "fp32" if fp32 else precision})
    if (gpus or 1) > 1 and "WORLD_SIZE" not in os.environ:
        config = train_in_processes(opts)
        typer.echo(f"done: {config.kimg:g} kimg on {opts.gpus} processes")
        return
    result = run_training(opts)
    if result.stopped_by:
        typer.echo(f"stopped by {result.stopped_by}; snapshot written: {result.snapshot}")


def register(app: typer.Typer) -> None:
    app.command("train")(train)
