"""NVIDIA's TensorFlow pickles (StyleGAN1 and StyleGAN2) read without TensorFlow, checked against what the
official TF code computed from the same weights (tests/data/golden_tf, vendored from the reference)."""

from __future__ import annotations

import io
import pickle
import pickletools
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoint import load_checkpoint
from core.errors import SGError
from core.generate import seeds_to_z
from core.images import to_uint8
from tests.tf_pickle_writer import SPELLINGS, Network, dumps, golden_networks, network, write_golden_pickle

DATA = Path(__file__).resolve().parent / "data" / "golden_tf"
ATOL = 1e-4
# model -> (weights file, reference file, where the pickle's G comes from)
MODELS = {
    "sg1_32_tiny": ("sg1_32_tiny_weights.npz", "sg1_32_tiny_ref.npz", "G"),
    "sg2_32_tiny": ("sg2_32_tiny_weights.npz", "sg2_32_tiny_ref.npz", "G"),
    "sg1_128": ("sg1_128_weights_gs_d.npz", "sg1_128_ref_cut.npz", "Gs"),  # G cut out of the vendored copy
}


pytestmark = pytest.mark.usefixtures("single_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def pickles(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """Every golden model as a TF pickle in every spelling, written once."""
    out = tmp_path_factory.mktemp("tf_pkl")
    paths = {}
    for model, (weights, _, g_from) in MODELS.items():
        for spelling in SPELLINGS:
            p = out / f"{model}-{spelling}.pkl"
            paths[model, spelling] = write_golden_pickle(DATA, model, p, spelling, weights, g_from)
    return paths


_LOADED: dict[Path, object] = {}


def _load(path: Path):
    if path not in _LOADED:
        _LOADED[path] = load_checkpoint(path)
    return _LOADED[path]


def _ref(model: str) -> dict[str, np.ndarray]:
    with np.load(DATA / MODELS[model][1]) as d:
        return {k: d[k] for k in d.files}


def _globals(data: bytes) -> set[str]:
    """The globals a pickle names, read with pickletools (nothing is built or run). Strings are followed
    through the memo, as STACK_GLOBAL often takes a memoised module name."""
    names: set[str] = set()
    pushed: list[str | None] = []  # what each op pushed, when it is a string
    memo: dict[int, str | None] = {}
    for op, arg, _ in pickletools.genops(data):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            pushed.append(arg)
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            pushed.append(memo.get(int(arg)))
        elif op.name == "MEMOIZE":
            memo[len(memo)] = pushed[-1] if pushed else None
        elif op.name == "STACK_GLOBAL":
            names.add(f"{pushed[-2]}.{pushed[-1]}")
            pushed.append(None)
        elif op.name == "GLOBAL":
            names.add(arg.replace(" ", "."))
            pushed.append(None)
        elif op.name not in ("FRAME", "PROTO"):
            pushed.append(None)
    return names


# ---- the pickle format ---------------------------------------------------------------------------------


def test_release_spelling_names_exactly_the_five_official_globals(pickles):
    data = pickles["sg1_32_tiny", "p4-np1"].read_bytes()
    assert data[:2] == b"\x80\x04"
    assert _globals(data) == {
        "dnnlib.tflib.network.Network",
        "numpy.core.multiarray._reconstruct",
        "numpy.ndarray",
        "numpy.dtype",
        "numpy.core.multiarray.scalar",
    }
    p5 = pickles["sg1_32_tiny", "p5-np1"].read_bytes()
    assert p5[:2] == b"\x80\x05" and "numpy.core.numeric._frombuffer" in _globals(p5)
    assert any(op.name == "BYTEARRAY8" for op, _, _ in pickletools.genops(p5))
    np2 = _globals(pickles["sg1_32_tiny", "np2"].read_bytes())
    assert {g for g in np2 if g.startswith("numpy.")} <= {
        "numpy._core.numeric._frombuffer",
        "numpy._core.multiarray.scalar",
        "numpy._core.multiarray._reconstruct",
        "numpy.ndarray",
        "numpy.dtype",
    } and "numpy._core.multiarray.scalar" in np2


def test_numpy1_spellings_are_what_numpy_reads_back():
    """The writer's numpy-1 bytes, loaded by plain pickle + the installed numpy (its numpy.core shim),
    give the same values: the writer spells arrays, dtypes and scalars as numpy does."""
    values = [
        np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
        np.float32(0.25),
        np.zeros((1, 1, 4, 4), np.float32),
    ]
    for spelling in ("p4-np1", "p5-np1"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            back = pickle.loads(dumps(values, spelling))
        for a, b in zip(values, back, strict=True):
            assert type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("model", ["sg1_32_tiny", "sg2_32_tiny"])
def test_all_spellings_load_to_the_same_tensors(pickles, model):
    base = _load(pickles[model, "p4-np1"])
    for spelling in ("p5-np1", "np2"):
        other = _load(pickles[model, spelling])
        for net in ("G_ema", "G", "D"):
            a, b = getattr(base, net).state_dict(), getattr(other, net).state_dict()
            assert a.keys() == b.keys()
            for k in a:
                assert torch.equal(a[k], b[k]), f"{model} {spelling} {net}.{k}"
        assert other.g_config == base.g_config and other.d_config == base.d_config
    assert "numpy 1.x" in base.details["release format"]
    assert "numpy 2" in _load(pickles[model, "np2"]).details["release format"]


def test_gs_becomes_g_ema_and_g_d_come_along(pickles):
    ck = _load(pickles["sg1_32_tiny", "p4-np1"])
    assert ck.source == "official-tf-pkl" and ck.G is not None and ck.D is not None
    assert ck.g_config.arch == "stylegan1" and ck.d_config.arch == "stylegan1"
    assert ck.g_config.trunc_cutoff == 8 and ck.G_ema.mapping.trunc_cutoff == 8
    with np.load(DATA / "sg1_32_tiny_weights.npz") as w:
        gs_const, g_const = w["Gs/G_synthesis/4x4/Const/const"][0], w["G/G_synthesis/4x4/Const/const"][0]
    assert not np.array_equal(gs_const, g_const)
    assert np.array_equal(ck.G_ema.synthesis.b4.const.numpy(), gs_const)
    assert np.array_equal(ck.G.synthesis.b4.const.detach().numpy(), g_const)


# ---- numbers: the official outputs ---------------------------------------------------------------------


@pytest.mark.parametrize("model", list(MODELS))
def test_outputs_match_the_official_tf_code(pickles, model):
    """w, images at psi 1 and 0.7 (stored noise, one seed per call), uint8 PNGs and D outputs."""
    ck = _load(pickles[model, "p4-np1"])
    ref = _ref(model)
    G, D = ck.G_ema, ck.D
    z = seeds_to_z([int(s) for s in ref["seeds"]], G.z_dim)
    assert torch.equal(z, torch.from_numpy(ref["z"]).float())
    with torch.no_grad():
        w = G.mapping(z, None)
        torch.testing.assert_close(w, torch.from_numpy(ref["w_psi1"]), atol=ATOL, rtol=0)
        for psi, key in ((1.0, "psi1"), (0.7, "psi07")):
            img = torch.cat(
                [G(z[i : i + 1], None, truncation_psi=psi, noise_mode="const") for i in range(len(z))]
            )
            torch.testing.assert_close(img, torch.from_numpy(ref[f"img_{key}"]), atol=ATOL, rtol=0)
            png = to_uint8(img).numpy().astype(np.int32)
            assert np.abs(png - ref[f"png_{key}"].astype(np.int32)).max() <= 1, f"{model} png {key}"
        d_in = torch.from_numpy(ref["d_in"])
        torch.testing.assert_close(D(d_in, None), torch.from_numpy(ref["d_out"]), atol=ATOL, rtol=0)
        single = torch.cat([D(d_in[i : i + 1], None) for i in range(len(d_in))])
        torch.testing.assert_close(single, torch.from_numpy(ref["d_out_single"]), atol=ATOL, rtol=0)
    if model == "sg1_128":  # the fused up/down convs are in use
        assert G.synthesis.b128.conv0.fused and not G.synthesis.b64.conv0.fused


# ---- refusals ------------------------------------------------------------------------------------------


def test_a_pickle_naming_any_other_global_is_refused(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (__import__("os").system, (f"touch {marker}",))

    G, D, Gs = golden_networks(DATA, "sg1_32_tiny")
    Gs._state["static_kwargs"]["evil"] = Evil()
    for spelling in ("p4-np1", "np2"):
        path = tmp_path / f"evil-{spelling}.pkl"
        path.write_bytes(dumps((G, D, Gs), spelling))
        with pytest.raises(SGError, match=r"refusing to load: .*(posix|os)\.system"):
            load_checkpoint(path)
        assert not marker.exists()
    # An object-dtype array could carry any object: refused too.
    G, D, Gs = golden_networks(DATA, "sg1_32_tiny")
    Gs._state["variables"].append(("junk", np.array([1, "x"], dtype=object)))
    path = tmp_path / "object.pkl"
    path.write_bytes(dumps((G, D, Gs), "np2"))
    with pytest.raises(SGError, match="refusing to load"):
        load_checkpoint(path)


def test_bad_tf_files_are_one_line_errors(tmp_path, pickles):
    data = pickles["sg1_32_tiny", "p4-np1"].read_bytes()
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(SGError, match="truncated or corrupt"):
        load_checkpoint(cut)

    G, D, Gs = golden_networks(DATA, "sg1_32_tiny")
    Gs._state["variables"] = [(k, np.float32(0.5) if k == "lod" else v) for k, v in Gs._state["variables"]]
    mid = tmp_path / "mid_growth.pkl"
    mid.write_bytes(dumps((G, D, Gs), "p4-np1"))
    with pytest.raises(SGError, match=r"Gs/lod is 0.5: a progressive-growing snapshot"):
        load_checkpoint(mid)

    G, D, Gs = golden_networks(DATA, "sg1_32_tiny")
    syn = Gs._state["components"]["synthesis"]
    syn._state["variables"] = [(k, v) for k, v in syn._state["variables"] if k != "8x8/Conv1/weight"]
    missing = tmp_path / "missing.pkl"
    missing.write_bytes(dumps((G, D, Gs), "p4-np1"))
    with pytest.raises(SGError, match="lacks the TF variable 'synthesis/8x8/Conv1/weight'"):
        load_checkpoint(missing)

    G, D, Gs = golden_networks(DATA, "sg1_32_tiny")
    Gs._state["static_kwargs"]["fmap_base"] = "lots"
    damaged = tmp_path / "damaged.pkl"
    damaged.write_bytes(dumps((G, D, Gs), "p4-np1"))
    with pytest.raises(SGError, match="kwargs or variables are damaged"):
        load_checkpoint(damaged)

    G, D, Gs = golden_networks(DATA, "sg1_32_tiny")
    Gs._state["components"]["synthesis"]._state["static_kwargs"]["use_instance_norm"] = False
    variant = tmp_path / "variant.pkl"
    variant.write_bytes(dumps((G, D, Gs), "p4-np1"))
    with pytest.raises(SGError, match="use_instance_norm=False; sg supports only the official True"):
        load_checkpoint(variant)

    other = tmp_path / "other.pkl"
    lone = network("Gs", "G_paper", {}, [("lod", np.float32(0))])
    other.write_bytes(dumps((lone, lone, lone), "p4-np1"))
    with pytest.raises(SGError, match="built by 'G_paper'"):
        load_checkpoint(other)
    assert isinstance(lone, Network)


# ---- commands --------------------------------------------------------------------------------------------


def _sg(monkeypatch, capsys, *args: str) -> str:
    from stylegan_cli.main import main

    monkeypatch.setattr(sys, "argv", ["sg", *args])
    monkeypatch.setenv("COLUMNS", "200")
    try:
        main()
    except SystemExit as e:
        assert e.code in (0, None), f"sg {' '.join(args)} failed with exit code {e.code}"
    return capsys.readouterr().out


def test_sg_info_convert_and_sample(pickles, tmp_path, monkeypatch, capsys):
    pkl = pickles["sg1_32_tiny", "p4-np1"]
    out = _sg(monkeypatch, capsys, "info", str(pkl))
    for text in ("StyleGAN1", "G_style / D_basic", "protocol 4", "numpy 1.x", "lod", "psi 0.7", "cutoff 8"):
        assert text in out, text

    st = tmp_path / "sg1.safetensors"
    _sg(monkeypatch, capsys, "convert", str(pkl), str(st))
    ck = load_checkpoint(st)
    assert ck.g_config.trunc_cutoff == 8 and ck.d_config.arch == "stylegan1" and ck.G is not None
    # The converted file still says what it was imported from.
    assert ck.details == load_checkpoint(pkl).details and ck.details
    out = _sg(monkeypatch, capsys, "info", str(st))
    for text in ("StyleGAN1", "G_style / D_basic", "protocol 4"):
        assert text in out, text
    ref = _ref("sg1_32_tiny")
    for model in (pkl, st):
        outdir = tmp_path / model.suffix.strip(".")
        args = ["--seeds", "0,1,85,2026", "--trunc", "0.7", "--noise-mode", "const", "--outdir", str(outdir)]
        _sg(monkeypatch, capsys, "sample", str(model), *args, "--device", "cpu")
        for i, s in enumerate(ref["seeds"]):
            with Image.open(outdir / f"seed{int(s):04d}.png") as im:
                got = np.asarray(im).astype(np.int32)
            assert np.abs(got - ref["png_psi07"][i].astype(np.int32)).max() <= 1
    # --trunc-cutoff overrides the model's 8 (here: all its ws): only ws 0..3 are pulled then.
    outdir = tmp_path / "cut4"
    args = [
        "--seeds",
        "1",
        "--trunc",
        "0.7",
        "--trunc-cutoff",
        "4",
        "--noise-mode",
        "const",
        "--outdir",
        str(outdir),
    ]
    _sg(monkeypatch, capsys, "sample", str(st), *args, "--device", "cpu")
    G = ck.G_ema
    with torch.no_grad():
        expect = to_uint8(G(seeds_to_z([1], G.z_dim), None, 0.7, truncation_cutoff=4, noise_mode="const"))[0]
    with Image.open(outdir / "seed0001.png") as im:
        got = np.asarray(im).astype(np.int32)
    assert np.abs(got - expect.numpy().astype(np.int32)).max() <= 1
    assert np.abs(got - ref["png_psi07"][1].astype(np.int32)).max() > 1


def test_sg2_info_says_stylegan2_truncation_defaults(pickles, monkeypatch, capsys):
    out = _sg(monkeypatch, capsys, "info", str(pickles["sg2_32_tiny", "np2"]))
    for text in ("StyleGAN2", "G_main / D_stylegan2", "protocol 5", "numpy 2", "psi 0.5", "all layers"):
        assert text in out, text


def test_buffer_of_a_network_pickle_is_not_a_tf_one(tmp_path):
    """A PyTorch (stylegan2-ada) pickle still goes to the PyTorch importer."""
    from core.checkpoint.tf_official import is_tf_pickle

    p = tmp_path / "plain.pkl"
    buf = io.BytesIO()
    pickle.dump({"G_ema": None}, buf)
    p.write_bytes(buf.getvalue())
    assert not is_tf_pickle(p)


# ---- training ----------------------------------------------------------------------------------------------


def test_training_starts_from_a_stylegan1_tf_pickle_then_resumes(pickles, tmp_path):
    """`sg train --resume karras2019stylegan-*.pkl`: G, D and Gs from the file, kimg 0, fresh optimisers;
    it snapshots, and the run resumes from its snapshot like any other."""
    from core.data.layout import write_prepared
    from core.training import TrainOptions, train
    from core.training.distributed import DistContext
    from core.training.loop import Trainer
    from core.training.setup import plan_run

    rng = np.random.default_rng(0)
    data = write_prepared(
        tmp_path / "data32", rng.integers(0, 256, (16, 3, 32, 32), dtype=np.uint8), None, {}
    )
    pkl = pickles["sg1_32_tiny", "p4-np1"]
    opts = dict(data=str(data), outdir=str(tmp_path / "runs"), cfg="tiny", batch=4, progress=False, seed=0)
    plan = plan_run(TrainOptions(resume=str(pkl), kimg=0.008, snap=0.004, tick=0.004, **opts))
    assert not plan.continues and plan.config.arch == "stylegan1"
    trainer = Trainer(plan, DistContext())
    src = _load(pkl)
    assert trainer.cur_nimg == 0 and not trainer.opt_G.state
    for ours, theirs in ((trainer.G, src.G), (trainer.D, src.D), (trainer.G_ema, src.G_ema)):
        for k, v in theirs.state_dict().items():
            assert torch.equal(ours.state_dict()[k].cpu(), v), k
    first = trainer.run()
    ck = load_checkpoint(first.snapshot)
    assert ck.kimg == pytest.approx(0.008)
    assert (
        ck.g_config.arch == "stylegan1" and ck.g_config.trunc_cutoff == 8 and ck.d_config.arch == "stylegan1"
    )
    moved = ck.D.fc.weight - src.D.fc.weight
    assert 0 < moved.abs().max() < 0.5  # trained a little, from the official weights

    resumed = train(TrainOptions(resume=str(first.run_dir), kimg=0.016, progress=False))
    ck2 = load_checkpoint(resumed.snapshot)
    assert ck2.kimg == pytest.approx(0.016) and ck2.training_state["cur_nimg"] == 16
    assert ck2.d_config.arch == "stylegan1"


def _with_labels(name: str, classes: int, rng: np.random.Generator):
    """A golden model made conditional as the official TF code builds one (label_size in every network's
    kwargs, a LabelConcat embedding before the mapping, Dense0 widened for it): (G, D, Gs, label weight)."""
    G, D, Gs = golden_networks(DATA, name)
    for net in (G, D, Gs, *G._state["components"].values(), *Gs._state["components"].values()):
        net._state["static_kwargs"]["label_size"] = classes
    label_w = rng.standard_normal((classes, 32)).astype(np.float32)
    for net in (G, Gs):
        mapping = net._state["components"]["mapping"]
        wide = [
            (k, rng.standard_normal((64, 32)).astype(np.float32) if k == "Dense0/weight" else v)
            for k, v in mapping._state["variables"]
        ]
        mapping._state["variables"] = [("LabelConcat/weight", label_w), *wide]
    return G, D, Gs, label_w


def test_conditional_stylegan1_pickle_concatenates_labels_and_switches_d(tmp_path):
    """A label_size 3 StyleGAN1 file (the golden weights, widened where labels enter): w equals the official
    G_mapping formula computed here in numpy, and D scores the given class's column (LabelSwitch)."""
    rng = np.random.default_rng(5)
    G, D, Gs, label_w = _with_labels("sg1_32_tiny", 3, rng)
    head = {"4x4/Dense1/weight": rng.standard_normal((32, 3)), "4x4/Dense1/bias": rng.standard_normal(3)}
    D._state["variables"] = [
        (k, head[k].astype(np.float32) if k in head else v) for k, v in D._state["variables"]
    ]
    path = tmp_path / "cond.pkl"
    path.write_bytes(dumps((G, D, Gs), "p4-np1"))
    ck = load_checkpoint(path)
    assert ck.g_config.c_dim == 3 and ck.g_config.label_concat and ck.d_config.c_dim == 3

    z = rng.standard_normal((2, 32)).astype(np.float32)
    c = np.eye(3, dtype=np.float32)[[2, 0]]
    tf = dict(Gs._state["components"]["mapping"]._state["variables"])
    x = np.concatenate([z, c @ label_w], axis=1)
    x = x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)
    for i in range(3):
        W, b = tf[f"Dense{i}/weight"], tf[f"Dense{i}/bias"]
        x = x @ (W * np.sqrt(2) / np.sqrt(W.shape[0]) * 0.01) + b * 0.01
        x = np.maximum(x, 0.2 * x)
    with torch.no_grad():
        w = ck.G_ema.mapping(torch.from_numpy(z), torch.from_numpy(c))
        torch.testing.assert_close(w[:, 0], torch.from_numpy(x).float(), atol=1e-5, rtol=1e-5)
        img = torch.randn(2, 3, 32, 32)
        scores = ck.D.out(ck.D.fc(ck.D.conv(ck.D.mbstd(ck.D.b8(ck.D.b16(ck.D.b32(img)))))))
        torch.testing.assert_close(ck.D(img, torch.from_numpy(c)), scores[:, [2, 0]].diagonal()[:, None])


def test_conditional_stylegan2_pickle_maps_labels_and_leaves_its_d_out(tmp_path):
    """StyleGAN2 TF: the same LabelConcat, lrelu gain after the bias; its label-switch D has no sg twin."""
    rng = np.random.default_rng(6)
    G, D, Gs, label_w = _with_labels("sg2_32_tiny", 2, rng)
    path = tmp_path / "cond2.pkl"
    path.write_bytes(dumps((G, D, Gs), "np2"))
    ck = load_checkpoint(path)
    assert ck.D is None and "not imported" in ck.details["D"] and ck.G is not None
    z = rng.standard_normal((2, 32)).astype(np.float32)
    c = np.eye(2, dtype=np.float32)[[1, 0]]
    tf = dict(Gs._state["components"]["mapping"]._state["variables"])
    x = np.concatenate([z, c @ label_w], axis=1)
    x = x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)
    for i in range(2):
        W, b = tf[f"Dense{i}/weight"], tf[f"Dense{i}/bias"]
        x = x @ (W / np.sqrt(W.shape[0]) * 0.01) + b * 0.01
        x = np.maximum(x, 0.2 * x) * np.sqrt(2)
    with torch.no_grad():
        w = ck.G_ema.mapping(torch.from_numpy(z), torch.from_numpy(c))
    torch.testing.assert_close(w[:, 0], torch.from_numpy(x).float(), atol=1e-5, rtol=1e-5)


def test_a_file_built_with_fused_scale_true_gets_flipped_upsampling_kernels(pickles, tmp_path):
    """TF's fused upscale conv is nearest 2x + conv with the flipped kernel; ours fuses only from 128 px
    ('auto'), so a file fused everywhere has its lower Conv0_up kernels flipped on the way in."""
    G, D, Gs = golden_networks(DATA, "sg1_32_tiny")
    for net in (G, Gs):
        net._state["components"]["synthesis"]._state["static_kwargs"]["fused_scale"] = True
    path = tmp_path / "fused.pkl"
    path.write_bytes(dumps((G, D, Gs), "p4-np1"))
    fused, auto = (
        load_checkpoint(path).G_ema.synthesis,
        _load(pickles["sg1_32_tiny", "p4-np1"]).G_ema.synthesis,
    )
    for res in (8, 16, 32):
        a, b = getattr(fused, f"b{res}"), getattr(auto, f"b{res}")
        assert torch.equal(a.conv0.weight, b.conv0.weight.flip([2, 3]))
        assert torch.equal(a.conv1.weight, b.conv1.weight)
