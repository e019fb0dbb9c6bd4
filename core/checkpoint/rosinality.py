"""Import rosinality/stylegan2-pytorch generator checkpoints (`.pt` from its train.py or convert_weight.py).

Files are read with `torch.load(weights_only=True)`; the only extra global allowed is `argparse.Namespace`
(train.py's `args`, plain attribute values). Any other global is refused before it can run.

Why a rename is enough (checked against rosinality's model.py): its generator computes the same function as
the official StyleGAN2 config F, so tensors are copied, only renamed and reshaped.
- EqualLinear stores `randn / lr_mul` and applies `weight * lr_mul / sqrt(in)`, `bias * lr_mul`, exactly
  our FullyConnectedLayer; the mapping uses lr_mul 0.01 (`lr_mlp`), PixelNorm on z, and `fused_lrelu`.
- FusedLeakyReLU is `lrelu(x + bias, 0.2) * sqrt(2)` with no clamp, so the config gets `conv_clamp=None`
  (and `num_fp16_res=0`: rosinality trains in fp32).
- ModulatedConv2d multiplies its [1,O,I,k,k] weight by 1/sqrt(fan_in) before modulation; demodulation
  cancels that (up to the 1e-8 epsilon, ~1e-9 relative), while ToRGB (no demodulation) keeps it, which is
  our ToRGB's weight gain. Modulation biases already hold the +1 of `bias_init=1`.
- Its upsampling conv is conv_transpose2d(stride 2) with the unflipped weight, then a [1,3,3,1] blur
  (gain 4, padding 1,1): our conv2d_resample(up=2) with `flip_weight=False`. convert_weight.py flips
  the TF Conv0_up kernels as the official legacy.py does, so both layouts hold the same tensors.
  The skip image is upsampled with padding (2,1), as upsample2d does.
- Noise `weight` [1] scales a [1,1,r,r] map added after demodulation, before the bias: our noise_strength
  and noise_const; `noises.noise_i` follow our noise-layer order (b4.conv1, b8.conv0, b8.conv1, ...).
- Style i feeds layer i with ToRGB sharing the next conv's w, as in the official layout; truncation is
  `avg + psi * (w - avg)` over all layers with `latent_avg` as the average.
Channels are 512 up to 32 px then `channel_multiplier * {64:256, 128:128, ...}`, i.e. channel_base
16384 * multiplier and channel_max 512; any layout of that min(base/res, max) form is accepted.
The discriminator (a different design) is not converted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pickle
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from core.checkpoint.sgformat import Checkpoint
from core.errors import SGError
from core.networks import Generator, GeneratorConfig, build_generator

ROSINALITY_BASE = 16384  # channel_base per unit of channel_multiplier
BLUR_TAPS = (1.0, 3.0, 3.0, 1.0)
W_AVG_SAMPLES = 10_000
W_AVG_SEED = 0

# ----------------------------------------------------------------------------------------------------------
# Reading the file.


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_rosinality(path: str | os.PathLike) -> Any:
    """The torch.save'd object, loaded without running code; SGError if unsafe, truncated or foreign."""
    safe = getattr(torch.serialization, "safe_globals", None)
    allow = safe([argparse.Namespace]) if safe is not None else contextlib.nullcontext()
    try:
        with allow:
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise SGError(
                f"{path}: refusing to load: the file asks for '{found.group(1)}', which no rosinality "
                "checkpoint uses (nothing from the file was executed)"
            ) from None
        raise SGError(f"{path}: refusing to load: not a plain tensor checkpoint ({_one_line(exc)})") from None
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
        zipfile.BadZipFile,
    ) as exc:
        raise SGError(
            f"{path}: not a readable torch checkpoint (truncated or corrupt?): {_one_line(exc)}"
        ) from None


# ----------------------------------------------------------------------------------------------------------
# The layout: size, widths and depths, inferred from tensor shapes.


@dataclass
class RosinalityLayout:
    size: int
    style_dim: int
    n_mlp: int
    channels: dict[int, int]  # resolution -> feature maps
    channel_base: int
    channel_max: int

    @property
    def channel_multiplier(self) -> int | None:
        """rosinality's `channel_multiplier`, when the widths are its standard ones."""
        if self.channel_max == 512 and self.channel_base % ROSINALITY_BASE == 0:
            return self.channel_base // ROSINALITY_BASE
        return None


def _indices(sd: dict[str, torch.Tensor], pattern: str) -> list[int]:
    return sorted({int(m.group(1)) for k in sd if (m := re.fullmatch(pattern, k))})


def _need(sd: dict[str, torch.Tensor], key: str, path: str | os.PathLike, ndim: int) -> torch.Tensor:
    if key not in sd:
        raise SGError(f"{path}: not a rosinality StyleGAN2 generator (no '{key}' tensor)")
    t = sd[key]
    if not isinstance(t, torch.Tensor) or t.ndim != ndim:
        shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
        raise SGError(f"{path}: '{key}' has shape {shape}, expected {ndim} dimensions")
    return t


def fit_channels(
    channels: dict[int, int], size: int, hint_base: int | None, path: str | os.PathLike
) -> tuple[int, int]:
    """(channel_base, channel_max) with min(base // res, max) == channels[res] at every resolution."""
    cmax = channels[4]
    reduced = [r for r in sorted(channels) if channels[r] != cmax]
    if reduced:
        base = channels[reduced[0]] * reduced[0]
    else:  # no resolution is narrowed: any base >= cmax * size describes it; prefer train.py's multiplier
        base = max(hint_base or 0, cmax * size)
    if any(min(base // r, cmax) != c for r, c in channels.items()):
        widths = ", ".join(f"{r}:{c}" for r, c in sorted(channels.items()))
        raise SGError(f"{path}: channel widths ({widths}) do not follow min(base/res, max); not supported")
    return base, cmax


def infer_layout(
    sd: dict[str, torch.Tensor], path: str | os.PathLike, hint_base: int | None = None
) -> RosinalityLayout:
    """Size from the number of ToRGBs, style_dim and n_mlp from the mapping, widths from the conv weights."""
    mlp = _indices(sd, r"style\.(\d+)\.weight")
    if not mlp or mlp != list(range(1, len(mlp) + 1)):
        raise SGError(f"{path}: not a rosinality StyleGAN2 generator (mapping layers style.1.. not found)")
    style_dim = int(_need(sd, "style.1.weight", path, 2).shape[1])
    n_rgbs = len(_indices(sd, r"to_rgbs\.(\d+)\.conv\.weight"))
    size = 4 * 2**n_rgbs
    channels = {4: int(_need(sd, "input.input", path, 4).shape[1])}
    for k in range(n_rgbs):
        channels[8 * 2**k] = int(_need(sd, f"convs.{2 * k}.conv.weight", path, 5).shape[1])
    base, cmax = fit_channels(channels, size, hint_base, path)
    return RosinalityLayout(
        size=size, style_dim=style_dim, n_mlp=len(mlp), channels=channels, channel_base=base, channel_max=cmax
    )


def config_from_layout(layout: RosinalityLayout, lr_mlp: float = 0.01) -> GeneratorConfig:
    return GeneratorConfig(
        arch="stylegan2",
        z_dim=layout.style_dim,
        c_dim=0,
        w_dim=layout.style_dim,
        img_resolution=layout.size,
        img_channels=3,
        channel_base=layout.channel_base,
        channel_max=layout.channel_max,
        num_fp16_res=0,
        conv_clamp=None,
        map_layers=layout.n_mlp,
        map_lr_multiplier=lr_mlp,
        resample_filter=[1, 3, 3, 1],
    )


# ----------------------------------------------------------------------------------------------------------
# Renaming: rosinality key -> (our key, reshape).

Reshape = Callable[[torch.Tensor], torch.Tensor]


def _same(t: torch.Tensor) -> torch.Tensor:
    return t


def _squeeze0(t: torch.Tensor) -> torch.Tensor:
    return t.squeeze(0) if t.ndim > 0 and t.shape[0] == 1 else t


def _scalar(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(()) if t.numel() == 1 else t


def _flat(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1)


def _noise_map(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(t.shape[-2:]) if t.ndim >= 2 else t


STYLED_CONV = {  # StyledConv -> SynthesisLayer
    "conv.weight": ("weight", _squeeze0),
    "conv.modulation.weight": ("affine.weight", _same),
    "conv.modulation.bias": ("affine.bias", _same),
    "noise.weight": ("noise_strength", _scalar),
    "activate.bias": ("bias", _same),
}
TO_RGB = {  # ToRGB -> ToRGBLayer
    "conv.weight": ("weight", _squeeze0),
    "conv.modulation.weight": ("affine.weight", _same),
    "conv.modulation.bias": ("affine.bias", _same),
    "bias": ("bias", _flat),
}
BLUR_BUFFERS = ("conv.blur.kernel", "upsample.kernel")  # fixed [1,3,3,1] kernels we rebuild ourselves


def noise_layer_name(i: int) -> str:
    """rosinality's i-th noise map belongs to b4.conv1, b8.conv0, b8.conv1, b16.conv0, ..."""
    if i == 0:
        return "synthesis.b4.conv1"
    return f"synthesis.b{8 * 2 ** ((i - 1) // 2)}.conv{(i - 1) % 2}"


def _rename(key: str) -> tuple[str, Reshape] | None:
    """Our name for a rosinality generator tensor; "" for a blur buffer to check and drop; None if unknown."""
    if m := re.fullmatch(r"style\.(\d+)\.(weight|bias)", key):
        i = int(m.group(1))
        return (f"mapping.fc{i - 1}.{m.group(2)}", _same) if i >= 1 else None
    if key == "input.input":
        return "synthesis.b4.const", _squeeze0
    if m := re.fullmatch(r"noises\.noise_(\d+)", key):
        return f"{noise_layer_name(int(m.group(1)))}.noise_const", _noise_map
    layer, table = None, None
    if m := re.fullmatch(r"conv1\.(.+)", key):
        layer, table, part = "synthesis.b4.conv1", STYLED_CONV, m.group(1)
    elif m := re.fullmatch(r"convs\.(\d+)\.(.+)", key):
        n = int(m.group(1))
        layer, table, part = f"synthesis.b{8 * 2 ** (n // 2)}.conv{n % 2}", STYLED_CONV, m.group(2)
    elif m := re.fullmatch(r"to_rgb1\.(.+)", key):
        layer, table, part = "synthesis.b4.torgb", TO_RGB, m.group(1)
    elif m := re.fullmatch(r"to_rgbs\.(\d+)\.(.+)", key):
        layer, table, part = f"synthesis.b{8 * 2 ** int(m.group(1))}.torgb", TO_RGB, m.group(2)
    if layer is None:
        return None
    if part in BLUR_BUFFERS:
        return "", _same
    if part not in table:
        return None
    ours, reshape = table[part]
    return f"{layer}.{ours}", reshape


def _check_blur(key: str, t: torch.Tensor, path: str | os.PathLike) -> None:
    taps = torch.tensor(BLUR_TAPS)
    expected = torch.outer(taps, taps) / taps.sum() ** 2 * 4  # make_kernel * factor**2
    if t.shape != expected.shape or not torch.allclose(t.float(), expected, atol=1e-6):
        raise SGError(
            f"{path}: '{key}' is not the [1,3,3,1] blur kernel; other blur kernels are not supported"
        )


def convert_state_dict(
    sd: dict[str, torch.Tensor], path: str | os.PathLike
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Our-named tensors, and for error messages which rosinality key each came from."""
    out: dict[str, torch.Tensor] = {}
    origin: dict[str, str] = {}
    for key, t in sd.items():
        if not isinstance(t, torch.Tensor):
            raise SGError(f"{path}: unexpected non-tensor entry '{key}' in the generator state")
        renamed = _rename(key)
        if renamed is None:
            raise SGError(
                f"{path}: unexpected key '{key}' in the generator state (not a rosinality StyleGAN2 "
                "generator, or a modified one)"
            )
        ours, reshape = renamed
        if ours == "":
            _check_blur(key, t, path)
            continue
        out[ours] = reshape(t.detach().to(torch.float32)).contiguous()
        origin[ours] = key
    return out, origin


# ----------------------------------------------------------------------------------------------------------
# Building the generator.


@torch.no_grad()
def estimate_w_avg(G: Generator, n: int = W_AVG_SAMPLES, seed: int = W_AVG_SEED) -> torch.Tensor:
    """Mean of the mapping over n fixed-seed z: the truncation centre when the file has no `latent_avg`."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, G.z_dim, generator=gen)
    total = torch.zeros(G.w_dim, dtype=torch.float64)
    for chunk in z.split(1000):
        total += G.mapping(chunk, None)[:, 0].sum(dim=0).double()
    return (total / n).float()


def build_from_state(
    sd: dict[str, torch.Tensor],
    cfg: GeneratorConfig,
    latent_avg: torch.Tensor | None,
    what: str,
    path: str | os.PathLike,
) -> tuple[Generator, bool]:
    """Our generator holding a rosinality state dict; also whether w_avg had to be estimated."""
    converted, origin = convert_state_dict(sd, path)
    G = build_generator(cfg)
    own = G.state_dict()
    for ours, t in converted.items():
        if ours not in own:
            raise SGError(
                f"{path}: unexpected key '{origin[ours]}' in {what} (beyond a {cfg.img_resolution} px "
                "generator)"
            )
        if own[ours].shape != t.shape:
            raise SGError(
                f"{path}: {what} '{origin[ours]}' has shape {tuple(sd[origin[ours]].shape)}, which does "
                f"not fit {ours} {tuple(own[ours].shape)}"
            )
    ours_only = {k for k in own if k.endswith("resample_filter") or k == "mapping.w_avg"}
    missing = sorted(set(own) - set(converted) - ours_only)
    if missing:
        raise SGError(
            f"{path}: {what} lacks tensors for {', '.join(missing[:3])}"
            + (" ..." if len(missing) > 3 else "")
        )
    state = {k: converted.get(k, own[k]) for k in own}
    estimated = latent_avg is None
    if latent_avg is not None:
        if not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() != cfg.w_dim:
            shape = (
                tuple(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else type(latent_avg).__name__
            )
            raise SGError(f"{path}: latent_avg has shape {shape}, expected ({cfg.w_dim},)")
        state["mapping.w_avg"] = latent_avg.detach().reshape(-1).to(torch.float32)
    G.load_state_dict(state, strict=True)
    if estimated:
        G.mapping.w_avg.copy_(estimate_w_avg(G))
    return G, estimated


def _state_dict(obj: Any, what: str, path: str | os.PathLike) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict):
        raise SGError(f"{path}: '{what}' is a {type(obj).__name__}, expected a state dict")
    bad = [k for k in obj if not isinstance(k, str)]
    if bad:
        raise SGError(f"{path}: unexpected key {bad[0]!r} in '{what}' (not a state dict)")
    if obj and all(k.startswith("module.") for k in obj):  # saved from DataParallel
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return obj


def _plain_args(args: Any) -> dict[str, Any]:
    """train.py's argparse values that survive JSON (they go into training_state)."""
    if not isinstance(args, argparse.Namespace):
        return {}
    plain = (str, int, float, bool, type(None))
    return {
        k: v
        for k, v in vars(args).items()
        if isinstance(v, plain) or (isinstance(v, (list, tuple)) and all(isinstance(x, plain) for x in v))
    }


def checkpoint_from_rosinality(path: str | os.PathLike) -> Checkpoint:
    """g_ema (and g, when present) as our StyleGAN2 generators; `latent_avg` becomes mapping.w_avg."""
    top = read_rosinality(path)
    if not isinstance(top, dict) or "g_ema" not in top:
        keys = ", ".join(map(str, list(top)[:6])) if isinstance(top, dict) else type(top).__name__
        raise SGError(f"{path}: not a rosinality checkpoint (no 'g_ema' entry; found {keys})")
    args = _plain_args(top.get("args"))
    cm = args.get("channel_multiplier")
    hint_base = ROSINALITY_BASE * cm if isinstance(cm, int) and not isinstance(cm, bool) and cm > 0 else None
    g_ema_sd = _state_dict(top["g_ema"], "g_ema", path)
    layout = infer_layout(g_ema_sd, path, hint_base)
    lr_mlp = args.get("lr_mlp", 0.01)
    cfg = config_from_layout(layout, float(lr_mlp) if isinstance(lr_mlp, (int, float)) else 0.01)
    G_ema, estimated = build_from_state(g_ema_sd, cfg, top.get("latent_avg"), "g_ema", path)
    G = None
    if top.get("g") is not None:
        G, _ = build_from_state(_state_dict(top["g"], "g", path), cfg, None, "g", path)
    training_state = {
        "w_avg_estimated": estimated,
        "rosinality": {
            "size": layout.size,
            "style_dim": layout.style_dim,
            "n_mlp": layout.n_mlp,
            "channel_multiplier": layout.channel_multiplier,
            "not_converted": sorted(str(k) for k in top if k not in ("g_ema", "g", "latent_avg")),
        },
    }
    if estimated:
        training_state["w_avg_estimate"] = {"samples": W_AVG_SAMPLES, "seed": W_AVG_SEED}
    if args:
        training_state["rosinality_args"] = args
    return Checkpoint(
        G_ema=G_ema.eval().requires_grad_(False),
        g_config=cfg,
        G=G,
        D=None,
        training_state=training_state,
        source="rosinality",
    )
