"""Picked seeds: `<show>.picks.yaml` next to the show file, `{cue id: seed}`.

A pick is an artistic decision, so it lives beside the show (and in version control), not in
the media folder. `generate` renders a picked cue at that seed (copying the variation when it
is already rendered), and everything made from the cue follows.

A pick made in the desk may be a grid cell: its recipe values (`recipes: {cue id: {field:
value}}`) are kept beside the seed, so that `generate` renders the cue as it was picked, and
`variations: {cue id: file}` names the variation the cue's media was copied from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from app.atomic import write_text_atomic
from app.generate.errors import GenerateError
from app.show.schema import (
    INVALID,
    Converter,
    Reporter,
    check_keys,
    compose_file,
    identifier,
    integer,
    is_null,
    mapping,
    raw_mapping,
    string,
)


def picks_path(show_path: Path) -> Path:
    """The picks file of a show: `pierrot.yaml` -> `pierrot.picks.yaml`."""
    show_path = Path(show_path)
    return show_path.with_name(f"{show_path.stem}.picks.yaml")


_SECTIONS: dict[str, Converter] = {
    "picks": integer(0),
    "recipes": raw_mapping(),
    "variations": string(),
}


def _read(show_path: Path) -> dict[str, dict[str, Any]]:
    """The picks file's sections `picks`, `recipes`, `variations` by cue id (empty when there is
    no file), validated with the show's schema: a GenerateError lists every problem, one
    `file:line: message` a line."""
    path = picks_path(show_path)
    out: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    if not path.is_file():
        return out
    rep = Reporter(path)
    root = compose_file(path, rep, "the picks file")
    items = mapping(root, rep, "the picks file") if root is not None else None
    if items is not None:
        check_keys(items, _SECTIONS, rep, "the picks file")
        for name, convert in _SECTIONS.items():
            if name not in items or is_null(items[name][1]):
                continue
            section = mapping(items[name][1], rep, name)
            for key, (knode, vnode) in (section or {}).items():
                cue = identifier()(knode, rep, f"{name}: a cue id")
                value = convert(vnode, rep, f"{name}: cue '{key}'")
                if cue is not INVALID and value is not INVALID:
                    out[name][cue] = value
    if rep.problems:
        raise GenerateError("\n".join(str(p) for p in rep.problems))
    return out


def load_picks(show_path: Path) -> dict[str, int]:
    """The picked seed per cue id (empty when there is no picks file)."""
    return _read(show_path)["picks"]


def load_pick_recipes(show_path: Path) -> dict[str, dict[str, Any]]:
    """Recipe values of picked grid cells, per cue id (`{"guidance": 2.0}`)."""
    return _read(show_path)["recipes"]


def load_pick_variations(show_path: Path) -> dict[str, str]:
    """The variation file each desk pick was copied from, per cue id."""
    return _read(show_path)["variations"]


def save_pick(
    show_path: Path,
    cue_id: str,
    seed: int | None,
    *,
    recipe: dict[str, Any] | None = None,
    variation: str | None = None,
) -> Path:
    """Record (or with None, clear) the picked seed of a cue, with the recipe values of a
    picked grid cell and the variation file it came from; returns the picks file."""
    sections = _read(show_path)
    picks = sections.pop("picks")
    for section in sections.values():
        section.pop(cue_id, None)
    if seed is None:
        picks.pop(cue_id, None)
    else:
        picks[cue_id] = int(seed)
        if recipe:
            sections["recipes"][cue_id] = dict(recipe)
        if variation:
            sections["variations"][cue_id] = variation
    data: dict[str, Any] = {"picks": dict(sorted(picks.items()))}
    for name, section in sections.items():
        if section:
            data[name] = dict(sorted(section.items()))
    path = picks_path(show_path)
    text = (
        "# Seeds picked with `python -m app pick` or the desk; `python -m app generate` renders\n"
        "# these cues at the picked seed (and recipe values). Written by the program, safe to "
        "edit.\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    )
    write_text_atomic(path, text)
    return path
