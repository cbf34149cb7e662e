"""Decoding still images into RGBA pixels, ready for a texture upload (no GL here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from app.media.types import MediaError


def load_still(path: str | Path) -> np.ndarray:
    """Decode an image file into a (height, width, 4) uint8 RGBA array, top row first.

    EXIF orientation is applied (the array is upright as a viewer shows it). Palette,
    greyscale, CMYK and 16-bit or float images are converted to 8-bit RGBA; images without
    alpha get alpha 255. Raises MediaError naming the file and the reason.
    """
    p = Path(path)
    if not p.exists():
        raise MediaError(p, "file not found")
    if not p.is_file():
        raise MediaError(p, "not a file")
    try:
        with Image.open(p) as opened:
            opened.load()
            img = ImageOps.exif_transpose(opened) or opened
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
