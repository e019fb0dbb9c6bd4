"""From options to a concrete run: the one resolved `RunConfig`, the dataset, and the networks.

`plan_run` is the only place where options, the resumed snapshot, the data and the preset meet. Every
user error (missing data, too few images, a resumed model that does not fit the data) is found there,
before any process is launched or any network built, and reported as one line. Ranks started by
`sg train --gpus N` receive the resolved config and only reopen what it names (`open_run`).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from core.checkpoint import Checkpoint, load_checkpoint
from core.data import ImageDataset, bundled_dataset_path, open_dataset
from core.data.layout import is_prepared_dataset, read_meta
from core.errors import SGError
from core.networks import Discriminator, Generator, build_discriminator, build_generator
from core.networks.presets import TrainingPreset, get_preset
from core.training.options import RunConfig, TrainOptions, split_batch
from core.training.snapshot import is_training_snapshot, load_resume, sanitize

BUNDLED_NAME = "fashion-mnist"


@dataclass
class RunPlan:
    """The resolved config plus the live objects it names: the open dataset and the resumed model file."""

    config: RunConfig
    dataset: ImageDataset
    resume: Checkpoint | None = None

    @property
    def continues(self) -> bool:
        return self.config.continues


def dataset_name(data: str | None) -> str:
    if data is None:
        return BUNDLED_NAME
    p = Path(data)
    return sanitize(p.stem if p.suffix.lower() == ".zip" else p.name)


def plan_run(
    opts: TrainOptions, world_size: int = 1, device_type: str = "cpu", progress: bool = True
) -> RunPlan:
    """Resolve options against the resumed snapshot, the data and the preset; validate everything."""
    resume_path = ck = None
    if opts.resume:
        resume_path, ck = load_resume(opts.resume)
    continues = ck is not None and is_training_snapshot(ck)
    if continues:
        stored = ck.training_state.get("options", {})
        opts = opts.inherit(stored)
        if opts.aug is None and "aug" not in stored:  # a run from before augmentation existed goes on without
            opts = dataclasses.replace(opts, aug="noaug")
    opts = opts.with_defaults()
    opts.validate()
    if opts.metrics:  # the metrics' pretrained files: found (or downloaded) now, not at the first snapshot
        from core.metrics.protocols import MetricOptions, check_weights, parse_metrics

        check_weights(parse_metrics(opts.metrics), MetricOptions(weights_dir=opts.weights_dir))
    dataset = _open_data(opts, ck, resume_path, progress)
    c_dim = dataset.num_classes if opts.cond else 0
    preset = get_preset(
        opts.cfg or ("auto" if device_type == "cuda" else "small"), dataset.resolution, world_size
    )
    config = resolve_config(opts, preset, dataset, c_dim, world_size, ck, resume_path, continues)
    _check_fits(config, ck)
    return RunPlan(config, dataset, ck)


def open_run(config: RunConfig) -> RunPlan:
    """A plan from an already resolved config (a torchrun rank): reopen the prepared data and the model."""
    dataset = open_dataset(config.dataset_path, mirror=config.mirror, progress=False)
    ck = load_checkpoint(config.resume, "cpu") if config.resume else None
    return RunPlan(config, dataset, ck)


def _open_data(
    opts: TrainOptions, ck: Checkpoint | None, resume_path: Path | None, progress: bool
) -> ImageDataset:
    """The dataset, at the resumed model's size when there is one (raw data is prepared at that size)."""
    data_path = Path(opts.data).expanduser() if opts.data else bundled_dataset_path()
    resolution, channels = opts.resolution, None
    if ck is not None:
        resolution, channels = ck.g_config.img_resolution, ck.g_config.img_channels
        data_res = read_meta(data_path)["resolution"] if is_prepared_dataset(data_path) else opts.resolution
        if data_res is not None and data_res != resolution:
            raise SGError(
                f"--resume {resume_path} is a {resolution} px model but the dataset is {data_res} px; "
                f"train it on {resolution} px data"
            )
    dataset = open_dataset(
        data_path, resolution=resolution, channels=channels, mirror=opts.mirror, progress=progress
    )
    if opts.cond and not dataset.has_labels:
        raise SGError(f"--cond needs class labels, but {data_path} has none (dataset.json)")
    return dataset


def resolve_config(
    opts: TrainOptions,
    preset: TrainingPreset,
    dataset: ImageDataset,
    c_dim: int,
    world_size: int,
    ck: Checkpoint | None,
    resume_path: Path | None,
    continues: bool,
) -> RunConfig:
    """Each field once: the option if given, else the preset; network shape from the resumed model.

    Long because it is one constructor call with a line per RunConfig field: the whole resolution reads
    top to bottom in one place, which is the point of having one."""

    def pick(option: object, preset_value: object) -> object:
        return preset_value if option is None else option

    g = ck.g_config if ck is not None else None
    batch = pick(opts.batch, preset.batch)
    _, batch_gpu = split_batch(batch, opts.batch_gpu, world_size)
    snap = pick(opts.snap, preset.snap)
    d_group = ck.d_config.mbstd_group_size if ck is not None and ck.d_config is not None else None
    return RunConfig(
        data=str(opts.data) if opts.data else None,
        dataset_path=str(dataset.path),
        dataset_name=dataset_name(opts.data),
        num_images=dataset.num_images,
        resolution=dataset.resolution,
        img_channels=dataset.channels,
        cond=opts.cond,
        c_dim=c_dim,
        mirror=opts.mirror,
        outdir=opts.outdir,
        resume=str(resume_path) if resume_path is not None else None,
        continues=continues,
        cfg=preset.name,
        arch=g.arch if g else opts.arch,
        cbase=g.channel_base if g else pick(opts.cbase, preset.channel_base),
        cmax=g.channel_max if g else pick(opts.cmax, preset.channel_max),
        map_depth=g.map_layers if g else pick(opts.map_depth, preset.map_layers),
        mbstd_group=d_group or pick(opts.mbstd_group, preset.mbstd_group),
        z_dim=g.z_dim if g else preset.z_dim,
        w_dim=g.w_dim if g else preset.w_dim,
        num_fp16_res=g.num_fp16_res if g else preset.num_fp16_res,
        conv_clamp=g.conv_clamp if g else preset.conv_clamp,
        loss=opts.loss,
        lr=pick(opts.lr, preset.lr),
        batch=batch,
        batch_gpu=batch_gpu,
        gamma=pick(opts.gamma, preset.gamma),
        ema_kimg=pick(opts.ema_kimg, preset.ema_kimg),
        ema_rampup=preset.ema_rampup,
        style_mixing_prob=preset.style_mixing_prob,
        pl_weight=preset.pl_weight,
        r1_interval=opts.r1_interval,
        pl_interval=opts.pl_interval,
        kimg=pick(opts.kimg, preset.kimg),
        snap=snap,
        tick=min(pick(opts.tick, preset.tick), snap),
        keep=opts.keep,
        seed=opts.seed,
        gpus=world_size,
        precision=opts.precision,
        compile=opts.compile,
        workers=opts.workers,
        device=opts.device,
        progress=opts.progress,
        aug=opts.aug,
        augpipe=opts.augpipe,
        target=opts.target,
        ada_kimg=opts.ada_kimg,
        p=opts.p or 0.0,
        p_max=opts.p_max,
        freezed=opts.freezed,
        metrics=opts.metrics or "",
        metrics_num=opts.metrics_num,
        weights_dir=opts.weights_dir,
    )


def _check_fits(config: RunConfig, ck: Checkpoint | None) -> None:
    """The data holds a full batch and, when resuming, has the model's classes."""
    if config.num_images * (2 if config.mirror else 1) < config.batch:
        raise SGError(
            f"{config.dataset_path}: {config.num_images} images are too few for a batch of {config.batch}; "
            f"add images or lower --batch"
        )
    from core import validate

    validate.group_divides("--mbstd-group", config.mbstd_group, config.batch_gpu)
    if config.cbase < config.resolution:  # channels at r are cbase // r: none at the top layers
        raise SGError(
            f"--cbase {config.cbase} leaves no channels at {config.resolution} px; "
            f"use --cbase >= {config.resolution}"
        )
    if ck is not None and ck.g_config.c_dim != config.c_dim:
        have = ck.g_config.c_dim
        raise SGError(
            f"--resume {config.resume} has {have} classes but this run has {config.c_dim}; "
            f"train {'with --cond' if have else 'without --cond'} on data with {have or 'no'} labels"
        )


def build_networks(plan: RunPlan, device: torch.device) -> tuple[Generator, Discriminator, Generator]:
    """(G, D, G_ema): fresh from the seed, or the resumed file's weights (a missing G or D made anew)."""
    torch.manual_seed(plan.config.seed)  # the same initial weights on every rank
    ck = plan.resume
    g_config, d_config = plan.config.network_configs()
    if ck is not None:  # the model's own configs: imported ones may differ from ours in fields we don't set
        g_config, d_config = ck.g_config, ck.d_config or d_config
    G = build_generator(g_config) if ck is None or ck.G is None else ck.G
    D = build_discriminator(d_config) if ck is None or ck.D is None else ck.D
    if ck is not None and ck.G is None:
        G.load_state_dict(ck.G_ema.state_dict())
    G_ema = copy.deepcopy(G) if ck is None else ck.G_ema
    G.train().requires_grad_(False)
    D.train().requires_grad_(False)
    G_ema.eval().requires_grad_(False)
    return G.to(device), D.to(device), G_ema.to(device)
