"""fit_scale: the quad extent for cover, contain and stretch."""

from __future__ import annotations

import pytest

from app.render.fit import fit_scale
from app.show.model import Fit


def test_same_aspect_fills_exactly() -> None:
    for fit in Fit:
        assert fit_scale(1280, 720, 1920, 1080, fit) == pytest.approx((1.0, 1.0))


def test_wider_image_on_narrower_target() -> None:
    # 2:1 image on a 1:1 target
    assert fit_scale(200, 100, 100, 100, Fit.CONTAIN) == pytest.approx((1.0, 0.5))
    assert fit_scale(200, 100, 100, 100, Fit.COVER) == pytest.approx((2.0, 1.0))
    assert fit_scale(200, 100, 100, 100, Fit.STRETCH) == (1.0, 1.0)


def test_taller_image_on_wider_target() -> None:
    # 1:1 image on a 16:9 target: pillarbox for contain, crop top/bottom for cover
    sx, sy = fit_scale(100, 100, 1600, 900, Fit.CONTAIN)
    assert (sx, sy) == pytest.approx((900 / 1600, 1.0))
    sx, sy = fit_scale(100, 100, 1600, 900, Fit.COVER)
    assert (sx, sy) == pytest.approx((1.0, 1600 / 900))


def test_contain_keeps_aspect_and_cover_covers() -> None:
    for src in [(640, 480), (1920, 800), (300, 1000), (1, 1)]:
        for dst in [(1920, 1080), (64, 36), (100, 300)]:
            cx, cy = fit_scale(*src, *dst, Fit.CONTAIN)
            vx, vy = fit_scale(*src, *dst, Fit.COVER)
            assert max(cx, cy) == pytest.approx(1.0) and cx <= 1 + 1e-9 and cy <= 1 + 1e-9
            assert min(vx, vy) == pytest.approx(1.0)
            # on-screen aspect equals the image's aspect
            src_aspect = src[0] / src[1]
            assert (cx * dst[0]) / (cy * dst[1]) == pytest.approx(src_aspect)
            assert (vx * dst[0]) / (vy * dst[1]) == pytest.approx(src_aspect)


def test_accepts_strings_and_rejects_bad_sizes() -> None:
    assert fit_scale(200, 100, 100, 100, "contain") == pytest.approx((1.0, 0.5))
    with pytest.raises(ValueError, match="positive"):
        fit_scale(0, 100, 100, 100, Fit.COVER)
    with pytest.raises(ValueError):
        fit_scale(100, 100, 100, 100, "zoom")
