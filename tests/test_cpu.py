"""CPU process settings: glibc keeps freed memory (fewer page faults per step), and the switch works."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

PROBE = "from core.cpu import keep_freed_memory as k; print(k(), k())"


def _probe(**env: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, env={**os.environ, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux only")
def test_keep_freed_memory_is_set_once_and_can_be_turned_off() -> None:
    assert _probe() == "True True"  # the second call reports the same state without calling libc again
    assert _probe(SG_KEEP_MALLOC="0") == "False False"
