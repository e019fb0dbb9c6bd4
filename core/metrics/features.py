"""The metrics' feature networks, from torch-fidelity (a maintained port of the official detectors).

Inception-v3 is torch-fidelity's exact port of the 2015-12-05 TF graph the official FID/KID/IS use (same
TF-style bilinear resize to 299 px, no output bias in the IS logits); VGG16 is torchvision's ImageNet model,
its fc2 activations after ReLU as the precision/recall features. torch-fidelity would read its weights with a
full unpickle, so we build each network with its load step switched off and copy in a state dict read by
core.metrics.pretrained (weights_only, shapes checked). ``random_init=True`` keeps random weights of the
same shapes (tests, smoke runs; numbers are then meaningless), named by a digest so caches keep them apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import sys
import warnings
from collections.abc import Iterator
from unittest import mock

import torch
from torch import nn

from core.metrics.pretrained import INCEPTION, VGG16, PretrainedFile, check_state_dict, load_state_dict
from core.metrics.pretrained import weights_path as resolve_weights

# Our feature names -> the extractor's, and the size of each vector.
INCEPTION_OUTPUTS = {"pool": ("2048", 2048), "logits": ("logits_unbiased", 1008)}
VGG16_OUTPUTS = {"fc2": ("fc2_relu", 4096)}


class FeatureNet:
    """uint8 images [N, 1|3, H, W] (any size) -> {feature name: float32 [N, D]} on the CPU."""

    def __init__(
        self, name: str, module: nn.Module, outputs: dict[str, tuple[str, int]], identity: str
    ) -> None:
        self.name, self.module, self.outputs = name, module, outputs
        self.identity = identity  # what the real-statistics cache keys on (network + weights file)

    @property
    def device(self) -> torch.device:
        return next(self.module.parameters()).device

    def to(self, device: str | torch.device) -> FeatureNet:
        self.module.to(device)
        return self

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"expected uint8 [N, 1|3, H, W] images, got {images.dtype} {list(images.shape)}")
        x = images.to(self.device)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)  # grayscale as RGB, as the official metrics do
        with full_fp32():
            out = self.module(x)
        return {k: v.float().cpu() for k, v in zip(self.outputs, out, strict=True)}


@contextlib.contextmanager
def full_fp32() -> Iterator[None]:
    """No TF32 in convolutions and matmuls (cuDNN allows it by default), as the official metrics run."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


@contextlib.contextmanager
def _no_load(cls: type) -> Iterator[io.BytesIO]:
    """Construct a torch-fidelity network without its own weight loading: it reads an empty dict we wrote
    (so no file of the user's is unpickled) and its load_state_dict call does nothing."""
    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    with (
        mock.patch.object(cls, "load_state_dict", lambda self, *a, **k: None),
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sys.stderr),
    ):
        warnings.simplefilter("ignore")
        yield empty


def _load_into(module: nn.Module, file: PretrainedFile, weights_dir: str | os.PathLike | None) -> str:
    """Copy the resolved file's tensors into `module` (extra tensors in the file are ignored); returns
    the identity string the caches key on."""
    path = resolve_weights(file, weights_dir)
    sd = load_state_dict(path, file)
    expected = module.state_dict()
    check_state_dict(sd, expected, path, file)
    module.load_state_dict({k: sd[k].to(v.dtype) for k, v in expected.items()}, strict=True)
    st = path.stat()
    return f"{file.filename}:{st.st_size}"


def _random_identity(module: nn.Module) -> str:
    """Random weights differ per seed: name them by a digest of a sample of every tensor."""
    h = hashlib.sha256()
    for t in module.state_dict().values():
        h.update(t.detach().flatten()[:64].double().cpu().numpy().tobytes())
    return f"random-{h.hexdigest()[:12]}"


def inception(
    weights_dir: str | os.PathLike | None = None,
    random_init: bool = False,
    device: str | torch.device = "cpu",
) -> FeatureNet:
    """Inception-v3: 'pool' (2048, FID/KID) and 'logits' (1008, no output bias, IS)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3 as Net

    with _no_load(Net) as empty:
        module = Net("inception-v3-compat", [v[0] for v in INCEPTION_OUTPUTS.values()], empty)
    identity = _random_identity(module) if random_init else _load_into(module, INCEPTION, weights_dir)
    module.requires_grad_(False).eval()
    return FeatureNet("inception", module, INCEPTION_OUTPUTS, f"inception-v3/{identity}").to(device)


def vgg16(
    weights_dir: str | os.PathLike | None = None,
    random_init: bool = False,
    device: str | torch.device = "cpu",
) -> FeatureNet:
    """VGG16: 'fc2' (4096, after ReLU), the precision/recall features."""
    import torchvision
    from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16 as Net

    with _no_load(torchvision.models.VGG) as empty:
        module = Net("vgg16", [v[0] for v in VGG16_OUTPUTS.values()], empty)
    identity = _random_identity(module) if random_init else _load_into(module.model, VGG16, weights_dir)
    module.requires_grad_(False).eval()
    return FeatureNet("vgg16", module, VGG16_OUTPUTS, f"vgg16/{identity}").to(device)


def weights_needed(detectors: set[str]) -> list[PretrainedFile]:
    """The files a set of detectors ('inception', 'vgg16', 'lpips') needs, for up-front checks."""
    files = []
    if "inception" in detectors:
        files.append(INCEPTION)
    if {"vgg16", "lpips"} & detectors:
        files.append(VGG16)
    return files


def lpips_vgg(
    weights_dir: str | os.PathLike | None = None,
    random_init: bool = False,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """LPIPS v0.1 with the VGG16 backbone (the lpips wheel's calibrated heads, torchvision's VGG16 from the
    same file as precision/recall), frozen in eval mode: model(x, y) on [-1, 1] images -> [N, 1, 1, 1]."""
    import lpips

    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.simplefilter("ignore")
        model = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False)  # architecture only, no download
    if not random_init:
        path = resolve_weights(VGG16, weights_dir)
        sd = load_state_dict(path, VGG16)
        # lpips keeps torchvision's layer index in each slice: slice2.5.weight is features.5.weight.
        names = {k: "features." + k.split(".", 1)[1] for k in model.net.state_dict()}
        expected = {names[k]: v for k, v in model.net.state_dict().items()}
        check_state_dict(sd, expected, path, VGG16)
        model.net.load_state_dict({k: sd[names[k]] for k in names}, strict=True)
    return model.to(device).eval().requires_grad_(False)
