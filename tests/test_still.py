"""load_still(): every common image mode ends up as upright 8-bit RGBA, or a MediaError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.media.still import load_still
from app.media.types import MediaError


def _check(rgba: np.ndarray, h: int, w: int) -> None:
    assert rgba.shape == (h, w, 4)
    assert rgba.dtype == np.uint8
    assert rgba.flags["C_CONTIGUOUS"]


def test_rgb_png_gets_opaque_alpha(tmp_path: Path) -> None:
    p = tmp_path / "rgb.png"
    Image.new("RGB", (5, 3), (10, 20, 30)).save(p)
    rgba = load_still(p)
    _check(rgba, 3, 5)
    assert (rgba == [10, 20, 30, 255]).all()


def test_rgba_png_keeps_alpha(tmp_path: Path) -> None:
    p = tmp_path / "rgba.png"
    Image.new("RGBA", (4, 4), (200, 100, 50, 77)).save(p)
    assert (load_still(p) == [200, 100, 50, 77]).all()


def test_rows_are_top_first(tmp_path: Path) -> None:
    a = np.zeros((2, 3, 3), np.uint8)
    a[0] = (255, 0, 0)
    a[1] = (0, 0, 255)
    p = tmp_path / "rows.png"
    Image.fromarray(a).save(p)
    rgba = load_still(p)
    assert (rgba[0, :, :3] == [255, 0, 0]).all() and (rgba[1, :, :3] == [0, 0, 255]).all()


@pytest.mark.parametrize("mode", ["L", "LA", "1"])
def test_greyscale_modes(tmp_path: Path, mode: str) -> None:
    p = tmp_path / f"g_{mode}.png"
    colour = {"L": 128, "LA": (128, 200), "1": 1}[mode]
    Image.new(mode, (4, 2), colour).save(p)
    rgba = load_still(p)
    _check(rgba, 2, 4)
    expected = 255 if mode == "1" else 128
    assert (rgba[..., :3] == expected).all()
    assert (rgba[..., 3] == (200 if mode == "LA" else 255)).all()


def test_palette_with_transparency(tmp_path: Path) -> None:
    img = Image.new("P", (4, 2), 1)
    img.putpalette([0, 0, 0, 250, 10, 20] + [0] * 762)
    img.putpixel((0, 0), 0)
    p = tmp_path / "pal.png"
    img.save(p, transparency=0)
    rgba = load_still(p)
    assert tuple(rgba[0, 0]) == (0, 0, 0, 0)
    assert tuple(rgba[1, 3]) == (250, 10, 20, 255)


def test_16bit_greyscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    a = np.array([[0, 256 * 64, 65535]], dtype=np.uint16)
    p = tmp_path / "g16.png"
    Image.fromarray(a).save(p)
    rgba = load_still(p)
    assert list(rgba[0, :, 0]) == [0, 64, 255]


def test_cmyk_jpeg(tmp_path: Path) -> None:
    p = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 0, 0, 0)).save(p, quality=95)
    rgba = load_still(p)
    _check(rgba, 8, 8)
    assert rgba[..., :3].min() > 240  # no ink: white


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    a = np.zeros((2, 3, 3), np.uint8)  # stored 3 wide, 2 tall
    a[0, 0] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6  # display = stored rotated 90 degrees clockwise
    p = tmp_path / "rot.png"
    Image.fromarray(a).save(p, exif=exif)
    rgba = load_still(p)
    _check(rgba, 3, 2)
    assert tuple(rgba[0, 1, :3]) == (255, 0, 0)  # stored top-left -> displayed top-right


def test_missing_file_raises_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="file not found"):
        load_still(tmp_path / "nope.png")


def test_garbage_raises_media_error(tmp_path: Path) -> None:
    p = tmp_path / "garbage.jpg"
    p.write_bytes(b"\x00definitely not an image" * 10)
    with pytest.raises(MediaError) as info:
        load_still(p)
    assert info.value.path == p and info.value.reason


@pytest.mark.parametrize("ext", ["png", "jpg"])
def test_truncated_raises_media_error(tmp_path: Path, ext: str) -> None:
    rng = np.random.default_rng(3)
    p = tmp_path / f"noise.{ext}"
    Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError):
        load_still(p)
