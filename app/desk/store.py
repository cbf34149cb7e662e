"""The desk's view of a show on disk: variations per cue, marks, picks, thumbnails.

Every write goes through one lock (`self.lock`) and, while it writes, holds the media
root's `RunLock`, so a `generate` run in another process and the desk never write the
manifest at once; the manifest is read again before each write (another run may have
added to it). Picking a variation is what `pick` does plus what `generate` would then do:
the picks file (atomically), the file copied over the cue's media (atomically), the
manifest record of the cue's media. `undo_pick` puts the last pick's three back
(app/desk/undo.py).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.atomic import atomic_output, copy_atomic
from app.desk.orbit import OrbitRenderer
from app.desk.undo import PickHistory
from app.generate.curation.catalog import Variation, list_variations, variations_dir
from app.generate.curation.picks import load_pick_variations, load_picks, picks_path, save_pick
from app.generate.curation.ratings import Mark, load_ratings, save_ratings
from app.generate.errors import GenerateError
from app.generate.manifest import Manifest, ProcessLock, RunLock, state_dir
from app.generate.metadata import write_sidecar
from app.generate.plan import require_recipe
from app.media.types import MediaError
from app.render.gl import GLError
from app.show.model import Cue, MediaKind, Show, media_kind_for

THUMB_WIDTH = 256


class DeskLock(ProcessLock):
    """One desk per show: an exclusive lock held for the desk's life (dropped if it dies)."""

    def __init__(self, media_root: Path) -> None:
        super().__init__(
            state_dir(media_root) / "desk.lock",
            lambda pid: (
                f"a desk is already open on this show (pid {pid}); use that one, or close it"
            ),
        )


@dataclass(frozen=True)
class PickResult:
    """What a pick changed."""

    cue: str
    variation: str
    seed: int
    media: Path
    picks_file: Path


@dataclass(frozen=True)
class UndoResult:
    """What an undo put back: the cue, the variation whose pick was undone, and the cue's
    pick now (None when it had none before)."""

    cue: str
    undone: str
    picked: str | None
    media: Path
    picks_file: Path


class DeskStore:
    """Reads and writes the show's variations, marks and picks (thread-safe)."""

    def __init__(self, show: Show) -> None:
        self.show = show
        self.root = show.media_root
        self.lock = threading.RLock()  # writers: marks, picks, the job worker
        self._read_lock = threading.Lock()  # the cached manifest
        self._manifest: Manifest | None = None
        self._manifest_stamp: tuple[int, int] | None = None
        self.ratings = load_ratings(show.path)
        self.by_id = {c.id: c for c in show.cues}
        self._orbit: OrbitRenderer | None = None  # made on the first splat preview
        self.history = PickHistory(show.path, self.root)  # the picks `undo_pick` takes back

    # --- reading ------------------------------------------------------------------------

    def cue(self, cue_id: str) -> Cue:
        """The cue `cue_id`, which must have a recipe."""
        cue = self.by_id.get(cue_id)
        if cue is None:
            raise GenerateError(f"no cue '{cue_id}' in {self.show.path}")
        return cue

    def manifest(self) -> Manifest:
        """The manifest as it is on disk now (read again only when the file changed)."""
        path = state_dir(self.root) / "manifest.json"
        try:
            st = path.stat()
            stamp: tuple[int, int] | None = (st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if self._manifest is None or stamp != self._manifest_stamp:
            self._manifest = Manifest.load(self.root)
            self._manifest_stamp = stamp
        return self._manifest

    def cues(self) -> list[dict[str, Any]]:
        """Every cue with what the page's cue list shows."""
        picked = load_pick_variations(self.show.path)
        seeds = load_picks(self.show.path)
        out = []
        for cue in self.show.cues:
            folder = variations_dir(self.root, cue.id)
            count = (
                sum(
                    1
                    for p in folder.iterdir()
                    if media_kind_for(p) is not None
                    and p.is_file()
                    and not p.name.startswith(".")
                    and p.name != "contact.png"
                )
                if folder.is_dir()
                else 0
            )
            spec = cue.generate
            out.append(
                {
                    "id": cue.id,
                    "poem": cue.poem_id,
                    "kind": cue.kind.value,
                    "prompt": spec.prompt if spec else "",
                    "recipe": spec is not None and spec.kind is not MediaKind.SPLAT,
                    "count": count,
                    "picked": picked.get(cue.id),
                    "picked_seed": seeds.get(cue.id),
                }
            )
        return out

    def variations(self, cue_id: str) -> tuple[list[Variation], list[str]]:
        """(variations of a cue, names the manifest records but whose files are gone)."""
        cue = self.cue(cue_id)
        with self._read_lock:
            manifest = self.manifest()
        return list_variations(cue, self.root, manifest)

    def variation(self, cue_id: str, name: str) -> Variation:
        """One variation by file name; a clear error when it is not (or no longer) there."""
        if "/" in name or name.startswith("."):
            raise GenerateError(f"'{name}' is not a variation name")
        found, missing = self.variations(cue_id)
        for v in found:
            if v.name == name:
                return v
        if name in missing:
            raise GenerateError(
                f"cue {cue_id}: variation {name} was deleted from "
                f"{variations_dir(self.root, cue_id)}; pick another one"
            )
        raise GenerateError(f"cue {cue_id}: no variation {name}")

    def listing(self, cue_id: str) -> dict[str, Any]:
        """What the page shows for a cue: items with their marks, the pick, missing files."""
        found, missing = self.variations(cue_id)
        marks = self.ratings.get(cue_id, {})
        picked = load_pick_variations(self.show.path).get(cue_id)
        items = []
        for v in found:
            data = v.to_json()
            mark = marks.get(v.name, Mark())
            data["rating"], data["rejected"] = mark.rating, mark.rejected
            items.append(data)
        sheets = sorted(
            p.name for p in (variations_dir(self.root, cue_id) / "sheets").glob("*.png")
        )
        return {
            "cue": cue_id,
            "items": items,
            "missing": missing,
            "picked": picked,
            "sheets": sheets,
        }

    # --- writing ------------------------------------------------------------------------

    def mark(
        self, cue_id: str, name: str, *, rating: int | None = None, rejected: bool | None = None
    ) -> Mark:
        """Rate (0..5) and/or reject a variation; saved at once (atomically)."""
        self.cue(cue_id)
        if rating is not None and not (isinstance(rating, int) and 0 <= rating <= 5):
            raise GenerateError(f"rating must be 0..5, got {rating!r}")
        with self.lock:
            self.variation(cue_id, name)
            table = self.ratings.setdefault(cue_id, {})
            old = table.get(name, Mark())
            new = Mark(
                old.rating if rating is None else rating,
                old.rejected if rejected is None else bool(rejected),
            )
            table[name] = new
            save_ratings(self.show.path, self.ratings)
        return new

    def pick(self, cue_id: str, name: str) -> PickResult:
        """Make variation `name` the cue's media: picks file, media file, manifest."""
        cue = require_recipe(self.cue(cue_id))
        with self.lock:
            v = self.variation(cue_id, name)
            if v.seed is None:
                raise GenerateError(
                    f"cue {cue_id}: {name} carries no seed (a file put there by hand?); "
                    "only variations made by the generator can be picked"
                )
            if v.kind is not cue.kind:
                raise GenerateError(
                    f"cue {cue_id}: {name} is a {v.kind.value}, the cue plays a {cue.kind.value}"
                )
            with RunLock(self.root):
                manifest = Manifest.load(self.root)
                entry = dict(manifest.get(v.path) or {})
                saved = self.history.before(cue.id, cue.media, manifest)
                try:
                    path = self._pick(cue, v, name, manifest, entry)
                except BaseException:
                    self.history.discard(saved)
                    raise
                self.history.done(saved, name)
        return PickResult(cue.id, name, v.seed, cue.media, path)

    def _pick(
        self, cue: Cue, v: Variation, name: str, manifest: Manifest, entry: dict[str, Any]
    ) -> Path:
        """The writes of a pick (under the run lock): media, sidecar, manifest, picks file."""
        assert v.seed is not None
        copy_atomic(v.path, cue.media)
        entry.update(
            {
                "cue": cue.id,
                "variation": False,
                "copied_from": manifest.key(v.path),
                "bytes": cue.media.stat().st_size,
            }
        )
        if cue.kind is not MediaKind.STILL and entry.get("hash"):
            write_sidecar(cue.media, {k: x for k, x in entry.items() if k != "bytes"})
        if entry.get("hash"):
            manifest.record(cue.media, entry)
        return save_pick(self.show.path, cue.id, v.seed, recipe=v.values, variation=name)

    def undo_pick(self) -> UndoResult:
        """Take back the last pick made in this desk: picks file, media file, manifest."""
        with self.lock, RunLock(self.root):
            done = self.history.undo(self.root)
        cue = done.saved.cue
        picked = load_pick_variations(self.show.path).get(cue)
        return UndoResult(cue, done.variation, picked, done.saved.media, picks_path(self.show.path))

    # --- thumbnails ---------------------------------------------------------------------

    def thumbnail(self, cue_id: str, name: str) -> Path:
        """A JPEG thumbnail of a variation (made once, again when the file changes)."""
        from app.media.thumbnails import file_thumbnail

        v = self.variation(cue_id, name)
        if v.kind is MediaKind.SPLAT:
            return self.orbit(cue_id, name)[1]
        thumb = self._thumb_dir(cue_id) / f"{name}.jpg"
        if thumb.is_file() and thumb.stat().st_mtime_ns >= v.mtime_ns:
            return thumb
        image = file_thumbnail(v.path, THUMB_WIDTH)
        with atomic_output(thumb) as tmp:
            image.save(tmp, format="JPEG", quality=82)
        return thumb

    def orbit(self, cue_id: str, name: str) -> tuple[Path, Path]:
        """(animated WebP orbit, JPEG of its first frame) of a splat variation, rendered once
        on the desk's GL thread and again when the scene file changes."""
        v = self.variation(cue_id, name)
        if v.kind is not MediaKind.SPLAT:
            raise GenerateError(f"cue {cue_id}: {name} is not a splat scene")
        with self.lock:
            if self._orbit is None:
                out = self.show.output
                height = max(2, round(THUMB_WIDTH * out.height / out.width))
                self._orbit = OrbitRenderer(THUMB_WIDTH, height)
            orbit = self._orbit
        folder = self._thumb_dir(cue_id)
        try:
            return orbit.preview(
                v.path, self.cue(cue_id).camera, folder / f"{name}.webp", folder / f"{name}.jpg"
            )
        except (OSError, ValueError, MediaError, GLError) as exc:
            raise GenerateError(f"cue {cue_id}: cannot preview {v.path}: {exc}") from exc

    def _thumb_dir(self, cue_id: str) -> Path:
        return state_dir(self.root) / "thumbs" / cue_id.replace("/", "_")

    def close(self) -> None:
        """Release the preview renderer's GL context (if one was made)."""
        with self.lock:
            orbit, self._orbit = self._orbit, None
            self.history.clear()
        if orbit is not None:
            orbit.close()

    def sheet(self, cue_id: str, name: str) -> Path:
        """A grid sheet PNG of a cue."""
        path = variations_dir(self.root, self.cue(cue_id).id) / "sheets" / name
        if "/" in name or not name.endswith(".png") or not path.is_file():
            raise GenerateError(f"cue {cue_id}: no grid sheet {name}")
        return path
