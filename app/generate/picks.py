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

from app import safe_yaml
from app.atomic import write_text_atomic
from app.generate.errors import GenerateError


def picks_path(show_path: Path) -> Path:
    """The picks file of a show: `pierrot.yaml` -> `pierrot.picks.yaml`."""
    show_path = Path(show_path)
    return show_path.with_name(f"{show_path.stem}.picks.yaml")


def load_picks(show_path: Path) -> dict[str, int]:
    """The picked seed per cue id (empty when there is no picks file)."""
    path = picks_path(show_path)
    if not path.is_file():
        return {}
    try:
        data = safe_yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise GenerateError(f"{path}: cannot read the picks file: {exc}") from None
    except yaml.YAMLError as exc:
        raise GenerateError(f"{safe_yaml.one_line(exc, path)} (the picks file)") from None
    picks = data.get("picks", {}) if isinstance(data, dict) else None
    if not isinstance(picks, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in picks.values()
    ):
        raise GenerateError(f"{path}: expected 'picks: {{cue id: seed (integer >= 0)}}'")
    return {str(k): int(v) for k, v in picks.items()}


def _sections(show_path: Path) -> dict[str, dict[str, Any]]:
    """The picks file's `recipes` and `variations` sections (empty when absent)."""
    path = picks_path(show_path)
    if not path.is_file():
        return {"recipes": {}, "variations": {}}
    try:
        data = safe_yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise GenerateError(f"{path}: cannot read the picks file: {exc}") from None
    except yaml.YAMLError as exc:
        raise GenerateError(f"{safe_yaml.one_line(exc, path)} (the picks file)") from None
    out: dict[str, dict[str, Any]] = {}
    for name in ("recipes", "variations"):
        section = data.get(name, {}) if isinstance(data, dict) else {}
        if not isinstance(section, dict):
            raise GenerateError(f"{path}: '{name}' must be a mapping of cue ids")
        out[name] = {str(k): v for k, v in section.items()}
    for cue, values in out["recipes"].items():
        if not isinstance(values, dict):
            raise GenerateError(f"{path}: recipes: cue '{cue}': expected {{field: value}}")
    return out


def load_pick_recipes(show_path: Path) -> dict[str, dict[str, Any]]:
    """Recipe values of picked grid cells, per cue id (`{"guidance": 2.0}`)."""
    return _sections(show_path)["recipes"]


def load_pick_variations(show_path: Path) -> dict[str, str]:
    """The variation file each desk pick was copied from, per cue id."""
    return {k: str(v) for k, v in _sections(show_path)["variations"].items()}


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
    picks = load_picks(show_path)
    sections = _sections(show_path)
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
