"""One torchrun rank of `sg train --gpus N`: reads the run config the launcher resolved (JSON) and trains."""

from __future__ import annotations

import atexit
import faulthandler
import json
import os
import sys

from core.errors import SGError
from core.training.loop import train
from core.training.options import RunConfig


def main(argv: list[str]) -> int:
    config = RunConfig.from_dict(json.loads(open(argv[1]).read()))
    try:
        train(config)
    except SGError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


def exit_now(code: int) -> None:
    """Leave without interpreter teardown. The process group is already gone, but under load gloo's C++
    threads could still abort the rank while Python finalises (SIGABRT after a finished run, 1 in ~30
    runs on a busy 2-core machine), which torchrun reports as a failed training."""
    atexit._run_exitfuncs()  # our own clean-ups (the CPU thread-share registry) still run
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    faulthandler.enable()  # a crash inside torch prints where it happened
    exit_now(main(sys.argv))
