"""The dataset shipped inside sg, so `sg train` works with no data at all: 4,000 Fashion-MNIST images.

Materialised once into the dataset cache as a prepared dataset at 32x32, 1 channel, 10 classes
(the 28x28 originals padded with 2 px of black on every side, since StyleGAN needs a power-of-two size).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from core.data.cache import dataset_cache_dir
from core.data.layout import DatasetExistsError, is_prepared_dataset, write_prepared

BUNDLED_NPZ = Path(__file__).parent / "bundled" / "fashion_mnist_4k.npz"
RESOLUTION = 32
NUM_CLASSES = 10
CLASS_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def load_bundled_arrays() -> tuple[np.ndarray, np.ndarray]:
    """uint8 [4000, 1, 32, 32] padded images and int64 [4000] labels, straight from the npz."""
    with np.load(BUNDLED_NPZ) as z:
        images, labels = z["images"], z["labels"].astype(np.int64)
    pad = (RESOLUTION - images.shape[-1]) // 2
    images = np.pad(images, ((0, 0), (pad, pad), (pad, pad)), mode="constant", constant_values=0)
    return images[:, None], labels


def bundled_dataset_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """Path of the prepared bundled dataset, writing it on first use (cache: see `core.data.cache`)."""
    digest = hashlib.sha256(BUNDLED_NPZ.read_bytes()).hexdigest()[:12]
    out = dataset_cache_dir(cache_dir) / f"bundled-fashion-mnist-4k-{RESOLUTION}px-1ch-{digest}"
    if is_prepared_dataset(out):
        return out
    images, labels = load_bundled_arrays()
    try:
        write_prepared(
            out,
            images,
            labels,
            {
                "source": "bundled:fashion_mnist_4k (Fashion-MNIST, (c) Zalando SE, MIT)",
                "transform": "pad-28-to-32",
                "class_names": list(CLASS_NAMES),
            },
            overwrite=out.exists(),
        )
    except DatasetExistsError:  # another process wrote it first
        if not is_prepared_dataset(out):
            raise
    return out
