"""A small immediate-mode 2D canvas for the operator view: rectangles, text and images.

Each redraw is `begin(width, height)`, any number of `rect` / `frame` / `text` / `image`
calls in painting order, then `end(target)`. All quads go into one vertex buffer; quads
that sample the text atlas (text and solid rectangles) are drawn together, so a whole view
is one buffer upload and a handful of draw calls (one per image, one per run of atlas quads
between images), which matters on a software rasteriser.

Text is rendered by Pillow with FreeType in DejaVu Sans (`app/render/fonts/`, shipped with its
licence: Pillow's bundled default font has no glyph for "ä", and the show's titles are German)
once per (string, size) into a one-channel atlas texture and reused while it stays there;
the atlas starts over, between two redraws, when it is mostly full. Coordinates are pixels
of the target with the origin at the top left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import moderngl
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from app.render.programs import load_program

Color = tuple[float, float, float, float]

# High contrast on near-black: readable in a dark hall, without lighting the performer's face.
BACKGROUND: Color = (0.04, 0.04, 0.05, 1.0)
PANEL: Color = (0.11, 0.11, 0.13, 1.0)
TEXT: Color = (0.95, 0.95, 0.95, 1.0)
DIM: Color = (0.62, 0.62, 0.66, 1.0)
RED: Color = (1.0, 0.16, 0.14, 1.0)
GREEN: Color = (0.16, 0.9, 0.35, 1.0)
AMBER: Color = (1.0, 0.72, 0.1, 1.0)
BLUE: Color = (0.3, 0.55, 1.0, 1.0)

ATLAS_SIZE = (2048, 1024)
_WHITE = 4  # side of the solid block at the atlas origin that rectangles sample
_RESET_FILL = 0.75  # fraction of the atlas height in use that makes the next redraw start over
_FLOATS = 8  # x, y, u, v, r, g, b, a


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle in pixels (origin top left)."""

    x: float
    y: float
    w: float
    h: float

    def contains(self, px: float, py: float) -> bool:
        return self.x <= px < self.x + self.w and self.y <= py < self.y + self.h

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)

    def inset(self, d: float) -> Rect:
        return Rect(self.x + d, self.y + d, max(0.0, self.w - 2 * d), max(0.0, self.h - 2 * d))

    def fit(self, aspect: float) -> Rect:
        """The largest rectangle of width/height `aspect` centred inside this one."""
        if self.w <= 0 or self.h <= 0 or aspect <= 0:
            return self
        w, h = self.w, self.w / aspect
        if h > self.h:
            w, h = self.h * aspect, self.h
        return Rect(self.x + (self.w - w) / 2, self.y + (self.h - h) / 2, w, h)


FONT_FILE = Path(__file__).resolve().parent / "fonts" / "DejaVuSans.ttf"
_NOT_A_CHARACTER = "\U0010ffff"  # never in a font's cmap: it draws the font's .notdef glyph


@lru_cache(maxsize=32)
def font(size: int) -> ImageFont.FreeTypeFont:
    """The view's font (DejaVu Sans, Latin Extended and more) at `size` pixels."""
    return ImageFont.truetype(str(FONT_FILE), size=size)


def missing_glyphs(
    text: str, size: int = 24, *, face: ImageFont.FreeTypeFont | None = None
) -> list[str]:
    """The characters of `text` that the view's font (or `face`) has no glyph for, each once,
    in order: FreeType draws those with glyph 0, the .notdef box, so their mask is the box's."""
    f = face if face is not None else font(size)

    def mask(ch: str) -> tuple[tuple[int, int], bytes]:
        m = f.getmask(ch)
        return m.size, bytes(m)

    notdef = mask(_NOT_A_CHARACTER)
    out: list[str] = []
    for ch in dict.fromkeys(text):
        if not ch.isspace() and ch.isprintable() and mask(ch) == notdef:
            out.append(ch)
    return out


@lru_cache(maxsize=4096)
def text_width(text: str, size: int) -> float:
    """Advance width of `text` at `size` pixels."""
    return float(font(size).getlength(text))


def line_height(size: int) -> int:
    """Height of one line of text at `size` pixels (ascent + descent)."""
    ascent, descent = font(size).getmetrics()
    return int(ascent + descent)


def render_text(text: str, size: int) -> np.ndarray:
    """`text` as an (H, W) uint8 coverage mask, top row first, one line high."""
    w = max(1, math.ceil(text_width(text, size))) + 2
    img = Image.new("L", (w, max(1, line_height(size))), 0)
    ImageDraw.Draw(img).text((1, 0), text, font=font(size), fill=255)
    return np.asarray(img, dtype=np.uint8)


@lru_cache(maxsize=2048)
def elide(text: str, size: int, max_width: float) -> str:
    """`text`, cut and ended with an ellipsis when it is wider than `max_width`."""
    if text_width(text, size) <= max_width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(text[:mid] + "…", size) <= max_width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo] + "…" if lo else ""


@lru_cache(maxsize=1024)
def wrap(text: str, size: int, max_width: float) -> tuple[str, ...]:
    """`text` broken into lines no wider than `max_width`: at spaces where it can, inside a
    word only when the word alone is wider; every character is kept (nothing is cut)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width(candidate, size) <= max_width:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while len(line) > 1 and text_width(line, size) > max_width:
                cut = len(line) - 1
                while cut > 1 and text_width(line[:cut], size) > max_width:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return tuple(lines)


@lru_cache(maxsize=512)
def _glyph_offsets(text: str, size: int) -> list[tuple[str, float]]:
    """Each non-blank character of `text` with its x offset (advances, no kerning)."""
    out = []
    x = 0.0
    for ch in text:
        if not ch.isspace():
            out.append((ch, x))
        x += text_width(ch, size)
    return out


class TextAtlas:
    """Rendered strings packed in shelves into one R8 texture (with a solid block at 0, 0)."""

    def __init__(self, ctx: moderngl.Context, size: tuple[int, int] = ATLAS_SIZE) -> None:
        self.ctx = ctx
        self.size = size
        self.texture = ctx.texture(size, 1, alignment=1)
        self.texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
        self.texture.repeat_x = False
        self.texture.repeat_y = False
        self.resets = 0
        self._reset()

    def _reset(self) -> None:
        self._entries: dict[tuple[str, int], tuple[int, int, int, int]] = {}
        # shelves: [y, height, next free x]
        self._shelves: list[list[int]] = [[0, _WHITE, _WHITE + 1]]
        self._bottom = _WHITE + 1
        self.texture.write(
            np.full((_WHITE, _WHITE), 255, np.uint8), viewport=(0, 0, _WHITE, _WHITE), alignment=1
        )

    @property
    def white_uv(self) -> tuple[float, float]:
        """A texture coordinate inside the solid block (for rectangles)."""
        return (_WHITE / 2 / self.size[0], _WHITE / 2 / self.size[1])

    def maybe_reset(self) -> None:
        """Start over when mostly full (call between redraws: it invalidates every entry)."""
        if self._bottom > _RESET_FILL * self.size[1]:
            self.resets += 1
            self._reset()

    def get(self, text: str, size: int) -> tuple[int, int, int, int] | None:
        """(x, y, w, h) of the string in the atlas, rendering it on first use; None when full."""
        key = (text, size)
        entry = self._entries.get(key)
        if entry is not None:
            return entry
        mask = render_text(text, size)
        h, w = mask.shape
        aw, ah = self.size
        if w > aw:
            mask = mask[:, :aw]
            w = aw
        spot = None
        for shelf in self._shelves:
            if h <= shelf[1] <= h + h // 4 + 1 and shelf[2] + w <= aw:
                spot = (shelf[2], shelf[0])
                shelf[2] += w + 1
                break
        if spot is None:
            if self._bottom + h > ah:
                return None
            spot = (0, self._bottom)
            self._shelves.append([self._bottom, h, w + 1])
            self._bottom += h + 1
        entry = (spot[0], spot[1], w, h)
        self.texture.write(np.ascontiguousarray(mask), viewport=entry, alignment=1)
        self._entries[key] = entry
        return entry

    def release(self) -> None:
        self.texture.release()


class UiCanvas:
    """Draws batched quads into a framebuffer of a given context (see the module docstring).

    `image` accepts a texture of any context that shares objects with `ctx`.
    """

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.atlas = TextAtlas(ctx)
        self._prog = load_program(ctx, "ui")
        self._prog["u_texture"].value = 0
        self._capacity = 1024  # quads
        self._vbo = ctx.buffer(reserve=self._capacity * 6 * _FLOATS * 4, dynamic=True)
        self._vao = self._make_vao()
        self.width = 1
        self.height = 1
        self._quads: list[tuple[float, ...]] = []
        # runs of quads: (texture or None for the atlas, first quad, count)
        self._runs: list[list] = []
        self.draw_calls = 0

    def _make_vao(self) -> moderngl.VertexArray:
        return self.ctx.vertex_array(
            self._prog, [(self._vbo, "2f 2f 4f", "in_pos", "in_uv", "in_color")]
        )

    # --- building a frame -------------------------------------------------------------

    def begin(self, width: int, height: int) -> None:
        """Start a redraw of a `width` x `height` target."""
        self.atlas.maybe_reset()
        self.width, self.height = max(1, width), max(1, height)
        self._quads = []
        self._runs = []

    def _add(self, texture: moderngl.Texture | None, quad: tuple[float, ...]) -> None:
        if self._runs and self._runs[-1][0] is texture:
            self._runs[-1][2] += 1
        else:
            self._runs.append([texture, len(self._quads), 1])
        self._quads.append(quad)

    def rect(self, r: Rect, color: Color) -> None:
        """A filled rectangle."""
        if r.w <= 0 or r.h <= 0:
            return
        u, v = self.atlas.white_uv
        self._add(None, (r.x, r.y, r.x + r.w, r.y + r.h, u, v, u, v, *color))

    def frame(self, r: Rect, color: Color, width: float = 2.0) -> None:
        """The outline of a rectangle, `width` pixels thick, drawn inside it."""
        w = min(width, r.w / 2, r.h / 2)
        self.rect(Rect(r.x, r.y, r.w, w), color)
        self.rect(Rect(r.x, r.y + r.h - w, r.w, w), color)
        self.rect(Rect(r.x, r.y + w, w, r.h - 2 * w), color)
        self.rect(Rect(r.x + r.w - w, r.y + w, w, r.h - 2 * w), color)

    def text(
        self,
        x: float,
        y: float,
        text: str,
        size: int,
        color: Color = TEXT,
        *,
        align: str = "left",
        max_width: float | None = None,
        dynamic: bool = False,
    ) -> float:
        """One line of text with its top at `y`; `align` 'left', 'centre' or 'right' of `x`.

        `dynamic` text (numbers that change every redraw) is laid out glyph by glyph from
        cached single characters, so that it never writes to the atlas once warm: a write to
        a texture the GPU may still be reading can wait for the whole queue on some drivers.
        Returns the drawn width (0 when nothing fits).
        """
        size = max(6, int(size))
        if max_width is not None:
            text = elide(text, size, round(max_width))
        if not text:
            return 0.0
        width = text_width(text, size) if dynamic else None
        if not dynamic:
            entry = self.atlas.get(text, size)
            if entry is None:
                return 0.0
            width = entry[2]
        assert width is not None
        if align == "centre":
            x -= width / 2
        elif align == "right":
            x -= width
        y = round(y)
        aw, ah = self.atlas.size
        pieces = [(text, 0.0)] if not dynamic else _glyph_offsets(text, size)
        for piece, dx in pieces:
            entry = self.atlas.get(piece, size)
            if entry is None:
                continue
            ax, ay, w, h = entry
            qx = round(x + dx)
            self._add(
                None,
                (qx, y, qx + w, y + h, ax / aw, ay / ah, (ax + w) / aw, (ay + h) / ah, *color),
            )
        return float(width)

    def image(
        self,
        r: Rect,
        texture: moderngl.Texture,
        *,
        top_row_first: bool,
        tint: Color = (1.0, 1.0, 1.0, 1.0),
    ) -> None:
        """A texture stretched over `r`. Textures rendered by GL have their bottom row first."""
        if r.w <= 0 or r.h <= 0:
            return
        v0, v1 = (0.0, 1.0) if top_row_first else (1.0, 0.0)
        self._add(texture, (r.x, r.y, r.x + r.w, r.y + r.h, 0.0, v0, 1.0, v1, *tint))

    # --- drawing it -------------------------------------------------------------------

    def _vertices(self) -> np.ndarray:
        q = np.asarray(self._quads, dtype="f4").reshape(-1, 12)
        x0, y0, x1, y1, u0, v0, u1, v1 = (q[:, i] for i in range(8))
        col = q[:, 8:12]
        # two triangles per quad: (0,0) (1,0) (0,1), (1,0) (1,1) (0,1)
        xs = np.stack([x0, x1, x0, x1, x1, x0], axis=1)
        ys = np.stack([y0, y0, y1, y0, y1, y1], axis=1)
        us = np.stack([u0, u1, u0, u1, u1, u0], axis=1)
        vs = np.stack([v0, v0, v1, v0, v1, v1], axis=1)
        out = np.empty((len(q), 6, _FLOATS), dtype="f4")
        out[..., 0], out[..., 1], out[..., 2], out[..., 3] = xs, ys, us, vs
        out[..., 4:] = col[:, None, :]
        return out

    def end(self, target: moderngl.Framebuffer, clear: Color = BACKGROUND) -> None:
        """Draw everything added since `begin` into `target` (cleared first)."""
        ctx = self.ctx
        target.use()
        ctx.viewport = (0, 0, self.width, self.height)
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        target.clear(*clear)
        self.draw_calls = 0
        if not self._quads:
            return
        if len(self._quads) > self._capacity:
            while self._capacity < len(self._quads):
                self._capacity *= 2
            self._vao.release()
            self._vbo.release()
            self._vbo = ctx.buffer(reserve=self._capacity * 6 * _FLOATS * 4, dynamic=True)
            self._vao = self._make_vao()
        data = self._vertices()
        self._vbo.orphan(self._capacity * 6 * _FLOATS * 4)
        self._vbo.write(data.tobytes())
        self._prog["u_viewport"].value = (float(self.width), float(self.height))
        # colour blends; the target's alpha stays opaque (a window must not turn see-through)
        ctx.blend_func = (
            moderngl.SRC_ALPHA,
            moderngl.ONE_MINUS_SRC_ALPHA,
            moderngl.ZERO,
            moderngl.ONE,
        )
        try:
            for texture, first, count in self._runs:
                if texture is None:
                    ctx.enable(moderngl.BLEND)
                    self.atlas.texture.use(location=0)
                    self._prog["u_mode"].value = 0
                else:
                    # images are opaque: no blending, no read of the target
                    ctx.disable(moderngl.BLEND)
                    texture.use(location=0)
                    self._prog["u_mode"].value = 1
                self._vao.render(moderngl.TRIANGLES, vertices=count * 6, first=first * 6)
                self.draw_calls += 1
        finally:
            ctx.disable(moderngl.BLEND)
            ctx.blend_func = moderngl.DEFAULT_BLENDING

    def release(self) -> None:
        """Free the buffer, vertex array and atlas (the program belongs to the cache)."""
        self._vao.release()
        self._vbo.release()
        self.atlas.release()
