"""Image conversion and I/O shared by generation, projection and training previews.

``to_uint8`` reproduces the official gen_images.py rounding bit for bit (``x*127.5+128`` then truncation),
so our PNGs match the reference implementation's pixel for pixel.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from core.errors import SGError
from core.fileio import atomic_output

__all__ = ["to_uint8", "save_png", "save_image", "make_grid", "load_image"]

ArrayLike = torch.Tensor | np.ndarray


def to_uint8(img: torch.Tensor) -> torch.Tensor:
    """[N,C,H,W] float in [-1,1] -> [N,H,W,C] uint8, exactly ``(img*127.5+128).clamp(0,255).to(uint8)``."""
    if img.ndim != 4:
        raise ValueError(f"to_uint8 expects [N,C,H,W], got shape {list(img.shape)}")
    return (img.detach() * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def _as_hwc_uint8(arr: ArrayLike) -> np.ndarray:
    """Accept [H,W] or [H,W,C] uint8 (tensor or array); refuse floats so rounding is never done twice."""
    a = arr.detach().cpu().numpy() if isinstance(arr, torch.Tensor) else np.asarray(arr)
    if a.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {a.dtype} (convert with to_uint8 first)")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        return a
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"expected [H,W], [H,W,1], [H,W,3] or [H,W,4] uint8, got shape {list(a.shape)}")
    return a


def _verify_image(size: tuple[int, int]) -> Callable[[str], None]:
    """A check that the written file decodes fully at the expected size (a full disk can leave a stub)."""

    def verify(tmp: str) -> None:
        with Image.open(tmp) as im:
            im.load()
            if im.size != size:
                raise ValueError(f"decodes as {im.size[0]}x{im.size[1]}, expected {size[0]}x{size[1]}")

    return verify


def save_png(image: ArrayLike, path: str | os.PathLike[str]) -> Path:
    """Write an [H,W,C] uint8 image as PNG ('L' for C==1, RGB for 3, RGBA for 4): temp file, read back,
    replace."""
    return save_image(image, path, "PNG")


def save_image(image: ArrayLike, path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """PNG, or JPEG at quality 95 (by `fmt`, else by the suffix), written atomically and read back first."""
    path = Path(path)
    fmt = fmt or {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}.get(path.suffix.lower())
    if fmt is None:
        raise SGError(f"unsupported image type {path.suffix!r}; use .png or .jpg")
    a = np.ascontiguousarray(_as_hwc_uint8(image))
    if fmt == "JPEG" and a.ndim == 3 and a.shape[2] == 4:
        a = np.ascontiguousarray(a[:, :, :3])  # JPEG has no alpha
    pil = Image.fromarray(a)  # uint8 [H,W] -> 'L', [H,W,3] -> 'RGB', [H,W,4] -> 'RGBA'
    options = {"quality": 95} if fmt == "JPEG" else {}
    with atomic_output(path, verify=_verify_image(pil.size)) as f:
        pil.save(f, format=fmt, **options)
    return path


def make_grid(images: ArrayLike, cols: int) -> ArrayLike:
    """Tile [N,H,W,C] uint8 images into one [rows*H, cols*W, C] image, row-major, black in empty cells.

    ``cols`` is clamped to N so a short batch does not produce a mostly black canvas; the result has the
    input's type (tensor in, tensor out).
    """
    if images.ndim != 4:
        raise ValueError(f"make_grid expects [N,H,W,C], got shape {list(images.shape)}")
    if cols < 1:
        raise ValueError(f"cols must be >= 1, got {cols}")
    n, h, w, c = images.shape
    if n == 0:
        raise ValueError("make_grid got no images")
    cols = min(cols, n)
    rows = -(-n // cols)
    is_tensor = isinstance(images, torch.Tensor)
    src = images.detach().cpu().numpy() if is_tensor else np.asarray(images)
    grid = np.zeros((rows * h, cols * w, c), dtype=src.dtype)
    for i in range(n):
        r, q = divmod(i, cols)
        grid[r * h : (r + 1) * h, q * w : (q + 1) * w] = src[i]
    return torch.from_numpy(grid) if is_tensor else grid


def load_image(path: str | os.PathLike[str]) -> Image.Image:
    """Open and fully decode an image with its EXIF orientation applied; unreadable files raise SGError
    naming the file (decoding eagerly catches truncated files here, not later in a resize)."""
    path = Path(path)
    if not path.exists():
        raise SGError(f"image not found: {path}")
    if not path.is_file():
        raise SGError(f"not a file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                try:
                    out = ImageOps.exif_transpose(im)
                except Exception:  # malformed EXIF block: keep the pixels as stored rather than fail
                    out = im.copy()
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise SGError(f"cannot read image {path}: {e}") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise SGError(f"cannot read image {path} (corrupt or truncated?): {e}") from e
    return out
