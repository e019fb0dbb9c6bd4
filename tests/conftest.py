"""Shared test fixtures: where the reference material lives, and tiny models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never download anything (the LPIPS backbone would be 528 MB); subprocesses inherit this.
os.environ["SG_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GOLDEN = SHARED / "reference" / "golden"


@pytest.fixture
def golden_dir() -> Path:
    if not (GOLDEN / "golden_sg2_64.safetensors").exists():
        pytest.skip(f"golden reference files not found at {GOLDEN}")
    return GOLDEN
