"""The frames of a test, run by the show's one loop (`Session.run`), never by a loop of the
test's own (issue 21: nothing but `Session.run` calls `Player.step`; tests/test_one_loop.py).

`run_frames(player, n)` runs `n` more frames through `Session.run`: scripted actions fed at
their times, the inputs polled, the keys read, the frame drawn, the inputs' `idle()`, then
the wait for the next frame on the player's own clock. A later call goes on from the show
time reached. With `FrameClock(fake, fake.sleep)` each frame moves the fake time on to the
next frame boundary (as `step(); fake.advance(1 / fps)` did); with `hand_clock(fake)` the
wait takes no time and the test moves the time itself (`fake.t = ...`, `fake.advance`).
`run_steps(player, script())` runs a test's script as a generator, one `yield` a frame.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable
from typing import Any

from app.clock import FakeTime, FrameClock
from app.cues.actions import Action
from app.loop import Steps
from app.player import Player
from app.session import Session


class HandClock(FrameClock):
    """A test's clock: show time is the fake time as the test sets it (`fake.t = ...`,
    `fake.advance`), from the loop's start too, and waiting for the next frame takes no
    time."""

    def __init__(self, fake: FakeTime) -> None:
        super().__init__(fake, fake.sleep)
        self._t0 = 0.0

    def start(self) -> None:
        self.frame = 0

    def wait_next_frame(self, fps: float) -> float:
        self.frame += 1
        return self.time()


def hand_clock(fake: FakeTime) -> FrameClock:
    """A `HandClock` on `fake`: the test sets the time of each frame by hand."""
    return HandClock(fake)


def run_frames(
    player: Player,
    n: int | None = 1,
    script: Iterable[tuple[float, Action]] = (),
    *,
    inputs: Iterable[Any] = (),
    until: Callable[[], bool] | None = None,
) -> None:
    """Run `n` more frames of `player` (None: until `until()` says so) through
    `Session.run` with `inputs` (started already; they stay open) and `script`; the last
    frame's snapshot is `player.status`."""
    session = Session(player, inputs=inputs)
    frames = None if n is None else player.frame + n
    session.run(script, frames=frames, status=False, until=until)


def run_steps(
    player: Player, steps: Generator[None, None, Any], *, inputs: Iterable[Any] = ()
) -> Any:
    """Run frames of `player` through `Session.run` until `steps` returns, and return its
    value. `steps` runs up to its first `yield` before the first frame, then on to its
    next `yield` after each frame: the code between two yields sees the frame just drawn
    (the pixels, the status) and sets up the next one."""
    try:
        next(steps)
    except StopIteration as end:
        return end.value
    script = Steps(steps)
    run_frames(player, None, inputs=[*inputs, script], until=lambda: script.done)
    return script.value
