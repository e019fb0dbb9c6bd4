"""Quality metrics for generators; SWD needs no pretrained weights, so it works offline."""

from core.metrics.swd import generate_images, laplacian_pyramid, pyramid_sizes, swd

__all__ = ["generate_images", "laplacian_pyramid", "pyramid_sizes", "swd"]
