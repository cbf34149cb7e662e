"""Learned upscaling through spandrel: a tiny random ESRGAN saved as .safetensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import requires
from PIL import Image

from app.generate.chain.upscale import load_upscaler, tile_boxes
from app.generate.errors import JobError

requires.module("torch")


def tiny_esrgan(path: Path, scale: int = 2) -> Path:
    """The tiny random ESRGAN of tests/tiny_builders.py, saved at `path`."""
    from tiny_builders import save_tiny_esrgan

    return save_tiny_esrgan(path, scale)


def _photo(w: int, h: int) -> Image.Image:
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) % 64 * 4], axis=-1)
    noisy = base + rng.normal(0, 20, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def test_tile_boxes_cover_the_image_once() -> None:
    cover = np.zeros((37, 50), int)
    for (left, t, r, b), (pl, pt, pr, pb) in tile_boxes(50, 37, 16, 5):
        cover[t:b, left:r] += 1
        assert pl <= left and pt <= t and pr >= r and pb >= b
        assert pl >= 0 and pt >= 0 and pr <= 50 and pb <= 37
    assert (cover == 1).all()


def test_tiled_equals_untiled_within_one_level(tmp_path: Path) -> None:
    up = load_upscaler(tiny_esrgan(tmp_path / "tiny-esrgan.safetensors"))
    assert up.architecture == "ESRGAN" and up.scale == 2
    image = _photo(45, 30)
    whole = np.asarray(up.upscale(image, tile=4096, overlap=0), dtype=int)
    tiled = np.asarray(up.upscale(image, tile=16, overlap=24), dtype=int)
    assert whole.shape == (60, 90, 3)
    assert whole.std() > 5  # the model really draws something
    assert np.abs(whole - tiled).max() <= 1
    # Without enough context, tile borders show: the overlap is what makes them agree.
    seams = np.asarray(up.upscale(image, tile=16, overlap=0), dtype=int)
    assert np.abs(whole - seams).max() > 1


def test_native_scale_then_resize_to_the_asked_size(tmp_path: Path) -> None:
    up = load_upscaler(tiny_esrgan(tmp_path / "x4.safetensors", scale=4))
    assert up.scale == 4
    out = up.upscale(_photo(20, 12), (40, 24), tile=8, overlap=4)
    assert out.size == (40, 24)


def test_unidentifiable_file_names_the_file(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    junk = tmp_path / "not-an-upscaler.safetensors"
    save_file({"foo.weight": torch.zeros(3, 3)}, str(junk))
    with pytest.raises(JobError, match="not-an-upscaler.safetensors.*cannot identify"):
        load_upscaler(junk)
