"""Data preparation and metrics use the one progress helper (core.progress)."""

from core.progress import make_progress

__all__ = ["make_progress"]
