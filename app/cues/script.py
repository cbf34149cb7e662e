"""Action scripts: timed command lines, for `render --script`, `play --script`, tests, logs.

A script is a sequence of items `T:COMMAND [ARG ...]`, T in seconds (a number >= 0), the
command line in the canonical form of the command table (`app.cues.commands`; names are
case-insensitive); items follow each other on one line or many, and `#` starts a comment
to the end of the line:

    0:go 4:go 9.5:blackout 12:fadeout 3 14:standby 2 15:standby 2 2.1 16:master 0.5
    17:panic 18:next_fade 0.5 19:back 20:blackout 0 21:go 2 2.3 22:standby_prev
    23:poem_next 24:tbar 0.3 25:layer_opacity 2 0.5 26:layer_rate 1 0.5 27:orbit 5 2

A word with a `:` starts the next item, so arguments (poem and cue ids) may
not contain `:`; ids may not contain spaces or `#` either.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from app.cues.actions import Action
from app.cues.commands import CommandError, format_action, parse

_ITEM = re.compile(r"^([^:\s]*):(.*)$")


class ScriptError(ValueError):
    """A script that cannot be parsed; the message names the item and what is wrong."""


def _time(text: str) -> float | None:
    """The item time of a `T:` prefix, None when `text` is not a number at all."""
    try:
        t = float(text)
    except ValueError:
        return None
    return t


def _items(text: str) -> list[tuple[int, str, list[str]]]:
    """(line, time text, words) per item; words[0] is the command."""
    items: list[tuple[int, str, list[str]]] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        for word in line.split("#", 1)[0].split():
            m = _ITEM.match(word)
            if m is not None:
                items.append((line_no, m.group(1), [m.group(2)] if m.group(2) else []))
            elif items:
                items[-1][2].append(word)
            else:
                raise ScriptError(f"script item 1 {word!r}: expected T:COMMAND (e.g. 4:go)")
    return items


def parse_script(text: str, source: str = "script") -> list[tuple[float, Action]]:
    """Parse a script into `(t, action)` pairs sorted by time (stable for equal times).

    Every action gets `source`. Raises `ScriptError` naming the first bad item, e.g.
    "script item 3 '9.x:go': bad time '9.x' (expected a number)"; for a script of several
    lines the message also gives the line.
    """
    multi = len(text.splitlines()) > 1
    out: list[tuple[float, Action]] = []
    for n, (line_no, time_text, words) in enumerate(_items(text), start=1):
        shown = f"{time_text}:{' '.join(words)}"
        where = f"script item {n} {shown!r}" + (f" (line {line_no})" if multi else "")
        t = _time(time_text)
        if t is None:
            raise ScriptError(f"{where}: bad time {time_text!r} (expected a number)")
        if not math.isfinite(t) or t < 0:
            raise ScriptError(f"{where}: bad time {time_text!r} (expected seconds >= 0)")
        if not words:
            raise ScriptError(f"{where}: expected T:COMMAND (e.g. 4:go)")
        try:
            out.append((t, parse(" ".join(words), source=source)))
        except CommandError as e:
            raise ScriptError(f"{where}: {e}") from None
    out.sort(key=lambda item: item[0])
    return out


def _num(x: float) -> str:
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def format_script(items: Iterable[tuple[float, Action]]) -> str:
    """The inverse of `parse_script`: one line of `T:command args` items (for logs)."""
    out = []
    for t, action in items:
        for line in format_action(action).split(" ; "):
            out.append(f"{_num(t)}:{line}")
    return " ".join(out)
