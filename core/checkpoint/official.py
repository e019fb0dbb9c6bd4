"""Import official NVlabs network pickles (stylegan2-ada-pytorch, and StyleGAN2 networks in stylegan3 pickles)
without executing any code from them.

Official pickles rebuild each network by `exec`-ing module source stored inside the pickle. We never do
that: a restricted unpickler turns each persistent network into a plain record (class name, init kwargs,
state) and allows only tensor-rebuilding and container globals. Anything else, `os.system` included, is
refused before it can run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

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
    syn = dict(kw.get("synthesis_kwargs") or {})
    for k in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp", "architecture", "resample_filter"):
        if k in kw and k not in syn:
            syn[k] = kw[k]
    return syn


def generator_config_from_official(kw: dict[str, Any]) -> GeneratorConfig:
    syn = _synthesis_kwargs(kw)
    arch = syn.get("architecture", "skip")
    if arch != "skip":
        raise SGError(
            f"generator architecture '{arch}' is not supported (only the official 'skip' generator)"
        )
    mapping = dict(kw.get("mapping_kwargs") or {})
    return GeneratorConfig(
        arch="stylegan2",
        z_dim=int(kw["z_dim"]),
        c_dim=int(kw.get("c_dim", 0)),
        w_dim=int(kw["w_dim"]),
        img_resolution=int(kw["img_resolution"]),
        img_channels=int(kw.get("img_channels", 3)),
        channel_base=int(syn.get("channel_base", 32768)),
        channel_max=int(syn.get("channel_max", 512)),
        num_fp16_res=int(syn.get("num_fp16_res", 0)),
        conv_clamp=syn.get("conv_clamp"),
        map_layers=int(mapping.get("num_layers", 8)),
        map_lr_multiplier=float(mapping.get("lr_multiplier", 0.01)),
        w_avg_beta=float(mapping.get("w_avg_beta", 0.995)),
        resample_filter=list(syn.get("resample_filter", [1, 3, 3, 1])),
    )


def discriminator_config_from_official(kw: dict[str, Any]) -> DiscriminatorConfig | None:
    """None when the D is of a kind we do not build (then only the generator is imported)."""
    if kw.get("architecture", "resnet") != "resnet":
        return None
    epi = dict(kw.get("epilogue_kwargs") or {})
    mapping = dict(kw.get("mapping_kwargs") or {})
    return DiscriminatorConfig(
        c_dim=int(kw.get("c_dim", 0)),
        img_resolution=int(kw["img_resolution"]),
        img_channels=int(kw.get("img_channels", 3)),
        channel_base=int(kw.get("channel_base", 32768)),
        channel_max=int(kw.get("channel_max", 512)),
        num_fp16_res=int(kw.get("num_fp16_res", 0)),
        conv_clamp=kw.get("conv_clamp"),
        mbstd_group_size=epi.get("mbstd_group_size", 4),
        mbstd_num_channels=int(epi.get("mbstd_num_channels", 1)),
        cmap_dim=kw.get("cmap_dim"),
        map_layers=int(mapping.get("num_layers", 8)),
        resample_filter=list(kw.get("resample_filter", [1, 3, 3, 1])),
    )


SG3_CLASSES = {"SynthesisInput"}  # networks_stylegan3 only; its SynthesisLayer has `use_radial_filters`.


def _check_stylegan2(record: PersistentRecord, path: str | os.PathLike) -> None:
    """StyleGAN3 (alias-free) generators share class names with StyleGAN2 ones; tell them apart by content."""
    for rec in record.walk():
        if rec.class_name in SG3_CLASSES or "use_radial_filters" in rec.state:
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
    g_config = generator_config_from_official(g_rec.init_kwargs)
    d_rec = top.get("D")
    d_config = (
        discriminator_config_from_official(d_rec.init_kwargs) if isinstance(d_rec, PersistentRecord) else None
    )
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

    g_config = generator_config_from_official(json.loads(meta["G_init_kwargs"]))
    d_config = (
        discriminator_config_from_official(json.loads(meta["D_init_kwargs"]))
        if "D_init_kwargs" in meta
        else None
    )
    G_ema, G, D = networks_from_tensors(tensors, g_config, d_config, path)
    return Checkpoint(
        G_ema=G_ema, g_config=g_config, G=G, D=D, d_config=d_config, source="official-safetensors"
    )
