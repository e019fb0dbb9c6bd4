"""ADA on a small dataset: the same tiny CPU run with `--aug noaug` and `--aug ada` on 1,000 UTKFace faces.

Without augmentation D memorises the 1,000 images: its mean sign on reals, r_t = E[sign(D(x))], climbs past
0.6 and the generator's SWD stops improving. With ADA, p rises until r_t sits near the target and SWD keeps
falling. Prints one table per run (kimg, SWD x1e3, p, r_t) and writes sample grids of the final G_ema.

    python bench/ada.py                          # prepare, train both runs, score (about 40 minutes on CPU)
    python bench/ada.py --eval-only OUT          # score the runs already under OUT

Run it under `flock /tmp/sg-heavy.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.checkpoint import load_checkpoint  # noqa: E402
from core.checkpoint.snapshots import list_snapshots  # noqa: E402
from core.data import open_dataset  # noqa: E402
from core.metrics.swd import generate_images, swd  # noqa: E402
from core.training.progress import read_metrics  # noqa: E402

DATA_ZIP = REPO.parent / "shared" / "data" / "utkface-64.zip"
NUM_IMAGES = 1000
RESOLUTION = 32
# The CPU `small` preset with a low R1 weight (the official `auto` value at 32 px is 0.0128), so that D
# can overfit 1,000 images within a CPU budget. ADA's speed is scaled to the run: the official 500 kimg
# assumes runs of thousands of kimg; here p may go from 0 to 1 in 10 kimg.
TRAIN = dict(cfg="small", batch=16, gamma=0.01, seed=0, mirror=False)
ADA = dict(aug="ada", augpipe="bgc", target=0.6, ada_kimg=10.0)


def prepare(out: Path) -> Path:
    from core.data.prepare import prepare_dataset

    dst = out / "utk1k"
    if not dst.exists():
        prepare_dataset(DATA_ZIP, dst, RESOLUTION, max_images=NUM_IMAGES)
    return dst


def train_run(name: str, data: Path, out: Path, kimg: float, snap: float, **aug) -> Path:
    from core.training import TrainOptions, train

    t0 = time.perf_counter()
    res = train(
        TrainOptions(data=str(data), outdir=str(out / name), kimg=kimg, snap=snap, tick=1.0, **TRAIN, **aug)
    )
    print(f"{name}: {kimg:g} kimg in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    return res.run_dir


def score(run: Path, reals: torch.Tensor) -> list[dict]:
    """SWD of each snapshot's G_ema (1,000 images, psi 1) against the 1,000 training images."""
    rows = []
    ticks = read_metrics(run)
    for snap in list_snapshots(run):
        ck = load_checkpoint(snap)
        fakes = generate_images(ck.G_ema, len(reals), seed=123)
        d = swd(reals, fakes, seed=0)
        near = min(ticks, key=lambda r: abs(r["kimg"] - ck.kimg))
        rows.append({"kimg": ck.kimg, "swd": d[-1], "p": near.get("aug/p", 0.0), "r_t": near["signs/real"]})
    return rows


def save_grid(run: Path, path: Path) -> None:
    from PIL import Image

    ck = load_checkpoint(list_snapshots(run)[-1])
    imgs = generate_images(ck.G_ema, 32, seed=7).numpy()  # [32, 3, 32, 32]
    grid = imgs.reshape(4, 8, 3, RESOLUTION, RESOLUTION).transpose(0, 3, 1, 4, 2)
    Image.fromarray(grid.reshape(4 * RESOLUTION, 8 * RESOLUTION, 3)).save(path)


def first_overfit(run: Path, level: float = 0.6) -> float | None:
    """kimg of the first tick whose mean sign of D on reals exceeds `level`."""
    return next((r["kimg"] for r in read_metrics(run) if r.get("signs/real", 0) > level), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/sg-bench-ada"))
    ap.add_argument("--kimg", type=float, default=20.0)
    ap.add_argument("--snap", type=float, default=2.0)
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--grids", type=Path, default=REPO / "bench" / "ada")
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = prepare(args.out)
    runs = {}
    for name, aug in (("noaug", dict(aug="noaug")), ("ada", ADA)):
        if args.eval_only:
            runs[name] = sorted((args.out / name).iterdir())[-1]
        else:
            runs[name] = train_run(name, data, args.out, args.kimg, args.snap, **aug)
    ds = open_dataset(data, progress=False)
    reals = torch.as_tensor(np.asarray(ds.images[:NUM_IMAGES]))
    args.grids.mkdir(parents=True, exist_ok=True)
    print(f"\n{NUM_IMAGES} UTKFace images at {RESOLUTION} px, {TRAIN}, ADA {ADA}")
    table = {name: score(run, reals) for name, run in runs.items()}
    print("\n| kimg | SWD noaug | r_t noaug | SWD ada | p ada | r_t ada |\n|---:|---:|---:|---:|---:|---:|")
    for a, b in zip(table["noaug"], table["ada"], strict=True):
        cells = [f"{a['kimg']:g}", f"{a['swd']:.1f}", f"{a['r_t']:.2f}", f"{b['swd']:.1f}", f"{b['p']:.3f}"]
        print("| " + " | ".join([*cells, f"{b['r_t']:.2f}"]) + " |")
    for name, run in runs.items():
        save_grid(run, args.grids / f"{name}.png")
        ticks = read_metrics(run)
        late = [r["signs/real"] for r in ticks if r["kimg"] > args.kimg / 2]
        print(
            f"{name}: r_t first > 0.6 at kimg {first_overfit(run)}; mean r_t over the second half "
            f"{np.mean(late):.2f}; final SWD {table[name][-1]['swd']:.1f}; "
            f"median {np.median([r['s_per_kimg'] for r in ticks]):.1f} s/kimg; grid {args.grids / name}.png"
        )


if __name__ == "__main__":
    main()
