"""Keyboard on the output and operator windows -> actions.

The keys are bindings onto the command table (app/cues/commands.py), kept as data in
`keyboard_default.yaml` (a show's `keyboard:` block overrides them key by key); the README's
key table is generated from it. Esc is not bindable: pressed twice within 1 s it quits.

A single Esc does nothing but arm the quit: `handle` returns a `Hint` ("press Esc again to
quit") for the status line, and `hint` keeps saying it while armed. Any other key disarms
it. Key repeat (a held key) fires again only for the keys listed under `repeat:` (the arrows
that move the standby); it never fires GO, BACK, blackout or PANIC. Keys held with ctrl,
alt or super are ignored (window manager shortcuts).

A key bound to a command of `CONFIRMED` (blackout) acts only when pressed twice within
`CONFIRM_WINDOW` (1 s): a stray touch of `b` must not black the stage out (or bring the
picture back). The first press returns a `Hint` ("press b again for BLACKOUT"), which `hint`
keeps saying while armed; any other key disarms it.

Events are any object with `key` (a lower-case name: 'space', 'b', 'left'...) and `action`
('press', 'release' or 'repeat'), e.g. the output's `KeyEvent`; this module has its own
`KeyEvent` of that shape for callers that do not use the render room.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal, Protocol

from app.confirm import CONFIRM_WINDOW, SecondPress
from app.control.bindings import HERE
from app.cues.actions import Action
from app.cues.commands import parse
from app.show.controls import KeyboardSpec, read_file, read_keyboard

QUIT_WINDOW = 1.0  # seconds between the two Esc presses
QUIT_HINT = "press Esc again to quit"
_IGNORED_MODS = frozenset({"ctrl", "alt", "super"})
CONFIRMED = frozenset({"blackout"})  # commands whose keys need a second press


class KeyLike(Protocol):
    """What `KeyboardMapper.handle` needs from a key event."""

    @property
    def key(self) -> str: ...

    @property
    def action(self) -> str: ...


@dataclass(frozen=True)
class KeyEvent:
    """A key event: a lower-case key name and 'press', 'release' or 'repeat'."""

    key: str
    action: Literal["press", "release", "repeat"] = "press"
    mods: frozenset[str] = field(default_factory=frozenset)


class Quit:
    """The type of `QUIT`, the answer to the second Esc."""

    _instance: Quit | None = None

    def __new__(cls) -> Quit:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "QUIT"


QUIT: Final = Quit()


@dataclass(frozen=True)
class Hint:
    """A message for the status line (not an action)."""

    text: str


DEFAULT_KEYS_FILE = HERE / "keyboard_default.yaml"


@dataclass(frozen=True)
class KeyBinding:
    """A key's command line, and whether the key's auto-repeat fires it again."""

    command: str
    repeat: bool = False


class KeyBindingError(ValueError):
    """A key file that does not validate; the message lists `file:line: problem` lines."""


def _default_spec() -> KeyboardSpec:
    spec, problems = read_file(DEFAULT_KEYS_FILE, read_keyboard, "keyboard")
    if problems:
        raise KeyBindingError("\n".join(str(p) for p in problems))
    return spec


DEFAULT_SPEC: KeyboardSpec = _default_spec()


def bindings_for(*overrides: KeyboardSpec | None) -> dict[str, KeyBinding]:
    """Key name -> binding: the default file with each spec (a show's `keyboard:`) over it.

    Keys map to command lines already checked against the command table by the show's
    validator (`app.show.controls.read_keyboard`); a `repeat:` list replaces the default.
    """
    keys = dict(DEFAULT_SPEC.keys)
    repeat = set(DEFAULT_SPEC.repeat or ())
    for over in overrides:
        if over is None:
            continue
        keys.update(over.keys)
        if over.repeat is not None:
            repeat = set(over.repeat)
    return {k: KeyBinding(line, k in repeat) for k, line in keys.items() if line is not None}


DEFAULT_BINDINGS: Mapping[str, KeyBinding] = bindings_for()


class KeyboardMapper:
    """Turns key events into actions, `QUIT`, a `Hint`, or None.

    `clock` is monotonic seconds (injectable; the player passes its frame clock).
    `bindings` replaces `DEFAULT_BINDINGS`.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        bindings: Mapping[str, KeyBinding] | None = None,
    ) -> None:
        self._clock = clock
        self.bindings = dict(DEFAULT_BINDINGS if bindings is None else bindings)
        self._esc_at: float | None = None
        self._confirm = SecondPress(clock, CONFIRM_WINDOW)

    @property
    def hint(self) -> str | None:
        """The status-line hint while a first Esc (or a confirmed key) is armed, else None."""
        if self._esc_at is not None and self._clock() - self._esc_at <= QUIT_WINDOW:
            return QUIT_HINT
        key = self._confirm.armed
        if key is not None and key in self.bindings:
            return _confirm_hint(key, self.bindings[key].command)
        return None

    def handle(self, event: KeyLike) -> Action | Quit | Hint | None:
        """The outcome of one key event."""
        if event.action == "release":
            return None
        if _IGNORED_MODS & set(getattr(event, "mods", ()) or ()):
            return None
        key = event.key.lower()
        if key == "escape":
            if event.action != "press":
                return None
            now = self._clock()
            if self._esc_at is not None and now - self._esc_at <= QUIT_WINDOW:
                self._esc_at = None
                return QUIT
            self._esc_at = now
            return Hint(QUIT_HINT)
        binding = self.bindings.get(key)
        if event.action == "press":
            self._esc_at = None  # any other key disarms the quit
        if binding is None:
            if event.action == "press":
                self._confirm.disarm()
            return None
        if event.action == "repeat" and not binding.repeat:
            return None
        if binding.command.split()[0] in CONFIRMED:
            if not self._confirm.press(key):
                return Hint(_confirm_hint(key, binding.command))
        elif event.action == "press":
            self._confirm.disarm()
        return parse(binding.command, source="key", detail=key)


def _confirm_hint(key: str, command: str) -> str:
    return f"press {key} again for {command.split()[0].upper()}"
