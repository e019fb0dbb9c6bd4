"""Finding editing directions in W: SeFa, GANSpace, InterFaceGAN boundaries and class-mean differences.

Every method returns unit vectors in W (w_dim). How far to move along one is measured in its ``scale``:
the standard deviation of w projected on it over sampled w (``direction_scales``), so a strength of 1
is one typical step whatever the model.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import SGError
from core.generate import one_hot

__all__ = [
    "style_affines",
    "sefa",
    "sample_w",
    "Moments",
    "w_moments",
    "pca",
    "direction_scales",
    "fit_boundary",
    "orthogonalize",
    "class_means",
]

Advance = Callable[[int], None]


def _noop(_: int = 1) -> None:
    pass


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Eigenvectors have no sign; flip each row so its largest entry is positive, so the same model gives
    the same 'positive' direction whatever the solver or the sample count."""
    idx = np.argmax(np.abs(vectors), axis=1)
    signs = np.sign(vectors[np.arange(vectors.shape[0]), idx])
    return vectors * np.where(signs == 0, 1.0, signs)[:, None]


# --------------------------------------------------------------------------- SeFa


@torch.no_grad()
def style_affines(G: torch.nn.Module) -> list[tuple[int, str, torch.Tensor]]:
    """(w index, module name, weight [channels, w_dim]) of every style affine of the synthesis network.

    Which w index feeds which affine is observed, not hard-coded: the synthesis runs once on ws whose row
    i is the constant i+1, and a hook on each ``*.affine`` layer reads which row it received. So StyleGAN2
    (conv and ToRGB affines, the ToRGB sharing the next block's w) and StyleGAN1 (AdaIN ``adain.affine``)
    are handled by the same code, as is any synthesis that keeps the official module names.
    """
    syn = G.synthesis
    affines = {name: m for name, m in syn.named_modules() if name.split(".")[-1] == "affine"}
    if not affines:
        raise SGError("this model has no style affine layers (synthesis.*.affine); SeFa needs them")
    seen: dict[str, int] = {}

    def hook(name: str):
        def record(_module, inputs, _output) -> None:
            w = inputs[0].detach().float()
            marks = torch.unique(w)
            if marks.numel() == 1:
                seen[name] = int(round(float(marks[0]))) - 1

        return record

    handles = [m.register_forward_hook(hook(name)) for name, m in affines.items()]
    try:
        dev = G.mapping.w_avg.device
        ws = torch.arange(1, G.num_ws + 1, dtype=torch.float32, device=dev)[None, :, None]
        ws = ws.expand(1, G.num_ws, G.w_dim).contiguous()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            syn(ws, noise_mode="none", force_fp32=True)
    finally:
        for h in handles:
            h.remove()
    out = []
    for name, m in affines.items():
        if name not in seen or not 0 <= seen[name] < G.num_ws:
            raise SGError(f"cannot tell which w feeds style affine {name!r}; SeFa needs that")
        out.append((seen[name], f"synthesis.{name}", m.weight.detach().float().cpu()))
    return sorted(out, key=lambda t: t[0])


def sefa(G: torch.nn.Module, layers: Sequence[int]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Closed-form factorisation (Shen & Zhou 2021): the eigenvectors of A^T A, where A stacks the style
    affine weights fed by ``layers``, each output channel's row scaled to unit norm.

    Returns (vectors [w_dim, w_dim] rows sorted by decreasing eigenvalue, eigenvalues, affine names).
    """
    picked = set(layers)
    chosen = [(name, wt) for i, name, wt in style_affines(G) if i in picked]
    if not chosen:
        raise SGError(f"no style affine layers are fed by w layers {sorted(picked)}")
    A = torch.cat([wt for _, wt in chosen]).double()  # [sum of channels, w_dim]
    A = A / A.norm(dim=1, keepdim=True).clamp_min(1e-30)
    values, vectors = torch.linalg.eigh(A.T @ A)  # ascending; columns are eigenvectors
    order = torch.argsort(values, descending=True)
    vecs = vectors[:, order].T.contiguous()
    vecs = vecs / vecs.norm(dim=1, keepdim=True)
    return _fix_signs(vecs.numpy()), values[order].numpy(), [name for name, _ in chosen]


# --------------------------------------------------------------------------- sampling w


@torch.no_grad()
def sample_w(
    G: torch.nn.Module,
    samples: int,
    batch: int = 1024,
    seed: int = 0,
    classes: Sequence[int] | None = None,
) -> Iterator[torch.Tensor]:
    """Stream float32 [B, w_dim] batches of w = mapping(z, c) without truncation, for ``samples`` z drawn
    from RandomState(seed); conditional models get classes drawn uniformly from ``classes`` (default all)
    from a second stream. The same seed gives the same w whatever the batch size."""
    if samples < 1:
        raise SGError(f"--samples must be >= 1 (got {samples})")
    z_rng = np.random.RandomState(seed)
    c_rng = np.random.RandomState([seed, 0xC1A55])
    pool = list(range(G.c_dim)) if classes is None else list(classes)
    dev = G.mapping.w_avg.device
    for start in range(0, samples, batch):
        b = min(batch, samples - start)
        z = torch.from_numpy(z_rng.randn(b, G.z_dim).astype(np.float32))
        if G.c_dim:
            c = one_hot([pool[k] for k in c_rng.randint(0, len(pool), size=b)], G.c_dim)
        else:
            c = torch.zeros(b, 0)
        yield G.mapping(z.to(dev), c.to(dev))[:, 0].float().cpu()


@dataclass
class Moments:
    """Running mean and covariance in float64, accumulated around a fixed shift (the first batch's mean)
    so that large means do not cancel the variance away."""

    n: int = 0
    shift: np.ndarray | None = None
    s1: np.ndarray | None = None
    s2: np.ndarray | None = None

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        if self.shift is None:
            self.shift = x.mean(axis=0)
            self.s1 = np.zeros_like(self.shift)
            self.s2 = np.zeros((x.shape[1], x.shape[1]))
        d = x - self.shift
        self.n += x.shape[0]
        self.s1 += d.sum(axis=0)
        self.s2 += d.T @ d

    @property
    def mean(self) -> np.ndarray:
        return self.shift + self.s1 / self.n

    def cov(self, ddof: int = 1) -> np.ndarray:
        """Sample covariance (ddof=1, as scikit-learn's PCA reports explained variance)."""
        if self.n <= ddof:
            raise SGError(f"need more than {ddof} samples for a covariance (got {self.n})")
        m = self.s1 / self.n
        return (self.s2 - self.n * np.outer(m, m)) / (self.n - ddof)


def w_moments(
    G: torch.nn.Module,
    samples: int,
    batch: int = 1024,
    seed: int = 0,
    classes: Sequence[int] | None = None,
    advance: Advance = _noop,
) -> Moments:
    """Mean and covariance of w over ``samples`` mapped z, streamed in batches (memory stays w_dim^2)."""
    acc = Moments()
    for w in sample_w(G, samples, batch, seed, classes):
        acc.add(w.numpy())
        advance(w.shape[0])
    return acc


def pca(moments: Moments) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """GANSpace (Harkonen et al. 2020): principal components of w.

    Returns (components [w_dim, w_dim] by decreasing variance, explained variance, explained variance
    ratio); the variances sum to the total variance of w and the ratios to 1.
    """
    cov = moments.cov(ddof=1)
    values, vectors = np.linalg.eigh(cov)
    order = np.argsort(values)[::-1]
    values = np.clip(values[order], 0.0, None)
    comps = _fix_signs(vectors[:, order].T)
    total = float(np.trace(cov))
    return np.ascontiguousarray(comps), values, values / total if total > 0 else np.zeros_like(values)


def direction_scales(moments: Moments, vectors: np.ndarray) -> np.ndarray:
    """Std of w along each unit vector over the sampled w: sqrt(d^T C d)."""
    cov = moments.cov(ddof=1)
    v = np.asarray(vectors, dtype=np.float64)
    var = np.einsum("kd,de,ke->k", v, cov, v)
    return np.sqrt(np.clip(var, 0.0, None))


# --------------------------------------------------------------------------- InterFaceGAN boundary


def _split_labels(y: np.ndarray, fraction: float) -> tuple[np.ndarray, np.ndarray, str]:
    """(row indices, 0/1 targets, kind): binary labels as they are (the larger value is positive); a
    continuous score keeps only its top and bottom ``fraction`` as positives and negatives (InterFaceGAN)."""
    distinct = np.unique(y)
    if distinct.size < 2:
        raise SGError(f"labels have a single value ({distinct[0]:g}); a boundary needs two classes")
    if distinct.size == 2:
        return np.arange(y.size), (y == distinct[1]).astype(np.int64), "binary"
    if not 0 < fraction <= 0.5:
        raise SGError(f"--fraction must be in (0, 0.5] (got {fraction})")
    k = max(1, int(math.ceil(fraction * y.size)))
    order = np.argsort(y, kind="stable")
    neg, pos = order[:k], order[-k:]
    idx = np.concatenate([neg, pos])
    return idx, np.concatenate([np.zeros(k, np.int64), np.ones(k, np.int64)]), "continuous"


def fit_boundary(
    w: np.ndarray, y: np.ndarray, fraction: float = 0.2, seed: int = 0, C: float = 1.0
) -> tuple[np.ndarray, dict]:
    """InterFaceGAN (Shen et al. 2020): the unit normal of a linear SVM separating labelled w [N, w_dim],
    pointing towards the positive class; scikit-learn fits it. A held-out 30% reports the accuracy, then
    the final fit uses every chosen row."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    w = np.asarray(w, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if w.ndim != 2 or w.shape[0] != y.size:
        raise SGError(f"boundary: {w.shape[0]} latents but {y.size} labels")
    idx, target, kind = _split_labels(y, fraction)
    counts = np.bincount(target, minlength=2)
    if counts.min() < 2:
        raise SGError(f"boundary: too few examples per class ({counts[0]} negative, {counts[1]} positive)")
    x = w[idx]
    x = x - x.mean(axis=0)  # centred, so the (penalised) intercept stays small

    def fit(xs: np.ndarray, ts: np.ndarray) -> LinearSVC:
        svm = LinearSVC(C=C, dual="auto", max_iter=20000, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return svm.fit(xs, ts)

    info: dict = {"kind": kind, "positives": int(counts[1]), "negatives": int(counts[0])}
    if counts.min() >= 10:
        perm = np.random.RandomState(seed).permutation(idx.size)
        cut = int(round(0.7 * idx.size))
        tr, va = perm[:cut], perm[cut:]
        if np.unique(target[tr]).size == 2:
            info["val_accuracy"] = float(fit(x[tr], target[tr]).score(x[va], target[va]))
    svm = fit(x, target)
    info["train_accuracy"] = float(svm.score(x, target))
    normal = svm.coef_.reshape(-1).astype(np.float64)
    norm = np.linalg.norm(normal)
    if not np.isfinite(norm) or norm == 0:
        raise SGError("boundary: the SVM found no separating direction (are the labels informative?)")
    return normal / norm, info


def orthogonalize(v: np.ndarray, others: Sequence[np.ndarray]) -> np.ndarray:
    """Project ``v`` onto the orthogonal complement of span(others) and renormalise (InterFaceGAN's
    conditional editing: move along v without moving along any of ``others``)."""
    v = np.asarray(v, dtype=np.float64)
    if not others:
        return v / np.linalg.norm(v)
    basis, _ = np.linalg.qr(np.stack([np.asarray(o, dtype=np.float64) for o in others], axis=1))
    for _ in range(2):  # twice: the second pass removes what rounding left of the first
        v = v - basis @ (basis.T @ v)
    norm = np.linalg.norm(v)
    if norm < 1e-8:
        raise SGError("the direction lies in the span of --orthogonal-to; nothing is left after projecting")
    return v / norm


# --------------------------------------------------------------------------- class means


@torch.no_grad()
def class_means(
    G: torch.nn.Module, samples: int, batch: int = 1024, seed: int = 0, advance: Advance = _noop
) -> np.ndarray:
    """Mean w of every class [c_dim, w_dim], each over the same ``samples`` z (so only the class differs)."""
    if not G.c_dim:
        raise SGError("--method class needs a conditional model; this one has no classes")
    rng = np.random.RandomState(seed)
    dev = G.mapping.w_avg.device
    sums = np.zeros((G.c_dim, G.w_dim))
    for start in range(0, samples, batch):
        b = min(batch, samples - start)
        z = torch.from_numpy(rng.randn(b, G.z_dim).astype(np.float32)).to(dev)
        for k in range(G.c_dim):
            c = one_hot([k] * b, G.c_dim).to(dev)
            sums[k] += G.mapping(z, c)[:, 0].double().sum(dim=0).cpu().numpy()
        advance(b)
    return sums / samples
