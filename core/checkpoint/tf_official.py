"""Import NVIDIA's TensorFlow network pickles (StyleGAN1 `karras2019stylegan-*.pkl`, original StyleGAN2
`stylegan2-*-config-*.pkl`) without TensorFlow and without executing anything from the file.

Such a pickle is `(G, D, Gs)`, each a `dnnlib.tflib.network.Network` whose state holds its build kwargs,
the name of its build function, the TF source (never read) and its variables as numpy arrays. A restricted
unpickler turns each Network into a plain record and allows only numpy's array/dtype/scalar builders. The
build kwargs (with the official signatures' defaults) become our configs; the variables go through one
table per family (tf_names_stylegan1.py, tf_names_stylegan2.py). Gs becomes G_ema; G and D come along.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.checkpoint import tf_names_stylegan1 as sg1_names
from core.checkpoint import tf_names_stylegan2 as sg2_names
from core.checkpoint.tf_names import Rule, apply_rules
from core.checkpoint.unpickler import NUMPY_GLOBALS, GlobalKey, refuse, restricted_load
from core.errors import SGError
from core.networks import (
    DiscriminatorConfig,
    GeneratorConfig,
    build_discriminator,
    build_generator,
)

NETWORK_GLOBAL = ("dnnlib.tflib.network", "Network")
STATE_KEYS = (
    "version",
    "name",
    "static_kwargs",
    "components",
    "build_module_src",
    "build_func_name",
    "variables",
)
TF_MARKER = b"dnnlib.tflib.network"  # every TF network pickle names this global near its start


class TFNetwork:
    """A `dnnlib.tflib.network.Network` as data: the pickled state, checked; never the TF class."""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict) or not set(STATE_KEYS) <= set(state):
            raise refuse("a TF Network whose state is not the official one")
        if not isinstance(state["variables"], (list, tuple)) or not isinstance(state["static_kwargs"], dict):
            raise refuse("a TF Network whose variables or kwargs are not plain data")
        self.version = int(state["version"])
        self.name = str(state["name"])
        self.build_func_name = str(state["build_func_name"])
        self.static_kwargs = dict(state["static_kwargs"])
        self.components = dict(state["components"] or {})
        self.own_vars: dict[str, np.ndarray] = {}
        for item in state["variables"]:
            if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
                raise refuse("a TF Network variable that is not a (name, value) pair")
            name, value = item
            if not isinstance(value, (np.ndarray, np.generic)) or value.dtype.kind not in "fiub":
                raise refuse(f"TF variable '{name}' that is not a numeric numpy value")
            self.own_vars[name] = np.asarray(value)

    def all_vars(self) -> dict[str, np.ndarray]:
        """Own variables plus the components' ones under their role ('mapping/', 'synthesis/')."""
        out = dict(self.own_vars)
        for role, comp in self.components.items():
            if not isinstance(comp, TFNetwork):
                raise SGError(f"TF network {self.name}: component '{role}' is not a network")
            out.update({f"{role}/{k}": v for k, v in comp.all_vars().items()})
        return out

    def kwargs_of(self, role: str | None = None) -> dict[str, Any]:
        net = self if role is None else self.components.get(role)
        return dict(net.static_kwargs) if isinstance(net, TFNetwork) else {}


class _SeenGlobals(dict):
    """The allow-list, recording which globals the file asked for (to report its numpy spelling)."""

    def __init__(self, table: Mapping[GlobalKey, Any]) -> None:
        super().__init__(table)
        self.seen: set[GlobalKey] = set()

    def get(self, key: GlobalKey, default: Any = None) -> Any:
        self.seen.add(key)
        return super().get(key, default)


def is_tf_pickle(path: str | os.PathLike) -> bool:
    """A TF-era network pickle names the TF Network class within its first bytes (the tuple's first item)."""
    with open(path, "rb") as f:
        return TF_MARKER in f.read(4096)


def read_tf_pickle(path: str | os.PathLike) -> tuple[TFNetwork, TFNetwork, TFNetwork, dict[str, str]]:
    """(G, D, Gs) as records, plus how the file was written (protocol, numpy spelling)."""
    allowed = _SeenGlobals({**NUMPY_GLOBALS, NETWORK_GLOBAL: TFNetwork})
    top = restricted_load(path, allowed, kind="official TensorFlow StyleGAN network pickle")
    nets_ok = isinstance(top, tuple) and len(top) == 3
    if not (nets_ok and all(isinstance(n, TFNetwork) and hasattr(n, "own_vars") for n in top)):
        raise SGError(f"{path}: not an official TF network pickle (expected the tuple (G, D, Gs))")
    with open(path, "rb") as f:
        head = f.read(2)
    protocol = head[1] if head[:1] == b"\x80" else 0
    modules = {m for m, _ in allowed.seen}
    numpy_kind = (
        "numpy 2 (numpy._core)"
        if any(m.startswith("numpy._core") for m in modules)
        else "numpy 1.x (numpy.core)"
    )
    how = {"protocol": str(protocol), "numpy": numpy_kind}
    return top[0], top[1], top[2], how


# ----------------------------------------------------------------------------------------------------------
# Build kwargs -> configs. Only passed kwargs are pickled, so the official signatures' defaults fill in.


@dataclass(frozen=True)
class Family:
    """What differs between the StyleGAN1 and StyleGAN2 TF code for an importer."""

    name: str
    g_func: str
    d_func: str
    synthesis_func: str
    arch: str
    defaults: dict[str, Any]
    fixed: dict[str, Any]  # kwargs that change the function: only the official value is supported
    names: Any  # the parameter table module
    ignored: frozenset[str] = field(default_factory=frozenset)


_MAPPING_DEFAULTS = dict(
    latent_size=512, label_size=0, dlatent_size=512, mapping_layers=8, mapping_fmaps=512, mapping_lrmul=0.01
)
_MAPPING_FIXED = dict(mapping_nonlinearity="lrelu", normalize_latents=True, use_wscale=True, dtype="float32")
_IGNORED = frozenset(
    {
        "structure",  # lod 0: the linear, recursive and fixed graphs compute the same
        "randomize_noise",
        "fused_modconv",
        "style_mixing_prob",
        "truncation_psi_val",
        "truncation_cutoff_val",
        "is_training",
        "is_validation",
        "is_template_graph",
        "force_clean_graph",
        "return_dlatents",
        "dlatent_broadcast",
        "num_fp16_res",
        "conv_clamp",
    }
)

STYLEGAN1 = Family(
    name="StyleGAN1",
    g_func="G_style",
    d_func="D_basic",
    synthesis_func="G_synthesis",
    arch="stylegan1",
    defaults=dict(
        _MAPPING_DEFAULTS,
        num_channels=3,
        resolution=1024,
        fmap_base=8192,
        fmap_max=512,
        truncation_psi=0.7,
        truncation_cutoff=8,
        dlatent_avg_beta=0.995,
        mbstd_group_size=4,
        mbstd_num_features=1,
        fused_scale="auto",  # G: decides the kernel orientation of Conv0_up; D: same function either way
    ),
    fixed=dict(
        _MAPPING_FIXED,
        fmap_decay=1.0,
        use_styles=True,
        const_input_layer=True,
        use_noise=True,
        nonlinearity="lrelu",
        use_pixel_norm=False,
        use_instance_norm=True,
        blur_filter=[1, 2, 1],
    ),
    names=sg1_names,
    ignored=_IGNORED,
)

STYLEGAN2 = Family(
    name="StyleGAN2",
    g_func="G_main",
    d_func="D_stylegan2",
    synthesis_func="G_synthesis_stylegan2",
    arch="stylegan2",
    defaults=dict(
        _MAPPING_DEFAULTS,
        num_channels=3,
        resolution=1024,
        fmap_base=16 << 10,
        fmap_max=512,
        truncation_psi=0.5,
        truncation_cutoff=None,
        dlatent_avg_beta=0.995,
        mbstd_group_size=4,
        mbstd_num_features=1,
    ),
    fixed=dict(
        _MAPPING_FIXED,
        fmap_decay=1.0,
        fmap_min=1,
        architecture=None,  # checked per network: G 'skip', D 'resnet'
        nonlinearity="lrelu",
        resample_kernel=[1, 3, 3, 1],
        mapping_func="G_mapping",
        synthesis_func="G_synthesis_stylegan2",
    ),
    names=sg2_names,
    ignored=_IGNORED,
)

FAMILIES = {STYLEGAN1.g_func: STYLEGAN1, STYLEGAN2.g_func: STYLEGAN2}


def _kwargs(fam: Family, kw: dict[str, Any], what: str, path: str | os.PathLike) -> dict[str, Any]:
    """The network's kwargs with defaults filled; SGError for kwargs that would change the function."""
    out = dict(fam.defaults)
    for k, v in kw.items():
        if k in fam.fixed:
            want = fam.fixed[k]
            if want is not None and (list(v) if isinstance(v, (list, tuple)) else v) != want:
                raise SGError(
                    f"{path}: {what} was built with {k}={v!r}; sg supports only the official {want!r}"
                )
        elif k not in fam.defaults and k not in fam.ignored and k != "label_size":
            raise SGError(f"{path}: {what} was built with an unknown kwarg {k}={v!r} (unsupported network)")
        out[k] = v
    for k in ("fmap_base", "fmap_max", "resolution", "num_channels", "latent_size", "dlatent_size"):
        out[k] = int(out[k])
    return out


def generator_config(fam: Family, Gs: TFNetwork, path: str | os.PathLike) -> GeneratorConfig:
    kw = _kwargs(
        fam, {**Gs.kwargs_of("mapping"), **Gs.kwargs_of("synthesis"), **Gs.static_kwargs}, "Gs", path
    )
    if fam is STYLEGAN2 and kw.get("architecture", "skip") != "skip":
        raise SGError(f"{path}: a StyleGAN2 '{kw['architecture']}' generator; sg supports config-f's 'skip'")
    if int(kw["mapping_layers"]) > 1 and int(kw["mapping_fmaps"]) != kw["dlatent_size"]:
        raise SGError(
            f"{path}: mapping_fmaps {kw['mapping_fmaps']} differs from dlatent_size {kw['dlatent_size']} "
            "(unsupported network)"
        )
    cutoff = kw["truncation_cutoff"]
    return GeneratorConfig(
        arch=fam.arch,
        z_dim=kw["latent_size"],
        c_dim=int(kw["label_size"]),
        w_dim=kw["dlatent_size"],
        img_resolution=kw["resolution"],
        img_channels=kw["num_channels"],
        channel_base=2 * kw["fmap_base"],  # official nf(stage) = fmap_base / 2^stage = our channel_base / res
        channel_max=kw["fmap_max"],
        num_fp16_res=0,
        conv_clamp=None,
        map_layers=int(kw["mapping_layers"]),
        map_lr_multiplier=float(kw["mapping_lrmul"]),
        w_avg_beta=float(kw["dlatent_avg_beta"] if kw["dlatent_avg_beta"] is not None else 1.0),
        trunc_cutoff=int(cutoff) if cutoff is not None and int(cutoff) > 0 else None,
        label_concat=int(kw["label_size"]) > 0,
    )


def discriminator_config(
    fam: Family, D: TFNetwork, path: str | os.PathLike
) -> tuple[DiscriminatorConfig | None, str]:
    """D's config, or None with the reason when sg has no network that computes this D."""
    kw = _kwargs(fam, D.static_kwargs, "D", path)
    if fam is STYLEGAN1:
        kw.setdefault("label_size", 0)
        defaults = {"num_channels": 1, "resolution": 32}  # D_basic's own signature defaults
        for k, v in defaults.items():
            if k not in D.static_kwargs:
                kw[k] = v
    label_size = int(kw.get("label_size", 0))
    cfg = DiscriminatorConfig(
        arch=fam.arch,
        c_dim=label_size,
        img_resolution=kw["resolution"],
        img_channels=kw["num_channels"],
        channel_base=2 * kw["fmap_base"],
        channel_max=kw["fmap_max"],
        num_fp16_res=0,
        conv_clamp=None,
        mbstd_group_size=int(kw["mbstd_group_size"]),
        mbstd_num_channels=int(kw["mbstd_num_features"]),
    )
    if fam is STYLEGAN2:
        if kw.get("architecture", "resnet") != "resnet":
            return None, f"D architecture '{kw['architecture']}' (sg builds 'resnet')"
        if label_size:
            return None, "a conditional StyleGAN2 TF D (its label head differs from sg's projection D)"
        if cfg.channels(2) != cfg.channels(4):
            return None, "its Dense0 width differs from sg's D"
    return cfg, ""


# ----------------------------------------------------------------------------------------------------------


def _check_lod(nets: dict[str, TFNetwork], path: str | os.PathLike) -> float:
    """Released networks are finished (lod 0); a mid-growth snapshot blends resolutions, which sg does not."""
    lods = {}
    for tag, net in nets.items():
        for k, v in net.all_vars().items():
            if k == "lod" or k.endswith("/lod"):
                lods[f"{tag}/{k}"] = float(np.asarray(v))
    bad = {k: v for k, v in lods.items() if v != 0}
    if bad:
        k, v = next(iter(bad.items()))
        raise SGError(
            f"{path}: {k} is {v:g}: a progressive-growing snapshot between resolutions; sg imports finished "
            "networks (lod 0)"
        )
    return 0.0


def _rules_g(fam: Family, cfg: GeneratorConfig, g_kwargs: dict[str, Any]) -> list[Rule]:
    if fam is STYLEGAN1:
        fused = g_kwargs.get("fused_scale", "auto")
        return fam.names.generator_rules(cfg.img_resolution, cfg.map_layers, cfg.c_dim, fused)
    return fam.names.generator_rules(cfg.img_resolution, cfg.map_layers, cfg.c_dim)


def build_from_tf_vars(
    fam: Family,
    g_config: GeneratorConfig,
    d_config: DiscriminatorConfig | None,
    gs_vars: dict[str, np.ndarray],
    g_vars: dict[str, np.ndarray] | None,
    d_vars: dict[str, np.ndarray] | None,
    path: str | os.PathLike,
    g_kwargs: dict[str, Any] | None = None,
):
    """(G_ema, G, D) from flat TF variables (G/Gs: components as 'mapping/…', 'synthesis/…')."""
    derived = ("blur_filter", "resample_filter")

    def gen(tf_vars: dict[str, np.ndarray], what: str):
        G = build_generator(g_config)
        rules = _rules_g(fam, g_config, g_kwargs or {})
        state = apply_rules(tf_vars, rules, fam.names.G_DEAD, G, derived, what, path)
        G.load_state_dict(state, strict=True)
        return G

    G_ema = gen(gs_vars, "Gs").eval().requires_grad_(False)
    G = gen(g_vars, "G") if g_vars is not None else None
    D = None
    if d_config is not None and d_vars is not None:
        D = build_discriminator(d_config)
        rules = fam.names.discriminator_rules(d_config.img_resolution)
        D.load_state_dict(apply_rules(d_vars, rules, fam.names.D_DEAD, D, derived, "D", path), strict=True)
    return G_ema, G, D


def family_of(Gs: TFNetwork, path: str | os.PathLike) -> Family:
    fam = FAMILIES.get(Gs.build_func_name)
    if fam is None:
        raise SGError(
            f"{path}: a TF network built by '{Gs.build_func_name}'; sg reads StyleGAN1 (G_style) and "
            "StyleGAN2 (G_main) networks"
        )
    syn = Gs.components.get("synthesis")
    if not isinstance(syn, TFNetwork) or syn.build_func_name != fam.synthesis_func:
        got = syn.build_func_name if isinstance(syn, TFNetwork) else "none"
        raise SGError(
            f"{path}: {fam.name} synthesis network '{got}' is not supported (expected {fam.synthesis_func})"
        )
    return fam


def checkpoint_from_tf_pickle(path: str | os.PathLike):
    """An official TF pickle as a Checkpoint (Gs -> G_ema, G, D), with what it was in `details`."""
    G_tf, D_tf, Gs_tf, how = read_tf_pickle(path)
    try:
        return _checkpoint(G_tf, D_tf, Gs_tf, how, path)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:  # kwargs or variables of the wrong kind
        raise SGError(f"{path}: the TF networks' kwargs or variables are damaged ({exc})") from None


def _checkpoint(G_tf: TFNetwork, D_tf: TFNetwork, Gs_tf: TFNetwork, how: dict[str, str], path):
    from core.checkpoint.sgformat import Checkpoint

    fam = family_of(Gs_tf, path)
    lod = _check_lod({"Gs": Gs_tf, "G": G_tf, "D": D_tf}, path)
    g_config = generator_config(fam, Gs_tf, path)
    d_config, d_note = (None, "")
    if D_tf.build_func_name == fam.d_func:
        d_config, d_note = discriminator_config(fam, D_tf, path)
    else:
        d_note = f"D built by '{D_tf.build_func_name}' (sg builds {fam.d_func})"
    kw = _kwargs(fam, {**Gs_tf.kwargs_of("synthesis"), **Gs_tf.static_kwargs}, "Gs", path)
    G_ema, G, D = build_from_tf_vars(
        fam,
        g_config,
        d_config,
        Gs_tf.all_vars(),
        G_tf.all_vars(),
        D_tf.all_vars() if d_config else None,
        path,
        g_kwargs=kw,
    )
    cutoff = g_config.trunc_cutoff
    details = {
        "family": f"{fam.name} (NVIDIA TensorFlow: {Gs_tf.build_func_name} / {D_tf.build_func_name})",
        "release format": (
            f"TF pickle (G, D, Gs), protocol {how['protocol']}, {how['numpy']}, "
            f"Network version {Gs_tf.version}"
        ),
        "lod": f"{lod:g}",
        "truncation defaults": (
            f"psi {kw['truncation_psi']}, "
            + (f"cutoff {cutoff} (ws 0..{cutoff - 1})" if cutoff else "all layers")
        ),
    }
    if d_config is None:
        details["D"] = f"not imported: {d_note}"
    return Checkpoint(
        G_ema=G_ema, g_config=g_config, G=G, D=D, d_config=d_config, source="official-tf-pkl", details=details
    )
