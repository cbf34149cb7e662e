"""The reference recording's parts without an audio server: the position math, the
transport driven through its audio callback by hand (a stand-in stream that only starts and
stops; tests/test_rehearse_reference.py plays through a real one), decoding, the bindings,
and the rehearsal input on a real player (capture, ghost, override, jump to a poem, retime).
"""

from __future__ import annotations

import argparse
import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from frames import run_frames
from PIL import Image

from app.clock import FakeTime
from app.control.keyboard import KeyboardMapper
from app.control.osc import message_to_action
from app.cues.actions import Retime, TransportPoem, TransportSeek, TransportToggle
from app.cues.commands import build, parse
from app.eventlog import EventLog, read_log
from app.rehearse.cuetimes import RecordingTimes, cuetimes_path, read_recording
from app.rehearse.recording import (
    RecordingError,
    decode_recording,
    peaks,
    probe_recording,
)
from app.rehearse.reference import PREROLL, Reference, ReferenceError, open_reference
from app.rehearse.transport import (
    BLOCK,
    AudioTransport,
    Mark,
    ReferenceClock,
    heard_position,
)
from app.render.window import KeyEvent
from app.show.loader import ShowError, load_show

RATE = 1000  # samples a second: whole numbers everywhere


class _Stream:
    """Stands in for the output stream: the test calls the callback itself."""

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


def _transport(seconds: float, wall: FakeTime) -> AudioTransport:
    tr = AudioTransport(RATE, 1, stream_factory=_Stream, wall=wall)
    tr.open()
    tr.load(np.ones((int(seconds * RATE), 1), np.int16))
    return tr


def _block(tr: AudioTransport, wall: FakeTime, latency: float = 0.0, frames: int = 100) -> None:
    """One audio callback at the wall clock's time, then the wall clock moves on by the
    block's length (a device consuming in real time)."""
    out = np.zeros((frames, 1), np.float32)
    when = SimpleNamespace(currentTime=wall.t, outputBufferDacTime=wall.t + latency)
    tr._callback(out, frames, when, None)
    wall.advance(frames / RATE)


def test_heard_position_allows_for_latency_and_stops_at_the_block_end() -> None:
    mark = Mark(gen=1, start=2000, frames=100, wall=10.0, latency=0.05)
    assert heard_position(mark, 10.0, RATE) == pytest.approx(1.95)  # the earlier block
    assert heard_position(mark, 10.08, RATE) == pytest.approx(2.03)
    assert heard_position(mark, 11.0, RATE) == pytest.approx(2.1)  # stalled: held


def test_transport_position_play_pause_seek_and_end() -> None:
    wall = FakeTime(100.0)
    tr = _transport(2.0, wall)
    assert tr.position() == 0.0 and tr.show_time() == 0.0
    _block(tr, wall)  # not playing yet: silence, the clock stands
    assert tr.position() == 0.0
    tr.play()
    for _ in range(5):
        _block(tr, wall)
    assert tr.position() == pytest.approx(0.5)
    assert tr.playing
    tr.pause()
    held = tr.position()
    for _ in range(3):
        _block(tr, wall)
    assert tr.position() == held and tr.show_time() == pytest.approx(held)
    tr.play()  # resumes where it was heard, not where the callback had read to
    _block(tr, wall)
    assert tr.position() == pytest.approx(held + 0.1)
    show_before = tr.show_time()
    tr.seek(1.5)  # the recording moves; the show clock does not jump
    assert tr.position() == 1.5
    assert tr.show_time() == pytest.approx(show_before)
    _block(tr, wall)
    assert tr.position() == pytest.approx(1.6)
    assert tr.show_time() == pytest.approx(show_before + 0.1)
    tr.seek(0.2)  # back: the show clock still goes on, never back
    assert tr.show_time() == pytest.approx(show_before + 0.1)
    tr.seek(1.9)
    for _ in range(5):
        _block(tr, wall)
    assert tr.position() == pytest.approx(2.0)  # the end, heard in full
    assert not tr.playing
    tr.close()


def test_transport_clock_allows_for_the_output_latency_and_holds_on_a_stall() -> None:
    wall = FakeTime(5.0)
    tr = _transport(10.0, wall)
    tr.play()
    _block(tr, wall, latency=0.05)
    _block(tr, wall, latency=0.05)
    assert tr.position() == pytest.approx(0.15)  # written 0.2 s, heard 0.05 s later
    wall.advance(3.0)  # the device stalls: no callback, the clock holds
    assert tr.position() == pytest.approx(0.2)
    samples = np.arange(BLOCK, dtype=np.int16).reshape(-1, 1)
    tr.load(samples)
    tr.seek(0.0)
    out = np.zeros((BLOCK, 1), np.float32)
    tr._callback(out, BLOCK, SimpleNamespace(currentTime=0, outputBufferDacTime=0), None)
    assert out[:, 0] == pytest.approx(samples[:, 0] / 32768)  # the samples go out


def _wav(path: Path, seconds: float, rate: int = 8000, channels: int = 2) -> Path:
    n = int(seconds * rate)
    ramp = (np.linspace(-0.5, 0.5, n) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(ramp[:, None], channels, axis=1).tobytes())
    return path


def test_decode_probe_and_peaks(tmp_path: Path) -> None:
    info = probe_recording(_wav(tmp_path / "r.wav", 1.5))
    assert (info.rate, info.channels) == (8000, 2)
    assert info.duration == pytest.approx(1.5)
    samples = decode_recording(info)
    assert samples.shape == (12000, 2) and samples.dtype == np.int16
    strip = peaks(samples, 10)
    assert len(strip) == 10 and strip[0] > strip[4] and strip[-1] > strip[5]
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    with pytest.raises(RecordingError, match="notes.wav"):
        probe_recording(bad)
    with pytest.raises(RecordingError, match="no such file"):
        probe_recording(tmp_path / "missing.flac")


def test_every_input_has_the_transport_commands() -> None:
    assert message_to_action("/transport/seek", [12.5]) == TransportSeek(seconds=12.5, source="osc")
    assert isinstance(message_to_action("/transport/toggle", [1]), TransportToggle)
    assert message_to_action("/transport/poem", ["3"]) == TransportPoem(poem="3", source="osc")
    assert message_to_action("/cuetime", ["1.2", 3.5]) == Retime(
        cue="1.2", seconds=3.5, source="osc"
    )
    keys = KeyboardMapper()
    assert isinstance(keys.handle(KeyEvent("k", "press")), TransportToggle)
    assert keys.handle(KeyEvent("j", "press")).seconds == -5  # type: ignore[union-attr]
    assert isinstance(keys.handle(KeyEvent("home", "press")), TransportPoem)
    assert parse("cue_time 2.1 40", source="script") == Retime(cue="2.1", seconds=40.0)
    with pytest.raises(ValueError, match="out of range"):
        parse("transport_seek -1", source="script")


# --- the rehearsal input on a real player ---------------------------------------------------


def _show(folder: Path) -> Path:
    Image.new("RGB", (16, 9), (200, 0, 0)).save(folder / "a.png")
    show = folder / "show.yaml"
    show.write_text(
        "title: T\noutput: {width: 32, height: 18, fps: 10}\n"
        "defaults: {fade: 0, go_guard: 0}\nmedia_root: .\npoems:\n"
        '  - id: "1"\n    cues:\n      - {id: "1.1", media: a.png}\n'
        '      - {id: "1.2", media: a.png}\n'
        '  - id: "2"\n    cues:\n      - {id: "2.1", media: a.png}\n'
        '      - {id: "2.2", media: a.png}\n'
    )
    _wav(folder / "rec.wav", 10.0, rate=RATE, channels=1)
    return show


class Rig:
    """A player on a headless output whose clock is a reference transport driven by hand."""

    def __init__(self, folder: Path, ctx: Any, *, ghost: bool = False) -> None:
        from app.player import Player
        from app.render.outputs import HeadlessOutput

        self.show_path = _show(folder)
        args = argparse.Namespace(reference=folder / "rec.wav", cuetimes=ghost)
        show = load_show(self.show_path)
        reference = open_reference(args, show)
        assert reference is not None
        self.wall = FakeTime(50.0)
        tr = AudioTransport(RATE, 1, stream_factory=_Stream, wall=self.wall)
        self.ref = Reference(
            self.show_path,
            reference.info,
            reference.times,
            ghost=ghost,
            transport=tr,
            decode=lambda info: np.zeros((10 * RATE, 1), np.int16),
        )
        self.log_path = folder / "run.jsonl"
        self.out = HeadlessOutput(32, 18, ctx=ctx)
        # the rehearsal's clock, its frames paced on the fake wall clock: waiting for the
        # next frame takes no time (the audio callbacks move the time)
        clock = ReferenceClock(tr, wall=self.wall, sleep=lambda seconds: None)
        self.player = Player(show, self.out, clock=clock, log=EventLog(self.log_path))
        self.ref.attach(self.player).start()
        self.ref._decoder.join()  # type: ignore[union-attr]
        clock.start()  # plays

    def frame(self, seconds: float = 0.1) -> float:
        """The audio plays `seconds` (one callback), then one frame of the show's loop
        (the reference polled, the frame drawn); the show time of that frame."""
        _block(self.ref.transport, self.wall, frames=int(round(seconds * RATE)))
        t = self.player.clock.time()
        run_frames(self.player, inputs=[self.ref])
        return t

    def until(self, position: float) -> None:
        while self.ref.transport.position() < position - 1e-9:
            self.frame()

    def close(self) -> list[dict[str, Any]]:
        self.ref.close()
        self.player.close()
        self.out.close()
        return read_log(self.log_path)


def test_gos_are_captured_and_the_file_written(tmp_path: Path, ctx: Any) -> None:
    rig = Rig(tmp_path, ctx)
    rig.until(1.0)
    rig.player.put(build("go", (), source="key"))  # at its arrival: position 1.0
    rig.until(2.4)
    # the audio plays on to 2.5 before the next frame; the GO arrived between the frames, at
    # 2.45: it is captured at its own time, not at the frame's
    _block(rig.ref.transport, rig.wall, frames=int(round(0.1 * RATE)))
    rig.player.put(build("go", (), source="osc"), rig.player.clock.time() - 0.05)
    rig.until(3.0)
    rig.player.put(build("cue_time", ("1.1", 0.75), source="web"))
    rig.frame()
    records = rig.close()  # the writer writes what waits before it stops
    times = read_recording(rig.show_path, tmp_path / "rec.wav")
    assert times.at("1.1") == 0.75 and times.at("1.2") == pytest.approx(2.45)
    assert times.duration == 10.0
    assert [(r["cue"], r["how"]) for r in records if r["event"] == "cuetime"] == [
        ("1.1", "captured"),
        ("1.2", "captured"),
        ("1.1", "web"),
    ]


def test_jump_to_a_poem_moves_the_recording_and_standby(tmp_path: Path, ctx: Any) -> None:
    times = RecordingTimes("rec.wav").with_time("1.1", 1.0).with_time("2.1", 6.0)
    from app.rehearse.cuetimes import write_recording

    write_recording(cuetimes_path(_show(tmp_path)), times)
    rig = Rig(tmp_path, ctx)
    rig.until(0.5)
    show_t = rig.player.clock.time()
    rig.player.put(build("transport_poem", ("2",), source="osc"))
    rig.frame(0.0)
    rig.frame(0.0)  # the standby the jump queued is applied
    assert rig.ref.transport.position() == pytest.approx(6.0 - PREROLL)
    assert rig.player.state.standby == 2  # cue 2.1
    assert rig.player.clock.time() == pytest.approx(show_t)  # the show clock did not jump
    rig.player.put(build("transport_poem", (), source="key"))  # standby's poem: 2 again
    rig.frame(0.0)
    rig.player.put(build("standby", ("1", "1.2"), source="key"))
    rig.frame(0.0)
    rig.player.put(build("transport_poem", (), source="key"))  # poem 1: 1.1 at 1.0
    rig.frame(0.0)
    assert rig.ref.transport.position() == pytest.approx(0.0)  # 1.0 - 2 s, clamped
    rig.player.put(TransportPoem(poem="9", source="key"))
    rig.frame(0.0)
    assert "no poem '9'" in rig.player.last_note
    rig.player.put(build("transport_pause", (), source="web"))
    rig.frame()
    held = rig.player.clock.time()
    rig.frame()
    assert rig.player.clock.time() == held and not rig.ref.transport.playing
    rig.close()


def test_ghost_fires_the_captured_gos_and_the_performer_overrides(tmp_path: Path, ctx: Any) -> None:
    from app.rehearse.cuetimes import write_recording

    times = RecordingTimes("rec.wav")
    for cue, at in (("1.1", 1.0), ("1.2", 2.03), ("2.1", 3.0), ("2.2", 4.0)):
        times = times.with_time(cue, at)
    write_recording(cuetimes_path(_show(tmp_path)), times)
    rig = Rig(tmp_path, ctx, ghost=True)
    rig.until(2.5)
    rig.player.put(build("go", (), source="key"))  # the performer fires 2.1 early, at 2.5
    rig.until(4.5)
    # back to 0.5 s: the ghost fires the cues again as the recording passes them (the show
    # clock went on: each at its captured time plus the seek's offset)
    rig.player.put(build("transport_seek", (0.5,), source="osc"))
    rig.frame(0.0)
    offset = rig.ref.transport.offset
    assert offset == pytest.approx(4.0)
    rig.until(2.1)
    records = rig.close()
    cues = [(r["cue"], r["t"]) for r in records if r["event"] == "cue"]
    assert cues == [
        ("1.1", 1.0),
        ("1.2", 2.03),
        ("2.1", pytest.approx(2.5)),
        ("2.2", 4.0),
        ("1.1", pytest.approx(1.0 + offset)),
        ("1.2", pytest.approx(2.03 + offset)),
    ]
    sources = [r["source"] for r in records if r["event"] == "action" and r["action"] == "GO"]
    assert sources == ["ghost", "ghost", "key", "ghost", "ghost", "ghost"]
    # the performer's GO retimed 2.1; the ghost's did not touch the others
    assert read_recording(rig.show_path, tmp_path / "rec.wav").at("2.1") == pytest.approx(2.5)
    assert read_recording(rig.show_path, tmp_path / "rec.wav").at("1.2") == 2.03


def test_open_reference_refuses_with_reasons(tmp_path: Path) -> None:
    show = load_show(_show(tmp_path))
    none = argparse.Namespace(reference=None, cuetimes=False)
    assert open_reference(none, show) is None
    with pytest.raises(ReferenceError, match="give --reference"):
        open_reference(argparse.Namespace(reference=None, cuetimes=True), show)
    with pytest.raises(ReferenceError, match="no cue times for rec.wav"):
        open_reference(argparse.Namespace(reference=tmp_path / "rec.wav", cuetimes=True), show)
    fake = argparse.Namespace(reference=tmp_path / "rec.wav", cuetimes=False, fake_clock=True)
    with pytest.raises(ReferenceError, match="fake-clock"):
        open_reference(fake, show)
    cuetimes_path(show.path).write_text("recordings:\n  rec.wav: [1, 2]\n")
    with pytest.raises(ReferenceError, match=r"show.cuetimes.yaml:2: recording rec.wav"):
        open_reference(argparse.Namespace(reference=tmp_path / "rec.wav"), show)


def test_a_show_names_its_reference(tmp_path: Path) -> None:
    path = _show(tmp_path)
    text = path.read_text().replace("media_root: .\n", "media_root: .\nreference: rec.wav\n")
    path.write_text(text)
    assert load_show(path).reference == (tmp_path / "rec.wav").resolve()
    path.write_text(text.replace("reference: rec.wav", "reference: gone.flac"))
    with pytest.raises(ShowError, match=r"show.yaml:5: reference: recording not found"):
        load_show(path)


def test_check_probes_the_reference_and_reads_the_cue_times(tmp_path: Path) -> None:
    from app.show.check import check_show

    path = _show(tmp_path)
    (tmp_path / "bad.mp3").write_text("not audio")
    text = path.read_text().replace("media_root: .\n", "media_root: .\nreference: bad.mp3\n")
    path.write_text(text)
    cuetimes_path(path).write_text('recordings:\n  rec.wav: {cues: {"1.1": -3}}\n')
    problems = check_show(path).problems
    assert any("reference:" in p and "bad.mp3: cannot be decoded" in p for p in problems)
    assert any(p.endswith("show.cuetimes.yaml:2: cue 1.1: -3 is negative") for p in problems)
    path.write_text(text.replace("bad.mp3", "rec.wav"))
    cuetimes_path(path).unlink()
    assert check_show(path).problems == []
