"""FIR filtering with up/down-sampling (upfirdn2d) in plain PyTorch.

StyleGAN2 resamples with a [1,3,3,1] low-pass filter instead of nearest/bilinear, which keeps the
generator free of aliasing artefacts. Semantics match the official `upfirdn2d` op: zero-insertion
upsampling, padding (negative crops), filtering with the (flipped) kernel, then decimation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

Padding = int | Sequence[int]


def setup_filter(
    f: Sequence[float] | torch.Tensor = (1, 3, 3, 1),
    normalize: bool = True,
    gain: float = 1.0,
    separable: bool | None = None,
) -> torch.Tensor:
    """A 1-D tap list becomes the normalised 2-D outer product that the official buffers hold."""
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    return f * (gain ** (f.ndim / 2))


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    return int(v[0]), int(v[1])


def _pad4(padding: Padding) -> tuple[int, int, int, int]:
    """Padding as (x0, x1, y0, y1)."""
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    x0, x1, y0, y1 = padding
    return x0, x1, y0, y1


def filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(width, height) of a 1-D or 2-D filter; (1, 1) for no filter."""
    if f is None:
        return 1, 1
    return f.shape[-1], f.shape[0]


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int | Sequence[int] = 1,
    down: int | Sequence[int] = 1,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with `f`, then keep every `down`-th pixel."""
    if f is None:
        f = torch.ones(1, 1, dtype=torch.float32, device=x.device)
    upx, upy = _pair(up)
    downx, downy = _pair(down)
    px0, px1, py0, py1 = _pad4(padding)
    n, c, h, w = x.shape

    if upx > 1 or upy > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(n, c, h * upy, w * upx)

    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]

    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f[None, None].repeat([c, 1] + [1] * f.ndim)
    if f.ndim == 4:
        x = F.conv2d(x, f, groups=c)
    else:
        x = F.conv2d(x, f.unsqueeze(2), groups=c)
        x = F.conv2d(x, f.unsqueeze(3), groups=c)

    if downx > 1 or downy > 1:
        x = x[:, :, ::downy, ::downx]
    return x


def upsample2d(
    x: torch.Tensor,
    f: torch.Tensor,
    up: int = 2,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Filtered 2x (or `up`x) upsampling that keeps the image centred."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _pad4(padding)
    p = [px0 + (fw + up - 1) // 2, px1 + (fw - up) // 2, py0 + (fh + up - 1) // 2, py1 + (fh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=p, flip_filter=flip_filter, gain=gain * up * up)


def downsample2d(
    x: torch.Tensor,
    f: torch.Tensor,
    down: int = 2,
    padding: Padding = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Filtered 2x (or `down`x) downsampling that keeps the image centred."""
    fw, fh = filter_size(f)
    px0, px1, py0, py1 = _pad4(padding)
    p = [
        px0 + (fw - down + 1) // 2,
        px1 + (fw - down) // 2,
        py0 + (fh - down + 1) // 2,
        py1 + (fh - down) // 2,
    ]
    return upfirdn2d(x, f, down=down, padding=p, flip_filter=flip_filter, gain=gain)
