"""Every look operation as pure numpy: the reference `shaders/look.glsl` is tested against.

Images are float RGB 0..1, (H, W, 3), top row first, straight (not premultiplied) colour, and
cover the whole output frame: vignette, grain and dust are placed in output pixels. Pixel
coordinates are GL's: x from the left, y from the bottom (array row H - 1 - y), pixel centres
at +0.5.

Noise is an integer hash (Wellons' "lowbias32") of the pixel and the film frame, turned into
a float with 24 bits, so the shader computes exactly the same numbers. What is the same for a
whole frame is computed here once and handed to the shader: the grain key, the scratches and
the dust threshold as uniforms (`look_uniforms`), the specks of every dust cell as a small
texture (`dust_cells`). Thresholds on noise are dyadic fractions or float32 values, so a
float32 shader and float64 numpy agree on every comparison.

Order, as in the shader: `grade` (saturation, toning, contrast, brightness, clamp), `dust`
(specks, then scratches), `grain`, `vignette`, clamp.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from app.show.model import Look

LUMA = np.array([0.2126, 0.7152, 0.0722])  # Rec. 709 weights, on the encoded values
FRAME_RATE = 24.0  # grain and dust change like film frames, whatever the output rate
SCRATCH_RATE = 4.0  # scratches stay a quarter of a second, jittering every frame
GRAIN_STRENGTH = 0.25  # grain 1 moves a mid-grey pixel by up to this much
DUST_DENSITY = 0.0078125  # share of dust cells holding a speck at dust 1 (1/128)
DUST_DARK = 0.75  # share of specks that are dark (dust on the print) rather than light
SCRATCHES = 3  # scratch candidates per frame (one vec3 in the shader)
SALT_GRAIN = 0x68E31DA4
SALT_DUST = 0xB5297A4D
SALT_SCRATCH = 0x1B56C4E9
SALT_JITTER = 0x7F4A7C15
DUST_UNIT = 3  # texture unit of the dust cells (0..2 are the image's)

_M1 = np.uint32(0x7FEB352D)
_M2 = np.uint32(0x846CA68B)


def hash_u32(x: Any) -> np.ndarray:
    """lowbias32: a 32-bit integer hash with good avalanche (uint32 in, uint32 out)."""
    x = np.asarray(x, dtype=np.uint32)
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint32(16))
        x = x * _M1
        x = x ^ (x >> np.uint32(15))
        x = x * _M2
        x = x ^ (x >> np.uint32(16))
    return x


def hash3(a: Any, b: Any, c: Any) -> np.ndarray:
    """One hash of three unsigned integers (arrays broadcast)."""
    a, b, c = (np.asarray(v, dtype=np.uint32) for v in (a, b, c))
    return hash_u32(a ^ hash_u32(b ^ hash_u32(c)))


def unit_float(h: Any) -> np.ndarray:
    """A hash as a float in [0, 1): its top 24 bits, exact in float32."""
    return (np.asarray(h, dtype=np.uint32) >> np.uint32(8)).astype(np.float64) / 16777216.0


def frame_seed(t: float, rate: float = FRAME_RATE) -> int:
    """The noise seed of the film frame shown at time `t` (seconds)."""
    return int(math.floor(t * rate)) % (1 << 32)


def pixel_coords(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) uint32 arrays of shape (height, width) in GL coordinates, top row first."""
    y, x = np.mgrid[height - 1 : -1 : -1, 0:width]
    return x.astype(np.uint32), y.astype(np.uint32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 709 luma of (..., 3) colours."""
    return rgb @ LUMA


def grade(rgb: np.ndarray, look: Look) -> np.ndarray:
    """Saturation, toning, contrast and brightness, clamped to 0..1."""
    lum = luma(rgb)[..., None]
    out = lum + (rgb - lum) * look.saturation
    # toning: luminance mapped onto the tint (the colour white becomes); saturation keeps luma
    toned = lum * np.asarray(look.tint, dtype=np.float64)
    out = out + (toned - out) * look.tint_amount
    out = (out - 0.5) * look.contrast + 0.5 + look.brightness
    return np.clip(out, 0.0, 1.0)


def dust_cell(height: int) -> int:
    """Side of a dust cell in pixels (one speck at most per cell): 16 at 720p, 24 at 1080p."""
    return max(4, round(height / 45))


def dust_threshold(amount: float) -> float:
    """A cell holds a speck when its noise is below this (as float32, like the uniform)."""
    return float(np.float32(min(max(amount, 0.0), 1.0) * DUST_DENSITY))


def dust_cells(t: float, width: int, height: int) -> np.ndarray:
    """The candidate speck of every dust cell for the film frame at `t`: (rows, cols, 4)
    float32, row = cell y from the bottom, of (centre x, centre y, radius, noise), all in
    pixels; the radius is negative for a light speck. A cell shows its speck when its noise
    is below `dust_threshold(amount)`, so one grid serves every dust amount.

    The shader reads this grid as a texture: computed once per film frame, not per pixel.
    """
    cell = dust_cell(height)
    rows, cols = -(-height // cell), -(-width // cell)
    cy, cx = np.mgrid[0:rows, 0:cols].astype(np.uint32)
    h = hash3(cx, cy, np.uint32(frame_seed(t) ^ SALT_DUST))
    h2 = hash_u32(h)
    h3 = hash_u32(h2)
    h4 = hash_u32(h3)
    h5 = hash_u32(h4)
    size = float(cell)
    radius = size * (0.12 + 0.28 * unit_float(h2))
    out = np.empty((rows, cols, 4), dtype=np.float32)
    out[..., 0] = cx * size + radius + unit_float(h3) * (size - 2.0 * radius)
    out[..., 1] = cy * size + radius + unit_float(h4) * (size - 2.0 * radius)
    out[..., 2] = np.where(unit_float(h5) < DUST_DARK, radius, -radius)
    out[..., 3] = unit_float(h)
    return out


def scratches(amount: float, t: float, width: int, height: int) -> np.ndarray:
    """(SCRATCHES, 3) float32: x centre (px), half width (px), strength of each candidate.

    A candidate shows (strength > 0) with probability amount / 2; it keeps its place for
    1 / SCRATCH_RATE seconds and jitters by up to a pixel every film frame.
    """
    out = np.zeros((SCRATCHES, 3), dtype=np.float32)
    if amount <= 0.0:
        return out
    slow = frame_seed(t, SCRATCH_RATE)
    fast = frame_seed(t)
    scale = height / 720.0
    for k in range(SCRATCHES):
        h = hash3(k, slow, SALT_SCRATCH)
        if unit_float(h) >= amount * 0.5:
            continue
        h2 = hash_u32(h)
        h3 = hash_u32(h2)
        h4 = hash_u32(h3)
        jitter = (unit_float(hash3(k, fast, SALT_JITTER)) - 0.5) * 2.0 * scale
        out[k, 0] = unit_float(h2) * width + jitter
        out[k, 1] = max(0.5, (0.4 + 0.6 * unit_float(h3)) * scale)
        out[k, 2] = 0.25 + 0.35 * unit_float(h4)
    return out


def dust(rgb: np.ndarray, amount: float, t: float) -> np.ndarray:
    """Specks (a disc in some cells of a `dust_cell` grid, dark or light) and light vertical
    scratches."""
    if amount <= 0.0:
        return rgb
    height, width = rgb.shape[:2]
    x, y = pixel_coords(width, height)
    cell = dust_cell(height)
    speck = dust_cells(t, width, height).astype(np.float64)[y // cell, x // cell]
    present = speck[..., 3] < dust_threshold(amount)
    dist = np.hypot(x + 0.5 - speck[..., 0], y + 0.5 - speck[..., 1])
    cover = np.clip(np.abs(speck[..., 2]) - dist + 0.5, 0.0, 1.0) * 0.9 * present
    tone = np.where(speck[..., 2] > 0.0, 0.08, 0.92)
    out = rgb + (tone[..., None] - rgb) * cover[..., None]
    # where scratches cross, the strongest one wins
    sx, half, strength = scratches(amount, t, width, height).astype(np.float64).T
    cover = np.clip(half + 0.5 - np.abs((x + 0.5)[..., None] - sx), 0.0, 1.0) * strength
    return out + (1.0 - out) * cover.max(axis=-1)[..., None]


def grain_key(t: float) -> int:
    """The per-frame key of the grain noise (a uniform: the shader hashes once per pixel)."""
    return int(hash_u32(frame_seed(t) ^ SALT_GRAIN))


def grain(rgb: np.ndarray, amount: float, t: float) -> np.ndarray:
    """Monochrome film grain, zero at black and white, strongest at mid-grey.

    The noise of pixel (x, y) is the hash of ((y << 16) | x) ^ `grain_key(t)`.
    """
    if amount <= 0.0:
        return rgb
    height, width = rgb.shape[:2]
    x, y = pixel_coords(width, height)
    n = unit_float(hash_u32(((y << np.uint32(16)) | x) ^ np.uint32(grain_key(t))))
    lum = luma(rgb)
    g = amount * GRAIN_STRENGTH * (2.0 * n - 1.0) * 4.0 * lum * (1.0 - lum)
    return rgb + g[..., None]


def vignette(rgb: np.ndarray, amount: float) -> np.ndarray:
    """Darkens toward the corners: nothing inside 35% of the half-diagonal, `1 - amount` at
    the corners, a smoothstep between."""
    if amount <= 0.0:
        return rgb
    height, width = rgb.shape[:2]
    x, y = pixel_coords(width, height)
    px = (x + 0.5) * (2.0 / width) - 1.0
    py = (y + 0.5) * (2.0 / height) - 1.0
    r = np.hypot(px, py) * math.sqrt(0.5)
    s = np.clip((r - 0.35) / 0.65, 0.0, 1.0)
    s = s * s * (3.0 - 2.0 * s)
    return rgb * (1.0 - amount * s)[..., None]


def apply_look(rgb: np.ndarray, look: Look | None, t: float = 0.0) -> np.ndarray:
    """The whole look on a full-frame float RGB image at time `t`."""
    rgb = np.asarray(rgb, dtype=np.float64)
    if look is None or look.is_identity:
        return rgb
    out = grade(rgb, look)
    out = dust(out, look.dust, t)
    out = grain(out, look.grain, t)
    out = vignette(out, look.vignette)
    return np.clip(out, 0.0, 1.0)


def apply_look_premultiplied(rgba: np.ndarray, look: Look | None, t: float = 0.0) -> np.ndarray:
    """The look on a premultiplied float RGBA image: colour un-premultiplied, looked, and
    premultiplied again (transparent pixels stay transparent)."""
    rgba = np.clip(np.asarray(rgba, dtype=np.float64), 0.0, 1.0)
    alpha = rgba[..., 3:4]
    straight = np.divide(rgba[..., :3], alpha, out=np.zeros_like(rgba[..., :3]), where=alpha > 0)
    return np.concatenate([apply_look(straight, look, t) * alpha, alpha], axis=-1)


def look_defines(look: Look) -> dict[str, int]:
    """The variant of `shaders/look.glsl` for a look: only the operations it uses are
    compiled in (llvmpipe runs both sides of a branch, even on a uniform)."""
    return {
        "LOOK_DUST": int(look.dust > 0.0),
        "LOOK_GRAIN": int(look.grain > 0.0),
        "LOOK_VIGNETTE": int(look.vignette > 0.0),
    }


def look_uniforms(look: Look, t: float, width: int, height: int) -> dict[str, Any]:
    """The uniforms of the `look_defines(look)` variant of `shaders/look.glsl` for one frame
    of an output `width` x `height`. With dust, the shader also reads `dust_cells(t, width,
    height)` as a texture (`u_dust_cells`, unit `DUST_UNIT`)."""
    out: dict[str, Any] = {
        "u_tint": tuple(float(c) for c in look.tint),
        "u_tint_amount": float(look.tint_amount),
        "u_saturation": float(look.saturation),
        "u_contrast": float(look.contrast),
        "u_brightness": float(look.brightness),
    }
    if look.dust > 0.0:
        out["u_dust_threshold"] = dust_threshold(look.dust)
        out["u_dust_inv_cell"] = 1.0 / dust_cell(height)
        s = scratches(look.dust, t, width, height)
        out["u_scratch_x"], out["u_scratch_half"], out["u_scratch_strength"] = (
            tuple(float(v) for v in column) for column in s.T
        )
    if look.grain > 0.0:
        out["u_grain"] = float(look.grain)
        out["u_grain_key"] = grain_key(t)
    if look.vignette > 0.0:
        out["u_vignette"] = float(look.vignette)
        out["u_vignette_scale"] = (2.0 / width, 2.0 / height)
    return out
