"""`sg convert SRC DST.safetensors`: official pickles and rosinality checkpoints to the portable sg format."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from core.errors import SGError
from stylegan_cli.common import resolve_model


def convert(
    src: Path = typer.Argument(
        ...,
        help="Official NVlabs .pkl, rosinality .pt, an sg .safetensors, or a run folder (newest snapshot).",
    ),
    dst: Path = typer.Argument(..., help="Output .safetensors file."),
    force: bool = typer.Option(False, "--force", help="Overwrite DST if it exists."),
) -> None:
    """Import a model into one self-describing safetensors file (no code from SRC is ever executed).

    Example: sg convert stylegan2-ffhq-config-f.pkl ffhq.safetensors
    """
    from core.checkpoint import load_checkpoint, save_checkpoint

    if dst.suffix != ".safetensors":
        raise SGError(f"output must end in .safetensors (got {dst.name})")
    if dst.exists() and not force:
        raise SGError(f"{dst} exists; pass --force to overwrite it")
    ck = load_checkpoint(resolve_model(src))  # says which file (a run folder: its newest snapshot)
    save_checkpoint(
        dst,
        ck.G_ema,
        G=ck.G,
        D=ck.D,
        kimg=ck.kimg,
        training_state=ck.training_state,
        state_tensors=ck.state_tensors,
        extra_meta={"converted_from": ck.source}
        | ({"imported_details": json.dumps(ck.details)} if ck.details else {}),
    )
    parts = ["G_ema"] + (["G"] if ck.G is not None else []) + (["D"] if ck.D is not None else [])
    typer.echo(f"wrote {dst} ({', '.join(parts)}; {ck.g_config.img_resolution} px, {ck.source})")


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
