"""The live show file: `play` watches the show file, its picks and its venue file and applies
a valid edit within a second of saving, without a restart.

A thread (`ShowWatcher`) waits on watchfiles for changes to those files, reads and validates
the new version there (the YAML, the media, the follow lengths) and puts the result on a
queue. `LiveShow` is an input of the session: its `poll(t)`, on the main thread once a frame,
takes what is on the queue (never waits) and hands a valid show to the player, merged into
the one playing (app.rehearse.merge: live and standby kept by cue id, what is on stage keeps
its settings until it leaves). An invalid version is reported as `file:line` on the
terminal, in the event log and in the status warnings (the operator window and the console
show them), and the show goes on with the previous one. Every reload is an event-log record
`{"event": "reload", "changes": [...], "notes": [...]}`.
"""

from __future__ import annotations

import hashlib
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.rehearse.merge import changes, merge, on_stage
from app.show.model import Show
from app.threads import BackgroundThread

STEP_MS = 50  # watchfiles: a batch ends after this long without a change
DEBOUNCE_MS = 300  # ... or after this long in all (the 1 s budget of a reload)
SETTLE = 0.15  # seconds a refused version must stay unchanged before it is reported


@dataclass(frozen=True)
class Loaded:
    """One version of the show read by the watcher: a show and its follow lengths by cue id,
    or the problems (`file:line: ...` lines); `venue` a new warp when the venue file
    changed (None: unchanged), `venue_error` when it could not be read."""

    show: Show | None = None
    lengths: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    venue: Any = None
    venue_error: str | None = None
    saved_at: float | None = None  # the show file's mtime (time.time()) when it was read


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        try:
            h.update(p.read_bytes())
        except OSError:
            h.update(b"\0missing")
        h.update(b"\0")
    return h.hexdigest()


def picks_file(show_path: Path) -> Path:
    """The desk's picks file of a show (app.generate.curation.picks.picks_path, not imported here:
    that room reads YAML with other dependencies)."""
    return show_path.with_name(f"{show_path.stem}.picks.yaml")


def read_show(path: Path, allow_missing: bool) -> Loaded:
    """Read and validate one version of the show file (watcher thread)."""
    from app.player import follow_lengths
    from app.show.loader import ShowError, load_show

    try:
        show = load_show(path, allow_missing=True)
    except ShowError as exc:
        return Loaded(error=str(exc), saved_at=_mtime(path))
    missing = [c for c in show.cues if not c.media.exists()]
    if missing and not allow_missing:
        lines = [
            f"{show.path}:{c.line}: cue {c.id}: media file not found: {c.media}" for c in missing
        ]
        return Loaded(error="\n".join(lines), saved_at=_mtime(path))
    lengths = {show.cues[i].id: n for i, n in follow_lengths(show).items()}
    return Loaded(show=show, lengths=lengths, saved_at=_mtime(path))


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:
        return None


class ShowWatcher:
    """The thread of the module docstring: one `Loaded` on `results` per changed version."""

    def __init__(self, show_path: Path, venue_path: Path | None, *, allow_missing: bool) -> None:
        self.show_path = Path(show_path).resolve()
        self.venue_path = None if venue_path is None else Path(venue_path).resolve()
        self.allow_missing = allow_missing
        self.results: queue.SimpleQueue[Loaded] = queue.SimpleQueue()
        self._thread = BackgroundThread(self._run, "show-watcher")
        self._show_digest = _digest(self.show_path, picks_file(self.show_path))
        self._venue_digest = _digest(self.venue_path) if self.venue_path else ""
        self.ready = threading.Event()  # set once watching (tests wait on it)

    @property
    def files(self) -> list[Path]:
        venue = [self.venue_path] if self.venue_path is not None else []
        return [self.show_path, picks_file(self.show_path), *venue]

    def start(self) -> ShowWatcher:
        self._thread.start()
        return self

    def close(self) -> None:
        self._thread.close(5.0)

    def _run(self) -> None:
        from watchfiles import watch

        names = {p.name for p in self.files}
        folders = sorted({str(p.parent) for p in self.files})

        def wanted(_change: Any, path: str) -> bool:
            return Path(path).name in names

        # an editor saves by writing a temporary file and renaming it over the show:
        # the folder is watched, and any change to one of the files' names counts
        gen = watch(
            *folders,
            watch_filter=wanted,
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=self._thread.stopping,
            rust_timeout=500,
            raise_interrupt=False,
            recursive=False,
        )
        self.ready.set()
        for _batch in gen:
            if self._thread.stopping.is_set():
                return
            self.check()

    def check(self) -> None:
        """Read what changed since the last check and queue it (watcher thread; tests)."""
        digest = _digest(self.show_path, picks_file(self.show_path))
        loaded = None
        if digest != self._show_digest:
            loaded = read_show(self.show_path, self.allow_missing)
            # an editor writing in place may have been caught half-way: a refused version
            # is read again once the file has stayed the same for a moment
            while loaded.error is not None and not self._thread.stopping.wait(SETTLE):
                again = _digest(self.show_path, picks_file(self.show_path))
                if again == digest:
                    break
                digest, loaded = again, read_show(self.show_path, self.allow_missing)
            self._show_digest = digest
        if self.venue_path is not None:
            vdigest = _digest(self.venue_path)
            if vdigest != self._venue_digest:
                self._venue_digest = vdigest
                loaded = self._with_venue(loaded or Loaded())
        if loaded is not None:
            self.results.put(loaded)

    def _with_venue(self, loaded: Loaded) -> Loaded:
        from app.render.warp import VenueError, load_venue

        try:
            venue = load_venue(self.venue_path, missing_ok=True)  # type: ignore[arg-type]
        except VenueError as exc:
            return replace(loaded, venue_error=str(exc))
        return replace(loaded, venue=venue)


class LiveShow:
    """The session input that applies what the watcher read (see the module docstring)."""

    def __init__(
        self,
        player: Any,
        venue_path: Path | None = None,
        *,
        allow_missing: bool = False,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.player = player
        self.watcher = ShowWatcher(player.show.path, venue_path, allow_missing=allow_missing)
        self.target: Show = player.show  # the newest valid version of the file
        self.lengths: dict[str, float] = {}
        self.held: frozenset[str] = frozenset()
        self.reloads = 0
        self.since_saved: list[float] = []  # seconds from save to applied, per reload
        self.apply_ms: list[float] = []  # main-thread milliseconds each reload took
        self.report = report or _to_terminal

    def start(self) -> LiveShow:
        self.lengths = {
            self.player.show.cues[i].id: n for i, n in self.player.engine.lengths.items()
        }
        self.watcher.start()
        return self

    def close(self) -> None:
        self.watcher.close()

    def poll(self, t: float) -> None:
        """Main thread, once a frame: apply what the watcher read; never waits."""
        while True:
            try:
                loaded = self.watcher.results.get_nowait()
            except queue.Empty:
                break
            self.apply(loaded, t)
        if self.held and self._left_stage():
            self._apply(self.target, t, [], reason="held cues left the stage")

    def apply(self, loaded: Loaded, t: float) -> None:
        """Apply one version read by the watcher (main thread)."""
        player = self.player
        if loaded.venue_error is not None:
            self._refuse(loaded.venue_error, t)
        elif loaded.venue is not None:
            warp = loaded.venue.warp
            player.output.warp = None if warp.is_identity else warp
            player.log.write("reload", t, file="venue", changes=["warp"], notes=[])
        if loaded.error is not None:
            self._refuse(loaded.error, t)
            return
        if loaded.show is None or loaded.show == self.target:
            return  # e.g. a pick: the pool reopens the media files that changed
        summary = changes(self.target, loaded.show)
        self.target = loaded.show
        self.lengths = dict(loaded.lengths)
        since = None if loaded.saved_at is None else round(time.time() - loaded.saved_at, 3)
        if since is not None:
            self.since_saved = [*self.since_saved[-999:], since]
        self._apply(loaded.show, t, summary, reason="the show file changed", since_saved=since)

    def _apply(
        self,
        show: Show,
        t: float,
        summary: list[str],
        *,
        reason: str,
        since_saved: float | None = None,
    ) -> None:
        started = time.perf_counter()
        player = self.player
        m = merge(player.show, player.state, show)
        index = {c.id: i for i, c in enumerate(m.show.cues)}
        old_lengths = player.engine.lengths
        lengths = {index[cid]: n for cid, n in self.lengths.items() if cid in index}
        for old, new in m.moved.items():  # cues held on stage keep their old lengths
            if m.show.cues[new].id in m.held and old in old_lengths:
                lengths[new] = old_lengths[old]
        player.replace_show(m.show, m.state, lengths, m.moved)
        self.held = m.held
        self.reloads += 1
        notes = list(m.notes)
        if m.held:
            notes.append(
                "on stage with their old settings until they leave: " + ", ".join(sorted(m.held))
            )
        player.log.write(
            "reload",
            t,
            file=str(show.path),
            reason=reason,
            changes=summary,
            notes=notes,
            live=None if m.state.live is None else m.show.cues[m.state.live].id,
            standby=None if m.state.standby is None else m.show.cues[m.state.standby].id,
            since_saved=since_saved,  # seconds from the file's save to this frame
        )
        said = "; ".join([*summary, *m.notes]) or "no change to the cues"
        if summary or m.notes:
            player.note(f"reloaded: {said}"[:200])
        for note in m.notes:
            player.log.write("info", t, message=note)
        web = getattr(player, "web", None)
        if web is not None and hasattr(web, "replace_show"):
            web.replace_show(m.show)
        if summary or m.notes:
            self.report(f"show reloaded: {said}")
        took = (time.perf_counter() - started) * 1000.0
        self.apply_ms = [*self.apply_ms[-999:], round(took, 3)]

    def _left_stage(self) -> bool:
        cues = self.player.show.cues
        stage = {cues[i].id for i in on_stage(self.player.state)}
        return not self.held <= stage

    def _refuse(self, message: str, t: float) -> None:
        player = self.player
        first = message.splitlines()[0] if message else "?"
        player.log.write(
            "error", t, message=f"reload refused: {first}", problems=message.splitlines()
        )
        self.report(f"show file NOT reloaded (playing the previous version):\n{message}")


def _to_terminal(text: str) -> None:
    print("\n" + text, file=sys.stderr, flush=True)
