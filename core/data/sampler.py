"""An endless, seeded, DDP-aware index stream for step-based (not epoch-based) GAN training.

The stream is the concatenation of per-epoch permutations (permutation e drawn from seed + e); rank r of
W takes stream positions r, r + W, r + 2W, ... So ranks never overlap, all advance at the same rate,
and `start` resumes a run exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np
from torch.utils.data import Sampler


class InfiniteSampler(Sampler[int]):
    """Yields dataset indices forever. `start` = number of indices this rank already consumed."""

    def __init__(
        self,
        dataset: Sized | int,
        *,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        seed: int = 0,
        start: int = 0,
    ) -> None:
        self.size = dataset if isinstance(dataset, int) else len(dataset)
        if self.size < 1:
            raise ValueError("InfiniteSampler needs a non-empty dataset")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if start < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.rank, self.world_size = rank, world_size
        self.shuffle, self.seed, self.start = shuffle, seed, start

    def _order(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.size)
        return np.random.default_rng([self.seed, epoch]).permutation(self.size)

    def __iter__(self) -> Iterator[int]:
        pos = self.rank + self.start * self.world_size
        epoch, order = -1, None
        while True:
            e, offset = divmod(pos, self.size)
            if e != epoch:
                epoch, order = e, self._order(e)
            yield int(order[offset])
            pos += self.world_size
