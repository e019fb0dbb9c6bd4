"""sg sample / mix / interpolate on tiny random models: files decode, identities hold bit for bit,
interpolation endpoints are the keyframes' own images, and bad input is one error line, nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoint import load_generator, save_checkpoint
from core.errors import SGError
from core.generate import choose_device, render, seed_latents, seeds_to_z
from core.images import to_uint8
from core.interpolate import frame_schedule, interpolate, slerp
from core.latents import Latents, load_latents
from core.mixing import layer_groups, mix_ws, mixing_grid_ws, parse_layers
from core.networks import GeneratorConfig, build_generator
from core.video import Mp4Writer
from stylegan_cli.common import parse_seeds
from tests.conftest import ok

REPO = Path(__file__).resolve().parents[1]
RES, NUM_WS = 16, 6


def _make_model(path: Path, img_channels: int = 3, c_dim: int = 0, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    G = build_generator(
        GeneratorConfig(
            z_dim=32,
            w_dim=32,
            img_resolution=RES,
            channel_base=256,
            channel_max=32,
            map_layers=2,
            num_fp16_res=0,
            img_channels=img_channels,
            c_dim=c_dim,
        )
    )
    with torch.no_grad():
        for i, layer in enumerate(G.synthesis.noise_layers()):
            layer.noise_strength.fill_(0.4 + 0.1 * i)  # noise must visibly matter
        G.mapping.w_avg.normal_()  # so truncation moves w
    save_checkpoint(path, G)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    return {
        "rgb": _make_model(d / "rgb.safetensors"),
        "gray": _make_model(d / "gray.safetensors", img_channels=1, seed=1),
        "cond": _make_model(d / "cond.safetensors", c_dim=3, seed=2),
    }


@pytest.fixture(scope="module")
def G(models: dict[str, Path]) -> torch.nn.Module:
    return load_generator(models["rgb"])


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        return np.asarray(im).astype(np.int32)


def _render_u8(G: torch.nn.Module, ws: torch.Tensor, noise=None) -> np.ndarray:
    return to_uint8(render(G, ws, "const", noise)).numpy().astype(np.int32)


# --------------------------------------------------------------------------- parsing and pure functions


def test_parse_seeds() -> None:
    assert parse_seeds("0-3,42") == [0, 1, 2, 3, 42]
    assert parse_seeds(" 5 , 1-2 ,5") == [5, 1, 2, 5]
    assert parse_seeds("5,1-2,5", unique=True) == [5, 1, 2]
    for bad in ["", "3-1", "x", "-5", "1,,2", "4294967296", "0-9999999"]:
        with pytest.raises(SGError):
            parse_seeds(bad)


def test_seed_z_is_official() -> None:
    z = seeds_to_z([85, 0], 32)
    assert z.dtype == torch.float32 and z.shape == (2, 32)
    np.testing.assert_array_equal(z[0].numpy(), np.random.RandomState(85).randn(32).astype(np.float32))


def test_parse_layers_and_words() -> None:
    assert parse_layers("0-3,8,10-13", 18) == [0, 1, 2, 3, 8, 10, 11, 12, 13]
    groups = layer_groups(18)  # 1024 px
    assert groups == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": list(range(8, 18))}
    assert parse_layers("Coarse, fine", 18) == [0, 1, 2, 3, *range(8, 18)]
    assert parse_layers("middle", NUM_WS) == [4, 5] and parse_layers("all", NUM_WS) == list(range(6))
    for bad in ["", "fine", "6", "3-1", "bogus", "1,,2", "0-3,x"]:
        with pytest.raises(SGError):
            parse_layers(bad, NUM_WS)


def test_mix_ws_and_grid_cells() -> None:
    a, b = torch.zeros(1, NUM_WS, 4), torch.ones(1, NUM_WS, 4)
    m = mix_ws(a, b, [1, 3])
    assert m[0, :, 0].tolist() == [0, 1, 0, 1, 0, 0] and a.abs().sum() == 0  # inputs untouched
    rows, cols = (
        torch.arange(2.0).reshape(2, 1, 1).expand(2, NUM_WS, 4),
        10 + torch.arange(3.0).reshape(3, 1, 1),
    )
    cells = mixing_grid_ws(rows, cols.expand(3, NUM_WS, 4), [0])
    assert cells.shape == (2, 3, NUM_WS, 4)
    assert cells[1, 2, 0, 0] == 12 and cells[1, 2, 1, 0] == 1  # row latent, layer 0 from the column


def test_schedule_and_interpolation() -> None:
    assert len(frame_schedule(3, 4)) == 9 and len(frame_schedule(3, 4, loop=True)) == 12
    keys = torch.randn(3, 8)
    frames = interpolate(keys, frame_schedule(3, 4), "slerp")
    for f, k in [(0, 0), (4, 1), (8, 2)]:
        assert torch.equal(frames[f], keys[k])
    loop = interpolate(keys, frame_schedule(3, 4, loop=True), "lerp")
    assert torch.equal(loop[0], keys[0]) and torch.allclose(loop[-1], keys[2] + (keys[0] - keys[2]) * 0.75)
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 2.0])
    mid = slerp(a, b, 0.5)  # angle halves, norm interpolates linearly
    assert torch.allclose(mid, torch.tensor([1.0, 1.0]) / 2**0.5 * 1.5, atol=1e-6)
    assert torch.allclose(slerp(a, 3 * a, 0.5), 2 * a)  # parallel: falls back to a linear blend
    for bad in [(1, 4), (3, 0)]:
        with pytest.raises(SGError):
            frame_schedule(*bad)


def test_choose_device() -> None:
    assert choose_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert choose_device("cpu").type == "cpu"
    with pytest.raises(SGError):
        choose_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(SGError):
            choose_device("cuda")


# --------------------------------------------------------------------------- sg sample


def test_help_has_examples(sg) -> None:
    for cmd in ("sample", "mix", "interpolate"):
        out = ok(sg(cmd, "--help"))
        assert "Example: sg " + cmd in " ".join(out.split())


def test_sample_seeds_grid_and_exact_pixels(sg, models, G, tmp_path: Path) -> None:
    ok(sg("sample", models["rgb"], "--seeds", "0-2,7", "--trunc", "0.7", "--grid", "--outdir", tmp_path))
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["grid.png", "seed0000.png", "seed0001.png", "seed0002.png", "seed0007.png"]
    with Image.open(tmp_path / "seed0007.png") as im:
        assert im.mode == "RGB" and im.size == (RES, RES)
    ws = G.mapping(seeds_to_z([0, 1, 2, 7], 32), None, truncation_psi=0.7)
    expect = _render_u8(G, ws)
    for i, s in enumerate([0, 1, 2, 7]):
        assert np.abs(_png(tmp_path / f"seed{s:04d}.png") - expect[i]).max() <= 1
    grid = _png(tmp_path / "grid.png")  # 4 images -> 2x2
    assert grid.shape == (2 * RES, 2 * RES, 3)
    np.testing.assert_array_equal(grid[RES:, RES:], _png(tmp_path / "seed0007.png"))
    # Noise is live: 'none' and 'const' differ, and truncation changes the image.
    ok(
        sg(
            "sample",
            models["rgb"],
            "--seeds",
            "7",
            "--noise-mode",
            "none",
            "--trunc",
            "0.7",
            "--outdir",
            tmp_path / "n",
        )
    )
    assert np.abs(_png(tmp_path / "n/seed0007.png") - _png(tmp_path / "seed0007.png")).mean() > 1


def test_sample_fast_path_agrees_with_exact_pixels(sg, models, tmp_path: Path) -> None:
    """--fast (torch.compile on CPU) renders the same PNGs as the exact path, to one level."""
    ok(sg("sample", models["rgb"], "--seeds", "0-2", "--outdir", tmp_path / "exact"))
    out = ok(sg("sample", models["rgb"], "--seeds", "0-2", "--fast", "--outdir", tmp_path / "fast"))
    assert "wrote 3 image(s)" in out
    for s in range(3):
        name = f"seed{s:04d}.png"
        assert np.abs(_png(tmp_path / "fast" / name) - _png(tmp_path / "exact" / name)).max() <= 1


@pytest.mark.parametrize("noise_mode", ["const", "random"])
def test_save_latents_round_trip(sg, models, tmp_path: Path, noise_mode: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    ok(
        sg(
            "sample",
            models["rgb"],
            "--seeds",
            "3,11",
            "--trunc",
            "0.6",
            "--trunc-cutoff",
            "4",
            "--noise-mode",
            noise_mode,
            "--save-latents",
            "--outdir",
            a,
        )
    )
    lat = load_latents(a / "seed0011.npz", num_ws=NUM_WS, w_dim=32)
    assert lat.w.shape == (1, NUM_WS, 32) and not torch.equal(lat.w[0, 0], lat.w[0, 5])  # cutoff 4
    np.testing.assert_array_equal(lat.z[0].numpy(), np.random.RandomState(11).randn(32).astype(np.float32))
    assert lat.meta["seed"] == 11 and lat.meta["psi"] == 0.6 and lat.meta["space"] == "w"
    assert (lat.noise is not None) == (noise_mode == "random")
    for s in (3, 11):
        ok(sg("sample", models["rgb"], "--latents", a / f"seed{s:04d}.npz", "--outdir", b))
        np.testing.assert_array_equal(_png(b / f"seed{s:04d}.png"), _png(a / f"seed{s:04d}.png"))
    if noise_mode == "random":  # per-seed noise: reproducible, and different from const
        ok(
            sg(
                "sample",
                models["rgb"],
                "--seeds",
                "11",
                "--noise-mode",
                "random",
                "--trunc",
                "0.6",
                "--trunc-cutoff",
                "4",
                "--outdir",
                tmp_path / "again",
            )
        )
        np.testing.assert_array_equal(_png(tmp_path / "again/seed0011.png"), _png(a / "seed0011.png"))
        ok(
            sg(
                "sample",
                models["rgb"],
                "--seeds",
                "11",
                "--trunc",
                "0.6",
                "--trunc-cutoff",
                "4",
                "--outdir",
                tmp_path / "const",
            )
        )
        assert np.abs(_png(tmp_path / "const/seed0011.png") - _png(a / "seed0011.png")).mean() > 1


def test_sample_multi_latent_file_names(sg, models, G, tmp_path: Path) -> None:
    lat = seed_latents(G, [1, 2, 3], None, 0.8)
    lat.save(tmp_path / "proj.npz")
    ok(sg("sample", models["rgb"], "--latents", tmp_path / "proj.npz", "--outdir", tmp_path / "o", "--grid"))
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [
        "grid.png",
        "proj_00.png",
        "proj_01.png",
        "proj_02.png",
    ]
    assert np.abs(_png(tmp_path / "o/proj_02.png") - _render_u8(G, lat.w[2:3])[0]).max() <= 1


def test_sample_bulk_num_streams_in_batches(sg, models, tmp_path: Path) -> None:
    ok(
        sg(
            "sample",
            models["rgb"],
            "--num",
            "5",
            "--seed",
            "10",
            "--batch",
            "2",
            "--outdir",
            tmp_path / "bulk",
        )
    )
    assert sorted(p.name for p in (tmp_path / "bulk").iterdir()) == [f"img{i:06d}.png" for i in range(5)]
    ok(sg("sample", models["rgb"], "--seeds", "12", "--outdir", tmp_path / "one"))
    assert np.abs(_png(tmp_path / "bulk/img000002.png") - _png(tmp_path / "one/seed0012.png")).max() <= 1


def test_conditional_classes(sg, models, tmp_path: Path) -> None:
    code, _, err = sg("sample", models["cond"], "--seeds", "1", "--outdir", tmp_path)
    assert code != 0 and "--class" in err
    ok(sg("sample", models["cond"], "--seeds", "1", "--class", "0", "--outdir", tmp_path / "c0"))
    ok(sg("sample", models["cond"], "--seeds", "1", "--class", "2", "--outdir", tmp_path / "c2"))
    assert np.abs(_png(tmp_path / "c0/seed0001.png") - _png(tmp_path / "c2/seed0001.png")).mean() > 1
    out = sg("sample", models["cond"], "--num", "4", "--save-latents", "--outdir", tmp_path / "n")
    assert out[0] == 0 and "random class" in out[2]
    classes = [load_latents(tmp_path / f"n/img{i:06d}.npz").meta["class"] for i in range(4)]
    assert all(0 <= k < 3 for k in classes)
    ok(sg("sample", models["cond"], "--num", "4", "--save-latents", "--outdir", tmp_path / "n2"))
    assert classes == [load_latents(tmp_path / f"n2/img{i:06d}.npz").meta["class"] for i in range(4)]


# --------------------------------------------------------------------------- sg mix


def test_mix_identities_bitwise(G) -> None:
    a, b = seed_latents(G, [1], None).w, seed_latents(G, [2], None).w
    img_a, img_b = render(G, a), render(G, b)
    assert torch.equal(render(G, mix_ws(a, b, range(NUM_WS))), img_b)
    assert torch.equal(render(G, mix_ws(a, a, [0, 1, 2, 3])), img_a)
    partial = render(G, mix_ws(a, b, [0, 1]))
    assert not torch.equal(partial, img_a) and not torch.equal(partial, img_b)


def test_mix_cli(sg, models, G, tmp_path: Path) -> None:
    m = models["rgb"]
    # --batch 1: mix renders one image per pass, and equal inputs through the same pass are bit-identical.
    ok(sg("sample", m, "--seeds", "1,2", "--save-latents", "--batch", "1", "--outdir", tmp_path))
    a, b = tmp_path / "seed0001.npz", tmp_path / "seed0002.npz"
    ok(sg("mix", m, a, b, "--layers", "all", "--out", tmp_path / "all.png"))
    np.testing.assert_array_equal(_png(tmp_path / "all.png"), _png(tmp_path / "seed0002.png"))
    ok(sg("mix", m, a, a, "--layers", "coarse", "--out", tmp_path / "self.png"))
    np.testing.assert_array_equal(_png(tmp_path / "self.png"), _png(tmp_path / "seed0001.png"))
    ok(sg("mix", m, "1", "2", "--layers", "0-5", "--out", tmp_path / "seeds_all.png"))  # seeds as A/B
    np.testing.assert_array_equal(_png(tmp_path / "seeds_all.png"), _png(tmp_path / "seed0002.png"))
    out = ok(sg("mix", m, a, "2", "--layers", "coarse", "--out", tmp_path / "coarse.png"))
    assert "layers 0-3" in out
    expect = _render_u8(G, mix_ws(load_latents(a).w, load_latents(b).w, [0, 1, 2, 3]))[0]
    assert np.abs(_png(tmp_path / "coarse.png") - expect).max() <= 1
    assert np.abs(_png(tmp_path / "coarse.png") - _png(tmp_path / "seed0001.png")).mean() > 1


def test_mix_grid_layout(sg, models, G, tmp_path: Path) -> None:
    ok(
        sg(
            "mix",
            models["rgb"],
            "--row-seeds",
            "1,2",
            "--col-seeds",
            "3,4,5",
            "--layers",
            "0-2",
            "--out",
            tmp_path / "grid.png",
        )
    )
    ok(sg("sample", models["rgb"], "--seeds", "1-5", "--batch", "1", "--outdir", tmp_path))
    grid = _png(tmp_path / "grid.png")
    assert grid.shape == (3 * RES, 4 * RES, 3)

    def tile(r: int, c: int) -> np.ndarray:
        return grid[r * RES : (r + 1) * RES, c * RES : (c + 1) * RES]

    assert tile(0, 0).max() == 0  # blank corner
    for c, s in enumerate([3, 4, 5], start=1):
        np.testing.assert_array_equal(tile(0, c), _png(tmp_path / f"seed{s:04d}.png"))
    for r, s in enumerate([1, 2], start=1):
        np.testing.assert_array_equal(tile(r, 0), _png(tmp_path / f"seed{s:04d}.png"))
    ws = {s: seed_latents(G, [s], None).w for s in (2, 4)}
    cell = _render_u8(G, mix_ws(ws[2], ws[4], [0, 1, 2]))[0]  # row 2 = seed 2 base, column 2 = seed 4 donor
    assert np.abs(tile(2, 2) - cell).max() <= 1


# --------------------------------------------------------------------------- sg interpolate


@pytest.mark.parametrize("space", ["z", "w", "w+"])
def test_interpolate_frames_endpoints(sg, models, tmp_path: Path, space: str) -> None:
    m = models["rgb"]
    ok(sg("sample", m, "--seeds", "1,5,9", "--trunc", "0.7", "--outdir", tmp_path / "s"))
    ok(
        sg(
            "interpolate",
            m,
            "--space",
            space,
            "--seeds",
            "1,5,9",
            "--steps",
            "3",
            "--trunc",
            "0.7",
            "--out",
            f"{tmp_path / 'f'}/",
        )
    )
    frames = sorted((tmp_path / "f").iterdir())
    assert [p.name for p in frames] == [f"frame{i:05d}.png" for i in range(7)]  # 3*(3-1)+1
    for i, s in [(0, 1), (3, 5), (6, 9)]:
        assert np.abs(_png(frames[i]) - _png(tmp_path / f"s/seed{s:04d}.png")).max() <= 1
    assert np.abs(_png(frames[1]) - _png(frames[0])).mean() > 0.5  # in-between frames move

    ok(
        sg(
            "interpolate",
            m,
            "--space",
            space,
            "--seeds",
            "1,5,9",
            "--steps",
            "3",
            "--loop",
            "--trunc",
            "0.7",
            "--out",
            tmp_path / "loop",
        )
    )
    loop = sorted((tmp_path / "loop").iterdir())
    assert len(loop) == 9  # 3*3, not returning the first keyframe twice
    np.testing.assert_array_equal(_png(loop[0]), _png(frames[0]))


def test_interpolate_mp4(sg, models, tmp_path: Path) -> None:
    m = models["rgb"]
    ok(sg("sample", m, "--seeds", "1,2", "--outdir", tmp_path))
    for loop, count in [(False, 5), (True, 8)]:
        out = tmp_path / f"walk{int(loop)}.mp4"
        msg = ok(
            sg(
                "interpolate",
                m,
                "--seeds",
                "1,2",
                "--steps",
                "4",
                *(["--loop"] if loop else []),
                "--fps",
                "10",
                "--out",
                out,
            )
        )
        assert "mp4v" in msg or "avc1" in msg
        cap = cv2.VideoCapture(str(out))
        assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == count
        decoded = []
        while True:
            got, frame = cap.read()
            if not got:
                break
            decoded.append(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY).astype(np.int32))
        cap.release()
        assert len(decoded) == count and decoded[0].shape == (RES, RES)
        # Lossy (and 4:2:0 chroma at 16 px): compare luma, and against the other keyframe as a control.
        luma = {
            s: cv2.cvtColor(_png(tmp_path / f"seed{s:04d}.png").astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(
                np.int32
            )
            for s in (1, 2)
        }
        err_own = np.abs(decoded[0] - luma[1]).mean()
        assert err_own < 20 and err_own < np.abs(decoded[0] - luma[2]).mean()
        if not loop:
            assert np.abs(decoded[-1] - luma[2]).mean() < np.abs(decoded[-1] - luma[1]).mean()


def test_interpolate_strip(sg, models, tmp_path: Path) -> None:
    m = models["rgb"]
    ok(sg("interpolate", m, "--seeds", "1,2,3", "--steps", "5", "--out", tmp_path / "strip.png"))
    strip = _png(tmp_path / "strip.png")
    assert strip.shape == (2 * RES, 10 * RES, 3)  # 11 frames, wrapping after 10
    ok(sg("sample", m, "--seeds", "3", "--outdir", tmp_path))
    assert np.abs(strip[RES:, :RES] - _png(tmp_path / "seed0003.png")).max() <= 1
    assert strip[RES:, RES:].max() == 0  # empty cells stay black
    ok(sg("interpolate", m, "--seeds", "1,2", "--steps", "2", "--out", tmp_path / "strip.jpg"))
    with Image.open(tmp_path / "strip.jpg") as im:
        assert im.format == "JPEG" and im.size == (3 * RES, RES)


def test_interpolate_projected_latents_with_noise(sg, models, G, tmp_path: Path) -> None:
    """Latents with their own noise maps (like projections) re-render exactly and are the walk's ends."""
    gen = torch.Generator().manual_seed(5)
    for name, seed in [("p", 1), ("q", 2)]:
        w = seed_latents(G, [seed], None).w + 0.3 * torch.randn(1, NUM_WS, 32, generator=gen)  # w+ latent
        noise = [
            torch.randn(1, 1, layer.resolution, layer.resolution, generator=gen)
            for layer in G.synthesis.noise_layers()
        ]
        Latents(w=w, noise=noise, meta={"space": "w+"}).save(tmp_path / f"{name}.npz")
        ok(sg("sample", models["rgb"], "--latents", tmp_path / f"{name}.npz", "--outdir", tmp_path / "r"))
        own = _render_u8(G, w, noise)[0]
        np.testing.assert_array_equal(_png(tmp_path / f"r/{name}.png"), own)
        assert np.abs(own - _render_u8(G, w)[0]).mean() > 1  # the stored noise matters
    ok(
        sg(
            "interpolate",
            models["rgb"],
            "--space",
            "w+",
            "--latents",
            tmp_path / "p.npz",
            tmp_path / "q.npz",
            "--steps",
            "4",
            "--out",
            f"{tmp_path / 'f'}/",
        )
    )
    frames = sorted((tmp_path / "f").iterdir())
    assert len(frames) == 5
    assert np.abs(_png(frames[0]) - _png(tmp_path / "r/p.png")).max() <= 1
    assert np.abs(_png(frames[-1]) - _png(tmp_path / "r/q.png")).max() <= 1
    code, _, err = sg(
        "interpolate",
        models["rgb"],
        "--space",
        "z",
        "--latents",
        tmp_path / "p.npz",
        tmp_path / "q.npz",
        "--out",
        tmp_path / "z.mp4",
    )
    assert code != 0 and "no 'z'" in err and not (tmp_path / "z.mp4").exists()


# --------------------------------------------------------------------------- grayscale


def test_grayscale_model_writes_L(sg, models, tmp_path: Path) -> None:
    m = models["gray"]
    ok(sg("sample", m, "--seeds", "0,1", "--grid", "--outdir", tmp_path))
    ok(sg("mix", m, "0", "1", "--layers", "middle", "--out", tmp_path / "mix.png"))
    ok(sg("interpolate", m, "--seeds", "0,1", "--steps", "2", "--out", f"{tmp_path / 'f'}/"))
    ok(sg("interpolate", m, "--seeds", "0,1", "--steps", "2", "--out", tmp_path / "g.mp4"))
    for p in [
        tmp_path / "seed0000.png",
        tmp_path / "grid.png",
        tmp_path / "mix.png",
        tmp_path / "f/frame00002.png",
    ]:
        with Image.open(p) as im:
            assert im.mode == "L", p
    np.testing.assert_array_equal(_png(tmp_path / "f/frame00002.png"), _png(tmp_path / "seed0001.png"))
    cap = cv2.VideoCapture(str(tmp_path / "g.mp4"))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    cap.release()


# --------------------------------------------------------------------------- bad input


def _bad_npz_files(d: Path) -> dict[str, Path]:
    files = {"wrong_num_ws": d / "wrong_num_ws.npz", "no_w": d / "no_w.npz", "not_npz": d / "not_npz.npz"}
    Latents(w=np.zeros((1, NUM_WS + 2, 32), np.float32)).save(files["wrong_num_ws"])
    np.savez(files["no_w"], z=np.zeros((1, 32), np.float32))
    files["not_npz"].write_text("hello")
    return files


def test_bad_inputs_one_line_and_outputs_untouched(sg, models, tmp_path: Path) -> None:
    m = models["rgb"]
    out = tmp_path / "out"
    out.mkdir()
    sentinels = {out / n: f"old {n}".encode() for n in ["seed0000.png", "mixed.png", "walk.mp4", "grid.png"]}
    for p, data in sentinels.items():
        p.write_bytes(data)
    bad = _bad_npz_files(tmp_path)
    cases = [
        (["sample", tmp_path / "missing.safetensors", "--seeds", "0", "--outdir", out], "not found"),
        (["sample", m, "--seeds", "3-1", "--outdir", out], "backwards"),
        (["sample", m, "--seeds", "a,b", "--outdir", out], "not a seed"),
        (["sample", m, "--seeds", "0", "--num", "3", "--outdir", out], "exactly one"),
        (["sample", m, "--seeds", "0", "--noise-mode", "loud", "--outdir", out], "noise-mode"),
        (["sample", m, "--seeds", "0", "--trunc-cutoff", "99", "--outdir", out], "trunc-cutoff"),
        (["sample", m, "--seeds", "0", "--class", "1", "--outdir", out], "unconditional"),
        (["sample", m, "--latents", bad["wrong_num_ws"], "--outdir", out], "num_ws"),
        (["sample", m, "--latents", bad["no_w"], "--outdir", out], "no 'w'"),
        (["sample", m, "--latents", bad["not_npz"], "--outdir", out], "not an .npz"),
        (["sample", m, "--latents", tmp_path / "nope.npz", "--outdir", out], "not found"),
        (["mix", m, "1", "2", "--layers", "coarse,bogus", "--out", out / "mixed.png"], "bad layer"),
        (["mix", m, "1", "2", "--layers", "fine", "--out", out / "mixed.png"], "do not exist"),
        (["mix", m, "1", bad["wrong_num_ws"], "--layers", "0", "--out", out / "mixed.png"], "num_ws"),
        (["mix", m, "1", "nofile.npz", "--layers", "0", "--out", out / "mixed.png"], "no such latent"),
        (["mix", m, "--row-seeds", "1", "--layers", "0", "--out", out / "grid.png"], "col-seeds"),
        (["interpolate", m, "--seeds", "1", "--out", out / "walk.mp4"], "at least 2"),
        (["interpolate", m, "--seeds", "1,2", "--space", "q", "--out", out / "walk.mp4"], "--space"),
        (["interpolate", m, "--seeds", "1,2", "--out", out / "walk.gif"], ".mp4"),
        (["interpolate", m, "--latents", bad["no_w"], bad["no_w"], "--out", out / "walk.mp4"], "no 'w'"),
    ]
    for args, needle in cases:
        code, stdout, err = sg(*args)
        lines = err.strip().splitlines()
        assert code != 0, args
        assert lines and lines[-1].startswith("error:") and needle in lines[-1], (args, err)
        assert "Traceback" not in err and len([ln for ln in lines if ln.startswith("error")]) == 1
    for p, data in sentinels.items():
        assert p.read_bytes() == data
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in sentinels)
    assert not (out / "walk.gif").exists()


def test_real_entry_point_error_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "stylegan_cli.main",
            "sample",
            str(tmp_path / "none.pkl"),
            "--seeds",
            "0",
            "--outdir",
            str(tmp_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines() == [f"error: model file not found: {tmp_path / 'none.pkl'}"]


def test_mp4_writer_abort_keeps_previous_video(tmp_path: Path) -> None:
    path = tmp_path / "v.mp4"
    path.write_bytes(b"previous")
    with pytest.raises(RuntimeError), Mp4Writer(path, 10, RES, RES) as w:
        w.write(np.zeros((RES, RES, 3), np.uint8))
        raise RuntimeError("interrupted")
    assert path.read_bytes() == b"previous" and sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


def test_interpolate_z_from_saved_latents_uses_their_psi_and_class(sg, models, tmp_path: Path) -> None:
    m = models["cond"]
    for s, k in [(4, 1), (6, 2)]:
        ok(
            sg(
                "sample",
                m,
                "--seeds",
                s,
                "--class",
                k,
                "--trunc",
                "0.7",
                "--save-latents",
                "--outdir",
                tmp_path,
            )
        )
    ok(
        sg(
            "interpolate",
            m,
            "--space",
            "z",
            "--latents",
            tmp_path / "seed0004.npz",
            tmp_path / "seed0006.npz",
            "--steps",
            "2",
            "--out",
            f"{tmp_path / 'f'}/",
        )
    )
    frames = sorted((tmp_path / "f").iterdir())
    assert len(frames) == 3
    assert np.abs(_png(frames[0]) - _png(tmp_path / "seed0004.png")).max() <= 1
    assert np.abs(_png(frames[2]) - _png(tmp_path / "seed0006.png")).max() <= 1


def test_interpolate_random_noise_uses_each_seeds_maps(sg, models, tmp_path: Path) -> None:
    m = models["rgb"]
    ok(sg("sample", m, "--seeds", "1,2", "--noise-mode", "random", "--outdir", tmp_path))
    ok(
        sg(
            "interpolate",
            m,
            "--seeds",
            "1,2",
            "--noise-mode",
            "random",
            "--steps",
            "2",
            "--out",
            f"{tmp_path}/f/",
        )
    )
    assert np.abs(_png(tmp_path / "f/frame00000.png") - _png(tmp_path / "seed0001.png")).max() <= 1
    assert np.abs(_png(tmp_path / "f/frame00002.png") - _png(tmp_path / "seed0002.png")).max() <= 1
