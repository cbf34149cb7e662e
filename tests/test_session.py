"""The session (inputs started, polled, stopped in order) and the status snapshot."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from frames import run_frames
from PIL import Image

from app.bench.common import show_of
from app.clock import FakeTime, FrameClock
from app.cues.commands import build
from app.player import Player
from app.render.outputs import HeadlessOutput
from app.session import Input, Session
from app.status import InputStatus, Status


class FakeInput:
    """An input of the session protocol: records its calls, sends one GO on its 2nd poll."""

    def __init__(self, player: Player) -> None:
        self.player = player
        self.calls: list[str] = []

    def start(self) -> FakeInput:
        self.calls.append("start")
        return self

    def poll(self, t: float) -> None:
        self.calls.append("poll")
        if self.calls.count("poll") == 2:
            self.player.put(build("go", source="web", detail="button"))

    def status(self) -> InputStatus:
        return InputStatus("web", clients=("127.0.0.1:1",))

    def close(self) -> None:
        self.calls.append("close")


@pytest.fixture
def player(tmp_path: Path) -> Any:
    media = []
    for name, rgb in (("a", (200, 0, 0)), ("b", (0, 200, 0))):
        Image.new("RGB", (16, 9), rgb).save(tmp_path / f"{name}.png")
        media.append(tmp_path / f"{name}.png")
    show = show_of(media, width=16, height=9, fps=30.0, fade=0.0)
    fake = FakeTime()
    out = HeadlessOutput(16, 9)
    p = Player(show, out, clock=FrameClock(fake, fake.sleep), offline=True)
    yield p
    p.close()
    out.close()


def test_inputs_start_poll_report_and_close(player: Player) -> None:
    session = Session(player)
    inp = FakeInput(player)
    assert isinstance(inp, Input)
    session.add_input(inp)
    heard: list[Status] = []
    session.add_listener(heard.append)
    session.run(frames=4, status=False)
    status = player.status
    assert status.frame == 3 and status.live_id == "1.1" and status.standby_id == "1.2"
    assert status.last_source == "web"
    assert status.inputs == (InputStatus("web", clients=("127.0.0.1:1",)),)
    # listeners hear the first frame and each change, not every frame
    assert [s.live_id for s in heard] == [None, "1.1"]
    session.close()
    assert inp.calls[0] == "start" and inp.calls[-1] == "close" and inp.calls.count("poll") == 4


def test_status_is_immutable_and_replaced_each_frame(player: Player) -> None:
    Session(player).run(frames=1, status=False)
    first = player.status
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.master = 0.5  # type: ignore[misc]
    player.put(build("master", [0.5], source="test"))
    player.put(build("standby", ["9"], source="test"))  # refused: the note is in the status
    run_frames(player)  # the same loop goes on: its next frame
    assert player.status is not first and first.master == 1.0
    assert player.status.master == 0.5
    assert player.status.last_note == "STANDBY ignored: no poem '9'"
    assert player.status.layer(1).opacity == 1.0 and "live 1.1" not in player.status.line()


class SplitReads(FrameClock):
    """Frame k's first reading of the clock gives k/fps; every later reading in that frame
    gives k/fps + EPS: time passing between the loop's poll of its inputs and the frame."""

    EPS = 0.004

    def __init__(self) -> None:
        super().__init__(lambda: 0.0, lambda seconds: None)
        self.base = 0.0
        self.read = False

    def start(self) -> None:
        self.frame, self.base, self.read = 0, 0.0, False

    def time(self) -> float:
        t = self.base + (self.EPS if self.read else 0.0)
        self.read = True
        return t

    def wait_next_frame(self, fps: float) -> float:
        self.frame += 1
        self.base, self.read = self.frame / fps, False
        return self.base


def test_a_go_due_while_the_inputs_are_polled_is_logged_at_a_frame_that_shows_it(
    tmp_path: Path,
) -> None:
    """A GO due after the loop polled its inputs but before the frame read the clock again
    waits for the next frame; the event log must then not say it fired at a frame that
    does not show it (the frame is drawn at the time its inputs were polled at)."""
    from app.eventlog import EventLog, read_log

    Image.new("RGB", (16, 9), (200, 0, 0)).save(tmp_path / "a.png")
    show = show_of([tmp_path / "a.png"], width=16, height=9, fps=30.0, fade=0.0)
    out = HeadlessOutput(16, 9)
    log = tmp_path / "run.jsonl"
    player = Player(show, out, clock=SplitReads(), log=EventLog(log), offline=True)
    try:
        due = 3 / 30 + SplitReads.EPS / 2  # between frame 3's poll and its second reading
        run_frames(player, 6, script=[(due, build("go", source="script"))])
    finally:
        player.close()
        out.close()
    records = read_log(log)
    fired = [r for r in records if r["event"] == "cue"]
    assert [r["cue"] for r in fired] == [show.cues[0].id]
    frames = [r for r in records if r["event"] == "frame"]
    first = next(f for f in frames if f["t"] >= fired[0]["t"])
    assert [layer["cue"] for layer in first["layers"]] == [show.cues[0].id], (fired, first)
