"""Typed reading of YAML nodes for the show loader: values with their lines, problems collected.

The loader walks the node tree from `yaml.compose` rather than plain Python objects so that
every problem carries the 1-based line where it was written. Nothing here raises on bad
content: a converter reports a `Problem` and returns `INVALID`, and the caller goes on, so a
show file's problems are all found in one pass.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from app import safe_yaml

STR_TAG = "tag:yaml.org,2002:str"
INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
BOOL_TAG = "tag:yaml.org,2002:bool"
NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a show file, printed as `path:line: message`."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class ShowError(Exception):
    """A show file that cannot be loaded; `problems` lists everything wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class _Invalid:
    """Marker for a value that was reported as a problem and must not be used."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID: Any = _Invalid()


class Reporter:
    """Collects the problems of one show file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._found: list[tuple[int, int, Problem]] = []  # (line, column, problem)

    def add(self, where: Node | int, message: str) -> None:
        """Record a problem at a node's first line (or at a 1-based line number)."""
        if isinstance(where, int):
            line, column = where, 0
        else:
            line, column = line_of(where), where.start_mark.column
        self._found.append((line, column, Problem(self.path, line, message)))

    @property
    def problems(self) -> list[Problem]:
        """The problems in reading order (line, then column), each once."""
        seen: set[Problem] = set()
        ordered: list[Problem] = []
        for _, _, problem in sorted(self._found, key=lambda f: (f[0], f[1])):
            if problem not in seen:
                seen.add(problem)
                ordered.append(problem)
        return ordered


def compose_file(path: Path, rep: Reporter, what: str) -> Node | None:
    """The node tree of the YAML file `path` (an empty file: an empty mapping), or None when it
    cannot be read, is not UTF-8 or is not YAML (the problem reported at its line). `what`
    names the file in messages ("the venue file"). A missing file is the caller's to handle
    before: here it is a problem like any other."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        rep.add(1, f"cannot read {what}: {e.strerror or e}")
        return None
    except UnicodeDecodeError as e:
        rep.add(1, f"{what} is not UTF-8 text: {e.reason}")
        return None
    try:
        root = safe_yaml.compose(text)
    except safe_yaml.YamlLimitError as e:
        mark = e.problem_mark
        rep.add(mark.line + 1 if mark else 1, f"YAML refused: {e.problem} ({what})")
        return None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        rep.add(mark.line + 1 if mark else 1, f"YAML syntax error: {e.problem} ({what})")
        return None
    except yaml.YAMLError as e:
        rep.add(1, f"YAML syntax error: {' '.join(str(e).split())} ({what})")
        return None
    return MappingNode("tag:yaml.org,2002:map", []) if root is None else root


def line_of(node: Node) -> int:
    """The 1-based line where a node starts."""
    return node.start_mark.line + 1


def describe(node: Node) -> str:
    """A node as written, for 'got ...' in messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == NULL_TAG:
        return "an empty value" if node.value in ("", "~") else node.value
    if node.tag == STR_TAG:
        return repr(node.value)
    return str(node.value)


def suggest(word: str, options: Iterable[str]) -> str | None:
    """The closest option to a misspelt word, if any is close."""
    opts = list(options)
    lowered = {o.lower(): o for o in opts}
    if word.lower() in lowered:
        return lowered[word.lower()]
    close = difflib.get_close_matches(word, opts, n=1, cutoff=0.6)
    return close[0] if close else None


def construct(node: Node) -> Any:
    """The plain Python value of a node (for raw mappings passed through as they are)."""
    return yaml.constructor.SafeConstructor().construct_object(node, deep=True)


Items = dict[str, tuple[Node, Node]]


def mapping(node: Node, rep: Reporter, name: str) -> Items | None:
    """The entries of a mapping node by key (key node, value node), or None if not a mapping.

    Duplicate keys are problems (PyYAML would silently keep the last); `<<: *anchor` merge
    keys are honoured, the mapping's own keys winning.
    """
    if not isinstance(node, MappingNode):
        rep.add(node, f"{name}: expected a mapping (key: value), got {describe(node)}")
        return None
    first: dict[str, Node] = {}
    for knode, _ in node.value:
        if knode.tag == MERGE_TAG:
            continue
        if not isinstance(knode, ScalarNode):
            rep.add(knode, f"{name}: keys must be plain words, got {describe(knode)}")
            continue
        if knode.value in first:
            rep.add(
                knode,
                f"duplicate key '{knode.value}' (first at line {line_of(first[knode.value])})",
            )
        else:
            first[knode.value] = knode
    try:
        yaml.constructor.SafeConstructor().flatten_mapping(node)
    except yaml.MarkedYAMLError as e:
        rep.add(e.problem_mark.line + 1 if e.problem_mark else line_of(node), f"{e.problem}")
        return None
    items: Items = {}
    for knode, vnode in node.value:
        if isinstance(knode, ScalarNode):
            items[knode.value] = (knode, vnode)
    return items


def check_keys(items: Items, allowed: Iterable[str], rep: Reporter, where: str) -> None:
    """Report every key not in `allowed`, with a 'did you mean' when one is close."""
    allowed = list(allowed)
    for key, (knode, _) in items.items():
        if key in allowed:
            continue
        close = suggest(key, allowed)
        if close:
            rep.add(knode, f"unknown key '{key}' in {where}, did you mean '{close}'?")
        else:
            rep.add(knode, f"unknown key '{key}' in {where}, expected one of: {', '.join(allowed)}")


def block(
    node: Node, rep: Reporter, name: str, allowed: Iterable[str], *, where: str | None = None
) -> Items | None:
    """A mapping whose keys must be among `allowed`: `mapping`, then `check_keys` (naming it
    `where`, default `name`). None when it is not a mapping."""
    items = mapping(node, rep, name)
    if items is not None:
        check_keys(items, allowed, rep, name if where is None else where)
    return items


Converter = Callable[[Node, Reporter, str], Any]


def _scalar_value(node: Node) -> Any:
    if not isinstance(node, ScalarNode):
        return INVALID
    try:
        return construct(node)
    except yaml.YAMLError:
        return INVALID


def is_null(node: Node) -> bool:
    """Whether a node is an empty value (`key:` or `~` or `null`)."""
    return isinstance(node, ScalarNode) and node.tag == NULL_TAG


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _range_text(lo: float | None, hi: float | None, lo_open: bool) -> str:
    if lo is not None and hi is not None:
        if lo_open:
            return f" > {_fmt(lo)} and <= {_fmt(hi)}"
        return f" from {_fmt(lo)} to {_fmt(hi)}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {_fmt(lo)}"
    if hi is not None:
        return f" <= {_fmt(hi)}"
    return ""


def number(
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    nullable: bool = False,
) -> Converter:
    """A finite number (an integer is fine, a bool is not) within [lo, hi] -> float.

    `lo_open` excludes `lo` itself (e.g. a rate must be > 0).
    """
    expected = f"a number{_range_text(lo, hi, lo_open)}"
    if nullable:
        expected += " (or null)"

    def convert(node: Node, rep: Reporter, name: str) -> Any:
        if nullable and is_null(node):
            return None
        if node.tag not in (INT_TAG, FLOAT_TAG):
            rep.add(node, f"{name}: expected {expected}, got {describe(node)}")
            return INVALID
        value = _scalar_value(node)
        ok = value is not INVALID and math.isfinite(value)
        if ok and lo is not None:
            ok = value > lo if lo_open else value >= lo
        if ok and hi is not None:
            ok = value <= hi
        if not ok:
            rep.add(node, f"{name}: expected {expected}, got {describe(node)}")
            return INVALID
        return float(value)

    return convert


def integer(lo: int | None = None, *, multiple_of: int | None = None) -> Converter:
    """A whole number >= lo (and a multiple of `multiple_of`) -> int."""
    if multiple_of and lo is not None and lo > 0:
        expected = f"a positive multiple of {multiple_of}"
    else:
        expected = "an integer" + _range_text(lo, None, False)
        if multiple_of:
            expected += f" and a multiple of {multiple_of}"

    def convert(node: Node, rep: Reporter, name: str) -> Any:
        value = _scalar_value(node) if node.tag == INT_TAG else INVALID
        ok = value is not INVALID
        if ok and lo is not None:
            ok = value >= lo
        if ok and multiple_of:
            ok = value % multiple_of == 0
        if not ok:
            rep.add(node, f"{name}: expected {expected}, got {describe(node)}")
            return INVALID
        return int(value)

    return convert


def boolean() -> Converter:
    """true or false -> bool."""

    def convert(node: Node, rep: Reporter, name: str) -> Any:
        if node.tag != BOOL_TAG:
            rep.add(node, f"{name}: expected true or false, got {describe(node)}")
            return INVALID
        return bool(_scalar_value(node))

    return convert


def string(*, nullable: bool = False) -> Converter:
    """A text value -> str (a number is not silently taken as text)."""

    def convert(node: Node, rep: Reporter, name: str) -> Any:
        if nullable and is_null(node):
            return None
        if not (isinstance(node, ScalarNode) and node.tag == STR_TAG):
            rep.add(node, f"{name}: expected a text, got {describe(node)}")
            return INVALID
        return node.value

    return convert


def identifier(*, nullable: bool = False) -> Converter:
    """An id: a text or a number, kept as written (`1.10` stays '1.10') -> str."""

    def convert(node: Node, rep: Reporter, name: str) -> Any:
        if nullable and is_null(node):
            return None
        if not (isinstance(node, ScalarNode) and node.tag in (STR_TAG, INT_TAG, FLOAT_TAG)):
            rep.add(node, f"{name}: expected an id (a text or a number), got {describe(node)}")
            return INVALID
        if not node.value.strip():
            rep.add(node, f"{name}: expected an id (a text or a number), got an empty text")
            return INVALID
        return node.value.strip()

    return convert


def choice(options: dict[str, Any]) -> Converter:
    """One word among `options` (case-sensitive) -> the mapped value."""
    names = list(options)
    expected = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]

    def convert(node: Node, rep: Reporter, name: str) -> Any:
        if isinstance(node, ScalarNode) and node.tag == STR_TAG and node.value in options:
            return options[node.value]
        message = f"{name}: expected {expected}, got {describe(node)}"
        if isinstance(node, ScalarNode):
            close = suggest(node.value, names)
            if close:
                message += f" (did you mean '{close}'?)"
        rep.add(node, message)
        return INVALID

    return convert


def enum_choice(enum: type[Enum]) -> Converter:
    """One of an Enum's values -> the Enum member."""
    return choice({m.value: m for m in enum})


def raw_mapping(*, nullable: bool = False) -> Converter:
    """Any mapping, passed through as plain Python data -> dict."""

    def convert(node: Node, rep: Reporter, name: str) -> Any:
        if nullable and is_null(node):
            return None
        if not isinstance(node, MappingNode):
            rep.add(node, f"{name}: expected a mapping (key: value), got {describe(node)}")
            return INVALID
        try:
            return dict(construct(node))
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            rep.add(mark.line + 1 if mark else line_of(node), f"{name}: {e.problem}")
            return INVALID

    return convert


def read_fields(
    items: Items,
    spec: dict[str, Converter],
    rep: Reporter,
    *,
    prefix: str = "",
) -> dict[str, Any]:
    """Convert the entries of `items` named in `spec`; invalid ones are reported and left out.

    Unknown keys are not checked here (see `check_keys`).
    """
    values: dict[str, Any] = {}
    for key, convert in spec.items():
        if key in items:
            value = convert(items[key][1], rep, f"{prefix}{key}")
            if value is not INVALID:
                values[key] = value
    return values
