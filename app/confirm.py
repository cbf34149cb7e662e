"""A second press to confirm: for inputs whose single stray touch must not act (blackout).

The first press arms the confirmation and acts on nothing; a second press of the same thing
within `window` seconds confirms it. Anything else pressed in between disarms it. Pure: the
clock is passed in (the frame clock, or a test's `FakeTime`).
"""

from __future__ import annotations

from collections.abc import Callable

CONFIRM_WINDOW = 1.0  # seconds between the two presses


class SecondPress:
    """Arms on a first press of `what`, confirms on a second one within `window` seconds."""

    def __init__(self, clock: Callable[[], float], window: float = CONFIRM_WINDOW) -> None:
        self._clock = clock
        self.window = window
        self._armed: tuple[str, float] | None = None

    def press(self, what: str) -> bool:
        """True when this press confirms `what` (then disarmed), False when it only arms it."""
        now = self._clock()
        if (
            self._armed is not None
            and self._armed[0] == what
            and now - self._armed[1] <= self.window
        ):
            self._armed = None
            return True
        self._armed = (what, now)
        return False

    def disarm(self) -> None:
        """Forget a first press (another input came in between)."""
        self._armed = None

    @property
    def armed(self) -> str | None:
        """What a first press armed, while a second one would still confirm it; else None."""
        if self._armed is not None and self._clock() - self._armed[1] <= self.window:
            return self._armed[0]
        return None
