"""Directions by method, as `sg directions` finds them: SeFa and GANSpace (unsupervised), class means, and
the assembled `Directions` file (unit vectors, their scales in W, layers and a model record)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.editing.directions import direction_scales, pca, sefa
from core.editing.format import Directions
from core.errors import SGError
from core.latents import model_record

Found = tuple[np.ndarray, np.ndarray, list[str], dict]  # vectors [K, w_dim], values [K], names, meta


def sefa_directions(G: torch.nn.Module, picked: list[int], num: int) -> Found:
    """The top ``num`` eigenvectors of the picked layers' style affines (SeFa)."""
    vecs, values, affines = sefa(G, picked)
    k = min(num, vecs.shape[0])
    return (
        vecs[:k],
        values[:k],
        [f"sefa{i}" for i in range(k)],
        {"value_name": "eigenvalue", "affines": affines},
    )


def ganspace_directions(moments: object, num: int) -> Found:
    """The top ``num`` principal components of sampled w (GANSpace)."""
    comps, var, ratio = pca(moments)
    k = min(num, comps.shape[0])
    meta = {
        "value_name": "explained variance",
        "explained_variance_ratio": [float(r) for r in ratio[:k]],
        "total_variance": float(var.sum()),
    }
    return comps[:k], var[:k], [f"pc{i}" for i in range(k)], meta


def class_directions(means: np.ndarray, pair: list[int] | None) -> Found:
    """From class A's mean w to B's (``pair``), or from the overall mean to each class's."""
    if pair is not None:
        a, b = pair
        steps = [(means[a], means[b], f"class{a}_to_{b}")]
    else:
        steps = [(means.mean(axis=0), means[k], f"class{k}") for k in range(means.shape[0])]
    vecs, values, names = [], [], []
    for src, dst, name in steps:
        diff = dst - src
        if np.linalg.norm(diff) == 0:
            raise SGError(f"{name}: the class means are equal; no direction")
        vecs.append(diff / np.linalg.norm(diff))
        values.append(np.linalg.norm(diff))
        names.append(name)
    return np.stack(vecs), np.array(values), names, {"value_name": "mean distance"}


def assemble_directions(
    G: torch.nn.Module,
    method: str,
    found: Found,
    picked: list[int],
    moments: object,
    settings: dict,
    model_path: str | Path,
) -> Directions:
    """The directions file's contents: vectors with their scale in W, the layers they apply to, records."""
    vecs, values, names, meta = found
    vecs = np.asarray(vecs, dtype=np.float64)
    scale = direction_scales(moments, vecs)
    meta = dict(meta)
    if method == "class":  # strength = distance / scale moves the mean of A onto the mean of B
        meta["full_strength"] = [float(v / s) if s > 0 else None for v, s in zip(values, scale, strict=True)]
    mask = np.zeros((len(names), G.num_ws), dtype=bool)
    mask[:, picked] = True
    return Directions(
        vectors=vecs.astype(np.float32),
        names=names,
        layers=mask,
        scale=scale.astype(np.float32),
        values=np.asarray(values, dtype=np.float64),
        method=method,
        meta={**meta, **model_record(model_path), "num_ws": G.num_ws, "w_dim": G.w_dim, "settings": settings},
    )
