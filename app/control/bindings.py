"""Binding files: what an input's controls mean, as command lines of the command table.

Every input (OSC addresses, gamepad buttons and axes, keys) keeps its bindings as data in a
YAML file beside its module; each binding names a command of `app.cues.commands` (a button
or key binds to a whole command line such as `go` or `fadeout 2`, an axis to a command's
argument). This module reads those files and checks them against the table, so a binding
to an unknown command is an error that lists the known ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from app import safe_yaml
from app.cues.commands import COMMANDS, CommandError, command, parse

HERE = Path(__file__).parent
OSC_BINDINGS_FILE = HERE / "osc_bindings.yaml"


class BindingError(ValueError):
    """A binding file or entry that does not resolve through the command table."""


def read_yaml(path: Path) -> Mapping[str, Any]:
    """A binding file's top-level mapping (empty for an empty file)."""
    try:
        data = safe_yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise BindingError(safe_yaml.one_line(exc, path)) from None
    if not isinstance(data, Mapping):
        raise BindingError(f"{path}: expected a mapping at the top")
    return data


def check_line(line: str, where: str) -> str:
    """`line` when it is a good command line; raises BindingError naming `where`."""
    try:
        parse(line, source="binding")
    except CommandError as e:
        raise BindingError(f"{where}: {e}") from None
    return line


@dataclass(frozen=True)
class OscBinding:
    """An OSC address (`{layer}`: a number taken from the address) bound to a command."""

    address: str
    command: str
    button: bool = False
    alias_of: str | None = None  # an older address kept for users' setups: the one it names

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """A regular expression for an address with `{...}` parts, None for a plain one."""
        if "{" not in self.address:
            return None
        parts = re.split(r"\{\w+\}", self.address)
        return re.compile("^" + r"(\d{1,6})".join(re.escape(p) for p in parts) + "$")


def load_osc_bindings(path: Path = OSC_BINDINGS_FILE) -> tuple[OscBinding, ...]:
    """The OSC binding table; raises BindingError for an entry that does not resolve.

    An entry `{alias: /address}` is another name for an address bound above it (an older
    name that consoles already use): it runs the same command, and patterns skip it.
    """
    out: dict[str, OscBinding] = {}
    for address, spec in read_yaml(path).items():
        where = f"{path.name}: {address}"
        if isinstance(spec, str):
            spec = {"command": spec}
        if isinstance(spec, Mapping) and set(spec) == {"alias"}:
            target = out.get(str(spec["alias"]))
            if target is None or target.alias_of is not None:
                raise BindingError(f"{where}: alias of {spec['alias']!r}: no such address above")
            out[str(address)] = replace(target, address=str(address), alias_of=target.address)
            continue
        if not isinstance(spec, Mapping) or set(spec) - {"command", "button"}:
            raise BindingError(
                f"{where}: expected a command name, {{command, button}} or {{alias}}"
            )
        name = str(spec.get("command", ""))
        try:
            cmd = command(name)
        except CommandError as e:
            raise BindingError(f"{where}: {e}") from None
        button = bool(spec.get("button", False))
        if button and any(not a.optional for a in cmd.args):
            raise BindingError(f"{where}: a button needs a command without required arguments")
        out[str(address)] = OscBinding(str(address), cmd.name, button)
    return tuple(out.values())


def known_commands() -> str:
    """The command names, for messages."""
    return ", ".join(COMMANDS)
