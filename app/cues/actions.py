"""The actions shared by keyboard, OSC, gamepad, scripts and the operator.

Inputs (app.control) turn what they receive into these frozen objects through the command
table (app.cues.commands, the only place that names them) and put them on the action
queue; the main loop hands them to the cue engine (app.cues.engine), which is the only
place that gives them meaning. Every action names its source for the event log. The actions
are plain data: their names and log form are the table's (`commands.log_name`, `log_fields`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Action:
    """Base of every action. `source` is 'key', 'osc', 'gamepad', 'script', 'operator'..."""

    source: str = "script"
    detail: str = field(default="", compare=False)  # e.g. the OSC address or the key name


# --- cue engine (issue: live runtime) -------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Go(Action):
    """Fire the cue in standby (or the named one) and advance standby to the next cue."""

    poem: str | None = None
    cue: str | None = None


@dataclass(frozen=True, kw_only=True)
class Back(Action):
    """Move standby back one cue (does not change what is live)."""


@dataclass(frozen=True, kw_only=True)
class Standby(Action):
    """Set standby to a poem's first cue, or to a given cue of it."""

    poem: str
    cue: str | None = None


@dataclass(frozen=True, kw_only=True)
class FadeOut(Action):
    """Fade every layer to black over `seconds` (default: the show's default fade)."""

    seconds: float | None = None


@dataclass(frozen=True, kw_only=True)
class Blackout(Action):
    """Blackout on, off, or toggled (on=None). It covers the mix; the mix goes on below."""

    on: bool | None = None


@dataclass(frozen=True, kw_only=True)
class Master(Action):
    """Master level 0..1 applied to the whole output."""

    level: float


# --- live control (issue: OSC and gamepad) ---------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Panic(Action):
    """Fade everything to black over the panic time; a second PANIC within it cuts at once."""


@dataclass(frozen=True, kw_only=True)
class HardBlack(Action):
    """Cut everything to black at once and clear the mix (standby stays)."""


@dataclass(frozen=True, kw_only=True)
class TBar(Action):
    """Manual T-bar toward the cue in standby, 0..1; reaching 1 completes it as a GO."""

    position: float


@dataclass(frozen=True, kw_only=True)
class LayerOpacity(Action):
    """Opacity multiplier 0..1 of a layer (1 = as the cues say)."""

    layer: int
    opacity: float


@dataclass(frozen=True, kw_only=True)
class LayerRate(Action):
    """Playback rate multiplier of the videos in a layer (1 = as the cues say)."""

    layer: int
    rate: float


@dataclass(frozen=True, kw_only=True)
class NextFade(Action):
    """Transition time for the next GO only (overrides the cue's fade)."""

    seconds: float


@dataclass(frozen=True, kw_only=True)
class StandbyStep(Action):
    """Move standby by `cues` cues (+1/-1), or by `poems` poems to that poem's first cue."""

    cues: int = 0
    poems: int = 0


@dataclass(frozen=True, kw_only=True)
class CameraOrbit(Action):
    """Orbit the splat camera by dx, dy degrees (yaw, pitch)."""

    dx: float
    dy: float


@dataclass(frozen=True, kw_only=True)
class CameraPan(Action):
    """Pan the splat camera by dx, dy (fractions of the focus distance)."""

    dx: float
    dy: float


@dataclass(frozen=True, kw_only=True)
class CameraDolly(Action):
    """Dolly the splat camera by d (fraction of the focus distance, + toward the scene)."""

    d: float


@dataclass(frozen=True, kw_only=True)
class CameraReset(Action):
    """Back to the cue's base view."""


@dataclass(frozen=True, kw_only=True)
class CameraRecord(Action):
    """Start (on), stop (off) or toggle (None) recording the live splat cue's camera move
    (app.render.camera_path); the engine only checks that a splat cue is live."""

    on: bool | None = None


# --- the reference recording's transport (issue 26: rehearsing against a recording) -------
# The engine accepts these without changing its state; app.rehearse.reference hears them
# (the player's applied hooks) and moves the recording, or retimes a captured cue.


@dataclass(frozen=True, kw_only=True)
class TransportPlay(Action):
    """Play the reference recording from where it is."""


@dataclass(frozen=True, kw_only=True)
class TransportPause(Action):
    """Pause the reference recording (the show clock stops with it)."""


@dataclass(frozen=True, kw_only=True)
class TransportToggle(Action):
    """Play the reference recording if it is paused, else pause it."""


@dataclass(frozen=True, kw_only=True)
class TransportSeek(Action):
    """Move the reference recording to `seconds` from its start."""

    seconds: float


@dataclass(frozen=True, kw_only=True)
class TransportSkip(Action):
    """Move the reference recording by `seconds` (negative: back)."""

    seconds: float


@dataclass(frozen=True, kw_only=True)
class TransportPoem(Action):
    """Move the recording to a poem's first captured cue (a little before it) and standby to
    that cue; poem None: the poem of the cue in standby."""

    poem: str | None = None


@dataclass(frozen=True, kw_only=True)
class Retime(Action):
    """Retime cue `cue` on the reference recording to `seconds` (the cue-times file)."""

    cue: str
    seconds: float


TRANSPORT_ACTIONS = (
    TransportPlay,
    TransportPause,
    TransportToggle,
    TransportSeek,
    TransportSkip,
    TransportPoem,
    Retime,
)
"""Actions the engine passes by unchanged: the reference recording's transport acts on them."""


# --- engine inputs that are not commands -----------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MediaFailed(Action):
    """The media of cue `cue` (flat index) broke: its entry fades to black, the show goes on.

    Made by the player from the media pool's reports, never by a performer's input.
    """

    cue: int
    reason: str = ""
