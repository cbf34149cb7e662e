"""The operator's window: program and preview monitors, the poem's cues, show state, health.

A second glfw window beside the projector output, for the performer's laptop screen. Its GL
context shares objects with the output's (glfw `share=`), so nothing is uploaded twice:

- in the output's context, once per redraw: the cue in standby is drawn by a `Compositor` of
  the preview's size into the preview framebuffer (a mix of that cue alone at full opacity,
  from the images the media pool already holds: standby is pre-rolled), and splat cues get a
  thumbnail rendered from their pool image the first time they are live or in standby;
- in the operator's own context: the view is drawn by `app.render.ui.UiCanvas` as textured
  quads. The program monitor samples the output's show framebuffer texture directly, the
  preview monitor the preview texture, the thumbnails their small textures. Textures are
  shared between the contexts; vertex arrays and framebuffers are not, so each context makes
  its own.

Verified under Xvfb on Mesa llvmpipe (GLX): a moderngl texture object made in one context
samples correctly while the other, sharing, context is current, and a change made in the
first is seen by the second after the first's commands are finished (`ctx.finish()`, which
the operator calls in the output's context before switching). The output window only ever
presents its show framebuffer: the operator view is drawn into a different window.

The view is redrawn every `every` frames (2 by default) and never takes more than about a
quarter of the main thread: after a redraw that cost c seconds the next one waits at least
3c. Frame times are sampled every frame all the same. Closing the operator window does not
end the show (Esc twice does, as on the output).

`offscreen=True` (automatic for a `HeadlessOutput`) draws the same view into a framebuffer of
the output's own context: for tests without a display and for the benchmark.

Mouse and keyboard act through the action vocabulary: keys go through the run loop's
`KeyboardMapper` like the output's; a click on a cue thumbnail sets standby to that cue
(STANDBY), on a poem sets standby to its first cue, on GO fires. BLACKOUT, like its `b` key, needs
a second click within a second (`app.confirm.SecondPress`): the first one only arms it
and the button says CLICK AGAIN; any other click disarms it.

The cue grid shows the live cue's poem; when the standby cue is in another poem (at a poem's
end) that poem's cues are shown under it, so the live cues never vanish. The performer's notes
wrap onto as many lines as they need, up to half the status column (then the last line says
how many more lines there are).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import moderngl
import numpy as np

from app.confirm import SecondPress
from app.cues.actions import Action
from app.cues.commands import build
from app.cues.state import LayerMix, Mix, MixEntry
from app.render.compositor import Compositor
from app.render.gl import make_current, release_framebuffer
from app.render.operator_layout import (
    FrameTimes,
    Layout,
    layout,
    performer_notes,
    qr_modules,
    thumbnail_grid,
    visible_rows,
)
from app.render.thumbs import ThumbnailTextures
from app.render.ui import (
    AMBER,
    BLUE,
    DIM,
    GREEN,
    PANEL,
    RED,
    TEXT,
    Color,
    Rect,
    UiCanvas,
    line_height,
    text_width,
    wrap,
)
from app.render.window import KeyEvent, OutputError, core_context_hints, find_monitor, key_callback
from app.show.model import Fit
from app.status import LayerStatus

THUMB_WIDTH = 192
PREVIEW_WIDTH = 480  # about the monitor's size in a 1280-wide view
GRAPH_FRAMES = 120  # frame times shown in the graph
BLACK: Color = (0.0, 0.0, 0.0, 1.0)
WHITE: Color = (1.0, 1.0, 1.0, 1.0)


# --- clicks ----------------------------------------------------------------------------


def _click(command: str, *args: str) -> Action:
    """A click's action: a binding onto the command table, like every other input's."""
    return build(command, args, source="operator", detail="click")


# --- the window -------------------------------------------------------------------------


class OperatorWindow:
    """The operator view of a player's output (see the module docstring).

    `output` is the `GlfwOutput` whose context is shared, or a `HeadlessOutput` (then the view
    is drawn offscreen into `fbo`). `width` x `height` is the window size (filled to the
    monitor's work area when `monitor`, an index or a name substring, is given). `every`:
    redraw once per that many frames.
    """

    def __init__(
        self,
        output: Any,
        *,
        width: int = 1280,
        height: int = 800,
        monitor: int | str | None = None,
        every: int = 2,
        offscreen: bool | None = None,
        title: str = "operator",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.output = output
        self.out_ctx: moderngl.Context = output.ctx
        self.offscreen = (
            offscreen if offscreen is not None else getattr(output, "_window", None) is None
        )
        self.every = max(1, every)
        self.width, self.height = width, height
        self.times = FrameTimes()
        self.redraws = 0
        self.draw_ms = 0.0  # cost of the last redraw (milliseconds)
        self.draw_ms_total = 0.0
        self.layout: Layout | None = None
        self.thumb_rects: dict[int, Rect] = {}
        self.notes_drawn: list[tuple[str, str]] = []  # the aids' lines last drawn (label, text)
        self.notes_lines: list[str] = []  # the same, as the wrapped lines drawn
        self.grid_poems: list[str] = []  # ids of the poems whose cues the grid last showed
        self.poem_lines: dict[str, tuple[str, ...]] = {}  # poem id -> its title's lines drawn
        self._confirm = SecondPress(clock)
        self.qr_rect: Rect | None = None  # where the console's QR code was last drawn
        self._qr: tuple[str, moderngl.Texture] | None = None  # (url, texture) of the QR code
        self._hits: list[tuple[Rect, Callable[[], Action | None]]] = []
        self._events: list[KeyEvent | Action] = []
        self._since = every  # frames since the last redraw: draw on the first call
        self._next_at = 0.0
        self._window: Any = None
        self._glfw: Any = None
        self.fbo: moderngl.Framebuffer | None = None
        aspect = output.width / output.height
        tw = THUMB_WIDTH
        self.thumbs = ThumbnailTextures(tw, max(1, round(tw / aspect)))
        if self.offscreen:
            make_current(self.out_ctx)
            self.ctx = self.out_ctx
            tex = self.ctx.texture((width, height), 4)
            self.fbo = self.ctx.framebuffer(color_attachments=[tex])
            self._target: moderngl.Framebuffer = self.fbo
            self.canvas = UiCanvas(self.ctx)
        else:
            self._open_window(width, height, monitor, title)
        # shared objects made in the output's context: the preview
        self._use_output()
        pw = min(PREVIEW_WIDTH, output.width)
        ph = max(1, round(pw / aspect))
        self._preview_tex = self.out_ctx.texture((pw, ph), 4)
        self._preview_tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        self._preview_fbo = self.out_ctx.framebuffer(color_attachments=[self._preview_tex])
        self._preview_fbo.clear(0.0, 0.0, 0.0, 1.0)
        self._compositor = Compositor(self.out_ctx, pw, ph)

    def _open_window(self, width: int, height: int, monitor: int | str | None, title: str) -> None:
        import glfw

        self._glfw = glfw
        share = self.output.glfw_window  # the output window whose context this one shares
        glfw.default_window_hints()
        core_context_hints()
        area = None
        if monitor is not None:
            chosen = find_monitor(monitor, "the operator window")
            area = glfw.get_monitor_workarea(chosen)  # x, y, w, h
            width, height = int(area[2]), int(area[3])
        try:
            window = glfw.create_window(width, height, title, None, share)
        except glfw.GLFWError as exc:
            raise OutputError(f"cannot open the operator window: {exc}") from exc
        if not window:
            raise OutputError("cannot open the operator window (no shared GL 3.3 context?)")
        self._window = window
        if area is not None:
            glfw.set_window_pos(window, int(area[0]), int(area[1]))
        try:
            glfw.make_context_current(window)
            # the output waits for vsync; the operator view must never wait as well
            glfw.swap_interval(0)
            self.ctx = moderngl.create_context(require=330)
        except Exception:
            glfw.make_context_current(share)
            glfw.destroy_window(window)
            self._window = None
            raise
        self._target = self.ctx.detect_framebuffer(0)
        self.canvas = UiCanvas(self.ctx)
        self._on_key = key_callback(lambda e: self._events.append(e))  # lives as long as the window
        glfw.set_key_callback(window, self._on_key)
        glfw.set_mouse_button_callback(window, self._on_mouse)

    def _use_output(self) -> None:
        if self.offscreen:
            make_current(self.out_ctx)
        else:
            self.output.make_current()

    def _use_operator(self) -> None:
        if not self.offscreen:
            self._glfw.make_context_current(self._window)

    def _size(self) -> tuple[int, int]:
        if self.offscreen:
            return self.width, self.height
        w, h = self._glfw.get_framebuffer_size(self._window)
        return int(w), int(h)

    # --- events ---------------------------------------------------------------------

    def _on_mouse(self, window: object, button: int, action: int, mods: int) -> None:
        glfw = self._glfw
        if button != glfw.MOUSE_BUTTON_LEFT or action != glfw.PRESS:
            return
        cx, cy = glfw.get_cursor_pos(window)
        ww, wh = glfw.get_window_size(window)
        fw, fh = glfw.get_framebuffer_size(window)
        # the layout is in framebuffer pixels (HiDPI screens have more than window units)
        self.click(cx * fw / max(1, ww), cy * fh / max(1, wh))

    def inject(self, event: KeyEvent) -> None:
        """Queue a key event as if typed on the operator window (tests, offscreen)."""
        self._events.append(event)

    def click(self, x: float, y: float) -> Action | None:
        """A left click at (x, y) view pixels: the action it means (also queued for
        `poll_events`), or None where nothing is clickable or the click only armed BLACKOUT."""
        for rect, make in reversed(self._hits):
            if rect.contains(x, y):
                action = make()
                if action is not None:
                    self._events.append(action)
                return action
        self._confirm.disarm()
        return None

    def _blackout_click(self) -> Action | None:
        return _click("blackout") if self._confirm.press("blackout") else None

    def _plain(self, action: Callable[[], Action]) -> Callable[[], Action | None]:
        """A click that acts at once, and disarms an armed BLACKOUT."""

        def make() -> Action:
            self._confirm.disarm()
            return action()

        return make

    def poll_events(self) -> list[KeyEvent | Action]:
        """Key events and clicked actions since the last call, oldest first."""
        if not self.offscreen and self._window is not None:
            self._glfw.poll_events()
            # a stray click on the close button must not end the show: Esc twice does
            self._glfw.set_window_should_close(self._window, False)
        events, self._events = self._events, []
        return events

    # --- drawing --------------------------------------------------------------------

    def draw(self, player: Any, *, force: bool = False) -> bool:
        """Call once per frame after `player.step()`; redraws the view when it is due (or
        `force`, which does not count as a frame). Returns whether it redrew. The output's
        context is current again afterwards.
        """
        now = time.perf_counter()
        if not force:
            self.times.tick(now)
            self._since += 1
            if self._since < self.every or now < self._next_at:
                return False
        self._since = 0
        self._render_sources(player)
        self._use_operator()
        try:
            self._view(player)
            self.canvas.end(self._target)
            if not self.offscreen:
                self._glfw.swap_buffers(self._window)
        finally:
            self._use_output()
        end = time.perf_counter()
        cost = end - now
        self.draw_ms = cost * 1000.0
        self.draw_ms_total += self.draw_ms
        self.redraws += 1
        self._next_at = end + 3.0 * cost
        return True

    def _render_sources(self, player: Any) -> None:
        """In the output's context: the preview, and thumbnails of splat cues from the pool."""
        standby = player.status.standby
        image = player.pool.image_for(standby) if standby is not None else None
        if image is None:
            self._preview_fbo.clear(0.0, 0.0, 0.0, 1.0)
        else:
            cue = player.show.cues[standby]
            mix = Mix((LayerMix(cue.layer, (MixEntry(standby, 1.0, 0.0, 1.0),), 1.0),), 1.0, 0.0)
            cues = player.pool.cues
            self._compositor.draw(
                mix,
                player.pool.image_for,
                player.pool.fit_for,
                self._preview_fbo,
                look_for=lambda i: cues[i].look,  # graded as it will show
                t=player.status.t,
            )
        for index in self.thumbs.placeholders()[:1]:
            pooled = player.pool.image_for(index)
            if pooled is None:
                continue
            tex = self.out_ctx.texture((self.thumbs.width, self.thumbs.height), 4)
            tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
            fbo = self.out_ctx.framebuffer(color_attachments=[tex])
            self._compositor.draw_image(pooled, Fit.COVER, 1.0, fbo)
            self.thumbs.set_rendered(index, tex, fbo)
        if not self.offscreen:
            # the operator's context samples what this one drew: finish it first
            self.out_ctx.finish()

    def _view(self, player: Any) -> None:
        w, h = self._size()
        c = self.canvas
        c.begin(w, h)
        show = player.show
        cues = show.cues
        state = player.status
        aspect = self.output.width / self.output.height
        lay = layout(w, h, aspect)
        self.layout = lay
        self._hits = []
        self.notes_drawn = []
        big, mid = lay.big, lay.mid
        live, standby = state.live, state.standby

        # monitors
        for rect, name, colour, index in (
            (lay.preview, "PREVIEW", GREEN, standby),
            (lay.program, "PROGRAM", RED, live),
        ):
            y = rect.y - line_height(big) - 4 * lay.scale
            lw = c.text(rect.x, y, name, big, colour)
            if index is not None:
                cue = cues[index]
                c.text(
                    rect.x + lw + 12 * lay.scale,
                    y + (line_height(big) - line_height(mid)),
                    f"{cue.id}  {cue.media.name}",
                    mid,
                    TEXT,
                    max_width=rect.w - lw - 12 * lay.scale,
                )
            border = max(1.0, 4 * lay.scale)
            c.frame(rect.inset(-border), colour, border)  # outside the picture: no overdraw
        c.image(lay.preview, self._preview_tex, top_row_first=False)
        c.image(lay.program, self.output.fbo.color_attachments[0], top_row_first=False)

        # GO and BLACKOUT buttons, transition bar
        self._button(lay.go, "GO", GREEN, self._plain(lambda: _click("go")))
        armed = self._confirm.armed == "blackout"
        self._button(
            lay.blackout,
            "CLICK AGAIN" if armed else "BLACKOUT",
            AMBER if armed else RED if state.blackout else PANEL,
            self._blackout_click,
            text_colour=BLACK if armed or state.blackout else TEXT,
        )
        c.rect(lay.progress, PANEL)
        transition = state.transition
        if transition is not None:
            fill = Rect(
                lay.progress.x,
                lay.progress.y,
                lay.progress.w * min(1.0, transition),
                lay.progress.h,
            )
            c.rect(fill, BLUE)
            label = f"FADE {transition * 100:3.0f}%"
        else:
            label = "no fade running"
        cy = lay.progress.y + (lay.progress.h - line_height(mid)) / 2
        c.text(
            lay.progress.centre[0],
            cy,
            label,
            mid,
            TEXT if transition is not None else DIM,
            align="centre",
            dynamic=True,
        )

        self._poem_list(player, lay)
        self._cue_grid(player, lay)
        self._side(player, lay)

    def _button(
        self,
        rect: Rect,
        label: str,
        colour: Color,
        make: Callable[[], Action | None],
        *,
        text_colour: Color = BLACK,
    ) -> None:
        c = self.canvas
        lay = self.layout
        assert lay is not None
        c.rect(rect, colour)
        c.frame(rect, TEXT if colour is PANEL else colour, max(1.0, 2 * lay.scale))
        c.text(
            rect.centre[0],
            rect.y + (rect.h - line_height(lay.big)) / 2,
            label,
            lay.big,
            text_colour,
            align="centre",
            max_width=rect.w,
        )
        self._hits.append((rect, make))

    def _poem_list(self, player: Any, lay: Layout) -> None:
        """The poems, titles wrapped (never cut), scrolled to keep the standby's poem in view."""
        c = self.canvas
        show = player.show
        cues = show.cues
        state = player.status
        area = lay.poems
        s = lay.scale
        c.rect(area, PANEL)
        c.text(area.x + 8 * s, area.y + 4 * s, "POEMS", lay.small, DIM)
        mid_h = line_height(lay.mid)
        top = area.y + line_height(lay.small) + 8 * s
        room = area.w - 20 * s
        numbers = [f"{p.id}  " for p in show.poems]
        indents = [text_width(n, lay.mid) for n in numbers]
        texts = [
            wrap(p.title, lay.mid, max(room / 2, room - indent))
            for p, indent in zip(show.poems, indents, strict=True)
        ]
        heights = [len(t) * mid_h + 8 * s for t in texts]
        live_poem = cues[state.live].poem_id if state.live is not None else None
        standby_poem = cues[state.standby].poem_id if state.standby is not None else None
        ids = [p.id for p in show.poems]
        focus = ids.index(standby_poem) if standby_poem in ids else 0
        first, last = visible_rows(heights, focus, area.y + area.h - top)
        self.poem_lines = {}
        y = top
        for k in range(first, last):
            poem = show.poems[k]
            r = Rect(area.x, y, area.w, heights[k])
            y += heights[k]
            if poem.id == standby_poem:
                c.rect(r, (0.08, 0.3, 0.14, 1.0))
            if poem.id == live_poem:
                c.rect(Rect(r.x, r.y, 6 * s, r.h), RED)
            colour = GREEN if poem.id == standby_poem else TEXT
            c.text(r.x + 14 * s, r.y + 4 * s, numbers[k], lay.mid, colour)
            for n, line in enumerate(texts[k]):  # a hanging indent under the title
                c.text(r.x + 14 * s + indents[k], r.y + 4 * s + n * mid_h, line, lay.mid, colour)
            self.poem_lines[poem.id] = texts[k]
            pid = poem.id
            self._hits.append((r, self._plain(lambda pid=pid: _click("standby", pid))))

    def _cue_grid(self, player: Any, lay: Layout) -> None:
        """The live cue's poem, and under it the standby cue's poem when that is another."""
        cues = player.show.cues
        state = player.status
        self.thumb_rects = {}
        self.grid_poems = []
        poem_ids = [
            cues[i].poem_id
            for i in (state.live, state.standby)
            if i is not None and 0 <= i < len(cues)
        ]
        poem_ids = list(dict.fromkeys(poem_ids))
        if not poem_ids:
            return
        area = lay.cues
        if len(poem_ids) == 1:
            self._cue_section(player, lay, poem_ids[0], area, None)
            return
        by_id = {p.id: p for p in player.show.poems}
        counts = [max(1, len(by_id[pid].cues)) for pid in poem_ids]
        gap = 10 * lay.scale
        top_h = (area.h - gap) * max(0.35, min(0.65, counts[0] / sum(counts)))
        self._cue_section(
            player, lay, poem_ids[0], Rect(area.x, area.y, area.w, top_h), ("LIVE", RED)
        )
        self._cue_section(
            player,
            lay,
            poem_ids[1],
            Rect(area.x, area.y + top_h + gap, area.w, area.h - top_h - gap),
            ("NEXT", GREEN),
        )

    def _cue_section(
        self,
        player: Any,
        lay: Layout,
        poem_id: str,
        area: Rect,
        tag: tuple[str, Color] | None,
    ) -> None:
        """One poem's heading and cue thumbnails in `area`."""
        c = self.canvas
        show = player.show
        state = player.status
        poem = next(p for p in show.poems if p.id == poem_id)
        first = show.cue_index(poem_id)
        assert first is not None
        self.grid_poems.append(poem_id)
        size = lay.big if tag is None else lay.mid
        head = line_height(size) + 8 * lay.scale
        x = area.x
        if tag is not None:
            x += c.text(x, area.y, tag[0], size, tag[1]) + 10 * lay.scale
        c.text(
            x,
            area.y,
            f"POEM {poem.id}  {poem.title}",
            size,
            TEXT,
            max_width=area.x + area.w - x,
        )
        label_h = line_height(lay.small) + 6 * lay.scale
        grid = Rect(area.x, area.y + head, area.w, area.h - head)
        rects = thumbnail_grid(
            grid, len(poem.cues), self.output.width / self.output.height, label_h, 12 * lay.scale
        )
        border = max(2.0, 5 * lay.scale)
        for k, (cue, r) in enumerate(zip(poem.cues, rects, strict=False)):
            index = first + k
            self.thumb_rects[index] = r
            th = self.thumbs.get(self.ctx, index, cue)
            if th.texture is not None:
                c.image(r, th.texture, top_row_first=th.top_row_first)
            else:
                c.rect(r, PANEL)
                word = "…" if th.job is not None else cue.kind.value.upper()
                c.text(
                    r.centre[0],
                    r.centre[1] - line_height(lay.mid) / 2,
                    word,
                    lay.mid,
                    DIM,
                    align="centre",
                    max_width=r.w,
                )
            if index == state.live:
                c.frame(r.inset(-border), RED, border)
            if index == state.standby:
                c.frame(r.inset(-border) if index != state.live else r, GREEN, border)
            c.text(
                r.x,
                r.y + r.h + 3 * lay.scale,
                f"{cue.id}  {cue.kind.value}",
                lay.small,
                TEXT,
                max_width=r.w,
            )
            hit = Rect(r.x, r.y, r.w, r.h + label_h)
            self._hits.append(
                (
                    hit,
                    self._plain(lambda pid=cue.poem_id, cid=cue.id: _click("standby", pid, cid)),
                )
            )

    def _side(self, player: Any, lay: Layout) -> None:
        c = self.canvas
        s = lay.scale
        area = lay.side
        state = player.status
        x, y, w = area.x, area.y, area.w
        mid, small = lay.mid, lay.small
        mid_h, small_h = line_height(mid), line_height(small)
        gap = 10 * s

        def heading(text: str, colour: Color = DIM) -> None:
            nonlocal y
            c.text(x, y, text, small, colour)
            y += small_h + 2 * s

        # a hint of the keys (Esc or b armed), then the performer's aids: the follow's
        # countdown, the notes, each wrapped onto as many lines as it needs
        self.notes_lines = []
        if state.hint:
            for line in wrap(state.hint, mid, w):
                c.text(x, y, line, mid, AMBER)
                y += mid_h + 2 * s
            y += gap
        notes_bottom = area.y + area.h / 2
        step = small_h + 2 * s
        for label, text in performer_notes(player.show, state):
            colour = BLUE if label == "FOLLOW" else AMBER
            lw = c.text(x, y, label, small, colour)
            room = w - lw - 8 * s
            dynamic = label == "FOLLOW"  # a countdown: laid out from cached glyphs
            lines = list(wrap(text, small, room))
            fit = max(2, int((notes_bottom - y) // step))
            if len(lines) > fit:
                more = len(lines) - fit + 1
                lines = [*lines[: fit - 1], f"(+{more} more lines)"]
            for line in lines:
                c.text(x + lw + 8 * s, y, line, small, TEXT, dynamic=dynamic)
                y += step
            self.notes_drawn.append((label, text))
            self.notes_lines.extend(lines)
        if self.notes_drawn:
            y += gap

        # master, blackout, panic
        heading("MASTER")
        bar = Rect(x, y, w, mid_h + 6 * s)
        c.rect(bar, PANEL)
        c.rect(
            Rect(bar.x, bar.y, bar.w * max(0.0, min(1.0, state.master)), bar.h),
            (0.45, 0.45, 0.5, 1.0),
        )
        c.text(bar.x + 8 * s, bar.y + 3 * s, f"{state.master * 100:.0f}%", mid, TEXT, dynamic=True)
        y += bar.h + gap
        half = (w - gap) / 2
        panic = state.panic
        for k, (name, on, colour) in enumerate(
            (("BLACKOUT", state.blackout, RED), ("PANIC", panic, AMBER))
        ):
            r = Rect(x + k * (half + gap), y, half, mid_h + 10 * s)
            c.rect(r, colour if on else PANEL)
            c.text(
                r.centre[0],
                r.y + 5 * s,
                name,
                mid,
                BLACK if on else DIM,
                align="centre",
                max_width=r.w,
            )
        y += mid_h + 10 * s + gap

        # layers
        heading("LAYERS")
        for la in state.layers or (LayerStatus(1),):
            c.text(
                x,
                y,
                f"L{la.layer}  {la.opacity * 100:3.0f}%  x{la.rate:.2f}",
                mid,
                TEXT,
                max_width=w,
                dynamic=True,
            )
            y += mid_h + 2 * s
        y += gap

        # fps, dropped frames, frame-time graph
        dropped = state.dropped
        fps = player.show.output.fps
        heading("FRAMES")
        c.text(x, y, f"{state.fps:5.1f} fps", mid, TEXT, dynamic=True)
        c.text(
            x + w,
            y,
            f"dropped {dropped}",
            mid,
            AMBER if dropped else TEXT,
            align="right",
            dynamic=True,
        )
        y += mid_h + 4 * s
        graph = Rect(x, y, w, 70 * s)
        c.rect(graph, PANEL)
        budget = 1.0 / fps
        top_ms = 3.0 * budget
        samples = self.times.last(GRAPH_FRAMES)
        bw = graph.w / GRAPH_FRAMES
        for i, dt in enumerate(samples):
            hgt = graph.h * min(1.0, dt / top_ms)
            colour = GREEN if dt <= 1.5 * budget else RED
            c.rect(Rect(graph.x + i * bw, graph.y + graph.h - hgt, max(1.0, bw - 1), hgt), colour)
        line_y = graph.y + graph.h - graph.h / 3.0  # one frame period
        c.rect(Rect(graph.x, line_y, graph.w, 1), DIM)
        y += graph.h + 2 * s
        p95 = self.times.percentile(95) * 1000.0
        c.text(
            x,
            y,
            f"p95 {p95:.1f} ms   view {self.draw_ms:.1f} ms",
            small,
            DIM,
            max_width=w,
            dynamic=True,
        )
        y += small_h + gap

        # inputs
        heading("INPUTS")
        pads = ", ".join(state.pads)
        c.text(x, y, f"pad: {pads or 'none'}", mid, TEXT if pads else DIM, max_width=w)
        y += mid_h + 2 * s
        clients = state.osc_clients
        label = f"OSC: {len(clients)} client(s)" if state.osc_on else "OSC off"
        c.text(x, y, label, mid, TEXT, max_width=w)
        y += mid_h + 2 * s
        for address in clients[:3]:
            c.text(x + 12 * s, y, address, small, DIM, max_width=w - 12 * s)
            y += small_h + 2 * s
        y += gap

        # the web console's address as a QR code, for a tablet's camera (bottom right)
        bottom = area.y + area.h
        self.qr_rect = None
        url = getattr(getattr(player, "web", None), "url", None)
        if url:
            size = min(w, 150 * s, max(0.0, bottom - y - 3 * small_h))
            if size >= 60:
                self.qr_rect = Rect(x + w - size, bottom - size, size, size)
                c.image(self.qr_rect, self._qr_texture(url), top_row_first=True)
                bottom -= size + gap
                c.text(x + w, bottom - small_h, "CONSOLE", small, DIM, align="right")
                bottom -= small_h + gap

        # warnings: media errors, refused OSC clients
        warnings = state.warnings
        heading(
            f"WARNINGS ({len(warnings)})" if warnings else "WARNINGS", AMBER if warnings else DIM
        )
        room = int((bottom - y) // (small_h + 2 * s))
        for message in warnings[-room:] if room > 0 else []:
            c.text(x, y, message, small, AMBER, max_width=w)
            y += small_h + 2 * s

    def _qr_texture(self, url: str) -> moderngl.Texture:
        """The QR code of `url` as a texture of this view's context, made once per url."""
        if self._qr is not None and self._qr[0] == url:
            return self._qr[1]
        if self._qr is not None:
            self._qr[1].release()
        light = ~qr_modules(url)
        pixels = np.repeat((light * 255).astype(np.uint8)[:, :, None], 3, axis=2)
        n = pixels.shape[0]
        tex = self.ctx.texture((n, n), 3, np.ascontiguousarray(pixels).tobytes(), alignment=1)
        tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._qr = (url, tex)
        return tex

    # --- read-back and release --------------------------------------------------------

    def read_pixels(self) -> np.ndarray:
        """The last drawn view: (H, W, 3) uint8, top row first (for tests and screenshots)."""
        self._use_operator()
        try:
            if self.offscreen:
                assert self.fbo is not None
                fbo = self.fbo
                copy = None
            else:
                # the window's default framebuffer is copied out: reading it directly is not
                # allowed on every driver
                copy = self.ctx.simple_framebuffer(self._size())
                self.ctx.copy_framebuffer(copy, self._target)
                fbo = copy
            w, h = fbo.size
            data = fbo.read(components=3, alignment=1)
            if copy is not None:
                release_framebuffer(copy)
            return np.frombuffer(data, np.uint8).reshape(h, w, 3)[::-1].copy()
        finally:
            self._use_output()

    def close(self) -> None:
        """Release everything and close the window (before the output closes: it ends glfw)."""
        if self.ctx is None:
            return
        self._use_operator()
        self.canvas.release()
        if self._qr is not None:
            self._qr[1].release()
            self._qr = None
        self._use_output()
        self.thumbs.release()
        self._compositor.release()
        release_framebuffer(self._preview_fbo)
        if self.offscreen:
            if self.fbo is not None:
                release_framebuffer(self.fbo)
                self.fbo = None
        else:
            self._glfw.make_context_current(self._window)
            self.ctx.release()
            self.output.make_current()
            self._glfw.destroy_window(self._window)
            self._window = None
        self.ctx = None  # type: ignore[assignment]
