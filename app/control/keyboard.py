"""Keyboard on the output and operator windows -> actions.

The keys are bindings onto the command table (app/cues/commands.py), kept as data in
`keyboard_default.yaml` (a show's `keyboard:` block overrides them key by key); the README's
key table is generated from it. Esc is not bindable: pressed twice within 1 s it quits.

A single Esc does nothing but arm the quit: `handle` returns a `Hint` ("press Esc again to
quit") for the status line, and `hint` keeps saying it while armed. Any other key disarms
it. Key repeat (a held key) fires again only for the keys listed under `repeat:` (the arrows
that move the standby); it never fires GO, BACK, blackout or PANIC. Keys held with ctrl,
alt or super are ignored (window manager shortcuts).

Events are any object with `key` (a lower-case name: 'space', 'b', 'left'...) and `action`
('press', 'release' or 'repeat'), e.g. the output's `KeyEvent`; this module has its own
`KeyEvent` of that shape for callers that do not use the render room.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, Protocol

from app.control.bindings import HERE, read_yaml
from app.cues.actions import Action
from app.cues.commands import parse

QUIT_WINDOW = 1.0  # seconds between the two Esc presses
QUIT_HINT = "press Esc again to quit"
_IGNORED_MODS = frozenset({"ctrl", "alt", "super"})


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


def load_bindings(path: Path = DEFAULT_KEYS_FILE) -> dict[str, KeyBinding]:
    """Key name -> binding, from a file shaped like `keyboard_default.yaml`.

    The command lines are checked when the show is checked (`app.show.controls`); a bad
    one here raises `CommandError` at the first press, never silently.
    """
    data = read_yaml(path)
    repeat = set(data.get("repeat") or ())
    return {
        str(key): KeyBinding(str(line), str(key) in repeat)
        for key, line in (data.get("keys") or {}).items()
        if line is not None and str(line).lower() != "none"
    }


DEFAULT_BINDINGS: Mapping[str, KeyBinding] = load_bindings()


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

    @property
    def hint(self) -> str | None:
        """The status-line hint while a first Esc is armed, else None."""
        if self._esc_at is not None and self._clock() - self._esc_at <= QUIT_WINDOW:
            return QUIT_HINT
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
            return None
        if event.action == "repeat" and not binding.repeat:
            return None
        return parse(binding.command, source="key", detail=key)
