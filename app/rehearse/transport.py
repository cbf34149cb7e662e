"""The reference recording's transport: audio out through PortAudio, and the show clock.

The audio callback (PortAudio's thread) is the clock: each call copies the next block of
samples out and leaves a `Mark` (which sample the block starts at, how many frames it
holds, when it was written and how long until it is heard). The frame loop reads the
position from the newest mark (`heard_position`, pure) and never waits on audio. Commands
(play, pause, seek) go the other way as one `Command` tuple the callback picks up on its
next block: both hand-overs are single reference swaps, no locks.

`ReferenceClock` is the player's `FrameClock` for a rehearsal: its time is the show time,
which runs with the recording (a pause stops it) and equals the recording's position until
the first seek; a seek moves the recording but not the show time (what is on stage stays:
the engine's clock never runs backwards), so show time = position + `offset`. Frames are
paced on the wall clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, NamedTuple

import numpy as np

from app.clock import FrameClock

BLOCK = 512  # frames per audio callback
MAX_LATENCY = 1.0  # seconds: a device reporting more is not believed


class Mark(NamedTuple):
    """What one audio callback did: the block starting at sample `start` holding `frames`
    frames (0: silence) was written at wall time `wall` and is heard `latency` s later."""

    gen: int
    start: int
    frames: int
    wall: float
    latency: float


class Command(NamedTuple):
    """What the main thread wants: playing or not, from `seek` (a sample; None: go on)."""

    gen: int
    playing: bool
    seek: int | None
    anchor: float  # the position (seconds) when this command was given


def heard_position(mark: Mark, now: float, rate: int) -> float:
    """The position (seconds) heard at wall time `now` after `mark`: the block's first sample
    is heard `latency` after it was written; never past the block's end (a stalled device
    stops the clock instead of letting it run ahead of the audio)."""
    since = now - mark.wall - mark.latency
    return mark.start / rate + min(since, mark.frames / rate)


@dataclass(eq=False)
class AudioTransport:
    """Plays int16 `(frames, channels)` samples (given by `load`, any thread) through a
    PortAudio output stream (sounddevice) and says the position heard.

    `stream_factory` builds the stream (default `sounddevice.OutputStream`); `wall` is the
    monotonic clock the callback and the frame loop share.
    """

    rate: int
    channels: int
    _: KW_ONLY
    device: Any = None
    stream_factory: Callable[..., Any] | None = None
    wall: Callable[[], float] = time.perf_counter
    offset: float = field(default=0.0, init=False)  # show time - position (changes at seeks)
    xruns: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._samples: np.ndarray | None = None
        self._cmd = Command(0, False, None, 0.0)
        self._mark: Mark | None = None
        self._n = 0  # the callback's read position (callback thread only)
        self._gen = 0  # the command generation the callback has applied
        self._last = 0.0  # the last position read (monotonic between commands)
        self._show_last = 0.0
        self._stream: Any = None

    # --- life cycle -------------------------------------------------------------------

    def open(self) -> None:
        """Open and start the output stream (silent until `play`); raises OSError when the
        audio output cannot be used (no PortAudio, no device)."""
        factory = self.stream_factory
        if factory is None:
            try:
                import sounddevice
            except OSError as exc:  # the wheel has no PortAudio on Linux
                raise OSError(f"audio output: {exc} (install libportaudio2)") from None
            factory = sounddevice.OutputStream
        try:
            self._stream = factory(
                samplerate=self.rate,
                channels=self.channels,
                dtype="float32",
                blocksize=BLOCK,
                latency="high",  # a loaded machine underruns a low one; the clock allows for it
                device=self.device,
                callback=self._callback,
            )
            self._stream.start()
        except Exception as exc:  # PortAudioError and friends: the message says what
            self._stream = None
            raise OSError(f"audio output: {exc}") from None

    def load(self, samples: np.ndarray) -> None:
        """The decoded recording (`(frames, channels)` int16); playing starts if wanted."""
        self._samples = samples

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
            finally:
                stream.close()

    @property
    def loaded(self) -> bool:
        return self._samples is not None

    @property
    def duration(self) -> float | None:
        s = self._samples
        return None if s is None else len(s) / self.rate

    # --- the audio thread -------------------------------------------------------------

    def _callback(self, out: np.ndarray, frames: int, when: Any, status: Any) -> None:
        cmd = self._cmd
        if cmd.gen != self._gen:
            if cmd.seek is not None:
                self._n = cmd.seek
            self._gen = cmd.gen
        if status:
            self.xruns += 1
        samples, n, k = self._samples, self._n, 0
        if cmd.playing and samples is not None and n < len(samples):
            k = min(frames, len(samples) - n)
            np.multiply(samples[n : n + k], 1.0 / 32768.0, out=out[:k], casting="unsafe")
            self._n = n + k
        out[k:] = 0.0
        try:
            latency = float(when.outputBufferDacTime - when.currentTime)
        except (AttributeError, TypeError):
            latency = 0.0
        latency = latency if 0.0 <= latency <= MAX_LATENCY else 0.0
        mark = self._mark
        if k or mark is None or mark.gen != cmd.gen:
            # a silent block (loading, or past the end) keeps the last block's mark, so that
            # the position runs on to the end of what was written
            self._mark = Mark(cmd.gen, n, k, self.wall(), latency)

    # --- the main thread --------------------------------------------------------------

    @property
    def playing(self) -> bool:
        """Playing (or wanting to, while the recording loads), and not at its end."""
        d = self.duration
        return self._cmd.playing and (d is None or self._last < d)

    def position(self) -> float:
        """Seconds into the recording heard now (main thread; never waits)."""
        cmd, mark = self._cmd, self._mark
        if not cmd.playing or mark is None or mark.gen != cmd.gen:
            pos = cmd.anchor  # paused, or the callback has not seen the command yet
        else:
            pos = max(cmd.anchor, heard_position(mark, self.wall(), self.rate))
        self._last = max(self._last, pos)
        return self._last

    def show_time(self) -> float:
        """The show clock: position + offset, never decreasing."""
        self._show_last = max(self._show_last, self.position() + self.offset)
        return self._show_last

    def _command(self, playing: bool, seek: float | None) -> None:
        here = self.position()
        d = self.duration
        to = here if seek is None else max(0.0, seek if d is None else min(seek, d))
        if seek is not None:
            self.offset += here - to  # the show time goes on where it was
        self._last = to
        self._cmd = Command(self._cmd.gen + 1, playing, int(round(to * self.rate)), to)

    def play(self) -> None:
        self._command(True, None)

    def pause(self) -> None:
        self._command(False, None)

    def seek(self, seconds: float) -> None:
        """Move to `seconds` (clamped to the recording), playing or paused as before."""
        self._command(self._cmd.playing, seconds)


class ReferenceClock(FrameClock):
    """The show clock of a rehearsal: the transport's show time; frames paced on `wall`.
    `start()` starts the recording (the main loop calls it as the show starts)."""

    def __init__(
        self,
        transport: AudioTransport,
        wall: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(wall, sleep)
        self.transport = transport

    def start(self) -> None:
        super().start()
        self.transport.play()

    def time(self) -> float:
        return self.transport.show_time()

    def wait_next_frame(self, fps: float) -> float:
        """Sleep until the next frame boundary of the wall clock; returns the show time."""
        now = self._now() - self._t0
        target = (self.frame + 1) / fps
        if now - target > 1.0 / fps:  # late: skip the missed slots (see FrameClock)
            self.frame = int(now * fps)
            target = (self.frame + 1) / fps
        if target > now:
            self._sleep(target - now)
        self.frame += 1
        return self.time()
