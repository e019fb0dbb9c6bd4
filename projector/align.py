"""FFHQ-style face alignment, so that photos are framed like the faces an FFHQ model was trained on.

The geometry is the FFHQ dataset recipe: from dlib's 68 landmarks take the eye centres and the mouth
corners, build an oriented square around them (rotated with the eye line, sized by the eye distance and the
eye-to-mouth distance), and resample that square. Landmark detection needs dlib, which is optional and
imported only here: ``pip install dlib-bin face-recognition-models`` (or Debian's ``libdlib-data``).
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
from pathlib import Path

import numpy as np
from PIL import Image

from core.errors import SGError

__all__ = [
    "INSTALL_HINT",
    "align_face",
    "check_align_available",
    "detect_landmarks",
    "face_quad",
    "load_aligned_uint8",
    "warp_quad",
]

INSTALL_HINT = "pip install dlib-bin face-recognition-models"
PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
DEBIAN_PREDICTOR = Path("/usr/share/dlib") / PREDICTOR_FILE  # Debian package libdlib-data
ENV_PREDICTOR = "SG_DLIB_LANDMARKS"  # explicit path to the .dat file

# Index ranges of dlib's 68-point layout.
EYE_LEFT, EYE_RIGHT = slice(36, 42), slice(42, 48)
MOUTH_LEFT, MOUTH_RIGHT = 48, 54


def _perp(v: np.ndarray) -> np.ndarray:
    """v turned by 90 degrees so that image 'right' (x) becomes image 'down' (y): (a, b) -> (-b, a)."""
    return np.array([-v[1], v[0]])


def face_quad(landmarks: np.ndarray) -> np.ndarray:
    """The FFHQ crop square for 68 landmarks [68,2] (x, y): corners [4,2] in the order top-left,
    bottom-left, bottom-right, top-right (the order PIL's QUAD transform takes)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2):
        raise ValueError(f"expected 68 (x, y) landmarks, got shape {list(lm.shape)}")
    eye_l, eye_r = lm[EYE_LEFT].mean(axis=0), lm[EYE_RIGHT].mean(axis=0)
    eyes = (eye_l + eye_r) / 2
    eye_to_eye = eye_r - eye_l
    mouth = (lm[MOUTH_LEFT] + lm[MOUTH_RIGHT]) / 2
    eye_to_mouth = mouth - eyes
    # The horizontal axis averages the eye line and the normal of the eye-to-mouth line (robust to either
    # being skewed); half the side is the larger of 2x the eye distance and 1.8x the eye-to-mouth distance.
    x = eye_to_eye - _perp(eye_to_mouth)
    x = x / np.hypot(*x) * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = _perp(x)
    centre = eyes + eye_to_mouth * 0.1
    return np.stack([centre - x - y, centre - x + y, centre + x + y, centre + x - y])


def _soft_pad(arr: np.ndarray, pads: tuple[int, int, int, int], qsize: float) -> np.ndarray:
    """Reflect-pad [H,W,C] float by (left, top, right, bottom) and fade the mirrored area into a blurred,
    then flat (median) colour, so that a face near the photo edge gets no hard mirrored copies."""
    import cv2

    left, top, right, bottom = pads
    arr = np.pad(arr, ((top, bottom), (left, right), (0, 0)), mode="reflect")
    h, w = arr.shape[:2]
    ys, xs = np.mgrid[:h, :w].astype(np.float32)
    # 1 on the outer edge, 0 where the original photo starts (and below 0 inside it).
    fx = 1.0 - np.minimum(xs / max(left, 1), (w - 1 - xs) / max(right, 1))
    fy = 1.0 - np.minimum(ys / max(top, 1), (h - 1 - ys) / max(bottom, 1))
    mask = np.maximum(fx, fy)[:, :, None]
    sigma = max(qsize * 0.02, 0.1)
    blurred = cv2.GaussianBlur(arr, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
    if blurred.ndim == 2:
        blurred = blurred[:, :, None]
    arr = arr + (blurred - arr) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    arr = arr + (np.median(arr, axis=(0, 1)) - arr) * np.clip(mask, 0.0, 1.0)
    return arr


def warp_quad(
    img: Image.Image, quad: np.ndarray, output_size: int, supersample: int = 4, pad: bool = True
) -> Image.Image:
    """Resample the square ``quad`` (as from ``face_quad``) of an RGB photo to ``output_size`` px.

    Large photos are first shrunk (bilinear quad sampling aliases when it shrinks more than 2x), then
    cropped around the quad, padded where the quad leaves the photo, sampled at ``supersample`` times the
    output size and downscaled with Lanczos.
    """
    img = img.convert("RGB")
    quad = np.asarray(quad, dtype=np.float64).copy()
    qsize = float(np.hypot(*(quad[3] - quad[0])))
    shrink = int(math.floor(qsize / output_size * 0.5))
    if shrink > 1:
        size = (int(round(img.width / shrink)), int(round(img.height / shrink)))
        img = img.resize(size, Image.Resampling.LANCZOS)
        quad /= shrink
        qsize /= shrink

    border = max(int(round(qsize * 0.1)), 3)
    lo, hi = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
    box = (
        max(lo[0] - border, 0),
        max(lo[1] - border, 0),
        min(hi[0] + border, img.width),
        min(hi[1] + border, img.height),
    )
    if box[2] - box[0] < img.width or box[3] - box[1] < img.height:
        img = img.crop(box)
        quad -= box[:2]

    lo, hi = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
    need = (
        max(border - lo[0], 0),
        max(border - lo[1], 0),
        max(hi[0] - img.width + border, 0),
        max(hi[1] - img.height + border, 0),
    )
    if pad and max(need) > border - 4:
        pads = tuple(max(p, int(round(qsize * 0.3))) for p in need)
        arr = _soft_pad(np.asarray(img, dtype=np.float32), pads, qsize)
        img = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")
        quad += pads[:2]

    big = output_size * max(1, supersample)
    out = img.transform(
        (big, big), Image.Transform.QUAD, tuple((quad + 0.5).flatten()), Image.Resampling.BILINEAR
    )
    if big != output_size:
        out = out.resize((output_size, output_size), Image.Resampling.LANCZOS)
    return out


def _predictor_path() -> Path | None:
    """The 68-point model: $SG_DLIB_LANDMARKS, the face-recognition-models package, or Debian's file."""
    env = os.environ.get(ENV_PREDICTOR)
    if env:
        return Path(env)
    # Located, not imported: the package's __init__ needs pkg_resources, which recent setuptools dropped.
    spec = importlib.util.find_spec("face_recognition_models")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        p = Path(folder) / "models" / PREDICTOR_FILE
        if p.is_file():
            return p
    return DEBIAN_PREDICTOR if DEBIAN_PREDICTOR.is_file() else None


def check_align_available() -> Path:
    """Fail up front (one line) when dlib or its landmark model is missing; returns the model path."""
    try:
        import dlib  # noqa: F401
    except ImportError:
        raise SGError(f"--align needs dlib and its 68-point landmark model: {INSTALL_HINT}") from None
    path = _predictor_path()
    if path is None or not path.is_file():
        where = (
            f" (${ENV_PREDICTOR} points to {path}, which does not exist)"
            if os.environ.get(ENV_PREDICTOR)
            else ""
        )
        raise SGError(f"--align needs dlib's 68-point landmark model{where}: {INSTALL_HINT}")
    return path


@functools.lru_cache(maxsize=1)
def _dlib_models(path: str):
    import dlib

    return dlib.get_frontal_face_detector(), dlib.shape_predictor(path)


def detect_landmarks(rgb: np.ndarray, where: str = "image") -> np.ndarray:
    """68 landmarks [68,2] of the largest face in an [H,W,3] uint8 photo (SGError when there is none)."""
    detector, predictor = _dlib_models(str(check_align_available()))
    faces = detector(np.ascontiguousarray(rgb), 1)
    if len(faces) == 0:
        raise SGError(f"no face found in {where} (--align needs a visible frontal face)")
    face = max(faces, key=lambda r: r.width() * r.height())
    shape = predictor(rgb, face)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def align_face(img: Image.Image, output_size: int, where: str = "image") -> Image.Image:
    """Detect the face in a photo and return its FFHQ-aligned RGB crop of ``output_size`` px."""
    rgb = np.asarray(img.convert("RGB"))
    return warp_quad(img, face_quad(detect_landmarks(rgb, where)), output_size)


def load_aligned_uint8(path: str | os.PathLike[str], resolution: int, channels: int = 3) -> np.ndarray:
    """Like ``preprocess.load_target_uint8`` but FFHQ-aligned: uint8 [H,W,C] at the model's resolution."""
    from core.images import load_image
    from projector.preprocess import to_model_mode

    im = align_face(load_image(path), resolution, where=str(path))
    arr = np.array(to_model_mode(im, channels), dtype=np.uint8)
    return np.ascontiguousarray(arr[:, :, None] if arr.ndim == 2 else arr)
