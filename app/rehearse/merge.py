"""A reloaded show merged into the one playing: pure functions, no GL, no threads.

`merge(playing, state, loaded)` returns the show to play from now on and the engine state
re-indexed to it (cues are referred to by flat index, so indices move when cues are added,
deleted or reordered; cues are matched by id):

- the cue in standby stays in standby; when it was deleted, standby moves to the cue that
  followed it (the first later cue still in the show), and a note says so;
- the live cue stays live; what is on stage keeps the settings it was fired with until it
  leaves (`held` names those cues: merge again once they have left); a deleted cue on stage
  stays, at the end of its poem, until it has faded out;
- an armed follow whose cue or target was deleted is cancelled, with a note.

`changes(old, new)` says what changed between two versions of the file, in words, for the
event log.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import TypeVar

from app.cues.state import EngineState, FollowTimer
from app.show.model import Cue, Poem, Show

_Item = TypeVar("_Item", Poem, Cue)

# cue fields the summary leaves out: where the cue is, not what it is
_PLACE = {"id", "poem_id", "line", "media_ref"}
# show settings a reload cannot change under a running output and inputs
_RESTART = ("output", "osc", "gamepad", "keyboard", "web")


@dataclass(frozen=True)
class Merged:
    """The show to play from now on, the engine state re-indexed to it, `moved` (old flat
    index -> new one, for every cue kept), the ids of cues on stage held with their old
    settings (or deleted), and the notes for the performer."""

    show: Show
    state: EngineState
    moved: dict[int, int]
    held: frozenset[str]
    notes: tuple[str, ...]


def on_stage(state: EngineState) -> set[int]:
    """Flat indices of the cues in the mix."""
    return {e.cue for e in state.entries}


def merge(playing: Show, state: EngineState, loaded: Show) -> Merged:
    """The merge of the module docstring."""
    old_cues = playing.cues
    stage = {old_cues[i].id: old_cues[i] for i in on_stage(state)}
    loaded_ids = {c.id for c in loaded.cues}
    held: set[str] = set()
    poems: list[Poem] = []
    for poem in loaded.poems:
        cues: list[Cue] = []
        for cue in poem.cues:
            old = stage.get(cue.id)
            if old is not None:
                kept = replace(old, poem_id=cue.poem_id, line=cue.line)
                if kept != cue:
                    held.add(cue.id)
                cue = kept
            cues.append(cue)
        poems.append(replace(poem, cues=tuple(cues)))
    notes: list[str] = []
    for cue_id, old in stage.items():  # deleted while on stage: kept until it leaves
        if cue_id in loaded_ids:
            continue
        at = next((k for k, p in enumerate(poems) if p.id == old.poem_id), len(poems) - 1)
        poems[at] = replace(poems[at], cues=(*poems[at].cues, replace(old, poem_id=poems[at].id)))
        held.add(cue_id)
        notes.append(f"cue {cue_id} was deleted: it stays on stage until it leaves")
    show = replace(loaded, poems=tuple(poems))
    index = {c.id: i for i, c in enumerate(show.cues)}
    moved = {i: index[c.id] for i, c in enumerate(old_cues) if c.id in index}
    new_state, state_notes = _reindex(state, old_cues, moved, index, loaded_ids)
    return Merged(show, new_state, moved, frozenset(held), (*notes, *state_notes))


def _reindex(
    state: EngineState,
    old_cues: tuple[Cue, ...],
    moved: dict[int, int],
    index: dict[str, int],
    loaded_ids: set[str],
) -> tuple[EngineState, list[str]]:
    notes: list[str] = []
    standby = None
    if state.standby is not None:
        gone = old_cues[state.standby].id
        later = (c.id for c in old_cues[state.standby :] if c.id in loaded_ids)
        found = next(later, None)
        standby = None if found is None else index[found]
        if found != gone:
            where = f"moves to {found}" if found is not None else "is at the end of the show"
            notes.append(f"standby cue {gone} was deleted: standby {where}")
    follow = state.follow
    if follow is not None:
        if follow.cue in moved and follow.target in moved:
            follow = FollowTimer(moved[follow.cue], moved[follow.target], follow.at)
        else:
            notes.append(
                f"the follow of cue {old_cues[follow.cue].id} was cancelled: "
                "a cue of it was deleted"
            )
            follow = None
    entries = tuple(replace(e, cue=moved[e.cue]) for e in state.entries)
    new = replace(
        state,
        entries=entries,
        standby=standby,
        live=None if state.live is None else moved.get(state.live),
        failed=tuple(moved[i] for i in state.failed if i in moved),
        follow=follow,
    )
    return new, notes


def changes(old: Show, new: Show) -> list[str]:
    """What changed from `old` to `new`, one short phrase per change (empty: nothing)."""
    out: list[str] = []
    for name in ("title", "defaults", *_RESTART):
        if getattr(old, name) != getattr(new, name):
            later = " (applies after a restart)" if name in _RESTART else ""
            out.append(f"{name} changed{later}")
    old_poems, new_poems = _by_id("poem", old.poems, new.poems, out)
    for pid, p in new_poems.items():
        q = old_poems.get(pid)
        if q is not None:
            out += [
                f"poem {pid}: {f} changed"
                for f in ("title", "part", "notes")
                if getattr(p, f) != getattr(q, f)
            ]
    if _kept_order(old_poems, new_poems) is not None:
        out.append("poem order changed")
    old_cues, new_cues = _by_id("cue", old.cues, new.cues, out)
    for cid, c in new_cues.items():
        o = old_cues.get(cid)
        if o is None:
            continue
        if o.poem_id != c.poem_id:
            out.append(f"cue {cid} moved to poem {c.poem_id}")
        for f in fields(Cue):
            if f.name not in _PLACE and getattr(o, f.name) != getattr(c, f.name):
                was, now = _short(getattr(o, f.name)), _short(getattr(c, f.name))
                out.append(f"cue {cid}: {f.name} {was} -> {now}")
    order = _kept_order(old_cues, new_cues)
    if order is not None:
        out.append("cue order: " + " ".join(order))
    return out


def _by_id(
    kind: str, old: Iterable[_Item], new: Iterable[_Item], out: list[str]
) -> tuple[dict[str, _Item], dict[str, _Item]]:
    """`old` and `new` (poems or cues) by id; says in `out` which ids were added, deleted."""
    before = {x.id: x for x in old}
    after = {x.id: x for x in new}
    out += [f"{kind} {i} added" for i in after if i not in before]
    out += [f"{kind} {i} deleted" for i in before if i not in after]
    return before, after


def _kept_order(before: dict[str, _Item], after: dict[str, _Item]) -> list[str] | None:
    """The new order of the ids both keep, or None where it is the old order."""
    kept_old = [i for i in before if i in after]
    kept_new = [i for i in after if i in before]
    return None if kept_old == kept_new else kept_new


def _short(value: object) -> str:
    text = (
        str(value.value)
        if hasattr(value, "value")
        else repr(value)
        if isinstance(value, str)
        else str(value)
    )
    return text if len(text) <= 40 else text[:37] + "..."
