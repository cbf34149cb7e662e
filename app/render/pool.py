"""The media pool: one source and one GL image per cue that is live or in standby.

Owned by the main thread (it touches GL). Decoding that could stall a frame happens off the
main thread: stills are decoded by a small worker pool and uploaded when ready; videos decode
in their own threads (app.media.video). The cue in standby is pre-rolled: its still is
uploaded, or its video is started and its first frame uploaded, before GO, so that GO shows
it in the next frame.

The frame never waits on media (except `offline`, for renders to a file): a cue fired
before its media is ready is prepared like the cue in standby (`starting`), and `ready(cue)`
says when its first image is on the GPU; the player holds its fade until then. Stills are
decoded no larger than the output needs (app.media.still), by `DECODE_WORKERS` workers.
A first image reaches the GPU over frames: a still, or a video's first frame, `UPLOAD_BYTES`
a frame (the video's textures made a frame before); a splat scene's first picture is sorted
and then drawn a slice of splats a frame (`SplatRenderer.begin`). One thread touches GL: this
pool's, the main thread.

A media failure never raises out of the pool: the cue's image becomes None (black), the error
is logged once, and `error_since(cue)` tells the player when to fade that entry out.

Files are watched: every `watch_interval` seconds the pool compares the file of each slot it
holds with what it opened (inode, size, mtime); a slot whose file was replaced (a pick in the
desk, a new `generate`) is dropped and opened again, unless its cue is in the mix now: what
the audience sees never changes under it, the new file is used once the cue has left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import moderngl
import numpy as np

from app.cues.state import CameraOffset, Mix
from app.media.hap import HapFrame
from app.media.splat_cue import load_cue_scene
from app.media.splats import SplatScene
from app.media.still import load_still, reduction
from app.media.types import FileStamp, MediaError, YuvFrame, file_stamp
from app.media.video import VideoFrame, VideoSource
from app.render.camera import CameraSmoother, cue_view
from app.render.camera_path import CameraMoves
from app.render.compositor import LayerImage
from app.render.hap import HapTextures, missing_support
from app.render.textures import RgbaTexture, SpreadYuvUpload, YuvTextures, premultiply
from app.show.model import Cue, Fit, MediaKind, Show

ErrorLog = Callable[[str, int], None]  # (message, cue index)
DECODE_WORKERS = 2  # threads that decode stills, open videos and load splat scenes
FIRST_FRAME_WAIT = 0.002  # s: the most a frame waits for a just-opened video's first frame
UPLOAD_BYTES = 1 << 20  # bytes of a still, or of a video's first frame, uploaded per frame
NoteLog = Callable[[str], None]

# The texture formats of each HAP variant (what the GL must sample to play it as textures).
HAP_FORMATS: dict[str, tuple[str, ...]] = {
    "Hap1": ("dxt1",),
    "Hap5": ("dxt5",),
    "HapY": ("ycocg",),
    "HapM": ("ycocg", "rgtc1"),
    "HapA": ("rgtc1",),
    "Hap7": ("bc7",),
}


def _note_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _decode_still(path: Any, size: tuple[int, int]) -> np.ndarray:
    """A still decoded for an output of `size`, alpha premultiplied (worker thread)."""
    return premultiply(load_still(path, size))


def _close_when_opened(future: Future[VideoSource]) -> None:
    """A video released while still opening is closed as soon as it is open."""
    if not future.cancelled() and future.exception() is None:
        future.result().close()


def _load_scene(cue: Cue) -> tuple[SplatScene, np.ndarray]:
    """A splat cue's scene as it draws, loaded and trimmed by its `splat:`, and its rows as
    the GPU takes them (worker thread)."""
    from app.render.splats import pack_splats

    scene = load_cue_scene(cue.media, cue.splat).scene
    return scene, pack_splats(scene)


def _open_video(cue: Cue, hap_missing: dict[str, str | None]) -> VideoSource:
    """Probe a cue's video and start its decoder (runs on the worker thread).

    A HAP clip whose textures this GL cannot sample (`hap_missing` names what it lacks) is
    decoded by libavcodec instead."""
    from app.media.probe import probe

    info = probe(cue.media)
    hap = None if info.hap is None else hap_missing.get(info.hap, "a layout") is None
    video = VideoSource(
        cue.media, rate=cue.rate, loop=cue.loop, start=cue.start, end=cue.end, info=info, hap=hap
    )
    video.open(0.0)
    return video


MEDIA_FIELDS = ("media", "kind", "rate", "loop", "start", "end", "camera", "splat")
"""The cue settings a pool slot was opened with (the others are read when drawing)."""


def _same_media(a: Cue, b: Cue) -> bool:
    return all(getattr(a, f) == getattr(b, f) for f in MEDIA_FIELDS)


@dataclass
class _Slot:
    """What the pool holds for one cue."""

    cue: Cue
    image: LayerImage | None = None
    still: Future[np.ndarray] | None = None
    scene: Future[tuple[SplatScene, np.ndarray]] | None = None  # and its packed rows
    splat: Any = None  # GpuSplats once uploaded
    smoother: CameraSmoother | None = None
    last_t: float | None = None
    video: VideoSource | None = None
    opening: Future[VideoSource] | None = None
    last_pts: float | None = None
    error: str | None = None
    error_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    last_used: float = 0.0
    stamp: FileStamp = None  # the file as it was opened


class MediaPool:
    """Sources and GL images for the cues the engine needs now and next."""

    def __init__(
        self,
        ctx: moderngl.Context,
        show: Show,
        on_error: ErrorLog | None = None,
        *,
        offline: bool = False,
        keep_stills: int = 8,
        size: tuple[int, int] | None = None,
        on_note: NoteLog | None = None,
        on_reload: ErrorLog | None = None,
        watch_interval: float = 0.5,
    ) -> None:
        """`offline` makes every frame wait for the media it needs (renders to a file).
        `on_note` gets notices that are no errors (a HAP fallback), each once;
        `on_reload(message, cue)` hears of each cue reopened because its file changed."""
        self.ctx = ctx
        self.show = show
        self.cues = show.cues
        self.on_error = on_error or (lambda msg, cue: None)
        self.offline = offline
        self.keep_stills = keep_stills
        self.size = size or (show.output.width, show.output.height)
        self._splat_renderer: Any = None  # created on the first splat cue (needs GL 4.3)
        self._slots: dict[int, _Slot] = {}
        self._camera = CameraOffset()
        self._live: int | None = None
        self._workers = ThreadPoolExecutor(
            max_workers=DECODE_WORKERS, thread_name_prefix="media-decode"
        )
        self.on_note = on_note or _note_to_stderr
        self._notes: set[str] = set()
        # What this GL lacks for each HAP variant (None: plays as compressed textures).
        self.hap_missing = {v: missing_support(ctx, f) for v, f in HAP_FORMATS.items()}
        self.on_reload = on_reload or (lambda msg, cue: None)
        self.watch_interval = watch_interval
        self._watched_at: float | None = None
        self._dropped_closed = 0  # video frames dropped by videos closed since
        if any(c.kind is MediaKind.SPLAT for c in self.cues):
            self._warm_splats()
        # splat camera paths and their recording (app.render.camera_path)
        self.camera_moves = CameraMoves(self.cues, show.media_root, self.on_error, self.on_note)

    def _warm_splats(self) -> None:
        """Build the splat renderer (its programs compile in a fraction of a second) before
        the show starts, not in the frame of the first splat cue. A GL that cannot is told
        then, by that cue (`_splat` tries again and fails it)."""
        from app.render.splats import SplatRenderer

        try:
            self._splat_renderer = renderer = SplatRenderer(self.ctx, timing=False)
            # one draw of a tiny scene per blending: a software GL compiles its pipelines on
            # first use (0.3 s with llvmpipe)
            rng = np.random.default_rng(0)
            n = 16
            rotations = np.zeros((n, 4), np.float32)
            rotations[:, 0] = 1.0
            width, height = self.size
            for linear in (False, True):
                scene = SplatScene(
                    positions=rng.normal(0.0, 1.0, (n, 3)).astype(np.float32),
                    scales=np.full((n, 3), 0.1, np.float32),
                    rotations=rotations,
                    opacities=np.full(n, 0.5, np.float32),
                    colours=np.full((n, 3), 0.5, np.float32),
                    blend_linear=linear,
                )
                gpu = renderer.upload(scene)
                view = cue_view(scene, None, CameraOffset(), 0.0, width, height)
                renderer.render(gpu, view, width, height)
                gpu.release()
        except (RuntimeError, ValueError, moderngl.Error):
            self._splat_renderer = None

    # --- queries used by the compositor ----------------------------------------------

    def image_for(self, cue: int) -> LayerImage | None:
        """The GL image of a cue, or None (draws black)."""
        slot = self._slots.get(cue)
        return slot.image if slot is not None else None

    def fit_for(self, cue: int) -> Fit:
        return self.cues[cue].fit

    def ready(self, cue: int) -> bool:
        """Whether the cue's first image is on the GPU (or the pool waits for it anyway)."""
        slot = self._slots.get(cue)
        return self.offline or (slot is not None and slot.image is not None)

    def error_since(self, cue: int) -> float | None:
        """Clock time at which this cue's media failed, or None."""
        slot = self._slots.get(cue)
        return slot.error_at if slot is not None else None

    def slot_extra(self, cue: int) -> dict[str, Any] | None:
        slot = self._slots.get(cue)
        return slot.extra if slot is not None else None

    @property
    def dropped_video_frames(self) -> int:
        """Video frames dropped since the show started (those of closed videos included:
        the count never goes down)."""
        live = sum(s.video.dropped for s in self._slots.values() if s.video is not None)
        return self._dropped_closed + live

    def replace_show(self, show: Show, moved: dict[int, int]) -> None:
        """Play `show` from now on (a reload): `moved` maps old flat indices to new ones.

        A slot whose cue kept its media settings moves to its new index (on stage it goes
        on without a jump; in standby it stays pre-rolled); the others are closed and open
        again, with the new settings, when they are needed.
        """
        self.show = show
        self.cues = show.cues
        slots: dict[int, _Slot] = {}
        for old, slot in self._slots.items():
            new = moved.get(old)
            if new is not None and _same_media(slot.cue, self.cues[new]):
                slot.cue = self.cues[new]
                slots[new] = slot
            else:
                self._close_slot(slot)
        self._slots = slots
        self.camera_moves.replace_cues(self.cues, moved)

    # --- per frame ------------------------------------------------------------------

    def update(
        self,
        mix: Mix,
        standby: int | None,
        t: float,
        live: int | None = None,
        starting: tuple[int, ...] = (),
    ) -> None:
        """Make sure every cue in the mix (and the standby cue) has its image for time t.

        The performer's camera offset (mix.camera) steers the splat scene of the `live` cue;
        other splat scenes keep their last view while they fade. `starting` are cues fired
        whose media are not ready yet: they are prepared as the standby cue is.
        """
        self._camera = mix.camera
        self._live = live
        wanted: dict[int, float] = {}
        for layer in mix.layers:
            for e in layer.entries:
                wanted[e.cue] = max(wanted.get(e.cue, -1.0), e.media_time)
        live = set(wanted)
        if self._watched_at is None or not 0 <= t - self._watched_at < self.watch_interval:
            self._watched_at = t
            self._reopen_changed(live)
        for cue, media_time in wanted.items():
            self._refresh(self._slot(cue, t), media_time, t)
        if standby is not None and standby not in live:
            self._preroll(self._slot(standby, t), t)
        for cue in starting:
            if cue not in live:
                self._preroll(self._slot(cue, t), t)
        keep = set(wanted) | set(starting) | ({standby} if standby is not None else set())
        self._release_unused(keep)

    def _slot(self, cue: int, t: float) -> _Slot:
        slot = self._slots.get(cue)
        if slot is None:
            slot = _Slot(self.cues[cue])
            self._slots[cue] = slot
            self._open(slot, t)
        slot.last_used = t
        return slot

    def _reopen_changed(self, live: set[int]) -> None:
        """Drop the slots whose file changed since it was opened, except live ones."""
        for index, slot in list(self._slots.items()):
            if index in live:
                continue
            stamp = file_stamp(slot.cue.media)
            if stamp == slot.stamp or stamp is None:
                continue
            self._close_slot(self._slots.pop(index))
            self.on_reload(
                f"cue {slot.cue.id}: media file changed, reloaded ({stamp[1]} bytes)", index
            )

    def _open(self, slot: _Slot, t: float) -> None:
        cue = slot.cue
        slot.stamp = file_stamp(cue.media)
        if not cue.media.exists():
            self._fail(slot, f"media file not found: {cue.media}", t)
            return
        try:
            if cue.kind is MediaKind.STILL:
                slot.still = self._workers.submit(_decode_still, cue.media, self.size)
            elif cue.kind is MediaKind.VIDEO:
                # Probing and spawning ffmpeg take tens of ms: never on the render thread.
                slot.opening = self._workers.submit(_open_video, cue, self.hap_missing)
            elif cue.kind is MediaKind.SPLAT:
                self._workers.submit(self.camera_moves.preload, self.cues.index(cue))
                slot.scene = self._workers.submit(_load_scene, cue)
                slot.smoother = CameraSmoother(halflife=0.25)
        except (MediaError, OSError, ValueError) as exc:
            self._fail(slot, str(exc), t)

    def _fail(self, slot: _Slot, message: str, t: float) -> None:
        if slot.error is None:
            slot.error = message
            slot.error_at = t
            index = self.cues.index(slot.cue)
            self.on_error(f"cue {slot.cue.id}: {message}", index)

    def _still_ready(self, slot: _Slot, t: float, wait: bool) -> None:
        """A decoded still goes to the GPU `UPLOAD_BYTES` a frame (at once when `wait`); the
        slot's image is set when all of it is there. Decoded to the output's size, it is
        sampled at most about 2:1 and needs no mipmaps (building them is slow without a GPU)."""
        uploading = slot.extra.get("uploading")
        if uploading is not None:
            while not uploading.upload_more() and wait:
                pass
            if uploading.complete:
                slot.image = slot.extra.pop("uploading")
            return
        if slot.still is None or slot.image is not None:
            return
        if not wait and not slot.still.done():
            return
        try:
            rgba = slot.still.result()
        except (MediaError, OSError, ValueError) as exc:
            self._fail(slot, str(exc), t)
        else:
            try:
                rows = max(1, UPLOAD_BYTES // (rgba.shape[1] * rgba.shape[2]))
                slot.extra["uploading"] = RgbaTexture(
                    self.ctx,
                    rgba,
                    mipmaps=reduction(rgba.shape[1::-1], self.size) > 1,
                    premultiplied=True,
                    rows_per_write=rows,
                )
            except ValueError as exc:
                self._fail(slot, f"{slot.cue.media}: {exc}", t)
            else:
                self._still_ready(slot, t, wait)
        slot.still = None

    def _video_ready(self, slot: _Slot, t: float, wait: bool) -> VideoSource | None:
        """The slot's video source once the worker has opened it."""
        if slot.opening is not None:
            if not wait and not slot.opening.done():
                return None
            try:
                slot.video = slot.opening.result()
            except (MediaError, OSError, ValueError) as exc:
                self._fail(slot, str(exc), t)
            finally:
                slot.opening = None
            video = slot.video
            if video is not None and video.info.hap is not None and not video.hap:
                lacks = self.hap_missing.get(video.info.hap) or "its texture layout"
                self._note(f"{video.info.hap} clips decode on the CPU here: this GL has no {lacks}")
        return slot.video

    def _note(self, message: str) -> None:
        if message not in self._notes:
            self._notes.add(message)
            self.on_note(message)

    def _upload_video(self, slot: _Slot, frame: VideoFrame | None, t: float) -> None:
        """Put a new frame on the GPU; a frame the GL refuses fails the cue (never raises)."""
        if frame is None or frame.pts == slot.last_pts or slot.error is not None:
            return
        try:
            if isinstance(frame, HapFrame):
                self._upload_hap(slot, frame)
            else:
                self._upload_yuv(slot, frame)
        except (RuntimeError, ValueError) as exc:
            if slot.video is not None:
                slot.video.close()
            self._fail(slot, f"{slot.cue.media}: cannot show the frame: {exc}", t)

    def _upload_yuv(self, slot: _Slot, frame: YuvFrame) -> None:
        image = slot.image
        if image is None and not self.offline:
            self._first_yuv(slot, frame)
            return
        if not isinstance(image, YuvTextures) or (image.width, image.height) != (
            frame.width,
            frame.height,
        ):
            if image is not None:
                image.release()
            slot.image = YuvTextures(self.ctx, frame.width, frame.height)
        slot.image.upload(frame)
        slot.last_pts = frame.pts

    def _first_yuv(self, slot: _Slot, frame: YuvFrame) -> None:
        """A video's first frame goes to the GPU over frames: its textures are made in one
        frame, its rows written `UPLOAD_BYTES` a frame in the next ones (newer frames wait);
        the slot's image is set, and the cue can start, once all of it is there."""
        uploading = slot.extra.get("uploading")
        if uploading is None:
            textures = YuvTextures(self.ctx, frame.width, frame.height, black=False)
            slot.extra["uploading"] = SpreadYuvUpload(textures, frame, UPLOAD_BYTES)
            return
        if uploading.upload_more():
            slot.image = slot.extra.pop("uploading").textures
            slot.last_pts = uploading.frame.pts

    def _upload_hap(self, slot: _Slot, frame: HapFrame) -> None:
        image = slot.image
        if not isinstance(image, HapTextures) or not image.matches(frame):
            if image is not None:
                image.release()
            formats = tuple(tex.format for tex in frame.textures)
            slot.image = image = HapTextures(self.ctx, frame.width, frame.height, formats)
        image.upload(frame)
        slot.last_pts = frame.pts

    def _refresh(self, slot: _Slot, media_time: float, t: float) -> None:
        if slot.error is not None:
            return
        if slot.cue.kind is MediaKind.SPLAT:
            self._splat(slot, t, wait=self.offline, cue_time=media_time)
        elif slot.cue.kind is MediaKind.STILL:
            self._still_ready(slot, t, wait=self.offline)
        elif slot.cue.kind is MediaKind.VIDEO:
            video = self._video_ready(slot, t, wait=self.offline)
            if video is not None:
                self._upload_video(slot, self._video_frame(video, media_time), t)
                if video.error:
                    self._fail(slot, f"{slot.cue.media}: {video.error}", t)

    def _video_frame(self, video: VideoSource, media_time: float) -> VideoFrame | None:
        if not self.offline:
            return video.frame_for(media_time, wait=0.0 if video.decoded else FIRST_FRAME_WAIT)
        # Offline renders must be exact: wait until the frame due at media_time has decoded.
        deadline = time.monotonic() + 5.0
        fps = video.info.fps or 30.0
        while True:
            frame = video.frame_for(media_time, wait=0.05)
            if video.error or time.monotonic() > deadline:
                return frame
            if frame is not None and video.is_current(frame, media_time, fps):
                return frame
            time.sleep(0.002)

    def _splat(self, slot: _Slot, t: float, wait: bool, cue_time: float = 0.0) -> None:
        """Upload a loaded splat scene, then render it for the current camera (the cue's
        camera path at `cue_time`, plus the performer's offset)."""
        if slot.scene is not None:
            if not wait and not slot.scene.done():
                return
            try:
                scene, packed = slot.scene.result()
                if self._splat_renderer is None:
                    from app.render.splats import SplatRenderer

                    self._splat_renderer = SplatRenderer(self.ctx, timing=False)
                slot.splat = self._splat_renderer.upload(scene, packed)
                slot.extra["scene"] = scene
            except (MediaError, OSError, ValueError, RuntimeError) as exc:
                self._fail(slot, str(exc), t)
                return
            finally:
                slot.scene = None
        if slot.splat is None or slot.smoother is None:
            return
        index = self.cues.index(slot.cue)
        target = self._camera if index == self._live else slot.smoother.value
        dt = 0.0 if slot.last_t is None else max(0.0, t - slot.last_t)
        slot.last_t = t
        offset = slot.smoother.update(target, dt)
        offset = self.camera_moves.offset(index, offset, cue_time, live=index == self._live)
        width, height = self.size
        view = cue_view(slot.extra["scene"], slot.cue.camera, offset, t, width, height)
        if slot.image is None and not wait:
            # the first picture over frames: the sort, then SPLATS_PER_STEP splats a frame
            drawing = slot.extra.get("drawing")
            if drawing is None:
                drawing = self._splat_renderer.begin(slot.splat, view, width, height)
                slot.extra["drawing"] = drawing
            if drawing.advance():
                slot.image = slot.extra.pop("drawing").target
            return
        slot.image = self._splat_renderer.render(slot.splat, view, width, height)

    def _preroll(self, slot: _Slot, t: float) -> None:
        if slot.error is not None:
            return
        if slot.cue.kind is MediaKind.SPLAT:
            if slot.image is None:  # its view waits unchanged: render it once
                self._splat(slot, t, wait=self.offline)
        elif slot.cue.kind is MediaKind.STILL:
            self._still_ready(slot, t, wait=self.offline)
        elif slot.cue.kind is MediaKind.VIDEO and slot.image is None:
            video = self._video_ready(slot, t, wait=self.offline)
            if video is not None:
                frame = video.frame_for(0.0, wait=0.5 if self.offline else 0.0)
                self._upload_video(slot, frame, t)
                if video.error:
                    self._fail(slot, f"{slot.cue.media}: {video.error}", t)

    def _release_unused(self, keep: set[int]) -> None:
        stills = sorted(
            (s.last_used, i)
            for i, s in self._slots.items()
            if i not in keep and s.cue.kind is MediaKind.STILL and s.error is None
        )
        drop = [
            i for i, s in self._slots.items() if i not in keep and s.cue.kind is not MediaKind.STILL
        ]
        drop += [i for _, i in stills[: max(0, len(stills) - self.keep_stills)]]
        for i in drop:
            self._close_slot(self._slots.pop(i))

    def _close_slot(self, slot: _Slot) -> None:
        if slot.opening is not None:
            slot.opening.add_done_callback(_close_when_opened)
        if slot.video is not None:
            self._dropped_closed += slot.video.dropped
            slot.video.close()
        uploading = slot.extra.pop("uploading", None)
        if uploading is not None:
            uploading.release()
        if slot.splat is not None:
            slot.splat.release()  # the renderer owns the splat image itself
        elif slot.image is not None and hasattr(slot.image, "release"):
            slot.image.release()

    def close(self) -> None:
        """Stop every decoder and release every GL object."""
        self.camera_moves.close()
        for slot in self._slots.values():
            self._close_slot(slot)
        self._slots.clear()
        if self._splat_renderer is not None:
            self._splat_renderer.release()
            self._splat_renderer = None
        self._workers.shutdown(wait=False, cancel_futures=True)
