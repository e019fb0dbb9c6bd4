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

from core import validate
from core.checkpoint import Checkpoint, load_checkpoint
from core.checkpoint.snapshots import list_snapshots, newest_snapshot
from core.errors import OutputError, SGError, os_error
from core.fileio import make_output_dir

RUN_DIR_RE = re.compile(r"^(\d{5,})-")


# ---- run directories -------------------------------------------------------------------------------


def next_run_dir(outdir: str | Path, desc: str) -> Path:
    """Create `outdir/NNNNN-desc`, numbered one past the highest existing run (as the official trainer).
    A file where the folder should be, or a read-only or full disk, is one line (core.fileio)."""
    outdir = make_output_dir(outdir)
    while True:
        ids = [int(m.group(1)) for p in outdir.iterdir() if (m := RUN_DIR_RE.match(p.name))]
        run_dir = outdir / f"{max(ids, default=-1) + 1:05d}-{desc}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:  # another run took the number first
            continue
        except OSError as exc:
            raise os_error(exc, run_dir, "cannot create the run folder") from None


def saved_status(last_snapshot: Path | None) -> str:
    """What a stopped or failed run leaves to continue from, and the command that continues it."""
    if last_snapshot is None:
        return "no snapshot had been written yet, so the run must start again"
    return f"last good snapshot: {last_snapshot} (intact); resume with: sg train --resume {last_snapshot}"


def unsaved_error(exc: BaseException, last_snapshot: Path | None) -> OutputError:
    """A file-system failure during training as one line: what failed, and what is safe to resume."""
    cause = str(os_error(exc)) if isinstance(exc, OSError) else str(exc)
    return OutputError(f"{cause}; {saved_status(last_snapshot)}")


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
    """The random streams exactly as the snapshot left them; an edited or damaged state is one line."""
    try:
        _restore_rng(tensors, meta)
    except (TypeError, ValueError, RuntimeError, IndexError, OverflowError) as exc:
        raise SGError(
            f"cannot restore the random state from the snapshot ({exc}); it was edited or damaged"
        ) from None


def _restore_rng(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
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
    """The resolved model file and its checkpoint, on CPU; a training snapshot's state is checked here,
    so an edited or damaged one is one line naming the field, not a KeyError deep in the trainer."""
    p = resolve_resume_path(path)
    ck = load_checkpoint(p, "cpu")
    if is_training_snapshot(ck):
        check_training_state(ck, p)
    return p, ck


MAX_NIMG = 10**13  # far beyond any real run (the official FFHQ runs stop at 25,000 kimg)


def check_training_state(ck: Checkpoint, path: Path) -> None:
    """Types and ranges of what the trainer reads back: counters, optimiser groups, stored options."""
    import dataclasses

    from core.training.options import RunConfig, TrainOptions

    ts = ck.training_state

    def bad(field: str, what: str) -> SGError:
        return SGError(f"{path}: training_state field '{field}' {what} (the snapshot was edited or damaged)")

    for name in ("cur_nimg", "batch_idx"):
        v = ts.get(name)
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_NIMG:
            raise bad(name, f"must be an integer within 0..{MAX_NIMG}, got {v!r}")
    ws = ts.get("world_size", 1)
    if isinstance(ws, bool) or not isinstance(ws, int) or ws < 1:
        raise bad("world_size", f"must be an integer >= 1, got {ws!r}")
    optim = ts.get("optim")
    if not isinstance(optim, dict):
        raise bad("optim", "is missing or not an object")
    for name in ("G", "D"):
        groups = optim.get(name, {}).get("param_groups") if isinstance(optim.get(name), dict) else None
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            raise bad(f"optim.{name}.param_groups", "is missing or not a list of objects")
    for key in ck.state_tensors:
        if key.startswith("optim."):
            parts = key.split(".", 3)
            if len(parts) < 4 or not parts[2].isdigit():
                raise bad("state tensors", f"have a malformed optimiser entry {key!r}")
    if "loss.pl_mean" not in ck.state_tensors:
        raise bad("state tensors", "lack 'loss.pl_mean'")
    for name in ("rng", "options"):
        if not isinstance(ts.get(name, {}), dict):
            raise bad(name, "is not an object")
    annotations = {f.name: str(f.type) for cls in (RunConfig, TrainOptions) for f in dataclasses.fields(cls)}
    for key, value in ts.get("options", {}).items():
        if key in annotations and not validate.fits_type(value, annotations[key]):
            raise bad(f"options.{key}", f"has the wrong type ({type(value).__name__}: {value!r})")
