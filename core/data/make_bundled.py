"""Rebuild `core/data/bundled/fashion_mnist_4k.npz`, the small default dataset shipped with sg.

Reproducible: the first 400 images of each of the 10 classes, in their original order, from the
Fashion-MNIST training set (Zalando SE, MIT licence). The idx files come from the Debian package::

    apt-get install -y dataset-fashion-mnist      # -> /usr/share/datasets/fashion-mnist/
    python -m core.data.make_bundled              # writes core/data/bundled/fashion_mnist_4k.npz

The npz holds `images` uint8 [4000, 28, 28], `labels` uint8 [4000] and `source_index` int32 [4000]
(position in the original 60,000-image training set), compressed to about 2 MB.
"""

from __future__ import annotations

import argparse
import gzip
import struct
from pathlib import Path

import numpy as np

DEFAULT_SRC = Path("/usr/share/datasets/fashion-mnist")
DEFAULT_OUT = Path(__file__).parent / "bundled" / "fashion_mnist_4k.npz"
PER_CLASS = 400
NUM_CLASSES = 10


def read_idx(path: Path) -> np.ndarray:
    """An idx file (optionally gzipped): big-endian magic with dtype code and rank, then dims, then data."""
    raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(dims)


def select_balanced(labels: np.ndarray, per_class: int, num_classes: int) -> np.ndarray:
    """Indices of the first `per_class` examples of each class, kept in original order."""
    picks = [np.flatnonzero(labels == c)[:per_class] for c in range(num_classes)]
    if any(len(p) < per_class for p in picks):
        raise ValueError("not enough examples for every class")
    return np.sort(np.concatenate(picks))


def build(src: Path = DEFAULT_SRC, out: Path = DEFAULT_OUT) -> Path:
    images = read_idx(src / "train-images-idx3-ubyte.gz")
    labels = read_idx(src / "train-labels-idx1-ubyte.gz")
    idx = select_balanced(labels, PER_CLASS, NUM_CLASSES)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, images=images[idx], labels=labels[idx].astype(np.uint8), source_index=idx.astype(np.int32)
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--src", type=Path, default=DEFAULT_SRC, help="folder with the Fashion-MNIST idx .gz files"
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    path = build(args.src, args.out)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
