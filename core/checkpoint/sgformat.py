"""The sg checkpoint: one safetensors file, self-describing through JSON metadata.

Tensors are stored under `G_ema.`, `G.`, `D.` (network state dicts) and `state.` (optimiser moments, RNG
states, ...). Metadata holds `format`, `format_version`, `G_config`, `D_config`, `kimg` and a JSON
`training_state`, so a model is rebuilt without guessing and a run resumes where it stopped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from core.errors import SGError
from core.fileio import atomic_write
from core.networks import (
    Discriminator,
    DiscriminatorConfig,
    Generator,
    GeneratorConfig,
    build_discriminator,
    build_generator,
)

FORMAT = "sg-checkpoint"
FORMAT_VERSION = 1
NETWORK_PREFIXES = ("G_ema", "G", "D")


@dataclass
class Checkpoint:
    """What a model file holds once loaded; networks are None where the file has none."""

    G_ema: Generator
    g_config: GeneratorConfig
    G: Generator | None = None
    D: Discriminator | None = None
    d_config: DiscriminatorConfig | None = None
    kimg: float | None = None
    training_state: dict[str, Any] = field(default_factory=dict)
    state_tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    source: str = "sg"
    details: dict[str, str] = field(default_factory=dict)  # what an imported file was (shown by sg info)


def _detached(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.{k}": v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()
    }


def save_checkpoint(
    path: str | os.PathLike,
    G_ema: Generator,
    G: Generator | None = None,
    D: Discriminator | None = None,
    state_tensors: dict[str, torch.Tensor] | None = None,
    training_state: dict[str, Any] | None = None,
    kimg: float | None = None,
    extra_meta: dict[str, str] | None = None,
) -> None:
    """Atomically write networks, optimiser/RNG tensors and JSON state to one safetensors file."""
    tensors = _detached("G_ema", G_ema)
    if G is not None:
        tensors.update(_detached("G", G))
    if D is not None:
        tensors.update(_detached("D", D))
    for k, v in (state_tensors or {}).items():
        tensors[f"state.{k}"] = v.detach().to("cpu").contiguous().clone()
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "G_config": json.dumps(G_ema.config.to_dict()),
        "training_state": json.dumps(training_state or {}),
    }
    if D is not None:
        meta["D_config"] = json.dumps(D.config.to_dict())
    if kimg is not None:
        meta["kimg"] = repr(float(kimg))
    meta.update(extra_meta or {})
    atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def read_safetensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """All tensors and the metadata; a truncated or foreign file is a one-line SGError."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise SGError(f"{path}: not a readable safetensors file (truncated or corrupt?): {exc}") from None
    return tensors, meta


def split_prefix(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    p = prefix + "."
    return {k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)}


def load_state(
    module: torch.nn.Module, state: dict[str, torch.Tensor], what: str, path: str | os.PathLike
) -> None:
    """Strict load with an error that names the first mismatching tensors instead of a torch traceback."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else ""))
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:3])}" + (" ..." if len(unexpected) > 3 else ""))
        if wrong:
            k = wrong[0]
            parts.append(f"shape of {k} is {tuple(state[k].shape)}, expected {tuple(own[k].shape)}")
        raise SGError(f"{path}: {what} weights do not match its config ({'; '.join(parts)})")
    module.load_state_dict(state, strict=True)


def networks_from_tensors(
    tensors: dict[str, torch.Tensor],
    g_config: GeneratorConfig,
    d_config: DiscriminatorConfig | None,
    path: str | os.PathLike,
    g_ema_prefix: str = "G_ema",
) -> tuple[Generator, Generator | None, Discriminator | None]:
    """Rebuild G_ema (required), G and D (when present) from prefixed tensors."""
    g_ema_state = split_prefix(tensors, g_ema_prefix)
    if not g_ema_state:
        raise SGError(f"{path}: holds no generator weights (no '{g_ema_prefix}.*' tensors)")
    G_ema = build_generator(g_config)
    load_state(G_ema, g_ema_state, "G_ema", path)
    G = None
    g_state = split_prefix(tensors, "G")
    if g_state:
        G = build_generator(g_config)
        load_state(G, g_state, "G", path)
    D = None
    d_state = split_prefix(tensors, "D")
    if d_state and d_config is not None:
        D = build_discriminator(d_config)
        load_state(D, d_state, "D", path)
    return G_ema.eval().requires_grad_(False), G, D


def load_sg_safetensors(path: str | os.PathLike) -> Checkpoint:
    tensors, meta = read_safetensors(path)
    if meta.get("format") != FORMAT:
        if "G_init_kwargs" in meta:  # official parameter names with the official kwargs (golden files)
            from core.checkpoint.official import checkpoint_from_official_tensors

            return checkpoint_from_official_tensors(tensors, meta, path)
        raise SGError(f"{path}: safetensors file without sg metadata (not an sg checkpoint)")
    version = int(meta.get("format_version", "0"))
    if version > FORMAT_VERSION:
        raise SGError(
            f"{path}: checkpoint format version {version} is newer than this sg "
            f"({FORMAT_VERSION}); upgrade sg"
        )
    try:
        g_config = GeneratorConfig.from_dict(json.loads(meta["G_config"]))
        d_config = DiscriminatorConfig.from_dict(json.loads(meta["D_config"])) if "D_config" in meta else None
        training_state = json.loads(meta.get("training_state", "{}"))
    except (KeyError, json.JSONDecodeError, TypeError) as exc:
        raise SGError(f"{path}: checkpoint metadata is damaged ({exc})") from None
    G_ema, G, D = networks_from_tensors(tensors, g_config, d_config, path)
    kimg = float(meta["kimg"]) if "kimg" in meta else None
    return Checkpoint(
        G_ema=G_ema,
        g_config=g_config,
        G=G,
        D=D,
        d_config=d_config,
        kimg=kimg,
        training_state=training_state,
        state_tensors=split_prefix(tensors, "state"),
        source="sg",
    )
