"""Directions by method, as `sg directions` finds them: SeFa and GANSpace (unsupervised), class means, and
the assembled `Directions` file (unit vectors, their scales in W, layers and a model record)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from core.editing.directions import direction_scales, fit_boundary, orthogonalize, pca, sefa
from core.editing.format import METHODS, Directions, check_name, load_directions, parse_direction_ref
from core.errors import SGError
from core.latents import model_record

Found = tuple[np.ndarray, np.ndarray, list[str], dict]  # vectors [K, w_dim], values [K], names, meta

DEFAULT_SAMPLES = {"ganspace": 100_000}  # GANSpace's PCA wants many samples; the others only need scales
SCALE_SAMPLES = 10_000  # sampled w for each direction's scale (std of w along it)


def check_request(
    method: str | None,
    out: Path | None,
    preview: Path | None,
    num: int,
    name: str | None,
    labels: Path | None,
    orthogonal_to: list[str],
) -> None:
    """The options of `sg directions` that need no model, checked before one is loaded."""
    if method not in METHODS:
        raise SGError(f"--method must be one of {', '.join(METHODS)} (got {method!r})")
    if out is None or out.suffix.lower() != ".npz":
        raise SGError("--out must name the directions file to write, e.g. --out dirs.npz")
    if preview is not None and preview.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise SGError(f"--preview must be a .png or .jpg file (got {preview})")
    if num < 1:
        raise SGError(f"--num must be >= 1 (got {num})")
    if name is not None:
        check_name(name)
    if method == "boundary" and labels is None:
        raise SGError("--method boundary needs --labels labels.csv (rows: latent,label)")
    if method != "boundary" and (labels is not None or orthogonal_to):
        raise SGError("--labels and --orthogonal-to apply to --method boundary only")


def sample_count(method: str, samples: int | None) -> int:
    """How many w to sample: ``--samples`` or the method's default (at least 2, for a spread)."""
    n = samples if samples is not None else DEFAULT_SAMPLES.get(method, SCALE_SAMPLES)
    if n < 2:
        raise SGError(f"--samples must be >= 2 (got {n})")
    return n


def orthogonal_vectors(refs: list[str], w_dim: int) -> list[np.ndarray]:
    """The directions named by ``--orthogonal-to DIRS.npz:NAME`` (float64), checked against ``w_dim``."""
    out = []
    for text in refs:
        ref = parse_direction_ref(text, "--orthogonal-to", allow_strength=False)
        other = load_directions(ref.path)
        if other.w_dim != w_dim:
            raise SGError(f"--orthogonal-to {text}: w_dim {other.w_dim} but the model has w_dim {w_dim}")
        out.append(other.vectors[other.index(ref.key, str(ref.path))].astype(np.float64))
    return out


def boundary_name(labels: Path | None) -> str:
    """A direction name from the labels file's stem ('smile.csv' -> 'smile'), else 'boundary'."""
    stem = re.sub(r"[^A-Za-z0-9_.+-]", "_", labels.stem) if labels is not None else ""
    return stem if stem and re.match(r"^[A-Za-z_]", stem) else "boundary"


def boundary_direction(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int, others: list[np.ndarray], name: str
) -> Found:
    """The InterFaceGAN boundary: a linear SVM's unit normal, made orthogonal to ``others``; its value is
    the held-out accuracy (the training accuracy when too few latents are held out)."""
    normal, info = fit_boundary(x, y, fraction, seed)
    normal = orthogonalize(normal, others)
    held_out = "val_accuracy" in info
    acc = info["val_accuracy"] if held_out else info["train_accuracy"]
    value_name = "val accuracy" if held_out else "train accuracy"
    return normal[None], np.array([acc]), [name], {"value_name": value_name, "svm": info}


def check_class_pair(pair: list[int] | None, c_dim: int, text: str | None) -> None:
    """``--classes A,B``: two classes of the model (checked before the class means are sampled)."""
    if pair is not None and (len(pair) != 2 or max(pair) >= c_dim):
        raise SGError(f"--classes takes two classes A,B within 0..{c_dim - 1} (got {text!r})")


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
