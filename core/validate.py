"""Option checks at the edge, one function per kind of check, each a one-line SGError naming the option.

Commands call these before they load a model or create an output folder, so a run that cannot work stops
at once: non-finite numbers (`--trunc nan` would render black images, `--fps inf` never finishes), values
out of range, seeds outside the official tools' 0..2^32-1, devices that do not exist. None passes through
(an option left unset).
"""

from __future__ import annotations

import math
from typing import TypeVar

from core.errors import SGError

MAX_SEED = 2**32 - 1  # np.random.RandomState accepts 0..2^32-1, as the official tools do
MAX_FPS = 1000.0  # no player shows more; a huge value only makes encoders misbehave

N = TypeVar("N", int, float)


def finite(option: str, value: N | None) -> N | None:
    """A number that must be finite (not nan, inf or -inf)."""
    if value is not None and not math.isfinite(value):
        raise SGError(f"{option} must be a finite number (got {value})")
    return value


def at_least(option: str, value: N | None, minimum: N) -> N | None:
    """A finite number >= minimum (`--batch 0`, `--cbase 0`)."""
    if value is not None and (finite(option, value) < minimum):
        raise SGError(f"{option} must be >= {minimum} (got {value})")
    return value


def positive(option: str, value: N | None) -> N | None:
    """A finite number > 0 (`--kimg`, `--fps`, `--lr`)."""
    if value is not None and not finite(option, value) > 0:
        raise SGError(f"{option} must be > 0 (got {value})")
    return value


def within(option: str, value: N | None, lo: N, hi: N) -> N | None:
    """A finite number within lo..hi inclusive."""
    if value is not None and not lo <= finite(option, value) <= hi:
        raise SGError(f"{option} must be within {lo}..{hi} (got {value})")
    return value


def seed(option: str, value: int | None) -> int | None:
    """A seed as the official tools take it: an integer in 0..2^32-1."""
    if value is not None and not 0 <= value <= MAX_SEED:
        raise SGError(f"{option} must be within 0..{MAX_SEED} (got {value})")
    return value


def seed_span(option: str, first: int, count: int) -> None:
    """`count` consecutive seeds from `first` must all be valid seeds."""
    seed(option, first)
    if first + count - 1 > MAX_SEED:
        raise SGError(f"{option} {first} with {count} images runs past the last seed {MAX_SEED}")


def fps(option: str, value: float) -> float:
    """A video frame rate: finite, > 0 and at most MAX_FPS."""
    positive(option, value)
    if value > MAX_FPS:
        raise SGError(f"{option} must be at most {MAX_FPS:g} (got {value})")
    return value


def group_divides(option: str, group: int | None, batch: int) -> int | None:
    """A minibatch-stddev group smaller than the per-pass batch must divide it (a larger one is clamped
    to the batch, as in the official D)."""
    if group is not None and group < batch and batch % group:
        raise SGError(
            f"{option} {group} must divide the per-GPU batch {batch} (--batch / --gpus, or --batch-gpu)"
        )
    return group


def device(option: str, name: str | None):
    """A device that exists here: auto, cpu, cuda or cuda:N (torch.device), else one line."""
    from core.generate import choose_device

    try:
        return choose_device(name)
    except SGError as exc:
        raise SGError(f"{option}: {exc}") from None


def fits_type(value: object, annotation: str) -> bool:
    """Whether a stored JSON value fits a dataclass field's annotation (int, float, str, bool, list or
    None), so edited metadata is refused with its field's name instead of failing somewhere inside."""
    if value is None:
        return "None" in annotation or "Any" in annotation
    if isinstance(value, bool):
        return "bool" in annotation
    if isinstance(value, int):
        return "int" in annotation or "float" in annotation
    if isinstance(value, float):
        return "float" in annotation
    if isinstance(value, str):
        return "str" in annotation
    if isinstance(value, list):
        return "list" in annotation or "tuple" in annotation
    if isinstance(value, dict):
        return "dict" in annotation
    return "Any" in annotation
