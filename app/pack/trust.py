"""A pack is someone else's show: what it may change on the machine that plays it.

Packs travel between artists, so `play`, `check` and `render` of a `.vjshow` treat it as
untrusted unless `--trust-pack` is given:
- its network exposure is not applied: the `web:` block's host, allow-list and tokens and
  the `osc:` block's host, allow-list and passcode are dropped (the machine's defaults and
  the command line's flags apply); what was dropped is said once;
- every media path of its show must resolve inside the unpacked pack (an absolute path or a
  `../../` chain to a file elsewhere on the machine is refused, trusted or not).

Pure functions over the loaded `Show`, so that `verify`, the command line and the session
share one rule.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from app.show.controls import OscSpec, WebSpec
from app.show.model import Show

# (block, field): the settings that open the playing machine to the network
EXPOSURE: tuple[tuple[str, str], ...] = (
    ("web", "host"),
    ("web", "allow"),
    ("web", "token"),
    ("web", "view_token"),
    ("osc", "host"),
    ("osc", "allow"),
    ("osc", "passcode"),
)
_DEFAULTS = {"web": WebSpec(), "osc": OscSpec()}


def exposure_settings(show: Show) -> list[str]:
    """The exposure settings `show` gives, as `block.field` names (none: an empty list)."""
    return [
        f"{block}.{name}"
        for block, name in EXPOSURE
        if getattr(getattr(show, block), name) != getattr(_DEFAULTS[block], name)
    ]


def without_exposure(show: Show) -> Show:
    """`show` with every exposure setting back at its default (ports and the rest kept)."""
    changes = {}
    for block in ("web", "osc"):
        spec = getattr(show, block)
        reset = {name: getattr(_DEFAULTS[block], name) for b, name in EXPOSURE if b == block}
        changes[block] = dataclasses.replace(spec, **reset)
    return dataclasses.replace(show, **changes)


def is_inside(path: Path, folder: Path) -> bool:
    """True when `path`, with every `..` and link resolved, lies inside `folder`."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def outside_media(show: Show, folder: Path) -> list[str]:
    """One `file:line` problem per cue whose media resolves outside the unpacked pack."""
    return [
        f"{show.path}:{cue.line}: cue {cue.id}: media {cue.media} lies outside the pack "
        "(a pack plays only its own files)"
        for cue in show.cues
        if not is_inside(cue.media, folder)
    ]


def ignored_notice(names: list[str]) -> str:
    """The one line that says which exposure settings of a pack were not applied."""
    return (
        f"pack: its network settings were not applied ({', '.join(names)}): a pack does not "
        "open this machine to the network; use --trust-pack (or the flags) to apply them"
    )


def for_play(show: Show, args: object) -> Show:
    """The show `play` applies: a pack's show (`args.pack_folder` set by the command line)
    without its network exposure, unless `args.trust_pack`."""
    if getattr(args, "pack_folder", None) is None or getattr(args, "trust_pack", False):
        return show
    return without_exposure(show)
