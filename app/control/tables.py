"""The README's OSC, gamepad and keyboard tables, generated from the bindings and the table.

`python -m app.control.tables README.md` rewrites the parts of the README between
`<!-- table:NAME -->` and `<!-- /table:NAME -->` (NAME: osc, gamepad, keyboard);
`tests/test_commands.py` fails when the README differs from what this module generates, so
the documentation cannot drift from the bindings.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

from app.cues.commands import COMMANDS, command


def _args(name: str, skip: int = 0) -> str:
    args = COMMANDS[name].args[skip:]
    return " ".join(f"`{a.describe()}`" for a in args).replace("|", "\\|")


def osc_table() -> str:
    """Address, arguments, command and its help, one row per OSC binding."""
    from app.control.osc import BINDINGS

    rows = ["| address | args | command |", "|---|---|---|"]
    for b in BINDINGS:
        if b.alias_of is not None:
            rows.append(f"| `{b.address}` | as `{b.alias_of}` | its older name, still accepted |")
            continue
        cmd = command(b.command)
        taken = b.address.count("{")
        args = _args(b.command, taken)
        if b.button:
            # one argument is a button value: the command's own need two or more
            own = f"; or {args}" if len(cmd.args) > 1 else ""
            args = "none or `1` (a lone `0` is a button release)" + own
        address = b.address.replace("{layer}", "{1..16}")
        rows.append(f"| `{address}` | {args} | `{cmd.name}`: {cmd.help} |")
    return "\n".join(rows)


def gamepad_table() -> str:
    """Control and command of every default gamepad binding."""
    from app.control.gamepad import load_mapping

    m = load_mapping()
    rows = ["| control | command |", "|---|---|"]
    for control, line in m.buttons.items():
        rows.append(f"| {control} | `{line}`: {command(line.split()[0]).help} |")
    for control, axis in m.axes.items():
        name, _, arg = axis.action.partition(".")
        help_ = command(name).help
        if arg:
            how = f"`{name} {arg}` moves by {axis.speed:g}/s at full tilt"
        else:
            how = f"`{name}` = the axis position"
        if axis.invert:
            how += ", inverted"
        rows.append(f"| {control} | {how}: {help_} |")
    return "\n".join(rows)


def keyboard_table() -> str:
    """Key, command and repeat of every default key binding."""
    from app.control.keyboard import DEFAULT_BINDINGS

    rows = ["| key | command |", "|---|---|"]
    for key, b in DEFAULT_BINDINGS.items():
        again = " (repeats while held)" if b.repeat else ""
        rows.append(f"| {key} | `{b.command}`: {command(b.command.split()[0]).help}{again} |")
    rows.append("| Esc, Esc | quit, only when pressed twice within 1 s |")
    return "\n".join(rows)


def commands_table() -> str:
    """Usage and help of every command (the header row is the README's)."""
    return "\n".join(
        f"| `{c.usage}` | {c.help} |".replace("|`", "|`").replace("0|1", "0\\|1")
        for c in COMMANDS.values()
    )


TABLES: dict[str, Callable[[], str]] = {
    "commands": commands_table,
    "osc": osc_table,
    "gamepad": gamepad_table,
    "keyboard": keyboard_table,
}


def _block(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- table:{name} -->\n)(.*?)(<!-- /table:{name} -->)", re.S)


def section(text: str, name: str) -> str | None:
    """The table text of README section `name`, None when the markers are missing."""
    m = _block(name).search(text)
    return m.group(2).strip() if m else None


def rewrite(text: str) -> str:
    """`text` with every marked table regenerated."""
    for name, make in TABLES.items():
        table = make()
        text = _block(name).sub(lambda m, t=table: m.group(1) + t + "\n" + m.group(3), text)
    return text


FILES = ("README.md", "docs/console-protocol.md")
"""Where the tables live (relative to the repository): the README keeps the commands, keys and
gamepad; the OSC table is in the protocol page. `tests/test_commands.py` checks them all."""


if __name__ == "__main__":
    for name in sys.argv[1:] or FILES:
        path = Path(name)
        path.write_text(rewrite(path.read_text()))
