"""What keeps the console truthful about the show (pure functions and small value objects).

- Deadlines. Every command carries one: the page stamps it with its own clock (`sent`, ms of
  `performance.now()`) and a time to live (`ttl`, ms). The server turns that into a moment on
  the machine's monotonic clock (shared by the console server's process and the show's) with
  the page's clock offset learned from its pings (`ClockSync`), so a command that sat in a
  held Wi-Fi buffer arrives already expired. The show's main loop refuses a command whose
  deadline has passed (`late`): it is never applied late. The server answers "not applied"
  once the deadline and a grace period have passed without an acknowledgement.
- Probes. A ping goes through the show's main loop and back (page -> console server -> show
  loop -> console server -> page), so the round trip the page shows is the one a command
  takes, and a stalled show loop shows as no pong at all.
"""

from __future__ import annotations

from collections import deque

DEFAULT_TTL = 1.0  # seconds a command may take to reach the show loop (GO, BACK, ...)
MIN_TTL = 0.05
MAX_TTL = 2.0
GRACE = 0.4  # seconds after a deadline before the server says "not applied"
SYNC_SAMPLES = 30  # pings whose offsets are remembered (30 s at one a second)


def clamp_ttl(ttl_ms: float | None) -> float:
    """A page's time to live (ms) as seconds within [MIN_TTL, MAX_TTL]; DEFAULT_TTL if None."""
    if ttl_ms is None:
        return DEFAULT_TTL
    return min(MAX_TTL, max(MIN_TTL, ttl_ms / 1000.0))


class ClockSync:
    """The offset from a page's clock (ms) to the monotonic clock (s), from its pings.

    Each ping gives `received - sent`, the true offset plus that message's one-way delay;
    the smallest of the recent ones is the best estimate (it had the least delay). A
    message's send time on our clock is then never later than it really was, so a deadline
    derived from it is never later either.
    """

    def __init__(self) -> None:
        self._samples: deque[float] = deque(maxlen=SYNC_SAMPLES)

    def sample(self, received: float, sent_ms: float | None) -> None:
        if sent_ms is not None:
            self._samples.append(received - sent_ms / 1000.0)

    @property
    def offset(self) -> float | None:
        return min(self._samples) if self._samples else None

    def deadline(self, received: float, sent_ms: float | None, ttl_ms: float | None) -> float:
        """The moment (monotonic seconds) a command received now must be applied by."""
        ttl = clamp_ttl(ttl_ms)
        offset = self.offset
        if sent_ms is None or offset is None:
            return received + ttl
        sent = sent_ms / 1000.0 + offset
        return min(sent, received) + ttl


def late(deadline: float | None, now: float) -> str | None:
    """The refusal of a command applied at `now` with this deadline, or None when in time."""
    if deadline is None or now <= deadline:
        return None
    return f"not applied: it reached the show {now - deadline:.1f} s after its deadline"
