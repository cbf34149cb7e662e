"""Typed specs of a show's control blocks (`osc:`, `gamepad:`, `keyboard:`, `web:`), validated
here.

Each block is read from its YAML node with the schema's converters, so every mistake is a
`file:line` problem with a "did you mean" like the rest of the show; bindings are checked
against the command table (a binding to an unknown command lists the known ones). The
defaults live here, once: the OSC port and bind address, and the control names of pads and
keyboards. The gamepad's default mapping file (app/control/gamepad_default.yaml) and the
keyboard's (app/control/keyboard_default.yaml) are read by these same functions.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app import safe_yaml
from app.cues.commands import check
from app.show.schema import (
    INVALID,
    NULL_TAG,
    Problem,
    Reporter,
    block,
    boolean,
    describe,
    identifier,
    integer,
    mapping,
    number,
    read_fields,
    string,
    suggest,
)

DEFAULT_OSC_PORT = 7700
DEFAULT_OSC_HOST = "0.0.0.0"  # every interface; the allow-list decides who may talk
ALLOW_KEYWORDS = ("local", "loopback", "localhost", "private", "any", "all", "*")
NONE = "none"  # unbinds a control in a binding block

# SDL game-controller names, in SDL's enum order (the index is the SDL button/axis number).
PAD_BUTTONS = (
    "a",
    "b",
    "x",
    "y",
    "back",
    "guide",
    "start",
    "leftstick",
    "rightstick",
    "leftshoulder",
    "rightshoulder",
    "dpup",
    "dpdown",
    "dpleft",
    "dpright",
    "misc1",
    "paddle1",
    "paddle2",
    "paddle3",
    "paddle4",
    "touchpad",
)
PAD_AXES = ("leftx", "lefty", "rightx", "righty", "lefttrigger", "righttrigger")
ABSOLUTE_AXIS_ACTIONS = ("tbar", "master")
"""Commands an axis position drives directly (their one argument is the position)."""
MOVE_AXIS_ACTIONS = ("orbit.dx", "orbit.dy", "pan.dx", "pan.dy", "dolly.d")
"""`command.argument` targets that a held stick moves by `speed * position * dt`."""
AXIS_ACTIONS = ABSOLUTE_AXIS_ACTIONS + MOVE_AXIS_ACTIONS

# glfw's key names, lower case without KEY_ (tests/test_show_controls.py compares with glfw).
KEY_NAMES = (
    *"0123456789abcdefghijklmnopqrstuvwxyz",
    *(f"f{n}" for n in range(1, 26)),
    *(f"kp_{n}" for n in range(10)),
    "apostrophe",
    "backslash",
    "backspace",
    "caps_lock",
    "comma",
    "delete",
    "down",
    "end",
    "enter",
    "equal",
    "escape",
    "grave_accent",
    "home",
    "insert",
    "kp_add",
    "kp_decimal",
    "kp_divide",
    "kp_enter",
    "kp_equal",
    "kp_multiply",
    "kp_subtract",
    "left",
    "left_alt",
    "left_bracket",
    "left_control",
    "left_shift",
    "left_super",
    "menu",
    "minus",
    "num_lock",
    "page_down",
    "page_up",
    "pause",
    "period",
    "print_screen",
    "right",
    "right_alt",
    "right_bracket",
    "right_control",
    "right_shift",
    "right_super",
    "scroll_lock",
    "semicolon",
    "slash",
    "space",
    "tab",
    "up",
    "world_1",
    "world_2",
)
UNBINDABLE_KEYS = ("escape",)  # Esc twice quits; it is never a binding


def _frozen(d: Mapping[Any, Any] | None = None) -> Mapping[Any, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class OscSpec:
    """The `osc:` block: bind address, port, passcode and allow-list (None = `local`)."""

    host: str = DEFAULT_OSC_HOST
    port: int = DEFAULT_OSC_PORT
    passcode: str | None = None
    allow: tuple[str, ...] | None = None


@dataclass(frozen=True)
class WebSpec:
    """The `web:` block (the web console): None = not given (the command line's flags, then
    the defaults: every interface, port 8080, new tokens each run, allow-list `local`)."""

    host: str | None = None
    port: int | None = None
    token: str | None = None
    view_token: str | None = None
    allow: tuple[str, ...] | None = None


@dataclass(frozen=True)
class AxisSpec:
    """An axis binding: `action` (an AXIS_ACTIONS target), inverted or not, move speed."""

    action: str
    invert: bool = False
    speed: float = 1.0


@dataclass(frozen=True)
class GamepadSpec:
    """A `gamepad:` block (or the default mapping file): overrides, None = not given.

    In the binding maps a None value unbinds the control (`none` in the file).
    """

    dead_zone: float | None = None
    smoothing: float | None = None
    buttons: Mapping[str, str | None] = field(default_factory=_frozen)
    axes: Mapping[str, AxisSpec | None] = field(default_factory=_frozen)
    raw_buttons: Mapping[int, str | None] = field(default_factory=_frozen)
    raw_axes: Mapping[int, str | None] = field(default_factory=_frozen)


@dataclass(frozen=True)
class KeyboardSpec:
    """A `keyboard:` block (or the default key file): key -> command line (None unbinds),
    and the keys whose auto-repeat fires again (None = not given)."""

    keys: Mapping[str, str | None] = field(default_factory=_frozen)
    repeat: tuple[str, ...] | None = None


# --- readers -------------------------------------------------------------------------------


def _word(node: Node) -> str | None:
    if isinstance(node, ScalarNode) and node.tag != NULL_TAG:
        return str(node.value).strip()
    return None


def _unknown(rep: Reporter, node: Node, what: str, word: str, options: tuple[str, ...]) -> None:
    close = suggest(word, options)
    hint = f"did you mean '{close}'?" if close else f"expected one of: {', '.join(options)}"
    rep.add(node, f"unknown name '{word}' in {what}, {hint}")


def _command_line(node: Node, rep: Reporter, where: str) -> Any:
    """A binding's command line (None for `none` or an empty value); problems reported."""
    if isinstance(node, ScalarNode) and node.tag == NULL_TAG:
        return None
    line = _word(node)
    if line is None:
        rep.add(node, f"{where}: expected a command line (e.g. go), got {describe(node)}")
        return INVALID
    if line.lower() == NONE:
        return None
    problem = check(line)
    if problem is not None:
        rep.add(node, f"{where}: {problem}")
        return INVALID
    return line


def read_osc(node: Node, rep: Reporter) -> OscSpec:
    """The `osc:` block."""
    keys = ("host", "port", "passcode", "allow")
    items = block(node, rep, "osc", keys)
    if items is None:
        return OscSpec()
    values = read_fields(
        items,
        {"host": string(), "port": integer(0), "passcode": identifier(nullable=True)},
        rep,
        prefix="osc.",
    )
    if "port" in values and values["port"] > 65535:
        rep.add(items["port"][1], f"osc.port: expected a port 0..65535, got {values['port']}")
        del values["port"]
    if "allow" in items:
        allow = _allow(items["allow"][1], rep)
        if allow is not INVALID:
            values["allow"] = allow
    return OscSpec(**values)


WEB_KEYS = ("host", "port", "token", "view_token", "allow")


def read_web(node: Node, rep: Reporter) -> WebSpec:
    """The `web:` block: bind address, port, the two tokens and the allow-list."""
    items = block(node, rep, "web", WEB_KEYS)
    if items is None:
        return WebSpec()
    values = read_fields(
        items,
        {"host": string(), "port": integer(0), "token": string(), "view_token": string()},
        rep,
        prefix="web.",
    )
    if "port" in values and values["port"] > 65535:
        rep.add(items["port"][1], f"web.port: expected a port 0..65535, got {values['port']}")
        del values["port"]
    for key in ("host", "token", "view_token"):
        if key in values and not values[key].strip():
            rep.add(items[key][1], f"web.{key}: expected a text, got an empty text")
            del values[key]
    if "token" in values and values.get("view_token") == values["token"]:
        rep.add(items["view_token"][1], "web.view_token: must differ from web.token")
        del values["view_token"]
    if "allow" in items:
        allow = _allow(items["allow"][1], rep, "web.allow")
        if allow is not INVALID:
            values["allow"] = allow
    return WebSpec(**values)


def _allow(node: Node, rep: Reporter, where: str = "osc.allow") -> Any:
    entries = node.value if isinstance(node, SequenceNode) else [node]
    out: list[str] = []
    for entry in entries:
        word = _word(entry)
        if word is None:
            rep.add(
                entry,
                f"{where}: expected an address, a network or a keyword, got {describe(entry)}",
            )
            return INVALID
        if word.lower() in ALLOW_KEYWORDS:
            out.append(word)
            continue
        try:
            ipaddress.ip_network(word, strict=False)
        except ValueError:
            close = suggest(word, ALLOW_KEYWORDS)
            hint = (
                f"did you mean '{close}'?"
                if close
                else (
                    "expected an IP address, a network (a.b.c.d/n) or one of "
                    "local, loopback, private, any"
                )
            )
            rep.add(entry, f"{where}: {word!r} is not an address or a network, {hint}")
            return INVALID
        out.append(word)
    return tuple(out)


def _axis(node: Node, rep: Reporter, where: str) -> Any:
    """One axis binding: an action word, `none`, or {action, invert, speed}."""
    if isinstance(node, ScalarNode):
        word = _word(node)
        if word is None or word.lower() == NONE:
            return None
        if word not in AXIS_ACTIONS:
            _unknown(rep, node, f"{where}", word, AXIS_ACTIONS)
            return INVALID
        return AxisSpec(word)
    items = block(node, rep, where, ("action", "invert", "speed"))
    if items is None:
        return INVALID
    values = read_fields(
        items, {"invert": boolean(), "speed": number(0.0, 1000.0)}, rep, prefix=f"{where}."
    )
    action = _word(items["action"][1]) if "action" in items else None
    if action is None:
        rep.add(node, f"{where}: expected an action ({', '.join(AXIS_ACTIONS)})")
        return INVALID
    if action.lower() == NONE:
        return None
    if action not in AXIS_ACTIONS:
        _unknown(rep, items["action"][1], f"{where}.action", action, AXIS_ACTIONS)
        return INVALID
    return AxisSpec(action, **values)


def _controls(
    node: Node, rep: Reporter, where: str, names: tuple[str, ...], read: Any
) -> dict[Any, Any]:
    """A map of control name -> binding, every control name checked against `names`."""
    items = mapping(node, rep, where)
    out: dict[Any, Any] = {}
    for key, (knode, vnode) in (items or {}).items():
        if key not in names:
            _unknown(rep, knode, where, key, names)
            continue
        value = read(vnode, rep, f"{where}.{key}")
        if value is not INVALID:
            out[key] = value
    return out


def _raw(node: Node, rep: Reporter) -> tuple[dict[int, str | None], dict[int, str | None]]:
    items = block(node, rep, "gamepad.raw", ("buttons", "axes"))
    found: tuple[dict[int, str | None], dict[int, str | None]] = ({}, {})
    if items is None:
        return found
    for k, (section, names) in enumerate((("buttons", PAD_BUTTONS), ("axes", PAD_AXES))):
        where = f"gamepad.raw.{section}"
        sub = mapping(items[section][1], rep, where) if section in items else None
        for key, (knode, vnode) in (sub or {}).items():
            if not key.isdigit() or int(key) > 255:
                rep.add(knode, f"{where}: expected a {section[:-1]} number 0..255, got {key!r}")
                continue
            word = _word(vnode)
            if word is None or word.lower() == NONE:
                found[k][int(key)] = None
            elif word not in names:
                _unknown(rep, vnode, f"{where}.{key}", word, names)
            else:
                found[k][int(key)] = word
    return found


GAMEPAD_KEYS = ("dead_zone", "smoothing", "buttons", "axes", "raw")


def read_gamepad(node: Node, rep: Reporter, name: str = "gamepad") -> GamepadSpec:
    """A `gamepad:` block, or a whole mapping file (`name` prefixes the messages)."""
    items = block(node, rep, name, GAMEPAD_KEYS)
    if items is None:
        return GamepadSpec()
    values = read_fields(
        items,
        {"dead_zone": number(0.0, 0.9), "smoothing": number(0.0, 2.0)},
        rep,
        prefix=f"{name}.",
    )
    buttons = axes = {}
    if "buttons" in items:
        buttons = _controls(items["buttons"][1], rep, f"{name}.buttons", PAD_BUTTONS, _command_line)
    if "axes" in items:
        axes = _controls(items["axes"][1], rep, f"{name}.axes", PAD_AXES, _axis)
    raw_buttons, raw_axes = _raw(items["raw"][1], rep) if "raw" in items else ({}, {})
    return GamepadSpec(
        values.get("dead_zone"),
        values.get("smoothing"),
        _frozen(buttons),
        _frozen(axes),
        _frozen(raw_buttons),
        _frozen(raw_axes),
    )


def read_keyboard(node: Node, rep: Reporter, name: str = "keyboard") -> KeyboardSpec:
    """A `keyboard:` block: `keys: {key: command line}` and `repeat: [key, ...]`."""
    items = block(node, rep, name, ("keys", "repeat"))
    if items is None:
        return KeyboardSpec()
    bindable = tuple(k for k in KEY_NAMES if k not in UNBINDABLE_KEYS)

    def key_line(node: Node, rep: Reporter, where: str) -> Any:
        if where.rsplit(".", 1)[-1] in UNBINDABLE_KEYS:
            rep.add(node, f"{where}: Esc cannot be bound (pressed twice within 1 s it quits)")
            return INVALID
        return _command_line(node, rep, where)

    keys = {}
    if "keys" in items:
        keys = _controls(items["keys"][1], rep, f"{name}.keys", KEY_NAMES, key_line)
    repeat: tuple[str, ...] | None = None
    if "repeat" in items:
        node_r = items["repeat"][1]
        if not isinstance(node_r, SequenceNode):
            rep.add(node_r, f"{name}.repeat: expected a list of keys, got {describe(node_r)}")
        else:
            good = []
            for entry in node_r.value:
                word = _word(entry)
                if word is None or word not in bindable:
                    _unknown(rep, entry, f"{name}.repeat", str(word), bindable)
                else:
                    good.append(word)
            repeat = tuple(good)
    return KeyboardSpec(_frozen(keys), repeat)


def read_file(path: Path, reader: Any, name: str) -> tuple[Any, list[Problem]]:
    """A binding file read by `reader` (read_gamepad, read_keyboard): (spec, problems)."""
    rep = Reporter(path)
    try:
        root = safe_yaml.compose(path.read_text())
    except OSError as e:
        return None, [Problem(path, 1, str(e))]
    except yaml.YAMLError as e:
        line, _, what = safe_yaml.one_line(e, "").partition(": ")
        return None, [Problem(path, int(line.lstrip(":") or 1), what)]
    if root is None:
        return reader(MappingNode("tag:yaml.org,2002:map", []), rep, name), []
    spec = reader(root, rep, name)
    return spec, rep.problems
