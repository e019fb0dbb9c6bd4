"""Option helpers shared by the commands: which model to use, seed lists, model loading, device, progress.

Messages and progress go to stderr (rich), file lists to stdout, so `sg sample ... > list.txt` stays clean.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from core.errors import SGError
from core.generate import (  # noqa: F401 (the checks are re-exported for the commands)
    MAX_SEED,
    NOISE_MODES,
    check_class,
    check_cutoff,
    check_noise_mode,
    choose_device,
)
from core.latents import model_content_hash, read_latent_meta, recorded_model
from core.progress import progress_steps

__all__ = [
    "console",
    "MODEL_HELP",
    "MODEL_OPT_HELP",
    "MODEL_ENV",
    "RUNS_DIR",
    "resolve_model",
    "split_model_arg",
    "looks_like_model",
    "newest_run_snapshot",
    "model_content_hash",
    "DEVICE_HELP",
    "FAST_HELP",
    "parse_seeds",
    "check_noise_mode",
    "check_cutoff",
    "load_model",
    "progress",
    "save_image",
]

console = Console(stderr=True, highlight=False)

MODEL_ENV = "SG_MODEL"
RUNS_DIR = Path("runs")  # where `sg train` puts its run folders by default, relative to the current folder
MODEL_SUFFIXES = (".safetensors", ".pkl", ".pt", ".pth")
RUN_DIR_RE = re.compile(r"^(\d{5,})-")  # core.training.snapshot's run names (importing it costs seconds)
MODEL_HELP = (
    "Model: sg .safetensors (or a training run folder: its newest snapshot), official .pkl, rosinality .pt. "
    "Optional: else --model, $SG_MODEL, the model recorded in the given latents, or the newest snapshot "
    "under ./runs."
)
MODEL_OPT_HELP = (
    "Model file or run folder. Without it: $SG_MODEL, else the model recorded in the given .npz latents, "
    "else the newest snapshot under ./runs."
)
NO_MODEL = (
    "no model: give one with --model/-m PATH (or as the first argument), set $SG_MODEL, pass latents "
    "(.npz) that record their model, or run `sg train DATA` here so ./runs holds a snapshot"
)
FAST_HELP = (
    "Fast path: on CUDA bf16 in the top resolutions + torch.compile + CUDA graphs + channels_last "
    "(about 40 dB from the exact fp32 pixels; the first batch compiles); on CPU torch.compile only."
)
DEVICE_HELP = "auto (CUDA when present, else CPU), cpu, cuda or cuda:N."
MAX_SEEDS = 1_000_000  # a typo like 0-99999999 should fail fast, not allocate a huge list


def parse_seeds(spec: str, what: str = "--seeds", unique: bool = False) -> list[int]:
    """'0-9,42' -> [0..9, 42] in the order given; ``unique`` drops repeats (keeping the first)."""
    if spec is None or not str(spec).strip():
        raise SGError(f"{what} is empty; give seeds like 0-9,42")
    seeds: list[int] = []
    for raw in str(spec).split(","):
        tok = raw.strip()
        if not tok:
            raise SGError(f"{what} {spec!r} has an empty item")
        lo_s, sep, hi_s = tok.partition("-")
        try:
            lo = int(lo_s.strip())
            hi = int(hi_s.strip()) if sep else lo
        except ValueError:
            raise SGError(
                f"{what}: {tok!r} is not a seed or a range like 0-9 (seeds are integers >= 0)"
            ) from None
        if lo < 0 or hi < 0:
            raise SGError(f"{what}: {tok!r} is not a seed or a range like 0-9 (seeds are integers >= 0)")
        if lo > hi:
            raise SGError(f"{what}: range {tok!r} runs backwards; write {hi}-{lo}")
        if hi > MAX_SEED:
            raise SGError(f"{what}: seed {hi} is out of range 0..{MAX_SEED}")
        if len(seeds) + hi - lo + 1 > MAX_SEEDS:
            raise SGError(
                f"{what} {spec!r} asks for more than {MAX_SEEDS:,} seeds; use --num for bulk generation"
            )
        seeds.extend(range(lo, hi + 1))
    if unique:
        seeds = list(dict.fromkeys(seeds))
    return seeds


def looks_like_model(arg: str | os.PathLike[str]) -> bool:
    """A positional argument is a model when it is named like one or is a run folder with snapshots."""
    from core.checkpoint.snapshots import newest_snapshot

    p = Path(arg)
    if p.suffix.lower() in MODEL_SUFFIXES:
        return True
    return p.is_dir() and newest_snapshot(p) is not None


def split_model_arg(args: Sequence[str], model_opt: Path | None) -> tuple[Path | None, list[str]]:
    """Take an optional leading MODEL off the positionals (`sg mix ffhq.pkl a.npz b.npz` still works);
    everything else stays for the command. MODEL and --model together are an error."""
    args = [str(a) for a in args]
    if args and looks_like_model(args[0]):
        if model_opt is not None:
            raise SGError(f"give the model once: {args[0]} as the first argument, or --model {model_opt}")
        return Path(args[0]), args[1:]
    return model_opt, args


def newest_run_snapshot(runs: Path = RUNS_DIR) -> Path | None:
    """The newest snapshot of the newest run under ``runs``: run folders are numbered NNNNN-... in the
    order `sg train` made them; folders without a snapshot yet (a run just started) are passed over."""
    from core.checkpoint.snapshots import newest_snapshot

    if not runs.is_dir():
        return None
    numbered = sorted(
        ((int(m.group(1)), p) for p in runs.iterdir() if (m := RUN_DIR_RE.match(p.name)) and p.is_dir()),
        reverse=True,
    )
    for _, run in numbered:
        snap = newest_snapshot(run)
        if snap is not None:
            return snap
    return None


def _model_file(path: Path, how: str) -> Path:
    """A model file as is; a run folder as its newest snapshot; a missing path is a one-line error."""
    from core.checkpoint.snapshots import newest_snapshot

    if not path.exists():
        raise SGError(f"model file not found: {path}" + (f" ({how})" if how else ""))
    if path.is_dir():
        snap = newest_snapshot(path)
        if snap is None:
            raise SGError(f"{path} is a folder without network-snapshot-*.safetensors; give a model file")
        return snap
    return path


def _records(latents: Sequence[Path]) -> list[tuple[Path, Path, str]]:
    """(latent file, recorded model, recorded hash) for every given .npz that records its model."""
    out = []
    for lat in latents:
        lat = Path(lat)
        if lat.suffix.lower() != ".npz" or not lat.is_file():
            continue
        rec = recorded_model(read_latent_meta(lat))
        if rec is not None:
            out.append((lat, *rec))
    return out


def _short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


def _from_records(latents: Sequence[Path]) -> Path | None:
    """The model the latent files record, after checking it is still there and unchanged."""
    records = _records(latents)
    if not records:
        return None
    lat, model, digest = records[0]
    for other, m2, d2 in records[1:]:
        if d2 != digest:
            raise SGError(
                f"{lat} and {other} record different models ({model}, {m2}); choose one with --model"
            )
    if model.is_file():
        found = model_content_hash(model)
        if found != digest:
            raise SGError(
                f"{lat} was made with {model} (hash {_short(digest)}), but that file has changed "
                f"(now hash {_short(found)}); pass --model {model} to use it anyway"
            )
        console.print(f"model: {model} (recorded in {lat})", highlight=False, markup=False, soft_wrap=True)
        return model
    # Moved or deleted: name what we would find instead, so the user can point --model at it.
    candidates = [lat.parent / model.name, Path(model.name), newest_run_snapshot()]
    found_path = next((c for c in candidates if c is not None and c.is_file()), None)
    if found_path is None:
        raise SGError(
            f"{lat} was made with {model} (hash {_short(digest)}), which is gone (moved or deleted); "
            "pass --model PATH"
        )
    same = model_content_hash(found_path) == digest
    what = (
        "the same model (same hash)"
        if same
        else f"a different model (hash {_short(model_content_hash(found_path))})"
    )
    raise SGError(
        f"{lat} was made with {model} (hash {_short(digest)}), which is gone; found {found_path}, "
        f"{what}: pass --model {found_path} to use it"
    )


def _note_if_not_recorded(path: Path, latents: Sequence[Path]) -> None:
    """An explicit model wins over the latents' record; say so when they disagree (tuned models are a
    legitimate reason), but never fail here: unreadable files get their own error later."""
    try:
        records = _records(latents)
        if records and any(d != model_content_hash(path) for _, _, d in records):
            lat, model, _ = records[0]
            console.print(
                f"note: {lat} was made with {model}, not with {path}",
                style="yellow",
                highlight=False,
                markup=False,
                soft_wrap=True,
            )
    except SGError:
        pass


def resolve_model(model: Path | None, latents: Sequence[Path] = ()) -> Path:
    """Which model a command uses, the same rule everywhere, and say which on stderr:

    1. ``model`` (``--model/-m PATH`` or a positional MODEL); a run folder means its newest snapshot;
    2. else ``$SG_MODEL``;
    3. else the model recorded in the given latent files (path + content hash; a moved or changed model
       is a one-line error naming the recorded and the found file);
    4. else the newest snapshot of the newest run under ./runs;
    5. else a one-line error naming these four ways.
    """
    latents = [Path(p) for p in latents]
    if model is not None:
        path = _model_file(Path(model), "")
        how = "" if path == Path(model) else f" (newest snapshot of {model})"
    elif os.environ.get(MODEL_ENV):
        given = Path(os.environ[MODEL_ENV]).expanduser()
        path = _model_file(given, f"${MODEL_ENV}")
        how = f" (from ${MODEL_ENV})"
    else:
        recorded = _from_records(latents)
        if recorded is not None:
            return recorded
        path = newest_run_snapshot()
        if path is None:
            raise SGError(NO_MODEL)
        console.print(
            f"model: {path} (newest snapshot under ./{RUNS_DIR})",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        return path
    _note_if_not_recorded(path, latents)
    console.print(f"model: {path}{how}", highlight=False, markup=False, soft_wrap=True)
    return path


def load_model(path: Path, device: str, fast: bool = False) -> torch.nn.Module:
    """Load any supported model file onto the chosen device, with a status line while it loads.

    `fast` routes rendering through the inference fast path; off, the pixels are the exact fp32 ones.
    """
    from core.checkpoint import load_generator

    dev = choose_device(device)
    with console.status(f"loading {path} ..."):
        G = load_generator(path, dev)
    G.eval().requires_grad_(False)
    kind = f", {G.c_dim} classes" if G.c_dim else ""
    console.print(
        f"model {Path(path).name}: {G.img_resolution} px x{G.img_channels}, {G.num_ws} ws, "
        f"z {G.z_dim}, w {G.w_dim}{kind}; on {dev}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    if fast:
        from core.fastpath import attach_fast_path, describe_fast_path

        console.print(describe_fast_path(attach_fast_path(G)))
    return G


def progress(total: int, what: str) -> contextlib.AbstractContextManager[Callable[[int], None]]:
    """The one progress helper (core.progress) on this console; yields ``advance(n)``; transient."""
    return progress_steps(total, what, console=console)


def save_image(image: np.ndarray | torch.Tensor, path: str | os.PathLike[str]) -> Path:
    """PNG, or .jpg/.jpeg at quality 95: core.images.save_image (temp file, read back, replace)."""
    from core.images import save_image as _save

    return _save(image, path)
