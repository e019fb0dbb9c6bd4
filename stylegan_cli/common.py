"""Option helpers shared by the generation commands: seed lists, model loading, device, progress, output.

Messages and progress go to stderr (rich), file lists to stdout, so `sg sample ... > list.txt` stays clean.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from core.errors import SGError
from core.generate import MAX_SEED, NOISE_MODES, choose_device

__all__ = [
    "console",
    "MODEL_HELP",
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

MODEL_HELP = (
    "Model: sg .safetensors (or a training run folder: its newest snapshot), official .pkl, rosinality .pt."
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


def check_noise_mode(mode: str) -> str:
    """Validate --noise-mode (a one-line error instead of a usage dump)."""
    if mode not in NOISE_MODES:
        raise SGError(f"--noise-mode must be one of {', '.join(NOISE_MODES)} (got {mode!r})")
    return mode


def check_cutoff(cutoff: int | None, num_ws: int) -> int | None:
    """--trunc-cutoff K truncates only ws 0..K-1; K must be within 1..num_ws."""
    if cutoff is not None and not 1 <= cutoff <= num_ws:
        raise SGError(f"--trunc-cutoff must be within 1..{num_ws} for this model (got {cutoff})")
    return cutoff


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
        f"z {G.z_dim}, w {G.w_dim}{kind}; on {dev}"
    )
    if fast:
        from core.fastpath import attach_fast_path, describe_fast_path

        console.print(describe_fast_path(attach_fast_path(G)))
    return G


@contextlib.contextmanager
def progress(total: int, what: str) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr (terminals only, so logs stay clean); yields ``advance(n)``.
    Transient: it disappears when done."""
    bar = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with bar:
        task = bar.add_task(what, total=total)
        yield lambda n=1: bar.advance(task, n)


def save_image(image: np.ndarray | torch.Tensor, path: str | os.PathLike[str]) -> Path:
    """PNG, or .jpg/.jpeg at quality 95: core.images.save_image (temp file, read back, replace)."""
    from core.images import save_image as _save

    return _save(image, path)
