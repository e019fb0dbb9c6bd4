"""Edits as `sg edit` makes them: the latents to edit (files and seeds), the directions resolved against
their files, and the edited latents in the shared npz format (stored noise kept, edits recorded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from core.editing.apply import Edit, check_directions_fit
from core.editing.format import Directions, load_directions, parse_direction_ref
from core.errors import SGError
from core.generate import NOISE_MODES, check_class, seed_latents
from core.latents import Latents, load_latents, model_record, validate_noise
from core.mixing import parse_layers


@dataclass
class Source:
    """One latent to edit: w [1, num_ws, w_dim], its noise maps (or None), how to render it, its meta."""

    label: str
    w: torch.Tensor
    noise: list[torch.Tensor] | None
    noise_mode: str
    meta: dict


def edit_sources(
    G: torch.nn.Module,
    files: list[Path],
    seeds: list[int],
    class_idx: int | None,
    psi: float,
    noise_mode: str,
) -> list[Source]:
    """Latents from .npz files (every latent in each, with its stored noise maps) and from seeds."""
    out: list[Source] = []
    res = [layer.resolution for layer in G.synthesis.noise_layers()]
    for path in files:
        lat = load_latents(path, num_ws=G.num_ws, w_dim=G.w_dim)
        noise = validate_noise(lat.noise, res, batch=lat.num) if lat.noise else None
        stored = lat.meta.get("noise_mode")
        mode = stored if stored in NOISE_MODES else "const"
        for i in range(lat.num):
            label = path.stem if lat.num == 1 else f"{path.stem}_{i:02d}"
            maps = None if noise is None else [n if n.shape[0] == 1 else n[i : i + 1] for n in noise]
            out.append(Source(label, lat.w[i : i + 1], maps, mode, dict(lat.meta)))
    if seeds:
        check_class(class_idx, G.c_dim)
        if G.c_dim and class_idx is None:
            raise SGError(f"the model is conditional with {G.c_dim} classes: give --class 0..{G.c_dim - 1}")
        classes = [class_idx] * len(seeds) if G.c_dim else None
        lat = seed_latents(G, seeds, classes, psi, None, noise_mode)
        for i, s in enumerate(seeds):
            maps = None if lat.noise is None else [n[i : i + 1] for n in lat.noise]
            meta = {**lat.meta, "seeds": [s]}
            if classes:
                meta["classes"] = [classes[i]]
            out.append(Source(f"seed{s:04d}", lat.w[i : i + 1], maps, noise_mode, meta))
    return out


def resolve_edits(
    G: torch.nn.Module, refs: list[str], layers: str | None, hashes: list[str], any_model: bool
) -> list[Edit]:
    """Resolve every --direction against its file, checking the file fits this model."""
    cache: dict[Path, Directions] = {}
    override = parse_layers(layers, G.num_ws) if layers is not None else None
    edits = []
    for text in refs:
        ref = parse_direction_ref(text)
        if ref.path not in cache:
            dirs = load_directions(ref.path)
            check_directions_fit(dirs, G.w_dim, G.num_ws, hashes, str(ref.path), force=any_model)
            cache[ref.path] = dirs
        dirs = cache[ref.path]
        i = dirs.index(ref.key, str(ref.path))
        picked = override if override is not None else [j for j, on in enumerate(dirs.layers[i]) if on]
        edits.append(
            Edit(
                name=dirs.names[i],
                vector=torch.from_numpy(dirs.vectors[i].copy()),
                scale=float(dirs.scale[i]),
                layers=picked,
                strength=ref.strength,
                source=f"{ref.path}:{dirs.names[i]}",
            )
        )
    return edits


def at_strength(edits: list[Edit], t: float | None) -> list[tuple[Edit, float]]:
    """(edit, strength) pairs at sweep position t: fixed strengths stay, swept ones take t."""
    return [(e, e.strength if e.strength is not None else float(t or 0.0)) for e in edits]


def _filled_noise(G: torch.nn.Module, src: Source) -> list[torch.Tensor]:
    """A source's noise as explicit maps: stored ones, else what its mode renders with (const / zeros), so
    latents of mixed origins can share one file and still re-render exactly."""
    if src.noise is not None:
        return src.noise
    layers = G.synthesis.noise_layers()
    if src.noise_mode == "none":
        return [torch.zeros(1, 1, layer.resolution, layer.resolution) for layer in layers]
    if src.noise_mode == "random":
        raise SGError(f"{src.label}: noise mode 'random' without stored maps cannot be saved reproducibly")
    return [
        layer.noise_const.detach().float().cpu().reshape(1, 1, *layer.noise_const.shape) for layer in layers
    ]


def edited_latents(
    G: torch.nn.Module, rows: list[tuple[Source, torch.Tensor, list[tuple[Edit, float]]]], model: Path
) -> Latents:
    """Edited latents in the shared format: stored noise kept, each row's edits recorded."""
    w = torch.cat([w for _, w, _ in rows])
    any_maps = any(src.noise is not None for src, _, _ in rows)
    modes = {src.noise_mode for src, _, _ in rows}
    noise = None
    if any_maps or len(modes) > 1:
        per = [_filled_noise(G, src) for src, _, _ in rows]
        noise = [torch.cat(maps) for maps in zip(*per, strict=True)]
    first = rows[0][0].meta
    meta = {k: first[k] for k in ("psi", "tuned_from") if k in first}
    meta.update(
        space="w" if bool(torch.all(w == w[:, :1])) else "w+",
        num_ws=G.num_ws,
        w_dim=G.w_dim,
        resolution=G.img_resolution,
        noise_mode=modes.pop() if noise is None else "const",
        edits=[
            {"source": src.label, "edits": [e.record(s) for e, s in pairs if s != 0]}
            for src, _, pairs in rows
        ],
    )
    meta.update(model_record(model))  # the model that rendered the edit (e.g. a PTI-tuned one)
    return Latents(w=w, noise=noise, meta=meta)
