"""Decode one image file into a square uint8 array: orientation, colour mode, crop/resize.

Kept free of I/O and state so preparation can run it in a thread pool (PIL releases the GIL while decoding
and resampling).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps

TRANSFORMS = ("center-crop", "center-crop-wide", "resize")


class ImageDecodeError(Exception):
    """The bytes are not a usable image (corrupt, truncated, unsupported); the caller skips and counts it."""


def _to_mode(img: Image.Image, mode: str) -> Image.Image:
    """Any PIL mode to RGB or L. Transparency is composited onto black so hidden pixels never leak in."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grayscale (common in PNG): scale to 8 bit instead of clipping at 255.
        arr = np.asarray(img, dtype=np.float64)
        scale = 257.0 if arr.max(initial=0) > 255 else 1.0
        img = Image.fromarray(np.clip(np.rint(arr / scale), 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        img = Image.fromarray(np.clip(np.rint(np.asarray(img)), 0, 255).astype(np.uint8), "L")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    return img if img.mode == mode else img.convert(mode)


def _center_box(w: int, h: int, aspect: float) -> tuple[int, int, int, int]:
    """Largest centred box of width/height ratio `aspect` inside a w x h image."""
    if w >= h * aspect:
        cw, ch = max(1, round(h * aspect)), h
    else:
        cw, ch = w, max(1, round(w / aspect))
    left, top = (w - cw) // 2, (h - ch) // 2
    return left, top, left + cw, top + ch


def apply_transform(img: Image.Image, resolution: int, transform: str) -> Image.Image:
    """Square `resolution` image: centre crop, 2:1 crop letterboxed in black, or aspect-ignoring resize."""
    r = resolution
    if transform == "resize":
        return img if img.size == (r, r) else img.resize((r, r), Image.Resampling.LANCZOS)
    if transform == "center-crop":
        box = _center_box(*img.size, aspect=1.0)
        return img.resize((r, r), Image.Resampling.LANCZOS, box=box)
    if transform == "center-crop-wide":
        box = _center_box(*img.size, aspect=2.0)
        band = img.resize((r, r // 2), Image.Resampling.LANCZOS, box=box)
        canvas = Image.new(img.mode, (r, r), 0)
        canvas.paste(band, (0, (r - r // 2) // 2))
        return canvas
    raise ValueError(f"unknown transform {transform!r}; choose one of {', '.join(TRANSFORMS)}")


def open_image(data: bytes) -> Image.Image:
    """Fully decoded PIL image with EXIF orientation applied; raises ImageDecodeError on any failure."""
    try:
        img = Image.open(io.BytesIO(data))
        img.load()  # force full decode now: truncated files fail here, not later
        img = ImageOps.exif_transpose(img) or img
    except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
        raise ImageDecodeError(str(exc) or type(exc).__name__) from exc
    return img


def decode_image(
    data: bytes, resolution: int, transform: str = "center-crop", channels: int = 3
) -> np.ndarray:
    """Image file bytes -> uint8 array [channels, resolution, resolution]."""
    img = open_image(data)
    try:
        img = _to_mode(img, "RGB" if channels == 3 else "L")
        img = apply_transform(img, resolution, transform)
    except ValueError:
        raise
    except Exception as exc:
        raise ImageDecodeError(str(exc) or type(exc).__name__) from exc
    arr = np.asarray(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)
