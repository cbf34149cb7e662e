"""Where the show is drawn: a glfw window or a headless EGL framebuffer, one interface.

Both draw the show into an offscreen RGBA8 framebuffer (`fbo`) at the show's resolution, so
`read_pixels` gives the same image either way; the window scales that framebuffer into itself
(letterboxed) when the frame ends.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable

import moderngl
import numpy as np

from app.closing import Closing
from app.render.fit import fit_scale
from app.render.gl import GLError, create_headless_context, make_current, release_framebuffer
from app.render.programs import load_program
from app.render.warp import Warp
from app.render.window import (
    KeyEvent,
    OutputError,
    core_context_hints,
    find_monitor,
    key_callback,
)
from app.show.model import Fit


def _make_fbo(ctx: moderngl.Context, width: int, height: int) -> moderngl.Framebuffer:
    if width <= 0 or height <= 0:
        raise OutputError(f"output size must be positive, got {width}x{height}")
    tex = ctx.texture((width, height), 4)
    tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
    tex.repeat_x = False
    tex.repeat_y = False
    return ctx.framebuffer(color_attachments=[tex])


def _read_fbo(fbo: moderngl.Framebuffer, components: int) -> np.ndarray:
    if components not in (3, 4):
        raise ValueError(f"components must be 3 or 4, got {components}")
    width, height = fbo.size
    data = fbo.read(components=components, alignment=1)
    # GL rows go bottom to top
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, components)[::-1].copy()


class WarpPresenter:
    """Draws a texture into the bound framebuffer through a `Warp` (`shaders/warp.glsl`)."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self._prog = load_program(ctx, "warp")
        self._prog["u_texture"].value = 0
        self._vao = ctx.vertex_array(self._prog, [])

    def draw(
        self, texture: moderngl.Texture, warp: Warp, viewport: tuple[int, int, int, int]
    ) -> None:
        """Fill `viewport` (x, y, w, h in the bound framebuffer) with `texture` warped."""
        self.ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        self.ctx.viewport = viewport
        texture.use(location=0)
        # GLSL matrices are column-major
        self._prog["u_inverse"].value = tuple(warp.inverse.T.ravel().tolist())
        self._prog["u_viewport"].value = tuple(float(v) for v in viewport)
        self._vao.render(moderngl.TRIANGLE_STRIP, vertices=4)

    def release(self) -> None:
        self._vao.release()


class Output(ABC, Closing):
    """The interface both outputs implement.

    A frame is `begin_frame()` (binds `fbo`), drawing into `fbo`, `end_frame()` (presents).
    """

    ctx: moderngl.Context
    width: int
    height: int
    fbo: moderngl.Framebuffer

    @abstractmethod
    def begin_frame(self) -> None:
        """Bind `fbo` for drawing."""

    @abstractmethod
    def end_frame(self) -> None:
        """Show the frame drawn into `fbo` (a no-op headless)."""

    @abstractmethod
    def poll_events(self) -> list[KeyEvent]:
        """Key events since the last call, oldest first."""

    @property
    @abstractmethod
    def should_close(self) -> bool:
        """True once the window was asked to close (or the output was closed)."""

    def read_pixels(self, components: int = 3) -> np.ndarray:
        """The last frame drawn into `fbo`: (H, W, components) uint8, top row first."""
        return _read_fbo(self.fbo, components)

    @abstractmethod
    def close(self) -> None:
        """Release the output's GL objects (and window/context it made)."""


class HeadlessOutput(Output):
    """An offscreen RGBA8 framebuffer on an EGL context (its own unless `ctx` is given).

    `inject` queues key events for `poll_events`, so scripted runs and tests can drive the
    same code path as a window. `warp` (settable) is what a projector would show:
    `read_presented()` gives the warped picture, `read_pixels()` the show itself.
    """

    def __init__(
        self,
        width: int,
        height: int,
        ctx: moderngl.Context | None = None,
        *,
        warp: Warp | None = None,
    ) -> None:
        self._owns_ctx = ctx is None
        if ctx is None:
            try:
                ctx = create_headless_context()
            except GLError as exc:
                raise OutputError(str(exc)) from exc
        else:
            make_current(ctx)
        self.ctx = ctx
        self.width = width
        self.height = height
        self.fbo = _make_fbo(ctx, width, height)
        self.warp = warp
        self._presented: moderngl.Framebuffer | None = None
        self._presenter: WarpPresenter | None = None
        self._events: list[KeyEvent] = []
        self._closed = False

    def read_presented(self, components: int = 3) -> np.ndarray:
        """The last frame as the output surface shows it: through `warp` (if any)."""
        if self.warp is None:
            return self.read_pixels(components)
        make_current(self.ctx)
        if self._presented is None:
            self._presented = _make_fbo(self.ctx, self.width, self.height)
            self._presenter = WarpPresenter(self.ctx)
        assert self._presenter is not None
        self._presented.use()
        self._presented.clear(0.0, 0.0, 0.0, 1.0)
        self._presenter.draw(
            self.fbo.color_attachments[0], self.warp, (0, 0, self.width, self.height)
        )
        pixels = _read_fbo(self._presented, components)
        self.fbo.use()
        return pixels

    def begin_frame(self) -> None:
        """Make the context current (there may be several in a process) and bind `fbo`."""
        make_current(self.ctx)
        self.fbo.use()

    def end_frame(self) -> None:
        """Nothing to present headless; the frame's GL work is finished here, as a window's
        buffer swap submits it: a software GL defers drawing until something waits on it,
        and frames of piled-up work would land on a later frame (the first upload or
        splat sort that syncs)."""
        self.ctx.finish()

    def inject(self, events: KeyEvent | Iterable[KeyEvent]) -> None:
        """Queue key events as if they came from a keyboard."""
        self._events.extend([events] if isinstance(events, KeyEvent) else events)

    def poll_events(self) -> list[KeyEvent]:
        """Injected key events since the last call."""
        events, self._events = self._events, []
        return events

    def request_close(self) -> None:
        """Make `should_close` true (what closing the window does)."""
        self._closed = True

    @property
    def should_close(self) -> bool:
        """True after `request_close` or `close`."""
        return self._closed

    def close(self) -> None:
        """Release the framebuffer, and the context if this output made it."""
        if self.fbo is None:
            return
        make_current(self.ctx)
        if self._presented is not None:
            release_framebuffer(self._presented)
            self._presented = None
        if self._presenter is not None:
            self._presenter.release()
            self._presenter = None
        release_framebuffer(self.fbo)
        self.fbo = None  # type: ignore[assignment]
        if self._owns_ctx:
            self.ctx.release()
        self._closed = True


class GlfwOutput(Output):
    """A glfw window, windowed or fullscreen, with vsync and no visible cursor.

    `monitor` (fullscreen only) picks the monitor by index or by a substring of its name
    (default: the primary one); fullscreen uses the monitor's current video mode. The show is
    drawn into `fbo` at `width` x `height` and scaled (letterboxed) into the window by
    `end_frame`; with a `warp` (settable, for live adjustment) it is drawn through the
    four-corner warp instead, the warp's unit square being the whole window.
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        fullscreen: bool = False,
        monitor: int | str | None = None,
        vsync: bool = True,
        title: str = "app",
        warp: Warp | None = None,
    ) -> None:
        if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise OutputError("no display: use --headless")
        import glfw

        self._glfw = glfw
        glfw.ERROR_REPORTING = "exception"
        try:
            if not glfw.init():
                raise OutputError("no display: use --headless")
        except glfw.GLFWError as exc:
            raise OutputError(f"no display: use --headless ({exc})") from exc
        try:
            self._window = self._open_window(width, height, fullscreen, monitor, title)
            glfw.make_context_current(self._window)
            glfw.swap_interval(1 if vsync else 0)
            glfw.set_input_mode(self._window, glfw.CURSOR, glfw.CURSOR_HIDDEN)
            self.ctx = moderngl.create_context(require=330)
        except glfw.GLFWError as exc:
            glfw.terminate()
            raise OutputError(f"cannot open the output window: {exc}") from exc
        except Exception:
            glfw.terminate()
            raise
        self.width = width
        self.height = height
        self.fbo = _make_fbo(self.ctx, width, height)
        self._screen = self.ctx.detect_framebuffer(0)
        self._blit = load_program(self.ctx, "quad")
        self._blit["u_texture"].value = 0
        self._blit_vao = self.ctx.vertex_array(self._blit, [])
        self.warp = warp
        self._presenter = WarpPresenter(self.ctx)
        self._events: list[KeyEvent] = []
        self._on_key = key_callback(lambda e: self._events.append(e))  # lives as long as the window
        glfw.set_key_callback(self._window, self._on_key)

    def _open_window(
        self, width: int, height: int, fullscreen: bool, monitor: int | str | None, title: str
    ) -> object:
        glfw = self._glfw
        core_context_hints()
        # a fullscreen window must stay up when the operator clicks on the other screen
        glfw.window_hint(glfw.AUTO_ICONIFY, False)
        if not fullscreen:
            window = glfw.create_window(width, height, title, None, None)
        else:
            chosen = find_monitor(monitor, "fullscreen")
            mode = glfw.get_video_mode(chosen)
            glfw.window_hint(glfw.RED_BITS, mode.bits.red)
            glfw.window_hint(glfw.GREEN_BITS, mode.bits.green)
            glfw.window_hint(glfw.BLUE_BITS, mode.bits.blue)
            glfw.window_hint(glfw.REFRESH_RATE, mode.refresh_rate)
            window = glfw.create_window(mode.size.width, mode.size.height, title, chosen, None)
        if not window:
            raise OutputError("cannot open the output window (no OpenGL 3.3 core context?)")
        return window

    def begin_frame(self) -> None:
        """Bind `fbo` for drawing."""
        self.fbo.use()

    def end_frame(self) -> None:
        """Scale `fbo` into the window (letterboxed) and swap buffers (waits for vsync)."""
        glfw = self._glfw
        fb_w, fb_h = glfw.get_framebuffer_size(self._window)
        screen = self._screen
        screen.use()
        self.ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        self.ctx.viewport = (0, 0, fb_w, fb_h)
        self.ctx.clear(0.0, 0.0, 0.0, 1.0)
        if fb_w > 0 and fb_h > 0 and self.warp is not None:
            self._presenter.draw(self.fbo.color_attachments[0], self.warp, (0, 0, fb_w, fb_h))
        elif fb_w > 0 and fb_h > 0:
            self.fbo.color_attachments[0].use(location=0)
            self._blit["u_scale"].value = fit_scale(
                self.width, self.height, fb_w, fb_h, Fit.CONTAIN
            )
            self._blit["u_flip_y"].value = 0.0
            self._blit["u_weight"].value = (1.0, 1.0)
            self._blit_vao.render(moderngl.TRIANGLE_STRIP, vertices=4)
        glfw.swap_buffers(self._window)

    def poll_events(self) -> list[KeyEvent]:
        """Process window events; the key events since the last call."""
        self._glfw.poll_events()
        events, self._events = self._events, []
        return events

    @property
    def glfw_window(self) -> object:
        """The glfw window handle, for a window that shares this one's GL context."""
        if self._window is None:
            raise OutputError("the output window is closed")
        return self._window

    def make_current(self) -> None:
        """Make this window's GL context current on the calling (GL) thread."""
        if self._window is not None:
            self._glfw.make_context_current(self._window)

    @property
    def should_close(self) -> bool:
        """True once the window's close button (or the window manager) asked to close."""
        if self._window is None:
            return True
        return bool(self._glfw.window_should_close(self._window))

    def close(self) -> None:
        """Release GL objects, destroy the window and terminate glfw."""
        if self._window is None:
            return
        self._blit_vao.release()
        self._presenter.release()
        release_framebuffer(self.fbo)
        self.ctx.release()
        self._glfw.destroy_window(self._window)
        self._glfw.terminate()
        self._window = None
