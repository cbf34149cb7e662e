"""Undo of the desk's picks: what a pick changed, kept so that it can be put back.

A pick writes three things (app/desk/store.py): the picks file, the cue's media file (a copy
of the variation, with its sidecar for videos and splats), and the manifest's record of that
media. Before a pick, `PickHistory.before` keeps the picks file's text, the media file (a hard
link to it, so nothing is copied: the pick replaces the media by a rename, the old file lives
on under the link; a copy where links are not possible), its sidecar and its manifest record.
`undo` puts the last of them back, newest first.

The history lives as long as the desk (20 picks at most) and its saved media files in the
media root's state folder (`.generate/desk-undo/`), emptied when a desk opens and closes. An
undo is refused, with the reason, when the picks file changed since that pick (edited by hand
or by `python -m app pick`): the desk never overwrites what it did not write.
"""

from __future__ import annotations

import itertools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.atomic import write_text_atomic
from app.generate.curation.picks import picks_path
from app.generate.errors import GenerateError
from app.generate.manifest import Manifest, state_dir
from app.generate.metadata import sidecar_path

DEPTH = 20  # picks that can be undone, newest first


def _text(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


@dataclass(frozen=True)
class Saved:
    """A cue's state before a pick."""

    cue: str
    picks_text: str | None  # the picks file before (None: there was none)
    media: Path
    media_copy: Path | None  # the media file before (None: there was none)
    sidecar_text: str | None
    record: dict[str, Any] | None  # the manifest's record of the media before


@dataclass(frozen=True)
class Done:
    """A pick made: what it wrote, and what was there before."""

    saved: Saved
    variation: str
    picks_text: str  # the picks file as the pick left it


class PickHistory:
    """The desk's picks, newest last, each with what it replaced (see the module docstring)."""

    def __init__(self, show_path: Path, media_root: Path) -> None:
        self.show_path = Path(show_path)
        self.folder = state_dir(media_root) / "desk-undo"
        self._done: list[Done] = []
        self._numbers = itertools.count(1)
        self.clear()

    def before(self, cue: str, media: Path, manifest: Manifest) -> Saved:
        """Keep what a pick of `cue` is about to replace (call with the run lock held)."""
        copy = None
        if media.is_file():
            self.folder.mkdir(parents=True, exist_ok=True)
            copy = self.folder / f"{next(self._numbers)}-{media.name}"
            try:
                os.link(media, copy)
            except OSError:  # another file system, or no hard links: a copy
                shutil.copy2(media, copy)
        record = manifest.get(media)
        return Saved(
            cue,
            _text(picks_path(self.show_path)),
            media,
            copy,
            _text(sidecar_path(media)),
            dict(record) if record is not None else None,
        )

    def done(self, saved: Saved, variation: str) -> None:
        """Record a pick that completed (its picks file as written now)."""
        text = _text(picks_path(self.show_path))
        assert text is not None
        self._done.append(Done(saved, variation, text))
        while len(self._done) > DEPTH:
            self._forget(self._done.pop(0))

    def discard(self, saved: Saved) -> None:
        """Drop what `before` kept for a pick that failed."""
        if saved.media_copy is not None:
            saved.media_copy.unlink(missing_ok=True)

    @property
    def last(self) -> Done | None:
        """The pick `undo` would take back, or None."""
        return self._done[-1] if self._done else None

    def undo(self, media_root: Path) -> Done:
        """Put back what the last pick replaced (call with the run lock held)."""
        if not self._done:
            raise GenerateError("nothing to undo: no pick made since the desk opened")
        done = self._done[-1]
        path = picks_path(self.show_path)
        if _text(path) != done.picks_text:
            self._done.clear()  # older undos would overwrite the same change
            raise GenerateError(
                f"{path} changed since the pick of {done.variation} for cue {done.saved.cue} "
                "(edited by hand or by `pick`?); nothing undone"
            )
        saved = done.saved
        if saved.media_copy is not None:
            os.replace(saved.media_copy, saved.media)  # atomic, like the pick's own write
        else:
            saved.media.unlink(missing_ok=True)
        side = sidecar_path(saved.media)
        if saved.sidecar_text is not None:
            write_text_atomic(side, saved.sidecar_text)
        else:
            side.unlink(missing_ok=True)
        manifest = Manifest.load(media_root)
        if saved.record is not None:
            manifest.record(saved.media, saved.record)
        else:
            manifest.forget(saved.media)
            manifest.save()
        if saved.picks_text is not None:
            write_text_atomic(path, saved.picks_text)
        else:
            path.unlink(missing_ok=True)
        self._done.pop()
        return done

    def _forget(self, done: Done) -> None:
        self.discard(done.saved)

    def clear(self) -> None:
        """Forget every pick and the files kept for them."""
        self._done.clear()
        if self.folder.is_dir():
            shutil.rmtree(self.folder, ignore_errors=True)
