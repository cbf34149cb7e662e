"""Outputs: headless read-back orientation and events; the glfw window under Xvfb."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import moderngl
import numpy as np
import pytest
from xvfb import run_on_display, xvfb

from app.render.compositor import Compositor
from app.render.outputs import GlfwOutput, HeadlessOutput, KeyEvent, OutputError
from app.render.textures import RgbaTexture
from app.show.model import Fit

REPO = Path(__file__).resolve().parents[1]


def top_red_bottom_blue(w: int, h: int) -> np.ndarray:
    img = np.zeros((h, w, 4), np.uint8)
    img[..., 3] = 255
    img[: h // 2, :, 0] = 255
    img[h // 2 :, :, 2] = 255
    return img


def test_headless_read_pixels_top_row_first(ctx: moderngl.Context) -> None:
    out = HeadlessOutput(32, 18, ctx=ctx)
    comp = Compositor(ctx, 32, 18)
    tex = RgbaTexture(ctx, top_red_bottom_blue(32, 18))
    out.begin_frame()
    comp.draw_image(tex, Fit.STRETCH, 1.0, out.fbo)
    out.end_frame()
    rgb = out.read_pixels()
    assert rgb.shape == (18, 32, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [255, 0, 0]
    assert rgb[-1, 0].tolist() == [0, 0, 255]
    rgba = out.read_pixels(4)
    assert rgba.shape == (18, 32, 4) and (rgba[..., 3] == 255).all()
    tex.release()
    comp.release()
    out.close()


def test_headless_events_and_close(ctx: moderngl.Context) -> None:
    out = HeadlessOutput(8, 8, ctx=ctx)
    assert out.poll_events() == [] and not out.should_close
    out.inject(KeyEvent("space", "press"))
    out.inject([KeyEvent("b", "press", frozenset({"shift"})), KeyEvent("b", "release")])
    assert [e.key for e in out.poll_events()] == ["space", "b", "b"]
    assert out.poll_events() == []
    out.request_close()
    assert out.should_close
    out.close()
    out.close()  # twice is harmless


def test_headless_owns_its_context_when_none_given() -> None:
    with HeadlessOutput(8, 4) as out:
        assert out.ctx.version_code >= 450
        out.begin_frame()
        out.fbo.clear(0.0, 1.0, 0.0, 1.0)
        assert out.read_pixels()[0, 0].tolist() == [0, 255, 0]
    assert out.should_close


def test_glfw_without_display_says_use_headless(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(OutputError, match="no display: use --headless"):
        GlfwOutput(64, 36)


# Runs in its own process: a GLX context made current by glfw would replace the session's
# EGL context on this thread.
WINDOW_SCRIPT = r"""
import json, sys
import glfw
import numpy as np
from app.render.compositor import Compositor
from app.render.outputs import GlfwOutput, OutputError
from app.render.textures import RgbaTexture
from app.show.model import Fit

result = {}
out = GlfwOutput(64, 36, vsync=True, title="test")
result["version"] = out.ctx.version_code
result["cursor_hidden"] = glfw.get_input_mode(out._window, glfw.CURSOR) == glfw.CURSOR_HIDDEN
img = np.zeros((36, 64, 4), np.uint8); img[..., 3] = 255
img[:18, :, 0] = 255; img[18:, :, 2] = 255
comp = Compositor(out.ctx, 64, 36)
tex = RgbaTexture(out.ctx, img)
for _ in range(2):
    out.begin_frame()
    comp.draw_image(tex, Fit.STRETCH, 1.0, out.fbo)
    out.end_frame()
result["top"] = out.read_pixels()[0, 0].tolist()
result["bottom"] = out.read_pixels()[-1, 0].tolist()
# the window got the frame too (its back buffer, copied out: reading it directly is invalid)
copy = out.ctx.simple_framebuffer((64, 36))
out.ctx.copy_framebuffer(copy, out.ctx.screen)
win = np.frombuffer(copy.read(components=3, alignment=1), np.uint8).reshape(36, 64, 3)[::-1]
copy.release()
result["window_top"] = win[2, 32].tolist()
result["window_bottom"] = win[-3, 32].tolist()
out._on_key(out._window, glfw.KEY_SPACE, 0, glfw.PRESS, 0)
out._on_key(out._window, glfw.KEY_LEFT, 0, glfw.REPEAT, glfw.MOD_SHIFT)
out._on_key(out._window, glfw.KEY_ESCAPE, 0, glfw.RELEASE, 0)
out._on_key(out._window, glfw.KEY_BACKSPACE, 0, glfw.PRESS, 0)
result["events"] = [[e.key, e.action, sorted(e.mods)] for e in out.poll_events()]
result["should_close"] = out.should_close
result["gl_error"] = out.ctx.error
tex.release(); comp.release(); out.close()
try:
    GlfwOutput(64, 36, fullscreen=True, monitor="no-such-monitor")
except OutputError as exc:
    result["monitor_error"] = str(exc)
# a square show on the 320x180 screen: scaled up and pillarboxed
full = GlfwOutput(36, 36, fullscreen=True, monitor=0)
result["fullscreen_size"] = list(glfw.get_framebuffer_size(full._window))
full.begin_frame()
full.fbo.clear(1.0, 1.0, 1.0, 1.0)
full.end_frame()
copy = full.ctx.simple_framebuffer((320, 180))
full.ctx.copy_framebuffer(copy, full.ctx.screen)
win = np.frombuffer(copy.read(components=3, alignment=1), np.uint8).reshape(180, 320, 3)
result["pillarbox"] = [win[90, 20].tolist(), win[90, 160].tolist(), win[90, 300].tolist()]
copy.release()
full.close()
print(json.dumps(result))
"""


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    with xvfb("320x180x24") as display:
        yield display


def test_glfw_window_under_xvfb(xvfb_display: str) -> None:
    result = run_on_display(xvfb_display, ["-c", WINDOW_SCRIPT], timeout=120)
    assert result["version"] >= 330
    assert result["cursor_hidden"]
    assert result["top"] == [255, 0, 0] and result["bottom"] == [0, 0, 255]
    assert result["window_top"] == [255, 0, 0] and result["window_bottom"] == [0, 0, 255]
    assert result["events"] == [
        ["space", "press", []],
        ["left", "repeat", ["shift"]],
        ["escape", "release", []],
        ["backspace", "press", []],
    ]
    assert not result["should_close"]
    assert result["gl_error"] == "GL_NO_ERROR"
    assert "no monitor named like 'no-such-monitor'" in result["monitor_error"]
    assert result["fullscreen_size"] == [320, 180]
    assert result["pillarbox"] == [[0, 0, 0], [255, 255, 255], [0, 0, 0]]
