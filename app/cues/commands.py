"""The one command table: every input is a binding onto these commands.

Each command has one lower-case name, the action class it makes, typed arguments with
ranges and defaults, and a one-line help. OSC addresses (`app/control/osc_bindings.yaml`),
gamepad buttons and axes (`app/control/gamepad_default.yaml`), keys
(`app/control/keyboard_default.yaml`), operator-window clicks and script words name
commands of this table; nothing else maps names to action classes.

Two ways in, one set of checks and messages:

- `build(name, args, source=...)`: typed values (JSON, OSC arguments, a binding's words):
  numbers must be numbers, ids may be strings or numbers.
- `parse(text, source=...)`: the canonical text form `name arg ...` (scripts, bindings):
  words are converted to the argument's type first.

Both raise `CommandError` naming the command and the argument at fault (an unknown name
gets a suggestion and the list of known commands). `format_action(action)` is the inverse
of `parse` (for logs and scripts).

The meaning of "standby": the cue that the next GO fires. `standby POEM [CUE]` sets it,
`standby_next` / `standby_prev` move it by cues, `poem_next` / `poem_prev` by poems.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from types import MappingProxyType
from typing import Any, Literal

from app.cues import actions

ArgType = Literal["int", "float", "bool", "id"]

MAX_FADE = 600.0  # seconds: the longest fade a command may ask for
MAX_LAYER = 16
MAX_LAYER_RATE = 4.0
MAX_STEP = 1000  # cues or poems one standby step may move
MAX_CAMERA_MOVE = 1000.0  # degrees or focus distances in one move (garbage guard)
MAX_RECORDING = 86400.0  # seconds: the longest reference recording a transport addresses

_TRUE = frozenset({"1", "on", "true", "yes"})
_FALSE = frozenset({"0", "off", "false", "no"})


class CommandError(ValueError):
    """A command that cannot be built: unknown name, missing, extra or bad argument.

    `command` is the command's name as given, `arg` the argument at fault (None when the
    name itself or the argument count is wrong).
    """

    def __init__(self, message: str, *, command: str = "", arg: str | None = None) -> None:
        super().__init__(message)
        self.command = command
        self.arg = arg


@dataclass(frozen=True)
class Arg:
    """One typed argument of a command.

    `type`: 'int', 'float', 'bool' or 'id' (a poem or cue id: a string, or a number written
    as text). `min`/`max` bound numbers (inclusive, None = unbounded). An `optional`
    argument may be left out: it then takes `default` (None for 'the action decides').
    """

    name: str
    type: ArgType
    help: str = ""
    min: float | None = None
    max: float | None = None
    default: Any = None
    optional: bool = False

    def describe(self) -> str:
        """Short form for help and tables: `{level 0..1}`, `[seconds 0..600]`, `{poem}`."""
        text = self.name
        if self.type in ("int", "float") and (self.min is not None or self.max is not None):
            lo = "" if self.min is None else f"{self.min:g}"
            hi = "" if self.max is None else f"{self.max:g}"
            text += f" {lo}..{hi}"
        elif self.type == "bool":
            text += " 0|1"
        return f"[{text}]" if self.optional else f"{{{text}}}"


@dataclass(frozen=True)
class Command:
    """One command: its name, the action class it makes, its arguments and a help line.

    `fields` turns the argument values (by argument name) into the action's keyword
    arguments; None means the argument names are the action's field names.
    """

    name: str
    action: type[actions.Action]
    args: tuple[Arg, ...] = ()
    help: str = ""
    fields: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None

    @property
    def usage(self) -> str:
        """`name {arg} [arg]`, as in the help and the README tables."""
        return " ".join([self.name, *(a.describe() for a in self.args)])


def _seconds(optional: bool = False, help: str = "seconds") -> Arg:
    return Arg("seconds", "float", help, 0.0, MAX_FADE, None, optional)


def _unit(name: str, help: str) -> Arg:
    return Arg(name, "float", help, 0.0, 1.0)


def _layer() -> Arg:
    return Arg("layer", "int", "layer number", 1, MAX_LAYER)


def _move(name: str, help: str) -> Arg:
    return Arg(name, "float", help, -MAX_CAMERA_MOVE, MAX_CAMERA_MOVE)


def _switch(on: str, off: str) -> Arg:
    """The optional `on` of a command that switches something: 1, 0, or none to toggle."""
    return Arg("on", "bool", f"1 = {on}, 0 = {off}, none = toggle", optional=True)


def _count() -> Arg:
    return Arg("count", "int", "how many", 1, MAX_STEP, 1, True)


def _step(key: str, sign: int) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    return lambda v: {key: sign * int(v["count"])}


_TABLE: tuple[Command, ...] = (
    Command(
        "go",
        actions.Go,
        (Arg("poem", "id", "poem id", optional=True), Arg("cue", "id", "cue id", optional=True)),
        "fire the cue in standby (or the named poem's first cue, or that cue)",
    ),
    Command("back", actions.Back, (), "standby back one cue (what is live stays)"),
    Command(
        "standby",
        actions.Standby,
        (Arg("poem", "id", "poem id"), Arg("cue", "id", "cue id", optional=True)),
        "set standby to a poem's first cue, or to a cue of it",
    ),
    Command(
        "standby_next",
        actions.StandbyStep,
        (_count(),),
        "standby forward by cues",
        _step("cues", 1),
    ),
    Command(
        "standby_prev", actions.StandbyStep, (_count(),), "standby back by cues", _step("cues", -1)
    ),
    Command(
        "poem_next",
        actions.StandbyStep,
        (_count(),),
        "standby to the next poem's first cue",
        _step("poems", 1),
    ),
    Command(
        "poem_prev",
        actions.StandbyStep,
        (_count(),),
        "standby to the previous poem's first cue",
        _step("poems", -1),
    ),
    Command("next_fade", actions.NextFade, (_seconds(),), "transition time of the next GO only"),
    Command(
        "fadeout",
        actions.FadeOut,
        (_seconds(optional=True, help="seconds (default: the show's fade)"),),
        "fade everything to black",
    ),
    Command("blackout", actions.Blackout, (_switch("on", "off"),), "blackout on, off or toggled"),
    Command("panic", actions.Panic, (), "fade to black over the panic time; a second one cuts"),
    Command("hardblack", actions.HardBlack, (), "cut to black at once (standby stays)"),
    Command("master", actions.Master, (_unit("level", "master level"),), "master level"),
    Command(
        "tbar",
        actions.TBar,
        (_unit("position", "T-bar position"),),
        "manual crossfade toward the cue in standby (1 completes it)",
    ),
    Command(
        "layer_opacity",
        actions.LayerOpacity,
        (_layer(), _unit("opacity", "opacity multiplier")),
        "a layer's opacity multiplier",
    ),
    Command(
        "layer_rate",
        actions.LayerRate,
        (_layer(), Arg("rate", "float", "rate multiplier", 0.0, MAX_LAYER_RATE)),
        "a layer's video rate, times each cue's own rate (0 pauses)",
    ),
    Command(
        "orbit",
        actions.CameraOrbit,
        (_move("dx", "yaw degrees"), _move("dy", "pitch degrees")),
        "orbit the splat camera",
    ),
    Command(
        "pan",
        actions.CameraPan,
        (_move("dx", "focus distances"), _move("dy", "focus distances")),
        "pan the splat camera",
    ),
    Command(
        "dolly",
        actions.CameraDolly,
        (_move("d", "focus distances, + toward the scene"),),
        "dolly the splat camera",
    ),
    Command("camera_reset", actions.CameraReset, (), "splat camera back to the cue's base view"),
    Command(
        "camera_record",
        actions.CameraRecord,
        (_switch("start", "stop"),),
        "record the live splat cue's camera move to a path file (start, stop or toggle)",
    ),
    Command("transport_play", actions.TransportPlay, (), "play the reference recording"),
    Command("transport_pause", actions.TransportPause, (), "pause the reference recording"),
    Command(
        "transport_toggle", actions.TransportToggle, (), "play or pause the reference recording"
    ),
    Command(
        "transport_seek",
        actions.TransportSeek,
        (Arg("seconds", "float", "seconds from the start", 0.0, MAX_RECORDING),),
        "move the reference recording to a position",
    ),
    Command(
        "transport_skip",
        actions.TransportSkip,
        (Arg("seconds", "float", "seconds, negative: back", -MAX_RECORDING, MAX_RECORDING),),
        "move the reference recording forward or back",
    ),
    Command(
        "transport_poem",
        actions.TransportPoem,
        (Arg("poem", "id", "poem id (default: standby's poem)", optional=True),),
        "move the recording to a poem's first captured cue, and standby to that cue",
    ),
    Command(
        "cue_time",
        actions.Retime,
        (
            Arg("cue", "id", "cue id"),
            Arg("seconds", "float", "seconds into the recording", 0.0, MAX_RECORDING),
        ),
        "retime a captured cue on the reference recording",
    ),
)

COMMANDS: Mapping[str, Command] = MappingProxyType({c.name: c for c in _TABLE})
"""Every command by its canonical lower-case name, in the order of the help."""


def command(name: str) -> Command:
    """The command of that name (case-insensitive); CommandError with a suggestion if none."""
    key = name.strip().lower() if isinstance(name, str) else ""
    found = COMMANDS.get(key)
    if found is not None:
        return found
    close = difflib.get_close_matches(key, list(COMMANDS), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise CommandError(
        f"unknown command {name!r} ({hint}commands: {', '.join(COMMANDS)})", command=str(name)
    )


def _kind(v: Any) -> str:
    names = {bool: "a boolean", str: "a string", bytes: "a blob", type(None): "nothing"}
    return names.get(type(v), type(v).__name__)


def _id(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else format(value, ".6g")
    return None


def _bool(value: Any, text: bool) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int | float) and (value in (0, 1) or (not text and 0 <= value <= 1)):
        return value >= 0.5  # a fader sends 0..1: past half is on
    return None


def _number(arg: Arg, value: Any, text: bool) -> int | float:
    """A number of the argument's type in its range; raises ValueError with the reason."""
    if isinstance(value, str) and text:
        try:
            value = int(value) if arg.type == "int" else float(value)
        except ValueError:
            kind = "a whole number" if arg.type == "int" else "a number"
            raise ValueError(f"expected {kind}, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {_kind(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    if arg.type == "int":
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"expected a whole number, got {value:g}")
        value = int(value)
    else:
        value = float(value)
    lo = -math.inf if arg.min is None else arg.min
    hi = math.inf if arg.max is None else arg.max
    if not lo <= value <= hi:
        lo_t = "" if arg.min is None else f"{arg.min:g}"
        hi_t = "" if arg.max is None else f"{arg.max:g}"
        raise ValueError(f"{value:g} out of range {lo_t}..{hi_t}")
    return value


def _convert(cmd: Command, arg: Arg, value: Any, text: bool) -> Any:
    """`value` as the argument's type, range-checked; `text`: words are converted first."""
    result: Any
    if arg.type == "id":
        result = _id(value)
        reason = f"expected an id (a string or a number), got {_kind(value)}"
    elif arg.type == "bool":
        result = _bool(value, text)
        reason = f"expected 1 or 0 (on/off), got {value!r}"
    else:
        try:
            return _number(arg, value, text)
        except ValueError as e:
            result, reason = None, str(e)
    if result is None:
        raise CommandError(f"{cmd.name}: {arg.name}: {reason}", command=cmd.name, arg=arg.name)
    return result


def _values(cmd: Command, args: Sequence[Any] | Mapping[str, Any], text: bool) -> dict[str, Any]:
    if isinstance(args, Mapping):
        unknown = [k for k in args if k not in {a.name for a in cmd.args}]
        if unknown:
            raise CommandError(
                f"{cmd.name}: unknown argument {unknown[0]!r} (arguments: {cmd.usage})",
                command=cmd.name,
                arg=str(unknown[0]),
            )
        given = [args.get(a.name) for a in cmd.args]
        while given and given[-1] is None:
            given.pop()
    else:
        given = list(args)
    if len(given) > len(cmd.args):
        n = len(cmd.args)
        what = "no arguments" if n == 0 else f"at most {n} argument{'s' if n > 1 else ''}"
        raise CommandError(
            f"{cmd.name}: takes {what} ({cmd.usage}), got {len(given)}", command=cmd.name
        )
    out: dict[str, Any] = {}
    for i, arg in enumerate(cmd.args):
        if i < len(given) and (given[i] is not None or not arg.optional):
            out[arg.name] = _convert(cmd, arg, given[i], text)
        elif arg.optional:
            out[arg.name] = arg.default
        else:
            raise CommandError(
                f"{cmd.name}: missing argument {arg.name} ({cmd.usage})",
                command=cmd.name,
                arg=arg.name,
            )
    return out


def _make(
    name: str, args: Sequence[Any] | Mapping[str, Any], source: str, detail: str, text: bool
) -> actions.Action:
    cmd = command(name)
    values = _values(cmd, args, text)
    kwargs = cmd.fields(values) if cmd.fields is not None else values
    return cmd.action(source=source, detail=detail, **kwargs)


def build(
    name: str,
    args: Sequence[Any] | Mapping[str, Any] = (),
    *,
    source: str,
    detail: str = "",
) -> actions.Action:
    """The action of command `name` with typed `args` (positional, or by argument name).

    Numbers must be numbers (ints or floats; a bool is not a number), ids strings or
    numbers, booleans bools, 0/1 or on/off words; values are range-checked and missing
    optional ones get their defaults. Raises CommandError.
    """
    return _make(name, args, source, detail, text=False)


def parse(text: str, *, source: str, detail: str = "") -> actions.Action:
    """The action of one command line `name arg ...` (words separated by spaces)."""
    words = text.split()
    if not words:
        raise CommandError(f"empty command (commands: {', '.join(COMMANDS)})")
    return _make(words[0], words[1:], source, detail, text=True)


def check(text: str) -> str | None:
    """The problem with a command line, or None when it is good (for validators)."""
    try:
        parse(text, source="check")
    except CommandError as e:
        return str(e)
    return None


def _num(x: float) -> str:
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float):
        return _num(value)
    return str(value)


def name_of(action: actions.Action) -> str:
    """The command that makes this action (for a StandbyStep: the one matching its sign)."""
    if isinstance(action, actions.StandbyStep):
        if action.poems:
            return "poem_next" if action.poems > 0 else "poem_prev"
        return "standby_prev" if action.cues < 0 else "standby_next"
    for cmd in _TABLE:
        if type(action) is cmd.action:
            return cmd.name
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(action).__name__).lower()  # MediaFailed


def log_name(action: actions.Action) -> str:
    """The upper-case name of the command that makes an action, for notes and logs ('GO')."""
    return name_of(action).upper()


def log_fields(action: actions.Action) -> dict[str, Any]:
    """An action as JSON-ready fields for the event log: its own fields, `action` (its
    `log_name`), and `detail` only when it says something."""
    d = asdict(action)
    d["action"] = log_name(action)
    if not d.get("detail"):
        d.pop("detail", None)
    return d


def format_action(action: actions.Action) -> str:
    """`parse`'s inverse: the command line of an action ('standby 2 2.1', 'orbit 5 2').

    A StandbyStep that moves both poems and cues has no single command line: it is written
    as two separated by ' ; ' (poems first, the order the engine applies them in).
    """
    if isinstance(action, actions.StandbyStep):
        parts = []
        for n, ahead, behind in (
            (action.poems, "poem_next", "poem_prev"),
            (action.cues, "standby_next", "standby_prev"),
        ):
            if n or (ahead == "standby_next" and not parts):
                word = ahead if n >= 0 else behind
                parts.append(word if abs(n) <= 1 else f"{word} {abs(n)}")
        return " ; ".join(parts)
    if isinstance(action, actions.Go) and action.poem is None and action.cue is not None:
        raise CommandError("a GO by cue id alone has no command line", command="go")
    name = name_of(action)
    cmd = COMMANDS.get(name)
    if cmd is None:
        return name
    words = [name]
    for arg in cmd.args:
        value = getattr(action, arg.name, None)
        if value is None:
            break
        words.append(_word(value))
    return " ".join(words)


def help_text() -> str:
    """Every command's usage and help, one a line (for `--help` texts)."""
    width = max(len(c.usage) for c in _TABLE)
    return "\n".join(f"{c.usage.ljust(width)}  {c.help}" for c in _TABLE)
