"""Rehearsing against a reference recording: `play SHOW --reference FILE [--cuetimes]`.

`open_reference(args, show)` probes the recording (named by `--reference`, else the show's
`reference:`) and builds its transport and clock before the player exists; `None` when no
recording is asked for. The `Reference` is then one more input of the session (the `Input`
protocol: `start`, `poll`, `close`, `status`), attached to the player:

- `start()` opens the audio output, decodes the recording on a thread (the recording is
  silent and the clock stands at 0 until it is in), starts the cue-times writer.
- The player's applied hooks bring it every action the engine applied: the transport
  commands (`transport_*`, `cue_time`) act here; a GO that fired a cue (key, OSC, pad,
  console, script; not the ghost's nor a follow's) is captured with the recording's position
  at the GO's time into `<show>.cuetimes.yaml` (written on the writer thread, never on the
  frame's).
- With `--cuetimes` (a ghost run), `poll(t)` fires the captured GOs as the recording passes
  them, each at its captured position (`source: ghost`). The performer can override: a cue
  fired since the last seek (by the performer or the ghost), or passed, is not fired again;
  the performer's own GOs are captured as usual (they retime their cue).
- `console_state()` is the rehearsal's part of the web console's state (app/web/rehearse.py
  draws it): position, playing, the next cue's captured time and the waveform strip.
"""

from __future__ import annotations

import argparse
import base64
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from app.cues.actions import (
    TRANSPORT_ACTIONS,
    Action,
    Retime,
    TransportPause,
    TransportPlay,
    TransportPoem,
    TransportSeek,
    TransportSkip,
    TransportToggle,
)
from app.cues.commands import build
from app.rehearse.cuetimes import (
    CueTimesError,
    RecordingTimes,
    cuetimes_path,
    read_recording,
    recording_key,
    write_recording,
)
from app.rehearse.recording import (
    RecordingError,
    RecordingInfo,
    decode_recording,
    peaks,
    probe_recording,
)
from app.rehearse.transport import AudioTransport, ReferenceClock
from app.status import InputStatus

GHOST = "ghost"  # the source of the GOs a --cuetimes run replays
NOT_CAPTURED = frozenset({GHOST, "follow"})  # GOs that do not retime their cue
PREROLL = 2.0  # seconds of the recording played before a poem's first cue on transport_poem
PEAK_BINS = 1200


class ReferenceError(ValueError):
    """A reference recording or cue-times file that cannot be used (the message says why)."""


class CueTimesWriter:
    """Writes the newest `RecordingTimes` to the cue-times file on its own thread (a YAML
    round trip takes milliseconds: never on the frame's thread). `error` holds the last
    failure's message until `poll` hands it over."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._want: RecordingTimes | None = None
        self._wake = threading.Event()
        self._stop = False
        self.error: str | None = None
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="cuetimes-writer", daemon=True)
        self._thread.start()

    def submit(self, times: RecordingTimes) -> None:
        """Write these times soon (a newer submit replaces one not yet written)."""
        self._want = times
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            times, self._want = self._want, None
            if times is not None:
                try:
                    write_recording(self.path, times)
                    self.written += 1
                except Exception as exc:  # a disk or YAML problem is reported, never fatal
                    self.error = f"cannot write {self.path}: {exc}"
            if self._want is None and self._stop:
                return

    def close(self, timeout: float = 10.0) -> None:
        """Write what is waiting, then stop."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout)


class Reference:
    """The rehearsal input of one `play` (see the module docstring)."""

    def __init__(
        self,
        show_path: Path,
        info: RecordingInfo,
        times: RecordingTimes,
        *,
        ghost: bool = False,
        transport: AudioTransport | None = None,
        decode: Callable[[RecordingInfo], np.ndarray] = decode_recording,
    ) -> None:
        self.show_path = show_path
        self.info = info
        self.times = times  # the cue times of this recording (captured, retimed)
        self.ghost = ghost
        self.transport = transport or AudioTransport(info.rate, info.channels)
        self.clock = ReferenceClock(self.transport)
        self._decode = decode
        self.player: Any = None
        self._writer: CueTimesWriter | None = None
        self._decoder: threading.Thread | None = None
        self._decode_error: str | None = None
        self._peaks = ""
        self._last_go: float | None = None
        self._ghost_from = -1.0  # the ghost fires the cue times after this position
        self._passed = -1  # the furthest cue fired since the last seek (the ghost skips it)
        self._reported = False

    # --- Input protocol ------------------------------------------------------------------

    def attach(self, player: Any) -> Reference:
        """Hear the player's applied actions (call before `start`)."""
        self.player = player
        player.on_applied(self._on_applied)
        self._last_go = player.state.last_go_at
        return self

    def start(self) -> Reference:
        """Open the audio output (OSError when it cannot), decode on a thread, start the
        cue-times writer."""
        self.transport.open()
        self._writer = CueTimesWriter(cuetimes_path(self.show_path))
        self._decoder = threading.Thread(target=self._load, name="reference-decode", daemon=True)
        self._decoder.start()
        return self

    def _load(self) -> None:
        try:
            samples = self._decode(self.info)
        except RecordingError as exc:
            self._decode_error = str(exc)
            return
        self._peaks = base64.b64encode(peaks(samples, PEAK_BINS).tobytes()).decode()
        self.transport.load(samples)

    def poll(self, t: float) -> None:
        """Main thread, once a frame: the ghost's GOs, and what the threads have to say."""
        player = self.player
        if self._decode_error is not None and not self._reported:
            self._reported = True
            self._note(t, f"reference: {self._decode_error}", error=True)
        if self.transport.loaded and not self._reported:
            self._reported = True
            d = self.transport.duration or 0.0
            self.times = replace(self.times, duration=d)
            self._note(t, f"reference: {self.times.recording} loaded ({d:.1f} s)")
        writer = self._writer
        if writer is not None and writer.error is not None:
            message, writer.error = writer.error, None
            self._note(t, f"cue times: {message}", error=True)
        if self.ghost and player is not None:
            self._ghost(t)

    def close(self) -> None:
        self.transport.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def status(self) -> InputStatus:
        """'playing 12 s' / 'paused 40 s': changes (and so wakes the status listeners: the
        console's update) at a play, a pause, a seek, and once a second while playing."""
        tr = self.transport
        state = "playing" if tr.playing else "paused"
        return InputStatus("reference", (f"{state} {int(tr.position())} s",))

    # --- GOs and the transport (main thread, from the player's applied hooks) ------------

    def _on_applied(self, action: Action, note: str | None) -> None:
        player = self.player
        state = player.state
        if state.last_go_at != self._last_go and state.live is not None:
            self._last_go = state.last_go_at
            self._passed = max(self._passed, state.live)
            if action.source not in NOT_CAPTURED:
                self._capture(player.show.cues[state.live].id, state.last_go_at)
        if note is None and isinstance(action, TRANSPORT_ACTIONS):
            self._transport(action)

    def _capture(self, cue_id: str, show_t: float) -> None:
        if not self.transport.loaded:
            return  # no position yet: nothing to capture against
        at = max(0.0, show_t - self.transport.offset)
        self._retime(cue_id, at, show_t, "captured")

    def _retime(self, cue_id: str, at: float, t: float, how: str) -> None:
        self.times = self.times.with_time(cue_id, at)
        self.player.log.write("cuetime", t, cue=cue_id, at=round(at, 6), how=how)
        if self._writer is not None:
            self._writer.submit(self.times)

    def _transport(self, action: Action) -> None:
        tr = self.transport
        t = self.player.clock.time()
        if isinstance(action, TransportPlay):
            tr.play()
        elif isinstance(action, TransportPause):
            tr.pause()
        elif isinstance(action, TransportToggle):
            tr.pause() if tr.playing else tr.play()
        elif isinstance(action, TransportSeek):
            self._seek(action.seconds)
        elif isinstance(action, TransportSkip):
            self._seek(tr.position() + action.seconds)
        elif isinstance(action, TransportPoem):
            self._poem(action, t)
        elif isinstance(action, Retime):
            self._retime_command(action, t)
        else:
            return
        self.player.log.write(
            "transport", self.player.clock.time(), position=round(tr.position(), 6)
        )

    def _seek(self, seconds: float) -> None:
        self.transport.seek(seconds)
        self._ghost_from = self.transport.position()
        self._passed = -1  # from here the ghost fires every cue time it passes

    def _poem(self, action: TransportPoem, t: float) -> None:
        show, player = self.player.show, self.player
        poem_id = action.poem
        if poem_id is None:
            index = player.state.standby if player.state.standby is not None else player.state.live
            if index is None:
                self._note(t, "transport_poem: no cue in standby to take the poem from")
                return
            poem_id = show.cues[index].poem_id
        poem = next((p for p in show.poems if p.id == poem_id), None)
        if poem is None or not poem.cues:
            self._note(t, f"transport_poem: no poem {poem_id!r} with cues in the show")
            return
        at = self.times.at(poem.cues[0].id)
        if at is None:
            self._note(
                t,
                f"transport_poem: cue {poem.cues[0].id} of poem {poem_id} has no captured "
                "time on this recording yet (play through it once, or retime it)",
            )
            return
        self._seek(max(0.0, at - PREROLL))
        player.put(build("standby", {"poem": poem_id}, source=action.source, detail="poem"))

    def _retime_command(self, action: Retime, t: float) -> None:
        if not any(c.id == action.cue for c in self.player.show.cues):
            self._note(t, f"cue_time: no cue {action.cue!r} in the show")
            return
        self._retime(action.cue, action.seconds, t, action.source)

    # --- the ghost run --------------------------------------------------------------------

    def _ghost(self, t: float) -> None:
        """Fire the captured cues the recording has passed since the last frame, each at the
        show time of its captured position, unless a GO since the last seek fired it or a
        later cue (the performer went ahead)."""
        tr = self.transport
        if not tr.loaded:
            return
        pos = t - tr.offset
        player = self.player
        show = player.show
        for c in self.times.cues:
            if not self._ghost_from < c.at <= pos:
                continue
            index = next((i for i, cue in enumerate(show.cues) if cue.id == c.cue), None)
            if index is None or index <= self._passed:
                continue  # not in the show any more, or fired already (or passed) since a seek
            cue = show.cues[index]
            go = build("go", (cue.poem_id, cue.id), source=GHOST, detail=f"{c.at:.3f}")
            player.put(go, c.at + tr.offset)
        self._ghost_from = max(self._ghost_from, pos)

    # --- the console -----------------------------------------------------------------------

    def console_state(self) -> dict[str, Any]:
        """The rehearsal's part of the console state (JSON-ready)."""
        tr, player = self.transport, self.player
        pos = tr.position()
        standby = player.state.standby if player is not None else None
        nxt = None
        if standby is not None:
            cue = player.show.cues[standby]
            at = self.times.at(cue.id)
            nxt = {"cue": cue.id, "at": at, "in": None if at is None else round(at - pos, 3)}
        return {
            "rehearsal": {
                "recording": self.times.recording,
                "loaded": tr.loaded,
                "error": self._decode_error,
                "duration": tr.duration,
                "position": round(pos, 3),
                "playing": tr.playing,
                "ghost": self.ghost,
                "next": nxt,
                "marks": [{"cue": c.cue, "at": round(c.at, 3)} for c in self.times.cues],
                "peaks": self._peaks,
            }
        }

    def _note(self, t: float, message: str, *, error: bool = False) -> None:
        player = self.player
        if player is None:
            print(message, file=sys.stderr)
            return
        player.log.write("error" if error else "info", t, message=message)
        player.note(message)


def add_arguments(p: argparse.ArgumentParser) -> None:
    """`play`'s rehearsal flags."""
    p.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="rehearse against this recording (any audio FFmpeg reads; default: the show's "
        "`reference:`): it plays on the audio output and the show clock follows it; GOs are "
        "captured into <show>.cuetimes.yaml",
    )
    p.add_argument(
        "--cuetimes",
        action="store_true",
        help="with --reference: replay the captured GOs on the recording (a ghost run)",
    )


def open_reference(args: argparse.Namespace, show: Any) -> Reference | None:
    """The rehearsal of a `play`, from `--reference` (else the show's `reference:`) and
    `--cuetimes`; None when no recording is asked for. Raises ReferenceError."""
    given = getattr(args, "reference", None)
    path = Path(given) if given else getattr(show, "reference", None)
    ghost = bool(getattr(args, "cuetimes", False))
    if path is None:
        if ghost:
            raise ReferenceError("--cuetimes replays cue times on a recording: give --reference")
        return None
    if getattr(args, "fake_clock", False):
        raise ReferenceError("--reference plays in real time: it cannot run on --fake-clock")
    try:
        info = probe_recording(path)
        times = read_recording(show.path, path)
    except (RecordingError, CueTimesError) as exc:
        raise ReferenceError(str(exc)) from None
    if ghost and not times.cues:
        raise ReferenceError(
            f"--cuetimes: {cuetimes_path(show.path)} has no cue times for "
            f"{recording_key(show.path, path)} (capture them first: play without --cuetimes)"
        )
    return Reference(Path(show.path), info, times, ghost=ghost)
