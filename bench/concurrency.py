"""Two CPU trainings at once vs one alone: s/kimg of each, with sg's default thread settings.

Each sg process registers itself and uses cores // (sg processes running) threads (core/cpu.py), so two
trainings on one machine no longer oversubscribe the cores. `--oversubscribed` adds the old behaviour for
comparison (every process one thread per core, forced with SG_THREADS), which is what made two runs on a
2-core machine ~60x slower each.

    flock /tmp/sg-heavy.lock python bench/concurrency.py --kimg 0.2
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from core.training.progress import read_metrics  # noqa: E402


def _env(threads: int | None) -> dict[str, str]:
    """The user's environment without thread pins (so sg's defaults decide), or SG_THREADS forced."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env.pop("SG_THREADS", None)
    if threads is not None:
        env["SG_THREADS"] = str(threads)
    return env


def _start(out: Path, args: argparse.Namespace, threads: int | None, kimg: float) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "stylegan_cli.main", "train", "--cfg", args.cfg, "--kimg", str(kimg)]
    cmd += ["--tick", str(args.tick), "--snap", str(kimg), "--outdir", str(out)]
    return subprocess.Popen(
        cmd, cwd=REPO, env=_env(threads), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _s_per_kimg(out: Path) -> float:
    """Median s/kimg over the ticks after the first (start-up and warm-up excluded)."""
    run = next(p for p in out.iterdir() if p.is_dir())
    rows = [r["s_per_kimg"] for r in read_metrics(run) if "s_per_kimg" in r]
    return statistics.median(rows[1:] or rows)


def run_case(n: int, args: argparse.Namespace, threads: int | None, kimg: float) -> tuple[list[float], float]:
    """Start `n` trainings together; (s/kimg of each, wall seconds until all finished)."""
    with tempfile.TemporaryDirectory() as tmp:
        outs = [Path(tmp) / f"run{i}" for i in range(n)]
        t0 = time.perf_counter()
        procs = [_start(o, args, threads, kimg) for o in outs]
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                raise SystemExit(f"training failed:\n{err}")
        wall = time.perf_counter() - t0
        return [_s_per_kimg(o) for o in outs], wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cfg", default="small")
    ap.add_argument("--kimg", type=float, default=0.2)
    ap.add_argument("--tick", type=float, default=0.04)
    ap.add_argument("--repeat", type=int, default=2, help="alternate the cases this many times")
    ap.add_argument(
        "--oversubscribed",
        type=float,
        default=0.0,
        metavar="KIMG",
        help="also two runs of KIMG each with one thread per core each (the old default; slow)",
    )
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()

    cases = {"one run alone": [], "two runs at once": []}
    for _ in range(args.repeat):  # alternated, so a change in the machine's load hits both cases
        cases["one run alone"] += run_case(1, args, None, args.kimg)[0]
        cases["two runs at once"] += run_case(2, args, None, args.kimg)[0]
    if args.oversubscribed:
        name = f"two at once, SG_THREADS={cores} each (old default)"
        cases[name] = run_case(2, args, cores, args.oversubscribed)[0]

    print(f"### `python bench/concurrency.py --cfg {args.cfg} --kimg {args.kimg:g} --repeat {args.repeat}`\n")
    print(f"{datetime.date.today()}, {platform.processor() or platform.machine()}, {cores} cores.\n")
    print("| case (default threads unless named) | s/kimg of each run | median | x alone |")
    print("|---|---|---|---|")
    base = statistics.median(cases["one run alone"])
    for name, vals in cases.items():
        med = statistics.median(vals)
        each = ", ".join(f"{v:.1f}" for v in vals)
        print(f"| {name} | {each} | {med:.1f} | {med / base:.2f} |")


if __name__ == "__main__":
    main()
