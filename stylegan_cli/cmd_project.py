"""`sg project MODEL IMAGES...`: invert photos into W / W+ and noise; optional video and pivotal tuning."""

from __future__ import annotations

from pathlib import Path

import typer

from core import validate
from core.errors import SGError
from stylegan_cli.common import DEVICE_HELP, MODEL_OPT_HELP, console, resolve_model, split_model_arg


def _log(msg: str) -> None:
    """Per-image lines on stderr; errors in red (stdout keeps only the written latent files)."""
    style = "red" if msg.startswith("error:") else None
    console.print(msg, style=style, markup=False, highlight=False, soft_wrap=True)


def project(
    args: list[Path] = typer.Argument(
        ...,
        metavar="[MODEL] IMAGES...",
        help="Photos and/or folders of photos (searched recursively). An optional MODEL file "
        "(.safetensors/.pkl/.pt) or run folder may come first.",
        show_default=False,
    ),
    model_opt: Path | None = typer.Option(None, "--model", "-m", help=MODEL_OPT_HELP, show_default=False),
    outdir: Path = typer.Option(Path("projected"), "--outdir", "-o", help="Where the outputs go."),
    space: str = typer.Option(
        "w", "--space", help="w: one w for all layers (official); w+: one w per layer."
    ),
    steps: int = typer.Option(
        1000, "--steps", help="Optimisation steps (the cap: the default schedule stops once converged)."
    ),
    schedule: str = typer.Option(
        "fast",
        "--schedule",
        help="fast: 4 starting points per image (the best kept), no w jitter, stops early; the official "
        "PSNR in half the steps in bench/RESULTS.md. official: the NVlabs projector's schedule.",
    ),
    noise: bool = typer.Option(True, "--noise/--no-noise", help="Optimise the per-layer noise maps too."),
    loss: str = typer.Option("lpips", "--loss", help="lpips (VGG16, needs its weights), mse, or lpips+mse."),
    batch: int = typer.Option(1, "--batch", help="Images optimised together (independently) per batch."),
    seed: int = typer.Option(
        0,
        "--seed",
        help="Seed of the initial noise maps and of the starting points (fast) or w jitter "
        "(official); a fixed seed gives the same result.",
    ),
    lr: float = typer.Option(0.1, "--lr", help="Peak Adam learning rate of --schedule official."),
    noise_reg: float = typer.Option(
        1e5, "--noise-reg", help="Weight of the noise autocorrelation penalty (official 1e5)."
    ),
    video: bool = typer.Option(
        False, "--video", help="Also write {stem}_proj.mp4: target | projection over time."
    ),
    tune: bool = typer.Option(
        False, "--tune", help="Pivotal tuning: also write {stem}_tuned.safetensors/.png."
    ),
    tune_steps: int = typer.Option(350, "--tune-steps", help="Steps of pivotal tuning (lr 3e-4)."),
    align: bool = typer.Option(False, "--align", help="FFHQ face alignment first (needs dlib, see README)."),
    vgg_weights: Path | None = typer.Option(
        None,
        "--vgg-weights",
        help="torchvision vgg16-397923af.pth for LPIPS "
        "(default: the torch hub cache, downloaded there when online).",
    ),
    device: str = typer.Option("auto", "--device", help=DEVICE_HELP),
) -> None:
    """Find the latent (w or w+, plus noise) that makes the model reproduce each photo.

    Per image: {stem}.npz (w [1,num_ws,w_dim], the optimised noise maps, scores), {stem}_target.png and
    {stem}_proj.png; `sg sample MODEL --latents {stem}.npz` re-renders the projection exactly. Images that
    cannot be read are reported and skipped; the exit code is non-zero if any failed.

    Example: sg project photo.jpg (the newest snapshot under ./runs; writes projected/photo.npz ...)

    With a model: sg project ffhq.pkl me.jpg --space w+ --steps 500 --outdir out --video

    The official schedule, for comparison: sg project ffhq.pkl me.jpg --schedule official --steps 1000
    """
    from projector.lpips_loss import perceptual_weights
    from projector.project import ProjectConfig, project_images
    from projector.schedule import check_schedule
    from projector.tune import TuneConfig

    cfg = ProjectConfig(
        space=space,
        steps=steps,
        loss=loss,
        optimize_noise=noise,
        seed=seed,
        lr=lr,
        noise_reg_weight=noise_reg,
    )
    tune_cfg = TuneConfig(steps=tune_steps) if tune else None
    validate.at_least("--batch", batch, 1)  # --steps, --lr and --noise-reg: ProjectConfig checks them
    validate.at_least("--tune-steps", tune_steps, 1)
    validate.seed("--seed", seed)
    check_schedule(schedule)
    model_arg, rest = split_model_arg(args, model_opt)
    images = [Path(p) for p in rest]
    if not images:
        raise SGError("give the photos to project: sg project photo.jpg (or folders of photos)")
    weights = perceptual_weights(loss, vgg_weights)  # before loading anything: fail fast without weights
    model = resolve_model(model_arg)
    if align:
        from projector.align import check_align_available

        check_align_available()
    from projector.preprocess import collect_inputs

    inputs = collect_inputs(images)
    from stylegan_cli.common import load_model

    G = load_model(model, device)
    perceptual = None
    if weights is not None:
        from projector.lpips_loss import PerceptualLoss

        with console.status("loading LPIPS (VGG16) ..."):
            perceptual = PerceptualLoss(net="vgg", weights=weights, device=next(G.parameters()).device)
    elif tune:
        console.print("no VGG16 weights: --tune uses the L2 loss only", style="yellow", highlight=False)

    results = project_images(
        G,
        inputs,
        outdir,
        cfg,
        batch=batch,
        perceptual=perceptual,
        lpips_label="lpips-vgg16",
        video=video,
        tune=tune_cfg,
        align=align,
        model_path=model,
        progress=True,
        log=_log,
        schedule=schedule,
    )
    for r in results:
        if r.ok:
            typer.echo(str(outdir / f"{r.stem}.npz"))
    failed = [r for r in results if not r.ok]
    if failed:
        raise SGError(f"{len(failed)} of {len(results)} image(s) failed; the others are in {outdir}")


def register(app: typer.Typer) -> None:
    app.command("project")(project)
