"""One entry point for every model file a user may hand us: sg safetensors, official .pkl, rosinality .pt."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from core.checkpoint.sgformat import Checkpoint, load_sg_safetensors
from core.checkpoint.snapshots import newest_snapshot
from core.errors import SGError
from core.networks import Generator

# A pre-zip torch.save file starts with a pickled magic integer (protocol 2, LONG1 of 10 bytes).
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def _kind(path: Path) -> str:
    """Detect the format from content, falling back on the extension."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head[:2] == b"PK" or head[:14] == TORCH_LEGACY_MAGIC:
        return "torch-zip"  # torch.save (rosinality .pt), current or legacy layout
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head[:1] == b"\x80":
        return "pickle"
    ext = path.suffix.lower()
    return {".safetensors": "safetensors", ".pkl": "pickle", ".pt": "torch-zip", ".pth": "torch-zip"}.get(
        ext, "?"
    )


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> Checkpoint:
    """Load any supported model file; one-line SGError for missing, truncated or unsupported files."""
    path = Path(path)
    if not path.exists():
        raise SGError(f"model file not found: {path}")
    if path.is_dir():  # a training run: its newest snapshot
        newest = newest_snapshot(path)
        if newest is None:
            raise SGError(f"{path} is a folder without network-snapshot-*.safetensors; give a model file")
        path = newest
    if path.stat().st_size == 0:
        raise SGError(f"{path}: file is empty")
    kind = _kind(path)
    if kind == "safetensors":
        ck = load_sg_safetensors(path)
    elif kind == "pickle":
        from core.checkpoint.tf_official import checkpoint_from_tf_pickle, is_tf_pickle

        if is_tf_pickle(path):  # NVIDIA's TensorFlow (G, D, Gs) pickle
            ck = checkpoint_from_tf_pickle(path)
        else:
            from core.checkpoint.official import checkpoint_from_official_pickle

            ck = checkpoint_from_official_pickle(path)
    elif kind == "torch-zip":
        from core.checkpoint.rosinality import checkpoint_from_rosinality

        ck = checkpoint_from_rosinality(path)
    else:
        raise SGError(
            f"{path}: unsupported model file (expected .safetensors, official .pkl or rosinality .pt)"
        )
    for net in (ck.G_ema, ck.G, ck.D):
        if net is not None:
            net.to(device)
    return ck


def load_generator(path: str | os.PathLike, device: str | torch.device = "cpu") -> Generator:
    """The generator to sample from (G_ema), in eval mode with gradients off."""
    return load_checkpoint(path, device).G_ema
