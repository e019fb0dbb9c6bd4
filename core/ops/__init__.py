"""Low-level ops (FIR resampling, bias+activation, equalized-lr layers, modulated conv), kept apart from the
networks so that each can be tested and optimised on its own."""

from core.ops.bias_act import ACTIVATION_GAIN, bias_act
from core.ops.conv import conv2d_resample
from core.ops.fir import downsample2d, setup_filter, upfirdn2d, upsample2d
from core.ops.layers import Conv2dLayer, FullyConnectedLayer, normalize_2nd_moment
from core.ops.modconv import modulated_conv2d

__all__ = [
    "ACTIVATION_GAIN",
    "bias_act",
    "conv2d_resample",
    "downsample2d",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
    "Conv2dLayer",
    "FullyConnectedLayer",
    "normalize_2nd_moment",
    "modulated_conv2d",
]
