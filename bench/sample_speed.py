"""How fast does the generator sample? img/s and ms/img per fast-path setting, with agreement vs fp32 eager.

A random-weight generator at the given config (default: config-f at 1024 px) renders fixed ws (noise const,
as the official figures were taken) for each setting x batch. Each row: warm-up time (includes compiling and
graph capture), median ms per call over repeated timings, ms/img, img/s, peak GPU memory, and the PSNR of
the first output against the fp32 eager render of the same ws ([-1, 1] images, peak-to-peak 2).

    python bench/sample_speed.py                          # config-f 1024 px, batch 1 and 16, four settings
    python bench/sample_speed.py --settings eager-fp16,compiled-bf16-cl-graphs --batches 16
    python bench/sample_speed.py --smoke                  # tiny config on CPU, trace-only compile, seconds
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import common  # noqa: E402

from core.fastpath import FastGenerator  # noqa: E402

COLUMNS = [
    "setting",
    "precision",
    "compile",
    "cuda graphs",
    "channels_last",
    "batch",
    "warm-up s",
    "ms/call",
    "ms/img",
    "img/s",
    "peak MB",
    "PSNR vs fp32 (dB)",
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--res", type=int, default=1024)
    p.add_argument("--batches", default="1,16", help="comma list of batch sizes")
    common.add_common_args(p)
    args = p.parse_args(argv)
    if args.smoke:  # tiny and quick: CPU, 16 px, trace-only compile, bf16 allowed on CPU
        args.device, args.res, args.cbase, args.cmax, args.fp16_res = "cpu", 16, 256, 32, 2
        args.batches, args.reps, args.min_time, args.warmup = "1,2", 3, 0.0, 1
        args.compile_backend, args.cpu_reduced, args.threads = "eager", True, 1
    return args


def run(args: argparse.Namespace) -> int:
    device = common.pick_device(args.device)
    common.apply_threads(args)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    G = common.generator_for_args(args, args.res, device)
    batches = common.parse_list(args.batches, int)
    settings = common.parse_list(args.settings)
    for name in settings:
        common.setting_kwargs(name, args, device)  # fail fast on a typo
    torch.manual_seed(args.seed + 1)
    z = torch.randn(max(batches), G.z_dim, device=device)
    with torch.no_grad(), common.strict_fp32():
        ws_all = G.mapping(z, None)
        refs = {b: G.synthesis(ws_all[:b], noise_mode="const", force_fp32=True) for b in batches}

    print(f"## sample speed{' (--smoke)' if args.smoke else ''}\n")
    print(
        "\n".join(
            common.env_lines(device, common.config_label(args.res, args.cbase, args.cmax, args.fp16_res))
        )
    )
    print(common.tf32_note(device))
    print(
        "- noise const; timings: median of repeated runs after warm-up; PSNR over [-1, 1] (peak-to-peak 2)\n"
    )
    rows, failures, start = common.StreamedTable(COLUMNS), 0, time.perf_counter()
    for name in settings:
        kw = common.setting_kwargs(name, args, device)
        for b in batches:
            if args.budget_s and time.perf_counter() - start > args.budget_s:
                rows.append([name, "-", "-", "-", "-", b, "skipped (time budget)"] + ["-"] * 5)
                continue
            try:
                rows.append(measure_row(G, name, kw, ws_all[:b], refs[b], device, args))
            except Exception as e:  # one failing setting must not lose the others' numbers
                failures += 1
                traceback.print_exc(file=sys.stderr)
                rows.append(
                    [name, "-", "-", "-", "-", b, f"error: {type(e).__name__}: {str(e)[:80]}"] + ["-"] * 5
                )
            common.release()
    return 1 if failures else 0


def measure_row(
    G: torch.nn.Module,
    name: str,
    kw: dict,
    ws: torch.Tensor,
    ref: torch.Tensor,
    device: torch.device,
    args: argparse.Namespace,
) -> list:
    common.reset_peak(device)
    fast = FastGenerator(G, **kw)
    t0 = time.perf_counter()
    out = fast.render(ws)
    common.sync(device)
    warm = time.perf_counter() - t0
    db = common.psnr(out, ref)
    timing = common.time_calls(lambda: fast.render(ws), device, args.reps, args.min_time, args.warmup)
    eff = fast.effective
    b = ws.shape[0]
    return [
        name,
        eff["precision"],
        eff["compile"],
        eff["cuda_graphs"],
        "on" if eff["channels_last"] else "off",
        b,
        f"{warm:.1f}",
        f"{timing.median_ms:.2f}",
        f"{timing.median_ms / b:.2f}",
        f"{1000 * b / timing.median_ms:.1f}",
        common.peak_mb(device),
        common.fmt_db(db),
    ]


def main(argv: list[str] | None = None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
