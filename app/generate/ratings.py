"""Ratings and rejections of variations: `<show>.ratings.yaml` beside the picks file.

`{ratings: {cue id: {variation file name: {rating: 1..5, rejected: true}}}}`. Like picks,
they are the artist's judgement, so they live beside the show; every write is atomic.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from app import safe_yaml
from app.atomic import write_text_atomic
from app.generate.errors import GenerateError


@dataclass(frozen=True)
class Mark:
    """What the artist said about one variation."""

    rating: int = 0  # 0 = not rated
    rejected: bool = False


def ratings_path(show_path: Path) -> Path:
    """`pierrot.yaml` -> `pierrot.ratings.yaml`."""
    show_path = Path(show_path)
    return show_path.with_name(f"{show_path.stem}.ratings.yaml")


def load_ratings(show_path: Path) -> dict[str, dict[str, Mark]]:
    """cue id -> variation name -> Mark (empty when there is no file)."""
    path = ratings_path(show_path)
    if not path.is_file():
        return {}
    try:
        data = safe_yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise GenerateError(f"{path}: cannot read the ratings file: {exc}") from None
    except yaml.YAMLError as exc:
        raise GenerateError(f"{safe_yaml.one_line(exc, path)} (the ratings file)") from None
    cues = data.get("ratings", {}) if isinstance(data, dict) else None
    if not isinstance(cues, dict):
        raise GenerateError(
            f"{path}: expected 'ratings: {{cue id: {{file: {{rating, rejected}}}}}}'"
        )
    out: dict[str, dict[str, Mark]] = {}
    for cue, marks in cues.items():
        if not isinstance(marks, dict):
            raise GenerateError(f"{path}: cue '{cue}': expected a mapping of variation files")
        table: dict[str, Mark] = {}
        for name, raw in marks.items():
            raw = raw if isinstance(raw, dict) else {}
            rating = raw.get("rating", 0)
            if not isinstance(rating, int) or isinstance(rating, bool) or not 0 <= rating <= 5:
                raise GenerateError(f"{path}: cue '{cue}', {name}: rating must be 0..5")
            table[str(name)] = Mark(rating, bool(raw.get("rejected", False)))
        out[str(cue)] = table
    return out


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
