"""Ratings and rejections of variations: `<show>.ratings.yaml` beside the picks file.

`{ratings: {cue id: {variation file name: {rating: 1..5, rejected: true}}}}`. Like picks,
they are the artist's judgement, so they live beside the show; every write is atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from yaml.nodes import Node

from app.generate.curation.sidecar import Items, by_cue, read_sidecar, sidecar_path, write_sidecar
from app.show.schema import Reporter, boolean, check_keys, integer, is_null, mapping, read_fields


@dataclass(frozen=True)
class Mark:
    """What the artist said about one variation."""

    rating: int = 0  # 0 = not rated
    rejected: bool = False


def ratings_path(show_path: Path) -> Path:
    """`pierrot.yaml` -> `pierrot.ratings.yaml`."""
    return sidecar_path(show_path, "ratings")


_MARK = {"rating": integer(0), "rejected": boolean()}


def load_ratings(show_path: Path) -> dict[str, dict[str, Mark]]:
    """cue id -> variation name -> Mark (empty when there is no file); read with the show's
    schema: a GenerateError lists every problem, one `file:line: message` a line."""
    out: dict[str, dict[str, Mark]] = {}

    def read(items: Items, rep: Reporter) -> None:
        check_keys(items, ["ratings"], rep, "the ratings file")
        if "ratings" in items:
            out.update(by_cue(items["ratings"][1], rep, "ratings", _marks))

    read_sidecar(ratings_path(show_path), "the ratings file", read)
    return out


def _marks(node: Node, rep: Reporter, where: str) -> dict[str, Mark]:
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
    header = (
        "# Ratings (1-5) and rejections given in `python -m app desk`; "
        "`variations --prune` deletes rejected files.\n"
    )
    return write_sidecar(ratings_path(show_path), header, {"ratings": data})
