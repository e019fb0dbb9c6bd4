"""CPU process settings: glibc keeps freed memory (fewer page faults per step) when asked, and only then."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

PROBE = (
    "import sys; from core.cpu import keep_freed_memory as k; d = sys.argv[1] == '1'; print(k(d), k(not d))"
)


def _probe(default: bool, **env: str) -> str:
    env = {**{k: v for k, v in os.environ.items() if k != "SG_KEEP_MALLOC"}, **env}
    cmd = [sys.executable, "-c", PROBE, "1" if default else "0"]
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux only")
def test_keep_freed_memory_follows_the_default_and_the_environment() -> None:
    assert _probe(True) == "True True"  # once set, it stays set: a later default-off call reports it
    # The sg entry point calls it (default off) before sg train does (default on, CPU): train must win.
    assert _probe(False) == "False True"
    assert _probe(True, SG_KEEP_MALLOC="0") == "False False"
    assert _probe(False, SG_KEEP_MALLOC="1") == "True True"
