"""PSNR against steps at 128 and 256 px on generated targets: the official schedule against the default one.

The model is the one of issue 13: a StyleGAN2 at ``--res`` px with channel base 16384, channel max 256,
4 mapping layers, z/w 512, every weight perturbed from its initialisation by Gaussian noise of std
``--perturb`` (0.1; this also makes the noise strengths and biases non-zero). Targets are images the model
generated itself (psi 0.7, const noise, through uint8 like a PNG), so W+ with the model's own noise maps
could reproduce them exactly; the projector starts from random noise maps, as on real photos. Loss MSE.

For each space and each official step count N, the official schedule runs N steps and the default (fast)
one N/2, on the same targets; the curve columns are the PSNR of each run's own images at fractions of its
steps (during a run, so the official ones include its w jitter), the last column that of the result.

Run: python bench/project_convergence.py --res 128 --spaces w,w+ --steps 100,300 [--images 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import StreamedTable, device_name, pick_device  # noqa: E402
from core.networks import GeneratorConfig, build_generator  # noqa: E402
from projector.metrics import psnr  # noqa: E402
from projector.optimize import ProjectConfig, compute_w_stats, project, render_projection  # noqa: E402
from projector.schedule import FastSchedule, project_fast  # noqa: E402
from projector.synthetic import as_png  # noqa: E402

CURVE_POINTS = (0.2, 0.4, 0.6, 0.8)


def perturbed_generator(res: int, perturb: float = 0.1, seed: int = 0) -> torch.nn.Module:
    """Issue 13's model: channel base 16384, max 256, 4 mapping layers, weights = init + N(0, perturb^2)."""
    torch.manual_seed(seed)
    cfg = GeneratorConfig(
        img_resolution=res, channel_base=16384, channel_max=256, map_layers=4, num_fp16_res=0
    )
    G = build_generator(cfg).eval().requires_grad_(False)
    with torch.no_grad():
        for p in G.parameters():
            p.add_(torch.randn_like(p) * perturb)
        z = torch.from_numpy(np.random.RandomState(1).randn(4096, G.z_dim).astype(np.float32))
        G.mapping.w_avg.copy_(G.mapping(z, None)[:, 0].mean(0))  # what training's running mean would hold
    return G


@torch.no_grad()
def psi_targets(
    G: torch.nn.Module, n: int, seed: int = 100, psi: float = 0.7
) -> tuple[torch.Tensor, torch.Tensor]:
    """(ws, targets): n images of seeded z at truncation ``psi`` with the model's const noise, as PNGs."""
    z = torch.from_numpy(np.random.RandomState(seed).randn(n, G.z_dim).astype(np.float32))
    ws = G.mapping(z.to(G.mapping.w_avg.device), None, truncation_psi=psi)
    return ws, as_png(G.synthesis(ws, noise_mode="const").cpu())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--res", type=int, default=128)
    ap.add_argument("--spaces", default="w,w+")
    ap.add_argument("--steps", default="100,300", help="official step counts; the default schedule runs half")
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--perturb", type=float, default=0.1)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    device = pick_device(args.device)
    G = perturbed_generator(args.res, args.perturb).to(device)
    ws, target = psi_targets(G, args.images)
    stats = compute_w_stats(G)
    with torch.no_grad():
        torch.manual_seed(5)
        other = as_png(G.synthesis(ws, noise_mode="random").cpu())
        none = as_png(G.synthesis(ws, noise_mode="none").cpu())
    clipped = float((target.abs() >= 1).float().mean())
    print(
        f"- date: {time.strftime('%Y-%m-%d %H:%M')}, device: {device_name(device)}, "
        f"{torch.get_num_threads()} thread(s)"
    )
    print(
        f"- model: {args.res} px, channel base 16384, max 256, 4 mapping layers, w 512, num_ws {G.num_ws}, "
        f"weights = init + N(0, {args.perturb}^2); {args.images} target(s) psi 0.7, const noise, loss mse"
    )
    print(
        f"- targets: {100 * clipped:.0f}% of pixels saturated (0 or 255); the true w with other random noise "
        f"maps: {float(psnr(other, target).mean()):.2f} dB, "
        f"with no noise: {float(psnr(none, target).mean()):.2f} dB"
    )
    print(
        f"- w spread: w_std {stats.w_std:.2f} (RMS length), {stats.w_std / G.w_dim**0.5:.3f} per coordinate; "
        f"official jitter at step 0: {0.05 * stats.w_std:.2f} per coordinate"
    )
    cols = ["space", "schedule", "steps", "steps run"]
    cols += [f"PSNR @{int(100 * f)}%" for f in CURVE_POINTS] + ["PSNR result dB", "s/img"]
    table = StreamedTable(cols)
    for space in args.spaces.split(","):
        for n_steps in (int(s) for s in args.steps.split(",")):
            for schedule, steps in (("official", n_steps), ("fast", max(1, n_steps // 2))):
                marks = {max(1, round(f * steps)): f for f in CURVE_POINTS}
                curve: dict[float, float] = {}

                def on_step(
                    step: int, img: torch.Tensor, loss: torch.Tensor, marks=marks, curve=curve
                ) -> None:
                    if step + 1 in marks and img.shape[0] == target.shape[0]:
                        curve[marks[step + 1]] = float(psnr(as_png(img.cpu()), target).mean())

                cfg = ProjectConfig(space=space, steps=steps, loss="mse")
                t0 = time.perf_counter()
                if schedule == "official":
                    proj, ran = project(G, target.to(device), cfg, None, stats, on_step), steps
                else:
                    proj = project_fast(G, target.to(device), cfg, FastSchedule(), None, stats, on_step)
                    ran = proj.steps_run
                sec = (time.perf_counter() - t0) / args.images
                p = float(psnr(as_png(render_projection(G, proj.w, proj.noise)), target).mean())
                points = [f"{curve[f]:.2f}" if f in curve else "-" for f in CURVE_POINTS]
                table.append([space, schedule, steps, ran, *points, f"{p:.2f}", f"{sec:.1f}"])


if __name__ == "__main__":
    main()
