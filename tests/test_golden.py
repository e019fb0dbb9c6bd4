"""Exactness against the official StyleGAN2 code: mapping, synthesis, discriminator and `sg sample` PNGs
match outputs the official implementation computed from the same weights (tests/data/README.md).

The references live in the repository, so a clean clone checks exactness; a missing file fails."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoint import load_checkpoint
from core.generate import one_hot, seeds_to_z

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "tests" / "data"
# Written by NVIDIA's own code: stylegan2-ada-pytorch (unconditional) and stylegan3's StyleGAN2 (5 classes).
NAMES = ["official_sg2ada_32", "official_sg3_32_cond"]
PSIS = ["1.0", "0.7"]
ATOL = 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_golden_files_are_in_the_repository(name: str) -> None:
    for suffix in (".safetensors", "_ref.npz"):
        path = GOLDEN / f"{name}{suffix}"
        assert path.is_file(), f"golden reference {path} is missing (it belongs in the repository)"


_CACHE: dict[str, tuple] = {}


def _golden(name: str):
    """(checkpoint, reference arrays, seeds, z, labels), loaded once per model."""
    if name not in _CACHE:
        ck = load_checkpoint(GOLDEN / f"{name}.safetensors")
        with np.load(GOLDEN / f"{name}_ref.npz") as d:
            ref = {k: d[k] for k in d.files}
        seeds = [int(s) for s in ref["seeds"]]
        G = ck.G_ema
        z = seeds_to_z(seeds, G.z_dim)
        c = one_hot([s % G.c_dim for s in seeds], G.c_dim) if G.c_dim else torch.zeros(len(seeds), 0)
        _CACHE[name] = (ck, ref, seeds, z, c)
    return _CACHE[name]


@pytest.mark.parametrize("name", NAMES)
def test_mapping_matches_official(name: str) -> None:
    ck, ref, seeds, z, c = _golden(name)
    with torch.no_grad():
        for psi in PSIS:
            ws = ck.G_ema.mapping(z, c, truncation_psi=float(psi))
            for i, s in enumerate(seeds):
                np.testing.assert_allclose(ws[i].numpy(), ref[f"w_seed{s}_psi{psi}"], rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("psi", PSIS)
def test_images_match_official_fused_and_not(name: str, psi: str) -> None:
    ck, ref, seeds, z, c = _golden(name)
    G = ck.G_ema
    with torch.no_grad():
        ws = G.mapping(z, c, truncation_psi=float(psi))
        fused = G.synthesis(ws, noise_mode="const", fused_modconv=True)
        plain = G.synthesis(ws, noise_mode="const", fused_modconv=False)
    expect = ref[f"img_psi{psi}"]
    assert fused.shape == expect.shape and float(np.abs(expect).max()) > 0.1  # a real image, not zeros
    np.testing.assert_allclose(fused.numpy(), expect, rtol=0, atol=ATOL)
    np.testing.assert_allclose(plain.numpy(), expect, rtol=0, atol=ATOL)
    np.testing.assert_allclose(fused.numpy(), plain.numpy(), rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_discriminator_matches_official(name: str) -> None:
    ck, ref, *_ = _golden(name)
    assert ck.D is not None, "golden file should hold the discriminator"
    with torch.no_grad():
        logits = ck.D(torch.from_numpy(ref["d_in"]), torch.from_numpy(ref["d_c"]))
    assert logits.shape == ref["d_out"].shape
    np.testing.assert_allclose(logits.numpy(), ref["d_out"], rtol=0, atol=ATOL)


@pytest.mark.parametrize("name", NAMES)
def test_sg_sample_pngs_match_official(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`sg sample MODEL --seeds 0,1,85,2026 --trunc P --noise-mode const` writes the official PNGs
    (within one level); a conditional model runs once per seed with --class seed % c_dim."""
    from stylegan_cli.main import main

    ck, ref, seeds, *_ = _golden(name)
    c_dim = ck.G_ema.c_dim
    model = GOLDEN / f"{name}.safetensors"

    def sg(*args: str) -> None:
        monkeypatch.setattr(sys, "argv", ["sg", "sample", str(model), *args])
        try:
            main()
        except SystemExit as e:
            assert e.code in (0, None), f"sg sample {' '.join(args)} failed with exit code {e.code}"

    for psi in PSIS:
        outdir = tmp_path / psi
        common = ["--trunc", psi, "--noise-mode", "const", "--outdir", str(outdir), "--device", "cpu"]
        if c_dim:
            for s in seeds:
                sg("--seeds", str(s), "--class", str(s % c_dim), *common)
        else:
            sg("--seeds", ",".join(map(str, seeds)), *common)
        for i, s in enumerate(seeds):
            with Image.open(outdir / f"seed{s:04d}.png") as im:
                assert im.mode == "RGB"
                got = np.asarray(im).astype(np.int32)
            expect = ref[f"png_psi{psi}"][i].astype(np.int32)
            assert got.shape == expect.shape
            assert np.abs(got - expect).max() <= 1, f"{name} seed {s} psi {psi}"
