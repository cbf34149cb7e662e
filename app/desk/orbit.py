"""Orbit previews of splat variations for the desk, rendered once and kept on disk.

The desk serves requests on many threads; GL lives on one: `OrbitRenderer` owns a headless
EGL context on its own worker thread and renders there, one scene at a time. Each preview is
an animated WebP (a loop around the cue's base view, within the cue's camera limits) and a
JPEG of its first frame (the thumbnail). Both are written atomically and remade when the
scene file changes.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app.atomic import atomic_output
from app.show.model import CameraLimits, CameraSpec

FRAMES = 24
FRAME_MS = 80  # one loop in about two seconds


class OrbitRenderer:
    """Renders orbit previews on one GL thread (made on first use, ended by `close`)."""

    def __init__(self, width: int, height: int, frames: int = FRAMES) -> None:
        self.width, self.height, self.frames = width, height, frames
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="desk-gl")
        self._ctx: Any = None
        self._lock = threading.Lock()  # one render per scene file at a time

    def preview(
        self, scene_path: Path, camera: CameraSpec | None, webp: Path, jpeg: Path
    ) -> tuple[Path, Path]:
        """Write the preview of `scene_path` to `webp` and `jpeg` unless they are current."""
        stamp = scene_path.stat().st_mtime_ns
        with self._lock:
            if all(p.is_file() and p.stat().st_mtime_ns >= stamp for p in (webp, jpeg)):
                return webp, jpeg
            future: Future[None] = self._pool.submit(self._render, scene_path, camera, webp, jpeg)
            future.result()
        return webp, jpeg

    def close(self) -> None:
        """Release the GL context on its own thread and stop the worker."""
        if self._ctx is not None:
            self._pool.submit(self._ctx.release).result()
            self._ctx = None
        self._pool.shutdown(wait=True)

    # --- the GL thread ----------------------------------------------------------------------

    def _render(self, scene_path: Path, camera: CameraSpec | None, webp: Path, jpeg: Path) -> None:
        from PIL import Image

        from app.media.splats import load_splats
        from app.render.splat_views import orbit_offsets, render_views

        if self._ctx is None:
            from app.render.gl import create_headless_context

            self._ctx = create_headless_context()
        scene = load_splats(scene_path)
        limits = camera.limits if camera is not None else CameraLimits()
        pictures = render_views(
            self._ctx,
            scene,
            camera,
            orbit_offsets(self.frames, limits),
            self.width,
            self.height,
        )
        images = [Image.fromarray(p) for p in pictures]
        with atomic_output(webp) as tmp:
            images[0].save(
                tmp,
                format="WEBP",
                save_all=True,
                append_images=images[1:],
                duration=FRAME_MS,
                loop=0,
                quality=80,
            )
        with atomic_output(jpeg) as tmp:
            images[0].save(tmp, format="JPEG", quality=82)
