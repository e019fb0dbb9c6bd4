"""NVIDIA StyleGAN1 TF variables (networks_stylegan.py: G_style / G_mapping / G_synthesis, D_basic) -> ours.

One row per variable; read it against LAYOUT.md section 3. Why the only scale: the official mapping puts
the lrelu gain sqrt(2) inside the weight scale and adds an unscaled bias, lrelu(x @ W*sqrt2*c + b), while
our mapping layers compute lrelu(x @ W*c + b') * sqrt2 = lrelu(x @ W*sqrt2*c + sqrt2*b'); so b' = b/sqrt2.
Everything else in the StyleGAN1 G and D is written as the official code computes it (gain inside the
weight scale), so weights and biases move over as they are.
"""

from __future__ import annotations

import math

from core.checkpoint.tf_names import Rule, conv_rules, dense_rules
from core.networks.stylegan1 import FUSED_MIN_RES

MAPPING_BIAS_SCALE = 1 / math.sqrt(2)

# Weights a finished (lod 0) network never reads: lower-resolution ToRGB/FromRGB of progressive growing,
# and the lod counters themselves.
G_DEAD = [r"lod", r"synthesis/lod", r"synthesis/ToRGB_lod[1-9]\d*/(weight|bias)"]
D_DEAD = [r"lod", r"FromRGB_lod[1-9]\d*/(weight|bias)"]


def _epilogue(tf: str, ours: str, noise_index: int) -> list[Rule]:
    """Noise (per-channel weight), bias and StyleMod of one layer, and its stored noise map."""
    return [
        Rule(f"synthesis/{tf}/Noise/weight", f"synthesis.{ours}.noise_strength"),
        Rule(f"synthesis/{tf}/bias", f"synthesis.{ours}.bias"),
        Rule(f"synthesis/{tf}/StyleMod/weight", f"synthesis.{ours}.style.affine.weight", "io>oi"),
        Rule(f"synthesis/{tf}/StyleMod/bias", f"synthesis.{ours}.style.affine.bias"),
        Rule(f"synthesis/noise{noise_index}", f"synthesis.{ours}.noise_const", "[1,1,H,W]>[H,W]"),
    ]


def mapping_rules(map_layers: int, c_dim: int, bias_scale: float = MAPPING_BIAS_SCALE) -> list[Rule]:
    """G_mapping (the same names in StyleGAN2) and G's running average of w."""
    rules = [Rule("dlatent_avg", "mapping.w_avg")]
    if c_dim:
        rules.append(Rule("mapping/LabelConcat/weight", "mapping.label_embed", "io>oi"))
    for i in range(map_layers):
        rules += [
            Rule(f"mapping/Dense{i}/weight", f"mapping.fc{i}.weight", "io>oi"),
            Rule(f"mapping/Dense{i}/bias", f"mapping.fc{i}.bias", scale=bias_scale),
        ]
    return rules


def generator_rules(resolution: int, map_layers: int, c_dim: int, fused_scale: object = "auto") -> list[Rule]:
    """G_style at lod 0 -> Generator(arch='stylegan1'). Our Conv0_up is fused from 128 px up (official
    'auto'); a fused TF layer computes nearest-2x + conv with the flipped kernel, so where the file's
    `fused_scale` chose otherwise than 'auto' the kernel is flipped on the way in."""
    log2 = int(math.log2(resolution))
    rules = mapping_rules(map_layers, c_dim)
    rules.append(Rule("synthesis/4x4/Const/const", "synthesis.b4.const", "[1,C,H,W]>[C,H,W]"))
    rules += _epilogue("4x4/Const", "b4.layer0", 0)
    rules.append(Rule("synthesis/4x4/Conv/weight", "synthesis.b4.conv1.weight", "hwio>oihw"))
    rules += _epilogue("4x4/Conv", "b4.conv1", 1)
    for r in range(3, log2 + 1):
        res = 2**r
        theirs = fused_scale is True or (fused_scale == "auto" and res >= FUSED_MIN_RES)
        layout = "hwio>oihw" if theirs == (res >= FUSED_MIN_RES) else "flip,hwio>oihw"
        rules.append(Rule(f"synthesis/{res}x{res}/Conv0_up/weight", f"synthesis.b{res}.conv0.weight", layout))
        rules += _epilogue(f"{res}x{res}/Conv0_up", f"b{res}.conv0", 2 * r - 4)
        rules.append(
            Rule(f"synthesis/{res}x{res}/Conv1/weight", f"synthesis.b{res}.conv1.weight", "hwio>oihw")
        )
        rules += _epilogue(f"{res}x{res}/Conv1", f"b{res}.conv1", 2 * r - 3)
    rules += [
        Rule("synthesis/ToRGB_lod0/weight", "synthesis.torgb.weight", "hwio>oihw"),
        Rule("synthesis/ToRGB_lod0/bias", "synthesis.torgb.bias"),
    ]
    return rules


def discriminator_rules(resolution: int) -> list[Rule]:
    """D_basic at lod 0 -> StyleGAN1Discriminator."""
    log2 = int(math.log2(resolution))
    rules = conv_rules("FromRGB_lod0", f"b{resolution}.fromrgb")
    for r in range(log2, 2, -1):
        res = 2**r
        rules += conv_rules(f"{res}x{res}/Conv0", f"b{res}.conv0") + conv_rules(
            f"{res}x{res}/Conv1_down", f"b{res}.conv1"
        )
    rules += conv_rules("4x4/Conv", "conv") + dense_rules("4x4/Dense0", "fc")
    return rules + dense_rules("4x4/Dense1", "out")
