"""How `sg metrics` shows results: the SWD table per pyramid level, one table of every value, and the
side-by-side table of several runs (`--compare`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from core.errors import SGError
from core.metrics.results import find_results, flat_values, format_value, read_results


def swd_table(swd: dict[str, Any]) -> Table:
    """SWD x1e3 per Laplacian pyramid level, then their mean."""
    table = Table()
    table.add_column("pyramid level")
    table.add_column("SWD x1e3", justify="right")
    for key, v in swd["values"].items():
        if key != "swd_mean":
            table.add_row(key[len("swd_") :], f"{v:.3f}")
    table.add_row("mean", f"{swd['values']['swd_mean']:.3f}", style="bold")
    return table


def values_table(results: dict[str, Any], psi: float, seed: int) -> Table | None:
    """One row per value of every metric but SWD (None when only SWD ran)."""
    others = {k: r for k, r in results.items() if k != "swd"}
    if not others:
        return None
    table = Table(title=f"psi={psi}, seed={seed}")
    for col in ("metric", "value", "generated", "real", "protocol", "seconds"):
        table.add_column(col, justify="left" if col in ("metric", "protocol") else "right")
    for rec in others.values():
        for key, v in rec["values"].items():
            n_real = str(rec["num_real"]) if rec["num_real"] else "-"
            table.add_row(
                key, format_value(v), str(rec["num_gen"]), n_real, rec["protocol"], f"{rec['seconds']:.1f}"
            )
    return table


def compare_table(args: Sequence[str | os.PathLike]) -> Table:
    """One row per metric value, one column per run (its newest metrics-*.json)."""
    if len(args) < 2:
        raise SGError(f"--compare needs at least two run folders or metrics-*.json files (got {len(args)})")
    files = [find_results(a) for a in args]
    values = [flat_values(read_results(f)) for f in files]
    keys = list(dict.fromkeys(k for v in values for k in v))
    table = Table()
    table.add_column("metric")
    for a, f in zip(args, files, strict=True):
        table.add_column(f"{a}\n{f.name}", justify="right")
    for k in keys:
        table.add_row(k, *(format_value(v.get(k)) for v in values))
    return table
