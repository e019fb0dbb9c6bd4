"""sg directions / sg edit: SeFa, GANSpace, boundaries and class directions against independent computations;
edits exact (strength 0 is the identity, only chosen layers move, saved edits re-render bit for bit);
bad inputs are one-line errors."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open

from core.checkpoint import load_generator, save_checkpoint
from core.editing import Edit, apply_edits, load_directions, parse_direction_ref, sweep_strengths
from core.editing.directions import Moments, pca, sample_w, sefa
from core.generate import render, seed_latents
from core.images import to_uint8
from core.latents import load_latents, model_record
from core.networks import GeneratorConfig, build_generator
from tests.conftest import ok

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIRS = (REPO / "tests" / "data", REPO.parent / "shared" / "reference" / "golden")
RES = 16


def _make_model(path: Path, arch: str = "stylegan2", c_dim: int = 0, seed: int = 0, w_dim: int = 32) -> Path:
    torch.manual_seed(seed)
    G = build_generator(
        GeneratorConfig(
            arch=arch,
            z_dim=32,
            w_dim=w_dim,
            img_resolution=RES,
            channel_base=256,
            channel_max=32,
            map_layers=2,
            num_fp16_res=0,
            c_dim=c_dim,
        )
    )
    with torch.no_grad():
        for i, layer in enumerate(G.synthesis.noise_layers()):
            layer.noise_strength.fill_(0.3 + 0.1 * i)  # stored noise must visibly matter
    save_checkpoint(path, G)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("edit_models")
    return {
        "rgb": _make_model(d / "rgb.safetensors"),
        "other": _make_model(d / "other.safetensors", seed=5),
        "narrow": _make_model(d / "narrow.safetensors", seed=6, w_dim=16),
        "sg1": _make_model(d / "sg1.safetensors", arch="stylegan1", seed=7),
        "cond": _make_model(d / "cond.safetensors", c_dim=3, seed=8),
    }


@pytest.fixture(scope="module")
def G(models: dict[str, Path]) -> torch.nn.Module:
    return load_generator(models["rgb"]).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def sefa_file(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dirs") / "sefa.npz"
    _run_sg("directions", models["rgb"], "--method", "sefa", "--num", "4", "--samples", "3000", "--out", out)
    return out


def _run_sg(*args: object) -> None:
    """Run sg in-process for module fixtures (no capsys there); fails loudly on a non-zero exit."""
    from stylegan_cli.main import main

    old = sys.argv
    sys.argv = ["sg", *[str(a) for a in args]]
    try:
        main()
    except SystemExit as e:
        assert e.code in (0, None), f"sg {' '.join(map(str, args))} exited {e.code}"
    finally:
        sys.argv = old


def _one_line_error(result: tuple[int, str, str], *needles: str) -> str:
    code, _, err = result
    assert code != 0
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).astype(np.int32)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(abs(a @ b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# --------------------------------------------------------------------------- SeFa


def _golden_models() -> list[Path]:
    """Official StyleGAN2 weights in official names: the vendored subset in tests/data, else the shared
    reference folder."""
    for d in GOLDEN_DIRS:
        found = [p for pat in ("official_*.safetensors", "golden_sg2_*.safetensors") for p in d.glob(pat)]
        if found:
            return sorted(found)
    return []


def _w_index_stylegan2(name: str) -> int:
    """Official StyleGAN2 layout: block b{r} (k = log2(r) - 2) styles conv0 with w 2k-1, conv1 with 2k and
    its ToRGB with 2k+1 (the ToRGB shares its w with the next block's conv0)."""
    parts = name.split(".")
    k = int(np.log2(int(parts[-4][1:]))) - 2
    return {"conv0": 2 * k - 1, "conv1": 2 * k, "torgb": 2 * k + 1}[parts[-3]]


def _numpy_sefa(weights: list[np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """The paper's recipe, independently: stack affine weights, unit-norm each output channel's row,
    eigen-decompose A^T A with numpy's general eig, keep the top k."""
    A = np.concatenate(weights, axis=0).astype(np.float64)
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    values, vectors = np.linalg.eig(A.T @ A)
    values, vectors = values.real, vectors.real
    order = np.argsort(values)[::-1][:k]
    return vectors[:, order].T, values[order]


@pytest.mark.parametrize("layers", ["all", "0-3"])
def test_sefa_matches_numpy_on_golden_models(layers: str) -> None:
    paths = _golden_models()
    assert paths, "the vendored official goldens are missing from tests/data (see tests/data/README.md)"
    for path in paths:
        G = load_generator(path)
        picked = list(range(G.num_ws)) if layers == "all" else [0, 1, 2, 3]
        with safe_open(str(path), "np") as f:  # the weights straight from the file, not via our modules
            weights = [
                f.get_tensor(k)
                for k in sorted(f.keys())
                if k.startswith("G_ema.synthesis.")
                and k.endswith(".affine.weight")
                and _w_index_stylegan2(k) in picked
            ]
        ref_vecs, ref_vals = _numpy_sefa(weights, 10)
        vecs, vals, _ = sefa(G, picked)
        np.testing.assert_allclose(vals[:10], ref_vals, rtol=1e-6)
        for i in range(10):
            assert _cos(vecs[i], ref_vecs[i]) > 0.9999, (path.name, layers, i)


def test_sefa_matches_numpy_on_official_stylegan1(tmp_path: Path) -> None:
    """StyleGAN1 as NVIDIA's TF code built it (tests/data/golden_tf): the reference reads the StyleMod
    weights [w_dim, 2C] straight from the vendored npz; sg reads the same net from a TF pickle."""
    folder = REPO / "tests" / "data" / "golden_tf"
    from tests import tf_pickle_writer as writer

    assert (folder / "sg1_32_tiny_weights.npz").is_file(), "vendored TF golden models missing from tests/data"
    pkl = writer.write_golden_pickle(folder, "sg1_32_tiny", tmp_path / "sg1.pkl", writer.SPELLINGS[0])
    G = load_generator(pkl)

    def w_index(key: str) -> int:  # Gs/G_synthesis/{r}x{r}/{Const|Conv|Conv0_up|Conv1}/StyleMod/weight
        res, layer = key.split("/")[2:4]
        k = int(np.log2(int(res.split("x")[0]))) - 2
        return 2 * k + (1 if layer in ("Conv", "Conv1") else 0)

    with np.load(folder / "sg1_32_tiny_weights.npz") as data:
        keys = [k for k in data.files if k.startswith("Gs/G_synthesis/") and k.endswith("/StyleMod/weight")]
        for picked in (list(range(G.num_ws)), [0, 1, 2, 3]):
            weights = [data[k].T for k in keys if w_index(k) in picked]  # TF stores [w_dim, 2C]
            ref_vecs, ref_vals = _numpy_sefa(weights, 8)
            vecs, vals, _ = sefa(G, picked)
            np.testing.assert_allclose(vals[:8], ref_vals, rtol=1e-6)
            for i in range(8):
                assert _cos(vecs[i], ref_vecs[i]) > 0.9999, (picked, i)


def test_sefa_stylegan1_affines_and_cli(sg, models, tmp_path: Path) -> None:
    """StyleGAN1: the style affines (one [2C, w_dim] dense per AdaIN layer, w i -> layer i)."""
    G = load_generator(models["sg1"])
    state = {k: v.numpy() for k, v in G.state_dict().items()}
    names = sorted(k for k in state if k.startswith("synthesis.b") and k.endswith("affine.weight"))
    assert len(names) == G.num_ws  # one styled layer per w

    def w_index(key: str) -> int:
        parts = key.split(".")
        k = int(np.log2(int(parts[1][1:]))) - 2
        return 2 * k + (1 if parts[2] == "conv1" else 0)

    coarse = [n for n in names if w_index(n) in (0, 1, 2, 3)]
    ref_vecs, ref_vals = _numpy_sefa([state[n] for n in coarse], 5)
    out = tmp_path / "sg1.npz"
    ok(
        sg(
            "directions",
            models["sg1"],
            *"--method sefa --layers coarse --num 5 --samples 500".split(),
            "--out",
            out,
        )
    )
    dirs = load_directions(out)
    assert dirs.method == "sefa" and dirs.names == [f"sefa{i}" for i in range(5)]
    np.testing.assert_allclose(dirs.values, ref_vals, rtol=1e-6)
    for i in range(5):
        assert _cos(dirs.vectors[i], ref_vecs[i]) > 0.9999
    assert dirs.layers.tolist() == [[True] * 4 + [False] * (G.num_ws - 4)] * 5
    assert len(dirs.meta["affines"]) == 4


# --------------------------------------------------------------------------- GANSpace


def test_ganspace_matches_sklearn_pca(sg, models, G, tmp_path: Path) -> None:
    from sklearn.decomposition import PCA

    n = 4000
    w = torch.cat(list(sample_w(G, n, batch=1000, seed=3))).double().numpy()
    ref = PCA().fit(w)
    out = tmp_path / "pcs.npz"
    # a different batch size in the CLI: the same seed gives the same samples
    opts = f"--method ganspace --samples {n} --batch 700 --seed 3 --num 32".split()
    ok(sg("directions", models["rgb"], *opts, "--out", out))
    dirs = load_directions(out)
    for i in range(6):
        assert _cos(dirs.vectors[i], ref.components_[i]) > 0.999, i
    np.testing.assert_allclose(dirs.values[:6], ref.explained_variance_[:6], rtol=1e-6)
    assert np.all(np.diff(dirs.values) <= 0)
    assert all(v[np.argmax(np.abs(v))] > 0 for v in dirs.vectors)  # a fixed sign convention
    ratio = np.asarray(dirs.meta["explained_variance_ratio"])
    np.testing.assert_allclose(ratio.sum(), 1.0, atol=1e-9)  # all 32 components: ratios sum to 1
    np.testing.assert_allclose(dirs.values.sum(), w.var(axis=0, ddof=1).sum(), rtol=1e-9)
    # the scale of a principal component is the std along it
    np.testing.assert_allclose(dirs.scale[:6], np.sqrt(ref.explained_variance_[:6]), rtol=1e-5)


def test_streamed_moments_equal_one_pass() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 8)) * 3 + 100.0  # a large mean must not cancel the variance
    m = Moments()
    for chunk in np.array_split(x, 7):
        m.add(chunk)
    np.testing.assert_allclose(m.mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(m.cov(), np.cov(x, rowvar=False), rtol=1e-9)
    _, var, ratio = pca(m)
    np.testing.assert_allclose(var.sum(), np.trace(np.cov(x, rowvar=False)), rtol=1e-9)
    np.testing.assert_allclose(ratio.sum(), 1.0)


# --------------------------------------------------------------------------- boundary


def _hidden_labels(G, tmp_path: Path, n: int, continuous: bool) -> tuple[Path, np.ndarray]:
    """n seeds labelled by the sign (or the value) of w . d for a hidden random unit d."""
    d = np.random.default_rng(42).normal(size=G.w_dim)
    d /= np.linalg.norm(d)
    w = seed_latents(G, list(range(n)), None).w[:, 0].double().numpy()
    score = w @ d
    path = tmp_path / ("score.csv" if continuous else "sign.csv")
    with open(path, "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["latent", "label"])
        for s in range(n):
            wr.writerow([s, f"{score[s]:.6f}" if continuous else int(score[s] > 0)])
    return path, d


def test_boundary_recovers_hidden_direction_and_orthogonal_to(sg, models, G, sefa_file, tmp_path) -> None:
    labels, d = _hidden_labels(G, tmp_path, 2000, continuous=False)
    out = tmp_path / "b.npz"
    ok(
        sg(
            "directions",
            models["rgb"],
            *"--method boundary --samples 500".split(),
            "--labels",
            labels,
            "--out",
            out,
        )
    )
    b = load_directions(out)
    assert b.names == ["sign"] and b.method == "boundary"
    assert _cos(b.vectors[0], d) > 0.95
    assert float(b.vectors[0] @ d) > 0  # points to the positive label
    assert b.values[0] > 0.9  # held-out accuracy
    # conditional: project another direction out
    other = load_directions(sefa_file).vectors[1].astype(np.float64)
    out2 = tmp_path / "b_orth.npz"
    orth = ["--orthogonal-to", f"{sefa_file}:sefa1", "--name", "smile"]
    ok(sg("directions", models["rgb"], "--method", "boundary", "--labels", labels, *orth, "--out", out2))
    o = load_directions(out2)
    assert o.names == ["smile"]
    assert abs(float(o.vectors[0].astype(np.float64) @ other)) < 1e-6
    assert abs(np.linalg.norm(o.vectors[0].astype(np.float64)) - 1) < 1e-6


def test_boundary_continuous_scores_and_npz_latents(sg, models, G, tmp_path: Path) -> None:
    labels, d = _hidden_labels(G, tmp_path, 2000, continuous=True)
    # replace the first rows' seeds by .npz files holding the same latents (relative to the CSV)
    rows = list(csv.reader(open(labels)))
    for r in rows[1:11]:
        seed_latents(G, [int(r[0])], None).save(tmp_path / f"lat{r[0]}.npz")
        r[0] = f"lat{r[0]}.npz"
    with open(labels, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    out = tmp_path / "c.npz"
    opts = "--method boundary --fraction 0.3 --samples 500".split()
    ok(sg("directions", "-m", models["rgb"], *opts, "--labels", labels, "--out", out))
    c = load_directions(out)
    assert _cos(c.vectors[0], d) > 0.95
    assert c.meta["svm"]["kind"] == "continuous" and c.meta["svm"]["positives"] == 600


# --------------------------------------------------------------------------- class


def test_class_directions_are_mean_differences(sg, models, tmp_path: Path) -> None:
    Gc = load_generator(models["cond"])
    n = 600
    z = torch.from_numpy(np.random.RandomState(0).randn(n, Gc.z_dim).astype(np.float32))
    with torch.no_grad():
        means = [Gc.mapping(z, torch.eye(3)[[k] * n])[:, 0].double().mean(0).numpy() for k in range(3)]
    out = tmp_path / "cls.npz"
    ok(sg("directions", models["cond"], *f"--method class --classes 0,2 --samples {n}".split(), "--out", out))
    c = load_directions(out)
    assert c.names == ["class0_to_2"]
    assert _cos(c.vectors[0], means[2] - means[0]) > 0.9999
    assert float(c.vectors[0] @ (means[2] - means[0])) > 0
    np.testing.assert_allclose(c.values[0], np.linalg.norm(means[2] - means[0]), rtol=1e-5)
    out_all = tmp_path / "cls_all.npz"
    ok(sg("directions", models["cond"], "--method", "class", "--samples", 200, "--out", out_all))
    assert load_directions(out_all).names == ["class0", "class1", "class2"]
    bad = sg("directions", models["rgb"], "--method", "class", "--out", tmp_path / "x.npz")
    _one_line_error(bad, "conditional")


# --------------------------------------------------------------------------- the file, info, rename, preview


def test_directions_file_info_rename_and_preview(sg, models, sefa_file, tmp_path: Path) -> None:
    d = load_directions(sefa_file)
    assert d.vectors.shape == (4, 32) and d.vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(d.vectors, axis=1), 1.0, atol=1e-6)
    assert np.all(np.diff(d.values) <= 0) and np.all(d.scale > 0)
    assert d.model_hash and d.meta["settings"]["samples"] == 3000 and d.num_ws == 6
    with np.load(sefa_file, allow_pickle=False) as raw:  # every array reads without pickle
        assert set(raw.files) == {"directions", "names", "layers", "scale", "values", "meta"}

    copy = tmp_path / "d.npz"
    copy.write_bytes(sefa_file.read_bytes())
    ok(sg("directions", "rename", copy, "2", "smile"))
    renamed = load_directions(copy)
    assert renamed.names == ["sefa0", "sefa1", "smile", "sefa3"]
    np.testing.assert_array_equal(renamed.vectors, d.vectors)
    _one_line_error(sg("directions", "rename", copy, "sefa0", "smile"), "already used")
    _one_line_error(sg("directions", "rename", copy, "9", "x"), "out of range")
    _one_line_error(sg("directions", "rename", copy, "0", "a b"), "bad direction name")
    out = ok(sg("info", copy))
    assert "smile" in out and "eigenvalue" in out and "sefa3" in out

    grid = tmp_path / "preview.png"
    opts = "--method sefa --num 3 --samples 200 --preview-seeds 0,1".split()
    ok(sg("directions", models["rgb"], *opts, "--out", tmp_path / "p.npz", "--preview", grid))
    assert _png(grid).shape[:2] == (3 * RES, 2 * 5 * RES)  # 3 directions x (2 seeds x 5 strengths)


# --------------------------------------------------------------------------- edit


def test_apply_edits_identity_and_layers() -> None:
    ws = torch.randn(3, 6, 8)
    ws[0, 0, 0] = -0.0
    e = Edit("x", torch.randn(8), 1.7, [1, 3], None, "f:x")
    same = apply_edits(ws, [(e, 0.0)])
    assert torch.equal(same.view(torch.int32), ws.view(torch.int32))  # bit for bit, -0.0 included
    moved = apply_edits(ws, [(e, 2.0)])
    untouched = [0, 2, 4, 5]
    assert torch.equal(moved[:, untouched].view(torch.int32), ws[:, untouched].view(torch.int32))
    torch.testing.assert_close(moved[:, [1, 3]] - ws[:, [1, 3]], (2.0 * 1.7 * e.vector).expand(3, 2, 8))
    assert sweep_strengths(-3, 3, 7) == [-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0]
    assert sweep_strengths(-1, 3, 5)[2] == 0.0
    ref = parse_direction_ref("a/b:c.npz:smile=-1.5")
    assert (ref.path, ref.key, ref.strength) == (Path("a/b:c.npz"), "smile", -1.5)


def test_edit_strength_zero_is_bit_exact(sg, models, G, sefa_file, tmp_path: Path) -> None:
    src = tmp_path / "src.npz"
    lat = seed_latents(G, [3, 4], None, noise_mode="random")
    lat.w[0, 2:] += 0.5  # a W+ latent, like a projection
    lat.meta.update(model_record(models["rgb"]))  # the model is found from the latents' record
    lat.save(src)
    out = tmp_path / "same.npz"
    ok(sg("edit", src, "-d", f"{sefa_file}:sefa0=0", "-d", f"{sefa_file}:1=0", "--out", out))
    a, b = load_latents(src), load_latents(out)
    assert torch.equal(a.w.view(torch.int32), b.w.view(torch.int32))
    for x, y in zip(a.noise, b.noise, strict=True):
        assert torch.equal(x, y)
    assert b.meta["space"] == "w+" and b.meta["edits"][0]["edits"] == []


def test_edit_touches_only_chosen_layers_and_records(sg, models, G, sefa_file, tmp_path: Path) -> None:
    src = tmp_path / "one.npz"
    lat = seed_latents(G, [7], None)
    lat.meta.update(model_record(models["rgb"]))
    lat.save(src)
    out = tmp_path / "edited.npz"
    dirs = ["-d", f"{sefa_file}:sefa0=2", "-d", f"{sefa_file}:sefa2=-1"]
    ok(sg("edit", src, *dirs, "--layers", "0-2", "--out", out))
    a, b = load_latents(src), load_latents(out)
    d = load_directions(sefa_file)
    assert torch.equal(b.w[:, 3:], a.w[:, 3:])
    step = 2 * d.scale[0] * d.vectors[0] - 1 * d.scale[2] * d.vectors[2]
    np.testing.assert_allclose((b.w[0, :3] - a.w[0, :3]).numpy(), np.tile(step, (3, 1)), atol=1e-5)
    rec = b.meta["edits"][0]
    assert rec["source"] == "one"
    assert [(e["name"], e["strength"], e["layers"]) for e in rec["edits"]] == [
        ("sefa0", 2.0, [0, 1, 2]),
        ("sefa2", -1.0, [0, 1, 2]),
    ]
    assert b.meta["space"] == "w+" and b.meta["model_hash"] == d.model_hash


def test_edited_latents_rerender_exactly(sg, models, G, sefa_file, tmp_path: Path) -> None:
    """Seeds with per-seed random noise: the edited .npz renders (sg sample --latents) to the very pixels
    that sg edit drew, and the strip's middle column is the unedited image."""
    strip = tmp_path / "strip.png"
    opts = [
        "--seeds",
        "5,6",
        "--noise-mode",
        "random",
        "-d",
        f"{sefa_file}:0",
        "--strength=-2:2",
        "--steps",
        "5",
    ]
    ok(sg("edit", models["rgb"], *opts, "--out", strip))
    img = _png(strip)
    assert img.shape[:2] == (2 * RES, 5 * RES)
    lat = seed_latents(G, [5, 6], None, noise_mode="random")
    for r in range(2):
        orig = to_uint8(render(G, lat.w[r : r + 1], "random", [n[r : r + 1] for n in lat.noise]))[0].numpy()
        np.testing.assert_array_equal(img[r * RES : (r + 1) * RES, 2 * RES : 3 * RES], orig)

    edited = tmp_path / "edited.npz"
    ok(sg("edit", models["rgb"], *opts, "--out", edited))
    e = load_latents(edited)
    assert e.num == 10 and e.noise is not None
    outdir = tmp_path / "rendered"
    ok(sg("sample", "-m", models["rgb"], "--latents", edited, "--outdir", outdir, "--batch", 1))
    for r in range(2):
        for c in range(5):
            again = _png(outdir / f"edited_{r * 5 + c:02d}.png")
            np.testing.assert_array_equal(again, img[r * RES : (r + 1) * RES, c * RES : (c + 1) * RES])

    # the edited file feeds sg interpolate (w+ keyframes; the first frame is the first edited latent)
    frames = tmp_path / "frames"
    ok(
        sg(
            "interpolate",
            models["rgb"],
            "--latents",
            edited,
            "--space",
            "w+",
            "--steps",
            2,
            "--out",
            f"{frames}/",
        )
    )
    np.testing.assert_array_equal(_png(sorted(frames.glob("*.png"))[0]), img[:RES, :RES])

    # folder output: one .npz per edit, which sg mix takes as a single latent
    folder = tmp_path / "edits"
    ok(sg("edit", models["rgb"], "--seeds", "5", "-d", f"{sefa_file}:sefa1=1.5", "--out", f"{folder}/"))
    one = folder / "seed0005_edit.npz"
    assert (folder / "seed0005_edit.png").is_file() and load_latents(one).num == 1
    ok(sg("mix", models["rgb"], one, "9", "--layers", "4-5", "--out", tmp_path / "mixed.png"))
    # one fixed edit to a .png: [original, edited]
    pair = tmp_path / "pair.png"
    ok(sg("edit", models["rgb"], "--seeds", "5", "-d", f"{sefa_file}:sefa1=1.5", "--out", pair))
    np.testing.assert_array_equal(_png(pair)[:, RES:], _png(folder / "seed0005_edit.png"))


def test_edit_video(sg, models, sefa_file, tmp_path: Path) -> None:
    import cv2

    out = tmp_path / "sweep.mp4"
    ok(sg("edit", models["rgb"], "--seeds", "1,2", "-d", f"{sefa_file}:0", "--frames", 6, "--out", out))
    cap = cv2.VideoCapture(str(out))
    frames = 0
    while cap.read()[0]:
        frames += 1
    cap.release()
    assert frames == 6


def test_edit_bad_inputs_are_one_line_errors(sg, models, G, sefa_file, tmp_path: Path) -> None:
    src = tmp_path / "l.npz"
    seed_latents(G, [1], None).save(src)
    keep = tmp_path / "keep.png"
    keep.write_bytes(b"old")
    m = models["rgb"]
    _one_line_error(sg("edit", m, src, "-d", f"{sefa_file}:nope", "--out", keep), "no direction named 'nope'")
    _one_line_error(sg("edit", m, src, "-d", f"{sefa_file}:9", "--out", keep), "out of range")
    _one_line_error(sg("edit", m, src, "-d", f"{sefa_file}:0=abc", "--out", keep), "not a number")
    _one_line_error(sg("edit", m, src, "-d", "missing.npz:0", "--out", keep), "not found")
    _one_line_error(sg("edit", m, src, "-d", f"{src}:0", "--out", keep), "latent file")
    _one_line_error(sg("edit", m, src, "-d", f"{sefa_file}:0", "--steps", 4, "--out", keep), "odd")
    _one_line_error(sg("edit", m, src, "-d", f"{sefa_file}:0", "--out", tmp_path / "x.gif"), "--out")
    narrow = tmp_path / "narrow.npz"
    ok(sg("directions", models["narrow"], "--method", "sefa", "--num", 2, "--samples", 100, "--out", narrow))
    _one_line_error(sg("edit", m, src, "-d", f"{narrow}:0", "--out", keep), "w_dim=16", "w_dim=32")
    other = tmp_path / "other.npz"
    ok(sg("directions", models["other"], "--method", "sefa", "--num", 2, "--samples", 100, "--out", other))
    _one_line_error(sg("edit", m, src, "-d", f"{other}:0", "--out", keep), "different model", "--any-model")
    ok(sg("edit", m, src, "-d", f"{other}:0=1", "--any-model", "--out", tmp_path / "forced.npz"))
    # a generator tuned from the latents' model (PTI) takes that model's directions
    rec = tmp_path / "recorded.npz"
    lat = seed_latents(G, [1], None)
    lat.meta.update(model_record(m))
    lat.save(rec)
    ok(sg("edit", rec, "-m", models["other"], "-d", f"{sefa_file}:0=1", "--out", tmp_path / "tuned.npz"))
    _one_line_error(
        sg("edit", src, "-m", models["other"], "-d", f"{sefa_file}:0", "--out", keep), "different"
    )
    assert keep.read_bytes() == b"old"  # failed edits never touch an existing output
    _one_line_error(sg("directions", m, "--method", "pca", "--out", tmp_path / "x.npz"), "--method")
    _one_line_error(sg("directions", m, "--method", "boundary", "--out", tmp_path / "x.npz"), "--labels")
    bad = tmp_path / "bad.csv"
    bad.write_text("latent,label\n1,0\nnot_a_file.npz,1\n")
    result = sg("directions", m, "--method", "boundary", "--labels", bad, "--out", tmp_path / "x.npz")
    _one_line_error(result, "bad.csv:3")
    _one_line_error(sg("info", src), "")  # a latent file is not a model nor directions
