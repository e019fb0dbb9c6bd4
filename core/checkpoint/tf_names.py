"""Rows of a TF -> sg parameter table and the code that applies one (tables: tf_names_stylegan1/2.py).

A row names one TF variable (its path inside G/D/Gs, with components as `mapping/` and `synthesis/`),
the tensor of ours it becomes, the layout change, and a scale/offset that moves a difference in where
the official code applies a constant into the stored value. TF variables a finished (lod 0) network
never reads are listed as dead patterns; anything else left over is an error, so a table that misses a
variable cannot pass silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from core.errors import SGError

# Layout changes, TF -> ours. TF convs are HWIO cross-correlations, ours OIHW; TF dense weights are
# [in, out], ours [out, in].
LAYOUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "same": lambda a: a,
    "hwio>oihw": lambda a: a.transpose(3, 2, 0, 1),
    "flip,hwio>oihw": lambda a: a[::-1, ::-1].transpose(3, 2, 0, 1),  # TF conv2d_transpose kernels
    "io>oi": lambda a: a.T,
    "[1,C,H,W]>[C,H,W]": lambda a: a[0],
    "[1,1,H,W]>[H,W]": lambda a: a[0, 0],
}


@dataclass(frozen=True)
class Rule:
    """TF variable `tf` -> our tensor `ours`: value = LAYOUTS[layout](tf) * scale + offset."""

    tf: str
    ours: str
    layout: str = "same"
    scale: float = 1.0
    offset: float = 0.0

    def convert(self, value: np.ndarray) -> torch.Tensor:
        a = np.asarray(LAYOUTS[self.layout](np.asarray(value, dtype=np.float32)), dtype=np.float32)
        if self.scale != 1.0:
            a = a * np.float32(self.scale)
        if self.offset != 0.0:
            a = a + np.float32(self.offset)
        return torch.from_numpy(np.array(a, dtype=np.float32, order="C"))  # a copy; keeps 0-d shapes


def conv_rules(tf: str, ours: str) -> list[Rule]:
    """A plain TF conv layer (HWIO weight, bias) -> our conv (OIHW weight, bias); both families use it."""
    return [Rule(f"{tf}/weight", f"{ours}.weight", "hwio>oihw"), Rule(f"{tf}/bias", f"{ours}.bias")]


def dense_rules(tf: str, ours: str) -> list[Rule]:
    """A TF dense layer (IO weight, bias) -> our fully connected layer (OI weight, bias)."""
    return [Rule(f"{tf}/weight", f"{ours}.weight", "io>oi"), Rule(f"{tf}/bias", f"{ours}.bias")]


def apply_rules(
    tf_vars: dict[str, np.ndarray],
    rules: list[Rule],
    dead: list[str],
    module: torch.nn.Module,
    derived: tuple[str, ...],
    what: str,
    path: str | os.PathLike,
) -> dict[str, torch.Tensor]:
    """Our full state dict for `module`: every parameter from a row, constant buffers (names ending in
    one of `derived`, e.g. fixed blur filters) from the fresh module. Every TF variable must be used or
    dead, every row's variable must exist with the shape our tensor needs."""
    own = module.state_dict()
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for rule in rules:
        if rule.tf not in tf_vars:
            raise SGError(
                f"{path}: {what} lacks the TF variable '{rule.tf}' (damaged or unsupported network)"
            )
        if rule.ours not in own:
            raise SGError(f"{path}: {what}: no tensor '{rule.ours}' for '{rule.tf}' (unsupported network)")
        t = rule.convert(tf_vars[rule.tf])
        if tuple(t.shape) != tuple(own[rule.ours].shape):
            raise SGError(
                f"{path}: {what} variable '{rule.tf}' has shape {tuple(np.shape(tf_vars[rule.tf]))}, "
                f"which does not fit its kwargs (want {tuple(own[rule.ours].shape)} after '{rule.layout}')"
            )
        out[rule.ours] = t
        used.add(rule.tf)
    leftover = [k for k in tf_vars if k not in used and not any(re.fullmatch(p, k) for p in dead)]
    if leftover:
        raise SGError(f"{path}: {what} has variables sg does not know: {', '.join(sorted(leftover)[:4])}")
    for k, v in own.items():
        if k not in out:
            if not k.endswith(derived):
                raise SGError(f"{path}: {what}: nothing in the file gives '{k}' (unsupported network)")
            out[k] = v.clone()
    return out
