"""Where the metrics' pretrained networks come from: one rule for every file, checked before any work.

For each file: ``--weights-dir DIR`` (the file under its own name), else the torch hub cache
(``torch.hub.get_dir()/checkpoints``, where torchvision and torch-fidelity download to; TORCH_HOME moves it),
else a download into that cache when online (not with ``SG_OFFLINE=1``), else one line saying which file goes
where. Files are read with ``torch.load(weights_only=True)``: never a full unpickle of a downloaded file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from core.errors import SGError

OFFLINE_ENV = "SG_OFFLINE"


@dataclass(frozen=True)
class PretrainedFile:
    """One pretrained file: its name on disk, where it is published, and what it is for (for messages)."""

    filename: str
    url: str
    what: str


# torch-fidelity's port of the TF Inception graph of 2015-12-05 that the official FID/KID/IS use.
INCEPTION = PretrainedFile(
    "weights-inception-2015-12-05-6726825d.pth",
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
    "Inception-v3 (FID, KID, IS)",
)
# torchvision's ImageNet VGG16: precision/recall features, the backbone of PPL's LPIPS and the projector's.
VGG16 = PretrainedFile(
    "vgg16-397923af.pth",
    "https://download.pytorch.org/models/vgg16-397923af.pth",
    "VGG16 (precision/recall, PPL's LPIPS)",
)


def hub_checkpoint_path(filename: str) -> Path:
    """The standard cache: ``torch.hub.get_dir()/checkpoints/<file>`` (honours TORCH_HOME)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / filename


def download(url: str, dest: Path) -> None:
    """torch.hub's downloader into the cache (it writes a temp file and renames: no partial file remains)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(url, str(dest), progress=sys.stderr.isatty())


def weights_path(
    file: PretrainedFile,
    weights_dir: str | os.PathLike[str] | None = None,
    allow_download: bool = True,
    downloader: Callable[[str, Path], None] | None = None,
    hint: str = ", or in a folder given with --weights-dir DIR",
) -> Path:
    """Resolve `file` by the rule above; a missing file is one SGError line naming it and where it goes
    (`hint`: the command's own way to give the file). `downloader(url, dest)` defaults to `download`."""
    if weights_dir is not None:
        d = Path(weights_dir).expanduser()
        if not d.is_dir():
            raise SGError(f"--weights-dir {d} is not a folder")
        if (d / file.filename).is_file():
            return d / file.filename
    cached = hub_checkpoint_path(file.filename)
    if cached.is_file():
        return cached
    why = "offline mode, SG_OFFLINE=1" if os.environ.get(OFFLINE_ENV) == "1" else ""
    if allow_download and not why:
        print(f"downloading {file.what} weights {file.url} -> {cached}", file=sys.stderr)
        try:
            (downloader or download)(file.url, cached)
            return cached
        except Exception as e:  # no network, a proxy, a full disk: all end in the same instructions
            why = f"download failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
    where = f"{Path(weights_dir).expanduser() / file.filename} or {cached}" if weights_dir else str(cached)
    raise SGError(
        f"{file.what} weights {file.filename} not found"
        + (f" ({why})" if why else "")
        + f": put {file.url} at {where}"
        + ("" if weights_dir else hint)
    )


def load_state_dict(path: Path, file: PretrainedFile) -> dict[str, torch.Tensor]:
    """A state dict of tensors read safely (weights_only); anything else is a one-line error."""
    try:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # legacy (non-zip) checkpoints cannot be memory-mapped
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # zip/pickle/unpickler errors come in many types; all mean "not usable"
        raise SGError(f"cannot read {file.what} weights {path}: {type(e).__name__}: {e}") from e
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise SGError(
            f"{file.what} weights {path} are not a state dict of tensors (expected {file.filename})"
        )
    return sd


def check_state_dict(
    sd: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], path: Path, file: PretrainedFile
) -> None:
    """Every tensor the network needs is there with its shape; else one line naming the first mismatch."""
    for name, ref in expected.items():
        if name not in sd:
            raise SGError(f"{file.what} weights {path} lack '{name}': not {file.filename}")
        if tuple(sd[name].shape) != tuple(ref.shape):
            raise SGError(
                f"{file.what} weights {path}: '{name}' has shape {list(sd[name].shape)}, "
                f"expected {list(ref.shape)} (not {file.filename}?)"
            )
