"""The latent .npz format: round trips, official layout compatibility, and every bad input as SGError."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.errors import SGError
from core.latents import Latents, load_latents, validate_noise

NUM_WS, W_DIM = 6, 8


def _w(n: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, NUM_WS, W_DIM)).astype(np.float32)


def test_round_trip_all_keys(tmp_path: Path) -> None:
    w = _w(3)
    z = np.random.default_rng(1).standard_normal((3, 5)).astype(np.float32)
    noise = [torch.randn(3, 1, 4, 4), torch.randn(1, 1, 8, 8), torch.randn(8, 8)]
    meta = {
        "space": "w+",
        "resolution": 16,
        "num_ws": NUM_WS,
        "w_dim": W_DIM,
        "psi": 0.7,
        "seeds": [1, 2, 3],
        "lpips": np.float32(0.25),  # numpy scalars must be storable
        "psnr": 27.5,
        "note": "ünïcode ok",
    }
    out = Latents(w=torch.from_numpy(w), z=z, noise=noise, meta=meta).save(tmp_path / "lat.npz")
    assert out == tmp_path / "lat.npz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lat.npz"]  # no temp leftovers, no .npz.npz

    lat = load_latents(tmp_path / "lat.npz", num_ws=NUM_WS, w_dim=W_DIM)
    assert isinstance(lat.w, torch.Tensor) and lat.w.dtype == torch.float32
    assert lat.w.shape == (3, NUM_WS, W_DIM)
    np.testing.assert_array_equal(lat.w.numpy(), w)
    np.testing.assert_array_equal(lat.z.numpy(), z)
    assert [tuple(n.shape) for n in lat.noise] == [(3, 1, 4, 4), (1, 1, 8, 8), (1, 1, 8, 8)]
    np.testing.assert_array_equal(lat.noise[0].numpy(), noise[0].numpy())
    np.testing.assert_array_equal(lat.noise[2].numpy()[0, 0], noise[2].numpy())
    assert lat.meta["space"] == "w+" and lat.meta["seeds"] == [1, 2, 3]
    assert lat.meta["lpips"] == pytest.approx(0.25) and lat.meta["note"] == "ünïcode ok"
    assert lat.num == 3

    # The file is a plain npz: meta is a JSON string, w has the official layout.
    with np.load(tmp_path / "lat.npz") as d:
        assert d["w"].shape == (3, NUM_WS, W_DIM) and d["w"].dtype == np.float32
        assert json.loads(str(d["meta"]))["psi"] == 0.7


def test_official_projected_w_layout(tmp_path: Path) -> None:
    """A file holding only 'w' [1,num_ws,w_dim] (official projector output) loads without meta."""
    w = _w(1)
    np.savez(tmp_path / "projected_w.npz", w=w)
    lat = load_latents(tmp_path / "projected_w.npz", NUM_WS, W_DIM)
    np.testing.assert_array_equal(lat.w.numpy(), w)
    assert lat.z is None and lat.noise is None and lat.meta == {}


def test_single_latent_shapes_are_batched(tmp_path: Path) -> None:
    w2 = _w(1)[0]
    np.savez(tmp_path / "a.npz", w=w2)
    assert load_latents(tmp_path / "a.npz", NUM_WS, W_DIM).w.shape == (1, NUM_WS, W_DIM)

    w1 = np.arange(W_DIM, dtype=np.float32)
    np.savez(tmp_path / "b.npz", w=w1)
    lat = load_latents(tmp_path / "b.npz", num_ws=NUM_WS, w_dim=W_DIM)
    assert lat.w.shape == (1, NUM_WS, W_DIM)
    for i in range(NUM_WS):  # broadcast to every layer
        np.testing.assert_array_equal(lat.w[0, i].numpy(), w1)

    # Without a model, num_ws from meta is used; with neither it is an error.
    Latents(w=w1, meta={"num_ws": 4}).save(tmp_path / "c.npz")
    assert load_latents(tmp_path / "c.npz").w.shape == (1, 4, W_DIM)
    with pytest.raises(SGError, match="num_ws is unknown"):
        load_latents(tmp_path / "b.npz")


def test_float64_is_converted(tmp_path: Path) -> None:
    w = _w(2).astype(np.float64) + 1e-12
    np.savez(tmp_path / "f64.npz", w=w, z=np.zeros((2, 3)))
    lat = load_latents(tmp_path / "f64.npz", NUM_WS, W_DIM)
    assert lat.w.dtype == torch.float32 and lat.z.dtype == torch.float32
    np.testing.assert_allclose(lat.w.numpy(), w, rtol=1e-6)


def test_save_overwrites_and_writes_exact_name(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "dir" / "latent"  # no suffix: must not become latent.npz
    Latents(w=_w(1, seed=1)).save(target)
    Latents(w=_w(1, seed=2)).save(target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["latent"]
    np.testing.assert_array_equal(load_latents(target).w.numpy(), _w(1, seed=2))


def test_failed_save_keeps_existing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keep.npz"
    Latents(w=_w(1, seed=5), meta={"space": "w"}).save(path)
    before = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(SGError, match=r"cannot write .*keep\.npz: disk full"):  # one line naming the file
        Latents(w=_w(1, seed=6)).save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npz"]  # temp file cleaned up


def test_save_rejects_bad_latents(tmp_path: Path) -> None:
    bad_w = _w(1)
    bad_w[0, 0, 0] = np.nan
    with pytest.raises(SGError, match="NaN"):
        Latents(w=bad_w).save(tmp_path / "x.npz")
    with pytest.raises(SGError, match="space"):
        Latents(w=_w(1), meta={"space": "s"}).save(tmp_path / "x.npz")
    with pytest.raises(SGError, match="JSON"):
        Latents(w=_w(1), meta={"obj": object()}).save(tmp_path / "x.npz")
    with pytest.raises(SGError, match="'z'"):
        Latents(w=_w(2), z=np.zeros((3, 4), np.float32)).save(tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda p: None, r"not found: .*missing\.npz"),
        (lambda p: p.write_bytes(b"definitely not a zip file"), r"not an \.npz"),
        (lambda p: p.write_bytes(open_npz_bytes()[:60]), r"not an \.npz|corrupt"),
        (
            lambda p: np.savez(p, z=np.zeros((1, 4), np.float32), foo=np.ones(2)),
            r"no 'w'.*found keys: foo, z",
        ),
        (lambda p: np.savez(p, w=np.ones((1, NUM_WS, W_DIM), np.int32)), r"dtype int32.*floating"),
        (lambda p: np.savez(p, w=np.full((1, NUM_WS, W_DIM), np.inf, np.float32)), r"NaN/Inf"),
        (lambda p: np.savez(p, w=np.full((1, NUM_WS, W_DIM), np.nan, np.float32)), r"NaN/Inf"),
        (lambda p: np.savez(p, w=np.ones((1, 1, NUM_WS, W_DIM), np.float32)), r"4 dims"),
        (
            lambda p: np.savez(p, w=np.ones((1, NUM_WS + 2, W_DIM), np.float32)),
            rf"num_ws={NUM_WS + 2}.*={NUM_WS}",
        ),
        (
            lambda p: np.savez(p, w=np.ones((1, NUM_WS, W_DIM * 2), np.float32)),
            rf"w_dim={W_DIM * 2}.*={W_DIM}",
        ),
        (lambda p: np.savez(p, w=_w(1), meta=np.array("{not json")), r"'meta' is not valid JSON"),
        (lambda p: np.savez(p, w=_w(1), meta=np.array('{"space": "q"}')), r"meta space 'q'"),
        (lambda p: np.savez(p, w=_w(2), z=np.ones((3, 4), np.float32)), r"'z' has shape \[3, 4\]"),
        (
            lambda p: np.savez(p, w=_w(1), noise_0=np.ones((4, 4), np.float32), noise_2=np.ones((8, 8))),
            r"contiguous",
        ),
        (lambda p: np.savez(p, w=_w(1), noise_0=np.ones((1, 1, 4, 8), np.float32)), r"not square"),
        (lambda p: np.savez(p, w=_w(1), noise_0=np.ones((1, 2, 4, 4), np.float32)), r"noise_0"),
        (lambda p: np.savez(p, w=_w(2), noise_0=np.ones((3, 1, 4, 4), np.float32)), r"batch 3"),
        (lambda p: np.savez(p, w=np.array([object()], dtype=object)), r"cannot read|dtype"),
    ],
)
def test_bad_files_raise_sgerror(tmp_path: Path, make, pattern: str) -> None:
    path = tmp_path / "missing.npz"
    make(path)
    with pytest.raises(SGError, match=pattern) as info:
        load_latents(path, num_ws=NUM_WS, w_dim=W_DIM)
    assert "\n" not in str(info.value)  # one line for the CLI


def open_npz_bytes() -> bytes:
    """Bytes of a valid npz, to truncate into a corrupt one."""
    import io

    buf = io.BytesIO()
    np.savez(buf, w=_w(4))
    return buf.getvalue()


def test_truncated_zip_member_is_sgerror(tmp_path: Path) -> None:
    """A zip whose central directory is intact but whose data is damaged still gives SGError."""
    data = bytearray(open_npz_bytes())
    data[200:400] = b"\x00" * 200  # clobber the middle of w's payload/header
    p = tmp_path / "damaged.npz"
    p.write_bytes(bytes(data))
    with pytest.raises(SGError):
        load_latents(p, NUM_WS, W_DIM)


def test_folder_is_not_a_latent(tmp_path: Path) -> None:
    with pytest.raises(SGError, match="folder"):
        load_latents(tmp_path)


def test_validate_noise() -> None:
    noise = [torch.randn(4, 4), torch.randn(1, 1, 8, 8), torch.randn(2, 1, 8, 8)]
    out = validate_noise(noise, [4, 8, 8], batch=2)
    assert [tuple(t.shape) for t in out] == [(1, 1, 4, 4), (1, 1, 8, 8), (2, 1, 8, 8)]
    assert all(t.dtype == torch.float32 for t in out)
    with pytest.raises(SGError, match="3 noise maps but the model has 2"):
        validate_noise(noise, [4, 8])
    with pytest.raises(SGError, match="noise_1 is 8x8 but the model expects 16x16"):
        validate_noise(noise, [4, 16, 8])
    with pytest.raises(SGError, match="batch 2, expected 1 or 3"):
        validate_noise(noise, [4, 8, 8], batch=3)
    with pytest.raises(SGError, match="NaN"):
        validate_noise([torch.full((4, 4), float("nan"))], [4])
