"""Action scripts: timed actions as text, for `render --script`, tests and logs.

A script is whitespace-separated tokens `T:ACTION[=ARGS]` (T in seconds, a float >= 0),
on one line or many; `#` starts a comment to the end of the line. Names are the action names
of `app.cues.actions.ACTION_NAMES`, case-insensitive, plus `POEM` (standby by poems):

    0:GO 4:GO 9.5:BLACKOUT 12:FADEOUT=3 14:GOTO=2 15:GOTO=2/2.1 16:MASTER=0.5
    17:PANIC 18:NEXTFADE=0.5 19:BACK 20:BLACKOUT=0 21:GO=2/2.3 22:STANDBY=-1 23:POEM=+1
    24:CROSSFADE=0.3 25:LAYEROPACITY=2,0.5 26:LAYERRATE=1,0.5 27:ORBIT=5,2 28:PAN=0.01,0
    29:DOLLY=0.05 30:CAMERARESET 31:HARDBLACK

Arguments: GO takes none, `poem`, `poem/cue` or `/cue`; GOTO `poem` or `poem/cue`; BLACKOUT
none (toggle), `1`/`on` or `0`/`off`; FADEOUT none (the show's default fade) or seconds;
multi-argument actions take comma-separated values. Ids may not contain `/`, `,`, `#` or
spaces.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable

from app.cues.actions import (
    ACTION_NAMES,
    Action,
    Back,
    Blackout,
    CameraDolly,
    CameraOrbit,
    CameraPan,
    CameraReset,
    Crossfade,
    FadeOut,
    Go,
    Goto,
    HardBlack,
    LayerOpacity,
    LayerRate,
    Master,
    NextFade,
    Panic,
    StandbyStep,
)

_BY_NAME: dict[str, type[Action]] = {name: cls for cls, name in ACTION_NAMES.items()}
_NAMES = sorted([*_BY_NAME, "POEM"])
_TOKEN = re.compile(r"\S+")
_NO_ARGS: dict[str, type[Action]] = {
    "BACK": Back,
    "PANIC": Panic,
    "HARDBLACK": HardBlack,
    "CAMERARESET": CameraReset,
}


class ScriptError(ValueError):
    """A script that cannot be parsed; the message names the token and what is wrong."""


class _Bad(Exception):
    """A token's problem, turned into a ScriptError naming the token by the parser."""


def _float(text: str, what: str, minimum: float | None = None) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Bad(f"bad {what} {text!r} (expected a number)") from None
    if not math.isfinite(value):
        raise _Bad(f"bad {what} {text!r} (expected a finite number)")
    if minimum is not None and value < minimum:
        raise _Bad(f"bad {what} {text!r} (expected a number >= {minimum:g})")
    return value


def _int(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise _Bad(f"bad {what} {text!r} (expected a whole number)") from None


def _args(name: str, arg: str | None, count: int, what: str) -> list[str]:
    parts = [] if arg is None else arg.split(",")
    if len(parts) != count or any(not p for p in parts):
        raise _Bad(f"{name} takes {what}")
    return parts


def _ids(name: str, arg: str, poem_required: bool) -> tuple[str | None, str | None]:
    poem, sep, cue = arg.partition("/")
    if (sep and not cue) or (not poem and not sep) or "," in arg or "/" in cue:
        raise _Bad(f"bad {name} argument {arg!r} (expected poem or poem/cue)")
    if not poem and poem_required:
        raise _Bad(f"bad {name} argument {arg!r} (expected poem or poem/cue)")
    return (poem or None), (cue or None)


def _action(name: str, arg: str | None, source: str) -> Action:
    """One action from its upper-case name and its argument text (None when absent)."""
    if name in _NO_ARGS:
        if arg is not None:
            raise _Bad(f"{name} takes no argument")
        return _NO_ARGS[name](source=source)
    if name == "GO":
        if arg is None:
            return Go(source=source)
        poem, cue = _ids(name, arg, poem_required=False)
        return Go(poem=poem, cue=cue, source=source)
    if name == "GOTO":
        if arg is None:
            raise _Bad("GOTO takes poem or poem/cue")
        poem, cue = _ids(name, arg, poem_required=True)
        assert poem is not None
        return Goto(poem=poem, cue=cue, source=source)
    if name == "FADEOUT":
        seconds = None if arg is None else _float(arg, "seconds", minimum=0.0)
        return FadeOut(seconds=seconds, source=source)
    if name == "BLACKOUT":
        if arg is None:
            return Blackout(source=source)
        flags = {"1": True, "on": True, "0": False, "off": False}
        if arg.lower() not in flags:
            raise _Bad(f"bad BLACKOUT argument {arg!r} (expected 1, 0, on or off)")
        return Blackout(on=flags[arg.lower()], source=source)
    if name == "MASTER":
        (level,) = _args(name, arg, 1, "a level 0..1")
        return Master(level=_float(level, "level"), source=source)
    if name == "CROSSFADE":
        (pos,) = _args(name, arg, 1, "a position 0..1")
        return Crossfade(position=_float(pos, "position"), source=source)
    if name == "NEXTFADE":
        (sec,) = _args(name, arg, 1, "seconds")
        return NextFade(seconds=_float(sec, "seconds", minimum=0.0), source=source)
    if name in ("LAYEROPACITY", "LAYERRATE"):
        layer, value = _args(name, arg, 2, "layer,value")
        if name == "LAYEROPACITY":
            return LayerOpacity(
                layer=_int(layer, "layer"), opacity=_float(value, "opacity"), source=source
            )
        return LayerRate(layer=_int(layer, "layer"), rate=_float(value, "rate"), source=source)
    if name in ("STANDBY", "POEM"):
        (step,) = _args(name, arg, 1, "a step like +1 or -1")
        n = _int(step, "step")
        if name == "POEM":
            return StandbyStep(poems=n, source=source)
        return StandbyStep(cues=n, source=source)
    if name in ("ORBIT", "PAN"):
        dx, dy = _args(name, arg, 2, "dx,dy")
        cls = CameraOrbit if name == "ORBIT" else CameraPan
        return cls(dx=_float(dx, "dx"), dy=_float(dy, "dy"), source=source)
    if name == "DOLLY":
        (d,) = _args(name, arg, 1, "a distance d")
        return CameraDolly(d=_float(d, "d"), source=source)
    raise _Bad(f"action {name} cannot be scripted")  # a new action without a script form


def parse_script(text: str, source: str = "script") -> list[tuple[float, Action]]:
    """Parse a script into `(t, action)` pairs sorted by time (stable for equal times).

    Every action gets `source`. Raises `ScriptError` naming the first bad token, e.g.
    "script token 3 '9.x:GO': bad time '9.x' (expected a number)"; for a script of several
    lines the message also gives the line.
    """
    lines = text.splitlines()
    items: list[tuple[float, Action]] = []
    n = 0
    for line_no, line in enumerate(lines, start=1):
        for m in _TOKEN.finditer(line.split("#", 1)[0]):
            n += 1
            token = m.group(0)
            where = f"script token {n} {token!r}"
            if len(lines) > 1:
                where += f" (line {line_no})"
            try:
                items.append(_token(token, source))
            except _Bad as e:
                raise ScriptError(f"{where}: {e}") from None
    items.sort(key=lambda item: item[0])
    return items


def _token(token: str, source: str) -> tuple[float, Action]:
    time_text, sep, rest = token.partition(":")
    if not sep or not rest:
        raise _Bad("expected T:ACTION (e.g. 4:GO)")
    try:
        t = float(time_text)
    except ValueError:
        raise _Bad(f"bad time {time_text!r} (expected a number)") from None
    if not math.isfinite(t) or t < 0:
        raise _Bad(f"bad time {time_text!r} (expected seconds >= 0)")
    name_text, eq, arg = rest.partition("=")
    name = name_text.upper()
    if name not in _BY_NAME and name != "POEM":
        close = difflib.get_close_matches(name, _NAMES, n=1)
        hint = f"did you mean {close[0]}?" if close else f"expected one of {', '.join(_NAMES)}"
        raise _Bad(f"unknown action {name_text!r} ({hint})")
    if eq and not arg:
        raise _Bad(f"empty argument after {name}=")
    return t, _action(name, arg if eq else None, source)


def _num(x: float) -> str:
    """Shortest text that parses back to the same float ('4' for 4.0)."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _ids_text(poem: str | None, cue: str | None) -> str:
    if poem is None:
        return f"/{cue}"
    return poem if cue is None else f"{poem}/{cue}"


def format_action(action: Action) -> str:
    """One action as script text without its time (e.g. 'GOTO=2/2.1', 'ORBIT=5,2').

    A StandbyStep that moves both poems and cues has no single token; it is written as two
    (`POEM=n STANDBY=m`), which the engine applies in the same order.
    """
    name = action.name
    match action:
        case Go(poem=None, cue=None):
            return name
        case Go(poem=poem, cue=cue) | Goto(poem=poem, cue=cue):
            return f"{name}={_ids_text(poem, cue)}"
        case FadeOut(seconds=seconds):
            return name if seconds is None else f"{name}={_num(seconds)}"
        case Blackout(on=on):
            return name if on is None else f"{name}={int(on)}"
        case Master(level=v) | Crossfade(position=v) | NextFade(seconds=v) | CameraDolly(d=v):
            return f"{name}={_num(v)}"
        case LayerOpacity(layer=layer, opacity=v) | LayerRate(layer=layer, rate=v):
            return f"{name}={layer},{_num(v)}"
        case CameraOrbit(dx=dx, dy=dy) | CameraPan(dx=dx, dy=dy):
            return f"{name}={_num(dx)},{_num(dy)}"
        case StandbyStep(cues=cues, poems=poems):
            parts = [f"POEM={poems:+d}"] if poems else []
            if cues or not poems:
                parts.append(f"STANDBY={cues:+d}")
            return " ".join(parts)
    return name


def format_script(items: Iterable[tuple[float, Action]]) -> str:
    """The inverse of `parse_script`: one line of `T:ACTION` tokens (for logs)."""
    tokens = []
    for t, action in items:
        for part in format_action(action).split(" "):
            tokens.append(f"{_num(t)}:{part}")
    return " ".join(tokens)
