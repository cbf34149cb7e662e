"""GPU images the compositor draws: RGBA stills, YUV video frames, premultiplied float images.

Orientation: `RgbaTexture` and `YuvTextures` keep numpy's order (texture row 0 is the image's
top row); a `PremulTexture` says which way it is stored, since images rendered by GL into a
framebuffer have their bottom row first.
"""

from __future__ import annotations

import moderngl
import numpy as np

from app.media.types import YuvFrame
from app.render.colour import canonical_colorspace


def _check_size(ctx: moderngl.Context, width: int, height: int, what: str) -> None:
    limit = int(ctx.info["GL_MAX_TEXTURE_SIZE"])
    if width <= 0 or height <= 0 or width > limit or height > limit:
        raise ValueError(f"{what}: size {width}x{height} is outside 1..{limit} on this GPU")


def premultiply(rgba: np.ndarray) -> np.ndarray:
    """RGBA uint8 with its colour multiplied by its alpha (the array itself when it has no
    transparency or no alpha channel)."""
    if rgba.shape[2] != 4 or rgba[..., 3].min() == 255:
        return rgba
    alpha = rgba[..., 3:4].astype(np.uint16)
    rgb = (rgba[..., :3].astype(np.uint16) * alpha + 127) // 255
    return np.concatenate([rgb.astype(np.uint8), rgba[..., 3:4]], axis=2)


class RgbaTexture:
    """A still image on the GPU: RGBA8, premultiplied alpha, mipmapped, clamped to edge.

    `rgba` is (H, W, 4) or (H, W, 3) uint8, top row first. Alpha is premultiplied on upload
    (when the image has any transparency; `premultiplied=True` says the caller did it, e.g.
    on a decode thread) so that filtering and mipmaps do not bleed the colour of transparent
    pixels. `smooth_filter` is the texture's filter when it is scaled (the compositor samples
    it with NEAREST when it draws it pixel for pixel).

    `rows_per_write` uploads the image in strips: the texture is made empty and each
    `upload_more()` writes that many more rows (a large image reaches the GPU over several
    frames, none of them held); `complete` says when all rows are there (mipmaps are built
    then). Without it, everything is uploaded at once.
    """

    premultiplied = True
    top_row_first = True

    def __init__(
        self,
        ctx: moderngl.Context,
        rgba: np.ndarray,
        mipmaps: bool = True,
        *,
        premultiplied: bool = False,
        rows_per_write: int | None = None,
    ) -> None:
        rgba = np.asarray(rgba)
        if rgba.dtype != np.uint8 or rgba.ndim != 3 or rgba.shape[2] not in (3, 4):
            raise ValueError(
                f"RgbaTexture needs an (H, W, 3|4) uint8 array, got {rgba.shape} {rgba.dtype}"
            )
        height, width, channels = rgba.shape
        _check_size(ctx, width, height, "RgbaTexture")
        if not premultiplied:
            rgba = premultiply(rgba)
        self.ctx = ctx
        self.width = width
        self.height = height
        self.mipmaps = mipmaps
        self._pending: np.ndarray | None = None
        self._next_row = 0
        self._rows = rows_per_write or height
        if rows_per_write is None:
            data = np.ascontiguousarray(rgba)
            self.texture = ctx.texture((width, height), channels, data, alignment=1)
        else:
            self.texture = ctx.texture((width, height), channels, None, alignment=1)
            self._pending = rgba
        self.texture.repeat_x = False
        self.texture.repeat_y = False
        self.smooth_filter = (moderngl.LINEAR, moderngl.LINEAR)
        self.texture.filter = self.smooth_filter
        if self._pending is None:
            self._finish()

    @property
    def complete(self) -> bool:
        """Whether every row is on the GPU."""
        return self._pending is None

    def upload_more(self) -> bool:
        """Write the next strip of rows (see the class docstring); True once complete."""
        rgba = self._pending
        if rgba is None:
            return True
        y0, y1 = self._next_row, min(self.height, self._next_row + self._rows)
        strip = np.ascontiguousarray(rgba[y0:y1])
        self.texture.write(strip, viewport=(0, y0, self.width, y1 - y0), alignment=1)
        self._next_row = y1
        if y1 >= self.height:
            self._pending = None
            self._finish()
        return self._pending is None

    def _finish(self) -> None:
        if self.mipmaps:
            self.texture.build_mipmaps()
            self.smooth_filter = (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
            self.texture.filter = self.smooth_filter

    def release(self) -> None:
        """Free the GPU texture."""
        self.texture.release()


class YuvTextures:
    """One video frame on the GPU as three R8 textures (4:2:0): Y full size, U and V half.

    Chroma planes are ceil(w/2) x ceil(h/2). Until the first `upload` the textures hold black.
    `colorspace` and `full_range` come from the last uploaded frame and tell the shader which
    matrix to use. `smooth_filter` is the luma filter when the frame is scaled.
    """

    smooth_filter = (moderngl.LINEAR, moderngl.LINEAR)

    top_row_first = True

    def __init__(
        self, ctx: moderngl.Context, width: int, height: int, *, black: bool = True
    ) -> None:
        """`black=False` leaves the textures unset (cheaper: nothing to write) for a caller
        that shows them only once a whole frame is in (`SpreadYuvUpload`)."""
        _check_size(ctx, width, height, "YuvTextures")
        self.ctx = ctx
        self.width = width
        self.height = height
        self.chroma_width = (width + 1) // 2
        self.chroma_height = (height + 1) // 2
        self.colorspace = "bt709"
        self.full_range = True
        self.pts: float | None = None
        luma = (width, height)
        chroma = (self.chroma_width, self.chroma_height)
        self.y = self._plane(luma, 0 if black else None)
        self.u = self._plane(chroma, 128 if black else None)
        self.v = self._plane(chroma, 128 if black else None)

    def _plane(self, size: tuple[int, int], fill: int | None) -> moderngl.Texture:
        data = None if fill is None else np.full((size[1], size[0]), fill, dtype=np.uint8)
        tex = self.ctx.texture(size, 1, data, alignment=1)
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        tex.repeat_x = False
        tex.repeat_y = False
        return tex

    @property
    def textures(self) -> tuple[moderngl.Texture, moderngl.Texture, moderngl.Texture]:
        """The Y, U and V textures."""
        return self.y, self.u, self.v

    def upload(self, frame: YuvFrame) -> None:
        """Write a frame's three planes (it must have this object's size).

        Plain `texture.write` from the numpy planes: on llvmpipe a 1080p frame takes about
        0.2 ms this way and 0.3 ms through a pixel-buffer object, so there is none.
        """
        for tex, plane in self.planes_of(frame):
            # numpy planes are written as they are when contiguous: no copy in Python
            tex.write(np.ascontiguousarray(plane), alignment=1)
        self.took(frame)

    def planes_of(self, frame: YuvFrame) -> list[tuple[moderngl.Texture, np.ndarray]]:
        """(texture, plane) for Y, U and V; ValueError when the frame does not fit."""
        if frame.width != self.width or frame.height != self.height:
            raise ValueError(
                f"frame is {frame.width}x{frame.height}, textures are {self.width}x{self.height}"
            )
        pairs = []
        for tex, plane, w, h in (
            (self.y, frame.y, self.width, self.height),
            (self.u, frame.u, self.chroma_width, self.chroma_height),
            (self.v, frame.v, self.chroma_width, self.chroma_height),
        ):
            if plane.shape != (h, w) or plane.dtype != np.uint8:
                raise ValueError(f"plane is {plane.shape} {plane.dtype}, expected ({h}, {w}) uint8")
            pairs.append((tex, plane))
        return pairs

    def took(self, frame: YuvFrame) -> None:
        """Note that `frame` is now what the textures hold (its colour space and time)."""
        self.colorspace = canonical_colorspace(frame.colorspace)
        self.full_range = bool(frame.full_range)
        self.pts = frame.pts

    def release(self) -> None:
        """Free the three GPU textures."""
        for tex in self.textures:
            tex.release()


class SpreadYuvUpload:
    """One frame written into `textures` over several calls of `upload_more`, each writing
    whole rows of the Y, then U, then V plane, at most `max_bytes` (or one row, when a row
    is longer): the first frame of a video reaches the GPU over frames, none of them held.
    `last_bytes` is what the last call wrote; `complete` says when every row is in (the
    textures then hold the frame, as `YuvTextures.upload` leaves them).
    """

    def __init__(self, textures: YuvTextures, frame: YuvFrame, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self.textures = textures
        self.frame = frame
        self.max_bytes = max_bytes
        self.last_bytes = 0
        self._planes = textures.planes_of(frame)  # checked now: a bad frame fails at once
        self._plane = 0
        self._row = 0

    @property
    def complete(self) -> bool:
        """Whether every row of the frame is on the GPU."""
        return self._plane >= len(self._planes)

    def upload_more(self) -> bool:
        """Write the next rows (see the class docstring); True once complete."""
        budget = self.max_bytes
        self.last_bytes = 0
        while not self.complete:
            tex, plane = self._planes[self._plane]
            height, width = plane.shape
            rows = min(height - self._row, max(budget // width, 0))
            if rows == 0:
                if self.last_bytes:
                    break  # the budget is spent
                rows = 1  # a row longer than the budget goes alone
            y0 = self._row
            strip = np.ascontiguousarray(plane[y0 : y0 + rows])
            tex.write(strip, viewport=(0, y0, width, rows), alignment=1)
            self.last_bytes += strip.nbytes
            budget -= strip.nbytes
            self._row += rows
            if self._row >= height:
                self._plane += 1
                self._row = 0
        if self.complete:
            self.textures.took(self.frame)
        return self.complete

    def release(self) -> None:
        """Free the textures (an upload dropped before it completed)."""
        self.textures.release()


class PremulTexture:
    """A float RGBA16F texture holding premultiplied colour (e.g. from the splat renderer).

    Wraps an existing texture (not owned, unless made by `create`). `top_row_first` is False
    for images rendered into a framebuffer by GL, which stores the bottom row first.
    `smooth_filter` is the texture's filter when wrapped, used when it is scaled.
    """

    premultiplied = True

    def __init__(
        self, texture: moderngl.Texture, *, top_row_first: bool = False, owned: bool = False
    ) -> None:
        self.texture = texture
        self.width, self.height = texture.size
        self.top_row_first = top_row_first
        self.smooth_filter: tuple[int, int] = texture.filter
        self._owned = owned

    @classmethod
    def create(cls, ctx: moderngl.Context, width: int, height: int) -> PremulTexture:
        """A new, owned RGBA16F texture of the given size (linear filter, clamped)."""
        _check_size(ctx, width, height, "PremulTexture")
        tex = ctx.texture((width, height), 4, dtype="f2")
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        tex.repeat_x = False
        tex.repeat_y = False
        return cls(tex, owned=True)

    def release(self) -> None:
        """Free the texture if this wrapper made it."""
        if self._owned:
            self.texture.release()
