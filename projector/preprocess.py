"""Turn user photos into projector targets: oriented, model channels, centre-cropped square, model size.

Transparency is composited onto WHITE (not dropped): pixels under a fully transparent alpha often hold
arbitrary colours (black, or leftovers from editing), and white is the usual backdrop of cut-out photos.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.errors import SGError
from core.images import load_image

__all__ = [
    "IMAGE_SUFFIXES",
    "collect_inputs",
    "load_target",
    "load_target_uint8",
    "target_stem",
    "to_model_mode",
    "uint8_to_tensor",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def _high_bit_to_l(im: Image.Image) -> Image.Image:
    """Scale 16/32-bit integer and float greyscale to 8 bit (PIL's own convert('L') clips instead)."""
    a = np.asarray(im).astype(np.float64)
    if im.mode == "F":
        peak = 1.0 if a.size and a.max() <= 1.0 else 255.0
    else:
        peak = 65535.0 if a.size and a.max() > 255 else 255.0
    return Image.fromarray(np.clip(np.rint(a / peak * 255.0), 0, 255).astype(np.uint8))


def to_model_mode(im: Image.Image, channels: int) -> Image.Image:
    """Convert any PIL mode (RGBA, LA, P, CMYK, I;16, ...) to 'RGB' (channels=3) or 'L' (channels=1)."""
    if channels not in (1, 3):
        raise SGError(f"unsupported number of image channels {channels}: models use 1 or 3")
    if im.mode.startswith("I") or im.mode == "F":
        im = _high_bit_to_l(im)
    # Palette images go through RGBA too: their palette may carry alpha even without a 'transparency' key.
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La", "P") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba).convert("RGB")
    target = "RGB" if channels == 3 else "L"
    return im if im.mode == target else im.convert(target)


def _centre_crop_square(im: Image.Image) -> Image.Image:
    """Largest centred square: the generator only makes square images."""
    w, h = im.size
    s = min(w, h)
    left, top = (w - s) // 2, (h - s) // 2
    return im.crop((left, top, left + s, top + s))


def load_target_uint8(
    path: str | os.PathLike[str], resolution: int, channels: int = 3, min_size: int | None = None
) -> np.ndarray:
    """Load a photo as a projector target, uint8 [H,W,C] at ``resolution`` (what ``{stem}_target.png`` holds).

    ``min_size`` is the smallest accepted short side; the default, ceil(resolution/2), refuses upscaling by
    more than 2x (the projection of a blurry upscale is not meaningful); 0 accepts anything.
    """
    if resolution < 1:
        raise ValueError(f"resolution must be positive, got {resolution}")
    im = load_image(path)
    w, h = im.size
    need = math.ceil(resolution / 2) if min_size is None else min_size
    if min(w, h) < need:
        raise SGError(
            f"image too small: {path} is {w}x{h}; the short side must be at least {need} px "
            f"for a {resolution} px model (upscaling more than {resolution / max(min(w, h), 1):.1f}x)"
        )
    try:
        im = to_model_mode(im, channels)
        im = _centre_crop_square(im)
        if im.size != (resolution, resolution):
            im = im.resize((resolution, resolution), Image.Resampling.LANCZOS)
    except (OSError, ValueError) as e:
        raise SGError(f"cannot convert image {path}: {e}") from e
    arr = np.array(im, dtype=np.uint8)  # a writable copy (asarray of a PIL image is read-only)
    return np.ascontiguousarray(arr[:, :, None] if arr.ndim == 2 else arr)


def uint8_to_tensor(arr: np.ndarray) -> torch.Tensor:
    """[H,W,C] uint8 -> [C,H,W] float32 in [-1,1] as x/127.5-1, the inverse of core.images.to_uint8."""
    t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).to(torch.float32)
    return t / 127.5 - 1.0


def load_target(
    path: str | os.PathLike[str], resolution: int, channels: int = 3, min_size: int | None = None
) -> torch.Tensor:
    """Load a photo as a projector target, float32 [C,H,W] in [-1,1]; see ``load_target_uint8``."""
    return uint8_to_tensor(load_target_uint8(path, resolution, channels, min_size))


def _is_image_name(p: Path) -> bool:
    """Folder scans pick known image suffixes and skip hidden files (e.g. macOS '._x.jpg' resource forks)."""
    return p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")


def collect_inputs(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Expand files and folders (recursive, sorted) into a de-duplicated list of image files.

    Files named explicitly are kept whatever their suffix (the loader reports unreadable ones); folders
    contribute only .png/.jpg/.jpeg/.webp/.bmp. A missing path, or nothing found at all, is an SGError.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    given = list(paths)
    if not given:
        raise SGError("no input images given")
    for raw in given:
        p = Path(raw)
        if not p.exists():
            raise SGError(f"input not found: {p}")
        if p.is_dir():
            found = sorted(
                (q for q in p.rglob("*") if q.is_file() and _is_image_name(q)),
                key=lambda q: q.relative_to(p).as_posix(),
            )
        else:
            found = [p]
        for q in found:
            key = q.resolve()
            if key not in seen:
                seen.add(key)
                out.append(q)
    if not out:
        names = ", ".join(str(Path(x)) for x in given)
        raise SGError(f"no images ({'/'.join(IMAGE_SUFFIXES)}) found in: {names}")
    return out


def target_stem(path: Path, inputs: list[Path]) -> str:
    """Output name stem for an input; disambiguates equal stems from different folders with a counter."""
    same = [q for q in inputs if q.stem == path.stem]
    if len(same) <= 1:
        return path.stem
    return f"{path.stem}_{same.index(path) + 1}"
