"""One rate-limited log for lines written from a network thread (OSC, web console).

`RateLimitedLog(log, clock)` is called as `limited(kind, message, fields)` from any thread: a
token bucket per `kind` (burst 5, one line a second) lets a flood through as a handful of lines
and counts the rest; the next line of that kind that passes carries `"suppressed": n`. Lines
wait in a bounded queue until `deliver()` hands them to `log(message, fields)` on the caller's
thread (the main loop: the event log is not thread-safe), so the receiving thread never writes
to the log itself. The table of kinds is bounded: past `max_kinds` it is forgotten (a flood
from many spoofed hosts stays bounded).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

Log = Callable[[str, dict[str, Any]], None]

BURST = 5.0  # lines of one kind that may pass at once
RATE = 1.0  # lines a second of one kind after the burst


class RateLimitedLog:
    """Per-kind token bucket in front of a log sink (see the module docstring)."""

    def __init__(
        self, log: Log | None, clock: Callable[[], float], *, max_kinds: int = 1024
    ) -> None:
        self._log = log
        self._clock = clock
        self._max_kinds = max_kinds
        self._buckets: dict[str, list[float]] = {}  # kind -> [tokens, last time, suppressed]
        self._pending: deque[tuple[str, dict[str, Any]]] = deque(maxlen=256)

    def __call__(self, kind: str, message: str, fields: dict[str, Any]) -> None:
        if self._log is None:
            return
        now = self._clock()
        b = self._buckets.get(kind)
        if b is None:
            if len(self._buckets) >= self._max_kinds:
                self._buckets.clear()
            b = self._buckets[kind] = [BURST, now, 0]
        b[0] = min(BURST, b[0] + (now - b[1]) * RATE)
        b[1] = now
        if b[0] < 1.0:
            b[2] += 1
            return
        b[0] -= 1.0
        if b[2]:
            fields = {**fields, "suppressed": int(b[2])}
            b[2] = 0
        self._pending.append((message, fields))

    def deliver(self) -> None:
        """Hand the waiting lines to the sink, on the caller's thread (a failing sink is
        ignored: logging never stops the show)."""
        while self._pending:
            try:
                message, fields = self._pending.popleft()
            except IndexError:
                return
            try:
                self._log(message, fields)  # type: ignore[misc]
            except Exception:
                pass
