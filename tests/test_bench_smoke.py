"""The speed benchmarks run end to end (`--smoke`: tiny CPU model, trace-only compile) and print tables.

Both scripts run at once, each on one thread, to keep this test well under a minute on two cores.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETTINGS = ["eager-fp32", "eager-bf16", "compiled-bf16", "compiled-bf16-graphs"]
PROJECT_SETTINGS = ["eager-fp32", "eager-bf16", "compiled-bf16-graphs"]  # project_speed's --smoke default
SAMPLE_COLUMNS = [
    "setting",
    "precision",
    "compile",
    "cuda graphs",
    "batch",
    "ms/img",
    "img/s",
    "peak MB",
    "PSNR vs fp32 (dB)",
]
PROJECT_COLUMNS = [
    "setting",
    "precision",
    "res",
    "batch",
    "loss",
    "ms/step",
    "s/1000 steps",
    "s/img (1000 steps)",
    "grad cos vs fp32",
]


def table(stdout: str) -> tuple[list[str], list[dict[str, str]]]:
    """The markdown table's header and rows (as dicts) from a benchmark's stdout."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    rows = [
        dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]
    ]
    return header, rows


def test_benchmark_smoke_runs() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    scripts = {name: REPO / "bench" / f"{name}_speed.py" for name in ("sample", "project")}
    procs = {
        name: subprocess.Popen(
            [sys.executable, str(path), "--smoke"],
            cwd=REPO,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for name, path in scripts.items()
    }
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"{name}_speed.py --smoke failed:\n{stderr[-3000:]}"
        out[name] = stdout

    assert "- device: CPU" in out["sample"] and "- torch: " in out["sample"] and "- config: " in out["sample"]
    header, rows = table(out["sample"])
    assert all(c in header for c in SAMPLE_COLUMNS)
    assert [(r["setting"], r["batch"]) for r in rows] == [(s, b) for s in SETTINGS for b in ("1", "2")]
    for r in rows:
        assert float(r["img/s"]) > 0 and float(r["ms/img"]) > 0
        assert r["precision"] == ("fp32" if r["setting"] == "eager-fp32" else "bf16")  # CPU override in smoke
        assert r["PSNR vs fp32 (dB)"] == "identical" or float(r["PSNR vs fp32 (dB)"]) >= 30
    assert {r["cuda graphs"] for r in rows if r["setting"].endswith("graphs")} == {"off (needs CUDA)"}

    header, rows = table(out["project"])
    assert all(c in header for c in PROJECT_COLUMNS)
    losses = ["synth"] + (["lpips"] if "LPIPS: lpips package" in out["project"] else [])
    assert [r["setting"] for r in rows] == PROJECT_SETTINGS * len(losses)
    for r in rows:
        assert float(r["ms/step"]) > 0 and float(r["grad cos vs fp32"]) > 0.95
        assert abs(float(r["s/1000 steps"]) - float(r["ms/step"])) < 0.1  # 1000 steps x ms = s
