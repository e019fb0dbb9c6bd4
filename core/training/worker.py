"""One torchrun rank of `sg train --gpus N`: reads the run config the launcher resolved (JSON) and trains."""

from __future__ import annotations

import json
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


if __name__ == "__main__":
    sys.exit(main(sys.argv))
