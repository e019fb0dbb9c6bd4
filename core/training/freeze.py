"""Freeze-D (Mo et al. 2020): when fine-tuning a pretrained GAN on little data, keep D's first layers fixed.

The high-resolution layers of D are generic edge and texture detectors; freezing them leaves fewer
parameters to overfit the small dataset. Layers count from the image input in the order the official
trainer counts them: per block, fromRGB (first block only), conv0, conv1, skip; the epilogue is never frozen.
"""

from __future__ import annotations

from torch import nn


def d_layers(D: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of D's convolutional layers from the input on."""
    layers = []
    for res in getattr(D, "block_resolutions", []):
        block = getattr(D, f"b{res}")
        for name in ("fromrgb", "conv0", "conv1", "skip"):
            layer = getattr(block, name, None)
            if isinstance(layer, nn.Module):
                layers.append((f"b{res}.{name}", layer))
    return layers


def frozen_parameters(D: nn.Module, n: int) -> tuple[list[nn.Parameter], list[str]]:
    """The parameters of D's first `n` layers, and those layers' names."""
    if n <= 0:
        return [], []
    chosen = d_layers(D)[:n]
    return [p for _, layer in chosen for p in layer.parameters()], [name for name, _ in chosen]
