"""From options to a concrete run: the dataset, the preset with overrides, network configs and networks.

Every user error (missing data, too few images, a resumed model that does not fit the data) is found
here, before any process is launched or any network built, and reported as one line.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from core.checkpoint import Checkpoint
from core.data import ImageDataset, bundled_dataset_path, open_dataset
from core.data.layout import is_prepared_dataset, read_meta
from core.errors import SGError
from core.networks import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    build_discriminator,
    build_generator,
)
from core.networks.config import ARCHS
from core.networks.presets import TrainingPreset, get_preset, network_configs, override_preset
from core.training.options import TrainOptions, split_batch
from core.training.snapshot import is_training_snapshot, load_resume, sanitize

BUNDLED_NAME = "fashion-mnist"


@dataclass
class RunPlan:
    """A fully resolved run; `opts` has every field filled and is what snapshots store."""

    opts: TrainOptions
    preset: TrainingPreset
    dataset: ImageDataset
    dataset_name: str
    c_dim: int
    g_config: GeneratorConfig
    d_config: DiscriminatorConfig
    per_rank_batch: int
    batch_gpu: int
    resume_path: Path | None = None
    resume: Checkpoint | None = None
    continues: bool = False  # resuming a training snapshot: counters, optimisers and RNG carry on

    def description(self) -> str:
        """The run directory's name after its number, as the official one: what ran on what."""
        o = self.opts
        parts = [self.dataset_name, o.cfg]
        parts += [o.arch] if o.arch != "stylegan2" else []
        parts += [o.loss] if o.loss != "ns" else []
        parts += ["cond"] if self.c_dim else []
        parts += [f"gpus{o.gpus}", f"batch{o.batch}", f"gamma{o.gamma:g}"]
        parts += ["resume"] if self.resume_path is not None else []
        return sanitize("-".join(parts))


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
        opts = opts.inherit(ck.training_state.get("options", {}))
    opts = opts.with_defaults()
    opts.validate()
    if opts.arch not in ARCHS:
        raise SGError(f"--arch must be one of {', '.join(ARCHS)} (got {opts.arch!r})")
    cfg = opts.cfg or ("auto" if device_type == "cuda" else "small")

    data_path = Path(opts.data).expanduser() if opts.data else bundled_dataset_path()
    resolution, channels = opts.resolution, None
    if ck is not None:  # raw data is prepared at the model's size; prepared data must already have it
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
    res = dataset.resolution
    if opts.cond and not dataset.has_labels:
        raise SGError(f"--cond needs class labels, but {data_path} has none (dataset.json)")
    c_dim = dataset.num_classes if opts.cond else 0

    preset = get_preset(cfg, res, world_size)
    preset = override_preset(
        preset,
        channel_base=opts.cbase,
        channel_max=opts.cmax,
        map_layers=opts.map_depth,
        mbstd_group=opts.mbstd_group,
        lr=opts.lr,
        batch=opts.batch,
        gamma=opts.gamma,
        ema_kimg=opts.ema_kimg,
        kimg=opts.kimg,
        snap=opts.snap,
        tick=opts.tick,
    )
    if len(dataset) < preset.batch:
        raise SGError(
            f"{data_path}: {dataset.num_images} images are too few for a batch of {preset.batch}; "
            f"add images or lower --batch"
        )
    per_rank, batch_gpu = split_batch(preset.batch, opts.batch_gpu, world_size)

    g_config, d_config = network_configs(preset, res, dataset.channels, c_dim, opts.arch)
    if ck is not None:
        if ck.g_config.c_dim != c_dim:
            want = "with --cond" if ck.g_config.c_dim else "without --cond"
            raise SGError(
                f"--resume {resume_path} has {ck.g_config.c_dim} classes but this run has {c_dim}; "
                f"train {want} on data with {ck.g_config.c_dim or 'no'} labels"
            )
        g_config = ck.g_config
        preset = dataclasses.replace(
            preset,
            channel_base=g_config.channel_base,
            channel_max=g_config.channel_max,
            map_layers=g_config.map_layers,
            z_dim=g_config.z_dim,
            w_dim=g_config.w_dim,
        )
        d_config = ck.d_config or network_configs(preset, res, dataset.channels, c_dim, g_config.arch)[1]

    opts = dataclasses.replace(
        opts,
        cfg=cfg,
        resolution=res,
        arch=g_config.arch,
        cbase=g_config.channel_base,
        cmax=g_config.channel_max,
        map_depth=g_config.map_layers,
        mbstd_group=d_config.mbstd_group_size,
        gamma=preset.gamma,
        lr=preset.lr,
        batch=preset.batch,
        batch_gpu=batch_gpu,
        ema_kimg=preset.ema_kimg,
        kimg=preset.kimg,
        snap=preset.snap,
        tick=min(preset.tick, preset.snap),
        data=str(opts.data) if opts.data else None,
    )
    return RunPlan(
        opts=opts,
        preset=preset,
        dataset=dataset,
        dataset_name=dataset_name(opts.data),
        c_dim=c_dim,
        g_config=g_config,
        d_config=d_config,
        per_rank_batch=per_rank,
        batch_gpu=batch_gpu,
        resume_path=resume_path,
        resume=ck,
        continues=continues,
    )


def build_networks(plan: RunPlan, device: torch.device) -> tuple[Generator, Discriminator, Generator]:
    """(G, D, G_ema): fresh from `opts.seed`, or the resumed file's weights (a missing G or D made anew)."""
    torch.manual_seed(plan.opts.seed)  # the same initial weights on every rank
    ck = plan.resume
    G = build_generator(plan.g_config) if ck is None or ck.G is None else ck.G
    D = build_discriminator(plan.d_config) if ck is None or ck.D is None else ck.D
    if ck is not None and ck.G is None:
        G.load_state_dict(ck.G_ema.state_dict())
    G_ema = copy.deepcopy(G) if ck is None else ck.G_ema
    G.train().requires_grad_(False)
    D.train().requires_grad_(False)
    G_ema.eval().requires_grad_(False)
    return G.to(device), D.to(device), G_ema.to(device)
