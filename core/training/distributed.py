"""Data-parallel training without DDP wrappers: every rank computes gradients on its share of the batch,
one flat all-reduce averages them, and identical optimiser steps keep the replicas identical.

Processes are started by `torchrun` (`sg train --gpus N` launches it); the same code runs with the gloo
backend on CPU. Control flags (stop requested, loss diverged) travel over a separate gloo group so that
checking them never waits on the GPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import nn

if TYPE_CHECKING:
    from core.training.options import RunConfig, TrainOptions


@dataclass
class DistContext:
    """Where this process sits in the job: rank, world size and its device."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    control_group: object | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(device: str | None) -> torch.device:
    """`cuda` when available unless told otherwise."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def init_distributed(device: str | None = None) -> DistContext:
    """Join the process group that torchrun describes in the environment; single-process otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    dev = pick_device(device)
    if world_size <= 1:
        return DistContext(device=dev)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, device_id=dev if dev.type == "cuda" else None)
    control = dist.new_group(backend="gloo") if dev.type == "cuda" else None
    return DistContext(rank=rank, world_size=world_size, device=dev, control_group=control)


def shutdown_distributed(ctx: DistContext, clean: bool = True) -> None:
    """After a clean run every rank waits for the others first: a rank tearing gloo down while rank 0 still
    writes the final snapshot can abort in gloo's background thread."""
    if ctx.enabled and dist.is_initialized():
        if clean:
            dist.barrier()
        dist.destroy_process_group()


@torch.no_grad()
def broadcast_module(module: nn.Module, ctx: DistContext) -> None:
    """Give every rank rank 0's parameters and buffers (the replicas start identical)."""
    if not ctx.enabled:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


@torch.no_grad()
def reduce_gradients(params: list[nn.Parameter], ctx: DistContext) -> None:
    """Average gradients over ranks in one flat all-reduce; NaN/Inf gradients become finite (as official).

    Parameters without a gradient are skipped on every rank alike, since all ranks run the same phases.
    """
    params = [p for p in params if p.grad is not None and p.numel() > 0]
    if not params:
        return
    if ctx.enabled:
        flat = torch.cat([p.grad.flatten() for p in params])
        dist.all_reduce(flat)
        flat.div_(ctx.world_size)
        torch.nan_to_num(flat, nan=0.0, posinf=1e5, neginf=-1e5, out=flat)
        offset = 0
        for p in params:
            n = p.numel()
            p.grad.copy_(flat[offset : offset + n].view_as(p.grad))
            offset += n
    else:
        for p in params:
            torch.nan_to_num(p.grad, nan=0.0, posinf=1e5, neginf=-1e5, out=p.grad)


@torch.no_grad()
def average_tensors(tensors: list[torch.Tensor], ctx: DistContext) -> None:
    """In-place mean over ranks (running averages such as w_avg and the path length mean)."""
    if not ctx.enabled:
        return
    for t in tensors:
        dist.all_reduce(t)
        t.div_(ctx.world_size)


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True when `flag` is set on any rank (a collective: every rank must call it at the same step)."""
    if not ctx.enabled:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device="cpu" if ctx.control_group else ctx.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=ctx.control_group)
    return bool(t.item())


def launch(options: dict, gpus: int) -> int:
    """Run `gpus` training processes with torchrun (one per GPU, or CPU processes with gloo) and wait.

    The resolved run config goes through a JSON file; returns torchrun's exit code.
    """
    with tempfile.TemporaryDirectory(prefix="sg-train-") as tmp:
        opts_path = Path(tmp) / "options.json"
        opts_path.write_text(json.dumps(options))
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc_per_node={gpus}",
            "-m",
            "core.training.worker",
            str(opts_path),
        ]
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // gpus)))
        return subprocess.call(cmd, env=env)


def train_in_processes(opts: TrainOptions) -> RunConfig:
    """`sg train --gpus N`: check and resolve everything here (one-line errors, once), then run one
    torchrun process per GPU on the resolved config; returns it."""
    from core.errors import SGError
    from core.training.setup import plan_run

    device = pick_device(opts.device)
    if device.type == "cuda" and torch.cuda.device_count() < opts.gpus:
        raise SGError(f"--gpus {opts.gpus} but only {torch.cuda.device_count()} CUDA device(s) are visible")
    config = plan_run(opts, world_size=opts.gpus, device_type=device.type).config
    code = launch(config.to_dict(), opts.gpus)
    if code != 0:
        raise SGError(f"training failed in one of the {opts.gpus} processes (exit code {code}; see above)")
    return config
