"""How long does one projection step take, as `sg project` runs it? ms per step of `projector.project`.

Each row runs `project()` (the optimisation `sg project` runs: synthesis of w + jitter with the noise maps,
the distance to a fixed target, the noise penalty, gradients into w and the noise maps, Adam, the noise
renormalisation) with one fast-path setting, and times its steps after a warm-up (which includes any
compile): ms/step = wall time of the timed steps / their number, the device synchronised at both ends.
Row `sg-project` is what `sg project` picks on this device (`projector.step.default_fast_path`). Both
schedules of `sg project` (`--schedule fast`, the default, and `official`) step with the same
`ProjectionStep` and Adam; the fast schedule only adds a probe of several starts at the beginning and an
early stop, so its per-step cost at a given batch is this table's. Losses:
- `synth`: mean squared error to the target image: the synthesis forward+backward alone (the official
  46 ms figure is this, at 1024 px, batch 1);
- `lpips`: the projector's `PerceptualLoss` (VGG16 LPIPS at 256 px, random backbone: the cost is right,
  the distances are not perceptual) against target features computed once, as `sg project` does.
grad cos: cosine of the first step's w gradient (`ProjectionStep`, the class `project()` steps with) with
the fp32 eager step's. Seconds for a 1000-step projection = 1000 x ms/step (per image: / batch).

    python bench/project_speed.py                         # 1024 px batch 1 and 256 px batch 8
    python bench/project_speed.py --cases 1024x1 --losses synth --settings sg-project,eager-bf16
    python bench/project_speed.py --smoke                 # tiny config on CPU, trace-only compile, seconds
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import traceback
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402

from core.fastpath import FastPathOptions  # noqa: E402
from projector.noise_reg import init_noise  # noqa: E402
from projector.optimize import Distance, ProjectConfig, WStats, project  # noqa: E402
from projector.step import ProjectionStep, default_fast_path  # noqa: E402

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
SMOKE_SETTINGS = "eager-fp32,eager-bf16,compiled-bf16-graphs"
STEPS = 1000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="1024x1,256x8", help="comma list of RESxBATCH")
    p.add_argument("--losses", default="synth,lpips", help="synth and/or lpips")
    p.add_argument("--steps", type=int, default=20, help="timed steps per row (after --warmup steps)")
    common.add_common_args(p)
    args = p.parse_args(argv)
    if args.settings == common.DEFAULT_SETTINGS:
        args.settings = "sg-project," + args.settings
    if args.smoke:
        args.device, args.cbase, args.cmax, args.fp16_res, args.cases = "cpu", 256, 32, 2, "16x2"
        args.steps, args.warmup = 3, 1
        args.compile_backend, args.cpu_reduced, args.threads = "eager", True, 1
        if args.settings == "sg-project," + common.DEFAULT_SETTINGS:  # one traced setting: a short run
            args.settings = SMOKE_SETTINGS
    return args


def fast_path(name: str, args: argparse.Namespace, device: torch.device) -> FastPathOptions:
    """The named setting's options; `sg-project` is what the command runs on this device."""
    if name == "sg-project":
        return default_fast_path(device, STEPS)
    return FastPathOptions(**common.setting_kwargs(name, args, device))


def lpips_available() -> bool:
    try:
        import lpips  # noqa: F401
    except ImportError:
        return False
    return True


def run(args: argparse.Namespace) -> int:
    device = common.pick_device(args.device)
    common.apply_threads(args)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    cases = [tuple(int(v) for v in c.split("x")) for c in common.parse_list(args.cases)]
    settings = common.parse_list(args.settings)
    for name in settings:
        fast_path(name, args, device)  # unknown names fail before any work
    have_lpips = lpips_available()
    print_header(args, device, cases, have_lpips)
    rows, failures, start = common.StreamedTable(COLUMNS), 0, time.perf_counter()
    for res, batch in cases:
        G = common.generator_for_args(args, res, device)
        target = torch.rand(batch, G.img_channels, res, res, device=device) * 2 - 1
        for kind in common.parse_list(args.losses):
            if kind == "lpips" and not have_lpips:
                rows.append(["-", "-", "-", "-", res, batch, "lpips: not importable, skipped"] + ["-"] * 6)
                continue
            case = Case(G, target, kind, device, args)
            for name in settings:
                if args.budget_s and time.perf_counter() - start > args.budget_s:
                    rows.append(
                        [name, "-", "-", "-", res, batch, case.label, "skipped (time budget)"] + ["-"] * 5
                    )
                    continue
                try:
                    rows.append(case.measure(name, fast_path(name, args, device)))
                except Exception as e:  # keep the other rows' numbers
                    failures += 1
                    traceback.print_exc(file=sys.stderr)
                    err = f"error: {type(e).__name__}: {str(e)[:80]}"
                    rows.append([name, "-", "-", "-", res, batch, case.label, err] + ["-"] * 5)
                common.release()
        del G
        common.release()
    return 1 if failures else 0


def print_header(args: argparse.Namespace, device: torch.device, cases: list, have_lpips: bool) -> None:
    print(f"## projection step speed{' (--smoke)' if args.smoke else ''}\n")
    res_label = "/".join(str(r) for r in sorted({r for r, _ in cases}, reverse=True))
    config = common.config_label(res_label, args.cbase, args.cmax, args.fp16_res)
    print("\n".join(common.env_lines(device, config)))
    print(
        f"- step = one step of `projector.project` (W space, noise maps optimised, Adam);"
        f" {args.warmup} warm-up + {args.steps} timed steps; s/1000 steps = {STEPS} x ms/step;"
        f" LPIPS: {'lpips package' if have_lpips else 'NOT importable'}"
    )
    print(common.tf32_note(device))
    print("- grad cos: cosine similarity of the first step's w gradient with the fp32 eager step's\n")


class Case:
    """One model, target batch and loss; `measure` times `project()` under one fast-path setting."""

    def __init__(self, G, target: torch.Tensor, kind: str, device: torch.device, args) -> None:
        self.G, self.target, self.device, self.args = G, target, device, args
        self.cfg = ProjectConfig(space="w", loss="mse" if kind == "synth" else "lpips", w_avg_samples=100)
        self.perceptual = None
        self.label = "synth (MSE)"
        if kind == "lpips":
            from projector.lpips_loss import PerceptualLoss

            self.perceptual = PerceptualLoss(random_backbone=True, device=device)
            self.label = f"synth + LPIPS-vgg(rand) @{min(256, target.shape[-1])}"
        torch.manual_seed(args.seed + 1)
        with torch.no_grad():  # a start near the model's w distribution, as w_avg would be
            w = G.mapping(torch.randn(target.shape[0], G.z_dim, device=device), None)[:, :1]
        self.stats = WStats(w_avg=w.mean(0, keepdim=True), w_std=float(w.std()) if w.shape[0] > 1 else 1.0)
        with common.strict_fp32():
            self.ref_grad, _ = self.first_grad(FastPathOptions())

    def first_grad(self, fast: FastPathOptions) -> tuple[torch.Tensor, dict]:
        """The w gradient of one `ProjectionStep` from w_avg with seeded noise maps, and what ran."""
        n = self.target.shape[0]
        step = ProjectionStep(self.G, Distance(self.cfg, self.target, self.perceptual), self.cfg, fast)
        w = self.stats.w_avg.expand(n, 1, -1).clone().requires_grad_(True)
        layers = self.G.synthesis.noise_layers()
        noise = [
            m.requires_grad_(True) for m in init_noise([x.resolution for x in layers], n, 0, self.device)
        ]
        step(w, torch.zeros_like(w[:1]), noise, [w, *noise])
        return w.grad.detach().clone(), step.effective

    def measure(self, name: str, fast: FastPathOptions) -> list:
        args, device = self.args, self.device
        common.reset_peak(device)
        grad, eff = self.first_grad(fast)
        cos = F.cosine_similarity(grad.flatten().double(), self.ref_grad.flatten().double(), dim=0).item()
        marks: dict[int, float] = {}
        warm, total = max(args.warmup, 1), max(args.warmup, 1) + args.steps

        def on_step(step: int, img: torch.Tensor, loss: torch.Tensor) -> None:
            if step in (0, warm - 1, total - 1):
                common.sync(device)
                marks[step] = time.perf_counter()

        t0 = time.perf_counter()
        cfg = dataclasses.replace(self.cfg, steps=total)
        project(self.G, self.target, cfg, self.perceptual, self.stats, on_step, fast=fast)
        ms = (marks[total - 1] - marks[warm - 1]) / args.steps * 1000
        b = self.target.shape[0]
        return [
            name,
            eff["precision"],
            eff["compile"],
            eff["cuda_graphs"],
            self.G.img_resolution,
            b,
            self.label,
            f"{marks[0] - t0:.1f}",
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
