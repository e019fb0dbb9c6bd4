"""`sg info MODEL`: what a model file holds, without running it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from core.errors import SGError
from stylegan_cli.common import MODEL_HELP, MODEL_OPT_HELP, resolve_model


def _param_count(module) -> int:
    return sum(p.numel() for p in module.parameters()) if module is not None else 0


def info(
    model_arg: Path | None = typer.Argument(None, metavar="[MODEL]", help=MODEL_HELP, show_default=False),
    model_opt: Path | None = typer.Option(None, "--model", "-m", help=MODEL_OPT_HELP, show_default=False),
) -> None:
    """Print architecture, resolution, z/w dims, num_ws, parameter counts and (for snapshots) kimg.

    Example: sg info runs/00000-fashion/network-snapshot-000002.safetensors

    After `sg train DATA` here: sg info (the newest snapshot under ./runs)
    """
    from core.checkpoint import load_checkpoint
    from core.editing.format import is_directions_file

    if model_arg is not None and model_opt is not None:
        raise SGError(f"give the model once: {model_arg} as the argument, or --model {model_opt}")
    model = model_arg or model_opt
    if model is not None and model.suffix.lower() == ".npz" and is_directions_file(model):
        from core.editing.listing import print_directions

        print_directions(model)  # a directions file from `sg directions`
        return
    model = resolve_model(model)
    ck = load_checkpoint(model)
    cfg = ck.g_config
    table = Table(title=str(model), show_header=False)
    rows = [
        ("format", ck.source),
        ("architecture", cfg.arch),
        ("resolution", f"{cfg.img_resolution}x{cfg.img_resolution}x{cfg.img_channels}"),
        ("z_dim / w_dim", f"{cfg.z_dim} / {cfg.w_dim}"),
        ("num_ws", str(ck.G_ema.num_ws)),
        ("classes (c_dim)", str(cfg.c_dim)),
        ("channel_base / channel_max", f"{cfg.channel_base} / {cfg.channel_max}"),
        ("mapping layers", str(cfg.map_layers)),
        ("fp16/bf16 resolutions", str(cfg.num_fp16_res)),
        ("conv_clamp", str(cfg.conv_clamp)),
        ("truncation cutoff", f"ws 0..{cfg.trunc_cutoff - 1}" if cfg.trunc_cutoff else "all layers"),
        ("G_ema parameters", f"{_param_count(ck.G_ema):,}"),
    ]
    rows[1:1] = list(ck.details.items())  # an imported file: its family, release format, lod, defaults
    if ck.G is not None:
        rows.append(("G parameters", f"{_param_count(ck.G):,}"))
    if ck.D is not None:
        rows.append(("D parameters", f"{_param_count(ck.D):,} ({ck.d_config.arch})"))
    if ck.kimg is not None:
        rows.append(("training progress", f"kimg {ck.kimg:.1f}"))
    aug = (ck.training_state or {}).get("augment")
    if isinstance(aug, dict) and "p" in aug:  # an sg training snapshot: the strength it stopped at
        how = f"ADA (target {aug['target']:g}, ceiling {aug['p_max']:g})" if aug["mode"] == "ada" else "fixed"
        rows.append(("augmentation", f"{aug['pipe']}, p {aug['p']:.4f}, {how}"))
    for k, v in rows:
        table.add_row(k, v)
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("info")(info)
