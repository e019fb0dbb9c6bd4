"""LPIPS perceptual loss with offline, explicit backbone weight loading.

The ``lpips`` wheel ships the calibrated linear heads, but its backbone asks torchvision for ImageNet
weights, which torchvision downloads into the torch hub cache. We resolve that file ourselves before any
work (``--vgg-weights PATH``, the hub cache, or torchvision's download into it), build LPIPS with a random
backbone and copy the state dict in; when none works we fail up front saying where to put the file.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from core.errors import SGError
from core.metrics.pretrained import PretrainedFile, load_state_dict, weights_path
from projector.metrics import mse_loss, psnr

__all__ = [
    "BACKBONE_FILES",
    "PerceptualLoss",
    "backbone_weights_path",
    "make_lpips",
    "mse_loss",
    "perceptual_weights",
    "psnr",
]

DOWNLOAD_ROOT = "https://download.pytorch.org/models/"
# lpips net name -> torchvision checkpoint file that ``tv.<arch>(pretrained=True)`` would download.
BACKBONE_FILES = {
    "vgg": "vgg16-397923af.pth",
    "alex": "alexnet-owt-7be5be79.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}


def _backbone_file(net: str) -> PretrainedFile:
    """The torchvision checkpoint of an LPIPS backbone, as the pretrained-file rules name it."""
    filename = BACKBONE_FILES[net]
    return PretrainedFile(filename, DOWNLOAD_ROOT + filename, "LPIPS backbone")


def hub_checkpoint_path(filename: str) -> Path:
    """Where torchvision itself caches downloads: ``torch.hub.get_dir()/checkpoints/<file>`` (honours
    TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def download_backbone(url: str, dest: Path) -> None:
    """torchvision's own way of filling the hub cache (atomic: a partial download never stays behind)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(dest), progress=sys.stderr.isatty())


def backbone_weights_path(
    net: str = "vgg", weights: str | os.PathLike[str] | None = None, download: bool = True
) -> Path:
    """Resolve the backbone file before any real work: `weights`, else the hub cache, else (with
    `download` and without SG_OFFLINE=1) torchvision's download into the hub cache."""
    if net not in BACKBONE_FILES:
        raise SGError(f"unknown LPIPS network {net!r}; choose one of {', '.join(BACKBONE_FILES)}")
    filename = BACKBONE_FILES[net]
    if weights is not None:
        p = Path(weights).expanduser()
        if not p.is_file():
            raise SGError(f"--vgg-weights file not found: {p} (expected torchvision's {filename})")
        return p
    # The one rule for pretrained files (hub cache, download when online, one-line error), shared with
    # sg metrics, which reads the same VGG16 file for precision/recall and PPL.
    hint = ", or pass --vgg-weights PATH"
    return weights_path(_backbone_file(net), allow_download=download, downloader=download_backbone, hint=hint)


def perceptual_weights(loss: str, weights: str | os.PathLike[str] | None) -> Path | None:
    """The VGG16 file `sg project` needs, resolved before any work: required for the LPIPS losses; for mse
    only used for scores, so it is never downloaded then and its absence is no error (None)."""
    if "lpips" in loss:
        return backbone_weights_path("vgg", weights)  # raises a one-line SGError naming --vgg-weights
    try:
        return backbone_weights_path("vgg", weights, download=False)  # no 500 MB fetch just for scores
    except SGError:
        if weights is not None:
            raise
        return None


def _copy_backbone(backbone: nn.Module, sd: dict[str, torch.Tensor], path: Path) -> None:
    """lpips splits ``features`` into slices keeping each layer's original index as its name, so
    ``slice2.5.weight`` is torchvision's ``features.5.weight``; copy every tensor, checking shapes."""
    mapped = {}
    for name, ref in backbone.state_dict().items():
        src_key = "features." + name.split(".", 1)[1]
        if src_key not in sd:
            raise SGError(f"LPIPS backbone weights {path} lack '{src_key}': not a torchvision checkpoint")
        if sd[src_key].shape != ref.shape:
            raise SGError(
                f"LPIPS backbone weights {path}: '{src_key}' has shape {list(sd[src_key].shape)}, "
                f"expected {list(ref.shape)} (wrong architecture?)"
            )
        mapped[name] = sd[src_key].to(ref.dtype)
    backbone.load_state_dict(mapped, strict=True)


def make_lpips(
    net: str = "vgg",
    weights: str | os.PathLike[str] | None = None,
    random_backbone: bool = False,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Build a frozen ``lpips.LPIPS``; the only network access is backbone_weights_path's download.

    ``random_backbone=True`` keeps a randomly initialised backbone (tests, smoke runs: distances are then
    not perceptual). Otherwise the torchvision weights come from ``weights`` or the hub cache (downloaded
    there when missing and allowed), and a missing file raises SGError before the (slow) model construction.
    """
    if net not in BACKBONE_FILES:
        raise SGError(f"unknown LPIPS network {net!r}; choose one of {', '.join(BACKBONE_FILES)}")
    path = None if random_backbone else backbone_weights_path(net, weights)
    sd = None if path is None else load_state_dict(path, _backbone_file(net))

    import lpips  # deferred: importing it pulls in torchvision (seconds)

    # pnet_rand=True: torchvision builds the architecture only and never downloads. lpips prints with
    # verbose=True and torchvision warns about its deprecated ``pretrained`` flag: keep stdout clean.
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    if sd is not None:
        _copy_backbone(model.net, sd, path)
    model = model.to(device).eval()
    model.requires_grad_(False)
    return model


class PerceptualLoss(nn.Module):
    """LPIPS distance between generator-range images: [-1,1], [N,C,H,W] -> per-sample [N].

    Images larger than ``size`` are area-downsampled first, as the official projector does for 256 px
    features; 1-channel images are repeated to RGB. ``features`` + ``distance`` let a projector compute the
    target's features once instead of every step.
    """

    def __init__(
        self,
        model: nn.Module | None = None,
        *,
        net: str = "vgg",
        weights: str | os.PathLike[str] | None = None,
        random_backbone: bool = False,
        device: str | torch.device = "cpu",
        size: int = 256,
    ) -> None:
        super().__init__()
        self.model = model if model is not None else make_lpips(net, weights, random_backbone, device)
        self.model.eval().requires_grad_(False)
        self.size = size

    def train(self, mode: bool = True) -> PerceptualLoss:
        """Stay in eval mode: the lpips heads contain dropout that must never be active."""
        super().train(mode)
        self.model.eval()
        return self

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Channel fix-up and area downsampling to at most ``size`` px on the short side."""
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise ValueError(f"expected [N,1|3,H,W] images, got shape {list(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        h, w = x.shape[2:]
        if min(h, w) > self.size:
            scale = self.size / min(h, w)
            x = F.interpolate(x, size=(round(h * scale), round(w * scale)), mode="area")
        return x

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Unit-normalised backbone activations per LPIPS layer (what the distance compares)."""
        import lpips

        m = self.model
        x = self.prepare(x)
        if getattr(m, "version", "0.1") == "0.1":
            x = m.scaling_layer(x)
        return [lpips.normalize_tensor(f) for f in m.net(x)]

    def distance(self, fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
        """LPIPS from precomputed features: linear heads on squared differences, spatial mean, summed."""
        total = 0
        for k, (a, b) in enumerate(zip(fa, fb, strict=True)):
            d = (a - b).square()
            d = self.model.lins[k](d) if self.model.lpips else d.sum(dim=1, keepdim=True)
            total = total + d.mean(dim=(2, 3))
        return total.flatten()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-sample distance [N]; ``y`` may have batch 1 and is broadcast against ``x``."""
        if y.shape[0] != x.shape[0] and y.shape[0] != 1:
            raise ValueError(f"batch sizes do not match: {x.shape[0]} vs {y.shape[0]}")
        d = self.distance(self.features(x), self.features(y))
        return d.expand(x.shape[0]) if d.shape[0] != x.shape[0] else d
