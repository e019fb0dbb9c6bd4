"""Keyframe paths for latent walks: spherical in z (the Gaussian's mass lives on a shell), linear in W.

A path through K keyframes with ``steps`` frames per transition has ``steps*(K-1)+1`` frames, or
``steps*K`` with ``loop`` (the last transition returns to the first keyframe, which is not repeated).
Frames that land on a keyframe are the keyframe itself, bit for bit, not a recomputed blend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from core.errors import SGError

__all__ = [
    "Keyframes",
    "Step",
    "frame_schedule",
    "frames_ws",
    "interpolate",
    "interpolate_noise",
    "latent_keyframes",
    "lerp",
    "seed_keyframes",
    "slerp",
]


@dataclass(frozen=True)
class Step:
    """One frame: blend ``t`` of the way from keyframe ``a`` to keyframe ``b``."""

    a: int
    b: int
    t: float


def frame_schedule(num_keys: int, steps: int, loop: bool = False) -> list[Step]:
    """The frame list for ``num_keys`` keyframes, ``steps`` frames per transition."""
    if num_keys < 2:
        raise SGError(f"interpolation needs at least 2 keyframes (got {num_keys})")
    if steps < 1:
        raise SGError(f"--steps must be >= 1 (got {steps})")
    transitions = num_keys if loop else num_keys - 1
    frames = [Step(k, (k + 1) % num_keys, j / steps) for k in range(transitions) for j in range(steps)]
    if not loop:
        frames.append(Step(num_keys - 1, num_keys - 1, 0.0))
    return frames


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear blend; t is a float or broadcasts against a and b."""
    return a + (b - a) * t


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor | float, eps: float = 1e-7) -> torch.Tensor:
    """Spherical blend along the last dim: the angle is interpolated and the norm linearly, so z stays on
    the shell where N(0, I) samples live; (anti)parallel vectors fall back to a linear blend."""
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    na = a.norm(dim=-1, keepdim=True)
    nb = b.norm(dim=-1, keepdim=True)
    ua = a / na.clamp_min(eps)
    ub = b / nb.clamp_min(eps)
    cos = (ua * ub).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    safe = so.abs() > 1e-6
    so_safe = torch.where(safe, so, torch.ones_like(so))
    wa = torch.where(safe, torch.sin((1 - t) * omega) / so_safe, 1 - t)
    wb = torch.where(safe, torch.sin(t * omega) / so_safe, t)
    direction = wa * ua + wb * ub
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(eps)
    return direction * lerp(na, nb, t)


def interpolate(keys: torch.Tensor, steps: Sequence[Step], method: str = "lerp") -> torch.Tensor:
    """keys [K, ...] -> frames [F, ...] for the given schedule (``method`` 'lerp' or 'slerp')."""
    if method not in ("lerp", "slerp"):
        raise ValueError(f"method must be 'lerp' or 'slerp' (got {method!r})")
    blend = slerp if method == "slerp" else lerp
    out = []
    for s in steps:
        if s.t == 0 or s.a == s.b:
            out.append(keys[s.a].clone())  # exactly the keyframe
        else:
            out.append(blend(keys[s.a], keys[s.b], s.t))
    return torch.stack(out)


def interpolate_noise(
    key_noise: Sequence[Sequence[torch.Tensor]], steps: Sequence[Step]
) -> list[torch.Tensor]:
    """Per-keyframe noise maps (list over keys of lists over layers, each [1,1,r,r]) -> per-layer maps
    [F,1,r,r], blended linearly (mid-way maps have a little less variance than unit noise; fine for walks)."""
    layers = len(key_noise[0])
    out = []
    for i in range(layers):
        keys = torch.cat([kn[i].reshape(1, 1, *kn[i].shape[-2:]) for kn in key_noise])
        out.append(interpolate(keys, steps, "lerp"))
    return out


# ---- keyframes of a walk: seeds or saved latents ---------------------------------------------------


@dataclass
class Keyframes:
    """What gets interpolated: ``keys`` [K, z_dim] (z), [K, w_dim] (w) or [K, num_ws, w_dim] (w+), plus
    labels [K, c_dim] for z, and per-key noise maps (lists of [1,1,r,r]) when any keyframe has its own.
    ``notes`` are things the user should know (said by the command, not printed here)."""

    keys: torch.Tensor
    labels: torch.Tensor | None = None
    noise: list[list[torch.Tensor]] | None = None
    psi: float | None = None
    cutoff: int | None = None
    notes: list[str] = field(default_factory=list)


def seed_keyframes(
    G: torch.nn.Module,
    seeds: list[int],
    space: str,
    psi: float,
    cutoff: int | None,
    noise_mode: str,
    class_idx: int | None,
) -> Keyframes:
    """Keyframes from seeds: z (official convention), or their ws, mapped exactly as `sg sample` does."""
    from core.generate import labels_for, map_z, seed_noise, seeds_to_z

    c = labels_for(G.c_dim, class_idx, len(seeds))
    # 'random': each seed's own maps, as `sg sample --noise-mode random` draws them, blended between keys.
    noise = [seed_noise(G, s) for s in seeds] if noise_mode == "random" else None
    z = seeds_to_z(seeds, G.z_dim)
    if space == "z":
        return Keyframes(z, labels=c, noise=noise, psi=psi, cutoff=cutoff)
    if space == "w":  # interpolate untruncated w; truncation is affine, so it is applied per frame
        return Keyframes(map_z(G, z, c).cpu()[:, 0], noise=noise, psi=psi, cutoff=cutoff)
    return Keyframes(map_z(G, z, c, psi, cutoff).cpu(), noise=noise)


@dataclass
class _Loaded:
    """Every latent of the keyframe files, in order, with the file each came from."""

    ws: list[torch.Tensor] = field(default_factory=list)
    zs: list[torch.Tensor | None] = field(default_factory=list)
    metas: list[dict] = field(default_factory=list)
    noises: list[list[torch.Tensor] | None] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def _load_keyframe_files(G: torch.nn.Module, files: Sequence[Path]) -> _Loaded:
    from core.latents import load_latents, validate_noise

    resolutions = [layer.resolution for layer in G.synthesis.noise_layers()]
    out = _Loaded()
    for path in files:
        lat = load_latents(path, num_ws=G.num_ws, w_dim=G.w_dim)
        maps = validate_noise(lat.noise, resolutions, batch=lat.num) if lat.noise else None
        for i in range(lat.num):
            out.ws.append(lat.w[i])
            out.zs.append(None if lat.z is None else lat.z[i])
            out.metas.append(lat.meta)
            out.noises.append(
                None if maps is None else [m if m.shape[0] == 1 else m[i : i + 1] for m in maps]
            )
            out.names.append(str(path) if lat.num == 1 else f"{path}[{i}]")
    return out


def _keyframe_noise(G: torch.nn.Module, loaded: _Loaded, noise_mode: str, notes: list[str]) -> list | None:
    """Stored maps where keyframes have them; the model's const (or zero) maps fill in for the others."""
    if all(n is None for n in loaded.noises):
        return None
    fill = [layer.noise_const.detach().cpu()[None, None] for layer in G.synthesis.noise_layers()]
    if noise_mode == "none":
        fill = [torch.zeros_like(f) for f in fill]
    if any(n is None for n in loaded.noises):
        kind = "zero" if noise_mode == "none" else "const"
        notes.append(
            f"keyframes without noise maps use the model's {kind} noise, blended with the stored maps"
        )
    return [n if n is not None else fill for n in loaded.noises]


def latent_keyframes(
    G: torch.nn.Module,
    files: Sequence[Path],
    space: str,
    trunc: float | None,
    cutoff: int | None,
    noise_mode: str,
    class_idx: int | None,
) -> Keyframes:
    """Keyframes from .npz files (every latent of every file, in order)."""
    loaded = _load_keyframe_files(G, files)
    notes: list[str] = []
    noise = _keyframe_noise(G, loaded, noise_mode, notes)
    if space == "z":
        return _z_keyframes(G, loaded, trunc, cutoff, class_idx, noise, notes)
    w = torch.stack(loaded.ws)  # [K, num_ws, w_dim]
    if space == "w":
        differ = [
            n for n, x in zip(loaded.names, loaded.ws, strict=True) if not torch.equal(x, x[:1].expand_as(x))
        ]
        if differ:
            notes.append(
                f"{differ[0]}{' and others' if len(differ) > 1 else ''}: ws differ per layer; "
                "--space w uses layer 0 (use --space w+ to keep every layer)"
            )
        return Keyframes(w[:, 0], noise=noise, psi=trunc, cutoff=cutoff, notes=notes)
    return Keyframes(w, noise=noise, psi=trunc, cutoff=cutoff, notes=notes)


def _z_keyframes(
    G: torch.nn.Module,
    loaded: _Loaded,
    trunc: float | None,
    cutoff: int | None,
    class_idx: int | None,
    noise: list | None,
    notes: list[str],
) -> Keyframes:
    """z keyframes need every file's z; psi, cutoff and classes come from the files unless given."""
    from core.generate import check_cutoff, one_hot

    missing = [name for name, z in zip(loaded.names, loaded.zs, strict=True) if z is None]
    if missing:
        raise SGError(f"{missing[0]} has no 'z' (projected latents live in W): use --space w or w+")
    zs, metas = loaded.zs, loaded.metas
    if zs[0].shape[0] != G.z_dim:
        raise SGError(f"{loaded.names[0]}: z has {zs[0].shape[0]} dims but the model expects z_dim={G.z_dim}")
    psi = trunc if trunc is not None else _common_meta(metas, "psi", 1.0, "--trunc")
    if cutoff is None:
        cutoff = check_cutoff(_common_meta(metas, "trunc_cutoff", None, "--trunc-cutoff"), G.num_ws)
    if not G.c_dim:
        labels = torch.zeros(len(zs), 0)
    elif class_idx is not None:
        labels = one_hot([class_idx] * len(zs), G.c_dim)
    else:
        classes = [m.get("class") for m in metas]
        if any(not isinstance(k, int) for k in classes):
            raise SGError(
                f"conditional model: give --class 0..{G.c_dim - 1} (a keyframe's file stores no class)"
            )
        labels = one_hot(classes, G.c_dim)
    return Keyframes(torch.stack(zs), labels=labels, noise=noise, psi=psi, cutoff=cutoff, notes=notes)


def _common_meta(metas: list[dict], key: str, default: object, option: str) -> object:
    """A setting every keyframe file agrees on (e.g. psi), else ask for the option."""
    values = {repr(m.get(key, default)) for m in metas}
    if len(values) > 1:
        raise SGError(f"keyframe files were made with different {key} values; choose one with {option}")
    return metas[0].get(key, default)


def frames_ws(G: torch.nn.Module, kf: Keyframes, space: str, steps: list[Step]) -> torch.Tensor:
    """ws [B, num_ws, w_dim] of a slice of the schedule: slerp in z then mapping, or lerp in W / W+."""
    from core.generate import map_z, retruncate

    if space == "z":
        z = interpolate(kf.keys, steps, "slerp")
        c = interpolate(kf.labels, steps, "lerp")
        return map_z(G, z, c, 1.0 if kf.psi is None else kf.psi, kf.cutoff)
    frames = interpolate(kf.keys, steps, "lerp")
    if space == "w":
        frames = frames[:, None].repeat(1, G.num_ws, 1)
    return retruncate(G, frames, kf.psi, kf.cutoff)


def render_walk(
    G: torch.nn.Module,
    kf: Keyframes,
    space: str,
    schedule: list[Step],
    noise_mode: str,
    batch: int,
    sink,
    advance=lambda n: None,
) -> str:
    """Render every frame of the walk into ``sink`` (core.video) in batches and finish it; any failure
    aborts the sink, so an existing output is never replaced by a partial one. Returns the sink's report."""
    from core.generate import batch_ranges, render_uint8

    try:
        for start, stop in batch_ranges(len(schedule), batch):
            part = schedule[start:stop]
            noise = interpolate_noise(kf.noise, part) if kf.noise is not None else None
            frames = render_uint8(G, frames_ws(G, kf, space, part), noise_mode, noise, batch=stop - start)
            for j, imgs in frames:
                for k, img in enumerate(imgs.numpy()):
                    sink.write(start + j + k, img)
            advance(stop - start)
    except BaseException:
        sink.abort()
        raise
    return sink.finish(len(schedule))
