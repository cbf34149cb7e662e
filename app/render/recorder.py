"""Recording a show run: the output read back asynchronously and encoded in another process.

`capture(fbo)` runs on the render (main) thread once per frame and never waits for the
encoder: it asks GL to copy the frame into one of a small ring of pixel-buffer objects
(`fbo.read_into(buffer)`: the copy runs on the GPU, the call returns at once) and maps the
buffer that was filled `lag` frames ago, when the GPU is long done with it. The bytes go
through a bounded queue to a writer thread that pipes them into ffmpeg
(`app.media.writer.VideoWriter`, which renames the file into place when it is complete).

If the encoder falls behind and the queue is full, the frame is not recorded: the show's
output never waits for the recording. Each such frame is counted (`dropped`) and reported
through `on_drop`. Given the show time `t` of each frame, the video stays on the show's
clock: each frame goes to the frame slot (1/fps) of its time, and slots without a frame
(skipped by the render loop, or dropped) hold the previous picture rather than shorten the
video.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import moderngl
import numpy as np

from app.render.gl import make_current


class FrameWriter(Protocol):
    """What the recorder writes into (`VideoWriter` by default)."""

    def write(self, frame: np.ndarray) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class RecorderError(RuntimeError):
    """The recording could not be completed (the encoder failed)."""


_STOP = None


class Recorder:
    """Records frames of an RGBA8 framebuffer of `width` x `height` to a video at `fps`.

    `queue_frames` bounds the frames between the render thread and the encoder (read back
    or in flight); `lag` is how many frames a read-back has before it is mapped; `crf` the
    encoder quality (lower is better). `writer` replaces the ffmpeg writer (tests).
    `on_drop(dropped_total)` and `on_error(message)` are called on the render thread.
    `blocking=True` waits for the encoder instead of dropping: for runs on a fake clock,
    where no one watches in real time and every frame should be kept.
    """

    def __init__(
        self,
        ctx: moderngl.Context,
        width: int,
        height: int,
        fps: float,
        path: str | Path,
        *,
        queue_frames: int = 8,
        lag: int = 2,
        crf: int = 18,
        writer: FrameWriter | None = None,
        on_drop: Callable[[int], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        blocking: bool = False,
    ) -> None:
        if width <= 0 or height <= 0 or fps <= 0:
            raise ValueError(f"cannot record {width}x{height} at {fps:g} fps")
        if queue_frames < 1 or lag < 1:
            raise ValueError("queue_frames and lag must be at least 1")
        self.ctx = ctx
        self.width, self.height, self.fps = width, height, fps
        self.path = Path(path)
        self.queue_frames = queue_frames
        self.lag = lag
        self.on_drop = on_drop
        self.on_error = on_error
        self.blocking = blocking
        self.captured = 0  # frames given to capture() that it read back
        self.dropped = 0  # frames not recorded because the encoder was behind
        self.written = 0  # frames the encoder received (a held frame counts each time)
        self.error: str | None = None
        self._error_reported = False
        self._last_slot: int | None = None  # slot of the last frame taken
        self._seen_slot: int | None = None  # slot of the last frame offered, even if dropped
        if writer is None:
            from app.media.writer import VideoWriter

            writer = VideoWriter(self.path, width, height, fps, crf=crf)
        self._writer = writer
        frame_bytes = width * height * 3
        self._free = [ctx.buffer(reserve=frame_bytes) for _ in range(lag)]
        # read-backs in flight and queued frames, each with its frame slot (None: no time)
        self._pending: deque[tuple[moderngl.Buffer, int | None]] = deque()
        self._queue: queue.Queue[tuple[bytes, int | None] | None] = queue.Queue(queue_frames)
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()
        self._closed = False

    def capture(self, fbo: moderngl.Framebuffer, t: float | None = None) -> bool:
        """Record the frame in `fbo` (show time `t`, if known); never waits for the encoder.

        Returns whether the frame was taken: False when it was dropped, when the recording
        has failed, or when `t` is in the same frame slot as the last recorded frame.
        """
        if self._closed:
            raise RecorderError("capture() after close()")
        if self.error is not None:
            self._report_error()
            return False
        slot = None if t is None else int(round(t * self.fps))
        if slot is not None and self._last_slot is not None and slot <= self._last_slot:
            return False  # this slot is recorded already
        self._seen_slot = slot
        if self.blocking:
            while self._pending:
                self._hand_over(block=True)
            self._queue.put((fbo.read(components=3, alignment=1), slot))
            self._last_slot = slot
            self.captured += 1
            return True
        while len(self._pending) >= self.lag:
            self._hand_over(block=False)
        if self._queue.qsize() + len(self._pending) >= self.queue_frames:
            self.dropped += 1
            if self.on_drop is not None:
                self.on_drop(self.dropped)
            return False
        buffer = self._free.pop()
        fbo.read_into(buffer, components=3, alignment=1)
        self._pending.append((buffer, slot))
        self._last_slot = slot
        self.captured += 1
        return True

    def _hand_over(self, *, block: bool) -> None:
        """Map the oldest read-back and queue its bytes for the writer thread."""
        buffer, slot = self._pending.popleft()
        data = buffer.read()
        self._free.append(buffer)
        try:
            self._queue.put((data, slot), block=block)
        except queue.Full:  # cannot happen: capture() keeps room for what is pending
            self.dropped += 1

    def _run(self) -> None:
        last: np.ndarray | None = None
        last_slot: int | None = None
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self.error is not None:
                continue  # keep draining so that the render thread never waits
            data, slot = item
            held = 0  # slots before this frame that hold the last picture
            if slot is not None and last_slot is not None:
                held = slot - last_slot - (1 if data else 0)
            try:
                for _ in range(held if last is not None else 0):
                    self._writer.write(last)  # type: ignore[arg-type]
                    self.written += 1
                if not data:  # the end, after frames dropped: only the hold
                    continue
                frame = np.frombuffer(data, np.uint8).reshape(self.height, self.width, 3)[::-1]
                self._writer.write(frame)
                self.written += 1
                last, last_slot = frame, slot
            except Exception as exc:  # a dead ffmpeg: broken pipe and the like
                self.error = f"{self.path}: recording failed: {exc}"

    def _report_error(self) -> None:
        if not self._error_reported and self.error is not None:
            self._error_reported = True
            if self.on_error is not None:
                self.on_error(self.error)

    @property
    def backlog(self) -> int:
        """Frames read back or queued but not yet with the encoder."""
        return self._queue.qsize() + len(self._pending)

    def close(self) -> None:
        """Hand over every pending frame, wait for the encoder and move the file into place.

        Raises `RecorderError` if the encoder failed (the partial file is removed). Needs the
        recorder's GL context (it is made current).
        """
        if self._closed:
            return
        self._closed = True
        make_current(self.ctx)
        while self._pending:
            self._hand_over(block=True)
        seen, last = self._seen_slot, self._last_slot
        if seen is not None and last is not None and seen > last:
            self._queue.put((b"", seen))  # frames dropped at the end still take their time
        self._queue.put(_STOP)
        self._thread.join()
        for buffer in self._free:
            buffer.release()
        self._free.clear()
        if self.error is not None:
            self._writer.abort()
            self._report_error()
            raise RecorderError(self.error)
        try:
            self._writer.close()
        except Exception as exc:
            self.error = f"{self.path}: recording failed: {exc}"
            raise RecorderError(self.error) from exc

    def abort(self) -> None:
        """Stop at once and keep nothing."""
        if self._closed:
            return
        self._closed = True
        self.error = self.error or "aborted"
        self._free.extend(buffer for buffer, _ in self._pending)
        self._pending.clear()
        self._queue.put(_STOP)
        self._thread.join()
        for buffer in self._free:
            buffer.release()
        self._free.clear()
        self._writer.abort()
