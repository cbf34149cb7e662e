"""Window code shared by the output and the operator windows (glfw): key events, context
hints, monitor lookup. One place, so that both windows name keys and monitors alike.

glfw is imported inside the functions: importing this module needs no display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

KeyAction = Literal["press", "release", "repeat"]


class OutputError(RuntimeError):
    """An output that cannot be opened (no display, no such monitor, no GL context...)."""


@dataclass(frozen=True)
class KeyEvent:
    """A key on a window: a lower-case name ('space', 'b', 'left', 'f1'...)."""

    key: str
    action: KeyAction
    mods: frozenset[str] = field(default_factory=frozenset)  # 'shift', 'ctrl', 'alt', 'super'


def key_names() -> dict[int, str]:
    """glfw key code -> our name (glfw's constant without KEY_, lower case)."""
    import glfw

    names = {}
    for attr in dir(glfw):
        if attr.startswith("KEY_") and attr not in ("KEY_UNKNOWN", "KEY_LAST"):
            names[getattr(glfw, attr)] = attr[4:].lower()
    return names


def key_mods(mods: int) -> frozenset[str]:
    """glfw's modifier bits as names."""
    import glfw

    flags = {
        glfw.MOD_SHIFT: "shift",
        glfw.MOD_CONTROL: "ctrl",
        glfw.MOD_ALT: "alt",
        glfw.MOD_SUPER: "super",
    }
    return frozenset(name for bit, name in flags.items() if mods & bit)


def key_callback(sink: Callable[[KeyEvent], None]) -> Callable[[Any, int, int, int, int], None]:
    """A glfw key callback that hands `KeyEvent`s to `sink` (layout-aware for printable keys:
    the 'b' of an AZERTY keyboard is 'b')."""
    import glfw

    names = key_names()
    actions = {glfw.PRESS: "press", glfw.RELEASE: "release", glfw.REPEAT: "repeat"}

    def on_key(window: object, key: int, scancode: int, action: int, mods: int) -> None:
        name = names.get(key)
        if name is None or len(name) == 1:
            layout = glfw.get_key_name(key, scancode)
            if layout:
                name = layout.decode(errors="replace") if isinstance(layout, bytes) else layout
                name = name.lower()
        if name is None or action not in actions:
            return
        sink(KeyEvent(name, actions[action], key_mods(mods)))  # type: ignore[arg-type]

    return on_key


def core_context_hints() -> None:
    """Window hints for an OpenGL 3.3 core, forward-compatible, double-buffered context."""
    import glfw

    glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
    glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
    glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
    glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
    glfw.window_hint(glfw.DOUBLEBUFFER, True)


def find_monitor(monitor: int | str | None, what: str = "the window") -> Any:
    """The glfw monitor by index, by a digit string, or by part of its name (None: the
    primary one); OutputError listing the monitors when there is no such one."""
    import glfw

    monitors = list(glfw.get_monitors() or [])
    if not monitors:
        raise OutputError(f"no monitor found for {what}")
    if monitor is None:
        return glfw.get_primary_monitor()
    names = [glfw.get_monitor_name(m).decode(errors="replace") for m in monitors]
    listing = ", ".join(f"{i}: {n}" for i, n in enumerate(names))
    if isinstance(monitor, str) and monitor.isdigit():
        monitor = int(monitor)
    if isinstance(monitor, int):
        if 0 <= monitor < len(monitors):
            return monitors[monitor]
        raise OutputError(f"no monitor {monitor} for {what} (monitors: {listing})")
    for m, n in zip(monitors, names, strict=True):
        if monitor.lower() in n.lower():
            return m
    raise OutputError(f"no monitor named like {monitor!r} (monitors: {listing})")
