"""The official metrics by name (StyleGAN2-ADA's metric_main), and one runner that computes any set of them.

Each protocol fixes the number of generated images, how many real images (None: the whole dataset, in
order, without x-flips), and its parameters. Generated images are drawn once from a seeded CPU generator
and fed to every network that needs them (the official code draws anew per metric: the same distribution);
real features come from the per-dataset cache. `num_gen` / `max_real` shrink a protocol for quick looks,
and the result then says "reduced" instead of "official".
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.data.progress import make_progress
from core.errors import SGError
from core.metrics.realstats import real_features


@dataclass(frozen=True)
class Protocol:
    """One named metric: what it measures (`kind`), with how many images, and its parameters."""

    name: str
    kind: str  # fid | kid | pr | is | ppl | swd
    num_gen: int
    max_real: int | None = None  # None: every real image
    params: dict[str, Any] = field(default_factory=dict)


_PPL = {"epsilon": 1e-4, "batch": 2}
PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in [
        Protocol("fid50k_full", "fid", 50000, None),
        Protocol("kid50k_full", "kid", 50000, 1_000_000, {"num_subsets": 100, "max_subset_size": 1000}),
        Protocol("pr50k3_full", "pr", 50000, 200_000, {"k": 3}),
        Protocol("ppl2_wend", "ppl", 50000, 0, {**_PPL, "space": "w", "sampling": "end", "crop": False}),
        Protocol("is50k", "is", 50000, 0, {"splits": 10}),
        # Legacy names (StyleGAN2 TF): 50k reals at most, x-flips as the dataset has them; PPL with the crop.
        Protocol("fid50k", "fid", 50000, 50000),
        Protocol("kid50k", "kid", 50000, 50000, {"num_subsets": 100, "max_subset_size": 1000}),
        Protocol("pr50k3", "pr", 50000, 50000, {"k": 3}),
        Protocol("ppl_zfull", "ppl", 50000, 0, {**_PPL, "space": "z", "sampling": "full", "crop": True}),
        Protocol("ppl_wfull", "ppl", 50000, 0, {**_PPL, "space": "w", "sampling": "full", "crop": True}),
        Protocol("ppl_zend", "ppl", 50000, 0, {**_PPL, "space": "z", "sampling": "end", "crop": True}),
        Protocol("ppl_wend", "ppl", 50000, 0, {**_PPL, "space": "w", "sampling": "end", "crop": True}),
        # Ours: needs no pretrained network (ProGAN's SWD, 8192 random reals vs 8192 generated).
        Protocol("swd", "swd", 8192, 8192),
    ]
}
DETECTOR = {"fid": "inception", "kid": "inception", "is": "inception", "pr": "vgg16", "ppl": "lpips"}


def parse_metrics(spec: str) -> list[Protocol]:
    """'fid50k_full,kid50k_full' -> protocols, in order, without repeats; unknown names: one line."""
    names = [s.strip() for s in str(spec).split(",") if s.strip()]
    if not names:
        raise SGError(f"--metric is empty; choose from {', '.join(PROTOCOLS)}")
    bad = [n for n in names if n not in PROTOCOLS]
    if bad:
        raise SGError(f"unknown metric {bad[0]!r}; available: {', '.join(PROTOCOLS)}")
    return [PROTOCOLS[n] for n in dict.fromkeys(names)]


@dataclass
class MetricOptions:
    """How to run the protocols: counts (None: official), batch, seed, device, weights and cache folders."""

    num_gen: int | None = None
    max_real: int | None = None
    batch: int = 32
    seed: int = 0
    psi: float = 1.0
    device: str | torch.device = "cpu"
    weights_dir: str | os.PathLike | None = None
    cache_dir: str | os.PathLike | None = None
    random_networks: bool = False  # random weights of the right shapes: tests and smoke runs only
    progress: bool = True


def counts(p: Protocol, num_images: int, opts: MetricOptions) -> tuple[int, int]:
    """(generated, real) image counts for protocol `p` on a dataset of `num_images`."""
    n_gen = p.num_gen if opts.num_gen is None else int(opts.num_gen)
    if p.kind == "swd":
        n_gen = min(n_gen, num_images)
        return n_gen, n_gen
    n_real = num_images if p.max_real is None else min(p.max_real, num_images)
    if opts.max_real is not None and p.max_real != 0:
        n_real = min(n_real, int(opts.max_real))
    return n_gen, n_real


def _one_hot_labels(ds) -> np.ndarray | None:
    """The dataset's labels as one-hot rows (conditional models draw theirs from these), or None."""
    labels = ds.labels
    if labels is None or not ds.num_classes:
        return None
    return np.eye(ds.num_classes, dtype=np.float32)[labels]


@torch.no_grad()
def generated_batches(
    G: torch.nn.Module, n: int, batch: int, psi: float, seed: int, labels: np.ndarray | None = None
) -> Iterator[torch.Tensor]:
    """uint8 [b, C, H, W] batches of G's images for latents drawn up front from a CPU generator seeded with
    `seed` (the same images on any device, for any batch size); conditioning drawn from `labels`' rows."""
    gen = torch.Generator().manual_seed(seed)
    dev = next(G.parameters()).device
    zs = torch.randn(n, int(G.z_dim), generator=gen)
    c_dim = int(getattr(G, "c_dim", 0) or 0)
    cs = torch.zeros(n, c_dim)
    if c_dim > 0:
        if labels is None:
            raise SGError("the model is conditional but the dataset has no labels to draw conditioning from")
        cs = torch.as_tensor(labels[torch.randint(0, len(labels), (n,), generator=gen).numpy()])
    for s in range(0, n, batch):
        z, c = zs[s : s + batch].to(dev), cs[s : s + batch].to(dev)
        img = G(z, c, truncation_psi=psi, noise_mode="const")
        yield (img.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu()


class _Nets:
    """Feature networks built on first use, so a run only loads (and needs weights for) what it uses."""

    def __init__(self, opts: MetricOptions) -> None:
        self.opts, self.cache = opts, {}

    def __call__(self, name: str):
        if name not in self.cache:
            from core.metrics import features

            build = {"inception": features.inception, "vgg16": features.vgg16, "lpips": features.lpips_vgg}[
                name
            ]
            self.cache[name] = build(self.opts.weights_dir, self.opts.random_networks, self.opts.device)
        return self.cache[name]


def check_weights(protocols: list[Protocol], opts: MetricOptions) -> None:
    """Resolve every pretrained file the protocols need before any work (download or one-line error)."""
    import importlib.util

    kinds = {p.kind for p in protocols}
    if kinds & {"fid", "kid", "pr", "is"} and importlib.util.find_spec("torch_fidelity") is None:
        raise SGError("FID, KID, PR and IS need torch-fidelity: pip install 'torch-fidelity>=0.4,<0.5'")
    if opts.random_networks:
        return
    from core.metrics.features import weights_needed
    from core.metrics.pretrained import weights_path

    for f in weights_needed({DETECTOR[p.kind] for p in protocols if p.kind in DETECTOR}):
        weights_path(f, opts.weights_dir)


def compute_metrics(
    protocols: list[Protocol],
    G: torch.nn.Module,
    ds,
    opts: MetricOptions,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, dict[str, Any]]:
    """{metric name: {"values": {official key: float}, "num_gen", "num_real", "protocol", "seconds"}}.
    Without TF32 anywhere (generator and feature networks), as the official calc_metrics runs."""
    from core.metrics.features import full_fp32

    with full_fp32():
        return _compute(protocols, G, ds, opts, log)


def _compute(protocols, G, ds, opts: MetricOptions, log: Callable[[str], None]) -> dict[str, dict[str, Any]]:
    check_weights(protocols, opts)
    G = G.eval()
    nets = _Nets(opts)
    results: dict[str, dict[str, Any]] = {}
    feature_protocols = [p for p in protocols if p.kind in ("fid", "kid", "is", "pr")]

    # Generated features: one pass over max(num_gen) images, fed to each network that still needs some.
    want: dict[str, int] = {}
    for p in feature_protocols:
        det = DETECTOR[p.kind]
        want[det] = max(want.get(det, 0), counts(p, ds.num_images, opts)[0])
    gen_feats: dict[str, dict[str, list[np.ndarray]]] = {d: {} for d in want}
    t0 = time.perf_counter()
    if want:
        total = max(want.values())
        with make_progress(opts.progress) as bar:
            task = bar.add_task("generated images", total=total)
            done = 0
            for imgs in generated_batches(G, total, opts.batch, opts.psi, opts.seed, _one_hot_labels(ds)):
                for det, n in want.items():
                    if done < n:
                        for k, v in nets(det)(imgs[: n - done]).items():
                            gen_feats[det].setdefault(k, []).append(v.numpy().astype(np.float64))
                done += imgs.shape[0]
                bar.advance(task, imgs.shape[0])
    gen = {d: {k: np.concatenate(v) for k, v in f.items()} for d, f in gen_feats.items()}
    gen_s = time.perf_counter() - t0

    # Real features: the first max(max_real) images per network, from the cache when it has them.
    real_want: dict[str, int] = {}
    for p in feature_protocols:
        n_real = counts(p, ds.num_images, opts)[1]
        if p.kind != "is":
            det = DETECTOR[p.kind]
            real_want[det] = max(real_want.get(det, 0), n_real)
    real: dict[str, dict[str, np.ndarray]] = {}
    for det, n in real_want.items():
        with make_progress(opts.progress) as bar:
            task = bar.add_task(f"real images ({det})", total=n)
            feats, path, hit = real_features(
                ds, nets(det), n, opts.batch, opts.cache_dir, on_batch=lambda k, t=task: bar.advance(t, k)
            )
        log(f"real {det} features of {n} images: {'cached' if hit else 'computed, cached'} in {path}")
        real[det] = feats

    for p in protocols:
        t1 = time.perf_counter()
        n_gen, n_real = counts(p, ds.num_images, opts)
        values = _evaluate(p, G, ds, opts, nets, gen, real, n_gen, n_real)
        official = (n_gen, n_real) == counts(p, ds.num_images, MetricOptions())
        shared = gen_s if p.kind in ("fid", "kid", "is", "pr") else 0.0
        results[p.name] = {
            "values": values,
            "num_gen": n_gen,
            "num_real": 0 if p.kind in ("is", "ppl") else n_real,
            "protocol": "official" if official else "reduced",
            "seconds": round(time.perf_counter() - t1 + shared, 3),
        }
    return results


def _evaluate(p: Protocol, G, ds, opts: MetricOptions, nets, gen, real, n_gen: int, n_real: int) -> dict:
    """The values of one protocol, under the official result keys."""
    from core.metrics import stats

    if p.kind == "fid":
        mu_g, s_g = stats.feature_statistics(gen["inception"]["pool"][:n_gen])
        mu_r, s_r = stats.feature_statistics(real["inception"]["pool"][:n_real])
        return {p.name: stats.frechet_distance(mu_r, s_r, mu_g, s_g)}
    if p.kind == "kid":
        kid = stats.kernel_distance(
            real["inception"]["pool"][:n_real], gen["inception"]["pool"][:n_gen], seed=opts.seed, **p.params
        )
        return {p.name: kid}
    if p.kind == "pr":
        prec, rec = stats.precision_recall(
            real["vgg16"]["fc2"][:n_real], gen["vgg16"]["fc2"][:n_gen], device=opts.device, **p.params
        )
        return {f"{p.name}_precision": prec, f"{p.name}_recall": rec}
    if p.kind == "is":
        mean, std = stats.inception_score(gen["inception"]["logits"][:n_gen], **p.params)
        return {f"{p.name}_mean": mean, f"{p.name}_std": std}
    if p.kind == "ppl":
        return {p.name: _ppl(p, G, ds, opts, nets, n_gen)}
    if p.kind == "swd":
        return _swd(G, ds, opts, n_gen)
    raise AssertionError(p.kind)


def _ppl(p: Protocol, G, ds, opts: MetricOptions, nets, n_gen: int) -> float:
    """Perceptual path length over ``n_gen`` sampled pairs, LPIPS as the distance."""
    from core.metrics.ppl import ppl

    lp = nets("lpips")
    with make_progress(opts.progress) as bar:
        task = bar.add_task(p.name, total=n_gen)
        value, _ = ppl(
            G,
            lambda a, b: lp(a, b),
            num=n_gen,
            seed=opts.seed,
            labels=_one_hot_labels(ds),
            on_batch=lambda k: bar.advance(task, k),
            **p.params,
        )
    return value


def _swd(G, ds, opts: MetricOptions, n_gen: int) -> dict:
    """SWD x1e3 per Laplacian pyramid level and their mean, ``n_gen`` real vs ``n_gen`` generated images."""
    from core.metrics.swd import generate_images, pyramid_sizes, swd

    pick = np.sort(np.random.default_rng(opts.seed).choice(ds.num_images, size=n_gen, replace=False))
    reals, _ = ds.get_batch(pick)
    with make_progress(opts.progress) as bar:
        task = bar.add_task("generating (swd)", total=n_gen)
        fakes = generate_images(
            G,
            n_gen,
            batch=opts.batch,
            psi=opts.psi,
            seed=opts.seed,
            on_batch=lambda k: bar.advance(task, k),
        )
    if fakes.shape[1:] != reals.shape[1:]:
        raise SGError(
            f"generator makes {tuple(fakes.shape[1:])} images but the data is {tuple(reals.shape[1:])}"
        )
    vals = swd(reals, fakes, seed=opts.seed, device=opts.device, progress=opts.progress)
    sizes = pyramid_sizes(reals.shape[2], reals.shape[3])
    out = {f"swd_{h}x{w}": v for (h, w), v in zip(sizes, vals[:-1], strict=True)}
    out["swd_mean"] = vals[-1]
    return out
