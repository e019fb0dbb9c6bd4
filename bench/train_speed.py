"""Training speed: median seconds per kimg of the real training step (all phases, lazy ones included)
on synthetic images, after warm-up, with peak memory.

    python bench/train_speed.py                          # cfg small, 32 px, this machine's best device
    python bench/train_speed.py --cfg stylegan2 --resolution 256 --batch 32 --precision bf16 --compile
    python bench/train_speed.py --smoke                  # tiny CPU run, seconds (CI)

Each timing runs `--steps` minibatches (16 by default: one full cycle of R1 every 16 and path length
every 4), so s/kimg includes the regularisers in their true proportion.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.layout import write_prepared  # noqa: E402
from core.training.distributed import DistContext, pick_device  # noqa: E402
from core.training.loop import Trainer  # noqa: E402
from core.training.options import TrainOptions  # noqa: E402
from core.training.setup import plan_run  # noqa: E402


def synthetic_dataset(root: Path, resolution: int, channels: int, n: int = 256) -> Path:
    """Random uint8 images with 10 labels; the content does not matter for speed."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, channels, resolution, resolution), dtype=np.uint8)
    return write_prepared(
        root / f"synthetic-{resolution}", images, rng.integers(0, 10, n), {"source": "bench"}
    )


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(args: argparse.Namespace) -> dict:
    device = pick_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        data = synthetic_dataset(Path(tmp), args.resolution, args.channels)
        opts = TrainOptions(
            data=str(data),
            outdir=tmp,
            cfg=args.cfg,
            batch=args.batch,
            batch_gpu=args.batch_gpu,
            cbase=args.cbase,
            cmax=args.cmax,
            map_depth=args.map_depth,
            gamma=args.gamma,
            precision=args.precision,
            compile=args.compile,
            device=str(device),
            cond=args.cond,
            progress=False,
        )
        plan = plan_run(opts, 1, device.type, progress=False)
        trainer = Trainer(plan, DistContext(device=device))
        if args.channels_last:  # NHWC feature maps in G's and D's blocks
            for net in (trainer.G, trainer.D):
                net.set_memory_format(torch.channels_last)
        batch = plan.config.batch
        real, labels = plan.dataset.get_batch(np.arange(batch) % plan.dataset.num_images)
        real, labels = real.to(device), labels.to(device)

        for _ in range(args.warmup):
            trainer.step(real, labels)
        sync(device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        times = []
        for _ in range(args.repeats):
            sync(device)
            t0 = time.perf_counter()
            for _ in range(args.steps):
                trainer.step(real, labels)
            sync(device)
            times.append(time.perf_counter() - t0)
        s_per_kimg = statistics.median(times) / (args.steps * batch / 1000)
        o = plan.config
        precision = "fp32" if device.type != "cuda" else args.precision
        return {
            "device": torch.cuda.get_device_name(device)
            if device.type == "cuda"
            else f"cpu x{torch.get_num_threads()}",
            "torch": torch.__version__,
            "config": f"{o.cfg} {o.resolution}px b{batch}/{o.batch_gpu} cbase {o.cbase} cmax {o.cmax} "
            f"map {o.map_depth} {precision}{' compile' if args.compile else ''}"
            f"{' channels-last' if args.channels_last else ''}",
            "s/kimg": s_per_kimg,
            "best s/kimg": min(times) / (args.steps * batch / 1000),
            "img/s": 1000 / s_per_kimg,
            "peak GB": peak_memory_gb(device),
            "spread": (min(times) / statistics.median(times), max(times) / statistics.median(times)),
        }


def print_table(row: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    # best: the fastest repeat, the better estimate on a machine shared with other work
    table = Table(title="sg training speed (median over repeats, after warm-up)")
    for col in ("device", "torch", "config", "s/kimg", "best s/kimg", "img/s", "peak GB"):
        table.add_column(col)
    table.add_row(
        row["device"],
        row["torch"],
        row["config"],
        f"{row['s/kimg']:.2f}",
        f"{row['best s/kimg']:.2f}",
        f"{row['img/s']:.1f}",
        f"{row['peak GB']:.2f}",
    )
    Console(width=200).print(table)
    lo, hi = row["spread"]
    print(f"repeat spread: {lo:.2f}x .. {hi:.2f}x of the median")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cfg", default="small")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--batch", type=int, default=None)
    p.add_argument("--batch-gpu", type=int, default=None)
    p.add_argument("--cbase", type=int, default=None)
    p.add_argument("--cmax", type=int, default=None)
    p.add_argument("--map-depth", type=int, default=None)
    p.add_argument("--gamma", type=float, default=None)
    p.add_argument("--cond", action="store_true", help="10-class conditional networks")
    p.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp16", "fp32"])
    p.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="torch.compile the main phases' G synthesis and D forward (off by default)",
    )
    p.add_argument("--channels-last", action="store_true", help="channels-last weights (NHWC convolutions)")
    p.add_argument("--steps", type=int, default=16, help="minibatches per timing (16 = one lazy-reg cycle)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--smoke", action="store_true", help="tiny CPU configuration, a few seconds")
    args = p.parse_args(argv)
    if args.smoke:
        args.cfg, args.resolution, args.batch, args.device = "tiny", 16, 8, "cpu"
        args.steps, args.repeats, args.warmup = 4, 2, 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print_table(measure(args))


if __name__ == "__main__":
    main()
