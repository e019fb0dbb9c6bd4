"""FID, KID, precision/recall, IS and PPL: the statistics against independent scipy/numpy formulas, the
feature networks with random weights of the real shapes, the weights rule and its offline error, the
real-feature cache, results files, `sg metrics --compare`. No pretrained weights are needed."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from scipy.spatial.distance import cdist

from core.errors import SGError
from core.metrics import stats
from core.metrics.pretrained import INCEPTION, VGG16, hub_checkpoint_path, weights_path

# ----------------------------------------------------------------------------- statistics


def _features(n: int, d: int, seed: int, shift: float = 0.0, scale: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)  # correlated dimensions: a full covariance
    return (rng.standard_normal((n, d)) @ mix) * scale + shift


def test_frechet_distance_matches_scipy_sqrtm():
    a, b = _features(300, 12, 0), _features(200, 12, 1, shift=0.3, scale=1.4)
    mu_a, s_a = stats.feature_statistics(a)
    mu_b, s_b = stats.feature_statistics(b)
    np.testing.assert_allclose(mu_a, a.mean(0), rtol=1e-12)
    np.testing.assert_allclose(s_a, np.cov(a, rowvar=False), rtol=1e-12)  # N - 1, as the official FID
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    expected = np.sum((mu_a - mu_b) ** 2) + np.trace(s_a + s_b - 2 * covmean)
    got = stats.frechet_distance(mu_a, s_a, mu_b, s_b)
    assert got == pytest.approx(expected, rel=1e-6)
    assert expected > 1.0  # the two sets really differ
    assert stats.frechet_distance(mu_a, s_a, mu_a, s_a) == pytest.approx(0.0, abs=1e-6)


def _kid_reference(real, gen, num_subsets, max_subset_size, seed):
    """The official KID: unbiased MMD^2, cubic kernel, generated subset drawn before the real one."""
    n = real.shape[1]
    m = min(len(real), len(gen), max_subset_size)
    rng = np.random.RandomState(seed)
    t = 0.0
    for _ in range(num_subsets):
        x = gen[rng.choice(len(gen), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        a = (x @ x.T / n + 1) ** 3 + (y @ y.T / n + 1) ** 3
        b = (x @ y.T / n + 1) ** 3
        t += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return t / num_subsets / m


@pytest.mark.parametrize("max_subset", [20, 1000])  # a real subset size, and one capped by the set sizes
def test_kid_is_the_official_unbiased_mmd(max_subset):
    real, gen = _features(60, 16, 2), _features(45, 16, 3, shift=1.0)
    got = stats.kernel_distance(real, gen, num_subsets=7, max_subset_size=max_subset, seed=5)
    assert got == pytest.approx(_kid_reference(real, gen, 7, max_subset, 5), rel=1e-6)
    assert got > 0
    same = stats.kernel_distance(
        real, _features(45, 16, 7), num_subsets=7, max_subset_size=max_subset, seed=5
    )
    assert abs(same) < got / 10  # another draw of the same distribution: near zero


def _pr_reference(real, gen, k):
    """k-NN precision/recall from full scipy distance matrices."""
    kth_real = np.sort(cdist(real, real), axis=1)[:, k]  # index 0 is the point itself
    kth_gen = np.sort(cdist(gen, gen), axis=1)[:, k]
    d = cdist(gen, real)
    precision = np.mean((d <= kth_real[None, :]).any(axis=1))
    recall = np.mean((d.T <= kth_gen[None, :]).any(axis=1))
    return precision, recall


def test_precision_recall_matches_scipy_knn():
    real, gen = _features(80, 10, 4), _features(70, 10, 5, shift=0.8, scale=0.6)
    prec, rec = stats.precision_recall(real, gen, k=3, batch=16)  # several row/column batches
    exp_p, exp_r = _pr_reference(real, gen, 3)
    assert prec == pytest.approx(exp_p, abs=1e-6) and rec == pytest.approx(exp_r, abs=1e-6)
    assert 0 < prec < 1 and 0 < rec < 1  # a case where neither is trivial
    assert stats.precision_recall(real, real.copy(), k=3) == (1.0, 1.0)
    assert stats.precision_recall(real, real + 100.0, k=3) == (0.0, 0.0)


def test_inception_score_matches_numpy():
    logits = np.random.default_rng(6).standard_normal((50, 30)) * 3
    mean, std = stats.inception_score(logits, splits=5)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for part in np.array_split(p, 5):  # consecutive, unshuffled splits as the official IS
        kl = part * (np.log(part) - np.log(part.mean(0, keepdims=True)))
        scores.append(np.exp(kl.sum(1).mean()))
    assert mean == pytest.approx(np.mean(scores), rel=1e-6)
    assert std == pytest.approx(np.std(scores), rel=1e-6)


# ----------------------------------------------------------------------------- weights rule


@pytest.fixture
def empty_hub(tmp_path, monkeypatch):
    """A torch hub cache with nothing in it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.delenv("SG_OFFLINE", raising=False)
    return tmp_path / "torch-home" / "hub" / "checkpoints"


def test_offline_error_names_the_missing_file_and_where_it_goes(empty_hub, monkeypatch, tmp_path):
    import core.metrics.pretrained as pre

    monkeypatch.setenv("SG_OFFLINE", "1")
    monkeypatch.setattr(pre, "download", lambda url, dest: pytest.fail("no download when offline"))
    with pytest.raises(SGError) as err:
        weights_path(INCEPTION)
    msg = str(err.value)
    assert "\n" not in msg and INCEPTION.filename in msg and INCEPTION.url in msg
    assert str(empty_hub / INCEPTION.filename) in msg and "--weights-dir" in msg and "SG_OFFLINE" in msg
    wdir = tmp_path / "weights"
    wdir.mkdir()
    with pytest.raises(SGError, match=str(wdir / VGG16.filename)):
        weights_path(VGG16, wdir)


def test_weights_dir_then_cache_then_download(empty_hub, monkeypatch, tmp_path):
    import core.metrics.pretrained as pre

    fetched = []

    def fake_download(url, dest):
        fetched.append(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(b"weights")

    monkeypatch.setattr(pre, "download", fake_download)
    assert weights_path(VGG16) == hub_checkpoint_path(VGG16.filename) == empty_hub / VGG16.filename
    assert weights_path(VGG16) == empty_hub / VGG16.filename and fetched == [VGG16.url]  # cached now
    wdir = tmp_path / "w"
    wdir.mkdir()
    (wdir / VGG16.filename).write_bytes(b"mine")
    assert weights_path(VGG16, wdir) == wdir / VGG16.filename  # --weights-dir first

    def no_network(url, dest):
        raise OSError("Name or service not known")

    monkeypatch.setattr(pre, "download", no_network)
    with pytest.raises(SGError, match="download failed: Name or service not known"):
        weights_path(INCEPTION)


# ----------------------------------------------------------------------------- feature networks


@pytest.fixture(scope="module")
def random_inception():
    from core.metrics.features import inception

    torch.manual_seed(0)
    return inception(random_init=True)


def test_inception_random_weights_shapes_and_loading(random_inception, tmp_path, monkeypatch):
    """Shapes of the real network; grayscale = its RGB copy; a weights file in --weights-dir is read
    (weights_only) and gives the same features as the network it was saved from."""
    from core.metrics.features import inception

    monkeypatch.setenv("SG_OFFLINE", "1")
    imgs = torch.randint(
        0, 256, (3, 1, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8
    )
    out = random_inception(imgs)
    assert out["pool"].shape == (3, 2048) and out["logits"].shape == (3, 1008)
    assert torch.isfinite(out["pool"]).all() and out["pool"].std() > 0
    rgb = random_inception(imgs.expand(-1, 3, -1, -1).contiguous())
    torch.testing.assert_close(out["pool"], rgb["pool"])
    one = random_inception(imgs[1:2])
    torch.testing.assert_close(one["pool"], out["pool"][1:2], atol=1e-4, rtol=1e-4)  # batch independent

    wdir = tmp_path / "weights"
    wdir.mkdir()
    sd = random_inception.module.state_dict()
    torch.save(sd, wdir / INCEPTION.filename)
    loaded = inception(weights_dir=wdir)
    assert loaded.identity.startswith(f"inception-v3/{INCEPTION.filename}:")
    torch.testing.assert_close(loaded(imgs)["pool"], out["pool"])

    bad = dict(sd)
    bad["fc.weight"] = torch.zeros(10, 2048)
    torch.save(bad, wdir / INCEPTION.filename)
    with pytest.raises(SGError, match=r"'fc.weight' has shape \[10, 2048\], expected \[1008, 2048\]"):
        inception(weights_dir=wdir)


def test_vgg16_and_lpips_random_weights_shapes():
    from core.metrics.features import lpips_vgg, vgg16

    torch.manual_seed(0)
    net = vgg16(random_init=True)
    imgs = torch.randint(
        0, 256, (2, 3, 24, 24), generator=torch.Generator().manual_seed(2), dtype=torch.uint8
    )
    out = net(imgs)
    assert out["fc2"].shape == (2, 4096) and (out["fc2"] >= 0).all()  # after ReLU
    lp = lpips_vgg(random_init=True)
    x = imgs.float() / 127.5 - 1
    d = lp(x, x.flip(0)).flatten()
    assert d.shape == (2,) and (d > 0).all() and lp(x, x).abs().max() < 1e-6


# ----------------------------------------------------------------------------- PPL


def _tiny_generator(seed: int = 0, res: int = 16):
    from core.networks import GeneratorConfig, build_generator

    torch.manual_seed(seed)
    cfg = GeneratorConfig(
        z_dim=16, w_dim=16, img_resolution=res, channel_base=128, channel_max=16, map_layers=2, num_fp16_res=0
    )
    return build_generator(cfg).eval().requires_grad_(False)


def _pixel_lpips(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A stand-in distance with LPIPS's signature (LPIPS itself is checked above)."""
    return (a - b).square().mean(dim=(1, 2, 3))


def test_ppl_equals_direct_finite_difference():
    from core.metrics.ppl import path_distances

    G = _tiny_generator().double()
    gen = torch.Generator().manual_seed(3)
    z0, z1 = torch.randn(4, 16, generator=gen, dtype=torch.float64), torch.randn(4, 16, dtype=torch.float64)
    eps = 1e-4
    got = path_distances(G, _pixel_lpips, z0, z1, torch.zeros(4, dtype=torch.float64), epsilon=eps)
    # Direct: images at w0 and at w0 + eps (w1 - w0), the squared perceptual step over eps^2.
    w0, w1 = G.mapping(z0, None), G.mapping(z1, None)
    a = G.synthesis(w0, noise_mode="const")
    b = G.synthesis(w0 + eps * (w1 - w0), noise_mode="const")
    expected = _pixel_lpips(a, b) / eps**2
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=0)
    # It is a derivative: the directional derivative of the images, squared, by central differences.
    h = 1e-3
    da = G.synthesis(w0 + h * (w1 - w0), noise_mode="const") - G.synthesis(
        w0 - h * (w1 - w0), noise_mode="const"
    )
    deriv = (da / (2 * h)).square().mean(dim=(1, 2, 3))
    torch.testing.assert_close(got, deriv, rtol=1e-2, atol=0)  # forward difference: O(eps) off


def test_ppl_z_space_slerp_and_sampling():
    from core.metrics.ppl import path_distances, slerp

    a, b = torch.randn(5, 8, dtype=torch.float64), torch.randn(5, 8, dtype=torch.float64)
    t = torch.rand(5, 1, dtype=torch.float64)
    s = slerp(a, b, t)
    ua, ub = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    angle = torch.acos((ua * ub).sum(1))
    torch.testing.assert_close(torch.acos((ua * s).sum(1)), t.flatten() * angle)  # constant angular speed
    torch.testing.assert_close(s.norm(dim=1), torch.ones(5, dtype=torch.float64))
    G = _tiny_generator().double()
    z0, z1 = torch.randn(3, 16, dtype=torch.float64), torch.randn(3, 16, dtype=torch.float64)
    tt = torch.full((3,), 0.25, dtype=torch.float64)
    got = path_distances(G, _pixel_lpips, z0, z1, tt, epsilon=1e-4, space="z")
    za, zb = slerp(z0, z1, tt[:, None]), slerp(z0, z1, tt[:, None] + 1e-4)
    img = G.synthesis(G.mapping(torch.cat([za, zb]), None), noise_mode="const")
    torch.testing.assert_close(got, _pixel_lpips(img[:3], img[3:]) / 1e-8, rtol=1e-9, atol=0)


def test_ppl_trimmed_mean_face_crop_and_noise():
    from core.metrics.ppl import face_crop, ppl, trimmed_mean

    d = np.random.default_rng(0).lognormal(size=1000)
    # Positions in 1000 values: 0.01 * 999 = 9.99 -> 'lower' 9; 0.99 * 999 = 989.01 -> 'higher' 990.
    lo, hi = np.sort(d)[9], np.sort(d)[990]
    assert trimmed_mean(d) == pytest.approx(d[(d >= lo) & (d <= hi)].mean(), rel=1e-12)
    img = torch.arange(64 * 64).view(1, 1, 64, 64)
    assert torch.equal(face_crop(img), img[:, :, 24:56, 16:48])

    G = _tiny_generator()
    before = {k: v.clone() for k, v in G.named_buffers()}
    value, dist = ppl(G, _pixel_lpips, num=7, batch=2, seed=1)
    assert dist.shape == (7,) and (dist > 0).all() and value == pytest.approx(trimmed_mean(dist))
    assert all(torch.equal(v, before[k]) for k, v in G.named_buffers())  # G's own noise untouched
    again, dist2 = ppl(G, _pixel_lpips, num=7, batch=3, seed=1)
    assert not np.allclose(dist, dist2)  # batches draw their own latents and noise: batch size matters
    assert np.array_equal(ppl(G, _pixel_lpips, num=7, batch=2, seed=1)[1], dist)  # but the seed fixes them


# ----------------------------------------------------------------------------- real-feature cache


class _MeanNet(torch.nn.Module):
    """A feature network in miniature: per-channel means, counting its calls."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(3))
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return (x.float().mean(dim=(2, 3)) * self.w,)


def _dataset(path: Path, seed: int, n: int = 10, res: int = 16) -> Path:
    from core.data.layout import write_prepared

    imgs = np.random.default_rng(seed).integers(0, 256, (n, 3, res, res), dtype=np.uint8)
    return write_prepared(path, imgs, None, {}, overwrite=path.exists())


def test_real_features_cached_and_invalidated_when_the_dataset_changes(tmp_path):
    from core.data.dataset import open_dataset
    from core.metrics.features import FeatureNet
    from core.metrics.realstats import real_features

    module = _MeanNet()
    net = FeatureNet("mean", module, {"pool": ("m", 3)}, "mean/test")
    ds = open_dataset(_dataset(tmp_path / "data", 0))
    cache = tmp_path / "cache"
    feats, path, hit = real_features(ds, net, 8, batch=3, cache_dir=cache)
    assert not hit and path.is_file() and module.calls == 3
    expected = ds.images[:8].astype(np.float64).mean(axis=(2, 3))  # the first 8 images, in order
    np.testing.assert_allclose(feats["pool"], expected, rtol=1e-6)
    again, path2, hit = real_features(ds, net, 8, batch=3, cache_dir=cache)
    assert hit and path2 == path and module.calls == 3 and np.array_equal(again["pool"], feats["pool"])
    _, other, hit = real_features(ds, net, None, batch=5, cache_dir=cache)  # another count: its own entry
    assert not hit and other != path

    time.sleep(0.01)
    ds2 = open_dataset(_dataset(tmp_path / "data", 1))  # the same folder, new images
    changed, path3, hit = real_features(ds2, net, 8, batch=3, cache_dir=cache)
    assert not hit and path3 != path
    assert not np.allclose(changed["pool"], feats["pool"])
    np.testing.assert_allclose(
        changed["pool"], ds2.images[:8].astype(np.float64).mean(axis=(2, 3)), rtol=1e-6
    )
    path3.write_bytes(b"damaged")  # a broken entry is recomputed, not an error
    _, _, hit = real_features(ds2, net, 8, batch=3, cache_dir=cache)
    assert not hit


# ----------------------------------------------------------------------------- protocols


def test_protocols_follow_metric_main_and_shrink_on_request():
    """The numbers of StyleGAN2-ADA's metrics/metric_main.py, and what --num-gen/--max-real change."""
    from core.metrics.protocols import PROTOCOLS, MetricOptions, counts, parse_metrics

    P = PROTOCOLS
    assert (P["fid50k_full"].num_gen, P["fid50k_full"].max_real) == (50000, None)
    assert (P["kid50k_full"].max_real, P["kid50k_full"].params) == (
        1_000_000,
        {"num_subsets": 100, "max_subset_size": 1000},
    )
    assert (P["pr50k3_full"].max_real, P["pr50k3_full"].params) == (200_000, {"k": 3})
    ppl = P["ppl2_wend"].params
    assert ppl == {"epsilon": 1e-4, "batch": 2, "space": "w", "sampling": "end", "crop": False}
    assert P["ppl_wend"].params["crop"] and P["ppl_zfull"].params["space"] == "z"
    assert P["is50k"].params == {"splits": 10}
    official = MetricOptions()
    assert counts(P["fid50k_full"], 70000, official) == (50000, 70000)  # every real image
    assert counts(P["pr50k3_full"], 300000, official) == (50000, 200000)
    assert counts(P["fid50k"], 70000, official) == (50000, 50000)
    small = MetricOptions(num_gen=500, max_real=300)
    assert counts(P["kid50k_full"], 10000, small) == (500, 300)
    assert counts(P["is50k"], 10000, small) == (500, 0)
    assert counts(P["swd"], 100, small) == (100, 100)  # SWD: as many reals as generated, at most all
    assert [p.name for p in parse_metrics(" fid50k_full,is50k,fid50k_full ")] == ["fid50k_full", "is50k"]
    with pytest.raises(SGError, match="available: fid50k_full"):
        parse_metrics("fid50k_ful")


# ----------------------------------------------------------------------------- the whole pipeline


@pytest.mark.slow
def test_compute_metrics_with_random_networks(tmp_path):
    """Every official metric through the real networks (random weights) on a tiny model and dataset; the
    values are recomputed from the cached real features and a second generation pass."""
    from core.data.dataset import open_dataset
    from core.metrics import features
    from core.metrics.protocols import MetricOptions, compute_metrics, generated_batches, parse_metrics
    from core.metrics.realstats import real_features

    G = _tiny_generator(res=16)
    ds = open_dataset(_dataset(tmp_path / "data", 2, n=8))
    opts = MetricOptions(num_gen=10, max_real=8, batch=5, seed=3, random_networks=True, progress=False)
    opts.cache_dir = tmp_path / "cache"
    names = "fid50k_full,kid50k_full,pr50k3_full,is50k,ppl2_wend"
    torch.manual_seed(0)  # the random networks' weights
    res = compute_metrics(parse_metrics(names), G, ds, opts)
    assert list(res) == names.split(",")
    assert set(res["pr50k3_full"]["values"]) == {"pr50k3_full_precision", "pr50k3_full_recall"}
    assert set(res["is50k"]["values"]) == {"is50k_mean", "is50k_std"}
    assert all(r["protocol"] == "reduced" and r["num_gen"] == 10 for r in res.values())
    assert res["fid50k_full"]["num_real"] == 8 and res["is50k"]["num_real"] == 0
    assert all(np.isfinite(v) for r in res.values() for v in r["values"].values())

    torch.manual_seed(0)
    inc = features.inception(random_init=True)
    fake = torch.cat(list(generated_batches(G, 10, 4, 1.0, 3)))  # other batch size, same images
    gen_pool = inc(fake)["pool"].double().numpy()
    real_pool = real_features(ds, inc, 8, cache_dir=opts.cache_dir)
    assert real_pool[2]  # the same random weights (same seed): the cached entry is the right one
    other = features.inception(random_init=True)  # other random weights: never served those features
    assert real_features(ds, other, 8, cache_dir=opts.cache_dir)[1] != real_pool[1]
    mu_r, s_r = stats.feature_statistics(real_pool[0]["pool"])
    mu_g, s_g = stats.feature_statistics(gen_pool)
    fid = stats.frechet_distance(mu_r, s_r, mu_g, s_g)
    assert res["fid50k_full"]["values"]["fid50k_full"] == pytest.approx(fid, rel=1e-4)


# ----------------------------------------------------------------------------- CLI


def _sg(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    from stylegan_cli.main import main

    monkeypatch.setattr(sys, "argv", ["sg", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_offline_fails_before_loading(empty_hub, monkeypatch, capsys, tmp_path):
    import core.checkpoint

    monkeypatch.setenv("SG_OFFLINE", "1")
    monkeypatch.setattr(core.checkpoint, "load_generator", lambda *a, **k: pytest.fail("loaded the model"))
    model = tmp_path / "model.pkl"
    model.write_bytes(b"stub")
    data = _dataset(tmp_path / "data", 0)
    code, _, err = _sg(
        monkeypatch, capsys, "metrics", model, "--data", data, "--metric", "fid50k_full,pr50k3_full"
    )
    assert code != 0 and err.count("\n") == 1 and err.startswith("error: ")
    assert INCEPTION.filename in err and "Traceback" not in err
    code, _, err = _sg(monkeypatch, capsys, "metrics", model, "--data", data, "--metric", "fid51k")
    assert code != 0 and "unknown metric 'fid51k'" in err


def test_cli_results_file_and_compare(monkeypatch, capsys, tmp_path):
    """swd needs no weights: two models get their metrics-<name>.json, and --compare lines them up."""
    import core.checkpoint

    monkeypatch.chdir(tmp_path)
    data = _dataset(tmp_path / "data", 0, n=24)
    models = {"a": _tiny_generator(0), "b": _tiny_generator(1)}
    monkeypatch.setattr(core.checkpoint, "load_generator", lambda p, device="cpu": models[Path(p).stem])
    for name in models:
        run = tmp_path / f"run-{name}"
        run.mkdir()
        (run / f"{name}.pkl").write_bytes(b"stub")
        code, out, err = _sg(monkeypatch, capsys, "metrics", run / f"{name}.pkl", "--data", data, "--num", 16)
        assert code == 0, err
        assert "16x16" in out
    docs = {n: json.loads((tmp_path / f"run-{n}" / f"metrics-{n}.json").read_text()) for n in models}
    va, vb = (docs[n]["metrics"]["swd"]["values"]["swd_mean"] for n in "ab")
    assert va != vb and docs["a"]["metrics"]["swd"]["num_gen"] == 16
    code, out, err = _sg(
        monkeypatch, capsys, "metrics", "--compare", "run-a", tmp_path / "run-b" / "metrics-b.json"
    )
    assert code == 0, err
    row = next(line for line in out.splitlines() if "swd_mean" in line)
    assert f"{va:.4g}" in row and f"{vb:.4g}" in row
    code, _, err = _sg(monkeypatch, capsys, "metrics", "--compare", "run-a", "nowhere")
    assert code != 0 and "not found: nowhere" in err


# ----------------------------------------------------------------------------- sg train --metrics


def test_train_metrics_at_every_snapshot_leave_training_unchanged(tmp_path, empty_hub, monkeypatch):
    from core.checkpoint.sgformat import read_safetensors
    from core.metrics.results import find_results, read_results
    from core.training import TrainOptions, train
    from core.training.progress import read_metrics

    data = _dataset(tmp_path / "data", 3, n=32)
    kw = dict(data=str(data), cfg="tiny", batch=8, snap=0.016, tick=0.016, kimg=0.032, progress=False)
    kw.update(r1_interval=2, pl_interval=2, seed=0, aug="noaug")
    plain = train(TrainOptions(outdir=str(tmp_path / "a"), **kw))
    measured = train(TrainOptions(outdir=str(tmp_path / "b"), metrics="swd", metrics_num=16, **kw))
    rows = [r for r in read_metrics(measured.run_dir) if "swd_mean" in r]
    assert [r["nimg"] for r in rows] == [16, 32] and all(r["swd_mean"] > 0 for r in rows)
    assert rows[-1]["snapshot"] == measured.snapshot.name
    doc = read_results(find_results(measured.run_dir))  # the newest snapshot's metrics-<snapshot>.json
    assert doc["metrics"]["swd"]["values"]["swd_mean"] == rows[-1]["swd_mean"]
    assert doc["metrics"]["swd"]["num_gen"] == 16 and doc["model"] == str(measured.snapshot)
    ta, _ = read_safetensors(plain.snapshot)
    tb, _ = read_safetensors(measured.snapshot)
    assert ta.keys() == tb.keys() and any(k.startswith("G_ema.") for k in ta)
    assert all(torch.equal(v, tb[k]) for k, v in ta.items())  # measuring changed nothing in training

    monkeypatch.setenv("SG_OFFLINE", "1")
    with pytest.raises(SGError, match=INCEPTION.filename):  # before any run folder or data work
        train(TrainOptions(outdir=str(tmp_path / "c"), metrics="kid50k_full", **kw))
    assert not (tmp_path / "c").exists()
    with pytest.raises(SGError, match="unknown metric 'fid'"):
        train(TrainOptions(outdir=str(tmp_path / "c"), metrics="fid", **kw))


def test_cli_train_metrics_options(monkeypatch, capsys, tmp_path):
    data = _dataset(tmp_path / "data", 4, n=16)
    args = ["train", data, "--cfg", "tiny", "--batch", "8", "--kimg", "0.016", "--snap", "0.016"]
    args += ["--aug", "noaug", "--outdir", tmp_path / "runs", "--metrics", "swd", "--metrics-num", "8"]
    code, out, err = _sg(monkeypatch, capsys, *args)
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    (res,) = run.glob("metrics-network-snapshot-*.json")
    doc = json.loads(res.read_text())
    assert doc["metrics"]["swd"]["num_gen"] == 8 and doc["metrics"]["swd"]["protocol"] == "reduced"
    assert "metrics at kimg 0.016: swd_16x16" in err + out
    code, _, err = _sg(monkeypatch, capsys, *args[:-4], "--metrics", "swd,nope")
    assert code != 0 and "unknown metric 'nope'" in err


def test_cli_help_has_examples(monkeypatch, capsys):
    code, out, _ = _sg(monkeypatch, capsys, "metrics", "--help")
    text = " ".join(out.split())
    assert code == 0 and "Example: sg metrics" in text and "sg metrics --compare" in text
    assert "fid50k_full" in text and "--weights-dir" in text
