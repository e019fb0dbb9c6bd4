"""Semantic editing: directions in W (SeFa, GANSpace, InterFaceGAN boundaries, class means) and moving
latents along them (`sg directions`, `sg edit`)."""

from core.editing.apply import Edit, apply_edits, check_directions_fit, parse_strength_range, sweep_strengths
from core.editing.format import Directions, load_directions, parse_direction_ref

__all__ = [
    "Directions",
    "Edit",
    "apply_edits",
    "check_directions_fit",
    "load_directions",
    "parse_direction_ref",
    "parse_strength_range",
    "sweep_strengths",
]
