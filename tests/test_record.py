"""Recording a show run: the video matches the rendered frames; a slow encoder costs frames of
the recording, never time on the render thread."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import imageio_ffmpeg
import moderngl
import numpy as np
import pytest
from frames import run_frames
from PIL import Image

from app.bench.common import show_of
from app.cli import main
from app.clock import FakeTime
from app.cues.actions import Go
from app.eventlog import EventLog, read_log
from app.loop import FrameTap, RenderClock
from app.player import Player
from app.render.outputs import HeadlessOutput
from app.render.recorder import Recorder, RecorderError

W, H, FPS = 64, 36, 30.0


def decode(path: Path, w: int, h: int) -> np.ndarray:
    """Every frame of a video as (N, H, W, 3) RGB, converted with the file's BT.709 matrix."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path),
           "-vf", "scale=in_color_matrix=bt709:in_range=tv:flags=accurate_rnd+full_chroma_int",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]  # fmt: skip
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def gradient_png(path: Path) -> Path:
    x = np.linspace(0, 255, W)[None, :, None]
    y = np.linspace(0, 255, H)[:, None, None]
    img = np.concatenate([x + 0 * y, y + 0 * x, 255 - (x + y) / 2], axis=2)
    Image.fromarray(img.astype(np.uint8)).save(path)
    return path


def solid_png(path: Path, rgb: tuple[int, int, int]) -> Path:
    Image.fromarray(np.full((H, W, 3), rgb, np.uint8)).save(path)
    return path


def test_recorded_run_matches_the_rendered_frames(tmp_path: Path) -> None:
    media = [
        gradient_png(tmp_path / "ramp.png"),
        solid_png(tmp_path / "red.png", (200, 30, 30)),
        solid_png(tmp_path / "green.png", (20, 180, 60)),
    ]
    show = show_of(media, width=W, height=H, fps=FPS, fade=0.3)
    fake = FakeTime()
    out = HeadlessOutput(W, H)
    player = Player(show, out, clock=RenderClock(fake), log=EventLog(), offline=True)
    video = tmp_path / "run.mp4"
    recorder = Recorder(out.ctx, W, H, FPS, video, queue_frames=256, crf=4)
    player.set_recorder(recorder)
    script = [(0.0, Go()), (0.6, Go()), (1.2, Go())]
    rendered = []
    try:  # frame n at exactly n / FPS, each one kept as it is out
        run_frames(
            player, 54, script, inputs=[FrameTap(lambda: rendered.append(out.read_pixels()))]
        )
        assert not video.exists()  # the file appears only when complete
        recorder.close()
    finally:
        player.close()
        out.close()
    assert recorder.captured == 54 and recorder.written == 54 and recorder.dropped == 0
    decoded = decode(video, W, H)
    assert len(decoded) == len(rendered)
    expected = np.stack(rendered).astype(int)
    diff = np.abs(decoded.astype(int) - expected)
    per_frame_mean = diff.reshape(len(diff), -1).mean(axis=1)
    per_frame_max = diff.reshape(len(diff), -1).max(axis=1)
    assert per_frame_mean.max() < 3, per_frame_mean
    assert per_frame_max.max() < 20, per_frame_max
    # the run changes: gradient, crossfades, solid colours
    centre = expected[:, H // 2, W // 2]
    assert len({tuple(c) for c in centre}) > 10
    assert np.abs(centre[-1] - [20, 180, 60]).max() <= 2


def write_show(tmp: Path) -> Path:
    (tmp / "media").mkdir()
    (tmp / "show").mkdir()
    solid_png(tmp / "media" / "red.png", (220, 0, 0))
    solid_png(tmp / "media" / "blue.png", (0, 0, 220))
    path = tmp / "show" / "s.yaml"
    path.write_text(
        "output: {width: 64, height: 36, fps: 30}\n"
        "poems:\n"
        "  - id: '1'\n"
        "    title: One\n"
        "    cues:\n"
        "      - {id: r, media: red.png, fade: 0}\n"
        "      - {id: b, media: blue.png, fade: 0}\n"
    )
    return path


def test_play_record_keeps_the_event_log_beside_it(tmp_path: Path) -> None:
    show = write_show(tmp_path)
    video = tmp_path / "out" / "show.mp4"
    args = ["play", str(show), "--headless", "--fake-clock", "--frames", "40", "--quiet"]
    args += ["--no-osc", "--no-gamepad", "--script", "0:GO 0.5:GO", "--record", str(video)]
    assert main(args) == 0
    frames = decode(video, W, H)
    assert len(frames) == 40
    assert np.abs(frames[5, 18, 32].astype(int) - [220, 0, 0]).max() <= 4
    assert np.abs(frames[-1, 18, 32].astype(int) - [0, 0, 220]).max() <= 4
    records = read_log(video.with_suffix(".jsonl"))
    assert sum(r["event"] == "frame" for r in records) == 40
    done = [r for r in records if r.get("message", "").startswith("recording: wrote")]
    assert done and done[-1]["recording_frames"] == 40 and done[-1]["recording_dropped"] == 0


class SlowWriter:
    """Stands in for ffmpeg: takes `delay` seconds per frame and keeps what it got."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.frames: list[int] = []
        self.closed = self.aborted = False

    def write(self, frame: np.ndarray) -> None:
        time.sleep(self.delay)
        self.frames.append(int(frame[0, 0, 0]))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


class HeldWriter(SlowWriter):
    """An encoder that finishes no frame until the test sets `gate`."""

    def __init__(self) -> None:
        super().__init__(0.0)
        self.gate = threading.Event()

    def write(self, frame: np.ndarray) -> None:
        assert self.gate.wait(120.0)
        self.frames.append(int(frame[0, 0, 0]))


def numbered(out: HeadlessOutput, i: int) -> None:
    out.begin_frame()
    out.fbo.clear(i / 255.0, 0.0, 0.0, 1.0)


def test_slow_encoder_drops_recorded_frames_and_never_blocks(ctx: moderngl.Context) -> None:
    """The encoder is held (it never finishes a frame while the show captures 60): every
    capture returns anyway, the backlog stays within its queue, the rest is dropped."""
    out = HeadlessOutput(W, H, ctx=ctx)
    writer = HeldWriter()
    drops: list[int] = []
    rec = Recorder(ctx, W, H, FPS, "unused.mp4", queue_frames=4, writer=writer,
                   on_drop=drops.append)  # fmt: skip
    taken = []
    try:
        for i in range(60):
            numbered(out, i)
            if rec.capture(out.fbo):
                taken.append(i)
            assert rec.backlog <= 4
        # all 60 captures returned while the encoder had not finished one frame
        assert not writer.gate.is_set() and writer.frames == []
        writer.gate.set()
        rec.close()
    finally:
        writer.gate.set()
        out.close()
    assert rec.dropped >= 60 - 4 - 2 and drops == list(range(1, rec.dropped + 1))
    assert rec.captured + rec.dropped == 60
    assert writer.frames == taken  # every frame taken reached the encoder, in order
    assert writer.closed and not writer.aborted


def test_show_time_holds_frames_for_skipped_slots(ctx: moderngl.Context) -> None:
    out = HeadlessOutput(W, H, ctx=ctx)
    writer = SlowWriter(0.0)
    rec = Recorder(ctx, W, H, FPS, "unused.mp4", writer=writer)
    try:
        for i, slot in enumerate([0, 1, 1, 4, 5]):
            numbered(out, i)
            rec.capture(out.fbo, slot / FPS + 0.001)
        rec.close()
    finally:
        out.close()
    # slot 1 twice: the second is not needed; slots 2 and 3 were skipped: frame 1 holds
    assert writer.frames == [0, 1, 1, 1, 3, 4]
    assert rec.captured == 4 and rec.written == 6 and rec.dropped == 0


def test_frames_dropped_at_the_end_still_take_their_time(ctx: moderngl.Context) -> None:
    out = HeadlessOutput(W, H, ctx=ctx)
    writer = HeldWriter()  # the encoder finishes nothing while the 12 frames are captured
    rec = Recorder(ctx, W, H, FPS, "unused.mp4", queue_frames=2, lag=1, writer=writer)
    try:
        for i in range(12):
            numbered(out, i)
            rec.capture(out.fbo, i / FPS)
        writer.gate.set()
        rec.close()
    finally:
        writer.gate.set()
        out.close()
    assert rec.dropped > 0
    assert rec.written == 12  # one video frame per show frame: the video keeps the run's length
    assert writer.frames == sorted(writer.frames)


def test_blocking_recorder_keeps_every_frame(ctx: moderngl.Context) -> None:
    out = HeadlessOutput(W, H, ctx=ctx)
    writer = SlowWriter(0.01)
    rec = Recorder(ctx, W, H, FPS, "unused.mp4", queue_frames=2, writer=writer, blocking=True)
    try:
        for i in range(10):
            numbered(out, i)
            assert rec.capture(out.fbo, i / FPS)
        rec.close()
    finally:
        out.close()
    assert writer.frames == list(range(10)) and rec.dropped == 0


def test_encoder_failure_is_reported_once_and_the_show_goes_on(ctx: moderngl.Context) -> None:
    class Broken(SlowWriter):
        def write(self, frame: np.ndarray) -> None:
            raise BrokenPipeError("ffmpeg died")

    out = HeadlessOutput(W, H, ctx=ctx)
    writer = Broken(0.0)
    errors: list[str] = []
    rec = Recorder(ctx, W, H, FPS, "x.mp4", lag=1, writer=writer, on_error=errors.append)
    try:
        deadline = time.monotonic() + 60.0
        i = 0
        while not errors:  # a bounded poll: frames until the writer's failure is reported
            assert time.monotonic() < deadline, "the encoder's failure went unreported"
            numbered(out, i)
            rec.capture(out.fbo)
            i += 1
            if rec.error is None:
                time.sleep(0.002)
        assert errors == [rec.error] and "ffmpeg died" in errors[0]
        assert rec.capture(out.fbo) is False
        with pytest.raises(RecorderError, match="ffmpeg died"):
            rec.close()
    finally:
        out.close()
    assert writer.aborted and errors == [rec.error]


def test_capture_at_720p_keeps_every_frame_in_order(ctx: moderngl.Context) -> None:
    w, h = 1280, 720
    out = HeadlessOutput(w, h, ctx=ctx)
    writer = SlowWriter(0.0)
    rec = Recorder(ctx, w, h, FPS, "unused.mp4", writer=writer, queue_frames=64)
    try:
        for i in range(20):
            numbered(out, i)
            assert rec.capture(out.fbo)
        rec.close()
    finally:
        out.close()
    assert writer.frames == list(range(20))
