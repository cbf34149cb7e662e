"""Ratings and rejections of variations: `<show>.ratings.yaml` beside the picks file.

`{ratings: {cue id: {variation file name: {rating: 1..5, rejected: true}}}}`. Like picks,
they are the artist's judgement, so they live beside the show; every write is atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import Node

from app.atomic import write_text_atomic
from app.generate.errors import GenerateError
from app.show.schema import (
    INVALID,
    Reporter,
    boolean,
    check_keys,
    compose_file,
    identifier,
    integer,
    is_null,
    mapping,
    read_fields,
)


@dataclass(frozen=True)
class Mark:
    """What the artist said about one variation."""

    rating: int = 0  # 0 = not rated
    rejected: bool = False


def ratings_path(show_path: Path) -> Path:
    """`pierrot.yaml` -> `pierrot.ratings.yaml`."""
    show_path = Path(show_path)
    return show_path.with_name(f"{show_path.stem}.ratings.yaml")


_MARK = {"rating": integer(0), "rejected": boolean()}


def load_ratings(show_path: Path) -> dict[str, dict[str, Mark]]:
    """cue id -> variation name -> Mark (empty when there is no file); read with the show's
    schema: a GenerateError lists every problem, one `file:line: message` a line."""
    path = ratings_path(show_path)
    if not path.is_file():
        return {}
    rep = Reporter(path)
    root = compose_file(path, rep, "the ratings file")
    items = mapping(root, rep, "the ratings file") if root is not None else None
    out: dict[str, dict[str, Mark]] = {}
    if items is not None:
        check_keys(items, ["ratings"], rep, "the ratings file")
        cues = items.get("ratings")
        if cues is not None and not is_null(cues[1]):
            for key, (knode, marks) in (mapping(cues[1], rep, "ratings") or {}).items():
                cue = identifier()(knode, rep, "ratings: a cue id")
                table = _marks(marks, rep, f"ratings: cue '{key}'")
                if cue is not INVALID and table is not None:
                    out[cue] = table
    if rep.problems:
        raise GenerateError("\n".join(str(p) for p in rep.problems))
    return out


def _marks(node: Node, rep: Reporter, where: str) -> dict[str, Mark] | None:
    """The marks of one cue's variations (a variation with an empty entry: unmarked)."""
    table: dict[str, Mark] = {}
    for name, (_, vnode) in (mapping(node, rep, where) or {}).items():
        if is_null(vnode):
            table[name] = Mark()
            continue
        entry = mapping(vnode, rep, f"{where}, {name}")
        if entry is None:
            continue
        check_keys(entry, _MARK, rep, f"{where}, {name}")
        values = read_fields(entry, _MARK, rep, prefix=f"{where}, {name}: ")
        rating = values.get("rating", 0)
        if rating > 5:
            rep.add(entry["rating"][1], f"{where}, {name}: rating must be 0..5, got {rating}")
        table[name] = Mark(rating, values.get("rejected", False))
    return table


def save_ratings(show_path: Path, ratings: dict[str, dict[str, Mark]]) -> Path:
    """Write every mark (unmarked variations are left out); returns the file."""
    data: dict[str, Any] = {}
    for cue in sorted(ratings):
        marks = {}
        for name in sorted(ratings[cue]):
            m = ratings[cue][name]
            entry: dict[str, Any] = {}
            if m.rating:
                entry["rating"] = m.rating
            if m.rejected:
                entry["rejected"] = True
            if entry:
                marks[name] = entry
        if marks:
            data[cue] = marks
    path = ratings_path(show_path)
    text = (
        "# Ratings (1-5) and rejections given in `python -m app desk`; "
        "`variations --prune` deletes rejected files.\n"
        + yaml.safe_dump({"ratings": data}, sort_keys=False, allow_unicode=True)
    )
    write_text_atomic(path, text)
    return path
