"""The StyleGAN2 training loop, organised as the official trainer is: per minibatch, the phases Gmain,
Greg (every 4), Dmain and Dreg (every 16) each zero, accumulate over `batch_gpu` chunks, all-reduce and
step their network's Adam; then G_ema follows G. Lazy phases scale lr and betas by k/(k+1).
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from torch import nn

from core.checkpoint import save_checkpoint
from core.checkpoint.snapshots import snapshot_name
from core.cpu import keep_freed_memory, rebalance_cpu
from core.errors import OutputError, SGError
from core.training.ada import LEAK_P, AdaController
from core.training.augment import AugmentPipe, small_dataset_hint
from core.training.distributed import (
    DistContext,
    any_rank,
    average_tensors,
    broadcast_module,
    init_distributed,
    reduce_gradients,
    shutdown_distributed,
)
from core.training.ema import ema_beta, update_ema
from core.training.freeze import frozen_parameters
from core.training.grid import make_grid_spec, save_fakes, save_reals
from core.training.loss import StyleGAN2Loss, build_loss
from core.training.options import RunConfig, TrainOptions
from core.training.progress import StatsCollector, Timer, TrainingMonitor, first_nonfinite, gpu_memory_gb
from core.training.setup import RunPlan, build_networks, open_run, plan_run
from core.training.signals import StopRequest
from core.training.snapshot import (
    capture_rng,
    load_optimizer_state,
    next_run_dir,
    optimizer_state,
    prune_snapshots,
    restore_rng,
    saved_status,
    unsaved_error,
)

ADAM_BETAS = (0.0, 0.99)
ADAM_EPS = 1e-8


class TrainingDiverged(SGError):
    """A loss became NaN/Inf; the message names the last good snapshot, which is left untouched."""


@dataclass
class TrainResult:
    run_dir: Path | None
    snapshot: Path | None  # the last snapshot written (the final one)
    kimg: float
    stopped_by: str | None = None  # "SIGTERM"/"SIGINT" when a signal ended the run early


@dataclass
class Phase:
    """One network's update of one kind; `interval` 1 for the main loss, k for a lazy regulariser."""

    name: str
    module: nn.Module
    opt: torch.optim.Optimizer
    interval: int


def make_phases(G: nn.Module, D: nn.Module, loss: StyleGAN2Loss, lr: float) -> list[Phase]:
    """One Adam per network; with lazy regularisation every k steps, lr and betas are scaled by k/(k+1)
    so that the effective update per minibatch stays the same."""
    phases = []
    for name, module, interval in (("G", G, loss.G_reg_interval), ("D", D, loss.D_reg_interval)):
        ratio = interval / (interval + 1) if interval else 1.0
        betas = tuple(b**ratio for b in ADAM_BETAS)
        opt = torch.optim.Adam(module.parameters(), lr=lr * ratio, betas=betas, eps=ADAM_EPS)
        phases.append(Phase(f"{name}main", module, opt, 1))
        if interval:
            phases.append(Phase(f"{name}reg", module, opt, interval))
    return phases


def set_precision(nets: list[nn.Module], precision: str, device: torch.device) -> bool:
    """bf16 or fp16 in the networks' top resolutions on CUDA; returns force_fp32 (always True on CPU)."""
    if precision == "fp32" or device.type != "cuda":
        return True
    if precision == "auto":
        precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    for net in nets:
        net.set_precision(torch.bfloat16 if precision == "bf16" else torch.float16)
    return False


class LabelSampler:
    """Conditioning vectors for generated images, drawn from the dataset's label distribution."""

    def __init__(self, labels: Any, c_dim: int, device: torch.device) -> None:
        self.c_dim, self.device = c_dim, device
        self.labels = torch.as_tensor(labels, dtype=torch.long, device=device) if c_dim else None

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor | None:
        """[N, c_dim] float on the device without a host sync (scatter, no range check)."""
        if not self.c_dim:
            return None
        labels = labels.to(self.device, non_blocking=True).clamp_min(0)
        return torch.zeros(labels.shape[0], self.c_dim, device=self.device).scatter_(1, labels[:, None], 1.0)

    def sample(self, n: int) -> torch.Tensor | None:
        if not self.c_dim:
            return None
        return self.one_hot(self.labels[torch.randint(len(self.labels), (n,), device=self.device)])


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(opts: TrainOptions | RunConfig, console: Console | None = None) -> TrainResult:
    """Run (or continue) training: the entry point of `sg train` (options, resolved here) and of each
    torchrun rank (the config the launcher resolved once)."""
    ctx = init_distributed(opts.device)
    clean = False
    try:
        if isinstance(opts, RunConfig):
            plan = open_run(opts)
        else:
            plan = plan_run(opts, ctx.world_size, ctx.device.type, progress=ctx.is_main and opts.progress)
        trainer = Trainer(plan, ctx, console)
        try:
            result = trainer.run()
        except (OSError, OutputError) as exc:  # disk full, read-only...: say what is safe and how to resume
            raise unsaved_error(exc, trainer.last_snapshot) from None
        clean = True
        return result
    finally:
        shutdown_distributed(ctx, clean)


class Trainer:
    """State of one training process: networks, optimisers, counters, outputs."""

    def __init__(self, plan: RunPlan, ctx: DistContext, console: Console | None = None) -> None:
        self.plan, self.ctx, self.config = plan, ctx, plan.config
        self.device = ctx.device
        if self.device.type == "cpu":  # denormal floats are slow in CPU math; as zeros they cost nothing
            torch.set_flush_denormal(True)
            keep_freed_memory(default=True)  # CPU-trained models are small: speed over peak memory
        self.G, self.D, self.G_ema = build_networks(plan, self.device)
        for net in (self.G, self.D, self.G_ema):
            broadcast_module(net, ctx)
        c = self.config
        force_fp32 = set_precision([self.G, self.D, self.G_ema], c.precision, self.device)
        self.loss = build_loss(
            c.loss,
            self.G,
            self.D,
            r1_gamma=c.gamma,
            style_mixing_prob=c.style_mixing_prob,
            pl_weight=c.pl_weight,
            force_fp32=force_fp32,
            r1_interval=c.r1_interval,
            pl_interval=c.pl_interval,
        )
        if c.compile:
            self.loss.compile_main()
        self.monitor: TrainingMonitor | None = None
        self.augment_pipe, self.ada = self._build_augment()
        self.loss.augment_pipe = self.augment_pipe
        self.frozen, self.frozen_names = frozen_parameters(self.D, c.freezed)
        self.phases = make_phases(self.G, self.D, self.loss, c.lr)
        self.opt_G, self.opt_D = self.phases[0].opt, next(p.opt for p in self.phases if p.name == "Dmain")
        self.labels = LabelSampler(plan.dataset.labels, c.c_dim, self.device)
        self.stats = StatsCollector()
        self.cur_nimg = self.batch_idx = 0
        self.last_snapshot: Path | None = None
        self.run_dir: Path | None = None
        self.console = console
        seed_everything(c.seed * ctx.world_size + ctx.rank)
        if plan.continues:
            self._restore(plan)

    # ---- state ---------------------------------------------------------------------------------

    def _restore(self, plan: RunPlan) -> None:
        """Counters, optimiser moments, running means and RNG exactly as the snapshot left them."""
        ck = plan.resume
        ts, st = ck.training_state, ck.state_tensors
        self.cur_nimg, self.batch_idx = int(ts["cur_nimg"]), int(ts["batch_idx"])
        for name, opt in (("G", self.opt_G), ("D", self.opt_D)):
            lrs = [(g["lr"], g["betas"]) for g in opt.param_groups]
            load_optimizer_state(opt, st, ts["optim"][name], f"optim.{name}")
            for g, (lr, betas) in zip(opt.param_groups, lrs, strict=True):  # flags may change lr on resume
                g["lr"], g["betas"] = lr, betas
        self.loss.pl_mean = st["loss.pl_mean"].to(self.device).reshape([])
        if self.ada is not None and "augment.p" in st:  # p goes on exactly where it was, not from 0
            self.ada.load_state_tensors(st)
        if self.ctx.rank == 0 and ts.get("world_size", 1) == self.ctx.world_size:
            restore_rng(st, ts.get("rng", {}))
        else:  # other ranks: a fresh stream that still depends on where the run stands
            key = f"{self.config.seed}-{self.ctx.rank}-{self.batch_idx}".encode()
            seed_everything(int(hashlib.sha256(key).hexdigest()[:15], 16))
        self.last_snapshot = Path(plan.config.resume)

    def _training_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        tensors: dict[str, torch.Tensor] = {"loss.pl_mean": self.loss.pl_mean.detach().reshape([])}
        optim_meta = {}
        for name, opt in (("G", self.opt_G), ("D", self.opt_D)):
            t, optim_meta[name] = optimizer_state(opt, f"optim.{name}")
            tensors.update(t)
        if self.ada is not None:
            tensors.update(self.ada.state_tensors())
        rng_tensors, rng_meta = capture_rng()
        tensors.update(rng_tensors)
        state = {
            "cur_nimg": self.cur_nimg,
            "batch_idx": self.batch_idx,
            "world_size": self.ctx.world_size,
            "options": self.config.to_dict(),  # the resolved run config; a resume inherits from it
            "optim": optim_meta,
            "rng": rng_meta,
            "augment": self._augment_state(),
        }
        return tensors, state

    # ---- outputs -------------------------------------------------------------------------------

    def _check_finite(self, means: dict[str, float]) -> None:
        """Collective: every rank raises together when any rank saw a NaN/Inf loss or weight."""
        bad = first_nonfinite(means)
        if bad is None:
            params = [p for net in (self.G, self.D) for p in net.parameters()]
            if not bool(torch.stack([p.isfinite().all() for p in params]).all()):
                bad = "network weights"
        if any_rank(bad is not None, self.ctx):
            where = (
                f"last good snapshot: {self.last_snapshot} (left as it was)"
                if self.last_snapshot
                else "no snapshot had been written yet"
            )
            what = f"the {bad} value" if bad else "a value on another process"
            raise TrainingDiverged(
                f"training diverged at kimg {self.cur_nimg / 1000:.3f}: {what} became NaN/Inf "
                f"(try a lower --lr or a higher --gamma); {where}"
            )

    def _interrupted_status(self) -> str:
        """What a second Ctrl-C leaves behind (core.training.signals)."""
        last = self.last_snapshot
        saved = last is not None and last.name == snapshot_name(self.cur_nimg)
        done = "was saved" if saved else "was not saved"
        return f"kimg {self.cur_nimg / 1000:.3f} {done}; {saved_status(last)}"

    def _save_snapshot(self) -> Path | None:
        if not self.ctx.is_main:
            return None
        name = snapshot_name(self.cur_nimg)
        path = self.run_dir / name
        tensors, state = self._training_state()
        save_checkpoint(
            path,
            self.G_ema,
            G=self.G,
            D=self.D,
            state_tensors=tensors,
            training_state=state,
            kimg=self.cur_nimg / 1000,
        )
        self.last_snapshot = path  # complete on disk from here on (what a failure or Ctrl-C reports)
        tag = name[len("network-snapshot-") : -len(".safetensors")]
        save_fakes(self.G_ema, self.grid, self.run_dir / f"fakes-{tag}.png")
        prune_snapshots(self.run_dir, self.config.keep)
        return path

    def _snapshot_metrics(self, path: Path) -> None:
        """--metrics on G_ema at this snapshot (main process), into metrics.jsonl and metrics-<snap>.json."""
        from core.metrics.training import snapshot_metrics

        c = self.config
        record = snapshot_metrics(
            self.G_ema, self.plan.dataset, path, c.metrics, c.metrics_num, c.weights_dir, self.device, c.seed
        )
        if self.monitor is not None:
            self.monitor.metrics({"kimg": self.cur_nimg / 1000, "nimg": self.cur_nimg, **record})

    def _tick_record(
        self, means: dict[str, float], train_s: float, snapshot_s: float, nimg_delta: int, tick: int
    ) -> dict[str, Any]:
        kimg = self.cur_nimg / 1000
        s_per_kimg = train_s / max(nimg_delta / 1000, 1e-9)
        return {
            "tick": tick,
            "kimg": kimg,
            "nimg": self.cur_nimg,
            "s_per_kimg": s_per_kimg,
            "img_per_s": nimg_delta / train_s,
            "snapshot_s": snapshot_s,
            "gpu_mem_gb": gpu_memory_gb(self.device),
            "eta_s": max(self.config.kimg - kimg, 0) * s_per_kimg,
            **means,
            **({"aug/p": float(self.augment_pipe.p)} if self.augment_pipe is not None else {}),
        }

    # ---- the loop ------------------------------------------------------------------------------

    def step(self, real_u8: torch.Tensor, real_labels: torch.Tensor) -> None:
        """One minibatch: every due phase, then the G_ema update."""
        per_rank, bg = self.config.per_rank_batch, self.config.batch_gpu
        rounds = per_rank // bg
        real = real_u8.to(self.device, torch.float32, non_blocking=True) / 127.5 - 1
        real_c = self.labels.one_hot(real_labels)
        for phase in self.phases:
            if self.batch_idx % phase.interval:
                continue
            gen_z = torch.randn(per_rank, self.G.z_dim, device=self.device)
            gen_c = self.labels.sample(per_rank)
            phase.opt.zero_grad(set_to_none=True)
            phase.module.requires_grad_(True)
            if phase.module is self.D:
                for p in self.frozen:  # Freeze-D: no gradient, so Adam leaves them as they are
                    p.requires_grad_(False)
            for r in range(rounds):
                s = slice(r * bg, (r + 1) * bg)
                stats = self.loss.accumulate_gradients(
                    phase.name,
                    real[s],
                    real_c[s] if real_c is not None else None,
                    gen_z[s],
                    gen_c[s] if gen_c is not None else None,
                    gain=phase.interval / rounds,
                )
                self.stats.add(stats)
                if self.ada is not None and "signs/real" in stats:
                    self.ada.accumulate(stats["signs/real"])
            phase.module.requires_grad_(False)
            reduce_gradients(list(phase.module.parameters()), self.ctx)
            phase.opt.step()
        average_tensors([self.G.mapping.w_avg, self.loss.pl_mean], self.ctx)
        c = self.config
        beta = ema_beta(c.batch, c.ema_kimg, self.cur_nimg, c.ema_rampup)
        update_ema(self.G_ema, self.G, beta)
        self.cur_nimg += c.batch
        self.batch_idx += 1
        if self.ada is not None:
            self.ada.maybe_update(self.batch_idx, c.batch, reduce=lambda t: average_tensors([t], self.ctx))

    def _open_batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's minibatches from where the run stands (the loader's seed draw kept off our stream)."""
        from core.data import iterate_batches

        opts, ctx = self.config, self.ctx
        workers = opts.workers if opts.workers is not None else (2 if self.device.type == "cuda" else 0)
        batches = iterate_batches(
            self.plan.dataset,
            opts.per_rank_batch,
            seed=opts.seed,
            rank=ctx.rank,
            world_size=ctx.world_size,
            num_workers=workers,
            start=self.batch_idx,
            device=self.device,
        )
        with torch.random.fork_rng(devices=[]):  # the loader draws a seed when it starts: not from our stream
            first = next(batches)
        return itertools.chain([first], batches)

    def _open_outputs(self) -> TrainingMonitor:
        """Rank 0: the run folder, the monitor with its banner, reals.png and (new runs) fakes-init.png."""
        opts = self.config
        self.run_dir = next_run_dir(opts.outdir, opts.description())
        monitor = TrainingMonitor(
            self.run_dir, opts.kimg, self.cur_nimg / 1000, live=opts.progress, console=self.console
        )
        self.monitor = monitor
        monitor.print(self._banner())
        if opts.aug == "fixed" and opts.p > LEAK_P:
            self._warn(f"--p {opts.p:g} is above ~{LEAK_P}: augmentations can leak into the generated images")
        save_reals(self.plan.dataset, opts.resolution, self.run_dir / "reals.png", seed=opts.seed)
        if not self.plan.continues:
            save_fakes(self.G_ema, self.grid, self.run_dir / "fakes-init.png")
        return monitor

    def run(self) -> TrainResult:
        opts, ctx = self.config, self.ctx
        total_nimg = int(round(opts.kimg * 1000))
        if self.cur_nimg >= total_nimg:
            raise SGError(
                f"the run is already at kimg {self.cur_nimg / 1000:g}; pass a larger --kimg to continue"
            )
        batches = self._open_batches()
        self.grid = make_grid_spec(self.G.z_dim, opts.c_dim, opts.resolution, seed=opts.seed)
        monitor = self._open_outputs() if ctx.is_main else None
        tick_nimg, snap_nimg = opts.tick * 1000, opts.snap * 1000
        next_tick = (math.floor(self.cur_nimg / tick_nimg) + 1) * tick_nimg
        next_snap = (math.floor(self.cur_nimg / snap_nimg) + 1) * snap_nimg
        tick_start_nimg, tick, snapshot_s = self.cur_nimg, 0, 0.0
        timer = Timer()
        stopped_by = None
        try:
            with StopRequest(self._interrupted_status) as stop:
                while True:
                    real_u8, real_labels = next(batches)
                    self.step(real_u8, real_labels)
                    rebalance_cpu()  # another sg started or ended: take a fair share of the cores
                    if monitor is not None:
                        monitor.step(self.cur_nimg / 1000)
                    done = self.cur_nimg >= total_nimg
                    stop_now = any_rank(stop.requested, ctx)
                    snap_due = done or stop_now or self.cur_nimg >= next_snap
                    if snap_due or self.cur_nimg >= next_tick:
                        means = self.stats.read()
                        self._check_finite(means)
                        train_s = timer.lap()
                        tick += 1
                        if monitor is not None:
                            monitor.tick(
                                self._tick_record(
                                    means, train_s, snapshot_s, self.cur_nimg - tick_start_nimg, tick
                                )
                            )
                        tick_start_nimg = self.cur_nimg
                        next_tick = (math.floor(self.cur_nimg / tick_nimg) + 1) * tick_nimg
                    if snap_due:
                        path = self._save_snapshot()
                        self.last_snapshot = path or self.last_snapshot
                        if path is not None and opts.metrics:
                            self._snapshot_metrics(path)
                        next_snap = (math.floor(self.cur_nimg / snap_nimg) + 1) * snap_nimg
                        snapshot_s = timer.lap()  # kept out of the next tick's s/kimg
                    if done or stop_now:
                        stopped_by = stop.signal_name if stop_now else None
                        break
        finally:
            if monitor is not None:
                monitor.close()
            self.monitor = None
        if monitor is not None:
            how = f"stopped by {stopped_by}" if stopped_by else "done"
            monitor.print(f"{how} at kimg {self.cur_nimg / 1000:.3f}; snapshot: {self.last_snapshot}")
        return TrainResult(self.run_dir, self.last_snapshot, self.cur_nimg / 1000, stopped_by)

    # ---- augmentation ----------------------------------------------------------------------------

    def _build_augment(self) -> tuple[AugmentPipe | None, AdaController | None]:
        """The pipeline (None with --aug noaug) and, with --aug ada, the controller that owns its p."""
        c = self.config
        if c.aug == "noaug":
            return None, None
        pipe = AugmentPipe(c.augpipe, p=c.p).to(self.device)
        if c.aug != "ada":
            return pipe, None
        warn = self._warn if self.ctx.is_main else None
        ada = AdaController(pipe.p, target=c.target, ada_kimg=c.ada_kimg, p_max=c.p_max, warn=warn)
        return pipe, ada

    def _augment_state(self) -> dict[str, Any] | None:
        """For `sg info` and people reading snapshots; the exact p is the state tensor augment.p."""
        if self.augment_pipe is None:
            return None
        c = self.config
        return {
            "mode": c.aug,
            "pipe": c.augpipe,
            "p": float(self.augment_pipe.p),
            "target": c.target,
            "ada_kimg": c.ada_kimg,
            "p_max": c.p_max,
        }

    def _warn(self, message: str) -> None:
        if self.monitor is not None:
            self.monitor.print(f"[yellow]warning:[/yellow] {message}")
        elif self.console is not None:
            self.console.print(f"[yellow]warning:[/yellow] {message}", highlight=False)

    def _banner(self) -> str:
        o = self.config
        n_g = sum(t.numel() for t in self.G.parameters())
        n_d = sum(t.numel() for t in self.D.parameters())
        res = o.resolution
        start = f", resuming at kimg {self.cur_nimg / 1000:g}" if o.continues else ""
        return (
            f"run {self.run_dir}\n"
            f"{o.dataset_name}: {o.num_images} images {res}x{res}x{o.img_channels}"
            f"{' x2 mirrored' if o.mirror else ''}{f', {o.c_dim} classes' if o.c_dim else ''}; "
            f"cfg {o.cfg} ({o.arch}, loss {o.loss}), G {n_g / 1e6:.2f}M / D {n_d / 1e6:.2f}M params; "
            f"batch {o.batch} ({o.batch_gpu} per pass x {o.gpus} process(es)), "
            f"gamma {o.gamma:g}, lr {o.lr:g}, {o.kimg:g} kimg on {self.device}{start}"
            f"\n{self._augment_line()}"
        )

    def _augment_line(self) -> str:
        o = self.config
        if o.aug == "ada":
            text = f"augment: ADA {o.augpipe}, p {float(self.augment_pipe.p):.3f} (target {o.target:g}, "
            text += f"{o.ada_kimg:g} kimg to 1, ceiling {o.p_max:g})"
        elif o.aug == "fixed":
            text = f"augment: fixed {o.augpipe}, p {o.p:g}"
        else:
            text = "augment: none"
        if self.frozen_names:
            text += f"; Freeze-D: {len(self.frozen_names)} layers ({', '.join(self.frozen_names)})"
        hint = small_dataset_hint(o.num_images, o.aug)
        return text + (f"\n[yellow]hint:[/yellow] {hint}" if hint else "")
