"""The frame clock: one injectable, monotonic time source for the whole runtime.

Tests pass a fake time function (or drive `FakeTime`) and never sleep.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class FrameClock:
    """Show time in seconds since `start()`, and frame pacing.

    `time_function` defaults to `time.perf_counter` (monotonic). `sleep` is used only by
    `wait_next_frame`, for outputs without vsync (headless real-time play).
    """

    def __init__(
        self,
        time_function: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._now = time_function
        self._sleep = sleep
        self._t0 = time_function()
        self.frame = 0

    def start(self) -> None:
        """Make now show time zero."""
        self._t0 = self._now()
        self.frame = 0

    def time(self) -> float:
        """Seconds of show time."""
        return self._now() - self._t0

    def wait_next_frame(self, fps: float) -> float:
        """Sleep until the next frame boundary at `fps` and return the show time."""
        now = self.time()
        target = (self.frame + 1) / fps
        if now - target > 1.0 / fps:
            # More than a frame late: skip the missed slots instead of racing to catch up,
            # which would show a burst of frames after every stall.
            self.frame = int(now * fps)
            target = (self.frame + 1) / fps
        delay = target - now
        if delay > 0:
            self._sleep(delay)
        self.frame += 1
        return self.time()


class FakeTime:
    """A time function that tests (and offline renders) advance by hand."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt

    def sleep(self, dt: float) -> None:
        """Stand-in for `time.sleep`: advances instead of waiting."""
        self.t += max(0.0, dt)
