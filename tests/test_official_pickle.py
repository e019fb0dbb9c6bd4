"""Official network pickles as real writers produce them: numpy 1 and numpy 2 spellings, pickle protocols,
the whole module `__dict__` of every persistent network, torch 1.7 and current torch layouts; code refused."""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from core.checkpoint import load_checkpoint
from core.checkpoint.official import PersistentRecord, read_official_pickle
from core.checkpoint.unpickler import DATA_GLOBALS, RestrictedUnpickler
from core.errors import SGError
from core.generate import one_hot, seeds_to_z
from tests.official_pickle import (
    ERA_KEYS,
    TORCH_NOW_KEYS,
    numpy_pickle_bytes,
    official_pickle_bytes,
    stylegan3_pickle_bytes,
    write_official_pickle,
)

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
SPELLING = {1: b"numpy.core.multiarray", 2: b"numpy._core.multiarray"}


def _load_bytes(data: bytes):
    return RestrictedUnpickler(io.BytesIO(data), DATA_GLOBALS).load()


def _golden(name: str):
    """(G_ema state, G kwargs, D state, D kwargs, reference arrays) of a golden in tests/data."""
    path = DATA / f"{name}.safetensors"
    with safe_open(str(path), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    G = {k.removeprefix("G_ema."): v for k, v in tensors.items() if k.startswith("G_ema.")}
    D = {k.removeprefix("D."): v for k, v in tensors.items() if k.startswith("D.")}
    with np.load(DATA / f"{name}_ref.npz") as d:
        ref = {k: d[k] for k in d.files}
    return G, json.loads(meta["G_init_kwargs"]), D, json.loads(meta["D_init_kwargs"]), ref


# ----------------------------------------------------------------------------------------------------------
# numpy values in every spelling


@pytest.mark.parametrize("spelling", [1, 2])
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_scalars_dtypes_and_arrays_in_both_spellings(spelling: int, protocol: int) -> None:
    values = {
        "weight_gain": np.float64(1 / np.sqrt(512)),
        "act_gain": np.sqrt(2),
        "count": np.int64(-7),
        "flag": np.True_,
        "half": np.float16(0.5),
        "dtype": np.dtype("float32"),
        "c_order": np.arange(12, dtype=np.float32).reshape(3, 4),
        "f_order": np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3)),
        "stride0": np.broadcast_to(np.asarray(36), [2]),  # stylegan3's in_size
        "empty": np.zeros((0, 3), dtype=np.uint8),
    }
    data = numpy_pickle_bytes(values, numpy_spelling=spelling, protocol=protocol)
    assert SPELLING[spelling] in data and SPELLING[3 - spelling] not in data
    if protocol == 5:
        assert b"_frombuffer" in data  # protocol 5 writes contiguous arrays through numeric._frombuffer
    got = _load_bytes(data)
    assert set(got) == set(values)
    for k, v in values.items():
        assert type(got[k]) is type(v) or isinstance(got[k], np.ndarray), k
        if isinstance(v, np.ndarray):
            assert got[k].dtype == v.dtype and got[k].shape == v.shape
            np.testing.assert_array_equal(got[k], v)
        else:
            assert got[k] == v, k
    assert got["weight_gain"] == 1 / np.sqrt(512) and isinstance(got["weight_gain"], np.float64)


OBJECT_ARRAYS = {
    "object": np.array([1, "x", None], dtype=object),
    "structured": np.array([(1, "a")], dtype=[("n", "i4"), ("o", "O")]),
}


@pytest.mark.parametrize("protocol", [2, 4, 5])
@pytest.mark.parametrize("kind", list(OBJECT_ARRAYS))
@pytest.mark.parametrize("spelling", [1, 2])
def test_object_dtype_arrays_are_refused(protocol: int, kind: str, spelling: int) -> None:
    data = numpy_pickle_bytes({"a": OBJECT_ARRAYS[kind]}, numpy_spelling=spelling, protocol=protocol)
    with pytest.raises(SGError, match="object dtype"):
        _load_bytes(data)


def test_a_dtype_made_object_by_its_pickled_state_is_refused() -> None:
    """numpy.dtype('V8') whose pickled state sets the has-object flags: caught where the array is built."""
    reconstruct = np.zeros(1).__reduce__()[0]
    sneaky = np.dtype("V8")
    sneaky.__setstate__((3, "|", None, None, None, 8, 1, 0x3F))
    assert sneaky.hasobject

    class Sneaky:
        def __reduce__(self):
            return (reconstruct, (np.ndarray, (0,), b"b"), (1, (1,), sneaky, False, b"\0" * 8))

    with pytest.raises(SGError, match="object dtype"):
        _load_bytes(pickle.dumps({"a": Sneaky()}, protocol=4))


# ----------------------------------------------------------------------------------------------------------
# Code is refused before anything runs


class _Call:
    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


def _evil_payloads(marker: Path) -> dict[str, object]:
    import builtins
    import importlib
    import os

    cmd = f"touch {marker}"
    return {
        "os.system": _Call(os.system, cmd),
        "eval": _Call(builtins.eval, f"open({str(marker)!r}, 'w')"),
        "exec": _Call(builtins.exec, f"open({str(marker)!r}, 'w')"),
        "getattr": _Call(builtins.getattr, _Call(importlib.import_module, "os"), "system"),
        "subprocess": _Call(subprocess.Popen, ["touch", str(marker)]),
        "numpy.load": _Call(np.load, str(marker)),
        "torch.load": _Call(torch.load, str(marker)),
    }


@pytest.mark.parametrize(
    "name", ["os.system", "eval", "exec", "getattr", "subprocess", "numpy.load", "torch.load"]
)
def test_code_globals_are_refused_and_nothing_runs(tmp_path: Path, name: str) -> None:
    marker = tmp_path / "pwned"
    payload = _evil_payloads(marker)[name]
    for wrapped in (payload, {"G_ema": payload}, [1, {"x": payload}]):
        pkl = tmp_path / "evil.pkl"
        pkl.write_bytes(pickle.dumps(wrapped, protocol=4))
        with pytest.raises(
            SGError, match="refusing to load: the pickle asks for '.+'.*nothing from the file"
        ):
            load_checkpoint(pkl)
        assert not marker.exists()


def test_code_hidden_inside_a_real_network_pickle_is_refused(tmp_path: Path) -> None:
    """The official layout with one value swapped for a call: refused, not run."""
    import os

    G, G_kw, D, D_kw, _ = _golden("official_sg2ada_32")
    marker = tmp_path / "pwned"
    evil = {"path": _Call(os.system, f"touch {marker}")}
    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(official_pickle_bytes(G, G_kw, D, D_kw, training_set_kwargs=evil))
    with pytest.raises(SGError, match="refusing to load: the pickle asks for '(posix|nt|os).system'"):
        load_checkpoint(pkl)
    assert not marker.exists()


def test_module_source_in_the_pickle_is_never_run(tmp_path: Path) -> None:
    G, G_kw, D, D_kw, _ = _golden("official_sg2ada_32")
    marker = tmp_path / "pwned"
    src = {cls: f"open({str(marker)!r}, 'w').write('ran')\n" for cls in ("Generator", "MappingNetwork")}
    pkl = tmp_path / "net.pkl"
    write_official_pickle(pkl, G, G_kw, D, D_kw, module_src=src)
    ck = load_checkpoint(pkl)
    assert ck.G_ema.z_dim == G_kw["z_dim"] and not marker.exists()


def test_numpy_ndarray_called_directly_is_refused() -> None:
    data = pickle.dumps(_Call(np.ndarray, (3,), np.dtype("O")), protocol=4)
    with pytest.raises(SGError, match="refusing to load"):
        _load_bytes(data)


# ----------------------------------------------------------------------------------------------------------
# The official layout, in every variant real files come in


VARIANTS = [
    # (layout, numpy spelling, torch era, protocol)
    ("stylegan2-ada-pytorch", 1, "1.7", 3),  # a released pickle: numpy 1, torch 1.7, Python 3.7's protocol
    ("stylegan2-ada-pytorch", 1, "now", 4),
    ("stylegan2-ada-pytorch", 2, "now", 4),  # today's official trainer
    ("stylegan3", 1, "1.9", 4),  # stylegan3's released pickles: torch 1.9, numpy 1
    ("stylegan3", 2, "now", 4),
    ("stylegan3", 2, "now", 5),
]


@pytest.mark.parametrize("name", ["official_sg2ada_32", "official_sg3_32_cond"])
@pytest.mark.parametrize(("layout", "spelling", "era", "protocol"), VARIANTS)
def test_official_layout_imports_exactly(tmp_path, name, layout, spelling, era, protocol) -> None:
    G_state, G_kw, D_state, D_kw, ref = _golden(name)
    if layout == "stylegan2-ada-pytorch":  # it nests the synthesis kwargs
        syn = {
            k: G_kw.pop(k) for k in ("channel_base", "channel_max", "num_fp16_res", "conv_clamp") if k in G_kw
        }
        G_kw["synthesis_kwargs"] = {**G_kw.get("synthesis_kwargs", {}), **syn}
    else:
        G_kw.update(G_kw.pop("synthesis_kwargs", {}))
    pkl = tmp_path / "network-snapshot-000000.pkl"
    write_official_pickle(
        pkl,
        G_state,
        G_kw,
        D_state,
        D_kw,
        layout=layout,
        numpy_spelling=spelling,
        torch_era=era,
        protocol=protocol,
    )
    raw = pkl.read_bytes()
    assert (
        SPELLING[spelling] in raw
        and b"torch_utils.persistence" in raw
        and b"_reconstruct_persistent_obj" in raw
    )

    # Every persistent module arrives as its whole __dict__.
    top = read_official_pickle(pkl)
    assert set(top) == {"training_set_kwargs", "G", "D", "G_ema", "augment_pipe"}
    rec = top["G_ema"]
    keys, torch_keys = list(rec.state), ERA_KEYS.get(era, TORCH_NOW_KEYS)
    assert tuple(keys[: len(torch_keys)]) == torch_keys
    assert rec.state["training"] is False and rec.state["_non_persistent_buffers_set"] == set()
    assert keys[-2:] == ["_init_args", "_init_kwargs"] and rec.state["_init_args"] == ()
    fc0 = rec.children["mapping"].children["fc0"]
    assert isinstance(fc0.state["weight_gain"], np.float64) and fc0.state["bias_gain"] == 0.01
    conv = rec.children["synthesis"].children["b8"].children["conv0"]
    assert isinstance(conv.state["act_gain"], np.float64) and conv.state["act_gain"] == np.sqrt(2)
    assert (
        isinstance(top["augment_pipe"], PersistentRecord) and top["augment_pipe"].class_name == "AugmentPipe"
    )

    # And imports to the official numbers.
    ck = load_checkpoint(pkl)
    assert ck.source == "official-pkl" and ck.G is not None and ck.D is not None
    G, D = ck.G_ema, ck.D.eval()
    seeds = [int(s) for s in ref["seeds"]]
    c = one_hot([s % G.c_dim for s in seeds], G.c_dim) if G.c_dim else torch.zeros(len(seeds), 0)
    with torch.no_grad():
        ws = G.mapping(seeds_to_z(seeds, G.z_dim), c, truncation_psi=0.7)
        for i, s in enumerate(seeds):
            np.testing.assert_allclose(ws[i].numpy(), ref[f"w_seed{s}_psi0.7"], rtol=0, atol=1e-5)
        img = G.synthesis(ws, noise_mode="const")
        np.testing.assert_allclose(img.numpy(), ref["img_psi0.7"], rtol=0, atol=1e-5)
        logits = D(torch.from_numpy(ref["d_in"]), torch.from_numpy(ref["d_c"]))
    np.testing.assert_allclose(logits.numpy(), ref["d_out"], rtol=0, atol=1e-5)


def test_settings_missing_from_stylegan3_kwargs_come_from_the_modules(tmp_path: Path) -> None:
    """stylegan3's trainer leaves num_fp16_res / conv_clamp out of the kwargs (defaults 4 and 256) and its
    mapping averages W with beta 0.998: the importer reads what the stored modules hold."""
    G_state, G_kw, D_state, D_kw, _ = _golden("official_sg3_32_cond")
    for kw in (G_kw, D_kw):
        del kw["num_fp16_res"], kw["conv_clamp"]
    pkl = tmp_path / "sg3.pkl"
    write_official_pickle(pkl, G_state, G_kw, D_state, D_kw, layout="stylegan3")
    ck = load_checkpoint(pkl)
    assert ck.g_config.conv_clamp == 256 and ck.d_config.conv_clamp == 256
    assert ck.g_config.w_avg_beta == 0.998
    # num_fp16_res 4 at 32 px puts blocks 8, 16 and 32 in fp16: any value meaning the same blocks will do.
    assert ck.g_config.num_fp16_res >= 3 and ck.d_config.num_fp16_res >= 3


# ----------------------------------------------------------------------------------------------------------
# StyleGAN3


@pytest.mark.parametrize(("spelling", "protocol"), [(1, 4), (2, 4), (2, 5)])
def test_stylegan3_pickle_gets_one_line_naming_stylegan3(
    tmp_path: Path, spelling: int, protocol: int
) -> None:
    _, _, D_state, D_kw, _ = _golden("official_sg3_32_cond")
    D_kw = dict(D_kw, c_dim=5, img_resolution=32)
    pkl = tmp_path / "stylegan3-t.pkl"
    pkl.write_bytes(stylegan3_pickle_bytes(D_state, D_kw, numpy_spelling=spelling, protocol=protocol))
    raw = pkl.read_bytes()
    assert SPELLING[spelling] in raw and b"SynthesisInput" in raw
    with pytest.raises(SGError, match="StyleGAN3") as e:
        load_checkpoint(pkl)
    assert "numpy" not in str(e.value) and "\n" not in str(e.value)
    if (spelling, protocol) == (2, 4):
        r = subprocess.run(
            [sys.executable, "-m", "stylegan_cli.main", "info", str(pkl)],
            cwd=REPO,
            capture_output=True,
            text=True,
        )
        assert r.returncode != 0 and "Traceback" not in r.stderr
        errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "StyleGAN3" in errors[0] and "numpy" not in r.stderr, r.stderr
