"""Checkpoint format, official-pickle import (exact and safe), and bad-file errors."""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from core.checkpoint import load_checkpoint, load_generator, save_checkpoint
from core.errors import SGError
from core.networks import DiscriminatorConfig, GeneratorConfig, build_discriminator, build_generator
from tests.conftest import REPO
from tests.official_pickle import write_official_pickle

DATA = REPO / "tests" / "data"


def _golden(name):
    """(G_ema state, G kwargs, D state, D kwargs, reference arrays) of a golden in tests/data."""
    from safetensors import safe_open

    path = DATA / f"{name}.safetensors"
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
    tensors = load_file(str(path))
    G = {k[len("G_ema.") :]: v for k, v in tensors.items() if k.startswith("G_ema.")}
    D = {k[len("D.") :]: v for k, v in tensors.items() if k.startswith("D.")}
    return (
        G,
        json.loads(meta["G_init_kwargs"]),
        D,
        json.loads(meta["D_init_kwargs"]),
        np.load(DATA / f"{name}_ref.npz"),
    )


def _z(seeds, z_dim):
    return torch.from_numpy(np.concatenate([np.random.RandomState(s).randn(1, z_dim) for s in seeds])).float()


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_with_unknown_global_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    pkl = tmp_path / "evil.pkl"
    with open(pkl, "wb") as f:
        pickle.dump({"G_ema": _Evil(marker)}, f)
    with pytest.raises(SGError, match="refusing to load.*(posix|os)\\.system"):
        load_checkpoint(pkl)
    assert not marker.exists()


def test_cli_refuses_evil_pickle_with_one_line(tmp_path):
    marker = tmp_path / "pwned"
    pkl = tmp_path / "evil.pkl"
    with open(pkl, "wb") as f:
        pickle.dump({"G_ema": _Evil(marker)}, f)
    r = subprocess.run(
        [sys.executable, "-m", "stylegan_cli.main", "info", str(pkl)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert "Traceback" not in r.stderr and len(errors) == 1, r.stderr
    assert "refusing to load" in errors[0]
    assert not marker.exists()


def _tiny_g(**kw) -> torch.nn.Module:
    cfg = GeneratorConfig(
        z_dim=16,
        w_dim=16,
        img_resolution=16,
        channel_base=128,
        channel_max=16,
        map_layers=2,
        num_fp16_res=0,
        **kw,
    )
    return build_generator(cfg)


def test_save_load_round_trip_with_state(tmp_path):
    torch.manual_seed(0)
    G = _tiny_g()
    D = build_discriminator(
        DiscriminatorConfig(img_resolution=16, channel_base=128, channel_max=16, num_fp16_res=0)
    )
    path = tmp_path / "snap.safetensors"
    state = {"opt_G.exp_avg.0": torch.randn(3, 4)}
    save_checkpoint(path, G, G=G, D=D, state_tensors=state, training_state={"cur_nimg": 1234}, kimg=1.234)
    ck = load_checkpoint(path)
    assert ck.kimg == pytest.approx(1.234) and ck.training_state == {"cur_nimg": 1234}
    torch.testing.assert_close(ck.state_tensors["opt_G.exp_avg.0"], state["opt_G.exp_avg.0"])
    for a, b in [(G, ck.G_ema), (G, ck.G), (D, ck.D)]:
        for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
            assert ka == kb and torch.equal(va, vb)
    z = torch.randn(2, 16)
    torch.testing.assert_close(
        G.eval()(z, noise_mode="const"), ck.G_ema(z, noise_mode="const"), rtol=0, atol=0
    )


def test_interrupted_save_keeps_existing_file(tmp_path, monkeypatch):
    G = _tiny_g()
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, G, kimg=1.0)
    before = path.read_bytes()

    import core.checkpoint.sgformat as sgformat

    def broken_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(sgformat, "save_file", broken_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, G, kimg=2.0)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_truncated_and_foreign_files_give_clear_errors(tmp_path):
    G = _tiny_g()
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, G)
    truncated = tmp_path / "trunc.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SGError, match="truncated or corrupt"):
        load_checkpoint(truncated)
    with pytest.raises(SGError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"hello world, not a model")
    with pytest.raises(SGError, match="unsupported model file"):
        load_checkpoint(junk)
    pkl = tmp_path / "trunc.pkl"
    G_state = {k: v for k, v in G.state_dict().items()}
    write_official_pickle(
        pkl,
        G_state,
        {
            "z_dim": 16,
            "w_dim": 16,
            "c_dim": 0,
            "img_resolution": 16,
            "img_channels": 3,
            "mapping_kwargs": {"num_layers": 2},
            "channel_base": 128,
            "channel_max": 16,
        },
    )
    pkl.write_bytes(pkl.read_bytes()[:-200])
    with pytest.raises(SGError, match="not a readable official StyleGAN network pickle"):
        load_checkpoint(pkl)


def test_weights_that_do_not_match_config_name_the_tensor(tmp_path):
    G = _tiny_g()
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, G)
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    tensors["G_ema.mapping.fc0.weight"] = torch.zeros(3, 3)
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(SGError, match="mapping.fc0.weight"):
        load_generator(path)


def test_non_power_of_two_resolution_is_rejected():
    with pytest.raises(SGError, match="power of two"):
        GeneratorConfig(img_resolution=48)


def test_convert_and_info_cli(tmp_path):
    G_state, G_kwargs, D_state, D_kwargs, ref = _golden("official_sg2ada_32")
    pkl = tmp_path / "net.pkl"
    write_official_pickle(pkl, G_state, G_kwargs, D_state, D_kwargs)
    out = tmp_path / "net.safetensors"
    run = [sys.executable, "-m", "stylegan_cli.main"]
    r = subprocess.run(run + ["convert", str(pkl), str(out)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    G = load_generator(out)
    with torch.no_grad():
        img = G(_z([int(s) for s in ref["seeds"]], G.z_dim), truncation_psi=0.7, noise_mode="const")
    np.testing.assert_allclose(img.numpy(), ref["img_psi0.7"], atol=1e-4, rtol=0)
    r = subprocess.run(run + ["convert", str(pkl), str(out)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode != 0 and "--force" in r.stderr
    r = subprocess.run(run + ["info", str(out)], cwd=REPO, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "32x32x3" in r.stdout and re.search(r"num_ws\W+8\b", r.stdout), r.stdout
    snap = tmp_path / "snap.safetensors"
    save_checkpoint(snap, G, kimg=12.34)
    r = subprocess.run(run + ["info", str(snap)], cwd=REPO, capture_output=True, text=True)
    assert "kimg 12.3" in r.stdout
