"""Stopping a training run cleanly on Ctrl-C or a scheduler's SIGTERM.

Inside :class:`StopRequests` the first SIGINT or SIGTERM only sets a flag:
the trainer finishes the current step, saves a checkpoint and stops, so the
run can be resumed. A second signal interrupts at once (the last checkpoint
stays). Outside the main thread (where handlers cannot be installed) the
default behaviour is kept.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

HANDLED = (signal.SIGINT, signal.SIGTERM)


class StopRequests:
    def __init__(self) -> None:
        self.stop = False
        self.signal_name = ""
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.stop:  # asked twice: stop now
            raise KeyboardInterrupt
        self.stop = True
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in HANDLED:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
