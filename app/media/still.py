"""Decoding still images into RGBA pixels, ready for a texture upload (no GL here).

A still is decoded no larger than the output needs: `load_still(path, fit_to=(w, h))`
divides its size by the largest whole factor that keeps it at least `w` x `h` (either way
round, so that an EXIF rotation never leaves it short), by the JPEG decoder's own
reduction (`draft`) where it has one and a box filter otherwise. An image over
`MAX_STILL_PIXELS` is refused before any pixel is decoded (`check` reports it too).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from app.media.types import MediaError

# Pixels a still may have. Decoding keeps up to 4 bytes a pixel in memory before the
# reduction (about 0.7 GB at the limit), and Pillow itself refuses twice its 89.5 MP
# warning size as a decompression bomb: the limit sits just under that.
MAX_STILL_PIXELS = 178_000_000

# The limit above is checked before decoding, so Pillow's warning below it says nothing new.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)

# Compressed bytes handed to the decoder per call. Pillow's decoders hold the GIL while
# they run, and a highly compressed file (a 13000x13000 PNG of 330 KB) inflates to tens of
# megabytes per default 64 KB block: the render thread would wait 0.1-0.3 s on a decode
# worker. 1 KB blocks keep each hold to a few milliseconds.
DECODE_BLOCK = 1024


def too_large(width: int, height: int) -> str | None:
    """Why an image of this size is refused (None when it is not): the size and the limit."""
    if width * height <= MAX_STILL_PIXELS:
        return None
    return (
        f"image too large: {width}x{height} is {width * height / 1e6:.0f} megapixels, "
        f"the limit is {MAX_STILL_PIXELS / 1e6:.0f} megapixels"
    )


def reduction(size: tuple[int, int], fit_to: tuple[int, int] | None) -> int:
    """The whole factor an image of `size` may be divided by and still cover `fit_to` either
    way round (1: keep it as it is)."""
    if fit_to is None:
        return 1
    (w, h), (ow, oh) = size, fit_to
    big, small = max(ow, oh, 1), max(min(ow, oh), 1)
    return max(1, min(max(w, h) // big, min(w, h) // small))


def _reduced(img: Image.Image, factor: int) -> Image.Image:
    """`img` divided by `factor` with a box filter (1-bit and palette images averaged as
    grey / RGBA; 16-bit and other modes by the resampler, which keeps their depth)."""
    if factor <= 1:
        return img
    if img.mode == "1":
        img = img.convert("L")
    elif img.mode == "P":
        img = img.convert("RGBA")
    size = (max(1, img.width // factor), max(1, img.height // factor))
    return img.resize(size, Image.Resampling.BOX)


def load_still(path: str | Path, fit_to: tuple[int, int] | None = None) -> np.ndarray:
    """Decode an image file into a (height, width, 4) uint8 RGBA array, top row first.

    EXIF orientation is applied (the array is upright as a viewer shows it). Palette,
    greyscale, CMYK and 16-bit or float images are converted to 8-bit RGBA; images without
    alpha get alpha 255. With `fit_to`, the image is reduced at decode time to no less than
    that size (see the module docstring). Raises MediaError naming the file and the reason.
    """
    p = Path(path)
    if not p.exists():
        raise MediaError(p, "file not found")
    if not p.is_file():
        raise MediaError(p, "not a file")
    try:
        with Image.open(p) as opened:
            refused = too_large(*opened.size)
            if refused is not None:
                raise MediaError(p, refused)
            opened.decodermaxblock = DECODE_BLOCK
            factor = reduction(opened.size, fit_to)
            if factor > 1 and opened.format == "JPEG":
                opened.draft(opened.mode, (opened.width // factor, opened.height // factor))
            opened.load()
            img = _reduced(opened, reduction(opened.size, fit_to))
            img = ImageOps.exif_transpose(img) or img
            rgba = _to_rgba(img)
    except MediaError:
        raise
    except Image.DecompressionBombError as exc:
        raise MediaError(p, f"image too large: {exc}") from exc
    except (OSError, ValueError, SyntaxError) as exc:  # UnidentifiedImageError is an OSError
        raise MediaError(p, f"cannot decode image: {exc}") from exc
    if rgba.shape[0] == 0 or rgba.shape[1] == 0:
        raise MediaError(p, "image has no pixels")
    return rgba


def _to_rgba(img: Image.Image) -> np.ndarray:
    """Any Pillow image -> contiguous (H, W, 4) uint8 RGBA."""
    mode = img.mode
    if mode == "RGBA":
        return np.array(img, dtype=np.uint8)
    if mode in ("I", "F") or mode.startswith("I;16"):
        grey = _grey_to_8bit(np.asarray(img), mode)
        out = np.empty((*grey.shape, 4), dtype=np.uint8)
        out[..., :3] = grey[..., None]
        out[..., 3] = 255
        return out
    try:
        converted = img.convert("RGBA")
    except ValueError:  # modes Pillow cannot take straight to RGBA (LAB, HSV)
        converted = img.convert("RGB").convert("RGBA")
    return np.array(converted, dtype=np.uint8)


def _grey_to_8bit(values: np.ndarray, mode: str) -> np.ndarray:
    """16-bit, 32-bit integer and float greyscale -> uint8 (scaled, not clipped)."""
    if mode == "F":
        a = values.astype(np.float64)
        finite = a[np.isfinite(a)]
        # Float images are either 0..1 (linear-light exports) or 0..255.
        scale = 255.0 if finite.size and float(finite.max()) <= 1.0 else 1.0
        return np.clip(np.nan_to_num(a) * scale + 0.5, 0, 255).astype(np.uint8)
    a = values.astype(np.int64)
    return (np.clip(a, 0, 65535) >> 8).astype(np.uint8)
