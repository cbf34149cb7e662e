"""The YUV -> RGB shader against the numpy reference and against ffmpeg's own conversion."""

from __future__ import annotations

from collections.abc import Callable

import moderngl
import numpy as np
import pytest

from app.media.types import YuvFrame
from app.render.colour import yuv_to_rgb
from app.render.compositor import Compositor
from app.render.outputs import HeadlessOutput
from app.render.textures import YuvTextures
from app.show.model import Fit


def draw_frame(ctx: moderngl.Context, frame: YuvFrame) -> np.ndarray:
    """The frame drawn 1:1 by the compositor's YUV path, read back as (H, W, 3) int."""
    out = HeadlessOutput(frame.width, frame.height, ctx=ctx)
    comp = Compositor(ctx, frame.width, frame.height)
    tex = YuvTextures(ctx, frame.width, frame.height)
    try:
        tex.upload(frame)
        comp.draw_image(tex, Fit.STRETCH, 1.0, out.fbo)
        return out.read_pixels().astype(int)
    finally:
        tex.release()
        comp.release()
        out.close()


CASES = [
    ("smptebars", "bt709", False),
    ("smptebars", "bt601", False),
    ("smptebars", "bt709", True),
    ("testsrc2", "bt709", False),
    ("testsrc2", "bt601", False),
    ("testsrc2", "bt709", True),
]


@pytest.mark.parametrize(("source", "colorspace", "full_range"), CASES)
def test_shader_matches_ffmpeg(
    ctx: moderngl.Context,
    ffmpeg_clip: Callable,
    flat_chroma_mask: Callable,
    source: str,
    colorspace: str,
    full_range: bool,
) -> None:
    frame, expected = ffmpeg_clip(source, colorspace, full_range)
    pixels = draw_frame(ctx, frame)
    mask = flat_chroma_mask(frame)
    assert mask.mean() > 0.3
    diff = np.abs(pixels - expected).max(axis=2)
    assert diff[mask].max() <= 3, f"max difference {diff[mask].max()}/255 away from edges"


@pytest.mark.parametrize(("source", "colorspace", "full_range"), CASES[:3])
def test_shader_matches_reference_everywhere(
    ctx: moderngl.Context, ffmpeg_clip: Callable, source: str, colorspace: str, full_range: bool
) -> None:
    frame, _ = ffmpeg_clip(source, colorspace, full_range)
    expected = yuv_to_rgb(frame.y, frame.u, frame.v, colorspace, full_range)
    diff = np.abs(draw_frame(ctx, frame) - expected)
    # the GPU filters 8-bit textures in 8-bit steps: a rare 3/255 where chroma changes fast
    assert diff.max() <= 3
    assert diff.mean() < 0.5


@pytest.mark.parametrize(("width", "height"), [(64, 36), (63, 35)])
def test_shader_matches_reference_on_noise(ctx: moderngl.Context, width: int, height: int) -> None:
    # odd sizes: chroma planes are rounded up and the shader must still line them up
    rng = np.random.default_rng(width)
    cw, ch = (width + 1) // 2, (height + 1) // 2
    frame = YuvFrame(
        0.0,
        width,
        height,
        rng.integers(16, 236, (height, width), dtype=np.uint8),
        rng.integers(16, 241, (ch, cw), dtype=np.uint8),
        rng.integers(16, 241, (ch, cw), dtype=np.uint8),
        "bt601",
        False,
    )
    expected = yuv_to_rgb(frame.y, frame.u, frame.v, "bt601", False)
    diff = np.abs(draw_frame(ctx, frame) - expected)
    assert diff.max() <= 3
    assert diff.mean() < 0.5
    # with flat chroma there is no filtering: the matrix alone, exact to rounding
    frame = YuvFrame(
        0.0,
        width,
        height,
        frame.y,
        np.full((ch, cw), 90, np.uint8),
        np.full((ch, cw), 200, np.uint8),
        "bt601",
        False,
    )
    expected = yuv_to_rgb(frame.y, frame.u, frame.v, "bt601", False)
    assert np.abs(draw_frame(ctx, frame) - expected).max() <= 1


def test_textures_start_black_and_validate(ctx: moderngl.Context) -> None:
    out = HeadlessOutput(16, 8, ctx=ctx)
    comp = Compositor(ctx, 16, 8)
    tex = YuvTextures(ctx, 15, 7)
    assert (tex.chroma_width, tex.chroma_height) == (8, 4)
    comp.draw_image(tex, Fit.STRETCH, 1.0, out.fbo)
    assert out.read_pixels().max() == 0
    bad = YuvFrame(
        0.0,
        16,
        8,
        np.zeros((8, 16), np.uint8),
        np.zeros((4, 8), np.uint8),
        np.zeros((4, 8), np.uint8),
    )
    with pytest.raises(ValueError, match="frame is 16x8"):
        tex.upload(bad)
    wrong_plane = YuvFrame(
        1.0,
        15,
        7,
        np.zeros((7, 15), np.uint8),
        np.zeros((3, 8), np.uint8),
        np.zeros((4, 8), np.uint8),
    )
    with pytest.raises(ValueError, match="expected"):
        tex.upload(wrong_plane)
    tex.release()
    comp.release()
    out.close()


def test_upload_records_frame_colour_settings(ctx: moderngl.Context) -> None:
    tex = YuvTextures(ctx, 4, 2)
    frame = YuvFrame(
        2.5,
        4,
        2,
        np.full((2, 4), 235, np.uint8),
        np.full((1, 2), 128, np.uint8),
        np.full((1, 2), 128, np.uint8),
        "smpte170m",
        False,
    )
    tex.upload(frame)
    assert (tex.colorspace, tex.full_range, tex.pts) == ("bt601", False, 2.5)
    tex.release()
