"""Undo of the desk's picks without a browser: each undo puts back the picks file, the cue's
media file and its manifest record as they were before the pick; an undo is refused when the
picks file was changed by someone else since."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import write_show

from app.cli import main
from app.desk.store import DeskStore
from app.generate.curation.picks import picks_path
from app.generate.errors import GenerateError
from app.generate.manifest import Manifest
from app.show.loader import load_show

SHOW = """
title: Undo
generate: {width: 64, height: 40, steps: 2}
poems:
  - id: "1"
    title: One
    cues:
      - id: "1.1"
        media: g/1.1.png
        generate: {prompt: "a moon", seed: 0}
      - id: "1.2"
        media: g/1.2.png
        generate: {prompt: "a pale laundress", seed: 0}
"""


@pytest.fixture
def show(tmp_path: Path) -> Path:
    path = write_show(tmp_path, SHOW)
    assert main(["generate", str(path), "--backend", "placeholder"]) == 0
    for cue in ("1.1", "1.2"):
        args = ["variations", str(path), cue, "--backend", "placeholder"]
        assert main([*args, "--seeds", "3", "--start", "1"]) == 0
    return path


def _state(show: Path, store: DeskStore, cue: str) -> tuple[str | None, bytes, object]:
    media = store.by_id[cue].media
    picks = picks_path(show)
    text = picks.read_text(encoding="utf-8") if picks.is_file() else None
    return text, media.read_bytes(), Manifest.load(store.root).get(media)


def test_undo_puts_back_each_pick_newest_first(show: Path) -> None:
    store = DeskStore(load_show(show, allow_missing=True))
    try:
        start = _state(show, store, "1.1")
        assert start[0] is None  # no picks file yet
        store.pick("1.1", "seed-1.png")
        after_first = _state(show, store, "1.1")
        store.pick("1.1", "seed-2.png")
        other_before = _state(show, store, "1.2")
        store.pick("1.2", "seed-3.png")
        assert _state(show, store, "1.2") != other_before
        undone = store.undo_pick()
        assert (undone.cue, undone.undone, undone.picked) == ("1.2", "seed-3.png", None)
        assert _state(show, store, "1.2")[1:] == other_before[1:]
        undone = store.undo_pick()
        assert (undone.cue, undone.undone, undone.picked) == ("1.1", "seed-2.png", "seed-1.png")
        assert _state(show, store, "1.1") == after_first  # picks file, media, record
        undone = store.undo_pick()
        assert undone.picked is None
        assert _state(show, store, "1.1") == start  # the picks file is gone again
        with pytest.raises(GenerateError, match="nothing to undo"):
            store.undo_pick()
    finally:
        store.close()
    assert not (store.history.folder).exists()  # the saved media files go with the desk


def test_undo_refuses_when_the_picks_file_changed_since(show: Path) -> None:
    store = DeskStore(load_show(show, allow_missing=True))
    try:
        store.pick("1.1", "seed-1.png")
        picks = picks_path(show)
        edited = picks.read_text(encoding="utf-8") + "# a note by hand\n"
        picks.write_text(edited, encoding="utf-8")
        media = store.by_id["1.1"].media.read_bytes()
        with pytest.raises(GenerateError, match="changed since the pick of seed-1.png"):
            store.undo_pick()
        assert picks.read_text(encoding="utf-8") == edited
        assert store.by_id["1.1"].media.read_bytes() == media
    finally:
        store.close()
