"""How well does the projector recover images the model itself generated? W / W+ x noise on / off, on CPU.

No trained model can be downloaded here, so by default the model is a small randomly initialised StyleGAN2
with two adjustments that make it behave like a trained one where projection is concerned: noise strengths
of 0.05 (re-drawing the noise then changes an image by about as much as in trained models, ~27 dB) and ToRGB
weights scaled by 0.3 (images mostly inside [-1,1] instead of std 2). ``--model PATH`` uses a real file.
Targets are rendered from known w with fresh random noise (which the projector never sees) and go through
uint8 like a PNG. LPIPS here uses a RANDOM VGG16 backbone (the ImageNet weights are not available offline):
it is a consistent distance, not a perceptual one. PSNR is on the uint8 images.

Run: python bench/project_quality.py [--res 32] [--steps 1000] [--images 4] [--loss mse] [--speed]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from projector.lpips_loss import PerceptualLoss  # noqa: E402
from projector.metrics import psnr  # noqa: E402
from projector.project import ProjectConfig, compute_w_stats, project, render_projection  # noqa: E402
from projector.synthetic import as_png, generated_targets, trained_like_generator  # noqa: E402


def quality_table(G: torch.nn.Module, args: argparse.Namespace, perceptual: PerceptualLoss) -> None:
    ws, target = generated_targets(G, args.images, args.seed, noise_seed=args.seed + 1000)
    stats = compute_w_stats(G)
    with torch.no_grad():
        ceiling = psnr(as_png(G.synthesis(ws, noise_mode="const")), target)
    print(
        f"model {G.img_resolution} px, {sum(p.numel() for p in G.parameters()):,} params, num_ws {G.num_ws}; "
        f"{args.images} targets, {args.steps} steps, loss {args.loss}, "
        f"{torch.get_num_threads()} CPU thread(s)"
    )
    print(
        f"reference: true w with the model's const noise instead of the target's noise: "
        f"PSNR {ceiling.mean():.2f} dB"
    )
    print(
        f"{'space':6} {'noise':6} {'PSNR dB (mean)':>15} {'PSNR min':>9} {'LPIPS(rand)':>12} "
        f"{'|w-w_true|':>11} "
        f"{'s/img':>7}"
    )
    for space in ("w", "w+"):
        for noise in (False, True):
            cfg = ProjectConfig(
                space=space,
                steps=args.steps,
                loss=args.loss,
                optimize_noise=noise,
                noise_reg_weight=args.noise_reg,
                seed=args.seed,
            )
            t0 = time.perf_counter()
            proj = project(G, target, cfg, perceptual if "lpips" in args.loss else None, stats)
            sec = (time.perf_counter() - t0) / args.images
            img = render_projection(G, proj.w, proj.noise)
            p = psnr(as_png(img), target)
            with torch.no_grad():
                lp = perceptual(img, target)
            werr = (proj.w - ws).norm(dim=2).mean()
            print(
                f"{space:6} {'opt' if noise else 'const':6} {p.mean():15.2f} {p.min():9.2f} "
                f"{lp.mean():12.4f} "
                f"{werr:11.3f} {sec:7.1f}",
                flush=True,
            )


def speed(args: argparse.Namespace, perceptual: PerceptualLoss) -> None:
    """Seconds per image for 1000 steps (W+, noise, LPIPS), timed over ``--speed-steps`` steps and scaled."""
    print(
        f"\nCPU speed, {torch.get_num_threads()} thread(s), W+ with noise, loss lpips (random VGG16), "
        "batch 1; "
        f"timed over {args.speed_steps} steps, scaled to 1000:"
    )
    for res in (32, 64, 128, 256):
        G = trained_like_generator(res, width=64)
        _, target = generated_targets(G, 1, 0, noise_seed=1000)
        stats = compute_w_stats(G)
        cfg = ProjectConfig(space="w+", steps=args.speed_steps, loss="lpips")
        project(G, target, ProjectConfig(space="w+", steps=2, loss="lpips"), perceptual, stats)  # warm-up
        t0 = time.perf_counter()
        project(G, target, cfg, perceptual, stats)
        sec = (time.perf_counter() - t0) / args.speed_steps * 1000
        print(
            f"  {res:4d} px ({sum(p.numel() for p in G.parameters()):,} params): {sec:7.1f} s per image",
            flush=True,
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--res", type=int, default=32)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--loss", default="lpips", choices=["lpips", "mse", "lpips+mse"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--noise-reg", type=float, default=1e5, help="noise regularisation weight (official 1e5)")
    ap.add_argument("--model", type=Path, default=None, help="a real model file instead of the random one")
    ap.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (1 is steadier on a busy machine)"
    )
    ap.add_argument("--speed", action="store_true", help="also time 1000-step projections at 32-256 px")
    ap.add_argument("--speed-steps", type=int, default=50)
    ap.add_argument("--no-table", action="store_true", help="skip the quality table")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    perceptual = PerceptualLoss(net="vgg", random_backbone=True)
    if not args.no_table:
        if args.model is not None:
            from core.checkpoint import load_generator

            G = load_generator(args.model).eval().requires_grad_(False)
        else:
            G = trained_like_generator(args.res, width=64)
        quality_table(G, args, perceptual)
    if args.speed:
        speed(args, perceptual)


if __name__ == "__main__":
    main()
