"""JSON from the network, bounded: nesting depth and numbers (pure functions).

`json.loads` turns a 400-digit integer into a Python int that raises OverflowError the moment
anything makes a float of it, turns `1e400` into infinity, and recurses once per level of
nesting (RecursionError near 1,000 levels). `loads` refuses all three with a `JsonError`
whose text is one line: nesting deeper than `MAX_DEPTH` is found by a scan before parsing,
numbers outside the float range (and NaN, Infinity) while parsing. `JsonError.parsed` holds
what was read when only a number was at fault, so that a caller can still name the message
(its id) in its answer.
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

MAX_DEPTH = 32  # arrays and objects inside each other
_FLOAT_MAX = sys.float_info.max


class JsonError(ValueError):
    """JSON that is refused; the text is one line. `parsed`: the value read, when the only
    fault was a number out of range (the bad numbers are None in it), else None."""

    def __init__(self, reason: str, parsed: Any = None) -> None:
        super().__init__(reason)
        self.parsed = parsed


class _OutOfRange:
    """Stands for a number outside the float range while parsing."""

    def __init__(self, text: str) -> None:
        self.text = text


def depth(text: str) -> int:
    """The deepest nesting of arrays and objects in `text` (strings skipped); no recursion."""
    level = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            level += 1
            deepest = max(deepest, level)
        elif ch in "]}":
            level -= 1
    return deepest


def _int(text: str) -> int | _OutOfRange:
    digits = len(text.lstrip("-"))
    if digits > 309:  # beyond any float, and before int() spends time on it
        return _OutOfRange(text)
    value = int(text)
    return _OutOfRange(text) if abs(value) > _FLOAT_MAX else value


def _float(text: str) -> float | _OutOfRange:
    value = float(text)
    return value if math.isfinite(value) else _OutOfRange(text)


def _clean(value: Any, bad: list[str]) -> Any:
    """`value` with every out-of-range number replaced by None (their texts go to `bad`)."""
    if isinstance(value, _OutOfRange):
        bad.append(value.text)
        return None
    if isinstance(value, dict):
        return {k: _clean(v, bad) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, bad) for v in value]
    return value


def _constant(name: str) -> _OutOfRange:
    return _OutOfRange(name)  # NaN, Infinity, -Infinity


def loads(text: str | bytes, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON with the bounds of the module docstring; raises JsonError."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonError("not UTF-8 text") from None
    if depth(text) > max_depth:
        raise JsonError(f"JSON nested deeper than {max_depth} levels")
    try:
        value = json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except (ValueError, RecursionError) as exc:
        raise JsonError(f"malformed JSON: {str(exc).splitlines()[0][:120]}") from None
    bad: list[str] = []
    value = _clean(value, bad)
    if bad:
        shown = bad[0] if len(bad[0]) <= 24 else f"{bad[0][:12]}...({len(bad[0])} characters)"
        raise JsonError(f"number out of range: {shown}", parsed=value)
    return value
