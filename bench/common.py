"""Shared benchmark plumbing: named fast-path settings, synthetic generators, timing, PSNR, markdown tables.

Timings are medians over repeated runs after warm-up, with the device synchronised around each run, so
one slow outlier (a GC pause, a clock ramp) does not move the figure.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.cpu import keep_freed_memory  # noqa: E402
from core.metrics.features import full_fp32 as strict_fp32  # noqa: E402,F401  (TF32 off for references)
from core.networks import Generator, GeneratorConfig  # noqa: E402

keep_freed_memory()  # as the sg command does: only with SG_KEEP_MALLOC=1

# The UTKFace faces at 64 px (../shared/data/README.md). $UTK_ZIP replaces the path: ../shared does not travel
# to the GPU machine, so bench/run_all.sh points it at a carried copy.
UTKFACE_ZIP = Path(
    os.environ.get("UTK_ZIP") or Path(__file__).resolve().parents[2] / "shared" / "data" / "utkface-64.zip"
)

# Named fast-path settings (FastGenerator keyword arguments); the benchmark rows are these names.
SETTINGS: dict[str, dict[str, Any]] = {
    "eager-fp32": {},
    "eager-bf16": {"precision": "bf16"},
    "eager-fp16": {"precision": "fp16"},
    "eager-fp32-cl": {"channels_last": True},
    "eager-bf16-graphs": {"precision": "bf16", "cuda_graphs": True},
    "compiled-fp32": {"compile": True},
    "compiled-bf16": {"precision": "bf16", "compile": True},
    "compiled-bf16-graphs": {"precision": "bf16", "compile": True, "cuda_graphs": True},
    "compiled-fp16-graphs": {"precision": "fp16", "compile": True, "cuda_graphs": True},
    "compiled-bf16-cl-graphs": {
        "precision": "bf16",
        "compile": True,
        "cuda_graphs": True,
        "channels_last": True,
        "fused_modconv": False,
    },
    "compiled-bf16-fused-graphs": {
        "precision": "bf16",
        "compile": True,
        "cuda_graphs": True,
        "fused_modconv": True,
    },
    "compiled-bf16all-graphs": {"precision": "bf16", "compile": True, "cuda_graphs": True, "reduced_res": 99},
    "compiled-bf16-autotune": {
        "precision": "bf16",
        "compile": True,
        "cuda_graphs": True,
        "compile_mode": "max-autotune",
    },
}
DEFAULT_SETTINGS = "eager-fp32,eager-bf16,compiled-bf16,compiled-bf16-graphs"
PSNR_PEAK = 2.0  # images live in [-1, 1]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({os.cpu_count()} cores, {platform.machine()})"


def env_lines(device: torch.device, config: str) -> list[str]:
    """The header printed above each table: what ran where."""
    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M')}",
        f"- device: {device_name(device)}",
        f"- torch: {torch.__version__} (python {platform.python_version()})",
        f"- config: {config}",
    ]


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="auto", help="cuda, cpu or auto")
    p.add_argument("--cbase", type=int, default=32768, help="channel_base (config-f: 32768)")
    p.add_argument("--cmax", type=int, default=512, help="channel_max (config-f: 512)")
    p.add_argument("--fp16-res", type=int, default=4, help="reduced-precision top resolutions (official: 4)")
    p.add_argument("--settings", default=DEFAULT_SETTINGS, help=f"comma list of: {', '.join(SETTINGS)}")
    p.add_argument("--reps", type=int, default=10, help="timed repetitions (the median is reported)")
    p.add_argument("--min-time", type=float, default=0.2, help="seconds per repetition (calls are batched)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls after the first (compiling) one")
    p.add_argument("--compile-backend", default="inductor", help="inductor; eager/aot_eager only trace")
    p.add_argument("--cpu-reduced", action="store_true", help="run bf16/fp16 on CPU too (explicit override)")
    p.add_argument(
        "--budget-s", type=float, default=0.0, help="skip rows that would start after this (0: none)"
    )
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny config on CPU, trace-only compile: seconds")


def apply_threads(args: argparse.Namespace) -> None:
    if args.threads > 0:
        torch.set_num_threads(args.threads)


def setting_kwargs(name: str, args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    """FastGenerator keyword arguments for a named setting under these command-line options."""
    if name not in SETTINGS:
        raise SystemExit(f"unknown setting {name!r}; choose from {', '.join(SETTINGS)}")
    kw = dict(SETTINGS[name])
    if kw.get("compile"):
        kw["compile_backend"] = args.compile_backend
    kw["allow_cpu_reduced"] = bool(args.cpu_reduced and device.type == "cpu")
    return kw


def generator_for_args(args, res: int, device: torch.device) -> torch.nn.Module:
    """The benchmarks' generator from their shared options (--cbase --cmax --seed --fp16-res); --smoke
    shrinks z, w and the mapping network to a CPU check's size."""
    small = args.smoke
    return make_generator(
        res,
        args.cbase,
        args.cmax,
        device,
        seed=args.seed,
        z_dim=32 if small else 512,
        w_dim=32 if small else 512,
        map_layers=2 if small else 8,
        num_fp16_res=args.fp16_res,
    )


def make_generator(
    res: int,
    cbase: int,
    cmax: int,
    device: torch.device,
    seed: int = 0,
    z_dim: int = 512,
    w_dim: int = 512,
    map_layers: int = 8,
    num_fp16_res: int = 4,
) -> Generator:
    """A random-weight generator (speed does not depend on the weights); noise strengths made non-zero."""
    torch.manual_seed(seed)
    cfg = GeneratorConfig(
        img_resolution=res,
        channel_base=cbase,
        channel_max=cmax,
        z_dim=z_dim,
        w_dim=w_dim,
        map_layers=map_layers,
        num_fp16_res=num_fp16_res,
    )
    G = Generator(cfg)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.05)
    return G.eval().requires_grad_(False).to(device)


def config_label(res: int | str, cbase: int, cmax: int, fp16_res: int) -> str:
    tag = " (config-f)" if (cbase, cmax) == (32768, 512) else ""
    return f"StyleGAN2 {res} px, channel_base {cbase}, channel_max {cmax}, num_fp16_res {fp16_res}{tag}"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    median_ms: float
    iters: int
    reps: int


def time_calls(
    fn: Callable[[], Any], device: torch.device, reps: int, min_time: float, warmup: int
) -> Timing:
    """Median ms per call over `reps` repetitions, each of enough calls to last about `min_time` s."""
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    fn()
    sync(device)
    one = max(time.perf_counter() - t0, 1e-6)
    iters = max(1, min(200, math.ceil(min_time / one)))
    samples = []
    for _ in range(max(1, reps)):
        sync(device)
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        sync(device)
        samples.append((time.perf_counter() - t0) * 1000 / iters)
    return Timing(statistics.median(samples), iters, max(1, reps))


def reset_peak(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_mb(device: torch.device) -> str:
    if device.type != "cuda":
        return "n/a (CPU)"
    return f"{torch.cuda.max_memory_allocated(device) / 2**20:.0f}"


def release() -> None:
    """Forget compiled graphs between rows so each row compiles (and is measured) on its own."""
    torch._dynamo.reset()
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def tf32_note(device: torch.device) -> str:
    if device.type != "cuda":
        return "- fp32 is plain fp32 on CPU"
    conv, mm = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    return (
        f"- timed rows use PyTorch's TF32 defaults (cuDNN conv TF32 {'on' if conv else 'off'}, matmul "
        f"{'on' if mm else 'off'}); the fp32 agreement reference is computed with TF32 off"
    )


def psnr(x: torch.Tensor, ref: torch.Tensor, peak: float = PSNR_PEAK) -> float:
    """PSNR in dB for [-1, 1] images (peak-to-peak 2); inf when identical."""
    mse = (x.float() - ref.float()).square().mean().item()
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def fmt_db(v: float) -> str:
    return "identical" if math.isinf(v) else f"{v:.1f}"


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-markdown table (paste-able into RESULTS.md, parseable by the smoke tests)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class StreamedTable:
    """A markdown table printed row by row, so a run cut short (a device time limit) keeps its rows."""

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)
        self.rows: list[list[Any]] = []
        print(markdown_table(self.columns, []), flush=True)

    def append(self, row: Sequence[Any]) -> None:
        self.rows.append(list(row))
        print("| " + " | ".join(str(c) for c in row) + " |", flush=True)


def parse_list(text: str, kind: type = str) -> list[Any]:
    return [kind(t) for t in text.split(",") if t.strip()]
