"""The operator view: layout, text atlas, and both windows under Xvfb read back by pixels.

The window scenario runs in its own process (a GLX context made current by glfw would
replace the session's EGL context on this thread): `python tests/test_operator.py DIR
windowed` prints one JSON line. The same scenario runs in-process offscreen (the view drawn
into a framebuffer of the output's context), so the checks also run without Xvfb.

Show: three solid stills (cue 1.1 red, 1.2 green, 1.3 blue), cuts (fade 0). After GO:
program = red, preview = green, the output window all red. Then a click on thumbnail 1.1
(standby goes back to it), the right arrow typed on the operator window (standby 1.2),
space on it (GO: 1.2 live, 1.3 in standby), a click on the GO button (1.3 live).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import moderngl
import numpy as np
import pytest
from xvfb import run_on_display, xvfb

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # when run as a script by the window test
    sys.path.insert(0, str(REPO))

from app.cues.commands import log_fields, log_name  # noqa: E402
from app.render.gl import release_framebuffer  # noqa: E402
from app.render.operator_layout import FrameTimes, layout, thumbnail_grid  # noqa: E402
from app.render.ui import GREEN, RED, Rect, UiCanvas, elide, text_width  # noqa: E402

COLOURS = {"1.1": (255, 0, 0), "1.2": (0, 255, 0), "1.3": (0, 0, 255)}
OUT_W, OUT_H = 160, 90
OP_W, OP_H = 640, 400
LIVE_MARK = [round(c * 255) for c in RED[:3]]
STANDBY_MARK = [round(c * 255) for c in GREEN[:3]]


# --- pure parts -----------------------------------------------------------------------


@pytest.mark.parametrize("size", [(640, 400), (1280, 800), (1920, 1080), (1024, 768)])
def test_layout_regions_fit_and_do_not_overlap(size: tuple[int, int]) -> None:
    w, h = size
    lay = layout(w, h, 16 / 9)
    regions = [
        lay.preview,
        lay.program,
        lay.go,
        lay.blackout,
        lay.progress,
        lay.poems,
        lay.cues,
        lay.side,
    ]
    for r in regions:
        assert r.w > 0 and r.h > 0
        assert r.x >= 0 and r.y >= 0 and r.x + r.w <= w + 1e-6 and r.y + r.h <= h + 1e-6
    for i, a in enumerate(regions):
        for b in regions[i + 1 :]:
            overlap_w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
            overlap_h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
            assert overlap_w <= 0 or overlap_h <= 0, (a, b)
    assert lay.preview.x < lay.program.x  # preview left, program right, as on a vision mixer
    assert lay.program.w / lay.program.h == pytest.approx(16 / 9)


def test_thumbnail_grid_fills_the_area_without_overlap() -> None:
    area = Rect(10, 20, 600, 300)
    for n in (1, 2, 3, 5, 12):
        rects = thumbnail_grid(area, n, 16 / 9, label_h=20, gap=8)
        assert len(rects) == n
        for r in rects:
            assert r.w / r.h == pytest.approx(16 / 9)
            assert area.x <= r.x and r.x + r.w <= area.x + area.w + 1e-6
            assert area.y <= r.y and r.y + r.h + 20 <= area.y + area.h + 1e-6
        for i, a in enumerate(rects):
            for b in rects[i + 1 :]:
                assert not (
                    a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h
                )
    assert thumbnail_grid(area, 0, 16 / 9, 20, 8) == []


def test_frame_times_and_elide() -> None:
    times = FrameTimes(size=10)
    for i in range(21):
        times.tick(i * 0.02)
    assert len(times.intervals) == 10 and times.percentile(50) == pytest.approx(0.02)
    assert times.last(3) == pytest.approx([0.02] * 3)
    long = "Der kranke Mond, the sick moon, a very long title indeed"
    short = elide(long, 16, 120)
    assert short.endswith("…") and text_width(short, 16) <= 120
    assert elide("ok", 16, 120) == "ok"


def test_canvas_draws_rects_text_and_images(ctx: moderngl.Context) -> None:
    canvas = UiCanvas(ctx)
    target = ctx.simple_framebuffer((200, 100))
    image = ctx.texture((2, 2), 3, bytes([0, 0, 255] * 2 + [255, 255, 0] * 2))
    image.filter = (moderngl.NEAREST, moderngl.NEAREST)
    try:
        canvas.begin(200, 100)
        canvas.rect(Rect(0, 0, 50, 100), (1.0, 0.0, 0.0, 1.0))
        width = canvas.text(60, 10, "PROGRAM", 24)
        canvas.image(Rect(150, 0, 50, 100), image, top_row_first=True)
        canvas.end(target)
        px = np.frombuffer(target.read(components=3), np.uint8).reshape(100, 200, 3)[::-1]
        assert px[50, 25].tolist() == [255, 0, 0]
        assert width > 40 and px[10:40, 60 : 60 + int(width)].max() > 200  # white glyphs
        assert px[90, 60:140].max() < 20  # below the text: the dark background
        assert px[10, 175].tolist() == [0, 0, 255]  # image row 0 at the top
        assert px[90, 175].tolist() == [255, 255, 0]
        assert canvas.draw_calls == 2  # the rect and the text share one draw
        # text is cached: drawing it again writes nothing new to the atlas
        entries = len(canvas.atlas._entries)
        canvas.begin(200, 100)
        canvas.text(60, 10, "PROGRAM", 24)
        canvas.text(0, 60, "29.9 fps", 24, dynamic=True)
        canvas.end(target)
        after_first = len(canvas.atlas._entries)
        canvas.begin(200, 100)
        canvas.text(0, 60, "92.9 fps", 24, dynamic=True)  # the same glyphs, reordered
        canvas.end(target)
        assert len(canvas.atlas._entries) == after_first > entries
    finally:
        canvas.release()
        release_framebuffer(target)
        image.release()


# --- the scenario -------------------------------------------------------------------


def _solid(path: Path, rgb: tuple[int, int, int]) -> Path:
    from PIL import Image

    Image.fromarray(np.full((OUT_H, OUT_W, 3), rgb, np.uint8)).save(path)
    return path


def _patch(img: np.ndarray, r: Any) -> list[int]:
    """Median colour of the middle half of a rect of a top-row-first image."""
    x0, y0 = int(r.x + r.w / 4), int(r.y + r.h / 4)
    x1, y1 = int(r.x + 3 * r.w / 4), int(r.y + 3 * r.h / 4)
    return np.median(img[y0:y1, x0:x1].reshape(-1, 3), axis=0).astype(int).tolist()


def _window_pixels(out: Any) -> np.ndarray:
    """The output window's default framebuffer (copied out: reading it directly is invalid)."""
    ctx = out.ctx
    w, h = out._glfw.get_framebuffer_size(out._window)
    copy = ctx.simple_framebuffer((w, h))
    ctx.copy_framebuffer(copy, ctx.screen)
    px = np.frombuffer(copy.read(components=3, alignment=1), np.uint8).reshape(h, w, 3)
    copy.release()
    return px


class _Driver:
    """An input of the run loop that clicks, types and reads pixels at given frames."""

    def __init__(self, player: Any, op: Any, out: Any, windowed: bool) -> None:
        self.player, self.op, self.out, self.windowed = player, op, out, windowed
        self.result: dict[str, Any] = {}

    def _key(self, name: str) -> None:
        if self.windowed:
            import glfw

            code = {"right": glfw.KEY_RIGHT, "space": glfw.KEY_SPACE}[name]
            self.op._on_key(self.op._window, code, 0, glfw.PRESS, 0)
            self.op._on_key(self.op._window, code, 0, glfw.RELEASE, 0)
        else:
            from app.render.outputs import KeyEvent

            self.op.inject(KeyEvent(name, "press"))

    def _capture(self, tag: str) -> None:
        op, r = self.op, self.result
        deadline = time.monotonic() + 20
        while op.thumbs.pending and time.monotonic() < deadline:
            time.sleep(0.02)
        op.draw(self.player, force=True)
        view = op.read_pixels()
        lay = op.layout
        r[f"{tag}_program"] = _patch(view, lay.program)
        r[f"{tag}_preview"] = _patch(view, lay.preview)
        r[f"{tag}_thumbs"] = {str(i): _patch(view, rect) for i, rect in op.thumb_rects.items()}
        # the live / standby marks: the frame just outside each thumbnail
        r[f"{tag}_marks"] = {
            str(i): view[int(rect.y + rect.h / 2), int(rect.x) - 1].tolist()
            for i, rect in op.thumb_rects.items()
        }
        r[f"{tag}_view_size"] = list(view.shape[:2])
        r[f"{tag}_fbo"] = np.unique(self.out.read_pixels().reshape(-1, 3), axis=0).tolist()
        if self.windowed:
            window = _window_pixels(self.out)
            r[f"{tag}_window"] = np.unique(window.reshape(-1, 3), axis=0).tolist()

    def poll(self, t: float) -> None:
        p, op, r = self.player, self.op, self.result
        frame = p.frame
        if frame == 3:
            self._capture("go")
            r["draw_ms"] = op.draw_ms
            action = op.click(*op.thumb_rects[0].centre)
            r["click_action"] = log_fields(action) if action else None
        elif frame == 5:
            r["standby_after_click"] = p.state.standby
            self._key("right")
        elif frame == 7:
            r["standby_after_key"] = p.state.standby
            self._key("space")
        elif frame == 9:
            r["live_after_space"] = p.state.live
            r["standby_after_space"] = p.state.standby
            self._capture("second")
            action = op.click(*op.layout.go.centre)
            r["go_button"] = log_name(action) if action else None
        elif frame == 11:
            r["live_after_go_button"] = p.state.live
            r["nothing_here"] = op.click(-5.0, -5.0)

    def close(self) -> None:
        pass


def scenario(tmp: Path, windowed: bool, ctx: moderngl.Context | None = None) -> dict[str, Any]:
    """Play the three-colour show with the operator view; what the checks need, as JSON."""
    from app.bench.common import show_of
    from app.clock import FakeTime, FrameClock
    from app.cues.actions import Go
    from app.eventlog import EventLog
    from app.player import Player
    from app.render.operator import OperatorWindow
    from app.render.outputs import GlfwOutput, HeadlessOutput
    from app.session import run

    media = [_solid(tmp / f"{cue}.png", rgb) for cue, rgb in COLOURS.items()]
    show = show_of(media, width=OUT_W, height=OUT_H, fps=30.0, fade=0.0)
    fake = FakeTime()
    if windowed:
        out: Any = GlfwOutput(OUT_W, OUT_H, vsync=False, title="output")
    else:
        out = HeadlessOutput(OUT_W, OUT_H, ctx=ctx)
    player = Player(show, out, clock=FrameClock(fake, fake.sleep), log=EventLog(), offline=True)
    op = OperatorWindow(out, width=OP_W, height=OP_H, every=1)
    if windowed:
        op._glfw.set_window_pos(op._window, OUT_W + 20, 0)
    driver = _Driver(player, op, out, windowed)
    driver.result["own_context"] = op.ctx is not out.ctx and not op.offscreen
    try:
        run(
            player,
            [(0.0, Go(source="script"))],
            frames=12,
            status=False,
            inputs=[driver],
            operator=op,
        )
        driver.result["gl_error"] = out.ctx.error
        driver.result["redraws"] = op.redraws
    finally:
        op.close()
        player.close()
        out.close()
    return driver.result


def check(r: dict[str, Any], windowed: bool) -> None:
    red, green, blue = ([*c] for c in COLOURS.values())
    assert r["go_view_size"] == [OP_H, OP_W]
    assert r["own_context"] is windowed  # a window draws in its own, sharing, context
    assert r["go_program"] == red  # the live cue
    assert r["go_preview"] == green  # the cue in standby
    assert r["go_thumbs"] == {"0": red, "1": green, "2": blue}
    assert r["go_marks"]["0"] == LIVE_MARK and r["go_marks"]["1"] == STANDBY_MARK
    assert r["go_marks"]["2"] not in (LIVE_MARK, STANDBY_MARK)
    assert r["go_fbo"] == [red]  # the show framebuffer holds only the mix
    if windowed:
        assert r["go_window"] == [red]  # the output window: every pixel the live cue, no UI
    assert r["click_action"]["action"] == "STANDBY" and r["click_action"]["cue"] == "1.1"
    assert r["click_action"]["source"] == "operator"
    assert r["standby_after_click"] == 0
    assert r["standby_after_key"] == 1
    assert r["live_after_space"] == 1 and r["standby_after_space"] == 2
    assert r["second_program"] == green and r["second_preview"] == blue
    assert r["second_marks"]["1"] == LIVE_MARK and r["second_marks"]["2"] == STANDBY_MARK
    if windowed:
        assert r["second_window"] == [green]
    assert r["go_button"] == "GO" and r["live_after_go_button"] == 2
    assert r["nothing_here"] is None
    assert r["redraws"] >= 4
    assert r["gl_error"] == "GL_NO_ERROR"


def test_operator_offscreen(ctx: moderngl.Context, tmp_path: Path) -> None:
    check(scenario(tmp_path, windowed=False, ctx=ctx), windowed=False)


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    with xvfb("1024x600x24") as display:
        yield display


def test_operator_and_output_windows_under_xvfb(xvfb_display: str, tmp_path: Path) -> None:
    args = [str(Path(__file__)), str(tmp_path), "windowed"]
    check(run_on_display(xvfb_display, args, timeout=180), windowed=True)


if __name__ == "__main__":
    print(json.dumps(scenario(Path(sys.argv[1]), windowed=sys.argv[2] == "windowed")))


def test_operator_shows_the_notes_and_the_follow_countdown(
    ctx: moderngl.Context, tmp_path: Path
) -> None:
    from dataclasses import replace

    from frames import hand_clock, run_frames

    from app.bench.common import show_of
    from app.clock import FakeTime
    from app.cues.actions import Go
    from app.eventlog import EventLog
    from app.player import Player
    from app.render.operator import OperatorWindow
    from app.render.operator_layout import performer_notes
    from app.render.outputs import HeadlessOutput
    from app.show.model import FollowSpec

    media = [_solid(tmp_path / f"{cue}.png", rgb) for cue, rgb in COLOURS.items()]
    show = show_of(media, width=OUT_W, height=OUT_H, fps=10.0, fade=0.0)
    poem = show.poems[0]
    a, b, c = poem.cues
    cues = (
        replace(a, notes="on the flute's entry", follow=FollowSpec(after=2.0)),
        replace(b, notes="bar 23"),
        c,
    )
    show = replace(show, poems=(replace(poem, cues=cues, notes="slow"),))
    fake = FakeTime()
    out = HeadlessOutput(OUT_W, OUT_H, ctx=ctx)
    player = Player(show, out, clock=hand_clock(fake), log=EventLog(), offline=True)
    op = OperatorWindow(out, width=OP_W, height=OP_H, every=1)
    try:
        player.put(Go(source="script"), 0.0)
        for n in range(6):  # frames at 0, 0.1 ... 0.5 s
            fake.t = n / 10.0
            run_frames(player)
        op.draw(player, force=True)
        assert op.notes_drawn == performer_notes(show, player.status)
        assert op.notes_drawn == [
            ("FOLLOW", "1.2 in 1.5 s"),
            ("NEXT", "1.2: bar 23"),
            ("LIVE", "1.1: on the flute's entry"),
            ("POEM", "1: slow"),
        ]
        assert player.status.line().endswith("follow 1.2 in 1.5 s")
        fake.t = 2.0
        run_frames(player)  # the follow fired: 1.2 live, 1.3 (no notes) in standby
        op.draw(player, force=True)
        assert player.status.live == 1
        assert op.notes_drawn == [("LIVE", "1.2: bar 23"), ("POEM", "1: slow")]
        assert out.ctx.error == "GL_NO_ERROR"
    finally:
        op.close()
        player.close()
        out.close()


def test_operator_shows_the_console_address_as_a_qr_code(
    ctx: moderngl.Context, tmp_path: Path
) -> None:
    from types import SimpleNamespace

    from frames import run_frames

    from app.bench.common import show_of
    from app.clock import FakeTime, FrameClock
    from app.eventlog import EventLog
    from app.player import Player
    from app.render.operator import OperatorWindow
    from app.render.operator_layout import qr_modules
    from app.render.outputs import HeadlessOutput

    media = [_solid(tmp_path / f"{cue}.png", rgb) for cue, rgb in COLOURS.items()]
    show = show_of(media, width=OUT_W, height=OUT_H, fps=10.0, fade=0.0)
    fake = FakeTime()
    out = HeadlessOutput(OUT_W, OUT_H, ctx=ctx)
    player = Player(show, out, clock=FrameClock(fake, fake.sleep), log=EventLog(), offline=True)
    op = OperatorWindow(out, width=1280, height=800, every=1)
    url = "http://192.168.1.20:8080/?token=Xc3-operate"
    try:
        run_frames(player)
        op.draw(player, force=True)
        assert op.qr_rect is None  # no console, no code
        player.set_web(SimpleNamespace(url=url))
        op.draw(player, force=True)
        r = op.qr_rect
        assert r is not None and r.w >= 60
        view = op.read_pixels()
        modules = qr_modules(url)
        n = modules.shape[0]
        step = r.w / n
        centres = ((np.arange(n) + 0.5) * step).astype(int)
        patch = view[int(r.y) + centres][:, int(r.x) + centres]
        seen = patch.mean(axis=2) < 128
        assert (seen == modules).all()  # every module where the code has it
        assert out.ctx.error == "GL_NO_ERROR"
    finally:
        op.close()
        player.close()
        out.close()
