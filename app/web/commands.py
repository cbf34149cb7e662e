"""Console commands -> actions: a web message's `name` and `args` become one action.

The console sends action names of `app.cues.actions.ACTION_NAMES` with keyword arguments
named as the action's fields (`{"name": "LAYEROPACITY", "args": {"layer": 1, "opacity":
0.5}}`); every value is checked here, so that a wrong type or an out-of-range value is
answered with a reason and never reaches the engine.
"""

from __future__ import annotations

import math
from dataclasses import fields
from typing import Any

from app.cues.actions import ACTION_NAMES, Action

MAX_FADE = 600.0
MAX_RATE = 4.0
MAX_LAYER = 16
MAX_CAMERA_STEP = 90.0
MAX_ID = 64

# (low, high) of each numeric field; fields not named here are ids or flags
RANGES: dict[str, tuple[float, float]] = {
    "level": (0.0, 1.0),
    "position": (0.0, 1.0),
    "opacity": (0.0, 1.0),
    "rate": (0.0, MAX_RATE),
    "seconds": (0.0, MAX_FADE),
    "layer": (1, MAX_LAYER),
    "cues": (-1000, 1000),
    "poems": (-1000, 1000),
    "dx": (-MAX_CAMERA_STEP, MAX_CAMERA_STEP),
    "dy": (-MAX_CAMERA_STEP, MAX_CAMERA_STEP),
    "d": (-1.0, 1.0),
}
_BY_NAME: dict[str, type[Action]] = {name: cls for cls, name in ACTION_NAMES.items()}
NAMES: tuple[str, ...] = tuple(sorted(_BY_NAME))


class CommandError(ValueError):
    """A command that cannot become an action; the text is the reason sent back."""


def _value(name: str, ann: str, value: Any) -> Any:
    optional = "None" in ann
    if value is None:
        if optional:
            return None
        raise CommandError(f"{name}: a value is required")
    if ann.startswith("bool"):
        if not isinstance(value, bool):
            raise CommandError(f"{name}: expected true or false")
        return value
    if ann.startswith(("float", "int")):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CommandError(f"{name}: expected a number")
        x = float(value)
        if not math.isfinite(x):
            raise CommandError(f"{name}: not a finite number")
        lo, hi = RANGES.get(name, (-math.inf, math.inf))
        if not lo <= x <= hi:
            raise CommandError(f"{name}: {x:g} out of range {lo:g}..{hi:g}")
        if ann.startswith("int"):
            if not x.is_integer():
                raise CommandError(f"{name}: expected a whole number")
            return int(x)
        return x
    if ann.startswith("str"):
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
            raise CommandError(f"{name}: expected an id (1..{MAX_ID} characters)")
        return value.strip()
    raise CommandError(f"{name}: cannot be set from the console")


def build_action(name: Any, args: Any, *, source: str = "web", detail: str = "") -> Action:
    """The action of one console command; raises CommandError with the reason."""
    if not isinstance(name, str) or name.upper() not in _BY_NAME:
        raise CommandError(f"unknown command {str(name)[:40]!r}")
    cls = _BY_NAME[name.upper()]
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise CommandError("args: expected an object")
    known = {f.name: str(f.type) for f in fields(cls) if f.name not in ("source", "detail")}
    unknown = sorted(set(args) - set(known))
    if unknown:
        raise CommandError(f"{name.upper()}: unknown argument {str(unknown[0])[:40]!r}")
    values: dict[str, Any] = {}
    for field_name, ann in known.items():
        if field_name in args:
            values[field_name] = _value(field_name, ann, args[field_name])
    try:
        return cls(source=source, detail=detail, **values)
    except TypeError:
        missing = [k for k in known if k not in values]
        raise CommandError(f"{name.upper()}: missing argument {', '.join(missing)}") from None
