"""Sliced Wasserstein distance: agreement with the shared reference, sanity on real data, generation, CLI."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from core.data import bundled_dataset_path, open_dataset
from core.metrics.swd import generate_images, laplacian_pyramid, pyramid_sizes, swd

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "tools" / "swd_reference.py"


def _load_reference():
    if not REFERENCE.is_file():
        pytest.skip(f"shared SWD reference not found at {REFERENCE} (the ../shared checkout is absent)")
    spec = importlib.util.spec_from_file_location("swd_reference", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _random_u8(shape, seed):
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


@pytest.mark.parametrize(
    "shape,seed,chunk",
    [((8, 3, 64, 64), 7, 3), ((8, 1, 32, 32), 3, None), ((6, 3, 16, 16), 0, 4)],
)
def test_matches_reference(shape, seed, chunk):
    ref = _load_reference()
    real, fake = _random_u8(shape, 100 + seed), _random_u8(shape, 200 + seed)
    fake[:, :, : shape[2] // 3] //= 3  # make the two sets differ in structure, not just in noise
    expected = ref.swd(real, fake, seed=seed)
    got = swd(real, fake, seed=seed, chunk=chunk)
    assert len(got) == len(expected) == len(pyramid_sizes(shape[2], shape[3])) + 1
    np.testing.assert_allclose(got, expected, rtol=1e-4)
    if seed == 0:
        assert swd(real, fake, seed=0) == got  # deterministic
        other = swd(real, fake, seed=1)
        assert not np.allclose(other, got, rtol=1e-4)  # the seed really drives the random draws


def test_pyramid_matches_reference_and_reconstructs():
    ref = _load_reference()
    x = _random_u8((2, 3, 64, 64), 5).float() / 127.5 - 1
    ours, theirs = laplacian_pyramid(x), ref.laplacian_pyramid(x)
    assert [t.shape[-2:] for t in ours] == [torch.Size(s) for s in pyramid_sizes(64, 64)]
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """Two disjoint sets of 128 real 32x32 grayscale images from the bundled dataset."""
    ds = open_dataset(bundled_dataset_path(cache_dir=tmp_path_factory.mktemp("cache")))
    perm = np.random.default_rng(0).permutation(ds.num_images)
    a, _ = ds.get_batch(np.sort(perm[:128]))
    b, _ = ds.get_batch(np.sort(perm[128:256]))
    return ds, a, b


def test_real_vs_real_small_real_vs_noise_large(fashion):
    _, a, b = fashion
    real_real = swd(a, b)
    noise = swd(a, _random_u8(tuple(a.shape), 9))
    blurred = swd(a, torch.nn.functional.avg_pool2d(b.float(), 3, 1, 1).round().to(torch.uint8))
    assert len(real_real) == 3  # 32 px, 16 px, mean
    assert real_real[-1] < 30, real_real
    assert noise[-1] > 150, noise
    assert all(n > 5 * r for n, r in zip(noise, real_real, strict=True))
    assert real_real[0] * 3 < blurred[0]  # blur shows up at the finest level


def test_swd_rejects_mismatched_sets():
    with pytest.raises(ValueError):
        swd(_random_u8((4, 3, 32, 32), 0), _random_u8((5, 3, 32, 32), 1))
    with pytest.raises(ValueError):
        swd(_random_u8((4, 3, 32, 32), 0), _random_u8((4, 1, 32, 32), 1))


class FakeG(torch.nn.Module):
    """Minimal generator: images come from `pool` (cycled) or from the latents, labels are recorded."""

    def __init__(self, z_dim=8, c_dim=0, res=32, channels=1, pool=None):
        super().__init__()
        self.z_dim, self.c_dim, self.img_resolution, self.img_channels = z_dim, c_dim, res, channels
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.pool, self.pos, self.calls = pool, 0, []

    def forward(self, z, c, truncation_psi=1.0, noise_mode="random"):
        self.calls.append((z.clone(), c.clone(), truncation_psi, noise_mode))
        b = z.shape[0]
        if self.pool is not None:
            idx = torch.arange(self.pos, self.pos + b) % self.pool.shape[0]
            self.pos += b
            return self.pool[idx].float() / 127.5 - 1
        img = torch.tanh(z[:, :1, None, None] * self.scale).expand(b, self.img_channels, 4, 4)
        return torch.nn.functional.interpolate(img, size=self.img_resolution) * 1.5  # some out of range


def test_generate_images():
    G = FakeG(c_dim=5)
    imgs = generate_images(G, 10, batch=4, psi=0.7, noise_mode="none", seed=3)
    assert imgs.shape == (10, 1, 32, 32) and imgs.dtype == torch.uint8
    assert [c[0].shape[0] for c in G.calls] == [4, 4, 2]
    assert all(psi == 0.7 and mode == "none" for _, _, psi, mode in G.calls)
    labels = torch.cat([c for _, c, _, _ in G.calls])
    assert labels.shape == (10, 5) and torch.equal(labels.sum(1), torch.ones(10))  # random one-hot
    z = torch.cat([z for z, _, _, _ in G.calls])
    expected = (torch.tanh(z[:, 0]) * 1.5 * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    assert torch.equal(imgs[:, 0, 0, 0], expected)  # [-1, 1] -> [0, 255], clamped
    G.scale.data.fill_(100.0)  # outputs of +-1.5 must clamp to 0 and 255
    saturated = generate_images(G, 64, batch=64)
    assert set(saturated.unique().tolist()) == {0, 255}
    again = generate_images(FakeG(c_dim=5), 10, batch=5, psi=0.7, noise_mode="none", seed=3)
    assert torch.equal(again, imgs)  # same seed, same images, whatever the batch size
    assert not torch.equal(generate_images(FakeG(c_dim=5), 10, batch=5, seed=4), imgs)
    G0 = FakeG(c_dim=0)
    generate_images(G0, 3, batch=8)
    assert G0.calls[0][1].shape == (3, 0)


def _run_metrics(monkeypatch, capsys, G, data: Path) -> tuple[int, str]:
    import core.checkpoint
    from stylegan_cli.main import main

    loaded = []
    monkeypatch.setattr(
        core.checkpoint, "load_generator", lambda path, device="cpu": loaded.append(path) or G, raising=False
    )
    monkeypatch.setattr(
        sys, "argv", ["sg", "metrics", "model.pkl", "--data", str(data), "--num", "64", "--device", "cpu"]
    )
    Path("model.pkl").write_bytes(b"stub")
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert loaded == ["model.pkl"]
    return code, capsys.readouterr().out


def test_cli_metrics_swd(fashion, monkeypatch, capsys, tmp_path):
    ds, _, b = fashion
    monkeypatch.chdir(tmp_path)
    code, out = _run_metrics(monkeypatch, capsys, FakeG(pool=b), ds.path)
    assert code == 0, out
    assert "32x32" in out and "16x16" in out
    good = float(re.search(r"mean\D*([\d.]+)", out).group(1))
    code, out = _run_metrics(monkeypatch, capsys, FakeG(), ds.path)
    assert code == 0
    bad = float(re.search(r"mean\D*([\d.]+)", out).group(1))
    assert good < 50 and bad > 4 * good
