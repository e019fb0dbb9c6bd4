"""The `sg` Typer app: each command lives in its own module that defines `register(app)`."""

from __future__ import annotations

import importlib
import sys

import typer

from core.cpu import keep_freed_memory, share_cpu
from core.errors import SGError, os_error

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


def _fail(message: str, code: int) -> None:
    """Print one red `error: ...` line (newlines folded, so it stays one line) and exit with `code`."""
    line = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
    typer.secho(f"error: {line}", fg=typer.colors.RED, err=True)
    sys.exit(code)


def main() -> None:
    """Entry point: Typer handles usage errors; our SGError, and any OSError or MemoryError that reaches
    here, become one red line and a non-zero exit."""
    keep_freed_memory()  # only with SG_KEEP_MALLOC=1 here; sg train turns it on for CPU (core/cpu.py)
    share_cpu()  # threads: the cores divided among the sg processes running now (core/cpu.py)
    try:
        app()
    except SGError as exc:
        _fail(str(exc), exc.exit_code)
    except OSError as exc:  # a file-system failure no writer translated: still one line naming the path
        action = "cannot read" if isinstance(exc, FileNotFoundError) else "file system error on"
        _fail(str(os_error(exc, action=action)), 2)
    except MemoryError:
        _fail("out of memory (try a smaller --batch, or close other programs)", 3)
    except KeyboardInterrupt:
        typer.secho("interrupted", fg=typer.colors.YELLOW, err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
