"""Y'CbCr -> RGB conversion as pure numpy: the reference the YUV shader is tested against.

The matrix and offset from `yuv_matrix` are what `shaders/yuv.glsl` receives as uniforms, so
the shader and this module share one definition of each colour space.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

# (Kr, Kb) luma coefficients
_KR_KB = {
    "bt709": (0.2126, 0.0722),
    "bt601": (0.299, 0.114),
}
_ALIASES = {
    "bt709": "bt709",
    "bt601": "bt601",
    "bt470bg": "bt601",
    "smpte170m": "bt601",
}


def canonical_colorspace(colorspace: str) -> str:
    """'bt709' or 'bt601' for a colour-space name (ffmpeg's names accepted)."""
    try:
        return _ALIASES[colorspace.lower()]
    except KeyError:
        known = ", ".join(sorted(_ALIASES))
        raise ValueError(f"unknown colour space {colorspace!r} (expected one of {known})") from None


def yuv_matrix(colorspace: str, full_range: bool) -> tuple[np.ndarray, np.ndarray]:
    """(matrix, offset) such that `rgb = matrix @ yuv + offset`.

    `yuv` are the 8-bit code values divided by 255 (what a GL R8 texture returns), `rgb` is
    0..1 before clamping. Limited range maps Y 16..235 and Cb/Cr 16..240 (centre 128); full
    range maps Y 0..255 and Cb/Cr 0..255 around 128, as ffmpeg's swscale does.
    """
    kr, kb = _KR_KB[canonical_colorspace(colorspace)]
    kg = 1.0 - kr - kb
    # from Y' in 0..1 and Cb, Cr in -0.5..0.5
    ycc_to_rgb = np.array(
        [
            [1.0, 0.0, 2.0 * (1.0 - kr)],
            [1.0, -2.0 * kb * (1.0 - kb) / kg, -2.0 * kr * (1.0 - kr) / kg],
            [1.0, 2.0 * (1.0 - kb), 0.0],
        ]
    )
    if full_range:
        y_scale, y_bias = 1.0, 0.0
        c_scale, c_bias = 1.0, -128.0 / 255.0
    else:
        y_scale, y_bias = 255.0 / 219.0, -16.0 / 219.0
        c_scale, c_bias = 255.0 / 224.0, -128.0 / 224.0
    matrix = ycc_to_rgb @ np.diag([y_scale, c_scale, c_scale])
    offset = ycc_to_rgb @ np.array([y_bias, c_bias, c_bias])
    return matrix, offset


def chroma_sample_positions(size: int, chroma_size: int, cosited: bool) -> np.ndarray:
    """Position of each luma sample in chroma-texel units (texel centres at 0, 1, ...).

    4:2:0 as H.264/MPEG-2 store it: horizontally a chroma sample sits on every even luma
    column (`cosited`), vertically it sits half-way between two luma rows.
    """
    x = np.arange(size, dtype=np.float64)
    pos = x / 2.0 if cosited else (x + 0.5) / 2.0 - 0.5
    return np.clip(pos, 0.0, chroma_size - 1.0)


def upsample_chroma(
    plane: np.ndarray, height: int, width: int, method: Literal["linear", "nearest"] = "linear"
) -> np.ndarray:
    """A 4:2:0 chroma plane brought to (height, width) as float64 code values.

    `linear` interpolates between chroma samples at their 4:2:0 positions (what the shader's
    bilinear texture fetch does); `nearest` repeats each sample 2x2.
    """
    plane = np.asarray(plane, dtype=np.float64)
    ch, cw = plane.shape
    if method == "nearest":
        return plane[np.arange(height)[:, None] // 2, np.arange(width)[None, :] // 2]
    py = chroma_sample_positions(height, ch, cosited=False)
    px = chroma_sample_positions(width, cw, cosited=True)
    y0 = np.floor(py).astype(np.intp)
    x0 = np.floor(px).astype(np.intp)
    y1 = np.minimum(y0 + 1, ch - 1)
    x1 = np.minimum(x0 + 1, cw - 1)
    fy = (py - y0)[:, None]
    fx = (px - x0)[None, :]
    top = plane[y0][:, x0] * (1.0 - fx) + plane[y0][:, x1] * fx
    bottom = plane[y1][:, x0] * (1.0 - fx) + plane[y1][:, x1] * fx
    return top * (1.0 - fy) + bottom * fy


def yuv_to_rgb(
    y: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    colorspace: str,
    full_range: bool,
    *,
    chroma: Literal["linear", "nearest"] = "linear",
) -> np.ndarray:
    """Planar 4:2:0 Y'CbCr (uint8 planes) to (H, W, 3) uint8 RGB, rounded to nearest."""
    y = np.asarray(y)
    height, width = y.shape
    expected = ((height + 1) // 2, (width + 1) // 2)
    if np.shape(u) != expected or np.shape(v) != expected:
        raise ValueError(
            f"chroma planes must be {expected} for a {width}x{height} luma plane, "
            f"got {np.shape(u)} and {np.shape(v)}"
        )
    matrix, offset = yuv_matrix(colorspace, full_range)
    yuv = np.stack(
        [
            y.astype(np.float64),
            upsample_chroma(u, height, width, chroma),
            upsample_chroma(v, height, width, chroma),
        ],
        axis=-1,
    )
    rgb = yuv / 255.0 @ matrix.T + offset
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
