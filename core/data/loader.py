"""Fast endless batches for training: whole batches are read with one memory-map gather per step.

Per-item `__getitem__` plus collation costs a Python round trip per image; `ImageDataset.get_batch` reads
a sorted batch in one go, so even `num_workers=0` keeps up with a GPU at typical StyleGAN batch sizes
(see `bench/loader_speed.py`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset

from core.data.dataset import ImageDataset
from core.data.sampler import InfiniteSampler


class _BatchFetcher(Dataset):
    """Adapter so a DataLoader with batch_size=None hands whole index lists to `get_batch`."""

    def __init__(self, dataset: ImageDataset) -> None:
        self.dataset = dataset

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.dataset.get_batch(indices)

    def __len__(self) -> int:
        return len(self.dataset)


def iterate_batches(
    dataset: ImageDataset,
    batch_size: int,
    *,
    seed: int = 0,
    shuffle: bool = True,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
    start: int = 0,
    device: str | torch.device | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless (uint8 images [B,C,H,W], int64 labels [B], -1 when unlabelled) for this rank.

    `start` counts batches this rank already consumed (for resuming). With a CUDA `device` batches are
    pinned and copied asynchronously.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    sampler = InfiniteSampler(
        dataset, rank=rank, world_size=world_size, shuffle=shuffle, seed=seed, start=start * batch_size
    )
    dev = torch.device(device) if device is not None else None
    cuda = dev is not None and dev.type == "cuda"
    loader = DataLoader(
        _BatchFetcher(dataset),
        batch_size=None,
        sampler=BatchSampler(sampler, batch_size, drop_last=True),
        num_workers=num_workers,
        pin_memory=cuda,
        persistent_workers=num_workers > 0,
        prefetch_factor=4 if num_workers > 0 else None,
    )
    for images, labels in loader:
        if dev is not None:
            images, labels = images.to(dev, non_blocking=cuda), labels.to(dev, non_blocking=cuda)
        yield images, labels
