"""Picked seeds: `<show>.picks.yaml` next to the show file, `{cue id: seed}`.

A pick is an artistic decision, so it lives beside the show (and in version control), not in
the media folder. `generate` renders a picked cue at that seed (copying the variation when it
is already rendered), and everything made from the cue follows.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from app.generate.cache import write_text_atomic
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
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise GenerateError(f"{path}: cannot read the picks file: {exc}") from None
    picks = data.get("picks", {}) if isinstance(data, dict) else None
    if not isinstance(picks, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in picks.values()
    ):
        raise GenerateError(f"{path}: expected 'picks: {{cue id: seed (integer >= 0)}}'")
    return {str(k): int(v) for k, v in picks.items()}


def save_pick(show_path: Path, cue_id: str, seed: int | None) -> Path:
    """Record (or with None, clear) the picked seed of a cue; returns the picks file."""
    picks = load_picks(show_path)
    if seed is None:
        picks.pop(cue_id, None)
    else:
        picks[cue_id] = int(seed)
    path = picks_path(show_path)
    text = (
        "# Seeds picked with `python -m app pick`; `python -m app generate` renders these cues\n"
        "# at the picked seed. Written by the program, safe to edit.\n"
        + yaml.safe_dump({"picks": dict(sorted(picks.items()))}, sort_keys=False)
    )
    write_text_atomic(path, text)
    return path
