"""`python -m app testcard`: a projector calibration pattern, shown through the venue's warp.

The card (`shaders/testcard.glsl`) has a grid through the centre, a border on the raster's
edge, circles (round on the wall when the aspect is right), colour bars, a greyscale ramp and
11 grey steps, a frame-rate track whose lit slot moves one step per frame (a skipped frame
shows as a jump), corner markers 1-4 (top-left red, top-right green, bottom-right blue,
bottom-left yellow: the corners the warp editor moves) and the text "1920x1080 @ 60 fps".

In the window, `1`-`4` select a corner, the arrows move it by a pixel (ten with shift), `F8`
puts it back, `F5` saves the venue file, Esc or `q` quits.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import moderngl
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.render.programs import load_program
from app.render.warp import (
    Venue,
    VenueError,
    Warp,
    WarpEditor,
    default_venue_path,
    load_venue,
    parse_monitor,
    save_venue,
)

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, y down, end exclusive

BAR_COLOURS = (
    (255, 255, 255),
    (255, 255, 0),
    (0, 255, 255),
    (0, 255, 0),
    (255, 0, 255),
    (255, 0, 0),
    (0, 0, 255),
    (0, 0, 0),
)
MARKER_COLOURS = ((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0))  # TL, TR, BR, BL


@dataclass(frozen=True)
class CardLayout:
    """Where everything on the card is, in pixels (y down); the shader and tests share it."""

    width: int
    height: int
    cell: int  # grid pitch
    line: int  # line width
    marker: int  # corner marker size
    radius: float  # big circle
    bars: Rect
    ramp: Rect  # upper half smooth, lower half 11 steps
    track: Rect
    label_at: tuple[int, int]  # centre of the text


def card_layout(width: int, height: int) -> CardLayout:
    """The layout of a `width` x `height` card."""
    if width < 16 or height < 16:
        raise ValueError(f"a test card needs at least 16x16 pixels, got {width}x{height}")
    cell = max(4, round(min(width, height) / 9))
    line = max(1, round(height / 540))
    cx, cy = width // 2, height // 2
    half = int(min(5 * cell, width / 2 - cell))
    return CardLayout(
        width=width,
        height=height,
        cell=cell,
        line=line,
        marker=max(2, cell // 2),
        radius=min(4.25 * cell, min(width, height) / 2 - 2 * line),
        bars=(cx - half, cy - 2 * cell, cx + half, cy),
        ramp=(cx - half, cy, cx + half, cy + cell),
        track=(cx - half, cy + 3 * cell // 2, cx + half, cy + 2 * cell),
        label_at=(cx, cy - 3 * cell),
    )


def card_label(width: int, height: int, fps: float) -> str:
    """The card's text, e.g. '1920x1080 @ 60 fps'."""
    return f"{width}x{height} @ {fps:g} fps"


def text_overlay(layout: CardLayout, label: str) -> np.ndarray:
    """The card's text as a premultiplied RGBA image (H, W, 4), top row first: the label in
    white with a black outline, and the corner numbers in black on the markers."""
    size = (layout.width, layout.height)
    cover = Image.new("L", size, 0)  # everything drawn, outline included
    white = Image.new("L", size, 0)  # the white part
    font = ImageFont.load_default(size=max(8, round(0.6 * layout.cell)))
    stroke = max(1, layout.cell // 30)
    ImageDraw.Draw(cover).text(
        layout.label_at, label, font=font, anchor="mm", fill=255, stroke_width=stroke
    )
    ImageDraw.Draw(white).text(layout.label_at, label, font=font, anchor="mm", fill=255)
    m = layout.marker
    if m >= 16:
        small = ImageFont.load_default(size=round(0.8 * m))
        places = ((0, 0), (layout.width - m, 0), (layout.width - m, layout.height - m),
                  (0, layout.height - m))  # fmt: skip
        draw = ImageDraw.Draw(cover)
        for n, (x, y) in enumerate(places, start=1):
            draw.text((x + m / 2, y + m / 2), str(n), font=small, anchor="mm", fill=255)
    alpha = np.asarray(cover)
    rgb = np.minimum(np.asarray(white), alpha)
    return np.dstack([rgb, rgb, rgb, alpha]).astype(np.uint8)


class TestCard:
    """Draws the card into a framebuffer (GL, main thread). `draw(fbo, frame)` per frame."""

    __test__ = False  # not a pytest class

    def __init__(self, ctx: moderngl.Context, width: int, height: int, fps: float) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.ctx = ctx
        self.layout = card_layout(width, height)
        self.label = card_label(width, height, fps)
        lay = self.layout
        self._prog = load_program(ctx, "testcard")
        values = {
            "u_size": (float(width), float(height)),
            "u_cell": lay.cell,
            "u_line": lay.line,
            "u_marker": lay.marker,
            "u_bars": tuple(map(float, lay.bars)),
            "u_ramp": tuple(map(float, lay.ramp)),
            "u_track": tuple(map(float, lay.track)),
            "u_slots": max(1, round(fps)),
            "u_radius": float(lay.radius),
            "u_overlay": 0,
        }
        for name, value in values.items():
            self._prog[name].value = value
        overlay = text_overlay(lay, self.label)
        # GL rows go bottom to top
        self._overlay = ctx.texture((width, height), 4, overlay[::-1].tobytes(), alignment=1)
        self._overlay.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self._vao = ctx.vertex_array(self._prog, [])

    def draw(self, fbo: moderngl.Framebuffer, frame: int = 0) -> None:
        """Draw frame number `frame` of the card into `fbo` (which must be the card's size)."""
        fbo.use()
        self.ctx.viewport = (0, 0, self.layout.width, self.layout.height)
        self.ctx.disable(moderngl.BLEND | moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        self._prog["u_frame"].value = frame
        self._overlay.use(location=0)
        self._vao.render(moderngl.TRIANGLE_STRIP, vertices=4)

    def release(self) -> None:
        self._vao.release()
        self._overlay.release()


def render_testcard(
    width: int,
    height: int,
    fps: float,
    *,
    frame: int = 0,
    warp: Warp | None = None,
    ctx: moderngl.Context | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One frame headless: (the card, the card as presented through `warp`), (H, W, 3)."""
    from app.render.outputs import HeadlessOutput

    output = HeadlessOutput(width, height, ctx=ctx, warp=warp)
    card = TestCard(output.ctx, width, height, fps)
    try:
        output.begin_frame()
        card.draw(output.fbo, frame)
        output.end_frame()
        return output.read_pixels(), output.read_presented()
    finally:
        card.release()
        output.close()


def testcard_command(args: argparse.Namespace) -> int:
    """`python -m app testcard`: the card in a window (or headless, or one frame to --out)."""
    from app.show.model import DEMO_SHOW

    width, height, fps = args.width, args.height, args.fps
    try:
        card_layout(width, height)
        if fps <= 0:
            raise ValueError(f"--fps must be positive, got {fps:g}")
        monitor = parse_monitor(getattr(args, "monitor", None))
    except ValueError as exc:
        print(f"testcard: {exc}", file=sys.stderr)
        return 2
    venue_path = Path(getattr(args, "venue", None) or default_venue_path(DEMO_SHOW))
    try:
        venue = load_venue(venue_path, missing_ok=True)
    except VenueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if monitor is None:
        monitor = venue.output_monitor
    headless = args.headless or args.out is not None
    if headless:
        return _headless(args, venue.warp, width, height, fps)
    return _window(args, venue, venue_path, monitor, width, height, fps)


def _presented_warp(warp: Warp) -> Warp | None:
    # the identity warp is shown like a show without a venue file: letterboxed
    return None if warp.is_identity else warp


def _headless(args: argparse.Namespace, warp: Warp, width: int, height: int, fps: float) -> int:
    from app.render.outputs import HeadlessOutput, OutputError

    frames = args.frames if args.frames is not None else 1
    try:
        output = HeadlessOutput(width, height, warp=_presented_warp(warp))
    except OutputError as exc:
        print(f"output: {exc}", file=sys.stderr)
        return 2
    card = TestCard(output.ctx, width, height, fps)
    try:
        for frame in range(max(1, frames)):
            output.begin_frame()
            card.draw(output.fbo, frame)
            output.end_frame()
        if args.out is not None:
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(output.read_presented()).save(out)
            print(f"wrote {out} ({card.label})")
        else:
            print(f"rendered {max(1, frames)} frames of the test card ({card.label})")
    finally:
        card.release()
        output.close()
    return 0


def _window(
    args: argparse.Namespace,
    venue: Venue,
    venue_path: Path,
    monitor: int | str | None,
    width: int,
    height: int,
    fps: float,
) -> int:
    from app.clock import FrameClock
    from app.render.outputs import GlfwOutput, OutputError

    editor = WarpEditor(venue.warp, width=width, height=height)
    try:
        output = GlfwOutput(
            width,
            height,
            fullscreen=getattr(args, "fullscreen", False),
            monitor=monitor,
            title="testcard",
            warp=_presented_warp(editor.warp),
        )
    except OutputError as exc:
        print(f"output: {exc}", file=sys.stderr)
        return 2
    card = TestCard(output.ctx, width, height, fps)
    print(
        f"test card {card.label}; 1-4 select a corner, arrows move it (shift: x10), "
        f"F8 resets it, F5 saves {venue_path}, Esc quits",
        file=sys.stderr,
    )
    clock = FrameClock()
    clock.start()
    frame = 0
    try:
        while not output.should_close and (args.frames is None or frame < args.frames):
            for event in output.poll_events():
                outcome = editor.handle(event)
                if outcome == "save":
                    save_venue(venue_path, Venue(editor.warp, monitor, venue.operator_monitor))
                    print(f"saved {venue_path}", file=sys.stderr)
                elif outcome is not None:
                    print(editor.describe(), file=sys.stderr)
                elif event.action == "press" and event.key in ("escape", "q"):
                    return 0
            output.warp = _presented_warp(editor.warp)
            output.begin_frame()
            card.draw(output.fbo, frame)
            output.end_frame()
            frame += 1
            clock.wait_next_frame(fps)
    finally:
        card.release()
        output.close()
    return 0
