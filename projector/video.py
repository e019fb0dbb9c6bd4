"""Optimisation videos: per image, target and current projection side by side, streamed to an mp4.

Frames are written as the optimiser produces them (no frame buffer in memory), every few steps so a
1000-step run gives a ~10 s clip; small models are enlarged by pixel repetition to be watchable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from core.images import to_uint8
from core.video import Mp4Writer

__all__ = ["ProjectionVideos"]

FPS = 30
TARGET_FRAMES = 300  # frames of optimisation per video, whatever the number of steps
MIN_HEIGHT = 256  # smaller models are upscaled by an integer factor to at least this height
HOLD_SECONDS = 1.0  # the final projection stays on screen this long


class ProjectionVideos:
    """One mp4 writer per image of a batch; ``add`` each step, ``finish`` with the final renders."""

    def __init__(self, paths: Sequence[Path], targets_u8: torch.Tensor, steps: int) -> None:
        self.targets = targets_u8.cpu().numpy()  # [N,H,W,C]
        h = self.targets.shape[1]
        self.scale = max(1, -(-MIN_HEIGHT // h))
        self.every = max(1, steps // TARGET_FRAMES)
        size = h * self.scale
        self.writers: list[Mp4Writer] = []
        try:
            for p in paths:
                self.writers.append(Mp4Writer(p, FPS, 2 * size, size))
        except BaseException:
            self.abort()
            raise

    def _frame(self, i: int, img: np.ndarray) -> np.ndarray:
        pair = np.concatenate([self.targets[i], img], axis=1)
        if self.scale > 1:
            pair = pair.repeat(self.scale, axis=0).repeat(self.scale, axis=1)
        return pair

    def add(self, step: int, images: torch.Tensor) -> None:
        """Write the frame of optimisation ``step`` (images [N,C,H,W] in [-1,1]) if it is on the stride."""
        if step % self.every:
            return
        frames = to_uint8(images).cpu().numpy()
        for i, w in enumerate(self.writers):
            w.write(self._frame(i, frames[i]))

    def finish(self, final_u8: torch.Tensor) -> None:
        """Hold the final projection ([N,H,W,C] uint8) for a moment, then close every file."""
        final = final_u8.cpu().numpy()
        for i, w in enumerate(self.writers):
            frame = self._frame(i, final[i])
            for _ in range(int(FPS * HOLD_SECONDS)):
                w.write(frame)
        for w in self.writers:
            w.close()
        self.writers = []

    def abort(self) -> None:
        """Drop the partial files (an error or Ctrl-C mid-run)."""
        for w in self.writers:
            w.abort()
        self.writers = []
