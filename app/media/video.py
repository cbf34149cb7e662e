"""Video decoding in-process with PyAV: a decoder thread per playing clip, a bounded queue.

The thread demuxes and decodes (threading left to libavcodec: frame threads) and puts each
frame on a `queue.Queue` of a few frames, so memory is bounded by the queue, whatever the
clip's length. A frame is handed over as numpy views of the decoded planes (no copy, unless
the decoder padded its lines or the frame must be converted or turned upright): planar YUV
4:2:0 8-bit, never RGB (the YUV->RGB conversion is a shader); other formats (10-bit, 4:2:2,
RGB) are converted once by swscale. HAP clips are not decoded at all when the GL can sample
their textures: the thread demuxes each packet and app.media.hap undoes its Snappy stage,
and the frame (`HapFrame`) carries the compressed DXT/BC blocks the GPU samples directly.

The consumer (the render loop) asks `VideoSource.frame_for(media_time)` once per output
frame: it takes the newest decoded frame whose timestamp is due and drops the late ones
(pyglet's "video by timestamp"), never blocking on the decoder.

Timestamps: the source's own timeline starts at the cue's `start` point, on which its first
frame (the first at or after `start`) has pts `start` and frame n after it `start + n / fps`;
a loop continues upward from the last pts, so the timeline never jumps back while a cue
plays. Positions inside the file are counted in frames of the probed frame rate, which
keeps seeks and loops exact for constant-rate clips (variable-rate ones play evenly).
"""

from __future__ import annotations

import functools
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import av
import numpy as np

from app.closing import Closing
from app.media.ffmpeg import input_arg, last_line, run_ffmpeg
from app.media.hap import HapError, HapFrame, parse_frame
from app.media.probe import probe
from app.media.types import MediaError, MediaInfo, YuvFrame, file_stamp

VideoFrame = YuvFrame | HapFrame

# A jump of the requested time further ahead than this restarts the decoder at the new
# position instead of decoding (and dropping) everything in between.
SEEK_AHEAD = 2.0
# How often the decoder thread checks that the file it plays is still the same file.
WATCH_INTERVAL = 0.25
# Packets libavcodec (or the HAP parser) may reject in one pass before the clip is broken.
MAX_BAD_PACKETS = 8
# HAP variants FFmpeg cannot decode: they play as textures or not at all.
_NO_CPU_DECODER = frozenset({"Hap7", "HapH"})
# Formats whose planes are handed over as they are.
_DIRECT_FORMATS = frozenset({"yuv420p", "yuvj420p"})
# Slack when comparing timestamps computed along different float paths.
_EPS = 1e-6


class _Decoder:
    """One decoder thread and its open container, filling one bounded queue.

    The queue carries frames (`YuvFrame`, or `HapFrame` for HAP played as textures) and
    finally `None` (the stream ended: end of a clip that does not loop, an error, or a
    stop). A restart at another position is a new `_Decoder`. Only this thread touches its
    container. Holds no reference to its `VideoSource`, so a dropped source can be collected.
    """

    def __init__(
        self,
        path: Path,
        info: MediaInfo,
        *,
        first: int,
        base_pts: float,
        loop_first: int,
        end: int | None,
        loop: bool,
        queue_size: int,
        watch_file: bool = True,
        hap: bool = False,
        threads: int = 0,
    ) -> None:
        assert info.fps is not None
        self.path = path
        self.fps = float(info.fps)
        self.colorspace = info.colorspace
        self.full_range = info.full_range
        self.width, self.height = info.width, info.height
        self.first = first  # file frame index where the first pass starts
        self.base_pts = base_pts  # pts of that frame
        self.loop_first = loop_first  # file frame index where later passes start
        self.end = end  # file frame index where passes stop (exclusive); None: file's end
        self.loop = loop
        self.hap = hap
        self.threads = threads  # libavcodec's thread count; 0: its own choice (auto)
        self.queue: queue.Queue[VideoFrame | None] = queue.Queue(maxsize=queue_size)
        self.stop = threading.Event()
        self.error: str | None = None
        self.decoded = 0
        self.loop_frames: int | None = None  # frames in one full pass, once one has run
        self.container_open = False
        self._expected_frames = info.frames
        self._watch = watch_file
        self._identity = file_stamp(path)
        self._next_watch = 0.0
        self._thread = threading.Thread(target=self._run, name=f"video:{path.name}", daemon=True)

    # -- control (consumer side) --------------------------------------------------------------

    def start(self) -> None:
        """Start the decoder thread (which opens the file)."""
        self._thread.start()

    def close(self, *, join: bool = True, timeout: float = 10.0) -> None:
        """Stop: the thread closes its container and ends (joined when `join`); free frames.

        The thread looks at `stop` between packets and while the queue is full, so the join
        takes at most one packet's decode.
        """
        self.stop.set()
        if join and self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._drain()
            self._thread.join(timeout)
        self._drain()

    @property
    def alive(self) -> bool:
        """Whether the decoder thread is still running."""
        return self._thread.is_alive()

    # -- decoder thread -----------------------------------------------------------------------

    def _run(self) -> None:
        try:
            with av.open(str(self.path)) as container:
                self.container_open = True
                try:
                    self._passes(container)
                finally:
                    self.container_open = False
        except Exception as exc:  # the thread must always end with its sentinel
            if not self.stop.is_set():
                self.error = self.error or f"decoder failed: {_reason(exc)}"
        finally:
            self.container_open = False
            self._put(None)

    def _passes(self, container: Any) -> None:
        stream = container.streams.video[0]
        if not self.hap:
            stream.thread_type = "FRAME"  # measured fastest here (slice threads: -25%)
            stream.codec_context.thread_count = self.threads
        first, base = self.first, self.base_pts
        full_pass = first == self.loop_first
        while not self.stop.is_set():
            frames = self._pass(container, stream, first, base)
            if frames is None or self.stop.is_set():
                return
            if frames == 0:
                self.error = self.error or "the decoder gave no frames"
                return
            if full_pass:
                self.loop_frames = frames
            if not self.loop:
                return
            base += frames / self.fps
            first, full_pass = self.loop_first, True

    def _pass(self, container: Any, stream: Any, first: int, base: float) -> int | None:
        """Decode frames [first, end) once; returns the frame count, None on error/stop.

        Exact seeking: seek to the key frame at or before `first`, then skip what precedes
        it. A packet libavcodec rejects is skipped and counted, as ffmpeg itself does.
        """
        tb = float(stream.time_base)
        origin = stream.start_time or 0
        if first > 0 or self.decoded > 0:
            container.seek(origin + int(first / self.fps / tb), stream=stream, backward=True)
        n = 0
        bad = 0
        index = -1
        try:
            for packet in container.demux(stream):
                if self.stop.is_set():
                    return None
                try:
                    items = self._decode(packet, base)
                except (av.FFmpegError, HapError) as exc:
                    bad += 1
                    if bad > MAX_BAD_PACKETS:
                        self.error = f"too many undecodable packets: {_reason(exc)}"
                        return None
                    continue
                for pts_value, make in items:
                    index = self._index(pts_value, tb, origin, index)
                    if index < first:
                        continue
                    if self.end is not None and index >= self.end:
                        return self._judge(n, bad, first, None)
                    if not self._put(make(base + n / self.fps)):
                        return None
                    n += 1
                    self.decoded += 1
                    if self._watch and not self._file_ok():
                        return None
        except av.FFmpegError as exc:
            return self._judge(n, bad + 1, first, _reason(exc))
        return self._judge(n, bad, first, None)

    def _decode(self, packet: Any, base: float) -> list[tuple[int | None, Callable[[float], Any]]]:
        """(pts, frame maker) for each frame a packet gives; the maker gets the frame's time."""
        if self.hap:
            if packet.size == 0:
                return []
            hap = parse_frame(memoryview(packet), self.width, self.height)
            return [(packet.pts, lambda pts: replace(hap, pts=pts))]
        return [(f.pts, functools.partial(self._yuv, f)) for f in packet.decode()]

    def _index(self, pts: int | None, tb: float, origin: int, previous: int) -> int:
        """A frame's index in the file: its timestamp in frames, or the one after the last."""
        if pts is None:
            return previous + 1
        return max(round((pts - origin) * tb * self.fps + _EPS), 0)

    def _yuv(self, frame: Any, pts: float) -> YuvFrame:
        """A decoded frame as 8-bit 4:2:0 planes, upright (views of it where possible)."""
        space, full = self.colorspace, self.full_range
        if frame.format.name not in _DIRECT_FORMATS:
            if frame.format.is_rgb:  # swscale's RGB -> YUV is BT.601, limited range
                space, full = "bt601", False
            frame = frame.reformat(format="yuv420p")  # 10-bit, 4:2:2, RGB...: converted once
        planes = [_plane(p) for p in frame.planes[:3]]
        rotation = int(round(frame.rotation or 0)) % 360
        if rotation:
            # The display matrix turns counter-clockwise; rot90 turns counter-clockwise too.
            planes = [np.ascontiguousarray(np.rot90(p, rotation // 90)) for p in planes]
        y, u, v = planes
        return YuvFrame(
            pts=pts,
            width=y.shape[1],
            height=y.shape[0],
            y=y,
            u=u,
            v=v,
            colorspace=space,
            full_range=full,
        )

    def _judge(self, frames: int, bad: int, first: int, failure: str | None) -> int | None:
        """The pass's frame count, or None (with `error`) when the file proved damaged."""
        if self._watch and not self._file_ok(force=True):
            return None
        end = self.end if self.end is not None else self._expected_frames
        if (bad or failure) and end is not None:
            expected = end - first
            if frames < 0.9 * expected - 1:
                why = failure or f"{bad} undecodable packets"
                self.error = f"file is damaged or truncated ({frames} of ~{expected} frames): {why}"
                return None
        if failure and frames == 0:
            self.error = f"cannot read the file: {failure}"
            return None
        return frames

    def _put(self, item: VideoFrame | None) -> bool:
        """Put with a bounded wait, watching `stop` (and the file) while the queue is full."""
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                if item is not None and self._watch and not self._file_ok():
                    return False
        return False

    def _file_ok(self, *, force: bool = False) -> bool:
        """False (with `error` set) once the file is gone or changed since playback began."""
        now = time.monotonic()
        if not force and now < self._next_watch:
            return True
        self._next_watch = now + WATCH_INTERVAL
        ident = file_stamp(self.path)
        if ident is None:
            self.error = "file disappeared during playback"
        elif self._identity is not None and ident != self._identity:
            self.error = "file changed during playback (truncated or replaced)"
        else:
            return True
        return False

    def _drain(self) -> None:
        try:
            while True:
                self.queue.get_nowait()
        except queue.Empty:
            pass


def _plane(plane: Any) -> np.ndarray:
    """A frame plane as an (h, w) uint8 array: a view of the decoder's buffer, or a copy
    made here (off the render thread) when the decoder padded its lines."""
    rows = np.frombuffer(plane, dtype=np.uint8)[: plane.height * plane.line_size]
    rows = rows.reshape(plane.height, plane.line_size)
    if plane.line_size == plane.width:
        return rows
    return np.ascontiguousarray(rows[:, : plane.width])


def _reason(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)
    return f"{type(exc).__name__}: {strerror or exc}"


class VideoSource(Closing):
    """A video clip played by timestamp: a decoder thread ahead, the caller picks frames.

    `rate`, `loop`, `start` and `end` are the cue's settings (`end` None: the clip's end).
    The caller computes `media_time` (seconds since the cue fired, times `rate`) and asks
    `frame_for(media_time)` each output frame; the source maps it to pts `start +
    media_time` on its own timeline. Call it from one thread (the render loop).
    Raises MediaError at construction when the file cannot be played.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        rate: float = 1.0,
        loop: bool = True,
        start: float = 0.0,
        end: float | None = None,
        queue_size: int = 4,
        info: MediaInfo | None = None,
        hap: bool | None = None,
    ) -> None:
        self.path = Path(path)
        self.info = info if info is not None else probe(self.path)
        if self.info.error is not None:
            raise MediaError(self.path, self.info.error)
        if self.info.kind != "video":
            raise MediaError(self.path, f"not a video ({self.info.kind})")
        if not self.info.fps or self.info.width <= 0 or self.info.height <= 0:
            raise MediaError(self.path, "video has no frame size or frame rate")
        if queue_size < 1:
            raise MediaError(self.path, f"queue_size must be at least 1, got {queue_size}")
        if start < 0 or (end is not None and end <= start):
            raise MediaError(self.path, f"bad start/end points ({start}, {end})")
        duration = self.info.duration
        if duration is not None and start >= duration:
            raise MediaError(self.path, f"start {start} s is past the clip's end ({duration} s)")
        self.rate = rate
        self.loop = loop
        self.start = float(start)
        self.end = None if end is None else float(end)
        if self.end is not None and duration is not None and self.end > duration:
            self.end = None  # past the file's end: play to the end
        self.queue_size = queue_size
        self.fps = float(self.info.fps)
        # HAP as compressed textures (the default for a HAP clip), or decoded by libavcodec
        # (the fallback for a GL without the texture formats; Hap7 has no such decoder).
        self.hap = self.info.hap is not None if hap is None else bool(hap and self.info.hap)
        if self.hap and self.info.rotation and self.info.hap not in _NO_CPU_DECODER:
            self.hap = False  # textures are not turned: a rotated clip decodes upright on the CPU
        if self.info.hap in _NO_CPU_DECODER and not self.hap:
            raise MediaError(self.path, f"{self.info.hap} has no CPU decoder in FFmpeg")
        # File frame indices: the first frame at or after `start`, the first at or after `end`.
        self._first_index = math.ceil(self.start * self.fps - _EPS)
        self._end_index = None if self.end is None else math.ceil(self.end * self.fps - _EPS)
        if self._end_index is not None and self._end_index <= self._first_index:
            raise MediaError(self.path, f"start {start} s and end {end} s hold no frame")
        self.dropped = 0
        self._decoder: _Decoder | None = None
        self._retired: list[_Decoder] = []
        self._decoded_before = 0
        self._loop_frames: int | None = None
        self._last: VideoFrame | None = None
        self._pending: VideoFrame | None = None
        self._ref_pts = self.start
        self._watched_pts = self.start  # where frame_for last checked the file
        self._ended = False
        self._error: str | None = None
        self._closed = False
        # Whether the running decoder has delivered a frame yet (after a seek, `_last` is
        # still the old position's frame: shown meanwhile, but not "a frame" for `wait`).
        self._current_run_delivered = False

    # -- public API ---------------------------------------------------------------------------

    @property
    def error(self) -> str | None:
        """Why playback stopped (the decoder's error, a vanished file...), or None."""
        if self._error is None and self._decoder is not None and self._decoder.error:
            self._error = self._decoder.error
        return self._error

    @property
    def decoded(self) -> int:
        """Frames decoded so far, over every decoder thread this source ran."""
        current = self._decoder.decoded if self._decoder is not None else 0
        return self._decoded_before + current

    @property
    def is_open(self) -> bool:
        """Whether a decoder is running (or holding the end of a clip)."""
        return self._decoder is not None

    @property
    def ended(self) -> bool:
        """True once a non-looping clip has delivered its last frame, or playback failed."""
        return self._ended or self.error is not None

    @property
    def loop_frames(self) -> int | None:
        """Frames in one pass over [start, end): exact once a full pass ran, else estimated
        from the probed duration (None when unknown)."""
        if self._loop_frames is None and self._decoder is not None:
            self._loop_frames = self._decoder.loop_frames
        if self._loop_frames:
            return self._loop_frames
        end = self._end_index
        if end is None and self.info.duration is not None:
            end = round(self.info.duration * self.fps)
        return None if end is None else max(end - self._first_index, 1)

    @property
    def loop_length(self) -> float | None:
        """Seconds of one pass over [start, end) (see `loop_frames`)."""
        frames = self.loop_frames
        return None if frames is None else frames / self.fps

    @property
    def open_files(self) -> int:
        """Containers its decoder threads hold open now (0 once closed and joined)."""
        return sum(d.container_open for d in [self._decoder, *self._retired] if d is not None)

    def is_current(self, frame: VideoFrame, media_time: float, fps: float | None = None) -> bool:
        """Whether `frame` is the frame due at `media_time` (within one frame period of it),
        or the one held at the end of a clip that does not loop, or after an error."""
        if self._ended or self.error is not None:
            return True
        period = 1.0 / (fps or self.fps)
        target = self.start + max(media_time, 0.0)
        return frame.pts <= target + _EPS and target < frame.pts + period - _EPS

    def open(self, media_time: float = 0.0) -> None:
        """Start decoding at `media_time` (seconds after `start`); restarts if already open."""
        self._closed = False
        self._restart(self.start + max(media_time, 0.0))

    def preroll(self, timeout: float = 2.0) -> VideoFrame | None:
        """Open at 0 if needed and wait (up to `timeout`) until the first frame is decoded.

        The frame stays queued for `frame_for`, so GO shows it at once. Returns it, or the
        frame already held, or None on timeout or error.
        """
        if self._decoder is None:
            self.open(0.0)
        if self._pending is not None:
            return self._pending
        if self._current_run_delivered or self._ended:
            return self._last
        decoder = self._decoder
        assert decoder is not None
        try:
            item = decoder.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if item is None:
            self._ended = True
            return None
        self._pending = item
        return item

    def frame_for(self, media_time: float, wait: float = 0.0) -> VideoFrame | None:
        """The frame to show at `media_time`; never raises, never blocks for long.

        Returns the newest decoded frame with pts <= start + media_time, dropping (and
        counting in `dropped`) older ones it skips; the previous frame again when the next
        is not due yet; the last frame forever once a non-looping clip ended or playback
        failed; None before any frame exists. `wait` > 0 allows one wait of at most that
        long, only while the decoder (just opened or restarted) has delivered nothing yet:
        the frame held from before a seek is returned meanwhile. A backwards jump, or one
        more than SEEK_AHEAD seconds ahead, restarts the decoder at the new position.
        """
        try:
            return self._frame_for(media_time, wait)
        except Exception as exc:  # never take the render loop down
            self._error = self._error or f"playback failed: {type(exc).__name__}: {exc}"
            self._stop_decoder()
            return self._last

    def close(self) -> None:
        """Stop and join the decoder thread(s), which close their files. Idempotent; `open`
        starts again.

        After closing, `frame_for` returns the last frame it returned (no restart).
        """
        self._closed = True
        self._stop_decoder()
        for old in self._retired:
            old.close()
        self._retired.clear()
        self._pending = None

    def __del__(self) -> None:
        try:
            for dec in [self._decoder, *self._retired]:
                if dec is not None:
                    dec.close(join=False)
        except Exception:
            pass

    # -- internals ----------------------------------------------------------------------------

    def _frame_for(self, media_time: float, wait: float) -> VideoFrame | None:
        if self._closed:
            return self._last
        if self.error is not None:
            self._stop_decoder()
            return self._last
        target = self.start + max(media_time, 0.0)
        if self._decoder is None:
            if self._ended:
                return self._last
            self._restart(target)
        elif self._needs_seek(target):
            self._restart(target)
        decoder = self._decoder
        assert decoder is not None
        if decoder._watch and abs(target - self._watched_pts) >= WATCH_INTERVAL:
            # The file watch on the caller's clock (media time) too, beside the decoder
            # thread's real-time one: a fake clock sees a broken file without sleeping.
            self._watched_pts = target
            if not decoder._file_ok(force=True):
                return self._last
        if wait > 0 and not self._current_run_delivered and self._pending is None:
            try:
                self._pending = decoder.queue.get(timeout=wait)
            except queue.Empty:
                pass
        best = self._take_due(decoder, target)
        if best is not None:
            self._last = best
            self._ref_pts = best.pts
            self._current_run_delivered = True
        if self._ended:
            # A clip that does not loop holds its last frame; an error stops the decoder.
            if self.error is not None:
                self._stop_decoder()
            elif self._loop_frames is None:
                self._loop_frames = decoder.loop_frames
        return self._last

    def _next_item(self, decoder: _Decoder) -> VideoFrame | None | bool:
        """The held-back frame, else the next queued one; False when nothing is there."""
        if self._pending is not None:
            item, self._pending = self._pending, None
            return item
        if self._ended:
            return False
        try:
            return decoder.queue.get_nowait()
        except queue.Empty:
            return False

    def _take_due(self, decoder: _Decoder, target: float) -> VideoFrame | None:
        """The newest frame due at `target` (None if none is); older due ones are dropped."""
        best: VideoFrame | None = None
        while True:
            item = self._next_item(decoder)
            if item is False:
                return best
            if item is None:
                self._ended = True
                return best
            if item.pts <= target + _EPS:
                if best is not None:
                    self.dropped += 1
                best = item
            else:
                self._pending = item
                return best

    def _needs_seek(self, target: float) -> bool:
        tolerance = 1.0 / self.fps
        if target < self._ref_pts - tolerance - _EPS:
            return True
        if not self.loop:
            frames = self.loop_frames
            if frames is not None:
                target = min(target, self.start + (frames - 1) / self.fps)
            if self._ended and target >= self._ref_pts - _EPS:
                return False
        return target > self._ref_pts + SEEK_AHEAD

    def _restart(self, target: float) -> None:
        """(Re)start decoding so that the first frame is the one due at pts `target`."""
        self._stop_decoder(retire=True)
        index = max(math.floor((target - self.start) * self.fps + _EPS), 0)
        cycles = 0
        frames = self.loop_frames
        if frames is not None:
            if self.loop:
                cycles, index = divmod(index, frames)
            else:
                index = min(index, frames - 1)
        base = self.start + (cycles * (frames or 0) + index) / self.fps
        self._decoder = _Decoder(
            self.path,
            self.info,
            first=self._first_index + index,
            base_pts=base,
            loop_first=self._first_index,
            end=self._end_index,
            loop=self.loop,
            queue_size=self.queue_size,
            hap=self.hap,
        )
        self._ref_pts = base
        self._ended = False
        self._pending = None
        self._current_run_delivered = False
        self._decoder.start()

    def _stop_decoder(self, *, retire: bool = False) -> None:
        dec = self._decoder
        if dec is None:
            return
        if self._loop_frames is None:
            self._loop_frames = dec.loop_frames
        if not retire and self._error is None and dec.error:
            self._error = dec.error
        self._decoded_before += dec.decoded
        self._decoder = None
        if retire:
            # Stopping is a flag; the thread is joined later, off the hot path.
            dec.close(join=False)
            self._retired = [d for d in self._retired if d.alive]
            self._retired.append(dec)
        else:
            dec.close()


class FrameStream(Closing):
    """Every frame of a clip as fast as the decoder gives them (benchmarks, no pacing).

    `next()` blocks for the next frame, None once the clip ended (a looping stream never
    ends); `error` says why a stream ended early. `close()` stops and joins the thread.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        loop: bool = False,
        hap: bool | None = None,
        queue_size: int = 4,
        threads: int = 0,
    ) -> None:
        """`threads`: libavcodec's decoder threads (0: its automatic count)."""
        p = Path(path)
        info = probe(p)
        if info.error is not None or info.kind != "video" or not info.fps:
            raise MediaError(p, info.error or "not a video")
        self.path = p
        self.info = info
        self._decoder = _Decoder(
            p,
            info,
            first=0,
            base_pts=0.0,
            loop_first=0,
            end=None,
            loop=loop,
            queue_size=queue_size,
            watch_file=False,
            hap=info.hap is not None if hap is None else bool(hap and info.hap),
            threads=threads,
        )
        self._done = False
        self._decoder.start()

    @property
    def error(self) -> str | None:
        """Why the stream ended early, or None."""
        return self._decoder.error

    def next(self) -> VideoFrame | None:
        """The next frame (blocks), None at the end."""
        if self._done:
            return None
        item = self._decoder.queue.get()
        self._done = item is None
        return item

    def close(self) -> None:
        """Stop the decoder thread and join it."""
        self._decoder.close()


def decode_throughput(
    path: str | Path,
    seconds_limit: float | None = None,
    *,
    queue_size: int = 4,
    on_frame: Callable[[VideoFrame], None] | None = None,
    hap: bool | None = None,
    threads: int = 0,
) -> tuple[int, float]:
    """Our decode path flat out: decoder thread -> frames through the bounded queue.

    The caller's thread consumes the frames as fast as they come (what `bench video` (b)
    measures). Returns (frames, seconds), wall-clock from starting the decoder to the last
    frame; stops early after `seconds_limit`. Raises MediaError if the clip cannot be read.
    `on_frame` is called with each frame on the caller's thread (upload/draw benchmarks).
    `hap`: as for VideoSource (a HAP clip gives HapFrames unless False); `threads`: as for
    FrameStream.
    """
    frames = 0
    stream = FrameStream(
        path, hap=hap, queue_size=queue_size, threads=threads
    )  # probes first, like before
    t0 = time.perf_counter()
    try:
        while True:
            item = stream.next()
            if item is None:
                break
            if on_frame is not None:
                on_frame(item)
            frames += 1
            if seconds_limit is not None and time.perf_counter() - t0 >= seconds_limit:
                break
        elapsed = time.perf_counter() - t0
    finally:
        stream.close()
    if stream.error is not None and (seconds_limit is None or frames == 0):
        raise MediaError(stream.path, stream.error)
    return frames, elapsed


def reference_decode(path: str | Path) -> tuple[int, float]:
    """ffmpeg's own decode speed (`ffmpeg -i FILE -f null -`), the bench reference.

    Returns (frames, seconds), wall-clock including the process start, like ours.
    """
    p = Path(path)
    args = ["-loglevel", "error", "-progress", "pipe:1", "-nostats", "-i", input_arg(p)]
    args += ["-map", "0:v:0", "-f", "null", "-"]
    t0 = time.perf_counter()
    res = run_ffmpeg(args, timeout=None)
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise MediaError(p, f"ffmpeg failed: {last_line(res.stderr) or 'no message'}")
    frames = 0
    for line in res.stdout.decode("ascii", "replace").splitlines():
        if line.startswith("frame="):
            frames = int(line.split("=", 1)[1].strip() or 0)
    return frames, elapsed


def reference_decode_fps(path: str | Path) -> float:
    """Frames per second of `ffmpeg -i FILE -f null -` on this machine."""
    frames, seconds = reference_decode(path)
    return frames / seconds if seconds > 0 else 0.0
