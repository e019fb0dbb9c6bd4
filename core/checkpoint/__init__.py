"""Checkpoints: the sg safetensors format and importers of official and rosinality files."""

from core.checkpoint.load import load_checkpoint, load_generator
from core.checkpoint.sgformat import Checkpoint, atomic_write, save_checkpoint

__all__ = ["Checkpoint", "atomic_write", "load_checkpoint", "load_generator", "save_checkpoint"]
