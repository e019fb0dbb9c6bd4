"""Write NVIDIA-TF-style network pickles for tests, exactly as LAYOUT.md (golden_tf) describes them.

The official `misc.save_pkl` pickles the tuple (G, D, Gs) of `dnnlib.tflib.network.Network` objects:
NEWOBJ(Network) + BUILD(state), with the state's keys in the order of `Network.__getstate__` and the
variables as (name, numpy value) pairs. Numpy values are spelled as the numpy that wrote the file would:

- "p4-np1": protocol 4, numpy 1.x: `numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')` + BUILD((1,
  shape, dtype, False, raw bytes)), `numpy.dtype`, `numpy.core.multiarray.scalar` (the released files);
- "p5-np1": protocol 5, numpy 1.x: `numpy.core.numeric._frombuffer(bytearray, dtype, shape, 'C')`;
- "np2": what the installed numpy 2 itself writes (protocol 5), with `numpy._core.*` globals; the real
  pickler and real numpy write it, with a stand-in `dnnlib.tflib.network` module present while writing.
The numpy-1 spellings cannot come from the installed numpy 2, so a pickler subclass emits them.
"""

from __future__ import annotations

import copyreg
import json
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np

SPELLINGS = ("p4-np1", "p5-np1", "np2")
STATE_ORDER = (
    "version",
    "name",
    "static_kwargs",
    "components",
    "build_module_src",
    "build_func_name",
    "variables",
)


class Network:
    """Stands for dnnlib.tflib.network.Network while writing (pickled by reference under that name)."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state

    def __getstate__(self) -> dict[str, Any]:
        return self._state

    def __reduce_ex__(self, protocol: int) -> Any:  # NEWOBJ(Network, ()) + BUILD(state), as the default does
        return (copyreg.__newobj__, (type(self),), self._state)


class _Name:
    """A global written by name only (numpy 1.x spellings that the installed numpy cannot produce)."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> Any:  # never called: only written
        raise AssertionError("a name stand-in was called")


_NDARRAY = _Name("numpy", "ndarray")
_DTYPE = _Name("numpy", "dtype")


class _Np1Pickler(pickle._Pickler):
    """The pure-Python pickler, with numpy objects reduced as numpy 1.x reduces them."""

    def __init__(self, file: Any, protocol: int) -> None:
        super().__init__(file, protocol=protocol)
        self.reconstruct = _Name("numpy.core.multiarray", "_reconstruct")
        self.scalar = _Name("numpy.core.multiarray", "scalar")
        self.frombuffer = _Name("numpy.core.numeric", "_frombuffer")

    def save_global(self, obj: Any, name: str | None = None) -> None:
        if isinstance(obj, _Name):
            module, name = obj.module, obj.name
        elif obj is Network:
            module, name = "dnnlib.tflib.network", "Network"
        else:
            return super().save_global(obj, name)
        if self.proto >= 4:
            self.save(module)
            self.save(name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{module}\n{name}\n".encode())
        self.memoize(obj)

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, _Name) or obj is Network:
            return NotImplemented
        if isinstance(obj, np.dtype):  # numpy 1: dtype('f4', False, True) + BUILD((3, '<', None, ...))
            return (_DTYPE, (obj.str[1:], False, True), obj.__reduce__()[2])
        if isinstance(obj, np.generic):
            return (self.scalar, (obj.dtype, obj.tobytes()))
        if isinstance(obj, np.ndarray):
            a = np.ascontiguousarray(obj)
            if self.proto >= 5:
                return (self.frombuffer, (pickle.PickleBuffer(a), a.dtype, a.shape, "C"))
            return (self.reconstruct, (_NDARRAY, (0,), b"b"), (1, a.shape, a.dtype, False, a.tobytes()))
        return NotImplemented

    dispatch = dict(pickle._Pickler.dispatch)
    dispatch[_Name] = lambda self, obj: self.save_global(obj)  # names, not objects


def network(
    name: str,
    func: str,
    kwargs: dict[str, Any],
    variables: list[tuple[str, Any]],
    components: dict[str, Network] | None = None,
    version: int = 3,
) -> Network:
    """A Network with the official state layout (keys in __getstate__ order)."""
    state = {
        "version": version,
        "name": name,
        "static_kwargs": dict(kwargs),
        "components": dict(components or {}),
        "build_module_src": f"# {func}: the official module source is not part of test pickles\n",
        "build_func_name": func,
        "variables": list(variables),
    }
    assert tuple(state) == STATE_ORDER
    return Network(state)


def dumps(top: Any, spelling: str) -> bytes:
    """The pickle bytes of `top` in one of SPELLINGS."""
    import io

    if spelling == "np2":
        module = types.ModuleType("dnnlib.tflib.network")
        module.Network = Network
        saved = {k: sys.modules.get(k) for k in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network")}
        old = (Network.__module__, Network.__qualname__)
        Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
        for k in saved:
            sys.modules[k] = module if k.endswith("network") else types.ModuleType(k)
        try:
            return pickle.dumps(top, protocol=5)
        finally:
            Network.__module__, Network.__qualname__ = old
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v
    protocol = {"p4-np1": 4, "p5-np1": 5}[spelling]
    buf = io.BytesIO()
    _Np1Pickler(buf, protocol).dump(top)
    return buf.getvalue()


# ---- golden networks as pickles ----------------------------------------------------------------------


def _value(a: np.ndarray) -> Any:
    """Scalars (lod, StyleGAN2 noise_strength) are numpy scalars in the real files, arrays otherwise."""
    a = np.asarray(a, dtype=np.float32)
    return a[()] if a.ndim == 0 else a


def golden_networks(folder: Path, model: str, weights: str | None = None, g_from: str = "G") -> tuple:
    """(G, D, Gs) Networks of a golden model, variables in the official creation order (meta own_vars)."""
    meta = json.loads((folder / f"{model}_meta.json").read_text())
    w = np.load(folder / (weights or f"{model}_weights.npz"))
    version = 3 if meta["family"] == "sg1" else 4

    def build(tag: str, desc: dict[str, Any], prefix: str) -> Network:
        comps = {
            role: build(tag, c, f"{prefix}{c['name']}/") for role, c in (desc.get("components") or {}).items()
        }
        variables = [(v[0], _value(w[f"{tag}/{prefix}{v[0]}"])) for v in desc["own_vars"]]
        return network(
            desc["name"], desc["build_func_name"], desc["static_kwargs"], variables, comps, version
        )

    nets = meta["networks"]
    G = build(g_from, {**nets["G"], "name": "G"}, "")
    return G, build("D", nets["D"], ""), build("Gs", nets["Gs"], "")


def write_golden_pickle(
    folder: Path, model: str, out: Path, spelling: str, weights: str | None = None, g_from: str = "G"
) -> Path:
    out.write_bytes(dumps(golden_networks(folder, model, weights, g_from), spelling))
    return out
