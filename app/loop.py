"""What drives `Session.run` besides a show's inputs: the pieces that let render, the
benches and tests run their frames through the one loop (app/session.py) instead of a loop
of their own.

- `RenderClock`: an offline run's clock; frame n is at exactly n / fps, waiting takes no time.
- `FrameTap`: an input that calls `before(t)` before each frame and `after()` once it is out
  (a render's video writer, a bench's measurement).
- `Steps`: an input that runs a generator a step each frame (a bench's script, one `yield` a
  frame); `done` and `value` once it returned. `Session.run(until=lambda: steps.done)`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from app.clock import FakeTime, FrameClock


class RenderClock(FrameClock):
    """The clock of an offline run: frame n is at exactly n / fps of a fake time, and waiting
    for the next frame takes no time."""

    def __init__(self, fake: FakeTime) -> None:
        super().__init__(fake, fake.sleep)
        self.fake = fake

    def wait_next_frame(self, fps: float) -> float:
        self.frame += 1
        self.fake.t = self._t0 + self.frame / fps
        return self.time()


class FrameTap:
    """An input of `Session.run` that calls `after()` once each frame is out (a render's
    video writer, a bench's measurement) and `before(t)` before each frame."""

    def __init__(
        self, after: Callable[[], None], before: Callable[[float], None] | None = None
    ) -> None:
        self.after, self.before = after, before

    def start(self) -> FrameTap:
        return self

    def poll(self, t: float) -> None:
        if self.before is not None:
            self.before(t)

    def idle(self) -> None:
        self.after()

    def close(self) -> None:
        pass


class Steps:
    """An input of `Session.run` that runs a generator a step at each frame (after the
    frame is out): a bench's or a test's script, one `yield` a frame. `done` once it has
    returned, and `value` is what it returned."""

    def __init__(self, steps: Generator[None, None, Any]) -> None:
        self.steps = steps
        self.done = False
        self.value: Any = None

    def start(self) -> Steps:
        return self

    def poll(self, t: float) -> None:
        pass

    def idle(self) -> None:
        if self.done:
            return
        try:
            next(self.steps)
        except StopIteration as end:
            self.done, self.value = True, end.value

    def close(self) -> None:
        self.steps.close()
