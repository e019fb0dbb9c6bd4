"""How fast do prepared datasets load? Images/s for per-item and batched loading at 0, 1, 2... workers.

Writes a synthetic prepared dataset (random uint8 images) to a temp dir, then times
  * per-item: torch DataLoader over ImageDataset.__getitem__ with default collation (the naive way),
  * batched:  core.data.iterate_batches (one memory-map gather per batch, what training uses),
each with x-flip mirroring on, so the flip cost is included.

    python bench/loader_speed.py                   # 2000 images at 256 px, workers 0,1,2
    python bench/loader_speed.py --workers 0,4 --batch 64
    python bench/loader_speed.py --smoke           # tiny and quick, for CI
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.data.dataset import ImageDataset  # noqa: E402
from core.data.layout import write_prepared  # noqa: E402
from core.data.loader import iterate_batches  # noqa: E402
from core.data.sampler import InfiniteSampler  # noqa: E402


def make_synthetic(path: Path, count: int, resolution: int, channels: int = 3, seed: int = 0) -> Path:
    """Random images and 10-class labels written as a prepared dataset, in slices to bound memory."""
    rng = np.random.default_rng(seed)
    images = np.lib.format.open_memmap(
        path.with_suffix(".tmp.npy"),
        mode="w+",
        dtype=np.uint8,
        shape=(count, channels, resolution, resolution),
    )
    for s in range(0, count, 256):
        e = min(count, s + 256)
        images[s:e] = rng.integers(0, 256, size=(e - s, channels, resolution, resolution), dtype=np.uint8)
    labels = rng.integers(0, 10, size=count)
    write_prepared(path, images, labels, {"source": "synthetic", "transform": "none"})
    del images
    path.with_suffix(".tmp.npy").unlink()
    return path


def time_per_item(ds: ImageDataset, batch: int, workers: int, batches: int) -> float:
    loader = DataLoader(
        ds,
        batch_size=batch,
        sampler=InfiniteSampler(ds, seed=1),
        num_workers=workers,
        persistent_workers=workers > 0,
    )
    it = iter(loader)
    next(it)  # worker start-up is not loading speed
    t = time.perf_counter()
    for _ in itertools.islice(it, batches):
        pass
    return batches * batch / (time.perf_counter() - t)


def time_batched(ds: ImageDataset, batch: int, workers: int, batches: int) -> float:
    it = iterate_batches(ds, batch, seed=1, num_workers=workers)
    next(it)
    t = time.perf_counter()
    for _ in itertools.islice(it, batches):
        pass
    return batches * batch / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="0,1,2", help="comma-separated DataLoader worker counts")
    ap.add_argument("--count", type=int, default=2000, help="synthetic images")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batches", type=int, default=50, help="timed batches per configuration")
    ap.add_argument("--smoke", action="store_true", help="tiny run: 200 images at 64 px, 5 batches")
    args = ap.parse_args()
    if args.smoke:
        args.count, args.resolution, args.batches = 200, 64, 5
    workers = [int(w) for w in args.workers.split(",") if w.strip()]

    console = Console()
    with tempfile.TemporaryDirectory(prefix="sg-loader-bench-") as tmp:
        with console.status(f"writing {args.count} synthetic {args.resolution}px images"):
            ds = ImageDataset(make_synthetic(Path(tmp) / "ds", args.count, args.resolution), mirror=True)
        table = Table(
            title=f"images/s, {args.count} x {args.resolution}px RGB, batch {args.batch}, mirror on"
        )
        table.add_column("workers", justify="right")
        table.add_column("per-item DataLoader", justify="right")
        table.add_column("batched (iterate_batches)", justify="right")
        table.add_column("MB/s batched", justify="right")
        mb = 3 * args.resolution**2 / 1e6
        for w in workers:
            with console.status(f"timing workers={w}"):
                per_item = time_per_item(ds, args.batch, w, args.batches)
                batched = time_batched(ds, args.batch, w, args.batches)
            table.add_row(str(w), f"{per_item:,.0f}", f"{batched:,.0f}", f"{batched * mb:,.0f}")
        console.print(table)


if __name__ == "__main__":
    main()
