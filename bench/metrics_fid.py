"""FID (and any other sg metric) of a model on UTKFace, with the time each step took: one command.

    python bench/metrics_fid.py MODEL --weights-dir DIR     # fid50k_full on ../shared/data/utkface-64.zip
    python bench/metrics_fid.py MODEL --metric fid50k_full,kid50k_full --device cuda --weights-dir DIR

MODEL is any file `sg` loads (the UTKFace model of the projection issue, a run folder). The pretrained files
(weights-inception-2015-12-05-6726825d.pth for FID/KID/IS, vgg16-397923af.pth for PR/PPL) come from
--weights-dir, else the torch hub cache, else a download; the machines of this project are offline, so carry
them. Prints a markdown table (metric, value, images, seconds, device) for bench/RESULTS.md; the real
features are cached, so a second run shows the cost of the generated side alone.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.checkpoint import load_generator  # noqa: E402
from core.data import open_dataset  # noqa: E402
from core.metrics.protocols import MetricOptions, compute_metrics, parse_metrics  # noqa: E402
from core.metrics.results import format_value, results_path, write_results  # noqa: E402

DATA_ZIP = REPO.parent / "shared" / "data" / "utkface-64.zip"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", type=Path, default=DATA_ZIP)
    ap.add_argument("--metric", default="fid50k_full")
    ap.add_argument("--num-gen", type=int, default=None, help="fewer generated images (default: 50k)")
    ap.add_argument("--weights-dir", type=Path, default=None)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=64)
    args = ap.parse_args()
    if not args.data.exists():
        raise SystemExit(f"dataset not found: {args.data} (UTKFace 64 px, see ../shared/data/README.md)")

    t0 = time.perf_counter()
    G = load_generator(str(args.model), device=args.device).eval()
    ds = open_dataset(args.data, resolution=G.img_resolution, channels=G.img_channels)
    opts = MetricOptions(
        num_gen=args.num_gen, batch=args.batch, device=args.device, weights_dir=args.weights_dir
    )
    results = compute_metrics(parse_metrics(args.metric), G, ds, opts, log=print)
    total = time.perf_counter() - t0
    write_results(results_path(args.model), args.model, ds.path, results)

    name = torch.cuda.get_device_name(args.device) if str(args.device).startswith("cuda") else "CPU"
    print(f"\n{args.model} on {args.data.name} ({ds.num_images} images, {ds.resolution} px), {name}")
    print("| metric | value | generated | real | protocol | seconds |")
    print("|---|---:|---:|---:|---|---:|")
    for rec in results.values():
        for key, v in rec["values"].items():
            row = [
                key,
                format_value(v),
                rec["num_gen"],
                rec["num_real"] or "-",
                rec["protocol"],
                rec["seconds"],
            ]
            print("| " + " | ".join(str(x) for x in row) + " |")
    print(f"\ntotal {total:.1f} s (loading, real features unless cached, generation, statistics)")


if __name__ == "__main__":
    main()
