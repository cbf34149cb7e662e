"""Gamepads -> actions, in two layers.

(a) `GamepadMapper`: pure. It takes abstract `PadEvent`s (a pad added or removed, a button,
    an axis) and `tick(dt)` once per frame, and returns actions. Buttons fire on the press
    edge. Axes get a dead zone, clamping of garbage (NaN is ignored, out of range clamped)
    and time-based exponential smoothing; absolute axes (tbar, master) send their
    position when it changes, move axes (camera) send a move scaled by dt every frame the
    stick is held.
(b) `GamepadInput`: the adapter. `poll(t)`, called by the main loop every frame, pumps
    pygame's SDL2 events (game-controller API, so Xbox, PlayStation, Switch and generic pads
    share names; raw joystick fallback for unknown pads), turns them into PadEvents, feeds the
    mapper and puts the actions on the queue. Only pygame's joystick/controller subsystems and
    a dummy video driver are initialised: no window is ever opened. Hot-plug: a pad unplugged
    and plugged back during the show is picked up again, no restart.

Default mapping: `gamepad_default.yaml`, bindings onto the command table (buttons bind to
command lines, axes to `tbar`/`master` or to a move `command.argument`); a show's
`gamepad:` block is validated by `app/show/controls.py` and merged over it. The README's
gamepad table is generated from it (`app/control/tables.py`).

Two decisions worth knowing on stage:
- The left trigger is inverted so that a pad lying on the table leaves the master at full;
  the pad sends MASTER only when the trigger moves, so connecting a pad never overrides a
  master set elsewhere (OSC).
- After the right trigger completes a crossfade (reaches 1), it sends nothing until it is
  back at rest, then one TBAR 0 (which re-arms the engine's T-bar): letting it go does
  not start a crossfade toward the next cue. A pad unplugged in the middle of a manual
  crossfade leaves the mix where it is (GO completes it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from app.cues.actions import Action
from app.cues.commands import COMMANDS, build, parse
from app.show.controls import (
    ABSOLUTE_AXIS_ACTIONS,
    MOVE_AXIS_ACTIONS,
    PAD_AXES,
    PAD_BUTTONS,
    AxisSpec,
    GamepadSpec,
    read_file,
    read_gamepad,
)
from app.show.schema import Reporter
from app.status import InputStatus

DEFAULT_MAPPING_FILE = Path(__file__).with_name("gamepad_default.yaml")

BUTTONS = PAD_BUTTONS  # SDL game-controller names (app/show/controls.py keeps them)
AXES = PAD_AXES
TRIGGERS = frozenset({"lefttrigger", "righttrigger"})
_G = "gamepad"

OUTER_DEAD_ZONE = 0.02  # the last 2% of travel reads as full (worn triggers stop at 0.99)
MAX_DT = 0.1  # a stalled frame must not turn into a camera jump
_SNAP = 0.002  # smoothing within this of its target lands on it
_EPS = 0.002  # absolute axes re-send when they move by at least this

Log = Callable[[str, dict[str, Any]], None]


# --- mapping -------------------------------------------------------------------------------


class GamepadMappingError(ValueError):
    """A gamepad mapping with problems; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("gamepad mapping:\n  " + "\n  ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class GamepadMapping:
    """A validated mapping: control name -> action name, plus axis tuning and raw numbers."""

    buttons: Mapping[str, str]
    axes: Mapping[str, AxisSpec]  # what each axis drives: action, invert, move speed
    dead_zone: float = 0.15
    smoothing: float = 0.08
    raw_buttons: Mapping[int, str] = field(default_factory=dict)
    raw_axes: Mapping[int, str] = field(default_factory=dict)


def _spec_of(over: GamepadSpec | Mapping[str, Any] | str | Path) -> GamepadSpec:
    """An override as a spec: a spec, a dict (a show's block, tests) or a YAML file."""
    if isinstance(over, GamepadSpec):
        return over
    if isinstance(over, str | Path):
        spec, problems = read_file(Path(over), read_gamepad, "gamepad")
        if problems:
            raise GamepadMappingError([str(p) for p in problems])
        return spec
    if not isinstance(over, Mapping):
        raise GamepadMappingError([f"expected a mapping, got {type(over).__name__}"])
    rep = Reporter(Path("<gamepad>"))
    spec = read_gamepad(yaml.compose(yaml.safe_dump(dict(over))), rep)
    if rep.problems:
        raise GamepadMappingError([str(p) for p in rep.problems])
    return spec


def merge(base: GamepadSpec, over: GamepadSpec) -> GamepadSpec:
    """`over` on top of `base`, key by key (an axis entry replaces the base one whole)."""
    return GamepadSpec(
        base.dead_zone if over.dead_zone is None else over.dead_zone,
        base.smoothing if over.smoothing is None else over.smoothing,
        {**base.buttons, **over.buttons},
        {**base.axes, **over.axes},
        {**base.raw_buttons, **over.raw_buttons},
        {**base.raw_axes, **over.raw_axes},
    )


def mapping_of(spec: GamepadSpec) -> GamepadMapping:
    """The mapping a merged spec describes (unbound controls left out)."""
    return GamepadMapping(
        {k: v for k, v in spec.buttons.items() if v is not None},
        {k: v for k, v in spec.axes.items() if v is not None},
        0.15 if spec.dead_zone is None else spec.dead_zone,
        0.08 if spec.smoothing is None else spec.smoothing,
        {k: v for k, v in spec.raw_buttons.items() if v is not None},
        {k: v for k, v in spec.raw_axes.items() if v is not None},
    )


def load_mapping(*overrides: GamepadSpec | Mapping[str, Any] | str | Path | None) -> GamepadMapping:
    """The default mapping with each override (a show's `gamepad:` spec, a dict or a YAML
    file) merged over it in order. Raises GamepadMappingError listing every problem, each
    as `file:line: message` (the same checks as `python -m app check`)."""
    spec = _spec_of(DEFAULT_MAPPING_FILE)
    for over in overrides:
        if over is not None:
            spec = merge(spec, _spec_of(over))
    return mapping_of(spec)


# --- the pure mapper -----------------------------------------------------------------------


@dataclass(frozen=True)
class PadEvent:
    """An abstract pad event. `value`: 1/0 for buttons, -1..1 for sticks, 0..1 triggers."""

    kind: Literal["added", "removed", "button", "axis"]
    pad_id: int
    name: str = ""
    control: str = ""
    value: float = 0.0


@dataclass
class _Axis:
    target: float = 0.0
    value: float = 0.0  # smoothed
    sent: float = 0.0  # last position sent (absolute axes)
    latched: bool = False  # crossfade completed: wait for the trigger to return to rest


@dataclass
class _Pad:
    name: str
    down: set[str] = field(default_factory=set)
    axes: dict[str, _Axis] = field(default_factory=dict)


class GamepadMapper:
    """Pure: PadEvents and frame ticks in, actions out (see the module docstring)."""

    def __init__(self, mapping: GamepadMapping | None = None) -> None:
        self.mapping = mapping or load_mapping()
        self._pads: dict[int, _Pad] = {}

    @property
    def connected(self) -> dict[int, str]:
        """Pad id -> name of every connected pad."""
        return {i: p.name for i, p in self._pads.items()}

    def _pad(self, pad_id: int, name: str = "") -> _Pad:
        pad = self._pads.get(pad_id)
        if pad is None:
            pad = self._pads[pad_id] = _Pad(name or f"pad {pad_id}")
        return pad

    def handle(self, event: PadEvent) -> list[Action]:
        """Actions for one event (button presses; axes only set targets, see `tick`)."""
        if event.kind == "added":
            # a re-plugged pad starts from rest: nothing held, nothing moving
            self._pads[event.pad_id] = _Pad(event.name or f"pad {event.pad_id}")
            return []
        if event.kind == "removed":
            self._pads.pop(event.pad_id, None)
            return []
        v = event.value
        if isinstance(v, bool):
            v = float(v)
        if not isinstance(v, int | float) or math.isnan(v):
            return []  # garbage: ignored
        pad = self._pad(event.pad_id, event.name)
        if event.kind == "button":
            if v >= 0.5:
                if event.control in pad.down:
                    return []
                pad.down.add(event.control)
                line = self.mapping.buttons.get(event.control)
                return [parse(line, source=_G, detail=event.control)] if line else []
            pad.down.discard(event.control)
            return []
        if event.kind == "axis" and event.control in self.mapping.axes:
            lo = 0.0 if event.control in TRIGGERS else -1.0
            x = min(1.0, max(lo, float(v)))  # also turns +-inf into the ends
            pad.axes.setdefault(event.control, _Axis()).target = self._dead_zone(x)
        return []

    def _dead_zone(self, x: float) -> float:
        dz = self.mapping.dead_zone
        mag = abs(x)
        if mag <= dz:
            return 0.0
        mag = min(1.0, (mag - dz) / max(1e-6, 1.0 - dz - OUTER_DEAD_ZONE))
        return math.copysign(mag, x)

    def tick(self, dt: float) -> list[Action]:
        """Advance smoothing by dt seconds; absolute axes that moved and held sticks act."""
        if not isinstance(dt, int | float) or not math.isfinite(dt) or dt < 0:
            dt = 0.0
        dt = min(dt, MAX_DT)
        tau = self.mapping.smoothing
        alpha = 1.0 if tau <= 0 else 1.0 - math.exp(-dt / tau)
        out: list[Action] = []
        for pad in self._pads.values():
            moves: dict[str, float] = {}
            sources: dict[str, str] = {}
            for control, ax in pad.axes.items():
                binding = self.mapping.axes[control]
                if ax.latched:
                    if ax.target > 0.0:
                        continue
                    # back at rest: say so once (the engine re-arms the T-bar on 0)
                    ax.latched = False
                    ax.value = ax.sent = 0.0
                    out.append(build("tbar", [0.0], source=_G, detail=control))
                    continue
                ax.value += (ax.target - ax.value) * alpha
                if abs(ax.target - ax.value) < _SNAP:
                    ax.value = ax.target
                if binding.action in ABSOLUTE_AXIS_ACTIONS:
                    action = self._absolute(control, binding, ax)
                    if action is not None:
                        out.append(action)
                elif ax.value != 0.0:
                    sign = -1.0 if binding.invert else 1.0
                    moves[binding.action] = (
                        moves.get(binding.action, 0.0) + sign * ax.value * binding.speed * dt
                    )
                    sources.setdefault(binding.action.partition(".")[0], control)
            out.extend(self._moves(moves, sources))
        return out

    def _absolute(self, control: str, binding: AxisSpec, ax: _Axis) -> Action | None:
        pos = max(0.0, ax.value)  # a stick on an absolute action: its positive half
        at_end = pos in (0.0, 1.0) and ax.sent != pos
        if abs(pos - ax.sent) < _EPS and not at_end:
            return None
        ax.sent = pos
        level = round(1.0 - pos if binding.invert else pos, 4)
        if binding.action == "tbar" and level >= 1.0:
            ax.latched = True  # the crossfade completes as a GO; wait for the release
        return build(binding.action, [level], source=_G, detail=control)

    @staticmethod
    def _moves(m: dict[str, float], sources: dict[str, str]) -> list[Action]:
        """One move action per command (orbit, pan, dolly) whose axes moved this frame."""
        out: list[Action] = []
        groups = dict.fromkeys(a.partition(".")[0] for a in MOVE_AXIS_ACTIONS)
        for name in (g for g in groups if g in sources):
            control = sources[name]
            values = {a.name: m.get(f"{name}.{a.name}", 0.0) for a in COMMANDS[name].args}
            if any(values.values()):
                out.append(build(name, values, source=_G, detail=control))
        return out


# --- the pygame adapter --------------------------------------------------------------------


@dataclass
class Device:
    """An opened pad: SDL instance id, name, and whether SDL knows it as a game controller."""

    instance_id: int
    name: str
    is_controller: bool
    handles: list[Any] = field(default_factory=list)  # pygame objects kept open while plugged
    hats: dict[int, tuple[int, int]] = field(default_factory=dict)

    def close(self) -> None:
        """Close the pygame handles (the device may already be gone)."""
        for h in self.handles:
            try:
                h.quit()
            except Exception:
                pass
        self.handles.clear()


def _setup_sdl_environment() -> None:
    # no window, no "Hello from pygame", no SIGINT hijack (Ctrl-C must reach Python), and
    # pad events even though the focused window is glfw's, not SDL's
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    os.environ["SDL_NO_SIGNAL_HANDLERS"] = "1"
    os.environ["SDL_JOYSTICK_ALLOW_BACKGROUND_EVENTS"] = "1"


class PygameBackend:
    """Pumps pygame events and converts them to PadEvents; tracks open devices.

    `opener(device_index) -> Device | None` opens a newly added device (injectable for
    tests; the default opens a pygame Controller, or a Joystick for unknown pads).
    """

    def __init__(
        self,
        mapping: GamepadMapping,
        opener: Callable[[int], Device | None] | None = None,
    ) -> None:
        _setup_sdl_environment()
        import pygame
        from pygame._sdl2 import controller

        self._pg = pygame
        self._controller = controller
        pygame.display.init()  # the event queue needs it; the dummy driver opens nothing
        pygame.joystick.init()
        controller.init()
        self.mapping = mapping
        self.opener = opener or self._open
        self.devices: dict[int, Device] = {}
        self.errors: list[str] = []
        # SDL announces every pad with JOYDEVICEADDED (controllers also get a
        # CONTROLLERDEVICEADDED, ignored: one open per pad); removal comes as both
        self._removed = {pygame.JOYDEVICEREMOVED, pygame.CONTROLLERDEVICEREMOVED}

    def _open(self, index: int) -> Device | None:
        pg, controller = self._pg, self._controller
        js = pg.joystick.Joystick(index)
        js.init()
        iid = js.get_instance_id()
        if controller.is_controller(index):
            c = controller.Controller(index)
            return Device(iid, str(c.name or js.get_name() or f"pad {index}"), True, [c, js])
        return Device(iid, str(js.get_name() or f"joystick {index}"), False, [js])

    def events(self) -> list[PadEvent]:
        """Every pending pad event, converted."""
        out: list[PadEvent] = []
        for ev in self._pg.event.get():
            out.extend(self.convert(ev))
        return out

    def convert(self, ev: Any) -> list[PadEvent]:
        """PadEvents for one pygame event (none for unrelated or unknown-device events)."""
        t = ev.type
        if t == self._pg.JOYDEVICEADDED:
            return self._added(ev)
        iid = getattr(ev, "instance_id", None)
        dev = self.devices.get(iid) if isinstance(iid, int) else None
        if dev is None:
            return []
        if t in self._removed:
            del self.devices[dev.instance_id]
            dev.close()
            return [PadEvent("removed", dev.instance_id, dev.name)]
        if dev.is_controller:
            return self._controller_event(dev, ev)
        return self._joystick_event(dev, ev)

    def _added(self, ev: Any) -> list[PadEvent]:
        index = getattr(ev, "device_index", None)
        if not isinstance(index, int):
            return []
        try:
            dev = self.opener(index)
        except Exception as e:
            self.errors.append(f"cannot open pad {index}: {e}")
            return []
        if dev is None:
            return []
        if dev.instance_id in self.devices:
            dev.close()
            return []
        self.devices[dev.instance_id] = dev
        return [PadEvent("added", dev.instance_id, dev.name)]

    def _controller_event(self, dev: Device, ev: Any) -> list[PadEvent]:
        """A game controller's button or axis, by SDL's game-controller names."""
        pg, t = self._pg, ev.type
        if t in (pg.CONTROLLERBUTTONDOWN, pg.CONTROLLERBUTTONUP):
            b = getattr(ev, "button", -1)
            if isinstance(b, int) and 0 <= b < len(BUTTONS):
                down = 1.0 if t == pg.CONTROLLERBUTTONDOWN else 0.0
                return [PadEvent("button", dev.instance_id, dev.name, BUTTONS[b], down)]
        elif t == pg.CONTROLLERAXISMOTION:
            a = getattr(ev, "axis", -1)
            v = getattr(ev, "value", 0)
            if isinstance(a, int) and 0 <= a < len(AXES) and isinstance(v, int | float):
                return [PadEvent("axis", dev.instance_id, dev.name, AXES[a], v / 32767.0)]
        return []

    def _joystick_event(self, dev: Device, ev: Any) -> list[PadEvent]:
        """A raw joystick's button, axis or hat, named by the mapping's `raw:` numbers."""
        pg, t = self._pg, ev.type
        if t in (pg.JOYBUTTONDOWN, pg.JOYBUTTONUP):
            name = self.mapping.raw_buttons.get(getattr(ev, "button", -1))
            if name:
                down = 1.0 if t == pg.JOYBUTTONDOWN else 0.0
                return [PadEvent("button", dev.instance_id, dev.name, name, down)]
        elif t == pg.JOYAXISMOTION:
            name = self.mapping.raw_axes.get(getattr(ev, "axis", -1))
            v = getattr(ev, "value", 0.0)
            if name and isinstance(v, int | float):
                if name in TRIGGERS:
                    v = (v + 1.0) / 2.0  # raw triggers rest at -1
                return [PadEvent("axis", dev.instance_id, dev.name, name, float(v))]
        elif t == pg.JOYHATMOTION and getattr(ev, "hat", -1) == 0:
            return self._hat(dev, getattr(ev, "value", (0, 0)))
        return []

    def _hat(self, dev: Device, value: Any) -> list[PadEvent]:
        try:
            x, y = int(value[0]), int(value[1])
        except (TypeError, ValueError, IndexError):
            return []
        ox, oy = dev.hats.get(0, (0, 0))
        dev.hats[0] = (x, y)
        out = []
        for name, now, before in (
            ("dpup", y > 0, oy > 0),
            ("dpdown", y < 0, oy < 0),
            ("dpleft", x < 0, ox < 0),
            ("dpright", x > 0, ox > 0),
        ):
            if now != before:
                out.append(PadEvent("button", dev.instance_id, dev.name, name, float(now)))
        return out

    def close(self) -> None:
        """Close every device and the subsystems."""
        for dev in self.devices.values():
            dev.close()
        self.devices.clear()
        try:
            self._controller.quit()
            self._pg.joystick.quit()
        except Exception:
            pass


class GamepadInput:
    """Gamepads on the action queue: call `poll(t)` once per frame from the main thread.

    `put` receives the actions; `mapping` defaults to `load_mapping()`; `log(message,
    fields)` hears about pads connecting, disconnecting and failing. If pygame cannot be
    initialised the input stays inert (and says so in the log) rather than stopping the show.
    `backend` is injectable for tests (anything with `events()` and `close()`).
    """

    def __init__(
        self,
        put: Callable[[Action], None],
        mapping: GamepadMapping | None = None,
        log: Log | None = None,
        *,
        backend: Any = None,
    ) -> None:
        self._put = put
        self.mapping = mapping or load_mapping()
        self.mapper = GamepadMapper(self.mapping)
        self._log = log
        self._last_t: float | None = None
        self._errors = 0
        self.backend = backend
        if self.backend is None:
            try:
                self.backend = PygameBackend(self.mapping)
            except Exception as e:
                self._say("gamepad input disabled", {"error": str(e)})

    def _say(self, message: str, fields: dict[str, Any]) -> None:
        if self._log is not None:
            try:
                self._log(message, fields)
            except Exception:
                pass

    @property
    def connected(self) -> list[str]:
        """Names of the connected pads, for the status line."""
        return list(self.mapper.connected.values())

    def start(self) -> GamepadInput:
        """Nothing to start: pygame is pumped in `poll` on the main thread (the session's
        input protocol: start, poll, status, close)."""
        return self

    def status(self) -> InputStatus:
        """For the status snapshot: the connected pads."""
        return InputStatus("gamepad", pads=tuple(self.connected))

    def poll(self, t: float) -> None:
        """Pump pad events, update axes for the time since the last poll, queue actions."""
        dt = 0.0 if self._last_t is None else t - self._last_t
        self._last_t = t
        if self.backend is None:
            return
        try:
            events = self.backend.events()
            errors: list[str] = getattr(self.backend, "errors", [])
            for msg in errors:
                self._say("gamepad error", {"error": msg})
            errors.clear()
            for ev in events:
                if ev.kind == "added":
                    self._say("gamepad connected", {"pad": ev.name, "id": ev.pad_id})
                elif ev.kind == "removed":
                    self._say("gamepad disconnected", {"pad": ev.name, "id": ev.pad_id})
                for action in self.mapper.handle(ev):
                    self._put(action)
            for action in self.mapper.tick(dt):
                self._put(action)
        except Exception as e:
            self._errors += 1
            if self._errors <= 5:
                self._say("gamepad error", {"error": repr(e)})

    def close(self) -> None:
        """Release the pads."""
        if self.backend is not None:
            self.backend.close()
            self.backend = None
