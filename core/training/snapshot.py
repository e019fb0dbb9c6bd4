"""Run directories and training snapshots: everything needed to continue a run bit for bit.

A snapshot is an sg checkpoint (G, D, G_ema) whose state tensors hold the optimiser moments, the loss's
running means and the RNG states, and whose JSON training state holds counters and options.
Snapshot names and lookup live in core.checkpoint.snapshots, where every command can use them.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.checkpoint import Checkpoint, load_checkpoint
from core.checkpoint.snapshots import list_snapshots, newest_snapshot
from core.errors import SGError

RUN_DIR_RE = re.compile(r"^(\d{5,})-")


# ---- run directories -------------------------------------------------------------------------------


def next_run_dir(outdir: str | Path, desc: str) -> Path:
    """Create `outdir/NNNNN-desc`, numbered one past the highest existing run (as the official trainer)."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    while True:
        ids = [int(m.group(1)) for p in outdir.iterdir() if (m := RUN_DIR_RE.match(p.name)) and p.is_dir()]
        run_dir = outdir / f"{max(ids, default=-1) + 1:05d}-{desc}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:  # another run took the number first
            continue


def sanitize(name: str) -> str:
    """A dataset or config name made safe for a directory name."""
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_") or "data"


def resolve_resume_path(path: str | Path) -> Path:
    """A model file as is; a run directory gives its newest snapshot."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SGError(f"--resume: not found: {p}")
    if p.is_dir():
        newest = newest_snapshot(p)
        if newest is None:
            raise SGError(f"--resume: no network-snapshot-*.safetensors in {p}")
        return newest
    return p


def prune_snapshots(run_dir: str | Path, keep: int | None) -> list[Path]:
    """Delete all but the `keep` newest snapshots (never the newest); returns what was removed."""
    if keep is None:
        return []
    snaps = list_snapshots(run_dir)
    doomed = snaps[: max(len(snaps) - max(keep, 1), 0)]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


# ---- RNG and optimiser state -----------------------------------------------------------------------


def capture_rng() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """torch (CPU and every CUDA device), numpy and python `random` states as tensors + JSON."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy_keys"] = torch.from_numpy(keys.astype(np.int64))
    version, state, gauss_next = random.getstate()
    meta = {
        "numpy": [kind, int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(state), gauss_next],
    }
    return tensors, meta


def restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(t for t in tensors if t.startswith("rng.cuda."))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    if "rng.numpy_keys" in tensors and "numpy" in meta:
        kind, pos, has_gauss, gauss = meta["numpy"]
        np.random.set_state(
            (kind, tensors["rng.numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, gauss)
        )
    if "python" in meta:
        version, state, gauss_next = meta["python"]
        random.setstate((version, tuple(state), gauss_next))


def optimizer_state(
    opt: torch.optim.Optimizer, prefix: str
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Optimiser moments as tensors `prefix.<param>.<name>` and its param groups as JSON."""
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for name, value in state.items():
            tensors[f"{prefix}.{idx}.{name}"] = value if torch.is_tensor(value) else torch.tensor(value)
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups}


def load_optimizer_state(
    opt: torch.optim.Optimizer,
    tensors: dict[str, torch.Tensor],
    meta: dict[str, Any],
    prefix: str,
) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    p = prefix + "."
    for key, value in tensors.items():
        if key.startswith(p):
            idx, name = key[len(p) :].split(".", 1)
            state.setdefault(int(idx), {})[name] = value
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (ValueError, KeyError) as exc:
        raise SGError(f"cannot restore the {prefix} optimiser from the snapshot ({exc})") from None


# ---- reading back ----------------------------------------------------------------------------------


def is_training_snapshot(ck: Checkpoint) -> bool:
    """An sg snapshot written by this trainer (not a bare or imported model)."""
    return ck.source == "sg" and "cur_nimg" in ck.training_state and ck.G is not None and ck.D is not None


def load_resume(path: str | Path) -> tuple[Path, Checkpoint]:
    """The resolved model file and its checkpoint, on CPU."""
    p = resolve_resume_path(path)
    return p, load_checkpoint(p, "cpu")
