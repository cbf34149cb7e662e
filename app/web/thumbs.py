"""Cue thumbnails for the console: made once per media file, cached on disk by content hash.

A worker thread hashes each media file (BLAKE2b of its bytes, so a renamed file keeps its
picture and an edited one gets a new one), and makes `<hash>.jpg` in the cache folder when
it is missing: stills are scaled, videos give a frame at the cue's start (ffmpeg, as the
operator view does). Splat scenes get a rendered view: the worker loads the scene, and the
GL thread (the player's main loop, through `take_splat_job` / `finish_splat`) draws it; the
worker only encodes and writes the picture. The URL of a thumbnail is its hash, so a
browser may cache it for good.
"""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from app.atomic import atomic_output
from app.show.model import Cue, MediaKind, Show
from app.threads import BackgroundThread

THUMB_WIDTH = 320
CHUNK = 1 << 20


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/app/thumbs` (default `~/.cache/app/thumbs`)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "app" / "thumbs"


def content_hash(path: Path) -> str:
    """Hex BLAKE2b-128 of a file's bytes."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def save_jpeg(pixels: np.ndarray, path: Path) -> None:
    """Write (H, W, 3) uint8 pixels as a JPEG, atomically (a half-written file never shows)."""
    from PIL import Image

    with atomic_output(path, unique=True, sync=False) as tmp:  # a cache: made again if lost
        Image.fromarray(np.ascontiguousarray(pixels[..., :3])).save(tmp, "JPEG", quality=82)


@dataclass
class SplatJob:
    """A splat scene loaded by the worker, waiting for the GL thread to draw it."""

    index: int
    cue: Cue
    key: str
    scene: Any


class Thumbnails:
    """The thumbnails and lengths of a show's cues (see the module docstring).

    `on_change()` is called (on the worker thread) whenever a thumbnail or a length becomes
    known. `keys[i]` / `lengths[i]` are None until then.
    """

    def __init__(
        self,
        show: Show,
        folder: Path | None = None,
        *,
        width: int = THUMB_WIDTH,
        on_change: Callable[[], None] | None = None,
        known: dict[tuple[str, int, int, int], str] | None = None,
    ) -> None:
        self.show = show
        # content hashes by (file, inode, size, mtime): a reloaded show's Thumbnails gets
        # those of the one before, so that its worker does not read every file again
        self.known: dict[tuple[str, int, int, int], str] = known if known is not None else {}
        self.folder = folder or default_cache_dir()
        self.width = width
        aspect = show.output.width / max(1, show.output.height)
        self.height = max(1, round(width / aspect))
        self.on_change = on_change or (lambda: None)
        cues = show.cues
        self.keys: list[str | None] = [None] * len(cues)
        self.lengths: list[float | None] = [None] * len(cues)
        self._splats: queue.SimpleQueue[SplatJob] = queue.SimpleQueue()
        self._thread = BackgroundThread(self._run, "web-thumbs")

    def start(self) -> Thumbnails:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the worker to stop, without waiting for it (main thread; `close` waits)."""
        self._thread.stop()

    def close(self) -> None:
        self._thread.close(5.0)

    def file_for(self, key: str) -> Path | None:
        """The cached JPEG of a key, if it exists (any thread)."""
        if key not in self.keys:
            return None
        path = self.folder / f"{key}.jpg"
        return path if path.is_file() else None

    # --- worker thread -------------------------------------------------------------------

    def _run(self) -> None:
        by_hash: dict[Path, str] = {}
        for index, cue in enumerate(self.show.cues):
            if self._thread.stopping.is_set():
                return
            try:
                self._one(index, cue, by_hash)
            except Exception:  # an unreadable file keeps its placeholder
                continue

    def _one(self, index: int, cue: Cue, by_hash: dict[Path, str]) -> None:
        if not cue.media.is_file():
            return
        if cue.kind is MediaKind.VIDEO:
            from app.media.probe import probe

            info = probe(cue.media)
            if info.duration is not None:
                end = cue.end if cue.end is not None else info.duration
                self.lengths[index] = round(max(0.0, end - cue.start), 2)
                self.on_change()
        st = cue.media.stat()
        stamp = (str(cue.media), st.st_ino, st.st_size, st.st_mtime_ns)
        key = by_hash.get(cue.media) or self.known.get(stamp) or content_hash(cue.media)
        by_hash[cue.media] = self.known[stamp] = key
        # two cues of one video at different starts would share a picture: key the start in
        if cue.kind is MediaKind.VIDEO and cue.start:
            key = hashlib.blake2b(f"{key}@{cue.start:.3f}".encode(), digest_size=16).hexdigest()
        if cue.kind is MediaKind.SPLAT and cue.splat is not None:  # a trimmed scene differs
            trim = cue.splat.describe()
            key = hashlib.blake2b(f"{key}@{trim}".encode(), digest_size=16).hexdigest()
        path = self.folder / f"{key}.jpg"
        if path.is_file():
            self.keys[index] = key
            self.on_change()
            return
        if cue.kind is MediaKind.SPLAT:
            from app.media.splat_cue import load_cue_scene

            scene = load_cue_scene(cue.media, cue.splat).scene
            self._splats.put(SplatJob(index, cue, key, scene))
            return
        from app.media.thumbnails import make_thumbnail

        pixels = make_thumbnail(cue, self.width, self.height)
        if pixels is None:
            return
        save_jpeg(pixels, path)
        self.keys[index] = key
        self.on_change()

    # --- GL thread -------------------------------------------------------------------------

    def take_splat_job(self) -> SplatJob | None:
        """A loaded splat scene to draw, if any (GL thread)."""
        try:
            return self._splats.get_nowait()
        except queue.Empty:
            return None

    def finish_splat(self, job: SplatJob, pixels: np.ndarray | None) -> None:
        """The GL thread drew `job` (uint8 RGB, top row first) or could not (None)."""
        if pixels is None:
            return

        def write() -> None:
            try:
                save_jpeg(pixels, self.folder / f"{job.key}.jpg")
            except OSError:
                return
            self.keys[job.index] = job.key
            self.on_change()

        threading.Thread(target=write, name="web-thumb-write", daemon=True).start()


def render_splat_thumbnail(ctx: Any, job: SplatJob, width: int, height: int) -> np.ndarray:
    """Draw a splat cue's base view offscreen (GL thread) and read it back as uint8 RGB."""
    from app.cues.state import CameraOffset
    from app.render.splat_views import render_views

    return render_views(ctx, job.scene, job.cue.camera, [CameraOffset()], width, height)[0]
