"""The statistics behind FID, KID, precision/recall and IS, computed by torch-fidelity on feature arrays.

The official protocols fix what goes in (which features, how many, the subset sizes) and we pass exactly
that: KID's subsets of min(n_real, n_gen, 1000) drawn generated-first from a seeded RandomState as the
official code draws them, PR with k=3 where each set is the manifold of the other, IS in 10 unshuffled
splits. Everything here is float64 numpy in, Python floats out.
"""

from __future__ import annotations

import numpy as np
import torch


def _tensor(x: np.ndarray) -> torch.Tensor:
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"features must be [N, D], got shape {x.shape}")
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased, N-1) covariance of [N, D] features: what FID compares."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    if len(features) < 2:
        raise ValueError("FID needs at least 2 feature vectors per side")
    st = fid_features_to_statistics(_tensor(features))
    return st["mu"], st["sigma"]


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2): the Frechet distance of two Gaussians (FID)."""
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    a = {"mu": np.asarray(mu1, np.float64), "sigma": np.asarray(sigma1, np.float64)}
    b = {"mu": np.asarray(mu2, np.float64), "sigma": np.asarray(sigma2, np.float64)}
    return float(fid_statistics_to_metric(a, b, verbose=False)["frechet_inception_distance"])


def kernel_distance(
    real: np.ndarray, gen: np.ndarray, num_subsets: int = 100, max_subset_size: int = 1000, seed: int = 0
) -> float:
    """KID: the unbiased MMD^2 with the cubic kernel (x.y / D + 1)^3, averaged over `num_subsets` subsets of
    m = min(n_real, n_gen, max_subset_size) generated and m real vectors (drawn in that order)."""
    from torch_fidelity.metric_kid import kid_features_to_metric

    m = min(len(real), len(gen), max_subset_size)
    if m < 2:
        raise ValueError("KID needs at least 2 feature vectors per side")
    out = kid_features_to_metric(
        _tensor(gen), _tensor(real), kid_subsets=num_subsets, kid_subset_size=m, rng_seed=seed, verbose=False
    )
    return float(out["kernel_inception_distance_mean"])


def precision_recall(
    real: np.ndarray,
    gen: np.ndarray,
    k: int = 3,
    batch: int | None = None,
    device: str | torch.device = "cpu",
) -> tuple[float, float]:
    """Improved precision/recall (Kynkaanniemi et al. 2019): the share of generated vectors inside the real
    manifold (each real vector's ball reaching its k-th nearest real neighbour), and the other way round.
    Distances are computed on `device` (the official code uses the GPU) in row blocks of `batch`."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    if min(len(real), len(gen)) <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} vectors per side")
    if batch is None:  # rows per distance block [rows, N] of float64: about 2 GB at most
        batch = int(np.clip((1 << 28) // max(len(real), len(gen)), 1, 10000))
    out = prc_features_to_metric(
        _tensor(gen).to(device),
        _tensor(real).to(device),
        prc_neighborhood=k,
        prc_batch_size=batch,
        save_cpu_ram=True,
        verbose=False,
    )
    return float(out["precision"]), float(out["recall"])


def inception_score(logits: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """IS: exp(E KL(p(y|x) || p(y))) per consecutive split of softmax(logits), then mean and std."""
    from torch_fidelity.metric_isc import isc_features_to_metric

    if len(logits) < splits:
        raise ValueError(f"IS with {splits} splits needs at least {splits} images")
    out = isc_features_to_metric(_tensor(logits), splits=splits, shuffle=False)
    return float(out["inception_score_mean"]), float(out["inception_score_std"])
