"""The numpy YUV -> RGB reference: matrices, ranges, and agreement with ffmpeg."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from app.render.colour import upsample_chroma, yuv_matrix, yuv_to_rgb


def _rgb(colorspace: str, full_range: bool, y: int, u: int, v: int) -> np.ndarray:
    matrix, offset = yuv_matrix(colorspace, full_range)
    return matrix @ (np.array([y, u, v]) / 255.0) + offset


@pytest.mark.parametrize("colorspace", ["bt709", "bt601"])
def test_limited_range_black_and_white(colorspace: str) -> None:
    assert _rgb(colorspace, False, 16, 128, 128) == pytest.approx([0, 0, 0], abs=1e-9)
    assert _rgb(colorspace, False, 235, 128, 128) == pytest.approx([1, 1, 1], abs=1e-9)
    assert _rgb(colorspace, True, 0, 128, 128) == pytest.approx([0, 0, 0], abs=1e-9)
    assert _rgb(colorspace, True, 255, 128, 128) == pytest.approx([1, 1, 1], abs=1e-9)


def test_known_coefficients() -> None:
    # full-range matrices written in the usual form: R = Y + a*Cr, B = Y + b*Cb (C in -0.5..0.5)
    m709, _ = yuv_matrix("bt709", True)
    assert m709[0, 2] == pytest.approx(1.5748)
    assert m709[2, 1] == pytest.approx(1.8556)
    assert m709[1, 1:] == pytest.approx([-0.187324, -0.468124], abs=1e-6)
    m601, _ = yuv_matrix("bt601", True)
    assert m601[0, 2] == pytest.approx(1.402)
    assert m601[2, 1] == pytest.approx(1.772)
    assert m601[1, 1:] == pytest.approx([-0.344136, -0.714136], abs=1e-6)
    # limited range stretches Y by 255/219 and chroma by 255/224
    lim, _ = yuv_matrix("bt709", False)
    assert lim[0, 0] == pytest.approx(255 / 219)
    assert lim[0, 2] == pytest.approx(1.5748 * 255 / 224)


def test_aliases_and_unknown_names() -> None:
    assert np.array_equal(yuv_matrix("smpte170m", False)[0], yuv_matrix("bt601", False)[0])
    with pytest.raises(ValueError, match="unknown colour space"):
        yuv_matrix("bt2020nc", False)


def test_upsample_chroma_siting() -> None:
    plane = np.array([[0, 100], [200, 40]], dtype=np.uint8)
    up = upsample_chroma(plane, 4, 4)
    # horizontally co-sited: even columns take the sample as it is
    assert up[0, 0] == 0 and up[0, 2] == 100
    assert up[0, 1] == pytest.approx(50)
    # vertically centred: luma row 1 is 3/4 of the first chroma row, 1/4 of the second
    assert up[1, 0] == pytest.approx(0.75 * 0 + 0.25 * 200)
    nearest = upsample_chroma(plane, 3, 3, "nearest")
    assert nearest.tolist() == [[0, 0, 100], [0, 0, 100], [200, 200, 40]]


def test_yuv_to_rgb_validates_plane_shapes() -> None:
    y = np.zeros((5, 7), np.uint8)
    ok = np.zeros((3, 4), np.uint8)
    assert yuv_to_rgb(y, ok, ok, "bt709", False).shape == (5, 7, 3)
    with pytest.raises(ValueError, match="chroma planes"):
        yuv_to_rgb(y, np.zeros((2, 3), np.uint8), ok, "bt709", False)


@pytest.mark.parametrize(
    ("source", "colorspace", "full_range"),
    [
        ("smptebars", "bt709", False),
        ("smptebars", "bt601", False),
        ("smptebars", "bt709", True),
        ("testsrc2", "bt709", False),
        ("testsrc2", "bt601", False),
    ],
)
def test_matches_ffmpeg_away_from_colour_edges(
    ffmpeg_clip: Callable,
    flat_chroma_mask: Callable,
    source: str,
    colorspace: str,
    full_range: bool,
) -> None:
    frame, expected = ffmpeg_clip(source, colorspace, full_range)
    ours = yuv_to_rgb(frame.y, frame.u, frame.v, colorspace, full_range)
    mask = flat_chroma_mask(frame)
    assert mask.mean() > 0.3, "the test clip should be mostly flat colour"
    diff = np.abs(ours.astype(int) - expected.astype(int)).max(axis=2)
    assert diff[mask].max() <= 3
