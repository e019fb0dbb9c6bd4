"""Training statistics and their display: a rich progress line, `metrics.jsonl`, and TensorBoard if installed.

Losses stay on the device as running sums and are read once per tick, so the training step itself never
waits for the GPU.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from core.progress import make_progress


class StatsCollector:
    """Running sums of per-sample statistics, kept as device tensors until `read()` (one host sync)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    @torch.no_grad()
    def add(self, stats: dict[str, torch.Tensor]) -> None:
        for name, value in stats.items():
            value = value.detach().float()
            s = value.sum()
            self.sums[name] = self.sums[name] + s if name in self.sums else s
            self.counts[name] = self.counts.get(name, 0) + value.numel()

    def read(self) -> dict[str, float]:
        """Means since the last read, then reset."""
        if not self.sums:
            return {}
        names = sorted(self.sums)
        values = torch.stack([self.sums[n] for n in names]).cpu().tolist()
        means = {n: v / self.counts[n] for n, v in zip(names, values, strict=True)}
        self.sums.clear()
        self.counts.clear()
        return means


def first_nonfinite(means: dict[str, float]) -> str | None:
    """Name of the first NaN/Inf statistic, if any."""
    return next((k for k, v in means.items() if not math.isfinite(v)), None)


def gpu_memory_gb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def _open_tensorboard(run_dir: Path) -> Any | None:
    """A SummaryWriter when tensorboard is importable; training never depends on it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard missing or broken: metrics.jsonl still has everything
        return None
    try:
        return SummaryWriter(str(run_dir))
    except Exception:
        return None


METRICS_FILE = "metrics.jsonl"


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """The tick records a run wrote to metrics.jsonl, oldest first."""
    text = (Path(run_dir) / METRICS_FILE).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class TrainingMonitor:
    """Shows progress (kimg, s/kimg, images/s, losses, GPU memory, ETA) and records each tick."""

    LOSS_KEYS = ("loss/G", "loss/D", "loss/r1", "loss/pl", "loss/gp")

    def __init__(
        self,
        run_dir: Path | None,
        total_kimg: float,
        start_kimg: float,
        live: bool = True,
        console: Console | None = None,
    ) -> None:
        self.run_dir, self.total_kimg = run_dir, total_kimg
        self.console = console or Console(stderr=True)
        self.metrics_file = open(run_dir / METRICS_FILE, "a") if run_dir is not None else None  # noqa: SIM115
        self.tb = _open_tensorboard(run_dir) if run_dir is not None else None
        self.progress: Progress | None = None
        if live and run_dir is not None and self.console.is_terminal:
            columns = (
                TextColumn("[bold]kimg {task.completed:.2f}/{task.total:g}"),
                BarColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("{task.fields[losses]}"),
                TimeRemainingColumn(),
            )
            self.progress = make_progress(columns=columns, console=self.console, transient=False)
            self.task = self.progress.add_task(
                "train", total=total_kimg, completed=start_kimg, rate="", losses=""
            )
            self.progress.start()

    def step(self, kimg: float) -> None:
        """Cheap per-step update of the live bar (no device access)."""
        if self.progress is not None:
            self.progress.update(self.task, completed=min(kimg, self.total_kimg))

    def tick(self, record: dict[str, Any]) -> None:
        """One line of statistics: to metrics.jsonl, TensorBoard and the console."""
        if self.metrics_file is not None:
            self.metrics_file.write(json.dumps(record) + "\n")
            self.metrics_file.flush()
        if self.tb is not None:
            step = int(record["nimg"])
            for k, v in record.items():
                if isinstance(v, float | int) and k not in ("nimg", "kimg", "tick"):
                    self.tb.add_scalar(k, v, global_step=step)
            self.tb.flush()
        losses = "  ".join(f"{k.split('/')[1]} {record[k]:.3f}" for k in self.LOSS_KEYS if k in record)
        if "aug/p" in record:  # the augmentation strength, and r_t = E[sign(D(real))], which ADA follows
            losses += f"  p {record['aug/p']:.3f}"
        if "signs/real" in record:
            losses += f"  r_t {record['signs/real']:.2f}"
        mem = f"  mem {record['gpu_mem_gb']:.1f} GB" if record.get("gpu_mem_gb") is not None else ""
        rate = f"{record['s_per_kimg']:.1f} s/kimg  {record['img_per_s']:.0f} img/s"
        eta = record.get("eta_s")
        eta_text = f"  ETA {format_seconds(eta)}" if eta is not None else ""
        if self.progress is not None:
            self.progress.update(
                self.task, completed=min(record["kimg"], self.total_kimg), rate=rate + mem, losses=losses
            )
        # The history stays on screen: with a live bar, rich prints this line above it.
        self.print(f"kimg {record['kimg']:.3f}/{self.total_kimg:g}  {rate}  {losses}{mem}{eta_text}")

    def metrics(self, record: dict[str, Any]) -> None:
        """A snapshot's metric values (sg train --metrics): to metrics.jsonl, TensorBoard and the console."""
        if self.metrics_file is not None:
            self.metrics_file.write(json.dumps(record) + "\n")
            self.metrics_file.flush()
        skip = ("kimg", "nimg", "snapshot", "metrics_s")
        values = {k: v for k, v in record.items() if k not in skip and isinstance(v, float | int)}
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(f"metrics/{k}", v, global_step=int(record["nimg"]))
            self.tb.flush()
        text = "  ".join(f"{k} {v:.4g}" for k, v in values.items())
        self.print(f"metrics at kimg {record['kimg']:.3f}: {text}  ({record.get('metrics_s', 0):.1f} s)")

    def print(self, message: str) -> None:
        self.console.print(message, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        if self.metrics_file is not None:
            self.metrics_file.close()
            self.metrics_file = None
        if self.tb is not None:
            self.tb.close()
            self.tb = None


def format_seconds(s: float) -> str:
    s = int(round(s))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{sec:02d}s"


class Timer:
    """Seconds of training per tick; snapshot time is excluded by lapping right after a snapshot."""

    def __init__(self) -> None:
        self.last = time.perf_counter()

    def lap(self) -> float:
        now = time.perf_counter()
        elapsed, self.last = now - self.last, now
        return max(elapsed, 1e-9)
