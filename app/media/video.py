"""Video decoding: one ffmpeg subprocess per playing clip, read by a thread into a bounded queue.

ffmpeg writes raw planar YUV 4:2:0 (`-pix_fmt yuv420p`, never RGB: the YUV->RGB conversion
is a shader, about 1.6x cheaper on the CPU) to a pipe, framed as YUV4MPEG2; a daemon thread
reads each frame with `readinto` into a fresh buffer (the only copy a frame ever gets on
our side), wraps the three planes as numpy views in a `YuvFrame` and puts it on a
`queue.Queue` of a few frames. Memory is therefore bounded by the queue size, whatever the
clip's length.

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

import math
import os
import queue
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from app.media.ffmpeg import ffmpeg_cmd, input_arg, last_line, run_ffmpeg, set_pipe_size
from app.media.probe import probe
from app.media.types import MediaError, MediaInfo, YuvFrame

# A jump of the requested time further ahead than this restarts ffmpeg at the new position
# instead of decoding (and dropping) everything in between.
SEEK_AHEAD = 2.0
# How often the reader thread checks that the file it plays is still the same file.
WATCH_INTERVAL = 0.25
# Kernel pipe buffer asked for (Linux): a 1080p frame is 3 MiB, so a few large reads each.
PIPE_SIZE = 1 << 20
# YUV4MPEG2 framing: the stream header line is short; each frame starts with this line.
Y4M_HEADER_LIMIT = 1024
Y4M_FRAME = b"FRAME\n"
# Seconds ffmpeg gets to exit by itself once it has closed its output.
EXIT_TIMEOUT = 5.0
# Slack when comparing timestamps computed along different float paths.
_EPS = 1e-6


class _Decoder:
    """One reader thread and its ffmpeg process(es), filling one bounded queue.

    The queue carries `YuvFrame`s and finally `None` (the stream ended: end of a clip that
    does not loop, an error, or a stop). A restart at another position is a new `_Decoder`.
    Holds no reference to its `VideoSource`, so a dropped source can be collected.
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
    ) -> None:
        assert info.fps is not None
        self.path = path
        self.fps = float(info.fps)
        self.colorspace = info.colorspace
        self.full_range = info.full_range
        self.first = first  # file frame index where the first pass starts
        self.base_pts = base_pts  # pts of that frame
        self.loop_first = loop_first  # file frame index where later passes start
        self.end = end  # file frame index where passes stop (exclusive); None: file's end
        self.loop = loop
        self.queue: queue.Queue[YuvFrame | None] = queue.Queue(maxsize=queue_size)
        self.stop = threading.Event()
        self.error: str | None = None
        self.decoded = 0
        self.loop_frames: int | None = None  # frames in one full pass, once one has run
        self._expected_duration = info.duration
        self._watch = watch_file
        self._identity = _file_identity(path)
        self._next_watch = 0.0
        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"video:{path.name}", daemon=True)

    # -- control (consumer side) --------------------------------------------------------------

    def start(self) -> None:
        """Start the reader thread (which starts ffmpeg)."""
        self._thread.start()

    def close(self, *, join: bool = True, timeout: float = 2.0) -> None:
        """Stop: kill ffmpeg, let the thread end (joined when `join`), free queued frames."""
        self.stop.set()
        self._kill()
        if join and self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)
        self._drain()

    @property
    def alive(self) -> bool:
        """Whether the reader thread is still running."""
        return self._thread.is_alive()

    # -- reader thread ------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            first, base = self.first, self.base_pts
            full_pass = first == self.loop_first
            while not self.stop.is_set():
                frames = self._pass(first, base)
                if frames is None or self.stop.is_set():
                    break
                if frames == 0:
                    self.error = self.error or "ffmpeg decoded no frames"
                    break
                if full_pass:
                    self.loop_frames = frames
                if not self.loop:
                    break
                base += frames / self.fps
                first, full_pass = self.loop_first, True
        except Exception as exc:  # the thread must always end with its sentinel
            self.error = f"decoder failed: {type(exc).__name__}: {exc}"
        finally:
            self._kill()
            self._put(None)

    def _pass(self, first: int, base: float) -> int | None:
        """Decode frames [first, end) once; returns the frame count, None on error/stop."""
        # Seek and stop half a frame off the frame times, so that rounding can never make
        # ffmpeg's accurate seek or its -t cut land on the wrong side of a frame.
        seek = (first - 0.5) / self.fps if first > 0 else 0.0
        args: list[str] = ["-loglevel", "error"]
        if seek > 0:
            args += ["-ss", f"{seek:.6f}"]
        if self.end is not None:
            args += ["-t", f"{max((self.end - 0.5) / self.fps - seek, 0.0):.6f}"]
        args += ["-i", input_arg(self.path), "-map", "0:v:0", "-an", "-sn", "-dn"]
        # Every decoded frame exactly once: a constant-rate conversion would duplicate the
        # first frame after a seek (its timestamp is not 0). Frame n is taken to be at n / fps.
        args += ["-fps_mode", "passthrough"]
        # Raw planar 4:2:0 in a YUV4MPEG2 stream: the same bytes as `-f rawvideo` plus a
        # header line and "FRAME\n" per frame, but ffmpeg writes it straight from the decoded
        # frame (rawvideo first copies each frame into a packet: ~10% more ffmpeg CPU), and
        # the header states the size ffmpeg really outputs (rotated phone videos swap it).
        args += ["-f", "yuv4mpegpipe", "-pix_fmt", "yuv420p", "-"]

        with tempfile.TemporaryFile() as errfile:
            with self._proc_lock:
                if self.stop.is_set():
                    return None
                proc = subprocess.Popen(
                    ffmpeg_cmd(*args),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=errfile,
                    bufsize=0,
                )
                self._proc = proc
            assert proc.stdout is not None
            frames: int | None = None
            try:
                set_pipe_size(proc.stdout.fileno(), PIPE_SIZE)
                frames = self._read_frames(proc.stdout, base)
            finally:
                if frames is None:  # stopped, failed or raised: no need to be gentle
                    self._kill()
                proc.stdout.close()
                try:
                    proc.wait(timeout=EXIT_TIMEOUT)  # at end of stream ffmpeg is exiting
                except subprocess.TimeoutExpired:
                    self._kill()
                    proc.wait()
            if frames is None or self.stop.is_set():
                return None
            errfile.seek(0)
            stderr = errfile.read().decode("utf-8", "replace")
        return self._judge_pass(proc.returncode, stderr, frames, first)

    def _read_frames(self, pipe: IO[bytes], base: float) -> int | None:
        """Read one YUV4MPEG2 stream into the queue; the frame count, None on error/stop."""
        readinto = pipe.readinto  # type: ignore[attr-defined]
        header = _read_line(pipe, Y4M_HEADER_LIMIT)
        if not header:
            return 0  # nothing at all: ffmpeg failed before writing (its exit status says why)
        size = _parse_y4m_header(header)
        if size is None:
            self.error = f"unexpected output from ffmpeg: {header[:80]!r}"
            return None
        w, h = size
        cw, ch = (w + 1) // 2, (h + 1) // 2
        y_size, c_size = w * h, cw * ch
        # One read per frame covers its "FRAME\n" line and its three planes.
        start = len(Y4M_FRAME)
        total = start + y_size + 2 * c_size
        u_at, v_at = start + y_size, start + y_size + c_size
        n = 0
        while not self.stop.is_set():
            buf = np.empty(total, dtype=np.uint8)
            view = memoryview(buf)
            got = 0
            while got < total:
                r = readinto(view[got:])
                if not r:
                    break
                got += r
            if got == 0:
                return n
            if got < total:
                if not self.stop.is_set():
                    self.error = f"ffmpeg stopped in the middle of a frame ({got}/{total} bytes)"
                return None
            if view[:start] != Y4M_FRAME:
                self.error = f"unexpected frame header from ffmpeg: {bytes(view[:start])!r}"
                return None
            frame = YuvFrame(
                pts=base + n / self.fps,
                width=w,
                height=h,
                y=buf[start:u_at].reshape(h, w),
                u=buf[u_at:v_at].reshape(ch, cw),
                v=buf[v_at:].reshape(ch, cw),
                colorspace=self.colorspace,
                full_range=self.full_range,
            )
            n += 1
            self.decoded += 1
            if not self._put(frame):
                return None
            if self._watch and not self._file_ok():
                return None
        return None

    def _judge_pass(self, rc: int | None, stderr: str, frames: int, first: int) -> int | None:
        if rc != 0:
            self.error = f"ffmpeg failed (exit {rc}): {last_line(stderr) or 'no message'}"
            return None
        if self._watch and not self._file_ok(force=True):
            return None
        end = self.end
        if end is None and self._expected_duration is not None:
            end = round(self._expected_duration * self.fps)
        if stderr.strip() and end is not None:
            expected = end - first
            if frames < 0.9 * expected - 1:
                self.error = (
                    f"file is damaged or truncated ({frames} of ~{expected} frames): "
                    f"{last_line(stderr)}"
                )
                return None
        return frames

    def _put(self, item: YuvFrame | None) -> bool:
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
        ident = _file_identity(self.path)
        if ident is None:
            self.error = "file disappeared during playback"
        elif self._identity is not None and ident != self._identity:
            self.error = "file changed during playback (truncated or replaced)"
        else:
            return True
        self._kill()
        return False

    def _kill(self) -> None:
        with self._proc_lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                proc.kill()
            except OSError:
                pass

    def _drain(self) -> None:
        try:
            while True:
                self.queue.get_nowait()
        except queue.Empty:
            pass


def _read_line(pipe: IO[bytes], limit: int) -> bytes:
    """Bytes up to and including the next newline (at most `limit`), b"" at end of stream."""
    out = bytearray()
    while len(out) < limit:
        b = pipe.read(1)
        if not b:
            break
        out += b
        if b == b"\n":
            break
    return bytes(out)


def _parse_y4m_header(line: bytes) -> tuple[int, int] | None:
    """(width, height) from a YUV4MPEG2 stream header, if it is planar 4:2:0 8-bit."""
    words = line.decode("ascii", "replace").split()
    if not words or words[0] != "YUV4MPEG2":
        return None
    fields = {w[0]: w[1:] for w in words[1:] if w}
    chroma = fields.get("C", "420")
    if not chroma.startswith("420") or chroma.startswith("420p"):  # 420p10 etc.: not 8-bit
        return None
    try:
        width, height = int(fields["W"]), int(fields["H"])
    except (KeyError, ValueError):
        return None
    return (width, height) if width > 0 and height > 0 else None


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


class VideoSource:
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
        self._last: YuvFrame | None = None
        self._pending: YuvFrame | None = None
        self._ref_pts = self.start
        self._ended = False
        self._error: str | None = None
        self._closed = False
        # Whether the running decoder has delivered a frame yet (after a seek, `_last` is
        # still the old position's frame: shown meanwhile, but not "a frame" for `wait`).
        self._current_run_delivered = False

    # -- public API ---------------------------------------------------------------------------

    @property
    def error(self) -> str | None:
        """Why playback stopped (ffmpeg's last stderr line, a vanished file...), or None."""
        if self._error is None and self._decoder is not None and self._decoder.error:
            self._error = self._decoder.error
        return self._error

    @property
    def decoded(self) -> int:
        """Frames decoded so far, over every ffmpeg process this source ran."""
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

    def is_current(self, frame: YuvFrame, media_time: float, fps: float | None = None) -> bool:
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

    def preroll(self, timeout: float = 2.0) -> YuvFrame | None:
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

    def frame_for(self, media_time: float, wait: float = 0.0) -> YuvFrame | None:
        """The frame to show at `media_time`; never raises, never blocks for long.

        Returns the newest decoded frame with pts <= start + media_time, dropping (and
        counting in `dropped`) older ones it skips; the previous frame again when the next
        is not due yet; the last frame forever once a non-looping clip ended or playback
        failed; None before any frame exists. `wait` > 0 allows one wait of at most that
        long, only while the decoder (just opened or restarted) has delivered nothing yet:
        the frame held from before a seek is returned meanwhile. A backwards jump, or one
        more than SEEK_AHEAD seconds ahead, restarts ffmpeg at the new position.
        """
        try:
            return self._frame_for(media_time, wait)
        except Exception as exc:  # never take the render loop down
            self._error = self._error or f"playback failed: {type(exc).__name__}: {exc}"
            self._stop_decoder()
            return self._last

    def close(self) -> None:
        """Kill ffmpeg and join the reader thread(s). Idempotent; `open` starts again.

        After closing, `frame_for` returns the last frame it returned (no restart).
        """
        self._closed = True
        self._stop_decoder()
        for old in self._retired:
            old.close()
        self._retired.clear()
        self._pending = None

    def __enter__(self) -> VideoSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            for dec in [self._decoder, *self._retired]:
                if dec is not None:
                    dec.close(join=False)
        except Exception:
            pass

    # -- internals ----------------------------------------------------------------------------

    def _frame_for(self, media_time: float, wait: float) -> YuvFrame | None:
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
        if wait > 0 and not self._current_run_delivered and self._pending is None:
            try:
                self._pending = decoder.queue.get(timeout=wait)
            except queue.Empty:
                pass
        best: YuvFrame | None = None
        while True:
            if self._pending is not None:
                item, self._pending = self._pending, None
            elif self._ended:
                break
            else:
                try:
                    item = decoder.queue.get_nowait()
                except queue.Empty:
                    break
            if item is None:
                self._ended = True
                break
            if item.pts <= target + _EPS:
                if best is not None:
                    self.dropped += 1
                best = item
            else:
                self._pending = item
                break
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
            # Killing ffmpeg is immediate; the thread is joined later, off the hot path.
            dec.close(join=False)
            self._retired = [d for d in self._retired if d.alive]
            self._retired.append(dec)
        else:
            dec.close()


def decode_throughput(
    path: str | Path,
    seconds_limit: float | None = None,
    *,
    queue_size: int = 4,
    on_frame: Callable[[YuvFrame], None] | None = None,
) -> tuple[int, float]:
    """Our decode path flat out: ffmpeg -> pipe -> YuvFrames through the bounded queue.

    The caller's thread consumes the frames as fast as they come (what `bench video` (b)
    measures). Returns (frames, seconds), wall-clock from spawning ffmpeg to the last
    frame; stops early after `seconds_limit`. Raises MediaError if the clip cannot be read.
    `on_frame` is called with each frame on the caller's thread (upload/draw benchmarks).
    """
    p = Path(path)
    info = probe(p)
    if info.error is not None or info.kind != "video" or not info.fps:
        raise MediaError(p, info.error or "not a video")
    decoder = _Decoder(
        p,
        info,
        first=0,
        base_pts=0.0,
        loop_first=0,
        end=None,
        loop=False,
        queue_size=queue_size,
        watch_file=False,
    )
    frames = 0
    t0 = time.perf_counter()
    decoder.start()
    try:
        while True:
            item = decoder.queue.get()
            if item is None:
                break
            if on_frame is not None:
                on_frame(item)
            frames += 1
            if seconds_limit is not None and time.perf_counter() - t0 >= seconds_limit:
                break
        elapsed = time.perf_counter() - t0
    finally:
        decoder.close()
    if decoder.error is not None and (seconds_limit is None or frames == 0):
        raise MediaError(p, decoder.error)
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
