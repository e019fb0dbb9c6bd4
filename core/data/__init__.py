"""Datasets: prepare raw images once into memory-mappable arrays, then load them fast for training."""

from core.data.bundled import bundled_dataset_path
from core.data.dataset import ImageDataset, one_hot, open_dataset
from core.data.loader import iterate_batches
from core.data.prepare import PrepareResult, prepare_dataset
from core.data.sampler import InfiniteSampler

__all__ = [
    "ImageDataset",
    "InfiniteSampler",
    "PrepareResult",
    "bundled_dataset_path",
    "iterate_batches",
    "one_hot",
    "open_dataset",
    "prepare_dataset",
]
