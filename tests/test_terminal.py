"""The terminal on stage: Ctrl-C twice (not once) and SIGTERM end a real `play` cleanly; the
status line fits the terminal; `dropped` never goes down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from PIL import Image

from app.control.terminal import FIRST_PRESS, StopGuard, fit_line
from app.eventlog import read_log
from app.status import Status

REPO = Path(__file__).resolve().parent.parent


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_first_ctrl_c_warns_second_within_two_seconds_stops() -> None:
    clock, out = Clock(), _Sink()
    guard = StopGuard(clock, out)  # type: ignore[arg-type]
    guard.interrupt()
    assert not guard.requested and guard.hint() == FIRST_PRESS and FIRST_PRESS in out.text
    clock.t += 2.5  # too late: this one only warns again
    assert guard.hint() == ""
    guard.interrupt()
    assert not guard.requested
    clock.t += 1.0
    guard.interrupt()
    assert guard.requested and guard.reason == "Ctrl-C" and guard.hint() == ""


def test_sigterm_stops_at_once() -> None:
    guard = StopGuard(Clock(), _Sink())  # type: ignore[arg-type]
    guard.stop("SIGTERM")
    assert guard.requested and guard.reason == "SIGTERM"


def test_status_line_fits_the_terminal() -> None:
    status = Status(
        poem="12",
        live_id="12.3",
        standby_id="12.4",
        fps=59.9,
        dropped=123456,
        last_source="osc",
        hint=FIRST_PRESS,
        warnings=("osc refused: not on the allow-list: 10.0.0.99",),
    )
    assert len(status.line()) > 80
    for columns in (80, 100, 120, 20):
        line = fit_line(status.line(), columns)
        assert len(line) == columns - 1 and "\n" not in line
    assert fit_line("short", 80) == "short".ljust(79)


class _Sink:
    def __init__(self) -> None:
        self.text = ""

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


def test_dropped_never_goes_down_when_a_video_leaves(tmp_path: Path) -> None:
    from app.bench.common import show_of
    from app.render.outputs import HeadlessOutput
    from app.render.pool import MediaPool, _Slot

    class Video:
        dropped = 7

        def close(self) -> None:
            pass

    still = tmp_path / "a.png"
    Image.fromarray(np.zeros((36, 64, 3), np.uint8)).save(still)
    show = show_of([still], width=64, height=36, fps=30.0)
    out = HeadlessOutput(64, 36)
    pool = MediaPool(out.ctx, show)
    try:
        slot = _Slot(show.cues[0])
        slot.video = Video()  # type: ignore[assignment]
        pool._slots[0] = slot
        assert pool.dropped_video_frames == 7
        pool._release_unused(set())  # the video left the mix
        assert pool.dropped_video_frames == 7
    finally:
        pool.close()
        out.close()


# --- a real `play` ---------------------------------------------------------------------


def _show(tmp_path: Path) -> Path:
    for name, rgb in (("a", (200, 0, 0)), ("b", (0, 0, 200))):
        Image.fromarray(np.full((36, 64, 3), rgb, np.uint8)).save(tmp_path / f"{name}.png")
    path = tmp_path / "show.yaml"
    path.write_text(
        "title: signals\nmedia_root: .\noutput: {width: 64, height: 36, fps: 30}\n"
        "poems:\n  - id: '1'\n    title: one\n    cues:\n"
        "      - {id: '1.1', media: a.png}\n      - {id: '1.2', media: b.png}\n"
    )
    return path


class Play:
    """`python -m app play` headless with OSC, the web console and a recording."""

    def __init__(self, tmp_path: Path) -> None:
        self.log = tmp_path / "run.jsonl"
        self.record = tmp_path / "rec.mp4"
        cmd = [
            sys.executable,
            "-m",
            "app",
            "play",
            str(_show(tmp_path)),
            "--headless",
            "--script",
            "0:go",
            "--event-log",
            str(self.log),
            "--record",
            str(self.record),
            "--osc-host",
            "127.0.0.1",
            "--osc-port",
            "0",
            "--web-host",
            "127.0.0.1",
            "--web-port",
            "0",
            "--no-gamepad",
        ]
        env = {**os.environ, "COLUMNS": "80"}
        self.proc = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.err = ""
        self.warned = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        while True:
            chunk = self.proc.stderr.read(1)
            if not chunk:
                return
            self.err += chunk
            if FIRST_PRESS in self.err:
                self.warned.set()

    def frames(self) -> int:
        if not self.log.exists():
            return 0
        return sum(1 for line in self.log.read_text().splitlines() if '"event":"frame"' in line)

    def wait_frames(self, n: int, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while self.frames() < n:
            assert self.proc.poll() is None, self.err[-3000:]
            assert time.monotonic() < deadline, self.err[-3000:]
            time.sleep(0.05)

    def children(self) -> list[int]:
        pids: list[int] = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            text = (task / "children").read_text().split()
            pids += [int(p) for p in text]
        return pids

    def finish(self, timeout: float = 120.0) -> int:
        rc = self.proc.wait(timeout)
        self._reader.join(10.0)
        return rc


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def _check_clean_end(play: Play, rc: int, children: list[int]) -> None:
    assert rc == 0, play.err[-3000:]
    assert "Traceback" not in play.err, play.err[-3000:]
    assert all(_gone(pid) for pid in children), children
    records = read_log(play.log)
    assert any(r["event"] == "info" and "recording: wrote" in r["message"] for r in records)
    from app.media.probe import probe

    info = probe(play.record)
    assert info.error is None and info.width == 64, info
    # the status line never wraps an 80-column terminal
    lines = [s for s in play.err.replace("\r", "\n").split("\n") if s.startswith("poem ")]
    assert lines and max(len(s) for s in lines) <= 80


def test_ctrl_c_once_goes_on_twice_ends_cleanly(tmp_path: Path) -> None:
    play = Play(tmp_path)
    try:
        play.wait_frames(5)
        children = play.children()
        assert children  # the web console's process
        play.proc.send_signal(signal.SIGINT)
        assert play.warned.wait(60.0), play.err[-3000:]
        shown = play.frames()
        play.wait_frames(shown + 10)  # the show goes on
        assert play.proc.poll() is None
        play.proc.send_signal(signal.SIGINT)
        play.proc.send_signal(signal.SIGINT)
        rc = play.finish()
    finally:
        if play.proc.poll() is None:
            play.proc.kill()
            play.proc.wait()
    _check_clean_end(play, rc, children)
    assert "Ctrl-C: ending the show" in play.err


def test_sigterm_ends_cleanly(tmp_path: Path) -> None:
    play = Play(tmp_path)
    try:
        play.wait_frames(5)
        children = play.children()
        play.proc.send_signal(signal.SIGTERM)
        rc = play.finish()
    finally:
        if play.proc.poll() is None:
            play.proc.kill()
            play.proc.wait()
    _check_clean_end(play, rc, children)
    assert "SIGTERM: ending the show" in play.err
