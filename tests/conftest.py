"""Shared test fixtures: where the reference material lives, and tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never download anything (the LPIPS backbone would be 528 MB); subprocesses inherit this.
os.environ["SG_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
# The official-code goldens the exactness tests need live in the repository (tests/data/README.md).
DATA = REPO / "tests" / "data"


def run_sg(capsys, monkeypatch, *args: object) -> tuple[int, str, str]:
    """`sg ARGS` in-process through the real entry point: (exit code, stdout, stderr)."""
    import sys

    from stylegan_cli.main import main

    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", ["sg", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def ok(result: tuple[int, str, str]) -> str:
    """stdout of an `sg` run that must have succeeded (its stderr is the failure message otherwise)."""
    code, out, err = result
    assert code == 0, err
    return out


@pytest.fixture
def sg(capsys, monkeypatch):
    """`sg(*args)` -> (exit code, stdout, stderr); $SG_MODEL unset so model resolution is the test's own."""
    monkeypatch.delenv("SG_MODEL", raising=False)
    return lambda *args: run_sg(capsys, monkeypatch, *args)


@pytest.fixture(scope="module")
def single_thread():
    """Tiny models gain nothing from intra-op threads, and on a busy machine two OpenMP threads per process
    make each step up to 50x slower; the setting is restored for the other test modules."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
