"""What the user asked for (`TrainOptions`) and the one fully resolved run config (`RunConfig`).

`TrainOptions` is the command line: every field optional, None meaning "not given". `RunConfig` is what the
run actually uses, built once by `core.training.setup.plan_run` from the options, the resumed snapshot's
stored config, the preset and the defaults below (in that order of precedence), and frozen: the trainer,
the banner, the run directory's name and the snapshot metadata all read it, and `sg train --gpus N` hands
the same object to every rank instead of resolving again. Both use the command line's names (`cbase`,
`map_depth`, ...); only `network_configs` speaks the networks' names (`channel_base`, `map_layers`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from core.errors import SGError
from core.networks.config import ARCHS, DiscriminatorConfig, GeneratorConfig
from core.training.snapshot import sanitize

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
    "aug": "ada",  # as the official trainer: adaptive augmentation unless told otherwise
    "augpipe": "bgc",
    "target": 0.6,
    "ada_kimg": 500.0,
    "p_max": 1.0,
    "freezed": 0,
}
AUG_MODES = ("ada", "fixed", "noaug")
# Fields that describe this invocation rather than the run, never inherited from a resumed snapshot.
NOT_INHERITED = frozenset({"resume", "progress", "workers", "device", "weights_dir"})


@dataclass
class TrainOptions:
    """Everything `sg train` accepts; None means "from the resumed run, else the preset or default"."""

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
    aug: str | None = None  # ada, fixed or noaug
    augpipe: str | None = None  # bg, bgc, bgcf, ... (core.training.augment.AUGPIPES)
    target: float | None = None  # ADA target of E[sign(D(real))]
    ada_kimg: float | None = None  # kimg for p to go from 0 to 1
    p: float | None = None  # fixed: the strength; ada: the starting strength
    p_max: float | None = None  # ceiling of the ADA strength
    freezed: int | None = None  # Freeze-D: D's first N layers stay fixed
    metrics: str | None = None  # metric names (core.metrics.protocols) computed at every snapshot
    metrics_num: int | None = None  # generated images per metric (None: the official protocol's)
    weights_dir: str | None = None  # the metrics' pretrained files (core.metrics.pretrained)
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def inherit(self, stored: dict[str, Any]) -> TrainOptions:
        """Fill unset fields from a resumed run's stored config (older snapshots stored these options)."""
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
        """One-line errors for values that can never work (checked before any data is opened)."""
        self._edge_checks()
        checks = [
            (self.loss in LOSS_KINDS, f"--loss must be one of {', '.join(LOSS_KINDS)} (got {self.loss!r})"),
            (self.precision in PRECISIONS, f"--precision must be one of {', '.join(PRECISIONS)}"),
            (self.arch in ARCHS, f"--arch must be one of {', '.join(ARCHS)} (got {self.arch!r})"),
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
            *self._augment_checks(),
            (
                self.metrics_num is None or self.metrics_num >= 2,
                f"--metrics-num must be >= 2 (got {self.metrics_num})",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise SGError(message)
        if self.metrics:
            from core.metrics.protocols import parse_metrics

            parse_metrics(self.metrics)  # unknown names: one line before any data is opened

    def _edge_checks(self) -> None:
        """Finite numbers, sizes >= 1, a seed in 0..2^32-1 and a device that exists (core.validate)."""
        from core import validate

        for name, option in _NUMBERS.items():
            validate.finite(option, getattr(self, name))
        for name, option in _SIZES.items():
            validate.at_least(option, getattr(self, name), 1)
        validate.seed("--seed", self.seed)
        if self.device is not None:
            validate.device("--device", self.device)

    def _augment_checks(self) -> list[tuple[bool, str]]:
        from core.training.augment import AUGPIPES

        p, p_max = self.p, self.p_max
        return [
            (self.aug in AUG_MODES, f"--aug must be one of {', '.join(AUG_MODES)} (got {self.aug!r})"),
            (self.augpipe in AUGPIPES, f"--augpipe must be one of {', '.join(AUGPIPES)}"),
            (0 <= self.target <= 1, f"--target must be in [0, 1] (got {self.target})"),
            (self.ada_kimg > 0, f"--ada-kimg must be > 0 (got {self.ada_kimg})"),
            (0 < p_max <= 1, f"--p-max must be in (0, 1] (got {p_max})"),
            (p is None or 0 <= p <= p_max, f"--p must be in [0, --p-max {p_max:g}] (got {p})"),
            (self.aug != "fixed" or p is not None, "--aug fixed needs the strength: --p P (e.g. --p 0.2)"),
            (self.aug != "noaug" or not p, f"--p {p} makes no sense with --aug noaug"),
            (self.freezed >= 0, f"--freezed must be >= 0 (got {self.freezed})"),
        ]


# Options that must be finite numbers, and sizes that must be >= 1 (field -> option name).
_NUMBERS = {
    "kimg": "--kimg",
    "snap": "--snap",
    "tick": "--tick",
    "gamma": "--gamma",
    "lr": "--lr",
    "ema_kimg": "--ema",
    "target": "--target",
    "ada_kimg": "--ada-kimg",
    "p": "--p",
    "p_max": "--p-max",
}
_SIZES = {
    "cbase": "--cbase",
    "cmax": "--cmax",
    "map_depth": "--map-depth",
    "mbstd_group": "--mbstd-group",
    "resolution": "--resolution",
    "r1_interval": "--r1-interval",
    "pl_interval": "--pl-interval",
}


@dataclass(frozen=True)
class RunConfig:
    """One training run, fully resolved: nothing here is None unless None is a real setting."""

    # -- data and outputs
    data: str | None  # what the user named (None: bundled sample); stored so that a resume finds it again
    dataset_path: str  # the prepared dataset actually read (a cache entry for raw folders and zips)
    dataset_name: str  # for the run directory's name
    num_images: int
    resolution: int
    img_channels: int
    cond: bool
    c_dim: int  # classes conditioned on (0: unconditional)
    mirror: bool
    outdir: str
    resume: str | None  # the resolved model file this run started from
    continues: bool  # resuming a training snapshot: counters, optimisers and RNG carry on
    # -- the networks (command-line names; the checkpoint's when resuming)
    cfg: str  # the preset the defaults came from
    arch: str
    cbase: int  # channels at resolution r: min(cbase / r, cmax)
    cmax: int
    map_depth: int  # mapping network layers
    mbstd_group: int  # minibatch-stddev group size
    z_dim: int
    w_dim: int
    num_fp16_res: int  # top resolutions that run in reduced precision on CUDA
    conv_clamp: float | None  # activation clamp of the reduced-precision layers
    # -- optimisation (the official names' meaning)
    loss: str  # "ns": non-saturating logistic + R1; "wgan-gp"
    lr: float  # Adam lr of G and D (mapping x0.01)
    batch: int  # images per step over all processes
    batch_gpu: int  # images per forward pass; gradients accumulate up to batch / gpus
    gamma: float  # R1 weight
    ema_kimg: float  # G_ema half-life in kimg
    ema_rampup: float | None  # half-life ramps up with the images seen (None: fixed)
    style_mixing_prob: float
    pl_weight: float  # path length regulariser weight (0: off)
    r1_interval: int  # lazy R1 every N steps
    pl_interval: int  # lazy path length every N steps
    # -- schedule (kimg)
    kimg: float  # train until this many thousand images
    snap: float  # between snapshots
    tick: float  # between progress lines (never more than snap)
    keep: int | None  # snapshots kept (None: all)
    # -- processes
    seed: int
    gpus: int  # processes (world size)
    precision: str  # auto, bf16, fp16 or fp32 for the top resolutions on CUDA
    compile: bool
    workers: int | None  # data loader processes (None: 2 on CUDA, 0 on CPU)
    device: str | None  # None: cuda when available
    progress: bool  # live progress bar
    # -- augmentation (ADA) and transfer learning; defaults for configs written before they existed
    aug: str = "noaug"  # ada, fixed or noaug
    augpipe: str = "bgc"
    target: float = 0.6  # ADA's target for E[sign(D(real))]
    ada_kimg: float = 500.0
    p: float = 0.0  # fixed: the strength; ada: where p starts (a resume restores the snapshot's p)
    p_max: float = 1.0
    freezed: int = 0
    # -- metrics at every snapshot (sg metrics' names; "" for none)
    metrics: str = ""
    metrics_num: int | None = None  # generated images per metric (None: the official protocol's)
    weights_dir: str | None = None

    @property
    def per_rank_batch(self) -> int:
        return self.batch // self.gpus

    def network_configs(self) -> tuple[GeneratorConfig, DiscriminatorConfig]:
        """G and D configs for this run (a resumed model's own G config is used instead by the trainer)."""
        common = dict(
            c_dim=self.c_dim,
            img_resolution=self.resolution,
            img_channels=self.img_channels,
            channel_base=self.cbase,
            channel_max=self.cmax,
            num_fp16_res=self.num_fp16_res,
            conv_clamp=self.conv_clamp,
        )
        sg1 = self.arch == "stylegan1"  # NVIDIA's StyleGAN1: its D_basic, truncation cutoff 8, TF labels
        g = GeneratorConfig(
            arch=self.arch,
            z_dim=self.z_dim,
            w_dim=self.w_dim,
            map_layers=self.map_depth,
            trunc_cutoff=8 if sg1 else None,
            label_concat=sg1,
            **common,
        )
        return g, DiscriminatorConfig(arch=self.arch, mbstd_group_size=self.mbstd_group, **common)

    def description(self) -> str:
        """The run directory's name after its number, as the official one: what ran on what."""
        parts = [self.dataset_name, self.cfg]
        parts += [self.arch] if self.arch != "stylegan2" else []
        parts += [self.loss] if self.loss != "ns" else []
        parts += ["cond"] if self.c_dim else []
        parts += [f"gpus{self.gpus}", f"batch{self.batch}", f"gamma{self.gamma:g}"]
        parts += ["resume"] if self.resume is not None else []
        parts += [self.aug] if self.aug != "ada" else []  # the default (ADA) leaves the name as it was
        parts += [f"freezed{self.freezed}"] if self.freezed else []
        return sanitize("-".join(parts))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; what snapshots store under training_state["options"] and torchrun ranks receive."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls)})


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
