"""Ctrl-C and SIGTERM end a run gracefully: the loop finishes its step, writes a snapshot and exits 0.

A second signal stops at once (even in the middle of writing a snapshot, whose temp file is then removed)
with one line saying what was saved and what was not: `status()` of the trainer says it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from core.errors import SGError


class Interrupted(SGError):
    """A second Ctrl-C/SIGTERM: stop now; the message says which snapshot is the last complete one."""

    exit_code = 130


class StopRequest:
    """Context manager that turns SIGINT/SIGTERM into a flag the training loop polls between steps."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, status: Callable[[], str] | None = None) -> None:
        self.signal_name: str | None = None
        self._status = status
        self._previous: dict[int, object] = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.signal_name is None:
            self.signal_name = name
            return
        self._restore()  # a third signal gets the default behaviour
        what = self._status() if self._status is not None else "the snapshot in progress was not written"
        raise Interrupted(f"stopped at once by a second {name}: {what}")

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # handlers can only be set there
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __exit__(self, *exc: object) -> None:
        self._restore()
