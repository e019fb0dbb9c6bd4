"""Building blocks of the ADA augmentation pipeline (Karras et al. 2020, appendix B).

Homogeneous 2-D matrices in centred pixel coordinates (x right, y down, origin at the image centre) for the
geometric transforms, 4x4 matrices for the colour transforms, the wavelet filters behind the anti-aliased
resampling and the band filter bank, and two resamplers that support a double backward (R1 through the
pipeline): an exact integer gather for pixel blitting and a gather-based bilinear sampler for the rest.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from core.ops.fir import setup_filter

# Low-pass decomposition filters of two Symlet wavelets (standard published coefficients, as PyWavelets lists
# them). sym6 is the orthogonal anti-aliasing filter of the geometric transforms; sym2 builds the filter bank.
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)
SYM6 = (
    0.015404109327027373,
    0.0034907120842174702,
    -0.11799011114819057,
    -0.048311742585633,
    0.4910559419267466,
    0.787641141030194,
    0.3379294217276218,
    -0.07263752278646252,
    -0.021060292512300564,
    0.04472490177066578,
    0.0017677118642428036,
    -0.007800708325034148,
)

# Luma axis of RGB in homogeneous colour coordinates: brightness flips and hue rotations act around it.
LUMA_AXIS = np.array([1.0, 1.0, 1.0, 0.0]) / math.sqrt(3)
# Expected power of the four frequency bands of natural images (roughly 1/f), used to keep gains neutral.
BAND_POWER = np.array([10.0, 1.0, 1.0, 1.0]) / 13


# ---- matrices ---------------------------------------------------------------------------------------------


def _batched(rows: list[list[torch.Tensor | float]], like: torch.Tensor) -> torch.Tensor:
    """[N, R, C] matrices from rows of per-sample tensors [N] and plain numbers."""
    flat = [
        e if isinstance(e, torch.Tensor) else torch.full_like(like, float(e)) for row in rows for e in row
    ]
    return torch.stack(flat, dim=-1).reshape(like.shape[0], len(rows), len(rows[0]))


def translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    return _batched([[1, 0, tx], [0, 1, ty], [0, 0, 1]], tx)


def scale2d(sx: torch.Tensor, sy: torch.Tensor) -> torch.Tensor:
    return _batched([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], sx)


def rotate2d(theta: torch.Tensor) -> torch.Tensor:
    """Rotation by `theta` in y-down pixel coordinates (clockwise on screen for theta > 0)."""
    c, s = torch.cos(theta), torch.sin(theta)
    return _batched([[c, -s, 0], [s, c, 0], [0, 0, 1]], theta)


def translate3d(t: torch.Tensor) -> torch.Tensor:
    """Adds `t` to all three colour channels."""
    return _batched([[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]], t)


def scale3d(s: torch.Tensor) -> torch.Tensor:
    return _batched([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]], s)


def rotate_around_axis(v: np.ndarray, theta: torch.Tensor) -> torch.Tensor:
    """Rodrigues rotation by `theta` around the unit axis v (first three entries), homogeneous 4x4."""
    x, y, z = (float(a) for a in v[:3])
    c, s = torch.cos(theta), torch.sin(theta)
    k = 1 - c
    return _batched(
        [
            [x * x * k + c, x * y * k - z * s, x * z * k + y * s, 0],
            [y * x * k + z * s, y * y * k + c, y * z * k - x * s, 0],
            [z * x * k - y * s, z * y * k + x * s, z * z * k + c, 0],
            [0, 0, 0, 1],
        ],
        theta,
    )


def apply_color_matrix(images: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """Colour transform C [N, 4, 4] on RGB; on grayscale, the mean over the three output rows."""
    n, ch, h, w = images.shape
    x = images.reshape(n, ch, h * w)
    if ch == 3:
        x = C[:, :3, :3] @ x + C[:, :3, 3:]
    elif ch == 1:
        rows = C[:, :3, :].mean(dim=1, keepdim=True)  # [N, 1, 4]
        x = x * rows[:, :, :3].sum(dim=2, keepdim=True) + rows[:, :, 3:]
    else:
        raise ValueError(f"colour augmentation needs RGB or grayscale images, got {ch} channels")
    return x.reshape(n, ch, h, w)


# ---- pixel blitting -------------------------------------------------------------------------------------


def _reflect(i: torch.Tensor, size: int) -> torch.Tensor:
    """Index reflection without repeating the edge pixel (as F.pad's 'reflect'); one bounce suffices here."""
    i = torch.where(i < 0, -i, i)
    return torch.where(i > size - 1, 2 * (size - 1) - i, i)


def blit(
    images: torch.Tensor, flip: torch.Tensor, rot: torch.Tensor, tx: torch.Tensor, ty: torch.Tensor
) -> torch.Tensor:
    """Exact x-flip, 90-degree rotation (k quarter turns) and integer translation (reflected borders).

    Output pixel q samples the input at flip(rot(q - t)) about the image centre, as the official inverse
    matrix does (as array operations: flip, then rotate, then shift); it is one integer gather, so the
    result is bit-exact and its double backward exists.
    All arguments are int64 [N]; rotations need a square image.
    """
    n, ch, h, w = images.shape
    dev = images.device
    if bool((rot % 2 != 0).any()) and h != w:
        raise ValueError("90-degree rotations need square images")
    # Doubled centred coordinates keep the half-pixel centre of even sizes on integers.
    ys, xs = torch.meshgrid(
        torch.arange(h, device=dev) * 2 - (h - 1), torch.arange(w, device=dev) * 2 - (w - 1), indexing="ij"
    )
    x = xs.reshape(1, -1) - 2 * tx.reshape(-1, 1)
    y = ys.reshape(1, -1) - 2 * ty.reshape(-1, 1)
    # rotate2d(k * pi/2) with exact integer cos/sin: (x, y) -> (c x - s y, s x + c y)
    k = rot.reshape(-1, 1) % 4
    c = torch.where(k == 0, 1, torch.where(k == 2, -1, 0))
    s = torch.where(k == 1, 1, torch.where(k == 3, -1, 0))
    x, y = c * x - s * y, s * x + c * y
    x = torch.where(flip.reshape(-1, 1) != 0, -x, x)
    ix = _reflect((x + (w - 1)) // 2, w)
    iy = _reflect((y + (h - 1)) // 2, h)
    index = (iy * w + ix).unsqueeze(1).expand(n, ch, h * w)
    return images.reshape(n, ch, h * w).gather(2, index).reshape(n, ch, h, w)


# ---- general geometric transforms -------------------------------------------------------------------------


def bilinear_sample(images: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear lookup at pixel positions x, y [N, Ho, Wo] (pixel centres on integers), zeros outside.

    The same values as F.grid_sample(align_corners=False, padding_mode='zeros'), written as four gathers
    with constant weights: gather's backward is a scatter-add whose backward is a gather again, so R1 can
    differentiate through it twice (grid_sample has no double backward).
    """
    n, ch, h, w = images.shape
    _, ho, wo = x.shape
    x0, y0 = torch.floor(x), torch.floor(y)
    fx, fy = (x - x0).unsqueeze(1), (y - y0).unsqueeze(1)
    x0, y0 = x0.long(), y0.long()
    flat = images.reshape(n, ch, h * w)
    out = images.new_zeros(n, ch, ho, wo)
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            inside = ((xi >= 0) & (xi < w) & (yi >= 0) & (yi < h)).unsqueeze(1)
            index = (yi.clamp(0, h - 1) * w + xi.clamp(0, w - 1)).reshape(n, 1, ho * wo).expand(n, ch, -1)
            tap = flat.gather(2, index).reshape(n, ch, ho, wo)
            out = out + tap * (wx * wy * inside).to(images.dtype)
    return out


def geometric_filter() -> torch.Tensor:
    """The separable sym6 anti-aliasing filter (normalised to unit DC gain)."""
    return setup_filter(SYM6)


def _fir_along(x: torch.Tensor, dim: int, weights: torch.Tensor, step: int) -> torch.Tensor:
    """Windows of x along `dim` (size K, stride `step`) times weights [K, P]: P outputs per window, in a
    new last dim. One unfold and one matmul: far faster on CPU than a depthwise conv with a 1-D filter."""
    k = weights.shape[0]
    win = x.unfold(dim, k, step)  # [..., n_out (at dim), ..., K]
    out = win.reshape(-1, k) @ weights.to(x.dtype)  # one copy, one GEMM
    return out.reshape(*win.shape[:-1], weights.shape[1])


def _pad_dim(x: torch.Tensor, dim: int, before: int, after: int) -> torch.Tensor:
    """Zero-pad (positive) or crop (negative) along one of the last two dims."""
    if before < 0:
        x = x.narrow(dim, -before, x.shape[dim] + before)
        before = 0
    if after < 0:
        x = x.narrow(dim, 0, x.shape[dim] + after)
        after = 0
    if before or after:
        pad = [before, after, 0, 0] if dim == x.ndim - 1 else [0, 0, before, after]
        x = F.pad(x, pad)
    return x


def _polyphase_up2(f: torch.Tensor) -> tuple[torch.Tensor, int, int]:
    """For 2x upsampling by zero insertion and filtering with f (as upsample2d pads it): weights [K, 2]
    giving output phases 0 and 1 from K neighbouring input samples, and the input padding (before, after)."""
    taps = [float(v) * 2 for v in f.tolist()]  # gain 2 per dimension (4 in all)
    fw = len(taps)
    p0 = (fw + 1) // 2
    pairs = [  # out[2a + r] = sum_k taps[fw-1-k] * up[2a + r + k - p0], where up[2i] = x[i]
        (r, taps[fw - 1 - k], (r + k - p0) // 2) for r in (0, 1) for k in range(fw) if (r + k - p0) % 2 == 0
    ]
    lo, hi = min(o for *_, o in pairs), max(o for *_, o in pairs)
    w = torch.zeros(hi - lo + 1, 2, dtype=torch.float64)
    for r, c, o in pairs:
        w[o - lo, r] += c
    return w.float(), -lo, hi


def upsample2x(x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    """core.ops.fir.upsample2d(x, f, up=2) for a separable f, computed polyphase: each output phase is a
    short filter on the input grid, so nothing is multiplied with the inserted zeros."""
    w, before, after = _polyphase_up2(f)
    w = w.to(x.device)
    n, c, h, wd = x.shape
    y = _fir_along(_pad_dim(x, 3, before, after), 3, w, 1)  # [n, c, h, wd, 2]
    y = y.reshape(n, c, h, 2 * wd)
    y = _fir_along(_pad_dim(y, 2, before, after), 2, w, 1)  # [n, c, h, 2wd, 2]
    return y.transpose(3, 4).reshape(n, c, 2 * h, 2 * wd)


def downsample2x(x: torch.Tensor, f: torch.Tensor, padding: int) -> torch.Tensor:
    """core.ops.fir.downsample2d(x, f, down=2, padding=padding, flip_filter=True) for a separable f,
    evaluating the filter only at the kept (even) positions."""
    fw = f.shape[0]
    w = f.reshape(fw, 1).to(device=x.device)
    x = _pad_dim(x, 3, padding + (fw - 1) // 2, padding + (fw - 2) // 2)
    x = _fir_along(x, 3, w, 2).squeeze(-1)
    x = _pad_dim(x, 2, padding + (fw - 1) // 2, padding + (fw - 2) // 2)
    return _fir_along(x, 2, w, 2).squeeze(-1)


def resample_affine(images: torch.Tensor, G_inv: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """Warp by the inverse matrices G_inv [N, 3, 3] (output -> input, centred pixels) in one resampling.

    As the paper describes: reflect-pad enough to cover the warped corners, upsample 2x with the orthogonal
    wavelet filter, sample bilinearly, filter and downsample 2x back; that keeps aliasing out of the warp.
    """
    n, ch, h, w = images.shape
    dev = images.device
    dt = images.dtype if images.dtype == torch.float64 else torch.float32
    G_inv = G_inv.to(device=dev, dtype=dt)
    fpad = filt.shape[0] // 4  # margin for the filter taps, in output pixels
    cx, cy = (w - 1) / 2, (h - 1) / 2
    corners = torch.tensor([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], device=dev, dtype=dt).t()
    reach = (G_inv @ corners)[:, :2, :].permute(1, 0, 2).flatten(1)  # [xy, N * 4]
    margin = torch.cat([-reach, reach]).max(dim=1).values  # [x0, y0, x1, y1]
    margin = margin + torch.tensor([fpad * 2 - cx, fpad * 2 - cy] * 2, device=dev, dtype=dt)
    margin = margin.clamp_min(0).minimum(torch.tensor([w - 1, h - 1] * 2, device=dev, dtype=margin.dtype))
    mx0, my0, mx1, my1 = (int(v) for v in margin.ceil().tolist())
    images = F.pad(images, [mx0, mx1, my0, my1], mode="reflect")
    ones = torch.ones(n, device=dev, dtype=dt)
    # The padded image's centre moved by half the padding difference.
    G_inv = translate2d(ones * (mx0 - mx1) / 2, ones * (my0 - my1) / 2) @ G_inv
    # 2x upsampling doubles the coordinates; the filtered grid sits half a (fine) pixel off the centre,
    # which the flipped filter of the downsampling undoes again.
    images = upsample2x(images, filt)
    G_inv = scale2d(ones * 2, ones * 2) @ G_inv @ scale2d(ones / 2, ones / 2)
    G_inv = translate2d(-ones / 2, -ones / 2) @ G_inv @ translate2d(ones / 2, ones / 2)
    ho, wo = (h + fpad * 2) * 2, (w + fpad * 2) * 2
    hi, wi = images.shape[2], images.shape[3]
    ys, xs = torch.meshgrid(
        torch.arange(ho, device=dev, dtype=dt) - (ho - 1) / 2,
        torch.arange(wo, device=dev, dtype=dt) - (wo - 1) / 2,
        indexing="ij",
    )
    g = G_inv[:, :2, :, None, None]  # output centred pixel -> input centred pixel, then to indices
    sx = g[:, 0, 0] * xs + g[:, 0, 1] * ys + g[:, 0, 2] + (wi - 1) / 2
    sy = g[:, 1, 0] * xs + g[:, 1, 1] * ys + g[:, 1, 2] + (hi - 1) / 2
    images = bilinear_sample(images, sx, sy)
    return downsample2x(images, filt, padding=-fpad * 2)


# ---- image-space filtering ----------------------------------------------------------------------


def filter_bank() -> torch.Tensor:
    """Four band-pass filters [4, taps] from the sym2 wavelet that sum to a unit impulse.

    Band 0 is the lowest octave; each further band halves the frequency of the previous one's split.
    """
    lo = np.asarray(SYM2)
    hi = lo * (-1.0) ** np.arange(lo.size)
    lo2 = np.convolve(lo, lo[::-1]) / 2  # H(z) H(1/z) / 2: zero-phase low-pass
    hi2 = np.convolve(hi, hi[::-1]) / 2  # H(-z) H(-1/z) / 2: zero-phase high-pass
    bank = np.zeros([4, 1])
    bank[0, 0] = 1.0
    for i in range(1, 4):
        # Dilate the existing bank by two (zeros between taps), smooth it, then add band i's high-pass.
        dilated = np.zeros([4, bank.shape[1] * 2 - 1])
        dilated[:, ::2] = bank
        bank = np.stack([np.convolve(row, lo2) for row in dilated])
        start = (bank.shape[1] - hi2.size) // 2
        bank[i, start : start + hi2.size] += hi2
    return torch.as_tensor(bank, dtype=torch.float32)


def _reflect_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Reflect padding of any width: repeated mirroring when the filter is wider than a small image."""
    while pad > 0:
        step = min(pad, x.shape[2] - 1, x.shape[3] - 1)
        x = F.pad(x, [step] * 4, mode="reflect")
        pad -= step
    return x


def band_filter(images: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable per-sample filtering with 1-D taps [N, T] (odd T), reflect-padded to keep the size."""
    n, ch, h, w = images.shape
    kernel = taps.to(images.dtype).repeat_interleave(ch, dim=0).reshape(n * ch, 1, -1)
    x = _reflect_pad(images.reshape(1, n * ch, h, w), kernel.shape[-1] // 2)
    x = F.conv2d(x, kernel.unsqueeze(2), groups=n * ch)
    x = F.conv2d(x, kernel.unsqueeze(3), groups=n * ch)
    return x.reshape(n, ch, h, w)
