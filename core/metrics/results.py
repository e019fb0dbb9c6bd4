"""Metric results on disk: one `metrics-<model>.json` per model, and the comparison of several of them.

A file holds the model, the dataset, and per metric its values under the official keys (fid50k_full,
pr50k3_full_precision, ...), the image counts, whether the official protocol was followed, and the time.
Running more metrics on the same model adds them to its file (atomically; other metrics stay).
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from core.errors import SGError
from core.fileio import atomic_write

RESULTS_GLOB = "metrics-*.json"
FORMAT = "sg-metrics-1"


def results_path(model: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> Path:
    """`metrics-<model stem>.json` in `out_dir`, else beside the model (a training run's folder)."""
    model = Path(model)
    return Path(out_dir or model.parent) / f"metrics-{model.stem}.json"


def read_results(path: str | os.PathLike) -> dict[str, Any]:
    """A results file; anything that is not one is a one-line error."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        raise SGError(f"results file not found: {path}") from None
    except (OSError, ValueError) as e:
        raise SGError(f"cannot read results file {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("metrics"), dict):
        raise SGError(f"{path} is not a results file written by `sg metrics`")
    return doc


def write_results(
    path: str | os.PathLike, model: str | os.PathLike, data: str | os.PathLike, results: dict[str, Any]
) -> Path:
    """Merge `results` ({metric: record}) into the file at `path` (created if missing)."""
    path = Path(path)
    doc: dict[str, Any] = {"format": FORMAT, "metrics": {}}
    if path.is_file():
        try:
            doc = read_results(path)
        except SGError:
            pass  # not ours or damaged: replaced whole (atomically) by the new results
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    doc.update(model=str(model), data=str(data), updated=stamp)
    for name, rec in results.items():
        doc["metrics"][name] = {**rec, "model": str(model), "data": str(data), "time": stamp}

    def write(tmp: str) -> None:
        Path(tmp).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")

    return atomic_write(path, write, verify=lambda tmp: read_results(tmp))


def find_results(arg: str | os.PathLike) -> Path:
    """A results file as given; a folder (a training run) as its newest metrics-*.json."""
    p = Path(arg)
    if p.is_file():
        return p
    if p.is_dir():
        found = sorted(p.glob(RESULTS_GLOB), key=lambda f: (f.stat().st_mtime_ns, f.name))
        if not found:
            raise SGError(f"{p} has no {RESULTS_GLOB}; run `sg metrics {p} --data DIR` first")
        return found[-1]
    raise SGError(f"not found: {p} (give a run folder or a metrics-*.json file)")


def flat_values(doc: dict[str, Any]) -> dict[str, float]:
    """{official key: value} over every metric in a results file."""
    out: dict[str, float] = {}
    for rec in doc["metrics"].values():
        for k, v in rec.get("values", {}).items():
            out[k] = float(v)
    return out


def format_value(v: float | None) -> str:
    """Four significant digits, small values (KID) in scientific notation; '-' when missing."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.4g}" if v == 0 or abs(v) >= 1e-3 else f"{v:.3e}"
