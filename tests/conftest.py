"""Shared test fixtures: where the reference material lives, and tiny models."""

from __future__ import annotations

import os
from pathlib import Path

# Tests never download anything (the LPIPS backbone would be 528 MB); subprocesses inherit this.
os.environ["SG_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
# The official-code goldens the exactness tests need live in the repository (tests/data/README.md).
DATA = REPO / "tests" / "data"
