"""Writes pickles laid out like official NVlabs network pickles, for importer tests.

The official files reduce every network to `torch_utils.persistence._reconstruct_persistent_obj(meta)`
with the module's state; we reproduce that byte layout with stand-in classes, so the test pickle is
read exactly as a real one would be (and nothing official is needed).
"""

from __future__ import annotations

import pickle
import sys
import types
from typing import Any

import torch


def _fake_modules() -> tuple[types.ModuleType, types.ModuleType, types.ModuleType]:
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - only referenced by name
        raise AssertionError("never called while writing")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    dnnlib_util = types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__ = "dnnlib.util"
    EasyDict.__qualname__ = "EasyDict"
    dnnlib_util.EasyDict = EasyDict
    return persistence, dnnlib_util, types.ModuleType("torch_utils")


class _Persistent:
    def __init__(self, class_name: str, state: dict[str, Any], reconstruct) -> None:
        self.meta = dict(
            type="class",
            version=6,
            module_src="# official module source would be here\n",
            class_name=class_name,
            state=state,
        )
        self.reconstruct = reconstruct

    def __reduce__(self):
        return (self.reconstruct, (self.meta,), None)


def _tree(flat: dict[str, torch.Tensor]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for name, t in flat.items():
        *path, leaf = name.split(".")
        node = root
        for p in path:
            node = node.setdefault(p, {})
        node[leaf] = t
    return root


def _records(
    node: dict[str, Any], class_name: str, init_kwargs: dict | None, reconstruct, easydict
) -> _Persistent:
    params, buffers, modules = {}, {}, {}
    for k, v in node.items():
        if isinstance(v, dict):
            modules[k] = _records(v, k, None, reconstruct, easydict)
        elif k in ("noise_const", "resample_filter", "w_avg"):
            buffers[k] = v.clone()
        else:
            params[k] = torch.nn.Parameter(v.clone(), requires_grad=False)
    state = {
        "training": False,
        "_parameters": params,
        "_buffers": buffers,
        "_modules": modules,
        "_init_args": (),
        "_init_kwargs": easydict(init_kwargs or {}),
    }
    return _Persistent(class_name, state, reconstruct)


def write_official_pickle(
    path,
    G_state: dict[str, torch.Tensor],
    G_kwargs: dict,
    D_state: dict | None = None,
    D_kwargs: dict | None = None,
) -> None:
    """Write `{training_set_kwargs, G, D, G_ema, augment_pipe}` as the official training loop does."""
    persistence, dnnlib_util, torch_utils = _fake_modules()
    saved = {
        k: sys.modules.get(k) for k in ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    }
    sys.modules.update(
        {
            "torch_utils": torch_utils,
            "torch_utils.persistence": persistence,
            "dnnlib": types.ModuleType("dnnlib"),
            "dnnlib.util": dnnlib_util,
        }
    )
    try:
        rec, ed = persistence._reconstruct_persistent_obj, dnnlib_util.EasyDict
        G = _records(_tree(G_state), "Generator", G_kwargs, rec, ed)
        G_ema = _records(_tree(G_state), "Generator", G_kwargs, rec, ed)
        D = _records(_tree(D_state), "Discriminator", D_kwargs, rec, ed) if D_state else None
        data = {
            "training_set_kwargs": ed(resolution=G_kwargs["img_resolution"]),
            "G": G,
            "D": D,
            "G_ema": G_ema,
            "augment_pipe": None,
        }
        with open(path, "wb") as f:
            pickle.dump(data, f)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
