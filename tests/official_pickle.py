"""Writes network pickles laid out as the official NVlabs trainers write them, for importer tests.

The official trainer pickles `dict(training_set_kwargs, G, D, G_ema, augment_pipe)`; each network is a
`@persistent_class` torch module, which pickles as `_reconstruct_persistent_obj(meta)` with
`meta = dict(type='class', version=6, module_src=<source of its module>, class_name=..., state=<the
module's whole __dict__>)`. That `__dict__` is what torch's `nn.Module.__init__` put there (training flag,
parameter/buffer/module dicts, `_non_persistent_buffers_set`, the hook dictionaries of the torch version),
then the plain attributes the official constructor assigns (numpy float64 gains included) and the
`_init_args` / `_init_kwargs` the persistence decorator records. This module rebuilds that tree from the
official constructor arguments (our own description of the layout; no official code is used) and fills
in the given weights, so the importer reads bytes laid out like a real file.

Options cover what real files differ in: `layout` (stylegan2-ada-pytorch `training/networks.py` or
stylegan3 `training/networks_stylegan2.py`), `numpy_spelling` (numpy 1 writes `numpy.core.multiarray`,
numpy 2 `numpy._core.multiarray`), `torch_era` (released pickles were written by torch 1.7, whose
modules hold fewer hook dictionaries and OrderedDicts; "1.9" for stylegan3's era; "now" for the running
torch) and the pickle `protocol`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import pickle
import sys
import types
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

LAYOUTS = ("stylegan2-ada-pytorch", "stylegan3")
MODULE_SRC = "# the official module's source text would be here; importers must never run it\n"

# Keys torch 1.7's nn.Module.__init__ sets, in order (the torch of the released stylegan2-ada pickles).
TORCH17_KEYS = (
    "training",
    "_parameters",
    "_buffers",
    "_non_persistent_buffers_set",
    "_backward_hooks",
    "_forward_hooks",
    "_forward_pre_hooks",
    "_state_dict_hooks",
    "_load_state_dict_pre_hooks",
    "_modules",
)
# torch 1.8-1.12 (stylegan3's released pickles) added _is_full_backward_hook after _backward_hooks.
TORCH19_KEYS = (*TORCH17_KEYS[:5], "_is_full_backward_hook", *TORCH17_KEYS[5:])
ERA_KEYS = {"1.7": TORCH17_KEYS, "1.9": TORCH19_KEYS}
# Keys the installed torch sets (torch 2.x adds kwargs/always-called/pre hooks and _is_full_backward_hook).
TORCH_NOW_KEYS = tuple(torch.nn.Module().__dict__)


@dataclass
class _Module:
    """One official persistent module: class, plain attributes in assignment order, and children."""

    class_name: str
    init_args: tuple
    init_kwargs: dict
    attrs: dict[str, Any] = field(default_factory=dict)
    params: list[str] = field(default_factory=list)
    buffers: list[str] = field(default_factory=list)
    modules: dict[str, _Module] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The persistence decorator deep-copies the constructor arguments of every instance.
        self.init_args, self.init_kwargs = copy.deepcopy(self.init_args), copy.deepcopy(self.init_kwargs)


SQRT2 = np.sqrt(2)  # one shared numpy float64, like the activation table's def_gain


def _lrelu_gain(activation: str) -> Any:
    """bias_act's def_gain: sqrt(2) as numpy float64 for (l)relu, the int 1 for linear."""
    return SQRT2 if activation in ("relu", "lrelu") else 1


def _fc(layout, in_f, out_f, activation="linear", lr_multiplier=1, **kw) -> _Module:
    init_kw = dict(kw)
    if activation != "linear":
        init_kw = {"activation": activation, **init_kw}
    if lr_multiplier != 1:
        init_kw["lr_multiplier"] = lr_multiplier
    m = _Module("FullyConnectedLayer", (in_f, out_f), init_kw, params=["weight", "bias"])
    if layout == "stylegan3":
        m.attrs.update(in_features=in_f, out_features=out_f)
    m.attrs.update(activation=activation, weight_gain=lr_multiplier / np.sqrt(in_f), bias_gain=lr_multiplier)
    return m


def _conv(layout, in_c, out_c, init_kw: dict, kernel_size, bias=True, activation="linear", up=1, down=1,
          conv_clamp=None) -> _Module:  # fmt: skip
    m = _Module("Conv2dLayer", (in_c, out_c), init_kw, params=["weight"] + (["bias"] if bias else []))
    m.buffers = ["resample_filter"]
    if layout == "stylegan3":
        m.attrs.update(in_channels=in_c, out_channels=out_c)
    m.attrs.update(activation=activation, up=up, down=down, conv_clamp=conv_clamp, padding=kernel_size // 2)
    m.attrs.update(weight_gain=1 / np.sqrt(in_c * kernel_size**2), act_gain=_lrelu_gain(activation))
    if not bias:
        m.attrs["bias"] = None
    return m


def _mapping(layout, init_kw: dict) -> _Module:
    kw = dict(init_kw)
    z_dim, c_dim, w_dim, num_ws = kw["z_dim"], kw["c_dim"], kw["w_dim"], kw["num_ws"]
    num_layers = kw.get("num_layers", 8)
    beta = kw.get("w_avg_beta", 0.995 if layout == "stylegan2-ada-pytorch" else 0.998)
    m = _Module("MappingNetwork", (), init_kw)
    m.attrs.update(
        z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=num_ws, num_layers=num_layers, w_avg_beta=beta
    )
    embed = 0 if c_dim == 0 else (kw.get("embed_features") or w_dim)
    layer = kw.get("layer_features") or w_dim
    features = [z_dim + embed] + [layer] * (num_layers - 1) + [w_dim]
    if c_dim > 0:
        m.modules["embed"] = _fc(layout, c_dim, embed)
    act, lr = kw.get("activation", "lrelu"), kw.get("lr_multiplier", 0.01)
    for i in range(num_layers):
        m.modules[f"fc{i}"] = _fc(layout, features[i], features[i + 1], activation=act, lr_multiplier=lr)
    if num_ws is not None and beta is not None:
        m.buffers.append("w_avg")
    return m


def _synthesis_layer(layout, in_c, out_c, init_kw: dict) -> _Module:
    kw = init_kw
    m = _Module("SynthesisLayer", (in_c, out_c), init_kw)
    if layout == "stylegan3":
        m.attrs.update(in_channels=in_c, out_channels=out_c, w_dim=kw["w_dim"])
    act = kw.get("activation", "lrelu")
    m.attrs.update(resolution=kw["resolution"], up=kw.get("up", 1), use_noise=kw.get("use_noise", True))
    m.attrs.update(activation=act, conv_clamp=kw.get("conv_clamp"), padding=kw.get("kernel_size", 3) // 2)
    m.attrs["act_gain"] = _lrelu_gain(act)
    m.modules["affine"] = _fc(layout, kw["w_dim"], in_c, bias_init=1)
    m.params = ["weight"] + (["noise_strength"] if m.attrs["use_noise"] else []) + ["bias"]
    m.buffers = ["resample_filter"] + (["noise_const"] if m.attrs["use_noise"] else [])
    return m


def _torgb(layout, in_c, out_c, init_kw: dict) -> _Module:
    m = _Module("ToRGBLayer", (in_c, out_c), init_kw, params=["weight", "bias"])
    if layout == "stylegan3":
        m.attrs.update(in_channels=in_c, out_channels=out_c, w_dim=init_kw["w_dim"])
    m.attrs["conv_clamp"] = init_kw.get("conv_clamp")
    m.modules["affine"] = _fc(layout, init_kw["w_dim"], in_c, bias_init=1)
    m.attrs["weight_gain"] = 1 / np.sqrt(in_c * init_kw.get("kernel_size", 1) ** 2)
    return m


def _synthesis_block(layout, in_c, out_c, init_kw: dict) -> _Module:
    kw = dict(init_kw)
    w_dim, res, arch = kw["w_dim"], kw["resolution"], kw.get("architecture", "skip")
    clamp = kw.get("conv_clamp", None if layout == "stylegan2-ada-pytorch" else 256)
    use_fp16 = kw.get("use_fp16", False)
    channels_last = use_fp16 and kw.get("fp16_channels_last", False)
    own = {"architecture", "resample_filter", "conv_clamp", "use_fp16", "fp16_channels_last"}
    own |= {"fused_modconv_default", "w_dim", "resolution", "img_channels", "is_last"}
    layer_kw = {k: v for k, v in kw.items() if k not in own}
    m = _Module("SynthesisBlock", (in_c, out_c), init_kw, buffers=["resample_filter"])
    m.attrs.update(in_channels=in_c, w_dim=w_dim, resolution=res, img_channels=kw["img_channels"])
    m.attrs.update(is_last=kw["is_last"], architecture=arch, use_fp16=use_fp16, channels_last=channels_last)
    if layout == "stylegan3":
        m.attrs["fused_modconv_default"] = kw.get("fused_modconv_default", True)
    m.attrs.update(num_conv=0, num_torgb=0)
    if in_c == 0:
        m.params.append("const")
    else:
        conv0_kw = dict(
            w_dim=w_dim, resolution=res, up=2, resample_filter=kw.get("resample_filter", [1, 3, 3, 1])
        )
        conv0_kw.update(conv_clamp=clamp, channels_last=channels_last, **layer_kw)
        m.modules["conv0"] = _synthesis_layer(layout, in_c, out_c, conv0_kw)
        m.attrs["num_conv"] += 1
    conv1_kw = dict(w_dim=w_dim, resolution=res, conv_clamp=clamp, channels_last=channels_last, **layer_kw)
    m.modules["conv1"] = _synthesis_layer(layout, out_c, out_c, conv1_kw)
    m.attrs["num_conv"] += 1
    if kw["is_last"] or arch == "skip":
        rgb_kw = dict(w_dim=w_dim, conv_clamp=clamp, channels_last=channels_last)
        m.modules["torgb"] = _torgb(layout, out_c, kw["img_channels"], rgb_kw)
        m.attrs["num_torgb"] += 1
    if arch != "skip":
        raise ValueError("the fixture writes only the official 'skip' generator")
    return m


def _synthesis(layout, init_kw: dict) -> _Module:
    kw = dict(init_kw)
    res_log2 = int(np.log2(kw["img_resolution"]))
    base, cmax = kw.get("channel_base", 32768), kw.get("channel_max", 512)
    num_fp16 = kw.get("num_fp16_res", 0 if layout == "stylegan2-ada-pytorch" else 4)
    block_kw = {k: v for k, v in kw.items() if k not in ("w_dim", "img_resolution", "img_channels")}
    block_kw = {k: v for k, v in block_kw.items() if k not in ("channel_base", "channel_max", "num_fp16_res")}
    m = _Module("SynthesisNetwork", (), init_kw)
    m.attrs.update(w_dim=kw["w_dim"], img_resolution=kw["img_resolution"], img_resolution_log2=res_log2)
    m.attrs["img_channels"] = kw["img_channels"]
    if layout == "stylegan3":
        m.attrs["num_fp16_res"] = num_fp16
    resolutions = [2**i for i in range(2, res_log2 + 1)]
    m.attrs["block_resolutions"] = resolutions
    channels = {r: min(base // r, cmax) for r in resolutions}
    fp16_res = max(2 ** (res_log2 + 1 - num_fp16), 8)
    m.attrs["num_ws"] = 0
    for r in resolutions:
        is_last = r == kw["img_resolution"]
        b_kw = dict(w_dim=kw["w_dim"], resolution=r, img_channels=kw["img_channels"], is_last=is_last)
        b_kw.update(use_fp16=r >= fp16_res, **block_kw)
        block = _synthesis_block(layout, channels[r // 2] if r > 4 else 0, channels[r], b_kw)
        m.attrs["num_ws"] += block.attrs["num_conv"] + (block.attrs["num_torgb"] if is_last else 0)
        m.modules[f"b{r}"] = block
    return m


def _generator(layout, kw: dict) -> _Module:
    if layout == "stylegan2-ada-pytorch":
        syn_kw = dict(kw.get("synthesis_kwargs") or {})
    else:
        known = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels", "mapping_kwargs")
        syn_kw = {k: v for k, v in kw.items() if k not in known}
    m = _Module("Generator", (), kw)
    m.attrs.update(z_dim=kw["z_dim"], c_dim=kw["c_dim"], w_dim=kw["w_dim"])
    m.attrs.update(img_resolution=kw["img_resolution"], img_channels=kw["img_channels"])
    syn = dict(w_dim=kw["w_dim"], img_resolution=kw["img_resolution"], img_channels=kw["img_channels"])
    m.modules["synthesis"] = _synthesis(layout, {**syn, **syn_kw})
    m.attrs["num_ws"] = m.modules["synthesis"].attrs["num_ws"]
    map_kw = dict(z_dim=kw["z_dim"], c_dim=kw["c_dim"], w_dim=kw["w_dim"], num_ws=m.attrs["num_ws"])
    m.modules["mapping"] = _mapping(layout, {**map_kw, **dict(kw.get("mapping_kwargs") or {})})
    return m


def _disc_block(layout, in_c, tmp_c, out_c, b_kw: dict, clamp) -> _Module:
    blk = _Module("DiscriminatorBlock", (in_c, tmp_c, out_c), b_kw, buffers=["resample_filter"])
    first, freeze = b_kw["first_layer_idx"], b_kw.get("freeze_layers", 0)
    cl = b_kw["use_fp16"] and b_kw.get("fp16_channels_last", False)
    blk.attrs.update(in_channels=in_c, resolution=b_kw["resolution"], img_channels=b_kw["img_channels"])
    blk.attrs.update(first_layer_idx=first, architecture=b_kw["architecture"], use_fp16=b_kw["use_fp16"])
    blk.attrs.update(channels_last=cl, num_layers=0)

    def layer(name, ci, co, ks, **ckw):
        if first + blk.attrs["num_layers"] < freeze:
            raise ValueError("the fixture writes no frozen (buffer-weight) layers")
        blk.attrs["num_layers"] += 1
        # Constructor keywords in the order the official block passes them.
        order = dict(kernel_size=ks, **{k: v for k, v in ckw.items() if k in ("bias", "activation", "down")})
        order["trainable"] = True
        order.update({k: v for k, v in ckw.items() if k in ("resample_filter", "conv_clamp")})
        order["channels_last"] = cl
        conv_kw = {k: v for k, v in ckw.items() if k != "resample_filter"}
        blk.modules[name] = _conv(layout, ci, co, order, ks, **conv_kw)

    if in_c == 0:
        layer("fromrgb", b_kw["img_channels"], tmp_c, 1, activation="lrelu", conv_clamp=clamp)
    layer("conv0", tmp_c, tmp_c, 3, activation="lrelu", conv_clamp=clamp)
    rf = b_kw.get("resample_filter", [1, 3, 3, 1])
    layer("conv1", tmp_c, out_c, 3, activation="lrelu", down=2, resample_filter=rf, conv_clamp=clamp)
    layer("skip", tmp_c, out_c, 1, bias=False, down=2, resample_filter=rf)
    return blk


def _discriminator(layout, kw: dict) -> _Module:
    res_log2 = int(np.log2(kw["img_resolution"]))
    ada = layout == "stylegan2-ada-pytorch"
    base, cmax = kw.get("channel_base", 32768), kw.get("channel_max", 512)
    num_fp16 = kw.get("num_fp16_res", 0 if ada else 4)
    clamp = kw.get("conv_clamp", None if ada else 256)
    arch = kw.get("architecture", "resnet")
    if arch != "resnet":
        raise ValueError("the fixture writes only the official 'resnet' discriminator")
    m = _Module("Discriminator", (), kw)
    m.attrs.update(c_dim=kw["c_dim"], img_resolution=kw["img_resolution"], img_resolution_log2=res_log2)
    resolutions = [2**i for i in range(res_log2, 2, -1)]
    m.attrs.update(img_channels=kw["img_channels"], block_resolutions=resolutions)
    channels = {r: min(base // r, cmax) for r in resolutions + [4]}
    fp16_res = max(2 ** (res_log2 + 1 - num_fp16), 8)
    cmap_dim = kw.get("cmap_dim") or channels[4]
    cmap_dim = 0 if kw["c_dim"] == 0 else cmap_dim
    common = dict(img_channels=kw["img_channels"], architecture=arch, conv_clamp=clamp)
    layer_idx = 0
    for r in resolutions:
        in_c, tmp_c, out_c = (channels[r] if r < kw["img_resolution"] else 0), channels[r], channels[r // 2]
        b_kw = dict(resolution=r, first_layer_idx=layer_idx, use_fp16=r >= fp16_res)
        b_kw.update(**dict(kw.get("block_kwargs") or {}), **common)
        blk = _disc_block(layout, in_c, tmp_c, out_c, b_kw, clamp)
        m.modules[f"b{r}"] = blk
        layer_idx += blk.attrs["num_layers"]
    if kw["c_dim"] > 0:
        map_kw = dict(z_dim=0, c_dim=kw["c_dim"], w_dim=cmap_dim, num_ws=None, w_avg_beta=None)
        m.modules["mapping"] = _mapping(layout, {**map_kw, **dict(kw.get("mapping_kwargs") or {})})
    epi_kw = dict(cmap_dim=cmap_dim, resolution=4, **dict(kw.get("epilogue_kwargs") or {}), **common)
    epi = _Module("DiscriminatorEpilogue", (channels[4],), epi_kw)
    c4 = channels[4]
    epi.attrs.update(in_channels=c4, cmap_dim=cmap_dim, resolution=4, img_channels=kw["img_channels"])
    epi.attrs["architecture"] = arch
    group, mb_ch = epi_kw.get("mbstd_group_size", 4), epi_kw.get("mbstd_num_channels", 1)
    if mb_ch > 0:
        mb = _Module("MinibatchStdLayer", (), dict(group_size=group, num_channels=mb_ch))
        mb.attrs.update(group_size=group, num_channels=mb_ch)
        epi.modules["mbstd"] = mb
    else:
        epi.attrs["mbstd"] = None
    conv_kw = dict(kernel_size=3, activation="lrelu", conv_clamp=clamp)
    epi.modules["conv"] = _conv(layout, c4 + mb_ch, c4, conv_kw, 3, activation="lrelu", conv_clamp=clamp)
    epi.modules["fc"] = _fc(layout, c4 * 16, c4, activation="lrelu")
    epi.modules["out"] = _fc(layout, c4, 1 if cmap_dim == 0 else cmap_dim)
    m.modules["b4"] = epi
    return m


AUGMENT_ATTRS = dict(
    xflip=1.0, rotate90=1.0, xint=1.0, xint_max=0.125, scale=1.0, rotate=1.0, aniso=1.0, xfrac=1.0,
    scale_std=0.2, rotate_max=1.0, aniso_std=0.2, xfrac_std=0.125, brightness=1.0, contrast=1.0,
    lumaflip=1.0, hue=1.0, saturation=1.0, brightness_std=0.2, contrast_std=0.5, hue_max=1.0,
    saturation_std=1.0, imgfilter=0.0, imgfilter_bands=[1, 1, 1, 1], imgfilter_std=1.0, noise=0.0,
    cutout=0.0, noise_std=0.1, cutout_size=0.5,
)  # fmt: skip


def _augment_pipe() -> tuple[_Module, dict[str, torch.Tensor]]:
    """The 'bgc' AugmentPipe that --aug=ada writes (its filter buffers are not used by importers)."""
    kw = {k: 1 for k in ("xflip", "rotate90", "xint", "scale", "rotate", "aniso", "xfrac")}
    kw.update({k: 1 for k in ("brightness", "contrast", "lumaflip", "hue", "saturation")})
    m = _Module("AugmentPipe", (), kw, attrs=dict(AUGMENT_ATTRS), buffers=["p", "Hz_geom", "Hz_fbank"])
    g = torch.Generator().manual_seed(0)
    tensors = {"p": torch.tensor(0.125), "Hz_geom": torch.randn(12, generator=g)}
    tensors["Hz_fbank"] = torch.randn(4, 43, generator=g)
    return m, tensors


# ----------------------------------------------------------------------------------------------------------
# Writing: stand-in globals under the official names, and a pickler that spells numpy as asked.


class _Persistent:
    """Pickles as `torch_utils.persistence._reconstruct_persistent_obj(meta)`, as the decorator does."""

    def __init__(self, meta: dict, reconstruct) -> None:
        self.meta, self.reconstruct = meta, reconstruct

    def __reduce__(self):
        return (self.reconstruct, (self.meta,), None)


def _state(m: _Module, tensors: dict, prefix: str, era: str, ctx: dict, used: set, memo: dict) -> _Persistent:
    """The module's `__dict__` as the official persistence code stores it.

    Names are interned (as attribute assignment interns them) and plain values are deep-copied with one
    memo per network (the trainer pickles `copy.deepcopy(module)`), so shared objects stay shared."""
    new_dict = OrderedDict if era in ERA_KEYS else dict  # torch 1.x kept these as OrderedDicts too
    keys = ERA_KEYS.get(era, TORCH_NOW_KEYS)
    state: dict[str, Any] = {}
    for k in keys:
        if k == "training":
            state[k] = False  # the trainer pickles copies after .eval()
        elif k in ("_parameters", "_buffers", "_modules"):
            state[k] = new_dict()
        elif k == "_non_persistent_buffers_set":
            state[k] = set()
        elif k == "_is_full_backward_hook":
            state[k] = None
        else:
            state[k] = OrderedDict()
    for name in m.params:
        t = tensors[prefix + name]
        used.add(prefix + name)
        state["_parameters"][sys.intern(name)] = torch.nn.Parameter(t.detach().clone(), requires_grad=False)
    for name in m.buffers:
        used.add(prefix + name)
        state["_buffers"][sys.intern(name)] = tensors[prefix + name].detach().clone()
    for name, child in m.modules.items():
        state["_modules"][sys.intern(name)] = _state(child, tensors, f"{prefix}{name}.", era, ctx, used, memo)
    # Each official module holds its own (deep-copied) attributes and constructor arguments.
    state.update({sys.intern(k): v for k, v in copy.deepcopy(m.attrs, memo).items()})
    state["_init_args"] = copy.deepcopy(m.init_args, memo)
    init_kwargs = copy.deepcopy(m.init_kwargs, memo)
    if m.class_name in ctx["top"]:
        init_kwargs = _easydicts(init_kwargs, ctx["EasyDict"])
    state["_init_kwargs"] = init_kwargs
    src = ctx["src"](m.class_name)
    meta = dict(type="class", version=6, module_src=src, class_name=m.class_name, state=state)
    return _Persistent(meta, ctx["reconstruct"])


def _easydicts(kw: dict, easydict) -> dict:
    """The trainers build nested kwargs as dnnlib.EasyDict; the top-level copy is a plain dict."""
    return {k: easydict(v) if isinstance(v, dict) else v for k, v in kw.items()}


def _stand_in(module: str, name: str) -> Any:
    def f(*args):  # pragma: no cover - only referenced by name
        raise AssertionError("stand-ins are never called while writing")

    f.__module__, f.__name__, f.__qualname__ = module, name, name
    return f


RUNNING_CORE = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"


class _SpellingPickler(pickle.Pickler):
    """Writes numpy scalars and arrays under the other numpy major's global names when asked to."""

    def __init__(self, file, protocol: int, stand_ins: dict) -> None:
        super().__init__(file, protocol=protocol)
        self.stand_ins, self.proto = stand_ins, protocol

    def reducer_override(self, obj):
        if self.stand_ins and isinstance(obj, (np.generic, np.ndarray)):
            rv = list(obj.__reduce_ex__(self.proto))
            name = getattr(rv[0], "__name__", "")
            if name in ("scalar", "_reconstruct", "_frombuffer"):
                rv[0] = self.stand_ins[name]
            return tuple(rv)
        return NotImplemented


@contextlib.contextmanager
def _official_names(numpy_spelling: int):
    """Register stand-ins under the official global names while pickling, then restore sys.modules.

    The running numpy's own names are never replaced (numpy caches some of them); only the other major's
    spelling (numpy.core under numpy 2, numpy._core under numpy 1) gets stand-ins."""
    core = "numpy.core" if numpy_spelling == 1 else "numpy._core"
    names: dict[str, list[str]] = {
        "torch_utils.persistence": ["_reconstruct_persistent_obj"],
        "dnnlib.util": [],
    }
    if core != RUNNING_CORE:
        names.update({f"{core}.multiarray": ["scalar", "_reconstruct"], f"{core}.numeric": ["_frombuffer"]})
    saved = {k: sys.modules.get(k) for k in [*names, "torch_utils", "dnnlib"]}
    stand_ins: dict[str, Any] = {}
    try:
        for mod, fns in names.items():
            fake = types.ModuleType(mod)
            for fn in fns:
                stand_ins[fn] = _stand_in(mod, fn)
                setattr(fake, fn, stand_ins[fn])
            sys.modules[mod] = fake
        sys.modules.setdefault("torch_utils", types.ModuleType("torch_utils"))
        sys.modules.setdefault("dnnlib", types.ModuleType("dnnlib"))

        class EasyDict(dict):
            pass

        EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
        sys.modules["dnnlib.util"].EasyDict = EasyDict
        reconstruct = stand_ins.pop("_reconstruct_persistent_obj")
        yield reconstruct, stand_ins, EasyDict
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def official_pickle_bytes(
    G_state: dict[str, torch.Tensor],
    G_kwargs: dict,
    D_state: dict[str, torch.Tensor] | None = None,
    D_kwargs: dict | None = None,
    *,
    layout: str = "stylegan2-ada-pytorch",
    numpy_spelling: int = 2,
    torch_era: str = "now",
    protocol: int = 4,
    augment: bool = True,
    module_src: dict[str, str] | None = None,
    training_set_kwargs: dict | None = None,
) -> bytes:
    """The bytes of `pickle.dump(dict(training_set_kwargs, G, D, G_ema, augment_pipe))` for these weights.

    State dicts use the official parameter names (without a `G_ema.` prefix); G and G_ema get the same
    weights. Every tensor of the official layout must be given, and every given tensor must be used.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}")
    src = module_src or {}
    with _official_names(numpy_spelling) as (reconstruct, stand_ins, EasyDict):
        ctx = {
            "reconstruct": reconstruct,
            "EasyDict": EasyDict,
            "src": lambda cls: src.get(cls, MODULE_SRC),
            "top": {"Generator", "Discriminator"},
        }

        def network(tree: _Module, tensors: dict) -> _Persistent:
            used: set[str] = set()
            rec = _state(tree, tensors, "", torch_era, ctx, used, {})
            if set(tensors) - used:
                raise KeyError(f"tensors not in the official layout: {sorted(set(tensors) - used)[:5]}")
            return rec

        data: dict[str, Any] = {"training_set_kwargs": dict(training_set_kwargs or {})}
        if not training_set_kwargs:
            data["training_set_kwargs"] = dict(
                class_name="training.dataset.ImageFolderDataset", path="datasets/tiny.zip",
                use_labels=G_kwargs["c_dim"] > 0, max_size=100, xflip=False,
                resolution=G_kwargs["img_resolution"],
            )  # fmt: skip
        G_tree = _generator(layout, G_kwargs)
        data["G"] = network(G_tree, G_state)
        data["D"] = network(_discriminator(layout, D_kwargs), D_state) if D_state is not None else None
        data["G_ema"] = network(G_tree, G_state)
        data["augment_pipe"] = network(*_augment_pipe()) if augment else None
        if layout == "stylegan3":  # stylegan3's loop builds the dict in this order
            data = {k: data[k] for k in ("G", "D", "G_ema", "augment_pipe", "training_set_kwargs")}
        buf = io.BytesIO()
        _SpellingPickler(buf, protocol, stand_ins).dump(data)
        return buf.getvalue()


def _stylegan3_generator(g: torch.Generator) -> tuple[_Module, dict[str, torch.Tensor]]:
    """A small alias-free generator as stylegan3's networks_stylegan3 stores it ('stylegan3-t', 16 px):
    numpy int64 size arrays (stride-0 broadcast views), numpy float64 cutoffs and numpy bool flags."""
    size = lambda n: np.broadcast_to(np.asarray(n), [2])  # noqa: E731 - as the official constructor does
    kw = dict(
        z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, mapping_kwargs={"num_layers": 2}
    )
    kw.update(channel_base=256, channel_max=16, num_layers=2, num_critical=1, magnitude_ema_beta=0.999)
    G = _Module("Generator", (), kw)
    G.attrs.update(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, num_ws=4)
    syn_kw = {k: v for k, v in kw.items() if k not in ("z_dim", "c_dim", "mapping_kwargs")}
    syn = _Module("SynthesisNetwork", (), {"w_dim": 16, **syn_kw})
    names = ["L0_36_16", "L1_16_16", "L2_16_3"]
    syn.attrs.update(w_dim=16, num_ws=4, img_resolution=16, img_channels=3, num_layers=2, num_critical=1)
    syn.attrs.update(margin_size=10, output_scale=0.25, num_fp16_res=4, layer_names=names)
    inp_kw = dict(w_dim=16, channels=16, size=36, sampling_rate=np.float64(16), bandwidth=np.float64(2))
    inp = _Module("SynthesisInput", (), inp_kw, params=["weight"], buffers=["transform", "freqs", "phases"])
    inp.attrs.update(
        w_dim=16, channels=16, size=size(36), sampling_rate=np.float64(16), bandwidth=np.float64(2)
    )
    inp.modules["affine"] = _fc("stylegan3", 16, 4, weight_init=0, bias_init=[1, 0, 0, 0])
    syn.modules["input"] = inp
    tensors = {"synthesis.input.weight": torch.randn(16, 16, generator=g)}
    tensors.update({"synthesis.input.transform": torch.eye(3), "synthesis.input.freqs": torch.randn(16, 2)})
    tensors["synthesis.input.phases"] = torch.rand(16, generator=g) - 0.5
    tensors["synthesis.input.affine.weight"] = torch.randn(4, 16, generator=g)
    tensors["synthesis.input.affine.bias"] = torch.tensor([1.0, 0, 0, 0])
    for i, name in enumerate(names):
        last, crit = i == 2, i >= 1
        out_c, out_s = (3, 16) if last else (16, 36 if i == 0 else 16)
        lkw = dict(w_dim=16, is_torgb=last, is_critically_sampled=crit, use_fp16=np.True_, in_channels=16)
        lkw.update(out_channels=out_c, in_size=36 if i < 2 else 16, out_size=out_s)
        lkw.update(
            in_sampling_rate=16, out_sampling_rate=16, in_cutoff=np.float64(2), out_cutoff=np.float64(8)
        )
        lkw.update(in_half_width=np.float64(6), out_half_width=np.float64(1.8491553067593305))
        lkw["magnitude_ema_beta"] = 0.999
        layer = _Module("SynthesisLayer", (), lkw, params=["weight", "bias"])
        layer.buffers = ["magnitude_ema", "up_filter", "down_filter"]
        layer.attrs.update(
            {k: v for k, v in lkw.items() if k not in ("in_size", "out_size", "magnitude_ema_beta")}
        )
        layer.attrs.update(in_size=size(lkw["in_size"]), out_size=size(out_s), tmp_sampling_rate=32)
        layer.attrs.update(
            conv_kernel=1 if last else 3, conv_clamp=256, magnitude_ema_beta=0.999, up_factor=2
        )
        layer.attrs.update(up_taps=12, down_factor=2, down_taps=12, down_radial=False, padding=[9, 8, 9, 8])
        layer.modules["affine"] = _fc("stylegan3", 16, 16, bias_init=1)
        ks = layer.attrs["conv_kernel"]
        p = f"synthesis.{name}."
        tensors.update(
            {p + "weight": torch.randn(out_c, 16, ks, ks, generator=g), p + "bias": torch.zeros(out_c)}
        )
        tensors.update({p + "magnitude_ema": torch.ones([]), p + "up_filter": torch.rand(12, generator=g)})
        tensors[p + "down_filter"] = torch.rand(12, generator=g)
        tensors.update(
            {p + "affine.weight": torch.randn(16, 16, generator=g), p + "affine.bias": torch.ones(16)}
        )
        syn.modules[name] = layer
    G.modules["synthesis"] = syn
    G.modules["mapping"] = _mapping("stylegan3", dict(z_dim=16, c_dim=0, w_dim=16, num_ws=4, num_layers=2))
    G.modules["mapping"].attrs["embed"] = None
    for i, f_in in enumerate((16, 16)):
        tensors[f"mapping.fc{i}.weight"] = torch.randn(16, f_in, generator=g) * 100
        tensors[f"mapping.fc{i}.bias"] = torch.zeros(16)
    tensors["mapping.w_avg"] = torch.zeros(16)
    return G, tensors


def stylegan3_pickle_bytes(
    D_state: dict[str, torch.Tensor] | None = None,
    D_kwargs: dict | None = None,
    *,
    numpy_spelling: int = 2,
    protocol: int = 4,
) -> bytes:
    """A stylegan3 trainer snapshot of an alias-free (StyleGAN3-T) generator and its StyleGAN2 D."""
    with _official_names(numpy_spelling) as (reconstruct, stand_ins, EasyDict):
        ctx = {"reconstruct": reconstruct, "EasyDict": EasyDict, "src": lambda cls: MODULE_SRC}
        ctx["top"] = {"Generator", "Discriminator"}
        G_tree, G_state = _stylegan3_generator(torch.Generator().manual_seed(3))
        data: dict[str, Any] = {"G": _state(G_tree, G_state, "", "now", ctx, set(), {})}
        D = (
            _state(_discriminator("stylegan3", D_kwargs), D_state, "", "now", ctx, set(), {})
            if D_state
            else None
        )
        data.update(D=D, G_ema=_state(G_tree, G_state, "", "now", ctx, set(), {}), augment_pipe=None)
        data["training_set_kwargs"] = dict(class_name="training.dataset.ImageFolderDataset", resolution=16)
        buf = io.BytesIO()
        _SpellingPickler(buf, protocol, stand_ins).dump(data)
        return buf.getvalue()


def write_official_pickle(path, G_state, G_kwargs, D_state=None, D_kwargs=None, **options) -> None:
    """Write the official trainer's snapshot pickle for these weights (see official_pickle_bytes)."""
    with open(path, "wb") as f:
        f.write(official_pickle_bytes(G_state, G_kwargs, D_state, D_kwargs, **options))


def numpy_pickle_bytes(obj: Any, *, numpy_spelling: int = 2, protocol: int = 4) -> bytes:
    """`pickle.dumps(obj)` as numpy 1 or numpy 2 writes it (whichever numpy this process runs)."""
    with _official_names(numpy_spelling) as (_, stand_ins, _):
        buf = io.BytesIO()
        _SpellingPickler(buf, protocol, stand_ins).dump(obj)
        return buf.getvalue()
