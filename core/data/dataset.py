"""The training-time view of a prepared dataset: memory-mapped uint8 images plus optional class labels.

Mirroring doubles the dataset (indices >= N are the x-flipped copies of 0..N-1), as the official tool
does, rather than flipping at random: every epoch then sees each image exactly once in each orientation
and a given (seed, index) always yields the same pixels, which keeps runs reproducible.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from core.data.cache import cache_entry
from core.data.layout import (
    IMAGES_FILE,
    LABELS_FILE,
    DatasetExistsError,
    check_prepared,
    is_prepared_dataset,
)
from core.data.prepare import check_options, check_resolution, prepare_dataset
from core.errors import SGError


def one_hot(labels: torch.Tensor | Sequence[int], num_classes: int) -> torch.Tensor:
    """Float [B, num_classes] one-hot rows; label -1 (unlabelled) gives an all-zero row."""
    labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
    out = torch.zeros(labels.shape[0], num_classes, dtype=torch.float32, device=labels.device)
    valid = labels >= 0
    if num_classes and bool(valid.any()):
        if int(labels.max()) >= num_classes:
            raise ValueError(f"label {int(labels.max())} out of range for {num_classes} classes")
        out[valid.nonzero(as_tuple=True)[0], labels[valid]] = 1.0
    return out


class ImageDataset(Dataset):
    """(uint8 [C, H, W] tensor, int label or -1) pairs from a prepared directory.

    The memory map is opened lazily in each process and left out of pickling, so DataLoader workers
    (fork or spawn) share pages through the OS cache instead of copying the array.
    """

    def __init__(self, path: str | os.PathLike, mirror: bool = False) -> None:
        self.path = Path(path)
        if not is_prepared_dataset(self.path):
            raise SGError(f"not a prepared dataset (no meta.json/images.npy): {self.path}")
        self.meta = check_prepared(self.path)  # shapes, sizes and label range before anything is mapped
        self.mirror = bool(mirror)
        self.resolution = int(self.meta["resolution"])
        self.channels = int(self.meta["channels"])
        self.num_classes = int(self.meta.get("num_classes", 0))
        self._images: np.ndarray | None = None
        self._labels: np.ndarray | None = None
        images = self.images
        if images.ndim != 4 or images.shape[1:] != (self.channels, self.resolution, self.resolution):
            raise SGError(f"{self.path}: images.npy has shape {images.shape}, meta.json disagrees")
        self.num_images = int(images.shape[0])
        if self.num_images == 0:
            raise SGError(f"{self.path}: dataset is empty")
        labels = self.labels
        if labels is not None and labels.shape != (self.num_images,):
            raise SGError(f"{self.path}: labels.npy has shape {labels.shape}, expected ({self.num_images},)")

    @property
    def images(self) -> np.ndarray:
        """Read-only memory map uint8 [N, C, H, W] (un-mirrored)."""
        if self._images is None:
            try:
                self._images = np.load(self.path / IMAGES_FILE, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise SGError(f"{self.path / IMAGES_FILE}: cannot map the images ({exc})") from None
        return self._images

    @property
    def labels(self) -> np.ndarray | None:
        """int64 [N] class indices, or None for an unlabelled dataset."""
        if self._labels is None and (self.path / LABELS_FILE).is_file():
            self._labels = np.load(self.path / LABELS_FILE, allow_pickle=False)
        return self._labels

    @property
    def has_labels(self) -> bool:
        return self.num_classes > 0

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_images"] = None  # never pickle the memory map's pages
        return state

    def __len__(self) -> int:
        return self.num_images * (2 if self.mirror else 1)

    def _split(self, index: int) -> tuple[int, bool]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for dataset of length {len(self)}")
        index %= len(self)
        return index % self.num_images, index >= self.num_images

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i, flip = self._split(int(index))
        img = self.images[i]
        img = np.array(img[..., ::-1] if flip else img)  # a private, writable copy off the map
        labels = self.labels
        return torch.from_numpy(img), int(labels[i]) if labels is not None else -1

    def get_batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched read: one sorted fancy-index into the map is much faster than per-item __getitem__."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise IndexError(f"indices out of range for dataset of length {len(self)}")
        base, flip = idx % self.num_images, idx >= self.num_images
        order = np.argsort(base, kind="stable")
        out = np.empty((idx.size, self.channels, self.resolution, self.resolution), dtype=np.uint8)
        out[order] = self.images[base[order]]
        if flip.any():
            out[flip] = out[flip][..., ::-1]
        labels = self.labels
        lab = labels[base] if labels is not None else np.full(idx.size, -1, dtype=np.int64)
        return torch.from_numpy(out), torch.from_numpy(np.ascontiguousarray(lab, dtype=np.int64))

    def one_hot(self, labels: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """One-hot conditioning vectors [B, num_classes] for this dataset's labels."""
        return one_hot(labels, self.num_classes)

    def __repr__(self) -> str:
        return (
            f"ImageDataset({str(self.path)!r}, n={self.num_images}, {self.resolution}x{self.resolution}"
            f"x{self.channels}, classes={self.num_classes}, mirror={self.mirror})"
        )


def open_dataset(
    path: str | os.PathLike,
    resolution: int | None = None,
    channels: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    *,
    mirror: bool = False,
    transform: str = "center-crop",
    max_images: int | None = None,
    progress: bool = True,
) -> ImageDataset:
    """Open a prepared dir as is, or prepare a raw folder/zip once into the cache and open that.

    resolution/channels None mean "as prepared" for a prepared dir; for a raw source, resolution None
    uses the images' own (power-of-two square) size and channels None means 3. Cache: `cache_dir`, else
    `$SG_CACHE_DIR/datasets`, else `~/.cache/sg/datasets`.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise SGError(f"dataset not found: {p}")
    if is_prepared_dataset(p):
        ds = ImageDataset(p, mirror=mirror)
        if resolution is not None and int(resolution) != ds.resolution:
            raise SGError(
                f"{p} is prepared at {ds.resolution}px but {resolution}px was asked for; "
                f"prepare it again with `sg dataset SRC OUT --resolution {resolution}`"
            )
        if channels is not None and int(channels) != ds.channels:
            raise SGError(f"{p} has {ds.channels} channel(s) but {channels} were asked for")
        return ds

    channels = 3 if channels is None else channels
    check_options(transform, channels)
    if resolution is not None:
        resolution = check_resolution(resolution)
    options = {
        "resolution": resolution,
        "channels": channels,
        "transform": transform,
        "max_images": max_images,
    }
    entry = cache_entry(p, options, cache_dir)
    if not is_prepared_dataset(entry):
        try:
            prepare_dataset(
                p,
                entry,
                resolution,
                transform=transform,
                channels=channels,
                max_images=max_images,
                overwrite=entry.exists(),  # a leftover that is not a complete dataset
                progress=progress,
            )
        except DatasetExistsError:
            if not is_prepared_dataset(entry):  # lost a race to another process that is still fine
                raise
    return ImageDataset(entry, mirror=mirror)
