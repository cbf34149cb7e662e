"""The status snapshot: what the show is doing, one immutable object per frame.

The player makes one `Status` at the end of each frame and publishes it by swapping one
reference (`Player.status`): any thread may read that attribute without a lock and gets a
complete, consistent frame's view (frozen dataclasses of tuples and plain values; nothing
in it is shared with the engine or the pool). The operator view, the OSC state pushes, the
terminal status line (and the web console) read it instead of the player's attributes.

`Status.key` is the part that listeners care about (everything but the clocks and frame
counters): the player calls its listeners, on the main thread, when the key changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LiveCue:
    """A cue in the mix: its flat index, ids and its visible opacity (weight x layer).

    The rest is for the console's clip clocks and faders and is left out of comparisons (and
    so of `Status.key`): its own `weight` in the layer, and the clip's position at show time
    t, `base + (t - since) * rate` (`since` None when the engine has no entry for it)."""

    index: int
    cue: str
    poem: str
    opacity: float
    weight: float = field(default=1.0, compare=False)
    since: float | None = field(default=None, compare=False)
    base: float = field(default=0.0, compare=False)
    rate: float = field(default=1.0, compare=False)


@dataclass(frozen=True)
class LayerStatus:
    """One layer: its opacity and rate multipliers and the cues it shows, oldest first."""

    layer: int
    opacity: float = 1.0
    rate: float = 1.0
    live: tuple[LiveCue, ...] = ()


@dataclass(frozen=True)
class InputStatus:
    """What an input reports for the status: its kind, its clients or its pads."""

    kind: str  # 'osc', 'gamepad', 'web'...
    clients: tuple[str, ...] = ()  # client addresses, most recent first
    pads: tuple[str, ...] = ()  # connected pad names


@dataclass(frozen=True)
class Alert:
    """A warning the status shows: its `kind` ('error': the event log's errors; 'refused':
    a refused OSC or console client; 'busy': inputs refused by the frame budget; 'warning')
    and its message."""

    kind: str
    message: str


# An input's log line (`log(message, fields)`: the OSC server, the web console) that is
# also a warning of the status carries its Alert kind in this field, chosen where the line
# is written; the session shows it (`alert_of`) without reading the message's words.
ALERT = "alert"
REFUSED = "refused"  # the Alert kind of a refused client


def alert_of(message: str, fields: Mapping[str, Any]) -> Alert | None:
    """The warning an input's log line carries (`message: client`, of the kind in its
    `ALERT` field), or None for a line that is no warning."""
    kind = fields.get(ALERT)
    if not isinstance(kind, str):
        return None
    return Alert(kind, f"{message}: {fields.get('client', '?')}")


@dataclass(frozen=True)
class FollowStatus:
    """An armed `follow:`: cue `cue` fires `target` by itself `at` (show clock seconds),
    `remaining` seconds from this frame; both None while that time is not known (an `on: end`
    follow whose clip length is unknown, or whose layer is paused). `mode` is how it was
    written ('after 2 s', 'on end')."""

    cue: str
    target: str
    mode: str
    at: float | None = None
    remaining: float | None = None

    def line(self) -> str:
        """'follow 1.3 in 2.0 s' (or '... at the clip's end' while the time is unknown)."""
        when = "at the clip's end" if self.remaining is None else f"in {self.remaining:.1f} s"
        return f"follow {self.target} {when}"


@dataclass(frozen=True)
class Status:
    """One frame's view of the show (see the module docstring)."""

    t: float = 0.0  # show clock seconds of the frame
    frame: int = 0  # frames rendered before this one
    fps: float = 0.0  # smoothed frames per second
    frame_ms: float = 0.0  # time since the previous frame
    step_ms: float | None = None  # how long the previous frame took to render (health)
    dropped: int = 0  # show frames missed + video frames dropped
    poem: str | None = None  # poem of the live cue (else of the standby cue)
    poem_title: str | None = None
    live: int | None = None  # flat cue index of the last fired cue
    live_id: str | None = None
    standby: int | None = None  # flat cue index of the cue the next GO fires
    standby_id: str | None = None
    master: float = 1.0
    tbar: float | None = None  # manual crossfade position while one runs
    transition: float | None = None  # progress 0..1 of the running transition
    blackout: bool = False
    panic: bool = False  # a panic fade is running
    black: float = 0.0  # how far the output is faded to black (0 none, 1 all)
    layers: tuple[LayerStatus, ...] = ()
    set_layers: tuple[int, ...] = ()  # layers whose opacity or rate was set during the show
    last_source: str = "-"  # source of the last action applied
    last_note: str = ""  # the engine's last note (why an action was refused)
    media_failed: tuple[int, ...] = ()  # cue indexes whose media failed during the show
    warnings: tuple[str, ...] = ()  # errors and refusals, newest last (at most 20)
    alerts: tuple[Alert, ...] = ()  # the same, typed: errors first, then the others
    inputs: tuple[InputStatus, ...] = ()
    recording: bool = False
    recording_dropped: int = 0
    hint: str = ""  # e.g. "press Esc again to quit"
    follow: FollowStatus | None = None  # the armed follow of the live cue
    extra: tuple[tuple[str, str], ...] = field(default=())  # room for a later input's words

    @property
    def osc_clients(self) -> tuple[str, ...]:
        """Addresses of the OSC clients (empty without OSC)."""
        return tuple(c for i in self.inputs if i.kind == "osc" for c in i.clients)

    @property
    def osc_on(self) -> bool:
        """Whether an OSC server runs."""
        return any(i.kind == "osc" for i in self.inputs)

    @property
    def pads(self) -> tuple[str, ...]:
        """Names of the connected gamepads."""
        return tuple(p for i in self.inputs for p in i.pads)

    def layer(self, number: int) -> LayerStatus:
        """The status of layer `number` (defaults when it has none)."""
        return next((la for la in self.layers if la.layer == number), LayerStatus(number))

    @property
    def key(self) -> tuple[object, ...]:
        """Everything but the clocks and counters: listeners hear about changes of this."""
        return (
            self.poem,
            self.poem_title,
            self.live,
            self.standby,
            round(self.master, 4),
            self.tbar,
            None if self.transition is None else round(self.transition, 2),
            self.blackout,
            self.panic,
            self.layers,
            self.last_source,
            self.last_note,
            self.media_failed,
            self.warnings,
            self.inputs,
            self.recording,
            self.hint,
            None if self.follow is None else (self.follow.cue, self.follow.target, self.follow.at),
        )

    def line(self) -> str:
        """The terminal status line: poem, live, standby, fps, dropped, source, inputs."""
        parts = [
            f"poem {self.poem or '-'}",
            f"live {self.live_id or '-'}",
            f"standby {self.standby_id or '-'}",
            f"{self.fps:5.1f} fps",
            f"dropped {self.dropped}",
            f"src {self.last_source}",
        ]
        if self.blackout:
            parts.append("BLACKOUT")
        if self.osc_on:
            parts.append(f"osc {len(self.osc_clients)} clients")
        if any(i.kind == "gamepad" for i in self.inputs):
            parts.append(f"pad {', '.join(self.pads) or 'none'}")
        if self.recording:
            parts.append(f"REC ({self.recording_dropped} dropped)")
        for i in self.inputs:
            if i.kind == "reference":  # the rehearsal recording: 'ref playing 12 s'
                parts.append(f"ref {' '.join(i.clients)}")
        if self.follow is not None:
            parts.append(self.follow.line())
        if self.hint:
            parts.append(self.hint)
        if self.warnings:
            parts.append(f"warnings {len(self.warnings)}: {self.warnings[-1][:60]}")
        return " | ".join(parts)
