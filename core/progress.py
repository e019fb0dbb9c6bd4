"""The one Rich progress-bar helper: data preparation, training, projection, metrics and every command.

Bars draw on stderr, so stdout stays parseable, and only on a terminal, so logs stay clean.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def make_progress(
    enabled: bool = True,
    *,
    columns: Sequence[ProgressColumn | str] | None = None,
    console: Console | None = None,
    transient: bool = True,
) -> Progress:
    """A bar (description, bar, done/total, elapsed, remaining unless ``columns`` says otherwise); it draws
    nothing when ``enabled`` is false or the console is not a terminal."""
    console = console or Console(stderr=True)
    columns = columns or (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    return Progress(
        *columns, console=console, transient=transient, disable=not (enabled and console.is_terminal)
    )


@contextlib.contextmanager
def progress_steps(
    total: int, what: str, enabled: bool = True, console: Console | None = None
) -> Iterator[Callable[[int], None]]:
    """One task of ``total`` steps; yields ``advance(n=1)``."""
    with make_progress(enabled, console=console) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n=1: bar.advance(task, n)
