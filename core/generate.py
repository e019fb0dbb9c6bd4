"""Seeds -> latents -> images: the shared core of `sg sample`, `sg mix` and `sg interpolate`.

z for a seed is exactly ``np.random.RandomState(seed).randn(1, z_dim)`` (the official gen_images.py
convention), so a seed names the same image here as in the official code. Rendering is batched and
yields uint8 images batch by batch, so thousands of images stream to disk without filling memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from core import validate
from core.errors import SGError
from core.latents import Latents
from core.networks import truncate
from core.networks.stylegan2 import NOISE_MODES

__all__ = [
    "MAX_SEED",
    "NOISE_MODES",
    "choose_device",
    "seed_to_z",
    "seeds_to_z",
    "one_hot",
    "labels_for",
    "random_classes",
    "map_z",
    "retruncate",
    "seed_noise",
    "seed_latents",
    "take_noise",
    "batch_ranges",
    "render",
    "render_uint8",
]

MAX_SEED = 2**32 - 1  # np.random.RandomState accepts seeds in [0, 2**32)


def check_noise_mode(mode: str, option: str = "--noise-mode") -> str:
    """One of NOISE_MODES (a one-line error instead of a traceback from inside the network)."""
    if mode not in NOISE_MODES:
        raise SGError(f"{option} must be one of {', '.join(NOISE_MODES)} (got {mode!r})")
    return mode


def check_cutoff(cutoff: int | None, num_ws: int) -> int | None:
    """--trunc-cutoff K truncates only ws 0..K-1; K must be within 1..num_ws."""
    if cutoff is not None and not 1 <= cutoff <= num_ws:
        raise SGError(f"--trunc-cutoff must be within 1..{num_ws} for this model (got {cutoff})")
    return cutoff


def check_class(class_idx: int | None, c_dim: int) -> int | None:
    """--class fits the model: none for an unconditional model, 0..c_dim-1 for a conditional one."""
    if class_idx is None:
        return None
    if not c_dim:
        raise SGError(f"--class {class_idx} given but the model is unconditional (no classes)")
    if not 0 <= class_idx < c_dim:
        raise SGError(f"--class {class_idx} is out of range: this model has {c_dim} classes (0..{c_dim - 1})")
    return class_idx


def choose_device(name: str | None = "auto") -> torch.device:
    """'auto' picks CUDA when present, else CPU; asking for CUDA on a machine without it is a user error."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise SGError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SGError(f"device {name!r} requested but CUDA is not available; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SGError(f"device {name!r} does not exist ({torch.cuda.device_count()} CUDA device(s))")
    elif dev.type != "cpu":
        raise SGError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return dev


def _check_seed(seed: int) -> int:
    if not 0 <= int(seed) <= MAX_SEED:
        raise SGError(f"seed {seed} is out of range 0..{MAX_SEED}")
    return int(seed)


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """The official z of a seed: float64 [1, z_dim] from a fresh RandomState."""
    return np.random.RandomState(_check_seed(seed)).randn(1, z_dim)


def seeds_to_z(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """float32 [N, z_dim]; the cast equals the one the mapping network applies to a float64 z."""
    if len(seeds) == 0:
        return torch.zeros(0, z_dim)
    return torch.from_numpy(np.concatenate([seed_to_z(s, z_dim) for s in seeds]).astype(np.float32))


def one_hot(classes: Sequence[int], c_dim: int) -> torch.Tensor:
    """[N, c_dim] one-hot labels (the official conditioning vector)."""
    c = torch.zeros(len(classes), c_dim)
    for i, k in enumerate(classes):
        if not 0 <= int(k) < c_dim:
            raise SGError(f"class {k} is out of range: this model has {c_dim} classes (0..{c_dim - 1})")
        c[i, int(k)] = 1
    return c


def labels_for(c_dim: int, class_idx: int | None, n: int) -> torch.Tensor:
    """Labels for n images of one class; conditional models need a class, unconditional ones refuse one."""
    check_class(class_idx, c_dim)
    if c_dim == 0:
        return torch.zeros(n, 0)
    if class_idx is None:
        raise SGError(f"the model is conditional with {c_dim} classes: give --class 0..{c_dim - 1}")
    return one_hot([class_idx] * n, c_dim)


def random_classes(c_dim: int, n: int, seed: int) -> list[int]:
    """Reproducible random classes for bulk generation; drawn from their own stream, not the z stream."""
    rng = np.random.default_rng([_check_seed(seed), 0x5C1A55])
    return [int(k) for k in rng.integers(0, c_dim, size=n)]


@torch.no_grad()
def map_z(
    G: torch.nn.Module, z: torch.Tensor, c: torch.Tensor, psi: float = 1.0, cutoff: int | None = None
) -> torch.Tensor:
    """z [N,z_dim], c [N,c_dim] -> ws [N,num_ws,w_dim] on the model's device, truncated as asked."""
    dev = G.mapping.w_avg.device
    return G.mapping(z.to(dev), c.to(dev), truncation_psi=psi, truncation_cutoff=cutoff)


def retruncate(
    G: torch.nn.Module, ws: torch.Tensor, psi: float | None, cutoff: int | None = None
) -> torch.Tensor:
    """Pull saved (already mapped) ws towards w_avg; psi None or 1 leaves them exactly as they are."""
    if psi is None or psi == 1:
        return ws
    if cutoff is None:  # the model's own default (StyleGAN1: the first 8 ws)
        cutoff = getattr(G.mapping, "trunc_cutoff", None)
    return truncate(ws, G.mapping.w_avg.to(ws.device), psi, cutoff)


def seed_noise(G: torch.nn.Module, seed: int) -> list[torch.Tensor]:
    """Noise maps [1,1,r,r] drawn from a generator seeded by the image's seed, so that 'random' noise is
    reproducible per seed and independent of batching (and can be stored with --save-latents)."""
    gen = torch.Generator(device="cpu").manual_seed(_check_seed(seed))
    return [
        torch.randn(1, 1, layer.resolution, layer.resolution, generator=gen)
        for layer in G.synthesis.noise_layers()
    ]


def seed_latents(
    G: torch.nn.Module,
    seeds: Sequence[int],
    classes: Sequence[int] | None,
    psi: float = 1.0,
    cutoff: int | None = None,
    noise_mode: str = "const",
) -> Latents:
    """Latents of seeds (w after truncation, z, per-seed noise maps for 'random'), kept on the CPU.

    ``classes`` gives one class per seed for conditional models (None for unconditional ones).
    """
    z = seeds_to_z(seeds, G.z_dim)
    if G.c_dim:
        if classes is None:
            raise SGError(f"the model is conditional with {G.c_dim} classes: give --class 0..{G.c_dim - 1}")
        c = one_hot(classes, G.c_dim)
    else:
        c = torch.zeros(len(seeds), 0)
    ws = map_z(G, z, c, psi, cutoff).cpu()
    noise = None
    if noise_mode == "random":
        per_seed = [seed_noise(G, s) for s in seeds]
        noise = [torch.cat(maps) for maps in zip(*per_seed, strict=True)]
    meta = {
        "space": "w",
        "seeds": [int(s) for s in seeds],
        "psi": psi,
        "trunc_cutoff": cutoff if cutoff is not None else getattr(G.mapping, "trunc_cutoff", None),
        "noise_mode": noise_mode,
        "num_ws": G.num_ws,
        "w_dim": G.w_dim,
        "resolution": G.img_resolution,
    }
    if classes is not None:
        meta["classes"] = [int(k) for k in classes]
    return Latents(w=ws, z=z, noise=noise, meta=meta)


def take_noise(noise: Sequence[torch.Tensor] | None, start: int, stop: int) -> list[torch.Tensor] | None:
    """The rows [start:stop] of per-image noise maps; maps with batch 1 are shared and kept whole."""
    if noise is None:
        return None
    return [n if n.shape[0] == 1 else n[start:stop] for n in noise]


def batch_ranges(n: int, batch: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive batches covering range(n)."""
    validate.at_least("--batch", batch, 1)
    for start in range(0, n, batch):
        yield start, min(start + batch, n)


@torch.no_grad()
def render(
    G: torch.nn.Module,
    ws: torch.Tensor,
    noise_mode: str = "const",
    noise: Sequence[torch.Tensor] | None = None,
    **synthesis_kwargs,
) -> torch.Tensor:
    """ws [N,num_ws,w_dim] (+ optional explicit noise maps) -> float images [N,C,H,W] on the CPU."""
    check_noise_mode(noise_mode, "noise mode")
    dev = G.mapping.w_avg.device
    maps = [n.to(dev) for n in noise] if noise is not None else None
    fast = getattr(G, "fast_path", None)  # set by core.fastpath.attach_fast_path (sg sample --fast)
    if fast is not None and not synthesis_kwargs:
        img = fast.render(ws.to(dev), noise_mode=noise_mode, noise=maps)
    else:
        img = G.synthesis(ws.to(dev), noise_mode=noise_mode, noise=maps, **synthesis_kwargs)
    return img.float().cpu()


def render_uint8(
    G: torch.nn.Module,
    ws: torch.Tensor,
    noise_mode: str = "const",
    noise: Sequence[torch.Tensor] | None = None,
    batch: int = 8,
) -> Iterator[tuple[int, torch.Tensor]]:
    """Render in batches, yielding (start index, uint8 [B,H,W,C]) with the official rounding."""
    from core.images import to_uint8

    for start, stop in batch_ranges(ws.shape[0], batch):
        img = render(G, ws[start:stop], noise_mode, take_noise(noise, start, stop))
        yield start, to_uint8(img)
