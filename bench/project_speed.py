"""How long does one projection step take? ms per step (synthesis forward + backward [+ LPIPS] + Adam).

A step as the official projector takes it: W (one w broadcast to all layers) and the per-layer noise maps
are leaves; the synthesised image is scored against a fixed target, gradients flow back to w and the noise
maps, and Adam updates them. Two losses:
- `synth`: mean squared error to the target image: the synthesis forward+backward alone (the official
  46 ms figure is this, at 1024 px, batch 1);
- `lpips`: area-downsampled to 256 px and scored by `lpips.LPIPS(net='vgg', pnet_rand=True)` (random VGG
  backbone: the cost is right, the distances are not perceptual) against precomputed target features, as
  the official projector does; only if `lpips` is importable, else the row says so.
Seconds for a 1000-step projection = 1000 x the median step time (per image: divided by the batch).

    python bench/project_speed.py                         # 1024 px batch 1 and 256 px batch 8
    python bench/project_speed.py --cases 1024x1 --losses synth --settings eager-bf16,compiled-bf16
    python bench/project_speed.py --smoke                 # tiny config on CPU, trace-only compile, seconds
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402

from core.fastpath import FastGenerator, SynthesisStep  # noqa: E402

COLUMNS = [
    "setting",
    "precision",
    "compile",
    "cuda graphs",
    "res",
    "batch",
    "loss",
    "warm-up s",
    "ms/step",
    "s/1000 steps",
    "s/img (1000 steps)",
    "peak MB",
    "grad cos vs fp32",
]
LPIPS_RES = 256
SMOKE_SETTINGS = "eager-fp32,eager-bf16,compiled-bf16-graphs"
STEPS = 1000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="1024x1,256x8", help="comma list of RESxBATCH")
    p.add_argument("--losses", default="synth,lpips", help="synth and/or lpips")
    common.add_common_args(p)
    args = p.parse_args(argv)
    if args.smoke:
        args.device, args.cbase, args.cmax, args.fp16_res, args.cases = "cpu", 256, 32, 2, "16x2"
        args.reps, args.min_time, args.warmup = 3, 0.0, 1
        args.compile_backend, args.cpu_reduced, args.threads = "eager", True, 1
        if args.settings == common.DEFAULT_SETTINGS:  # one traced setting keeps the smoke run short
            args.settings = SMOKE_SETTINGS
    return args


class LpipsScore:
    """LPIPS (VGG, random backbone) against target features computed once, as the official projector does."""

    def __init__(self, target: torch.Tensor, device: torch.device) -> None:
        import lpips

        with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
            warnings.simplefilter("ignore")
            self.model = lpips.LPIPS(net="vgg", pnet_rand=True, verbose=False).to(device).eval()
        self.model.requires_grad_(False)
        self.normalize = lpips.normalize_tensor
        with torch.no_grad():
            self.target = self.features(target)

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        if img.shape[-1] > LPIPS_RES:
            img = F.interpolate(img, size=(LPIPS_RES, LPIPS_RES), mode="area")
        return [self.normalize(f) for f in self.model.net(self.model.scaling_layer(img))]

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        total = 0
        for k, (a, b) in enumerate(zip(self.features(img), self.target, strict=True)):
            total = total + self.model.lins[k]((a - b).square()).mean(dim=(2, 3))
        return total.sum()


def lpips_available() -> bool:
    try:
        import lpips  # noqa: F401
    except ImportError:
        return False
    return True


def make_loss(kind: str, target: torch.Tensor, device: torch.device) -> tuple[Callable, str]:
    if kind == "synth":
        return (lambda img: (img - target).square().mean()), "synth (MSE)"
    return LpipsScore(target, device), f"synth + LPIPS-vgg(rand) @{min(LPIPS_RES, target.shape[-1])}"


def run(args: argparse.Namespace) -> int:
    device = common.pick_device(args.device)
    common.apply_threads(args)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    small = args.smoke
    cases = [tuple(int(v) for v in c.split("x")) for c in common.parse_list(args.cases)]
    losses = common.parse_list(args.losses)
    settings = common.parse_list(args.settings)
    for name in settings:
        common.setting_kwargs(name, args, device)
    have_lpips = lpips_available()

    print(f"## projection step speed{' (--smoke)' if small else ''}\n")
    res_label = "/".join(str(r) for r in sorted({r for r, _ in cases}, reverse=True))
    print(
        "\n".join(
            common.env_lines(device, common.config_label(res_label, args.cbase, args.cmax, args.fp16_res))
        )
    )
    print(
        f"- step = synthesis fwd+bwd (w in W space, noise maps optimised) + loss + Adam; noise const;"
        f" s/1000 steps = {STEPS} x median step; LPIPS: {'lpips package' if have_lpips else 'NOT importable'}"
    )
    print(common.tf32_note(device))
    print("- grad cos: cosine similarity of the w gradient with the fp32 eager step's\n")
    rows, failures, start = common.StreamedTable(COLUMNS), 0, time.perf_counter()
    for res, batch in cases:
        G = common.make_generator(
            res,
            args.cbase,
            args.cmax,
            device,
            seed=args.seed,
            z_dim=32 if small else 512,
            w_dim=32 if small else 512,
            map_layers=2 if small else 8,
            num_fp16_res=args.fp16_res,
        )
        torch.manual_seed(args.seed + 1)
        with torch.no_grad():
            w0 = G.mapping(torch.randn(batch, G.z_dim, device=device), None)[:, :1].clone()
        target = torch.rand(batch, G.img_channels, res, res, device=device) * 2 - 1
        for kind in losses:
            if kind == "lpips" and not have_lpips:
                rows.append(["-", "-", "-", "-", res, batch, "lpips: not importable, skipped"] + ["-"] * 6)
                continue
            loss_fn, label = make_loss(kind, target, device)
            with common.strict_fp32():
                ref_grad = step_grad(SynthesisStep(FastGenerator(G), loss_fn), w0, G)
            for name in settings:
                if args.budget_s and time.perf_counter() - start > args.budget_s:
                    rows.append([name, "-", "-", "-", res, batch, label, "skipped (time budget)"] + ["-"] * 5)
                    continue
                kw = common.setting_kwargs(name, args, device)
                try:
                    rows.append(measure_row(G, name, kw, w0, loss_fn, label, ref_grad, device, args))
                except Exception as e:  # keep the other rows' numbers
                    failures += 1
                    traceback.print_exc(file=sys.stderr)
                    err = f"error: {type(e).__name__}: {str(e)[:80]}"
                    rows.append([name, "-", "-", "-", res, batch, label, err] + ["-"] * 5)
                common.release()
        del G
        common.release()
    return 1 if failures else 0


def noise_leaves(G: torch.nn.Module, batch: int) -> list[torch.Tensor]:
    """Per-layer noise maps as optimisable leaves, starting from the generator's constant noise."""
    maps = [layer.noise_const.detach().expand(batch, 1, -1, -1) for layer in G.synthesis.noise_layers()]
    return [m.clone().requires_grad_(True) for m in maps]


def step_grad(step: SynthesisStep, w0: torch.Tensor, G: torch.nn.Module) -> torch.Tensor:
    """The w gradient of one step from w0 (agreement check), leaving no state behind."""
    w = w0.clone().requires_grad_(True)
    step(w, noise_leaves(G, w0.shape[0]))
    return w.grad.detach().clone()


def measure_row(
    G: torch.nn.Module,
    name: str,
    kw: dict,
    w0: torch.Tensor,
    loss_fn: Callable,
    label: str,
    ref_grad: torch.Tensor,
    device: torch.device,
    args: argparse.Namespace,
) -> list:
    common.reset_peak(device)
    step = SynthesisStep(FastGenerator(G, **kw), loss_fn)
    t0 = time.perf_counter()
    grad = step_grad(step, w0, G)
    common.sync(device)
    warm = time.perf_counter() - t0
    cos = F.cosine_similarity(grad.flatten().double(), ref_grad.flatten().double(), dim=0).item()

    w = w0.clone().requires_grad_(True)
    noise = noise_leaves(G, w0.shape[0])
    opt = torch.optim.Adam([w, *noise], lr=0.1, betas=(0.9, 0.999))

    def one_step() -> None:
        opt.zero_grad(set_to_none=True)
        step(w, noise)
        opt.step()

    timing = common.time_calls(one_step, device, args.reps, args.min_time, args.warmup)
    eff = step.effective
    b = w0.shape[0]
    ms = timing.median_ms
    return [
        name,
        eff["precision"],
        eff["compile"],
        eff["cuda_graphs"],
        G.img_resolution,
        b,
        label,
        f"{warm:.1f}",
        f"{ms:.2f}",
        f"{ms * STEPS / 1000:.1f}",
        f"{ms * STEPS / 1000 / b:.1f}",
        common.peak_mb(device),
        f"{cos:.5f}",
    ]


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
