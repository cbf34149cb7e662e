"""The terminal on stage: Ctrl-C and SIGTERM end the show cleanly, and the status line fits.

`StopGuard` turns signals into a request the frame loop reads once a frame (a signal handler
never raises into the loop, so nothing is left half-closed and no traceback is printed):

- the first Ctrl-C (SIGINT) only says "press Ctrl-C again within 2 s to end the show" (on
  stderr, and as the status line's hint) and the show goes on; a second one within
  `CONFIRM_SECONDS` asks the loop to stop;
- SIGTERM asks it to stop at once (a service manager, `kill`).

The session then closes everything in order (inputs, recording, outputs) and `play` exits 0.

`fit_line(text, columns)` cuts a status line to the terminal's width so that it never
wraps (a wrapped line would scroll the console address and QR code away at every update).
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, TextIO

CONFIRM_SECONDS = 2.0
FIRST_PRESS = "press Ctrl-C again within 2 s to end the show"


class StopGuard:
    """Ctrl-C twice / SIGTERM -> `requested` (see the module docstring). `clock` is monotonic
    seconds (injectable); `out` receives the one-line messages."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, out: TextIO | None = None
    ) -> None:
        self._clock = clock
        self._out = out
        self.requested = False
        self.reason = ""
        self._first_at: float | None = None
        self._saved: dict[int, Any] = {}

    def interrupt(self) -> None:
        """One Ctrl-C: a warning the first time, a stop request when confirmed in time."""
        now = self._clock()
        if self.requested:
            return
        if self._first_at is not None and 0 <= now - self._first_at <= CONFIRM_SECONDS:
            self.stop("Ctrl-C")
            return
        self._first_at = now
        self._say(FIRST_PRESS)

    def stop(self, reason: str) -> None:
        """Ask the loop to end the show."""
        if not self.requested:
            self.requested = True
            self.reason = reason
            self._say(f"{reason}: ending the show")

    def hint(self) -> str:
        """The status line's hint while a first Ctrl-C waits for its second ("" otherwise)."""
        if self._first_at is None or self.requested:
            return ""
        return FIRST_PRESS if 0 <= self._clock() - self._first_at <= CONFIRM_SECONDS else ""

    def _say(self, message: str) -> None:
        out = self._out or sys.stderr
        try:
            print(f"\n{message}", file=out, flush=True)
        except (OSError, ValueError):
            pass  # a closed terminal must not take the show down

    # -- signal handlers (main thread only)

    def install(self) -> StopGuard:
        """Take SIGINT and SIGTERM until `uninstall()`."""
        self._saved[signal.SIGINT] = signal.signal(signal.SIGINT, self._on_signal)
        self._saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, self._on_signal)
        return self

    def uninstall(self) -> None:
        """Give the signals back to the handlers they had before `install()`."""
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)
        self._saved.clear()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGINT:
            self.interrupt()
        else:
            self.stop(signal.Signals(signum).name)


def terminal_columns() -> int:
    """The terminal's width in characters (`COLUMNS` wins; 80 when it cannot be told)."""
    return shutil.get_terminal_size((80, 24)).columns


def fit_line(text: str, columns: int) -> str:
    """`text` cut (ending in "...") and padded to `columns - 1` characters: written after a
    carriage return it replaces the previous line and never reaches the last column, where
    some terminals wrap."""
    width = max(1, columns - 1)
    if len(text) > width:
        text = text[: max(0, width - 3)] + "..."[:width]
    return text.ljust(width)
