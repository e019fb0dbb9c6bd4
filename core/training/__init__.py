"""StyleGAN2 training: losses and regularisers, G EMA, data-parallel helpers, snapshots and the loop."""

from core.training.ema import ema_beta, update_ema
from core.training.loop import TrainingDiverged, TrainResult, train
from core.training.loss import StyleGAN2Loss, WGANGPLoss, path_length_penalty, r1_penalty, style_mixing
from core.training.options import TrainOptions

__all__ = [
    "StyleGAN2Loss",
    "WGANGPLoss",
    "TrainOptions",
    "TrainResult",
    "TrainingDiverged",
    "ema_beta",
    "path_length_penalty",
    "r1_penalty",
    "style_mixing",
    "train",
    "update_ema",
]
