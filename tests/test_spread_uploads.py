"""First images reach the GPU over frames: a video's first frame is written a strip of rows
at a time (`SpreadYuvUpload`), a splat scene's first picture is sorted and then drawn a
slice of splats at a time (`SplatDraw`); each frame does at most its share, and the result
is the picture one upload or one render gives."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import moderngl
import numpy as np
import pytest
from frames import run_frames
from PIL import Image

from app.bench.common import show_of
from app.clock import FakeTime, FrameClock
from app.cues.actions import Go
from app.cues.state import CameraOffset
from app.media.splats import SplatScene
from app.media.types import YuvFrame
from app.player import Player
from app.render.camera import cue_view
from app.render.splats import SplatDraw, SplatRenderer
from app.render.textures import SpreadYuvUpload, YuvTextures

W, H, FPS = 64, 36, 30.0


def _frame(width: int, height: int, seed: int = 0) -> YuvFrame:
    rng = np.random.default_rng(seed)
    cw, ch = (width + 1) // 2, (height + 1) // 2
    return YuvFrame(
        pts=1.5,
        width=width,
        height=height,
        y=rng.integers(0, 256, (height, width), dtype=np.uint8),
        u=rng.integers(0, 256, (ch, cw), dtype=np.uint8),
        v=rng.integers(0, 256, (ch, cw), dtype=np.uint8),
        colorspace="bt601",
        full_range=False,
    )


def _read(tex: moderngl.Texture) -> np.ndarray:
    w, h = tex.size
    return np.frombuffer(tex.read(alignment=1), np.uint8).reshape(h, w)


@pytest.mark.parametrize("max_bytes", [1000, 37, 1 << 20])
def test_a_frame_goes_up_in_strips_within_the_budget(ctx: moderngl.Context, max_bytes: int) -> None:
    frame = _frame(101, 57)  # odd sizes: chroma planes are 51x29
    textures = YuvTextures(ctx, 101, 57, black=False)
    up = SpreadYuvUpload(textures, frame, max_bytes)
    total = frame.y.nbytes + frame.u.nbytes + frame.v.nbytes
    written = []
    while not up.complete:
        assert textures.pts is None  # not the frame's until every row is in
        up.upload_more()
        written.append(up.last_bytes)
    row = 101  # the longest row: a budget under it writes one row a call
    assert all(0 < n <= max(max_bytes, row) for n in written)
    assert sum(written) == total
    if max_bytes >= total:
        assert len(written) == 1
    else:
        assert len(written) >= total // max(max_bytes, row)
    assert np.array_equal(_read(textures.y), frame.y)
    assert np.array_equal(_read(textures.u), frame.u)
    assert np.array_equal(_read(textures.v), frame.v)
    assert (textures.pts, textures.colorspace, textures.full_range) == (1.5, "bt601", False)
    assert up.upload_more() and up.last_bytes == 0
    textures.release()


def test_a_frame_of_another_size_is_refused_at_once(ctx: moderngl.Context) -> None:
    textures = YuvTextures(ctx, 64, 36, black=False)
    with pytest.raises(ValueError, match="frame is 65x36"):
        SpreadYuvUpload(textures, _frame(65, 36), 1000)
    textures.release()


def _scene(n: int = 1500) -> SplatScene:
    rng = np.random.default_rng(3)
    rotations = rng.normal(0.0, 1.0, (n, 4)).astype(np.float32)
    rotations /= np.linalg.norm(rotations, axis=1, keepdims=True)
    return SplatScene(
        positions=rng.normal(0.0, 1.0, (n, 3)).astype(np.float32),
        scales=rng.uniform(0.02, 0.2, (n, 3)).astype(np.float32),
        rotations=rotations,
        opacities=rng.uniform(0.2, 0.9, n).astype(np.float32),
        colours=rng.uniform(0.0, 1.0, (n, 3)).astype(np.float32),
    )


class StepClock:
    """A fake clock that moves on by `dt` each time it is read."""

    def __init__(self, dt: float) -> None:
        self.t = 0.0
        self.dt = dt

    def __call__(self) -> float:
        self.t += self.dt
        return self.t


@pytest.mark.parametrize("sort", ["gpu", "cpu"])
def test_a_splat_picture_over_frames_is_the_picture_of_one_render(
    ctx: moderngl.Context, sort: str
) -> None:
    renderer = SplatRenderer(ctx, sort=sort, timing=False)
    scene = _scene()
    view = cue_view(scene, None, CameraOffset(), 0.0, W, H)
    once = renderer.upload(scene)
    expected = np.frombuffer(renderer.render(once, view, W, H).texture.read(), np.float16)
    assert np.abs(expected).max() > 0.1  # the scene is in view
    spread = renderer.upload(scene)
    # every slice "takes" longer than the budget: a step draws one slice, halving it
    drawing = renderer.begin(spread, view, W, H, per_step=256, budget=0.5, clock=StepClock(1.0))
    fbo = ctx.simple_framebuffer((8, 8))
    fbo.use()
    while not drawing.advance():
        assert spread.last_key is None  # not the scene's picture yet
        assert ctx.fbo is fbo  # what was bound is bound again
    assert drawing.visible is not None and drawing.drawn == drawing.visible > 256
    sorting = 2 if sort == "gpu" else 1  # the GPU path's preprocess and sort are a step each
    assert drawing.steps == sorting + len(drawing.slices)
    assert drawing.slices[:3] == [256, 128, 64]
    assert all(n <= SplatDraw.MIN_SLICE for n in drawing.slices[3:])
    got = np.frombuffer(drawing.target.texture.read(), np.float16)
    assert np.array_equal(got, expected)
    # the layer is the scene's picture now: the same view is not drawn again
    assert renderer.render(spread, view, W, H) is drawing.target
    assert renderer.last_timings["skipped"] == 1.0
    for gpu in (once, spread):
        gpu.release()
    ctx.detect_framebuffer(0).use()  # a deleted framebuffer must not stay bound
    fbo.release()
    renderer.release()


def test_a_fast_gl_gets_the_whole_picture_in_one_step_after_the_sort(
    ctx: moderngl.Context,
) -> None:
    """With slices that take no time, a step goes on drawing, the slice doubling."""
    renderer = SplatRenderer(ctx, sort="gpu", timing=False)
    scene = _scene()
    gpu = renderer.upload(scene)
    view = cue_view(scene, None, CameraOffset(), 0.0, W, H)
    drawing = renderer.begin(gpu, view, W, H, per_step=64, budget=1.0, clock=StepClock(0.0))
    assert not drawing.advance() and not drawing.advance()  # preprocess, sort
    assert drawing.advance()
    assert drawing.slices[:4] == [64, 128, 256, 512] and sum(drawing.slices) == drawing.visible
    gpu.release()
    renderer.release()


def _solid(path: Path, rgb: tuple[int, int, int]) -> Path:
    Image.fromarray(np.full((H, W, 3), rgb, np.uint8)).save(path)
    return path


def _ready_within(player: Player, index: int, seconds: float) -> Callable[[], bool]:
    """For `run_frames(until=...)`: a bounded poll, after each frame, on the pool having cue
    `index` ready; the media load and decode on worker threads, on the wall clock."""
    deadline = time.monotonic() + seconds

    def ready() -> bool:
        if player.pool.ready(index):
            return True
        assert time.monotonic() < deadline, f"cue {index} not ready within {seconds} s"
        time.sleep(0.005)  # let the worker threads run
        return False

    return ready


def test_a_fired_video_reaches_the_gpu_over_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GO onto a video that is not in standby: its textures are made in one frame, its first
    frame written at most UPLOAD_BYTES a frame in the next ones, and the cue starts (late)
    once the textures hold that frame."""
    import app.render.pool as pool_module
    from app.eventlog import EventLog, read_log
    from app.media.lavfi import make_clip
    from app.media.video import VideoSource
    from app.render.outputs import HeadlessOutput

    budget = 512
    monkeypatch.setattr(pool_module, "UPLOAD_BYTES", budget)
    calls: list[tuple[int, int]] = []  # (frame, bytes written)
    real = SpreadYuvUpload.upload_more

    def spy(self: SpreadYuvUpload) -> bool:
        done = real(self)
        calls.append((player.frame, self.last_bytes))
        return done

    monkeypatch.setattr(SpreadYuvUpload, "upload_more", spy)
    clip = make_clip(tmp_path / "v.mp4", width=W, height=H, fps=FPS, seconds=1.0)
    paths = [_solid(tmp_path / f"{n}.png", (n * 80, 0, 0)) for n in range(2)]
    show = show_of([*paths, clip], width=W, height=H, fps=FPS, fade=0.5)
    with VideoSource(clip) as source:
        first = source.preroll(30.0)
    assert isinstance(first, YuvFrame)
    fake = FakeTime()
    out = HeadlessOutput(W, H)
    log_path = tmp_path / "run.jsonl"
    player = Player(show, out, clock=FrameClock(fake, fake.sleep), log=EventLog(log_path))

    def until(ready: int) -> None:  # frames of the show's loop until cue `ready` is
        run_frames(player, None, until=_ready_within(player, ready, 60.0))

    try:
        player.put(Go(source="test"), 0.0)
        until(0)
        player.put(Go(poem="1", cue="1.3", source="test"), fake.t)  # 1.2 is in standby
        until(2)
        image = player.pool.image_for(2)
        assert isinstance(image, YuvTextures)
        y, u, v = (_read(tex) for tex in image.textures)
        run_frames(player)
        player.log.flush()
        records = read_log(log_path)
    finally:
        player.close()
        out.close()
    assert np.array_equal(y, first.y) and np.array_equal(u, first.u)
    assert np.array_equal(v, first.v)
    total = first.y.nbytes + first.u.nbytes + first.v.nbytes
    assert sum(n for _, n in calls) == total
    assert all(0 < n <= budget for _, n in calls)
    frames = [f for f, _ in calls]
    assert len(frames) == len(set(frames)) >= total // budget  # one strip-set a frame
    (late,) = [r for r in records if r["event"] == "late" and r["cue"] == "1.3"]
    assert late["delay"] >= len(frames) / FPS - 1e-6  # the textures, then the strips


def test_a_fired_splat_scene_is_drawn_over_frames(tmp_path: Path) -> None:
    """GO onto a splat cue not in standby: the pool sorts, then draws it a slice a frame;
    the cue is ready once the picture is complete, one `SplatDraw.advance` a frame."""
    from app.media.splat_demo import make_demo_scene
    from app.render.outputs import HeadlessOutput

    paths = [_solid(tmp_path / f"{n}.png", (n * 80, 0, 0)) for n in range(2)]
    room = tmp_path / "room.ply"
    make_demo_scene(paths[1], room, size=32)
    show = show_of([*paths, room], width=W, height=H, fps=FPS, fade=0.5)
    fake = FakeTime()
    out = HeadlessOutput(W, H)
    player = Player(show, out, clock=FrameClock(fake, fake.sleep))
    steps: list[tuple[int, int]] = []  # (frame, splats drawn so far)
    real = SplatDraw.advance

    def spy(self: SplatDraw) -> bool:
        done = real(self)
        steps.append((player.frame, self.drawn))
        return done

    try:
        SplatDraw.advance = spy  # type: ignore[method-assign]
        player.put(Go(source="test"), 0.0)
        player.put(Go(poem="1", cue="1.3", source="test"), 0.0)  # 1.2 is in standby
        run_frames(player, None, until=_ready_within(player, 2, 60.0))
        assert player.pool.ready(2)
    finally:
        SplatDraw.advance = real  # type: ignore[method-assign]
        player.close()
        out.close()
    frames = [f for f, _ in steps]
    assert len(frames) == len(set(frames)) >= 3  # preprocess, sort, then the slices
    drawn = [n for _, n in steps]
    assert drawn[:2] == [0, 0] and drawn == sorted(drawn) and drawn[-1] > 0
