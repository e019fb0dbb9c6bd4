"""The `sg` Typer app: each command lives in its own module that defines `register(app)`."""

from __future__ import annotations

import importlib
import sys

import typer

from core.cpu import keep_freed_memory
from core.errors import SGError

app = typer.Typer(
    name="sg",
    help="StyleGAN toolkit: train, sample, mix, interpolate and project with StyleGAN 1/2.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per command; each defines register(app).
COMMAND_MODULES = [
    "info",
    "convert",
    "sample",
    "mix",
    "interpolate",
    "project",
    "dataset",
    "train",
    "metrics",
    "directions",
    "edit",
]

for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"stylegan_cli.cmd_{_name}")
    except ModuleNotFoundError as exc:  # a command still being written must not break the others
        if exc.name != f"stylegan_cli.cmd_{_name}":
            raise
        continue
    _module.register(app)


def main() -> None:
    """Entry point: Typer handles usage errors; our SGError becomes one red line and a non-zero exit."""
    keep_freed_memory()  # only with SG_KEEP_MALLOC=1 here; sg train turns it on for CPU (core/cpu.py)
    try:
        app()
    except SGError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
    except FileNotFoundError as exc:
        typer.secho(f"error: file not found: {exc.filename or exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.secho("interrupted", fg=typer.colors.YELLOW, err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
