"""ADA on a small dataset: the same CPU run with `--aug noaug` and `--aug ada` on 1,000 UTKFace faces.

Without augmentation D memorises the 1,000 images: its mean sign on reals, r_t = E[sign(D(x))], climbs past
0.6 and the generator stops improving. With ADA, p rises until r_t sits near the target. Prints one table
(kimg; SWD x1e3 against the 1,000 training faces and against the next 1,000 faces of the zip, never trained
on; p; r_t) and writes sample grids of the final G_ema.

    python bench/ada.py                          # prepare, train both runs, score (about 40 minutes on CPU)
    python bench/ada.py --eval-only --out OUT    # score the runs already under OUT
    python bench/ada.py --only noaug --max-kimg 200 & python bench/ada.py --only ada --max-kimg 200
                                                 # both runs side by side, one core each (then --eval-only)
    python bench/ada.py --eval-only --runs noaug ada ada-bg ada-seed1
                                                 # also the follow-ups: no colour group, a second seed
    python bench/ada.py --only noaug-200 --max-kimg 288 & python bench/ada.py --only ada-200 --max-kimg 288
                                                 # the same pair on the first 200 faces (then --eval-only)
    bash bench/run_all.sh ada                    # on a GPU: noaug-64 vs ada-64 (64 px, the `auto` network),
                                                 # each for a fixed time, scored over the kimg both reached

Run it under `flock /tmp/sg-heavy.lock` on a shared machine.
"""

from __future__ import annotations

import argparse
import colorsys
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.common import UTKFACE_ZIP  # noqa: E402
from core.checkpoint import load_checkpoint  # noqa: E402
from core.checkpoint.snapshots import list_snapshots, snapshot_nimg  # noqa: E402
from core.data import open_dataset  # noqa: E402
from core.metrics.swd import generate_images, swd  # noqa: E402
from core.training.progress import read_metrics  # noqa: E402

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # where snapshots are scored
NUM_IMAGES = 1000
RESOLUTION = 32
# The CPU `small` preset with a low R1 weight (the official `auto` value at 32 px is 0.0128), so that D
# can overfit 1,000 images within a CPU budget. ADA's speed is scaled to the run: the official 500 kimg
# assumes runs of thousands of kimg; here p may go from 0 to 1 in 10 kimg.
TRAIN = dict(cfg="small", batch=16, gamma=0.01, seed=0, mirror=False)
ADA = dict(aug="ada", augpipe="bgc", target=0.6, ada_kimg=10.0)
# Each run's options over TRAIN: the two the issue compares, and the follow-ups of RESULTS.md (ADA without
# the colour group, and a second seed of each to size the run-to-run spread).
AUG = {
    "noaug": dict(aug="noaug"),
    "ada": ADA,
    "ada-bg": ADA | dict(augpipe="bg"),
    "ada-seed1": ADA | dict(seed=1),
    "noaug-seed1": dict(aug="noaug", seed=1),
    "ada-bg-seed1": ADA | dict(augpipe="bg", seed=1),
    # A departure from the 1,000 faces: on 200, D overfits sooner and harder (the paper's fig. 1: the
    # smaller the set, the earlier and worse the unaugmented run degrades), within this CPU budget.
    "noaug-200": dict(aug="noaug"),
    "ada-200": ADA,
}
# The GPU version (bench/run_all.sh ada): 64 px with the official `auto` network (batch 32, gamma 0.0256, a D
# of 512 channels), nearer the paper's regime than the CPU bench, whose 0.29M-parameter D overfits without
# hurting its generator and leaks the colour group at p < 0.1 (RESULTS.md). None: the preset's value. ADA's
# speed is scaled to a run of a few hundred kimg.
GPU = dict(cfg="auto", batch=None, gamma=None)
AUG |= {"noaug-64": GPU | dict(aug="noaug"), "ada-64": GPU | ADA | dict(ada_kimg=100.0)}
SUBSET = {"noaug-200": 200, "ada-200": 200}  # runs on the first N of the 1,000 faces; the rest train on all
RES = {"noaug-64": 64, "ada-64": 64}  # runs at another resolution than RESOLUTION


def faces_of(run: str) -> int:
    return SUBSET.get(run, NUM_IMAGES)


def res_of(run: str) -> int:
    return RES.get(run, RESOLUTION)


def key_of(run: str) -> tuple[int, int]:
    """(faces, resolution): the runs that share a training set, and so its SWD references."""
    return faces_of(run), res_of(run)


def prepare(out: Path, count: int = NUM_IMAGES, res: int = RESOLUTION) -> Path:
    """The first `count` faces of the zip at `res` px, prepared once under OUT (utk1k, utk2k, utk200,
    utk1k-64px, ...)."""
    from core.data.layout import DatasetExistsError
    from core.data.prepare import prepare_dataset

    size = f"{count // 1000}k" if count % 1000 == 0 else str(count)
    dst = out / (f"utk{size}" + ("" if res == RESOLUTION else f"-{res}px"))
    if not dst.exists():
        if not UTKFACE_ZIP.exists():
            raise SystemExit(f"UTKFace zip not found: {UTKFACE_ZIP} (set UTK_ZIP to its path)")
        try:
            prepare_dataset(UTKFACE_ZIP, dst, res, max_images=count, progress=False)
        except DatasetExistsError:
            pass  # a run started beside this one prepared it first (a dataset appears whole, or not at all)
    return dst


def reference_sets(out: Path, train_data: Path) -> dict[str, torch.Tensor]:
    """The two SWD references: the run's training faces (what D can memorise) and faces 1,001-2,000 of the
    zip, never trained on by any run (as the paper scores its small-subset runs against the whole dataset,
    so a generator that copies its training set is not rewarded). SWD compares equal counts, so a smaller
    training set is repeated up to 1,000 images: the same empirical distribution, the one D can memorise."""
    train = np.array(open_dataset(train_data, progress=False).images)
    both = np.array(open_dataset(prepare(out, 2 * NUM_IMAGES, train.shape[-1]), progress=False).images)
    if len(both) < 2 * NUM_IMAGES or not np.array_equal(both[: len(train)], train):
        raise SystemExit(f"the 2,000-face set does not extend {train_data.name}: delete it and run again")
    train = train[np.arange(NUM_IMAGES) % len(train)]
    return {"train": torch.from_numpy(train), "held": torch.from_numpy(both[NUM_IMAGES:])}


def train_run(name: str, data: Path, out: Path, kimg: float, snap: float, tick: float, **aug) -> list[Path]:
    """Train (or, when OUT already holds the run, continue it bit for bit) up to `kimg`; its run folders."""
    from core.training import TrainOptions, train

    t0 = time.perf_counter()
    runs = sorted((out / name).iterdir()) if (out / name).exists() else []
    if runs and load_checkpoint(runs[-1]).kimg >= kimg - 1e-6:
        return runs  # already there
    if runs:  # a longer run: resume the last folder (a resume writes a new "-resume" folder beside it)
        opts = TrainOptions(resume=str(runs[-1]), kimg=kimg, snap=snap, tick=tick)
    else:
        opts = TrainOptions(
            data=str(data), outdir=str(out / name), kimg=kimg, snap=snap, tick=tick, **(TRAIN | aug)
        )
    runs.append(train(opts).run_dir)
    print(f"{name}: to {kimg:g} kimg in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    return runs


def ticks_of(runs: list[Path]) -> list[dict]:
    return [r for run in runs for r in read_metrics(run)]


def score(runs: list[Path], refs: dict[str, torch.Tensor], every: float, cache: Path) -> list[dict]:
    """SWD of G_ema (1,000 images, psi 1) against each reference set, at snapshots every `every` kimg and
    the last one; scores are cached in `cache` (a file per reference) so a longer run only scores its new
    snapshots. Each row names its snapshot."""
    import json

    suffix = {ref: "" if ref == "train" else f"-{ref}" for ref in refs}  # swd-noaug.json, swd-noaug-held.json
    files = {ref: cache.with_name(f"{cache.stem}{suffix[ref]}.json") for ref in refs}
    saved = {ref: json.loads(f.read_text()) if f.exists() else {} for ref, f in files.items()}
    rows = []
    ticks = ticks_of(runs)
    snaps = [s for run in runs for s in list_snapshots(run)]
    for snap in snaps:
        kimg = snapshot_nimg(snap) / 1000  # from the name: a snapshot is loaded only when it is scored
        if snap != snaps[-1] and abs(kimg / every - round(kimg / every)) > 1e-6:
            continue
        missing = [ref for ref in refs if str(snap) not in saved[ref]]
        if missing:
            fakes = generate_images(load_checkpoint(snap, DEVICE).G_ema, NUM_IMAGES, seed=123)
            for ref in missing:
                saved[ref][str(snap)] = swd(refs[ref], fakes, seed=0, device=DEVICE)[-1]
                files[ref].write_text(json.dumps(saved[ref]))
        near = min(ticks, key=lambda r: abs(r["kimg"] - kimg))
        row = {"kimg": kimg, "p": near.get("aug/p", 0.0), "r_t": near["signs/real"], "snap": snap}
        rows.append(row | {f"swd_{ref}": saved[ref][str(snap)] for ref in refs})
    return rows


def save_grid(G_ema: torch.nn.Module, path: Path) -> None:
    from PIL import Image

    imgs = generate_images(G_ema, 32, seed=7).numpy()  # [32, 3, R, R]
    res = imgs.shape[-1]
    grid = imgs.reshape(4, 8, 3, res, res).transpose(0, 3, 1, 4, 2)
    Image.fromarray(grid.reshape(4 * res, 8 * res, 3)).save(path)


def first_overfit(ticks: list[dict], level: float = 0.6, after: float = 10.0) -> float | None:
    """kimg of the first tick past the start-up (D leads for the first few kimg of any run) whose mean
    sign of D on reals exceeds `level`."""
    return next((r["kimg"] for r in ticks if r["kimg"] > after and r.get("signs/real", 0) > level), None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("/tmp/sg-bench-ada"))
    ap.add_argument("--kimg", type=float, default=20.0)
    ap.add_argument("--snap", type=float, default=2.0)
    ap.add_argument("--tick", type=float, default=1.0, help="kimg between progress lines (r_t is their mean)")
    ap.add_argument("--max-kimg", type=float, default=60.0, help="give up waiting for noaug to overfit here")
    ap.add_argument("--chunk", type=float, default=4.0, help="kimg added per check of the noaug run")
    ap.add_argument("--extra", type=float, default=6.0, help="kimg trained past the noaug run's overfitting")
    ap.add_argument("--score-every", type=float, default=4.0, help="kimg between scored snapshots")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument(
        "--only",
        choices=tuple(AUG),
        help="train just this run to --max-kimg and stop (start one process per run to use two cores), "
        "then score the runs with --eval-only --runs",
    )
    ap.add_argument(
        "--runs", nargs="+", choices=tuple(AUG), default=["noaug", "ada"], help="the runs --eval-only scores"
    )
    ap.add_argument("--grids", type=Path, default=REPO / "bench" / "ada")
    args = ap.parse_args()
    if DEVICE == "cpu":  # one core per run, two runs side by side; scores as they were first computed
        torch.set_num_threads(1)
    if args.only:
        data = prepare(args.out, faces_of(args.only), res_of(args.only))
        train_run(args.only, data, args.out, args.max_kimg, args.snap, args.tick, **AUG[args.only])
        return
    runs: dict[str, list[Path]] = {}
    if args.eval_only:
        missing = [name for name in args.runs if not (args.out / name).is_dir()]
        if missing:
            raise SystemExit(f"no run {', '.join(missing)} under {args.out}: train it first (--only NAME)")
        runs = {name: sorted((args.out / name).iterdir()) for name in args.runs}
        empty = [name for name, run in runs.items() if not any(list_snapshots(r) for r in run)]
        if empty:
            raise SystemExit(f"run {', '.join(empty)} under {args.out} has no snapshot yet: train it longer")
    else:
        data = prepare(args.out)
        # noaug in chunks until its D overfits (r_t > 0.6 after the start-up), then `--extra` kimg more to
        # see what overfitting does to SWD; ADA then trains for exactly as long.
        kimg = args.kimg
        runs["noaug"] = train_run("noaug", data, args.out, kimg, args.snap, args.tick, **AUG["noaug"])
        while first_overfit(ticks_of(runs["noaug"])) is None and kimg < args.max_kimg:
            kimg = min(kimg + args.chunk, args.max_kimg)
            runs["noaug"] = train_run("noaug", data, args.out, kimg, args.snap, args.tick, **AUG["noaug"])
        hit = first_overfit(ticks_of(runs["noaug"]))
        if hit is not None and kimg < hit + args.extra:
            kimg = min(hit + args.extra, args.max_kimg)
            runs["noaug"] = train_run("noaug", data, args.out, kimg, args.snap, args.tick, **AUG["noaug"])
        runs["ada"] = train_run("ada", data, args.out, kimg, args.snap, args.tick, **AUG["ada"])
    refs_of: dict[tuple[int, int], dict[str, torch.Tensor]] = {}  # by (faces, resolution)
    for count, res in sorted({key_of(name) for name in runs}, key=lambda k: (-k[0], k[1])):
        refs = refs_of[count, res] = reference_sets(args.out, prepare(args.out, count, res))
        print(f"\n{count} UTKFace training images at {res} px; the runs' options (None: the preset's):")
        for name in (name for name in runs if key_of(name) == (count, res)):
            print(f"  {name}: {TRAIN | AUG[name]}")
        floor = swd(refs["train"], refs["held"], seed=0, device=DEVICE)[-1]
        print(f"SWD between the training and the held-out faces themselves (the floor): {floor:.1f}")
        for ref, images in refs.items():
            print(f"colours of the {ref} faces: {colour_line(images)}")
    args.grids.mkdir(parents=True, exist_ok=True)
    table = {
        name: score(run, refs_of[key_of(name)], args.score_every, args.out / f"swd-{name}.json")
        for name, run in runs.items()
    }
    print_table(table)
    # Runs stopped by time (the GPU version) end at different kimg: each is summed up to the kimg all reached.
    end = min(scored[-1]["kimg"] for scored in table.values()) + 1e-6
    if any(scored[-1]["kimg"] > end for scored in table.values()):
        print(f"\nThe summaries below stop at {end:g} kimg, the last scored snapshot of the shortest run.")
    for name, run in runs.items():
        table[name] = [r for r in table[name] if r["kimg"] <= end]
        final = load_checkpoint(table[name][-1]["snap"], DEVICE)
        save_grid(final.G_ema, args.grids / f"{name}.png")
        ticks = [r for r in ticks_of(run) if r["kimg"] <= end]
        late = [r["signs/real"] for r in ticks if r["kimg"] > ticks[-1]["kimg"] / 2]
        last = [r for r in table[name] if r["kimg"] > 0.75 * table[name][-1]["kimg"]]
        scores = "; ".join(
            f"SWD vs {ref}: final {table[name][-1][key]:.1f}, mean of the last quarter "
            f"{np.mean([r[key] for r in last]):.1f} (sd {np.std([r[key] for r in last]):.1f}), "
            f"best {min(r[key] for r in table[name]):.1f}"
            for ref in ("train", "held")
            for key in [f"swd_{ref}"]
        )
        print(
            f"{name}: r_t first > 0.6 (past 10 kimg) at kimg {first_overfit(ticks)}; mean r_t, second "
            f"half {np.mean(late):.2f}; {scores}; "
            f"median {np.median([r['s_per_kimg'] for r in ticks]):.1f} s/kimg; grid {args.grids / name}.png"
        )
        fakes = generate_images(final.G_ema, NUM_IMAGES, seed=123)
        print(f"{name}: colours of the final G_ema ({final.kimg:g} kimg): {colour_line(fakes)}")


def colour_line(images: torch.Tensor) -> str:
    """Colour statistics of the face (the central half of the image) that show a leaking colour augmentation:
    the share of faces whose mean hue is far from any skin tone (green to purple, 60-320 degrees), and the
    spread of their chroma (standard deviation of G-R and B-R of the mean colour, 0-255 units)."""
    q = images.shape[-1] // 4
    rgb = images[:, :, q:-q, q:-q].double().mean(dim=(2, 3)).numpy()  # [N, 3]
    hue = np.array([colorsys.rgb_to_hsv(*(c / 255))[0] * 360 for c in rgb])
    odd = np.mean((hue > 60) & (hue < 320)) * 100
    g_r, b_r = rgb[:, 1] - rgb[:, 0], rgb[:, 2] - rgb[:, 0]
    return f"odd hue {odd:.1f}%, chroma sd G-R {g_r.std():.1f} / B-R {b_r.std():.1f}"


def print_table(table: dict[str, list[dict]]) -> None:
    """One markdown row per scored kimg: each run's SWD against the training and the held-out faces, p for
    augmented runs, and r_t."""
    augmented = {name: AUG[name]["aug"] != "noaug" for name in table}
    cols = {name: ["SWD train", "SWD held-out"] + ["p"] * augmented[name] + ["r_t"] for name in table}
    rows: dict[float, dict[str, list[str]]] = {}
    for name, scored in table.items():
        for r in scored:
            cells = {"SWD train": f"{r['swd_train']:.1f}", "SWD held-out": f"{r['swd_held']:.1f}"}
            cells |= {"p": f"{r['p']:.3f}", "r_t": f"{r['r_t']:.2f}"}
            rows.setdefault(round(r["kimg"], 2), {})[name] = [cells[c] for c in cols[name]]
    head = ["kimg"] + [f"{c} {name}" for name in table for c in cols[name]]
    print("\n| " + " | ".join(head) + " |\n|" + "---:|" * len(head))
    for kimg, by_run in sorted(rows.items()):
        cells = [f"{kimg:g}"] + [c for name in table for c in by_run.get(name, ["-"] * len(cols[name]))]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
