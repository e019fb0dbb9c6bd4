"""How well does projection invert REAL images the model never saw? Both schedules, one run, same images.

Rows: W (noise optimised, the official setting), W+ (the model's const noise), W+ with noise, and PTI
(pivotal tuning of the generator around the W projection, 350 steps, L2 + LPIPS when available), each with
``--schedule official`` at N steps and the default ``fast`` schedule at N/2 (``--steps 100,300,1000``).
Columns: PSNR and SSIM on the uint8 images, LPIPS (VGG16) only when its ImageNet weights are on this machine
(they are not downloadable here), seconds per image, and the steps the fast schedule actually ran.

Data:
- ``--data fashion-mnist`` (CPU): the Fashion-MNIST *test* split (t10k idx files of the Debian package
  ``dataset-fashion-mnist``), padded to 32 px like the bundled training sample, which is drawn from the
  training split only (checked: no test image equals a bundled one); the first ``--images`` test images
  taken class by class. Model: a run of the quick start (``sg train --cond``).
- ``--data utkface`` (GPU): ``../shared/data/utkface-64.zip``; the last ``--heldout`` (500) faces by name are
  held out and projected; ``--export-train DIR`` writes the other faces to DIR to train the model on
  (``sg train DIR --cfg auto``), so the projected faces were never seen.

Run: python bench/project_real.py --model RUN_DIR [--images 50] [--steps 100,300,1000] [--tune-images 10]
"""

from __future__ import annotations

import argparse
import gzip
import math
import struct
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import UTKFACE_ZIP, StreamedTable, device_name, pick_device  # noqa: E402
from core.errors import SGError  # noqa: E402
from projector.metrics import psnr  # noqa: E402
from projector.optimize import ProjectConfig, compute_w_stats, project, render_projection  # noqa: E402
from projector.preprocess import uint8_to_tensor  # noqa: E402
from projector.schedule import FastSchedule, project_fast  # noqa: E402
from projector.synthetic import as_png  # noqa: E402
from projector.tune import TuneConfig, tune_generator  # noqa: E402

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
METHODS = ("W", "W+", "W+ noise", "PTI")


# ------------------------------------------------------------------------------------------ data


def _read_idx(path: Path) -> np.ndarray:
    """An unsigned-byte idx file, gzipped: magic, dims, then the data."""
    raw = gzip.open(path).read()
    _, code, ndim = struct.unpack(">HBB", raw[:4])
    if code != 0x08:
        raise SGError(f"{path}: not an unsigned-byte idx file")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist_test(count: int, root: Path = FASHION_DIR) -> tuple[np.ndarray, str]:
    """uint8 [count,32,32,1] held-out test images, round-robin over the classes, padded like the bundled
    training sample; raises if any of them equals a bundled training image."""
    from core.data.bundled import BUNDLED_NPZ

    files = root / "t10k-images-idx3-ubyte.gz", root / "t10k-labels-idx1-ubyte.gz"
    if not all(f.is_file() for f in files):
        raise SGError(f"Fashion-MNIST test split not found in {root} (apt-get install dataset-fashion-mnist)")
    images, labels = _read_idx(files[0]), _read_idx(files[1])
    per_class = [np.flatnonzero(labels == c) for c in range(10)]
    order = [int(per_class[c][i]) for i in range(len(images)) for c in range(10) if i < len(per_class[c])]
    picked = images[order[:count]]
    with np.load(BUNDLED_NPZ) as z:
        seen = {a.tobytes() for a in z["images"]}
    if any(a.tobytes() in seen for a in picked):
        raise SGError("a held-out test image is also in the bundled training sample")
    padded = np.pad(picked, ((0, 0), (2, 2), (2, 2)))[..., None]
    return padded, f"Fashion-MNIST t10k, first {count} round-robin over classes, none in the bundled 4k"


def utkface_split(zip_path: Path, heldout: int) -> tuple[list[str], list[str]]:
    """(training names, held-out names): the last ``heldout`` images by name are held out."""
    with zipfile.ZipFile(zip_path) as zf:
        names = sorted(n for n in zf.namelist() if n.lower().endswith((".jpg", ".png")))
    if len(names) <= heldout:
        raise SGError(f"{zip_path} has {len(names)} images, not more than --heldout {heldout}")
    return names[:-heldout], names[-heldout:]


def utkface_heldout(zip_path: Path, heldout: int, count: int) -> tuple[np.ndarray, str]:
    """uint8 [count,64,64,3]: the first ``count`` of the held-out faces."""
    from PIL import Image

    _, held = utkface_split(zip_path, heldout)
    with zipfile.ZipFile(zip_path) as zf:
        arrs = [np.asarray(Image.open(zf.open(n)).convert("RGB")) for n in held[:count]]
    return np.stack(arrs), f"UTKFace 64 px, {count} of the last {heldout} faces by name (held out)"


def export_utkface_train(zip_path: Path, heldout: int, out: Path) -> None:
    """Write the training faces (all but the held-out ones) to ``out`` for ``sg train``."""
    train, _ = utkface_split(zip_path, heldout)
    out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        for n in train:
            (out / Path(n).name).write_bytes(zf.read(n))
    print(f"wrote {len(train)} training faces to {out} (held out: the last {heldout})")


# ------------------------------------------------------------------------------------------ scores


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM [N] (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, valid
    region only) on [-1,1] images mapped to [0,255], averaged over channels."""
    x, y = ((t.double() + 1) * 127.5 for t in (a, b))
    c = x.shape[1]
    win = _gaussian_window().to(x.device).expand(c, 1, -1, -1)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, win, groups=c)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2))
    return s.flatten(1).mean(dim=1).float()


def load_lpips(device: torch.device) -> torch.nn.Module | None:
    """The real VGG16 LPIPS when its ImageNet weights are on this machine; None otherwise (no download)."""
    from projector.lpips_loss import PerceptualLoss, backbone_weights_path

    try:
        weights = backbone_weights_path("vgg", None, download=False)
    except SGError:
        return None
    return PerceptualLoss(net="vgg", weights=weights, device=device)


@dataclass
class Scores:
    psnr: float
    ssim: float
    lpips: float | None


def score(img: torch.Tensor, target: torch.Tensor, lpips: torch.nn.Module | None) -> Scores:
    """Means over the images; PSNR and SSIM of the uint8-quantised render (what a saved PNG holds)."""
    shown = as_png(img.cpu())
    lp = None
    if lpips is not None:
        with torch.no_grad():
            dev = next(lpips.parameters()).device
            lp = float(lpips(img.to(dev), target.to(dev)).mean())
    return Scores(float(psnr(shown, target).mean()), float(ssim(shown, target).mean()), lp)


# ------------------------------------------------------------------------------------------ runs


def run_projection(G, target, cfg, schedule, stats, lpips, batch):
    """Project ``target`` in batches; returns (w, noise, seconds per image, mean steps run)."""
    ws, noises, steps_run = [], [], []
    t0 = time.perf_counter()
    for chunk in target.split(batch):
        if schedule == "official":
            proj = project(G, chunk, cfg, None, stats)
            steps_run.append(cfg.steps)
        else:
            proj = project_fast(G, chunk, cfg, FastSchedule(), None, stats)
            steps_run.append(proj.steps_run)
        ws.append(proj.w)
        noises.append(proj.noise)
    seconds = (time.perf_counter() - t0) / target.shape[0]
    noise = [torch.cat(maps) for maps in zip(*noises, strict=True)]
    return torch.cat(ws), noise, seconds, sum(steps_run) / len(steps_run)


def run_tune(G, w, noise, target, tune_steps, lpips):
    """PTI per image around its W projection; returns the tuned renders and seconds per image."""
    out = []
    t0 = time.perf_counter()
    for i in range(target.shape[0]):
        wi, ni = w[i : i + 1], [m[i : i + 1] for m in noise]
        G_t = tune_generator(G, wi, ni, target[i : i + 1], TuneConfig(steps=tune_steps), lpips)
        out.append(render_projection(G_t, wi, ni))
    return torch.cat(out), (time.perf_counter() - t0) / target.shape[0]


def fmt(x: float | None, digits: int) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, help="model file or training run folder")
    ap.add_argument("--data", choices=("fashion-mnist", "utkface"), default="fashion-mnist")
    ap.add_argument("--images", type=int, default=50, help="held-out images to project")
    ap.add_argument("--heldout", type=int, default=500, help="utkface: faces held out of training")
    ap.add_argument("--export-train", type=Path, default=None, help="utkface: write the training faces here")
    ap.add_argument("--steps", default="100,300,1000", help="official step counts; fast runs half of each")
    ap.add_argument("--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}")
    ap.add_argument("--tune-images", type=int, default=10, help="PTI on the first this many images")
    ap.add_argument("--tune-steps", type=int, default=350, help="PTI steps (the paper's 350)")
    ap.add_argument("--loss", default="mse", choices=("mse", "lpips", "lpips+mse"))
    ap.add_argument("--batch", type=int, default=50, help="images optimised together")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    if args.data == "utkface" and args.export_train is not None:
        export_utkface_train(UTKFACE_ZIP, args.heldout, args.export_train)
        return
    if args.model is None:
        raise SystemExit("--model is required")
    device = pick_device(args.device)
    from core.checkpoint import load_generator

    G = load_generator(args.model, device).eval().requires_grad_(False)
    if args.data == "fashion-mnist":
        arrays, source = fashion_mnist_test(args.images)
    else:
        arrays, source = utkface_heldout(UTKFACE_ZIP, args.heldout, args.images)
    target = torch.stack([uint8_to_tensor(a) for a in arrays]).to(device)
    if tuple(target.shape[1:]) != (G.img_channels, G.img_resolution, G.img_resolution):
        raise SystemExit(f"model is {G.img_resolution} px x{G.img_channels}; data is {list(target.shape)}")
    lpips = load_lpips(device)
    if "lpips" in args.loss and lpips is None:
        raise SystemExit("--loss lpips needs the VGG16 weights (not on this machine)")
    stats = compute_w_stats(G)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    print(
        f"- date: {time.strftime('%Y-%m-%d %H:%M')}, device: {device_name(device)}, "
        f"{torch.get_num_threads()} thread(s)"
    )
    print(f"- model: {args.model} ({G.img_resolution} px, w {G.w_dim}, num_ws {G.num_ws}, c_dim {G.c_dim})")
    print(f"- images: {source}; loss {args.loss}; batch {args.batch}")
    print(f"- LPIPS: {'VGG16 (ImageNet weights)' if lpips is not None else 'n/a: VGG16 weights not present'}")
    print(f"- PTI: first {args.tune_images} images, {args.tune_steps} steps, pivot = the W projection above")
    table = StreamedTable(["method", "schedule", "steps", "steps run", "PSNR dB", "SSIM", "LPIPS", "s/img"])
    for n_steps in (int(s) for s in args.steps.split(",")):
        for schedule, steps in (("official", n_steps), ("fast", max(1, n_steps // 2))):
            pivot = None
            for method in methods:
                if method == "PTI":
                    continue
                space = "w" if method == "W" else "w+"
                cfg = ProjectConfig(
                    space=space, steps=steps, loss=args.loss, optimize_noise=method != "W+", seed=args.seed
                )
                w, noise, sec, ran = run_projection(G, target, cfg, schedule, stats, lpips, args.batch)
                if method == "W":
                    pivot = (w, noise, sec)
                s = score(render_projection(G, w, noise), target.cpu(), lpips)
                table.append(
                    [
                        method,
                        schedule,
                        steps,
                        f"{ran:.0f}",
                        fmt(s.psnr, 2),
                        fmt(s.ssim, 3),
                        fmt(s.lpips, 3),
                        fmt(sec, 2),
                    ]
                )
            if "PTI" in methods and args.tune_images > 0:
                k = min(args.tune_images, target.shape[0])
                if pivot is None:  # no W row: project just the images to tune
                    cfg = ProjectConfig(space="w", steps=steps, loss=args.loss, seed=args.seed)
                    w, noise, sec, _ = run_projection(G, target[:k], cfg, schedule, stats, lpips, args.batch)
                    pivot = (w, noise, sec)
                w, noise, sec = pivot
                before = score(render_projection(G, w[:k], [m[:k] for m in noise]), target[:k].cpu(), lpips)
                img, tsec = run_tune(G, w[:k], [m[:k] for m in noise], target[:k], args.tune_steps, lpips)
                s = score(img, target[:k].cpu(), lpips)
                table.append(
                    [
                        f"PTI ({k} img; W pivot {before.psnr:.2f} dB)",
                        schedule,
                        steps,
                        "",
                        fmt(s.psnr, 2),
                        fmt(s.ssim, 3),
                        fmt(s.lpips, 3),
                        fmt(sec + tsec, 2),
                    ]
                )


if __name__ == "__main__":
    main()
