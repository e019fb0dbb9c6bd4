"""NVIDIA StyleGAN2 TF variables (networks_stylegan2.py: G_main / G_mapping / G_synthesis_stylegan2 'skip',
D_stylegan2 'resnet') -> our StyleGAN2 networks.

One row per variable; read it against LAYOUT.md sections 3 and 6. The official StyleGAN2 TF code already
applies the lrelu gain after the bias as ours does, so mapping biases move over unscaled. Two value
changes: the TF style is `w @ mod_weight + mod_bias + 1` while ours stores the +1 in the affine bias; and
TF's upsampling conv runs conv2d_transpose on a spatially flipped kernel, which ours expects unflipped.
"""

from __future__ import annotations

import math

from core.checkpoint.tf_names import Rule, conv_rules, dense_rules
from core.checkpoint.tf_names_stylegan1 import mapping_rules

G_DEAD = [r"lod"]  # G_main's lod; G_synthesis_stylegan2 has none
D_DEAD: list[str] = []


def _modconv(tf: str, ours: str, weight_layout: str) -> list[Rule]:
    return [
        Rule(f"synthesis/{tf}/weight", f"synthesis.{ours}.weight", weight_layout),
        Rule(f"synthesis/{tf}/mod_weight", f"synthesis.{ours}.affine.weight", "io>oi"),
        Rule(f"synthesis/{tf}/mod_bias", f"synthesis.{ours}.affine.bias", offset=1.0),
        Rule(f"synthesis/{tf}/bias", f"synthesis.{ours}.bias"),
    ]


def _layer(tf: str, ours: str, noise_index: int, weight_layout: str = "hwio>oihw") -> list[Rule]:
    return _modconv(tf, ours, weight_layout) + [
        Rule(f"synthesis/{tf}/noise_strength", f"synthesis.{ours}.noise_strength"),
        Rule(f"synthesis/noise{noise_index}", f"synthesis.{ours}.noise_const", "[1,1,H,W]>[H,W]"),
    ]


def generator_rules(resolution: int, map_layers: int, c_dim: int) -> list[Rule]:
    """G_main with the 'skip' synthesis -> Generator(arch='stylegan2')."""
    log2 = int(math.log2(resolution))
    rules = mapping_rules(map_layers, c_dim, bias_scale=1.0)
    rules.append(Rule("synthesis/4x4/Const/const", "synthesis.b4.const", "[1,C,H,W]>[C,H,W]"))
    rules += _layer("4x4/Conv", "b4.conv1", 0) + _modconv("4x4/ToRGB", "b4.torgb", "hwio>oihw")
    for r in range(3, log2 + 1):
        res = 2**r
        rules += _layer(f"{res}x{res}/Conv0_up", f"b{res}.conv0", 2 * r - 5, "flip,hwio>oihw")
        rules += _layer(f"{res}x{res}/Conv1", f"b{res}.conv1", 2 * r - 4)
        rules += _modconv(f"{res}x{res}/ToRGB", f"b{res}.torgb", "hwio>oihw")
    return rules


def discriminator_rules(resolution: int) -> list[Rule]:
    """D_stylegan2 'resnet' -> Discriminator (unconditional: the TF label head differs from ours)."""
    log2 = int(math.log2(resolution))
    rules = conv_rules(f"{resolution}x{resolution}/FromRGB", f"b{resolution}.fromrgb")
    for r in range(log2, 2, -1):
        res = 2**r
        rules += conv_rules(f"{res}x{res}/Conv0", f"b{res}.conv0") + conv_rules(
            f"{res}x{res}/Conv1_down", f"b{res}.conv1"
        )
        rules.append(Rule(f"{res}x{res}/Skip/weight", f"b{res}.skip.weight", "hwio>oihw"))
    rules += conv_rules("4x4/Conv", "b4.conv") + dense_rules("4x4/Dense0", "b4.fc")
    return rules + dense_rules("Output", "b4.out")
