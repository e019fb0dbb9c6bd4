"""The sg checkpoint: one safetensors file, self-describing through JSON metadata.

Tensors are stored under `G_ema.`, `G.`, `D.` (network state dicts) and `state.` (optimiser moments, RNG
states, ...). Metadata holds `format`, `format_version`, `G_config`, `D_config`, `kimg` and a JSON
`training_state`, so a model is rebuilt without guessing and a run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from core import validate
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

    def write(tmp: str) -> None:
        try:
            save_file(tensors, tmp, metadata=meta)
        except SafetensorError as exc:  # the Rust writer wraps OS errors: keep their errno for the message
            m = re.search(r"os error (\d+)", str(exc))
            raise OSError(int(m.group(1)) if m else errno.EIO, str(exc)) from None

    def verify(tmp: str) -> None:
        """Every tensor and the metadata are there, with the sizes written (a full disk truncates)."""
        with safe_open(tmp, framework="pt", device="cpu") as f:
            if set(f.keys()) != set(tensors) or (f.metadata() or {}) != meta:
                raise ValueError("tensors or metadata differ from what was written")
            for k in tensors:
                if list(f.get_slice(k).get_shape()) != list(tensors[k].shape):
                    raise ValueError(f"tensor {k} has the wrong shape")

    atomic_write(path, write, verify)


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


def estimated_params(config: GeneratorConfig | DiscriminatorConfig) -> int:
    """A lower estimate of a network's weight count from its config alone (3x3 convs, affine layers,
    mapping MLP), cheap enough to check before anything is allocated."""
    import math

    res = config.img_resolution
    width = max(
        getattr(config, "w_dim", 0) or 0,
        getattr(config, "z_dim", 0) or 0,
        config.cmap_dim or 0 if isinstance(config, DiscriminatorConfig) else 0,
    )
    total = config.map_layers * width * width + config.c_dim * max(width, 1)
    for k in range(2, int(math.log2(res)) + 1):
        c = config.channels(2**k)
        total += 18 * c * c + 3 * width * c
    return total


def check_config_size(
    config: GeneratorConfig | DiscriminatorConfig,
    state: dict[str, torch.Tensor],
    what: str,
    path: str | os.PathLike,
) -> None:
    """Refuse a config that describes a far larger network than the file's weights before building it
    (crafted metadata such as an absurd channel_max would otherwise allocate gigabytes first)."""
    held = sum(t.numel() for t in state.values())
    need = estimated_params(config)
    if need > 4 * held + 1_000_000:
        raise SGError(
            f"{path}: the {what} config describes about {need:,} weights but the file holds {held:,} "
            "(damaged or crafted metadata)"
        )


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
    check_config_size(g_config, g_ema_state, "generator", path)
    if d_config is not None and split_prefix(tensors, "D"):
        check_config_size(d_config, split_prefix(tensors, "D"), "discriminator", path)
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


def config_from_meta(meta: dict[str, str], key: str, cls: type, path: str | os.PathLike):
    """A network config from its JSON metadata entry: types, ranges and known fields, one line each."""
    try:
        raw = json.loads(meta[key])
    except KeyError:
        raise SGError(f"{path}: checkpoint metadata lacks '{key}'") from None
    except (json.JSONDecodeError, TypeError) as exc:
        raise SGError(f"{path}: checkpoint metadata '{key}' is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise SGError(f"{path}: checkpoint metadata '{key}' must be a JSON object")
    fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    for name, value in raw.items():
        if name in fields and not validate.fits_type(value, fields[name]):
            raise SGError(f"{path}: '{key}.{name}' has the wrong type ({type(value).__name__}: {value!r})")
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_CONFIG_INT:
            raise SGError(f"{path}: '{key}.{name}' is out of range (0..{MAX_CONFIG_INT}, got {value})")
        if isinstance(value, list) and len(value) > 64:
            raise SGError(f"{path}: '{key}.{name}' is a list of {len(value)} items (at most 64)")
    try:
        return cls.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise SGError(f"{path}: checkpoint metadata '{key}' is damaged ({exc})") from None


MAX_CONFIG_INT = 1 << 20  # widths, depths, classes, resolutions: far above any real network


def _meta_number(meta: dict[str, str], key: str, kind: type, path: str | os.PathLike, default):
    """A number stored as text in the metadata (format_version, kimg); damaged text is one line."""
    if key not in meta:
        return default
    try:
        value = kind(meta[key])
    except (TypeError, ValueError):
        raise SGError(f"{path}: checkpoint metadata '{key}' is not a number ({meta[key]!r})") from None
    validate.finite(f"{path}: checkpoint metadata '{key}'", value)
    return value


def load_sg_safetensors(path: str | os.PathLike) -> Checkpoint:
    tensors, meta = read_safetensors(path)
    if meta.get("format") != FORMAT:
        if "G_init_kwargs" in meta:  # official parameter names with the official kwargs (golden files)
            from core.checkpoint.official import checkpoint_from_official_tensors

            return checkpoint_from_official_tensors(tensors, meta, path)
        raise SGError(f"{path}: safetensors file without sg metadata (not an sg checkpoint)")
    version = _meta_number(meta, "format_version", int, path, 0)
    if version > FORMAT_VERSION:
        raise SGError(
            f"{path}: checkpoint format version {version} is newer than this sg "
            f"({FORMAT_VERSION}); upgrade sg"
        )
    g_config = config_from_meta(meta, "G_config", GeneratorConfig, path)
    d_config = config_from_meta(meta, "D_config", DiscriminatorConfig, path) if "D_config" in meta else None
    try:
        training_state = json.loads(meta.get("training_state", "{}"))
    except (json.JSONDecodeError, TypeError) as exc:
        raise SGError(f"{path}: checkpoint metadata 'training_state' is not valid JSON ({exc})") from None
    if not isinstance(training_state, dict):
        raise SGError(f"{path}: checkpoint metadata 'training_state' must be a JSON object")
    G_ema, G, D = networks_from_tensors(tensors, g_config, d_config, path)
    kimg = _meta_number(meta, "kimg", float, path, None)
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
        details=_imported_details(meta, path),
    )


def _imported_details(meta: dict[str, str], path: str | os.PathLike) -> dict[str, str]:
    """What a converted file was before `sg convert` (family, release format, lod), kept for `sg info`."""
    if "imported_details" not in meta:
        return {}
    try:
        raw = json.loads(meta["imported_details"])
    except (json.JSONDecodeError, TypeError):
        raw = None
    if not isinstance(raw, dict) or len(raw) > 64 or not all(isinstance(v, str) for v in raw.values()):
        raise SGError(f"{path}: checkpoint metadata 'imported_details' must be a JSON object of strings")
    return {str(k): v for k, v in raw.items()}
