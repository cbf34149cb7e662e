"""Every YAML the project reads goes through here: safe loading with bounds.

A YAML file can be small and still cost minutes and gigabytes: aliases of aliases (the
"billion laughs": 600 bytes, 10^7 nodes once expanded) or collections nested hundreds deep
(PyYAML's composer and constructor recurse, so ~600 levels end in a RecursionError). Before
anything is composed, `check` reads the file's event stream once (PyYAML's parser is not
recursive) and refuses

- nesting deeper than `MAX_DEPTH` collections, and
- more than `MAX_ALIAS_NODES` nodes produced through aliases (an alias counts every node of
  what it repeats, aliases inside it included),

with a `YamlLimitError`: a `yaml.MarkedYAMLError`, so every caller's `except yaml.YAMLError`
still applies and its mark gives the line. `compose`, `safe_load` and `load` are PyYAML's, with
the check first; `one_line` turns any YAML error into one line naming `file:line`.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    NodeEvent,
)

# libyaml's parser when PyYAML was built with it (5x faster), else the pure-Python one
_EventLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 100  # collections inside collections; a show file needs about 8
MAX_ALIAS_NODES = 100_000  # nodes that aliases may produce in one document stream


class YamlLimitError(yaml.MarkedYAMLError):
    """A YAML stream over one of this module's bounds (a MarkedYAMLError: it has a line)."""

    def __init__(self, problem: str, mark: yaml.Mark | None) -> None:
        super().__init__(problem=problem, problem_mark=mark)

    def __str__(self) -> str:
        line = self.problem_mark.line + 1 if self.problem_mark else 1
        return f"line {line}: {self.problem}"


def check(text: str | bytes) -> None:
    """Raise YamlLimitError (or the YAML syntax error) when `text` is over the bounds."""
    loader = _EventLoader(text)
    try:
        starts: list[tuple[str | None, int]] = []  # open collections: (anchor, count at start)
        sizes: dict[str, int] = {}  # anchor -> nodes its node stands for, once expanded
        count = 0  # nodes so far, aliases expanded
        through_aliases = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, AliasEvent):
                n = sizes.get(str(event.anchor), 1)
                count += n
                through_aliases += n
                if through_aliases > MAX_ALIAS_NODES:
                    raise YamlLimitError(
                        f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes (an alias bomb?)",
                        event.start_mark,
                    )
            elif isinstance(event, CollectionStartEvent):
                if len(starts) >= MAX_DEPTH:
                    raise YamlLimitError(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
                starts.append((event.anchor, count))
                count += 1
            elif isinstance(event, CollectionEndEvent):
                anchor, at = starts.pop()
                if anchor is not None:
                    sizes[anchor] = count - at
            elif isinstance(event, NodeEvent):  # a scalar
                count += 1
                if event.anchor is not None:
                    sizes[event.anchor] = 1
    finally:
        loader.dispose()


def compose(text: str | bytes, Loader: type = yaml.SafeLoader) -> yaml.Node | None:
    """`yaml.compose` after `check` (node trees keep the lines for schema messages)."""
    check(text)
    return yaml.compose(text, Loader=Loader)


def safe_load(text: str | bytes) -> Any:
    """`yaml.safe_load` after `check`."""
    check(text)
    return yaml.safe_load(text)


def load(text: str | bytes, Loader: type) -> Any:
    """`yaml.load` with a (safe) loader class of the caller's, after `check`."""
    check(text)
    return yaml.load(text, Loader=Loader)  # the callers pass SafeLoader subclasses


def one_line(exc: yaml.YAMLError, path: object) -> str:
    """`path:line: problem` for a YAML error (PyYAML's own text spans several lines)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        return f"{path}:{line}: {what or 'not valid YAML'}"
    return f"{path}:1: " + " ".join(str(exc).split())


def round_trip() -> Any:
    """A ruamel.yaml round-trip reader and writer, set up once for every file the program
    updates in place (show edits, cue times, recipe imports): comments, order and quotes
    survive, block indents of 2 (lists 4, offset 2), no line folding. Read text through
    `check` first: ruamel's composer is as open to alias bombs as PyYAML's."""
    from ruamel.yaml import YAML

    y = YAML()
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    return y
