"""Import official NVlabs network pickles (stylegan2-ada-pytorch, and StyleGAN2 networks in stylegan3 pickles)
without executing any code from them.

Official pickles rebuild each network by `exec`-ing module source stored inside the pickle. We never do
that: a restricted unpickler (core/checkpoint/unpickler.py) turns each persistent network into a plain
record (class name and the module's whole stored `__dict__`) and resolves only data-building globals
(numpy scalars and arrays, tensors, containers, dnnlib.EasyDict). Anything else, `os.system` included,
is refused before it can run. Settings the kwargs leave out are read from the stored modules.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.checkpoint.unpickler import DATA_GLOBALS, allow, restricted_load
from core.errors import SGError
from core.networks import DiscriminatorConfig, GeneratorConfig

PERSISTENT_RECONSTRUCT = ("torch_utils.persistence", "_reconstruct_persistent_obj")
EASYDICT = (("dnnlib.util", "EasyDict"), ("dnnlib", "EasyDict"))
KIND = "official StyleGAN network pickle"


@dataclass
class PersistentRecord:
    """What a persistent official object holds, kept as data: no class is ever instantiated.

    `state` is the module's whole `__dict__` as the official persistence code stores it (training flag,
    torch's hook dictionaries, parameters, buffers, submodules, plain attributes, `_init_kwargs`)."""

    class_name: str
    state: dict[str, Any] = field(default_factory=dict)
    version: int | None = None

    @property
    def init_kwargs(self) -> dict[str, Any]:
        kw = self.state.get("_init_kwargs")
        return dict(kw) if isinstance(kw, dict) else {}

    @property
    def children(self) -> dict[str, Any]:
        mods = self.state.get("_modules")
        return dict(mods) if isinstance(mods, dict) else {}

    def walk(self):
        """This record and every persistent record below it."""
        yield self
        for child in self.children.values():
            if isinstance(child, PersistentRecord):
                yield from child.walk()

    def state_dict(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """Parameters and persistent buffers of this module and its children, named like `state_dict()`."""
        out: dict[str, torch.Tensor] = {}
        skip = self.state.get("_non_persistent_buffers_set") or set()
        for group in ("_parameters", "_buffers"):
            for k, v in (self.state.get(group) or {}).items():
                if isinstance(v, torch.Tensor) and not (group == "_buffers" and k in skip):
                    out[prefix + k] = v.detach().clone()
        for name, child in self.children.items():
            if isinstance(child, PersistentRecord):
                out.update(child.state_dict(f"{prefix}{name}."))
        return out


def _reconstruct_persistent(meta: Any) -> PersistentRecord:
    """Stands in for `_reconstruct_persistent_obj(meta)`: keeps meta's state, never runs `module_src`."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise SGError("unsupported persistent object in pickle (not a persistent class instance)")
    version = meta.get("version")
    return PersistentRecord(
        class_name=str(meta.get("class_name")),
        state=meta["state"],
        version=version if isinstance(version, int) else None,
    )


class _EasyDict(dict):
    """dnnlib.EasyDict as data: a dict whose keys also read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


OFFICIAL_GLOBALS: dict[tuple[str, str], Any] = allow(
    DATA_GLOBALS, {PERSISTENT_RECONSTRUCT: _reconstruct_persistent}, {k: _EasyDict for k in EASYDICT}
)


def read_official_pickle(path: str | os.PathLike) -> Any:
    """The pickle's top object with networks as PersistentRecords; SGError for anything unsafe or broken."""
    return restricted_load(path, OFFICIAL_GLOBALS, KIND)


# ----------------------------------------------------------------------------------------------------------
# Official kwargs -> our configs.


def _synthesis_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """stylegan2-ada-pytorch nests `synthesis_kwargs`; stylegan3's networks_stylegan2 passes them flat."""
    syn = _sub(kw, "synthesis_kwargs", "G_init_kwargs")
    for k in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture", "resample_filter"):
        if k in kw and k not in syn:
            syn[k] = kw[k]
    return syn


_REQUIRED = object()


def _kwarg(kw: Any, key: str, kind: type, where: str, default: Any = _REQUIRED) -> Any:
    """One official kwarg as `kind` (int or float), or one line naming it when missing or of the wrong
    type (a damaged or edited file must not end in KeyError: 'z_dim' or int('abc'))."""
    if not isinstance(kw, dict):
        raise SGError(f"official {where} is a {type(kw).__name__}, not a dict")
    if key not in kw:
        if default is _REQUIRED:
            raise SGError(f"official {where} lack '{key}'")
        return default
    value = _num(kw[key])
    if value is None or (kind is int and value != int(value)) or not np.isfinite(value):
        raise SGError(f"official {where}['{key}'] must be {kind.__name__}, got {kw[key]!r:.60}")
    return kind(value)


def _sub(kw: Any, key: str, where: str) -> dict[str, Any]:
    """A nested kwargs dict (mapping_kwargs, synthesis_kwargs, epilogue_kwargs); absent means empty."""
    sub = kw.get(key) if isinstance(kw, dict) else None
    if sub is not None and not isinstance(sub, dict):
        raise SGError(f"official {where}['{key}'] is a {type(sub).__name__}, not a dict")
    return dict(sub or {})


def _optional_num(kw: dict[str, Any], key: str, where: str, default: Any) -> Any:
    """A number that may be None: conv_clamp (kept as stored, int or float), mbstd_group_size, cmap_dim."""
    if kw.get(key, default) is None:
        return None
    if key != "conv_clamp":
        return _kwarg(kw, key, int, where, default)
    _kwarg(kw, key, float, where, default)  # finite number check
    return _num(kw[key]) if key in kw else default


def _filter(kw: dict[str, Any], where: str) -> list[int]:
    f = kw.get("resample_filter", [1, 3, 3, 1])
    if not isinstance(f, (list, tuple)) or not 1 <= len(f) <= 16 or any(_num(v) is None for v in f):
        raise SGError(f"official {where}['resample_filter'] must be a short list of numbers, got {f!r:.60}")
    return [_num(v) for v in f]


def generator_config_from_official(kw: dict[str, Any]) -> GeneratorConfig:
    w = "G_init_kwargs"
    if not isinstance(kw, dict):
        raise SGError(f"official {w} is a {type(kw).__name__}, not a dict")
    syn = _synthesis_kwargs(kw)
    arch = syn.get("architecture", "skip")
    if arch != "skip":
        raise SGError(
            f"generator architecture '{arch}' is not supported (only the official 'skip' generator)"
        )
    mapping = _sub(kw, "mapping_kwargs", w)
    return GeneratorConfig(
        arch="stylegan2",
        z_dim=_kwarg(kw, "z_dim", int, w),
        c_dim=_kwarg(kw, "c_dim", int, w, 0),
        w_dim=_kwarg(kw, "w_dim", int, w),
        img_resolution=_kwarg(kw, "img_resolution", int, w),
        img_channels=_kwarg(kw, "img_channels", int, w, 3),
        channel_base=_kwarg(syn, "channel_base", int, w, 32768),
        channel_max=_kwarg(syn, "channel_max", int, w, 512),
        num_fp16_res=_kwarg(syn, "num_fp16_res", int, w, 0),
        conv_clamp=_optional_num(syn, "conv_clamp", w, None),
        map_layers=_kwarg(mapping, "num_layers", int, w, 8),
        map_lr_multiplier=_kwarg(mapping, "lr_multiplier", float, w, 0.01),
        w_avg_beta=_kwarg(mapping, "w_avg_beta", float, w, 0.995),
        resample_filter=_filter(syn, w),
    )


def discriminator_config_from_official(kw: dict[str, Any]) -> DiscriminatorConfig | None:
    """None when the D is of a kind we do not build (then only the generator is imported)."""
    w = "D_init_kwargs"
    if not isinstance(kw, dict):
        raise SGError(f"official {w} is a {type(kw).__name__}, not a dict")
    if kw.get("architecture", "resnet") != "resnet":
        return None
    epi = _sub(kw, "epilogue_kwargs", w)
    mapping = _sub(kw, "mapping_kwargs", w)
    return DiscriminatorConfig(
        c_dim=_kwarg(kw, "c_dim", int, w, 0),
        img_resolution=_kwarg(kw, "img_resolution", int, w),
        img_channels=_kwarg(kw, "img_channels", int, w, 3),
        channel_base=_kwarg(kw, "channel_base", int, w, 32768),
        channel_max=_kwarg(kw, "channel_max", int, w, 512),
        num_fp16_res=_kwarg(kw, "num_fp16_res", int, w, 0),
        conv_clamp=_optional_num(kw, "conv_clamp", w, None),
        mbstd_group_size=_optional_num(epi, "mbstd_group_size", w, 4),
        mbstd_num_channels=_kwarg(epi, "mbstd_num_channels", int, w, 1),
        cmap_dim=_optional_num(kw, "cmap_dim", w, None),
        map_layers=_kwarg(mapping, "num_layers", int, w, 8),
        resample_filter=_filter(kw, w),
    )


def _num(value: Any) -> Any:
    """A plain Python number from a state value (numpy scalars included); None for anything else."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return None


def _child(rec: Any, *names: str) -> PersistentRecord | None:
    for name in names:
        rec = rec.children.get(name) if isinstance(rec, PersistentRecord) else None
    return rec if isinstance(rec, PersistentRecord) else None


def _blocks(rec: PersistentRecord | None) -> list[PersistentRecord]:
    return [c for c in (rec.children.values() if rec else []) if c.class_name.endswith("Block")]


def _settings_from_state(rec: PersistentRecord, mapping: PersistentRecord | None) -> dict[str, Any]:
    """What the stored modules say (fp16 blocks, conv clamp, mapping settings), whatever the kwargs omit.

    stylegan3's trainer leaves num_fp16_res and conv_clamp out of the kwargs (its defaults are 4 and 256,
    stylegan2-ada-pytorch's are 0 and None), so the state, not a guessed default, is the truth."""
    out: dict[str, Any] = {}
    blocks = _blocks(rec)
    if blocks and all(isinstance(b.state.get("use_fp16"), bool) for b in blocks):
        out["num_fp16_res"] = sum(b.state["use_fp16"] for b in blocks)
    convs = [b.children[n] for b in blocks for n in ("conv0", "conv1") if n in b.children]
    convs = [c for c in convs if isinstance(c, PersistentRecord) and "conv_clamp" in c.state]
    if convs:
        clamp = convs[0].state["conv_clamp"]
        out["conv_clamp"] = None if clamp is None else _num(clamp)
        if clamp is not None and out["conv_clamp"] is None:
            del out["conv_clamp"]
    if mapping is not None:
        for key, attr in (("map_layers", "num_layers"), ("w_avg_beta", "w_avg_beta")):
            if _num(mapping.state.get(attr)) is not None:
                out[key] = _num(mapping.state[attr])
        fc0 = _child(mapping, "fc0")
        if fc0 is not None and _num(fc0.state.get("bias_gain")) is not None:
            out["map_lr_multiplier"] = _num(fc0.state["bias_gain"])
    return out


def _fp16_blocks(num_fp16_res: int, img_resolution: int) -> int:
    """How many blocks run in fp16 for a num_fp16_res (the official rule, which floors at 8 px)."""
    log2 = int(np.log2(img_resolution))
    first = max(2 ** (log2 + 1 - num_fp16_res), 8)
    return sum(2**i >= first for i in range(2, log2 + 1))


def _corrected(cfg: Any, found: dict[str, Any]) -> Any:
    """cfg with the stored settings, keeping the kwargs' num_fp16_res when it means the same blocks."""
    n = found.pop("num_fp16_res", None)
    if n is not None and _fp16_blocks(cfg.num_fp16_res, cfg.img_resolution) != n:
        found["num_fp16_res"] = n
    return dataclasses.replace(cfg, **found)


def generator_config_from_record(rec: PersistentRecord) -> GeneratorConfig:
    """The official kwargs, corrected by what the stored modules hold."""
    cfg = generator_config_from_official(rec.init_kwargs)
    return _corrected(cfg, _settings_from_state(_child(rec, "synthesis"), _child(rec, "mapping")))


def discriminator_config_from_record(rec: PersistentRecord) -> DiscriminatorConfig | None:
    cfg = discriminator_config_from_official(rec.init_kwargs)
    if cfg is None:
        return None
    found = _settings_from_state(rec, _child(rec, "mapping"))
    found.pop("w_avg_beta", None)
    found.pop("map_lr_multiplier", None)
    mbstd = _child(rec, "b4", "mbstd")
    if mbstd is not None:
        group = mbstd.state.get("group_size")
        if group is None or _num(group) is not None:
            found["mbstd_group_size"] = None if group is None else _num(group)
        if _num(mbstd.state.get("num_channels")) is not None:
            found["mbstd_num_channels"] = _num(mbstd.state["num_channels"])
    return _corrected(cfg, found)


# Only networks_stylegan3 (alias-free) has these: its input layer class, and its layer/kwarg names.
SG3_CLASSES = {"SynthesisInput"}
SG3_KEYS = {"is_critically_sampled", "down_radial", "use_radial_filters", "magnitude_ema_beta", "conv_kernel"}


def _check_stylegan2(record: PersistentRecord, path: str | os.PathLike) -> None:
    """StyleGAN3 generators share class names with StyleGAN2 ones; tell them apart by their content."""
    for rec in record.walk():
        if rec.class_name in SG3_CLASSES or SG3_KEYS & (set(rec.state) | set(rec.init_kwargs)):
            raise SGError(
                f"{path}: this is a StyleGAN3 (alias-free) generator, which sg does not support; "
                "StyleGAN2 networks, including those in stylegan3 pickles, are supported"
            )


def checkpoint_from_official_pickle(path: str | os.PathLike):
    from core.checkpoint.sgformat import Checkpoint, networks_from_tensors

    top = read_official_pickle(path)
    if isinstance(top, tuple):
        raise SGError(
            f"{path}: a TensorFlow-era (G, D, Gs) pickle; convert it with the official "
            "stylegan2-ada-pytorch legacy.py first, or use a PyTorch pickle"
        )
    if not isinstance(top, dict) or not isinstance(top.get("G_ema"), PersistentRecord):
        raise SGError(f"{path}: not an official StyleGAN network pickle (no G_ema network found)")
    g_rec: PersistentRecord = top["G_ema"]
    _check_stylegan2(g_rec, path)
    d_rec = top.get("D")
    try:
        g_config = generator_config_from_record(g_rec)
        d_config = discriminator_config_from_record(d_rec) if isinstance(d_rec, PersistentRecord) else None
    except SGError as exc:
        raise SGError(f"{path}: {exc}") from None
    tensors = {f"G_ema.{k}": v for k, v in g_rec.state_dict().items()}
    if isinstance(top.get("G"), PersistentRecord):
        tensors.update({f"G.{k}": v for k, v in top["G"].state_dict().items()})
    if d_config is not None:
        tensors.update({f"D.{k}": v for k, v in d_rec.state_dict().items()})
    G_ema, G, D = networks_from_tensors(tensors, g_config, d_config, path)
    return Checkpoint(G_ema=G_ema, g_config=g_config, G=G, D=D, d_config=d_config, source="official-pkl")


def checkpoint_from_official_tensors(tensors: dict[str, torch.Tensor], meta: dict[str, str], path):
    """Official parameter names in a safetensors file with the official kwargs as JSON metadata."""
    import json

    from core.checkpoint.sgformat import Checkpoint, networks_from_tensors

    try:
        g_config = generator_config_from_official(json.loads(meta["G_init_kwargs"]))
        d_config = (
            discriminator_config_from_official(json.loads(meta["D_init_kwargs"]))
            if "D_init_kwargs" in meta
            else None
        )
    except json.JSONDecodeError as exc:
        raise SGError(f"{path}: official kwargs in the metadata are not valid JSON ({exc})") from None
    except SGError as exc:
        raise SGError(f"{path}: {exc}") from None
    G_ema, G, D = networks_from_tensors(tensors, g_config, d_config, path)
    return Checkpoint(
        G_ema=G_ema, g_config=g_config, G=G, D=D, d_config=d_config, source="official-safetensors"
    )
