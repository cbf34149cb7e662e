"""The operator view's thumbnail textures: pixels made on a worker thread (app.media.thumbnails)
and uploaded on the main thread; splat cues get a texture rendered from their pool image."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import moderngl
import numpy as np

from app.media.thumbnails import make_thumbnail
from app.render.gl import release_framebuffer
from app.show.model import Cue


@dataclass
class _Thumb:
    texture: moderngl.Texture | None = None
    top_row_first: bool = True
    job: Future[np.ndarray | None] | None = None
    placeholder: bool = False  # no picture of its own: rendered from the pool when possible
    fbo: Any = field(default=None, repr=False)


class ThumbnailTextures:
    """Cue thumbnails: pixels made on a worker thread, textures uploaded on the main thread."""

    def __init__(self, width: int, height: int, keep: int = 160) -> None:
        self.width = width
        self.height = height
        self.keep = keep
        self._thumbs: dict[int, _Thumb] = {}
        self._workers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbnails")

    def get(self, ctx: moderngl.Context, index: int, cue: Cue) -> _Thumb:
        """The thumbnail of a cue (starting its job on first use; uploading it once done)."""
        th = self._thumbs.get(index)
        if th is None:
            if len(self._thumbs) >= self.keep:
                self._drop_oldest()
            th = _Thumb()
            th.job = self._workers.submit(make_thumbnail, cue, self.width, self.height)
            self._thumbs[index] = th
        if th.job is not None and th.job.done():
            try:
                pixels = th.job.result()
            except Exception:
                pixels = None
            th.job = None
            if pixels is None:
                th.placeholder = True
            else:
                tex = ctx.texture((self.width, self.height), 3, pixels, alignment=1)
                tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
                th.texture = tex
        return th

    @property
    def pending(self) -> int:
        """Thumbnails still being made."""
        return sum(1 for th in self._thumbs.values() if th.job is not None and not th.job.done())

    def wait(self, timeout: float | None = None) -> None:
        """Block until every thumbnail started is made (for screenshots; never on stage)."""
        from concurrent.futures import wait

        wait([th.job for th in self._thumbs.values() if th.job is not None], timeout=timeout)

    def placeholders(self) -> list[int]:
        """Cues whose thumbnail could be rendered from a pool image."""
        return [i for i, th in self._thumbs.items() if th.placeholder and th.texture is None]

    def set_rendered(self, index: int, texture: moderngl.Texture, fbo: Any) -> None:
        th = self._thumbs.get(index)
        if th is None:
            return
        th.texture, th.top_row_first, th.fbo = texture, False, fbo

    def _drop_oldest(self) -> None:
        index = next(iter(self._thumbs))
        self._release_one(self._thumbs.pop(index))

    @staticmethod
    def _release_one(th: _Thumb) -> None:
        if th.job is not None:
            th.job.cancel()
        if th.fbo is not None:
            release_framebuffer(th.fbo)
        elif th.texture is not None:
            th.texture.release()

    def release(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)
        for th in self._thumbs.values():
            self._release_one(th)
        self._thumbs.clear()
