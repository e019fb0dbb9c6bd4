"""Quality metrics for generators: the official FID, KID, precision/recall, PPL and IS (protocols.py, with
torch-fidelity's networks and statistics, pretrained files by one rule in pretrained.py) and SWD, which
needs no pretrained weights and so works offline (swd.py)."""

from core.metrics.swd import generate_images, laplacian_pyramid, pyramid_sizes, swd

__all__ = ["generate_images", "laplacian_pyramid", "pyramid_sizes", "swd"]
