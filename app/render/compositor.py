"""Draws a `Mix` (what the cue engine says is visible) into a framebuffer.

The mixing rule (docs/contracts.md): inside a layer, entries add with their weights
(premultiplied: rgb * w, alpha * w; outside an image's fitted quad it adds nothing); each layer
goes "over" the layers below it, scaled by the layer's opacity; the result is multiplied by
master * (1 - black) and written opaque.

Two ways to get there:

- the direct path (default): "over" and the final gain are linear in colour, so every layer
  whose sum is known to stay within 0..1 (a single entry, or the bottom layer with weights
  summing to at most 1) is drawn straight into the target with blending, each draw scaled by
  the gain. Only a multi-entry layer above another one needs its own float buffer. The common
  frame (one layer, one or two entries) is one clear plus one draw per entry, the first one
  without blending; an image drawn pixel for pixel is sampled with NEAREST. On llvmpipe that
  makes a 720p still 3 ms instead of 5.
- the reference path (`direct=False`): every layer into an RGBA16F buffer, composited into an
  RGBA16F accumulator, then presented with the gain. More passes, no intermediate 8-bit
  rounding; the tests hold the direct path to it.

Looks (`look_for`): an entry whose cue has a look is drawn with `shaders/look.glsl`, which
applies the look to the entry's own image before its weight, so a crossfade between two looks
blends the two looked images. Entries without a look use the plain programs.
"""

from __future__ import annotations

from collections.abc import Callable

import moderngl

from app.cues.state import Mix
from app.render.colour import yuv_matrix
from app.render.fit import fit_scale
from app.render.gl import release_framebuffer
from app.render.hap import HapTextures
from app.render.look_math import DUST_UNIT, dust_cells, frame_seed, look_defines, look_uniforms
from app.render.programs import load_program
from app.render.textures import PremulTexture, RgbaTexture, YuvTextures
from app.show.model import Fit, Look

LayerImage = RgbaTexture | YuvTextures | PremulTexture | HapTextures
# one entry to draw: image, fit, weight, look (None: drawn as it is)
_Item = tuple[LayerImage, Fit, float, Look | None]

_ADD = (moderngl.ONE, moderngl.ONE, moderngl.ONE, moderngl.ONE)
# colour only; the target's alpha (1 after the clear) is kept
_ADD_RGB = (moderngl.ONE, moderngl.ONE, moderngl.ZERO, moderngl.ONE)
_OVER_RGB = (moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA, moderngl.ZERO, moderngl.ONE)
_OVER = (
    moderngl.ONE,
    moderngl.ONE_MINUS_SRC_ALPHA,
    moderngl.ONE,
    moderngl.ONE_MINUS_SRC_ALPHA,
)
_NEAREST = (moderngl.NEAREST, moderngl.NEAREST)
# slack for weights that should sum to 1 but carry float error from the fade curves
_SUM_EPS = 1e-4


def _select_filter(tex: moderngl.Texture, exact: bool, smooth: tuple[int, int]) -> None:
    want = _NEAREST if exact else smooth
    if tex.filter != want:
        tex.filter = want


def _unit(x: float) -> float:
    return min(max(float(x), 0.0), 1.0)


class Compositor:
    """Draws mixes at `width` x `height` (the size of the framebuffers it draws into).

    Owns its programs' vertex arrays and float buffers; call `release` when done. Leaves
    blending disabled after each call.
    """

    def __init__(
        self, ctx: moderngl.Context, width: int, height: int, *, direct: bool = True
    ) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f"compositor size must be positive, got {width}x{height}")
        self.ctx = ctx
        self.width = width
        self.height = height
        self.direct = direct
        self._quad = load_program(ctx, "quad")
        self._yuv = load_program(ctx, "yuv")
        self._present = load_program(ctx, "present")
        self._quad["u_texture"].value = 0
        self._yuv["u_y"].value = 0
        self._yuv["u_u"].value = 1
        self._yuv["u_v"].value = 2
        self._present["u_texture"].value = 0
        self._quad_vao = ctx.vertex_array(self._quad, [])
        self._yuv_vao = ctx.vertex_array(self._yuv, [])
        self._present_vao = ctx.vertex_array(self._present, [])
        self._layer: tuple[moderngl.Texture, moderngl.Framebuffer] | None = None
        self._accum: tuple[moderngl.Texture, moderngl.Framebuffer] | None = None
        self._matrices: dict[tuple[str, bool], tuple[tuple[float, ...], tuple[float, ...]]] = {}
        # look programs by source (True: YUV) and variant, made on first use
        self._looks: dict[tuple, tuple[moderngl.Program, moderngl.VertexArray]] = {}
        self._haps: dict[int, tuple[moderngl.Program, moderngl.VertexArray]] = {}
        self._look_cache: dict[tuple, tuple[dict[str, int], dict[str, object]]] = {}
        self._dust: tuple[tuple, moderngl.Texture] | None = None  # (film frame, size), cells

    def _float_buffer(self) -> tuple[moderngl.Texture, moderngl.Framebuffer]:
        tex = self.ctx.texture((self.width, self.height), 4, dtype="f2")
        tex.filter = (moderngl.NEAREST, moderngl.NEAREST)
        tex.repeat_x = False
        tex.repeat_y = False
        return tex, self.ctx.framebuffer(color_attachments=[tex])

    def _layer_buffer(self) -> tuple[moderngl.Texture, moderngl.Framebuffer]:
        if self._layer is None:
            self._layer = self._float_buffer()
        return self._layer

    def _accum_buffer(self) -> tuple[moderngl.Texture, moderngl.Framebuffer]:
        if self._accum is None:
            self._accum = self._float_buffer()
        return self._accum

    def draw(
        self,
        mix: Mix,
        image_for: Callable[[int], LayerImage | None],
        fit_for: Callable[[int], Fit],
        target: moderngl.Framebuffer,
        look_for: Callable[[int], Look | None] | None = None,
        t: float = 0.0,
    ) -> None:
        """Draw `mix` into `target` (which must be `width` x `height`).

        `image_for(cue)` gives the cue's current image, or None to draw nothing for it (black);
        `fit_for(cue)` its fit; `look_for(cue)` its look (None, or no `look_for`: as it is),
        animated (grain, dust) by the time `t`. Entries and layers with zero weight are skipped
        without asking for their image.
        """
        if target.size != (self.width, self.height):
            raise ValueError(
                f"target is {target.size[0]}x{target.size[1]}, "
                f"compositor is {self.width}x{self.height}"
            )
        gain = _unit(mix.master) * (1.0 - _unit(mix.black))
        layers: list[tuple[float, list[_Item]]] = []
        if gain > 0.0:
            for layer in mix.layers:
                opacity = _unit(layer.opacity)
                if opacity <= 0.0:
                    continue
                items = []
                for entry in layer.entries:
                    weight = _unit(entry.opacity)
                    if weight <= 0.0:
                        continue
                    image = image_for(entry.cue)
                    if image is not None:
                        look = look_for(entry.cue) if look_for is not None else None
                        if look is not None and look.is_identity:
                            look = None
                        items.append((image, fit_for(entry.cue), weight, look))
                if items:
                    layers.append((opacity, items))
        ctx = self.ctx
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        try:
            if self.direct:
                self._draw_direct(layers, gain, target, t)
            else:
                self._draw_reference(layers, gain, target, t)
        finally:
            ctx.disable(moderngl.BLEND)
            ctx.blend_func = moderngl.DEFAULT_BLENDING

    def _draw_direct(
        self,
        layers: list[tuple[float, list[_Item]]],
        gain: float,
        target: moderngl.Framebuffer,
        t: float,
    ) -> None:
        ctx = self.ctx
        target.use()
        target.clear(0.0, 0.0, 0.0, 1.0)
        first = True
        for i, (opacity, items) in enumerate(layers):
            total = sum(item[2] for item in items)
            if len(items) == 1 or (i == 0 and total <= 1.0 + _SUM_EPS):
                k = opacity * gain
                for image, fit, w, look in items:
                    if first:
                        # onto opaque black nothing needs blending: saves a read of the target
                        ctx.disable(moderngl.BLEND)
                        self._draw_image(
                            image, fit, w * k, 1.0, target.size, opaque=True, look=look, t=t
                        )
                        first = False
                        continue
                    ctx.enable(moderngl.BLEND)
                    # adding within the bottom layer; over black, adding is the same as "over"
                    ctx.blend_func = _ADD_RGB if i == 0 else _OVER_RGB
                    self._draw_image(image, fit, w * k, w * opacity, target.size, look=look, t=t)
            else:
                tex, fbo = self._layer_buffer()
                self._fill_layer(fbo, items, t)
                target.use()
                ctx.enable(moderngl.BLEND)
                ctx.blend_func = _OVER_RGB
                self._composite(tex, opacity * gain, opacity)
                first = False

    def _draw_reference(
        self,
        layers: list[tuple[float, list[_Item]]],
        gain: float,
        target: moderngl.Framebuffer,
        t: float,
    ) -> None:
        ctx = self.ctx
        accum_tex, accum = self._accum_buffer()
        accum.clear(0.0, 0.0, 0.0, 0.0)
        if layers:
            layer_tex, layer_fbo = self._layer_buffer()
            for opacity, items in layers:
                self._fill_layer(layer_fbo, items, t)
                accum.use()
                ctx.blend_func = _OVER
                self._composite(layer_tex, opacity, opacity)
        ctx.disable(moderngl.BLEND)
        target.use()
        accum_tex.use(location=0)
        self._present["u_gain"].value = gain
        self._present_vao.render(moderngl.TRIANGLE_STRIP, vertices=4)

    def _fill_layer(self, fbo: moderngl.Framebuffer, items: list[_Item], t: float) -> None:
        """The sum of a layer's entries, premultiplied, unclamped, into a float buffer."""
        fbo.use()
        fbo.clear(0.0, 0.0, 0.0, 0.0)
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = _ADD
        for image, fit, w, look in items:
            self._draw_image(image, fit, w, w, fbo.size, look=look, t=t)

    def _composite(self, tex: moderngl.Texture, rgb_weight: float, alpha_weight: float) -> None:
        """A layer buffer over the current framebuffer (blend function set by the caller)."""
        self.ctx.enable(moderngl.BLEND)
        tex.use(location=0)
        self._quad["u_scale"].value = (1.0, 1.0)
        self._quad["u_flip_y"].value = 0.0
        self._quad["u_weight"].value = (rgb_weight, alpha_weight)
        self._quad["u_opaque"].value = False
        self._quad_vao.render(moderngl.TRIANGLE_STRIP, vertices=4)

    def _yuv_uniforms(self, colorspace: str, full_range: bool) -> tuple[tuple, tuple]:
        key = (colorspace, full_range)
        cached = self._matrices.get(key)
        if cached is None:
            matrix, offset = yuv_matrix(colorspace, full_range)
            # GLSL matrices are column-major
            cached = (tuple(matrix.T.ravel().tolist()), tuple(offset.tolist()))
            self._matrices[key] = cached
        return cached

    def _hap_program(self, layout: int) -> tuple[moderngl.Program, moderngl.VertexArray]:
        """The `shaders/hap.glsl` variant for one HAP texture layout."""
        found = self._haps.get(layout)
        if found is None:
            prog = load_program(self.ctx, "hap", {"HAP_LAYOUT": layout})
            for location, name in enumerate(("u_tex0", "u_tex1")):
                if name in prog:
                    prog[name].value = location
            found = self._haps[layout] = (prog, self.ctx.vertex_array(prog, []))
        return found

    def _look_program(
        self, source: str, defines: dict[str, int]
    ) -> tuple[moderngl.Program, moderngl.VertexArray]:
        """The `shaders/look.glsl` variant for a source: 'rgba', 'yuv' or 'hap<layout>'."""
        key = (source, *defines.values())
        found = self._looks.get(key)
        if found is None:
            if source.startswith("hap"):
                extra = {"SOURCE_HAP": 1, "HAP_LAYOUT": int(source[3:])}
                samplers: tuple[str, ...] = ("u_tex0", "u_tex1")
            elif source == "yuv":
                extra, samplers = {"SOURCE_YUV": 1}, ("u_y", "u_u", "u_v")
            else:
                extra, samplers = {}, ("u_texture",)
            prog = load_program(self.ctx, "look", {**defines, **extra})
            for location, name in enumerate(samplers):
                if name in prog:
                    prog[name].value = location
            if defines["LOOK_DUST"]:
                prog["u_dust_cells"].value = DUST_UNIT
            found = self._looks[key] = (prog, self.ctx.vertex_array(prog, []))
        return found

    def _look_setup(
        self, look: Look, t: float, size: tuple[int, int]
    ) -> tuple[dict[str, int], dict[str, object]]:
        """A look's shader variant and uniforms, computed once per look and film frame."""
        key = (look, frame_seed(t), size)
        found = self._look_cache.get(key)
        if found is None:
            if len(self._look_cache) >= 16:
                self._look_cache.clear()
            uniforms = look_uniforms(look, t, size[0], size[1])
            found = self._look_cache[key] = (look_defines(look), uniforms)
        return found

    def _dust_texture(self, t: float, size: tuple[int, int]) -> moderngl.Texture:
        """The dust cells of the film frame at `t` (look_math.dust_cells), shared by all looks."""
        key = (frame_seed(t), size)
        if self._dust is not None and self._dust[0] == key:
            return self._dust[1]
        cells = dust_cells(t, size[0], size[1])
        grid = (cells.shape[1], cells.shape[0])
        tex = self._dust[1] if self._dust is not None else None
        if tex is None or tex.size != grid:
            if tex is not None:
                tex.release()
            tex = self.ctx.texture(grid, 4, dtype="f4")
            tex.filter = _NEAREST
        tex.write(cells.tobytes())
        self._dust = (key, tex)
        return tex

    def _draw_image(
        self,
        image: LayerImage,
        fit: Fit,
        rgb_weight: float,
        alpha_weight: float,
        target_size: tuple[int, int],
        *,
        opaque: bool = False,
        look: Look | None = None,
        t: float = 0.0,
    ) -> None:
        scale = fit_scale(image.width, image.height, target_size[0], target_size[1], fit)
        flip = 1.0 if image.top_row_first else 0.0
        # drawn pixel for pixel, NEAREST gives the same texels as linear filtering, cheaper
        exact = (image.width, image.height) == target_size and scale == (1.0, 1.0)
        yuv = isinstance(image, YuvTextures)
        hap = isinstance(image, HapTextures)
        if look is not None:
            defines, uniforms = self._look_setup(look, t, target_size)
            source = f"hap{image.layout}" if hap else "yuv" if yuv else "rgba"
            prog, vao = self._look_program(source, defines)
            for name, value in uniforms.items():
                prog[name].value = value
            if defines["LOOK_DUST"]:
                self._dust_texture(t, target_size).use(location=DUST_UNIT)
        elif yuv:
            prog, vao = self._yuv, self._yuv_vao
        elif hap:
            prog, vao = self._hap_program(image.layout)
        else:
            prog, vao = self._quad, self._quad_vao
        if isinstance(image, YuvTextures):
            _select_filter(image.y, exact, image.smooth_filter)
            matrix, offset = self._yuv_uniforms(image.colorspace, image.full_range)
            prog["u_matrix"].value = matrix
            prog["u_offset"].value = offset
            cw, ch = image.chroma_width, image.chroma_height
            # chroma sits on even luma columns (H.264/MPEG-2 "left"), centred vertically
            prog["u_chroma"].value = (image.width / 2 / cw, image.height / 2 / ch, 0.25 / cw, 0.0)
            image.y.use(location=0)
            image.u.use(location=1)
            image.v.use(location=2)
        elif isinstance(image, HapTextures):
            for location, tex in enumerate(image.textures):
                _select_filter(tex, exact, image.smooth_filter)
                tex.use(location=location)
            prog["u_opaque"].value = opaque
            prog["u_uv_scale"].value = image.uv_scale
        else:
            _select_filter(image.texture, exact, image.smooth_filter)
            prog["u_opaque"].value = opaque
            image.texture.use(location=0)
        prog["u_scale"].value = scale
        prog["u_flip_y"].value = flip
        prog["u_weight"].value = (rgb_weight, 1.0 if opaque else alpha_weight)
        vao.render(moderngl.TRIANGLE_STRIP, vertices=4)

    def draw_image(
        self,
        image: LayerImage,
        fit: Fit,
        weight: float,
        target: moderngl.Framebuffer,
        *,
        clear: bool = True,
        look: Look | None = None,
        t: float = 0.0,
    ) -> None:
        """Draw one image straight into `target` (any size), added with `weight`.

        For benchmarks and previews: with `clear`, the target is first cleared to opaque black;
        `look` (at time `t`) is applied as `draw` would.
        """
        ctx = self.ctx
        ctx.disable(moderngl.DEPTH_TEST | moderngl.CULL_FACE)
        target.use()
        w = _unit(weight)
        if look is not None and look.is_identity:
            look = None
        try:
            if clear:
                target.clear(0.0, 0.0, 0.0, 1.0)
                ctx.disable(moderngl.BLEND)
                self._draw_image(image, fit, w, 1.0, target.size, opaque=True, look=look, t=t)
            else:
                ctx.enable(moderngl.BLEND)
                ctx.blend_func = _ADD_RGB
                self._draw_image(image, fit, w, w, target.size, look=look, t=t)
        finally:
            ctx.disable(moderngl.BLEND)
            ctx.blend_func = moderngl.DEFAULT_BLENDING

    def release(self) -> None:
        """Free the vertex arrays and float buffers (the programs belong to the cache)."""
        for vao in (self._quad_vao, self._yuv_vao, self._present_vao):
            vao.release()
        for _, vao in [*self._looks.values(), *self._haps.values()]:
            vao.release()
        self._looks.clear()
        self._haps.clear()
        if self._dust is not None:
            self._dust[1].release()
            self._dust = None
        for buf in (self._layer, self._accum):
            if buf is not None:
                release_framebuffer(buf[1])
        self._layer = self._accum = None
