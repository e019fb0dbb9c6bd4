"""What the user asked for (`TrainOptions`, all optional) and the defaults that fill the gaps.

Fields left None are filled, in order, from the snapshot being resumed (so `sg train --resume RUN`
continues with the run's own settings), then from the preset and the defaults below.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from core.errors import SGError

LOSS_KINDS = ("ns", "wgan-gp")
PRECISIONS = ("auto", "bf16", "fp16", "fp32")

# Defaults of the fields that no preset decides.
DEFAULTS: dict[str, Any] = {
    "outdir": "runs",
    "arch": "stylegan2",
    "cond": False,
    "mirror": False,
    "seed": 0,
    "gpus": 1,
    "loss": "ns",
    "precision": "auto",
    "compile": False,
    "r1_interval": 16,
    "pl_interval": 4,
}
# Fields that describe this invocation rather than the run, never inherited from a resumed snapshot.
NOT_INHERITED = frozenset({"resume", "progress", "workers", "device"})


@dataclass
class TrainOptions:
    """Everything `sg train` accepts; None means "from the resumed run, else the default"."""

    data: str | None = None  # None: the bundled Fashion-MNIST sample
    outdir: str | None = None
    cfg: str | None = None  # None: `auto` on CUDA, `small` on CPU
    arch: str | None = None
    resolution: int | None = None
    cond: bool | None = None
    mirror: bool | None = None
    cbase: int | None = None
    cmax: int | None = None
    map_depth: int | None = None
    mbstd_group: int | None = None
    gamma: float | None = None
    lr: float | None = None
    batch: int | None = None
    batch_gpu: int | None = None
    ema_kimg: float | None = None
    kimg: float | None = None
    snap: float | None = None  # kimg between snapshots
    tick: float | None = None  # kimg between progress lines
    keep: int | None = None  # snapshots to keep (None: all)
    resume: str | None = None
    seed: int | None = None
    gpus: int | None = None
    loss: str | None = None
    precision: str | None = None
    compile: bool | None = None
    workers: int | None = None
    device: str | None = None
    r1_interval: int | None = None
    pl_interval: int | None = None
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def inherit(self, stored: dict[str, Any]) -> TrainOptions:
        """Fill unset fields from a resumed run's stored options."""
        out = dataclasses.replace(self)
        for f in dataclasses.fields(self):
            if f.name in NOT_INHERITED or getattr(out, f.name) is not None:
                continue
            if stored.get(f.name) is not None:
                setattr(out, f.name, stored[f.name])
        return out

    def with_defaults(self) -> TrainOptions:
        out = dataclasses.replace(self)
        for k, v in DEFAULTS.items():
            if getattr(out, k) is None:
                setattr(out, k, v)
        return out

    def validate(self) -> None:
        """One-line errors for values that can never work (resolved options only)."""
        checks = [
            (self.loss in LOSS_KINDS, f"--loss must be one of {', '.join(LOSS_KINDS)} (got {self.loss!r})"),
            (self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}"),
            (self.gpus >= 1, f"--gpus must be >= 1 (got {self.gpus})"),
            (self.kimg is None or self.kimg > 0, f"--kimg must be > 0 (got {self.kimg})"),
            (self.snap is None or self.snap > 0, f"--snap must be > 0 (got {self.snap})"),
            (self.tick is None or self.tick > 0, f"--tick must be > 0 (got {self.tick})"),
            (self.keep is None or self.keep >= 1, f"--keep must be >= 1 (got {self.keep})"),
            (self.batch is None or self.batch >= 1, f"--batch must be >= 1 (got {self.batch})"),
            (
                self.batch_gpu is None or self.batch_gpu >= 1,
                f"--batch-gpu must be >= 1 (got {self.batch_gpu})",
            ),
            (self.gamma is None or self.gamma >= 0, f"--gamma must be >= 0 (got {self.gamma})"),
            (self.lr is None or self.lr > 0, f"--lr must be > 0 (got {self.lr})"),
            (self.workers is None or self.workers >= 0, f"--workers must be >= 0 (got {self.workers})"),
        ]
        for ok, message in checks:
            if not ok:
                raise SGError(message)


def split_batch(batch: int, batch_gpu: int | None, world_size: int) -> tuple[int, int]:
    """(per-rank batch, per-pass batch): `batch` is split over ranks, then into `batch_gpu` chunks whose
    gradients accumulate. Both divisions must be exact."""
    if batch % world_size:
        raise SGError(f"--batch {batch} is not divisible by --gpus {world_size}")
    per_rank = batch // world_size
    batch_gpu = per_rank if batch_gpu is None else batch_gpu
    if batch_gpu > per_rank or per_rank % batch_gpu:
        raise SGError(f"--batch-gpu {batch_gpu} must divide the per-GPU batch {per_rank} (--batch / --gpus)")
    return per_rank, batch_gpu
