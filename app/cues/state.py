"""Engine state and the mix it describes: plain frozen data, shared by engine and renderer.

`EngineState` is what the cue engine (app.cues.engine) produces from actions; `Mix` is what
the renderer draws at one clock time. Cues are referred to by their flat index in
`Show.cues`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.show.model import Curve


@dataclass(frozen=True)
class Fade:
    """A timed change of a value from `start` to `end` beginning at `t0` over `duration`."""

    start: float
    end: float
    t0: float
    duration: float
    curve: Curve = Curve.SMOOTH


@dataclass(frozen=True)
class Entry:
    """One cue present in a layer: its opacity over time and when it went live.

    `fired_at` is the clock time the cue was fired; its media time at clock time t is
    `cue.start + media_base + (t - media_since) * rate`, with `media_since` = `fired_at`
    until the layer's rate changes (the media source handles loop and end). A rate change
    rebases the entry (`media_base` = the media seconds played so far, `media_since` = the
    time of the change), so the picture goes on from where it was. `manual` holds the T-bar
    position while a manual crossfade drives this entry.
    """

    cue: int
    layer: int
    opacity: Fade
    fired_at: float
    manual: float | None = None
    media_base: float = 0.0
    media_since: float | None = None


@dataclass(frozen=True)
class CameraOffset:
    """Performer's camera move relative to the live splat cue's base view (targets)."""

    yaw: float = 0.0
    pitch: float = 0.0
    pan_x: float = 0.0
    pan_y: float = 0.0
    dolly: float = 0.0


@dataclass(frozen=True)
class FollowTimer:
    """A cue's armed `follow:`: when it is due, cue `target` fires by itself.

    `cue` is the fired cue whose follow this is; `at` the clock time it fires for an
    `after:` follow (fixed when armed), None for an `on: end` follow, whose time the engine
    works out from the cue's entry (its media time and the layer's rate) when asked.
    """

    cue: int
    target: int
    at: float | None = None


@dataclass(frozen=True)
class EngineState:
    """The whole state of a playing show."""

    entries: tuple[Entry, ...] = ()
    standby: int | None = 0
    live: int | None = None  # the cue fired last (None before the first GO)
    blackout: bool = False
    black: Fade | None = None  # blackout/panic level over time: 0 = visible, 1 = black
    master: float = 1.0
    next_fade: float | None = None  # one-shot override for the next GO
    last_go_at: float | None = None
    panic_at: float | None = None  # time of the last PANIC (a second one within cuts)
    layer_opacity: tuple[tuple[int, float], ...] = ()  # (layer, multiplier) pairs
    layer_rate: tuple[tuple[int, float], ...] = ()
    camera: CameraOffset = field(default_factory=CameraOffset)
    tbar: float | None = None  # manual T-bar position while one is in progress
    failed: tuple[int, ...] = ()  # cues whose media failed since they were last fired
    follow: FollowTimer | None = None  # the live cue's armed `follow:`, until fired/cancelled


@dataclass(frozen=True)
class MixEntry:
    """One cue to draw: its weight in its layer and its media time."""

    cue: int
    opacity: float
    media_time: float  # seconds since the cue fired, times the rate (before loop/start)
    rate: float


@dataclass(frozen=True)
class LayerMix:
    """One layer: its entries (weights add up within a layer) and its opacity multiplier."""

    layer: int
    entries: tuple[MixEntry, ...]
    opacity: float = 1.0


@dataclass(frozen=True)
class Mix:
    """What the output shows at one time: layers bottom to top, then master and black.

    Final colour = (layers composited) * master * (1 - black).
    """

    layers: tuple[LayerMix, ...]
    master: float
    black: float  # 0 = not black, 1 = fully black
    transition: float | None = None  # progress 0..1 of the newest running fade, else None
    camera: CameraOffset = field(default_factory=CameraOffset)
