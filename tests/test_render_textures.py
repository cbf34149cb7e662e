"""Texture wrappers: upload layout, premultiplication, mipmaps, validation."""

from __future__ import annotations

import moderngl
import numpy as np
import pytest

from app.cues.state import LayerMix, Mix, MixEntry
from app.render.compositor import Compositor
from app.render.outputs import HeadlessOutput
from app.render.textures import PremulTexture, RgbaTexture
from app.show.model import Fit


def test_rgba_texture_keeps_rows_and_premultiplies(ctx: moderngl.Context) -> None:
    img = np.zeros((4, 6, 4), np.uint8)
    img[0] = (255, 0, 0, 255)  # top row
    img[3] = (200, 100, 50, 128)  # bottom row, translucent
    tex = RgbaTexture(ctx, img)
    assert (tex.width, tex.height) == (6, 4)
    data = np.frombuffer(tex.texture.read(), np.uint8).reshape(4, 6, 4)
    # texture row 0 is the image's top row
    assert data[0, 0].tolist() == [255, 0, 0, 255]
    assert data[3, 0].tolist() == [100, 50, 25, 128]
    assert tex.texture.filter == (moderngl.LINEAR_MIPMAP_LINEAR, moderngl.LINEAR)
    assert not tex.texture.repeat_x and not tex.texture.repeat_y
    # mipmaps were built: level 1 exists
    assert len(tex.texture.read(level=1)) == 3 * 2 * 4
    tex.release()


def test_rgb_input_is_opaque(ctx: moderngl.Context) -> None:
    # an RGB texture samples with alpha 1: as an upper layer it hides the one below
    out = HeadlessOutput(5, 3, ctx=ctx)
    comp = Compositor(ctx, 5, 3)
    images = {
        0: RgbaTexture(ctx, np.full((3, 5, 4), 255, np.uint8)),
        1: RgbaTexture(ctx, np.full((3, 5, 3), 77, np.uint8), mipmaps=False),
    }
    assert images[1].texture.filter == (moderngl.LINEAR, moderngl.LINEAR)
    layers = tuple(LayerMix(i, (MixEntry(i, 1.0, 0.0, 1.0),)) for i in (0, 1))
    comp.draw(Mix(layers, 1.0, 0.0), images.get, lambda cue: Fit.COVER, out.fbo)
    assert (out.read_pixels() == 77).all()
    # drawn pixel for pixel, the compositor samples it with NEAREST
    assert images[1].texture.filter == (moderngl.NEAREST, moderngl.NEAREST)
    for img in images.values():
        img.release()
    comp.release()
    out.close()


def test_rgba_texture_validates(ctx: moderngl.Context) -> None:
    with pytest.raises(ValueError, match="uint8"):
        RgbaTexture(ctx, np.zeros((4, 4, 4), np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\|4\)"):
        RgbaTexture(ctx, np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="outside"):
        RgbaTexture(ctx, np.zeros((1, 100_000, 4), np.uint8))


def test_premul_texture(ctx: moderngl.Context) -> None:
    owned = PremulTexture.create(ctx, 8, 4)
    assert (owned.width, owned.height, owned.top_row_first) == (8, 4, False)
    assert owned.texture.dtype == "f2"
    wrapped = PremulTexture(owned.texture, top_row_first=True)
    wrapped.release()  # not owned: the texture stays alive
    assert len(owned.texture.read()) == 8 * 4 * 4 * 2
    owned.release()
