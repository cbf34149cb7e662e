"""The artist's files beside a show (`<show>.picks.yaml`, `<show>.ratings.yaml`): where they
are, how they are read (the show's schema machinery: every problem at once, `file:line`) and
written (a header comment, then YAML, atomically).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from yaml.nodes import Node

from app.atomic import write_text_atomic
from app.generate.errors import GenerateError
from app.show.schema import INVALID, Reporter, compose_file, identifier, is_null, mapping

T = TypeVar("T")
# A top-level mapping of the file (key -> (key node, value node)).
Items = dict[str, tuple[Node, Node]]


def sidecar_path(show_path: Path, kind: str) -> Path:
    """The `kind` file of a show: `pierrot.yaml` -> `pierrot.<kind>.yaml`."""
    show_path = Path(show_path)
    return show_path.with_name(f"{show_path.stem}.{kind}.yaml")


def read_sidecar(path: Path, what: str, read: Callable[[Items, Reporter], None]) -> None:
    """Hand the top-level mapping of `path` (`what`: "the picks file") to `read`, which
    reports its problems on the reporter; nothing when there is no file. A GenerateError
    lists every problem, one `file:line: message` a line."""
    if not path.is_file():
        return
    rep = Reporter(path)
    root = compose_file(path, rep, what)
    items = mapping(root, rep, what) if root is not None else None
    if items is not None:
        read(items, rep)
    if rep.problems:
        raise GenerateError("\n".join(str(p) for p in rep.problems))


def by_cue(
    node: Node, rep: Reporter, name: str, convert: Callable[[Node, Reporter, str], T]
) -> dict[str, T]:
    """A section `name` of `{cue id: value}` (empty when null), each value through
    `convert`; the entries with problems are reported and left out."""
    out: dict[str, T] = {}
    if is_null(node):
        return out
    for key, (knode, vnode) in (mapping(node, rep, name) or {}).items():
        cue = identifier()(knode, rep, f"{name}: a cue id")
        value = convert(vnode, rep, f"{name}: cue '{key}'")
        if cue is not INVALID and value is not INVALID:
            out[cue] = value
    return out


def write_sidecar(path: Path, header: str, data: dict[str, Any]) -> Path:
    """Write `data` as YAML under the comment `header`, atomically; returns `path`."""
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    write_text_atomic(path, text)
    return path
