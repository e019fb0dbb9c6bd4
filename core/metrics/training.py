"""`sg train --metrics`: the chosen metrics at every snapshot, as the official trainer computes them.

G_ema against the training data (all of it, without x-flips, as the *_full protocols say). The results go
to metrics-<snapshot>.json beside the snapshot (what `sg metrics --compare` reads) and come back as one flat
record for metrics.jsonl. The training's random streams are left exactly as they were.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from core.metrics.protocols import MetricOptions, compute_metrics, parse_metrics
from core.metrics.results import results_path, write_results


def snapshot_metrics(
    G: torch.nn.Module,
    dataset,
    snapshot: Path,
    metrics: str,
    num_gen: int | None = None,
    weights_dir: str | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
) -> dict[str, Any]:
    """Compute `metrics` for G, write metrics-<snapshot>.json; returns {official key: value, metrics_s}."""
    start = time.perf_counter()
    opts = MetricOptions(num_gen=num_gen, seed=seed, device=device, weights_dir=weights_dir, progress=False)
    # Building the networks draws random initial weights: not from the training's stream.
    with torch.random.fork_rng(devices=[]):
        results = compute_metrics(parse_metrics(metrics), G, dataset, opts)
    write_results(results_path(snapshot), snapshot, dataset.path, results)
    record: dict[str, Any] = {"snapshot": Path(snapshot).name}
    for rec in results.values():
        record.update(rec["values"])
    record["metrics_s"] = round(time.perf_counter() - start, 3)
    return record
