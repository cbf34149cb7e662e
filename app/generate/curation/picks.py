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

from app.generate.curation.sidecar import Items, by_cue, read_sidecar, sidecar_path, write_sidecar
from app.show.schema import Converter, Reporter, check_keys, integer, raw_mapping, string


def picks_path(show_path: Path) -> Path:
    """The picks file of a show: `pierrot.yaml` -> `pierrot.picks.yaml`."""
    return sidecar_path(show_path, "picks")


_SECTIONS: dict[str, Converter] = {
    "picks": integer(0),
    "recipes": raw_mapping(),
    "variations": string(),
}


def _read(show_path: Path) -> dict[str, dict[str, Any]]:
    """The picks file's sections `picks`, `recipes`, `variations` by cue id (empty when there is
    no file), validated with the show's schema: a GenerateError lists every problem, one
    `file:line: message` a line."""
    out: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}

    def read(items: Items, rep: Reporter) -> None:
        check_keys(items, _SECTIONS, rep, "the picks file")
        for name, convert in _SECTIONS.items():
            if name in items:
                out[name] = by_cue(items[name][1], rep, name, convert)

    read_sidecar(picks_path(show_path), "the picks file", read)
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
    header = (
        "# Seeds picked with `python -m app pick` or the desk; `python -m app generate` renders\n"
        "# these cues at the picked seed (and recipe values). Written by the program, safe to "
        "edit.\n"
    )
    return write_sidecar(picks_path(show_path), header, data)
