"""The demo show's media, made procedurally the first time they are missing.

Stills are drawn with numpy (seeded, so the same bytes every time), videos rendered from
ffmpeg's lavfi sources (`mandelbrot`, `life`, `cellauto`) into BT.709-tagged H.264 with a
fixed encoder thread count (x264 output then depends only on its settings). Every file is
written to a temporary name and renamed into place, so an interrupted run never leaves a
half-written file behind: the next run simply makes it again.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from app.atomic import atomic_output
from app.media.lavfi import make_clip

WIDTH, HEIGHT = 1280, 720
FPS = 30.0
SECONDS = 6.0
GOP = 30
SEED = 2112  # Pierrot lunaire, op. 21, 1912

DEMO_STILLS = ("demo/moon.png", "demo/stars.png", "demo/dawn.png")
DEMO_VIDEOS = ("demo/tide.mp4", "demo/life.mp4", "demo/cells.mp4")


def ensure_demo_media(
    media_root: Path,
    *,
    width: int = WIDTH,
    height: int = HEIGHT,
    seconds: float = SECONDS,
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Create whichever demo media files are missing under `media_root`; return all of them.

    `progress(name)` is told of each file before it is made (the first run takes a while).

    Files: demo/moon.png, stars.png, dawn.png (numpy-drawn stills) and demo/tide.mp4,
    life.mp4, cells.mp4 (lavfi videos, 30 fps), 1280x720 and 6 s unless told otherwise
    (tests make tiny ones), deterministic. Existing files are left alone. Raises
    MediaError if ffmpeg fails.
    """
    if width % 2 or height % 2:
        raise ValueError(f"demo media need even sizes (4:2:0 video), got {width}x{height}")
    root = Path(media_root)
    makers: dict[str, Callable[[Path], None]] = {
        "demo/moon.png": lambda p: _save_png(p, draw_moon(width, height)),
        "demo/stars.png": lambda p: _save_png(p, draw_stars(width, height)),
        "demo/dawn.png": lambda p: _save_png(p, draw_dawn(width, height)),
        "demo/tide.mp4": lambda p: _make_tide(p, width, height, seconds),
        "demo/life.mp4": lambda p: _make_life(p, width, height, seconds),
        "demo/cells.mp4": lambda p: _make_cells(p, width, height, seconds),
    }
    paths: list[Path] = []
    for rel, make in makers.items():
        path = root / rel
        if not path.is_file():
            if progress is not None:
                progress(rel)
            path.parent.mkdir(parents=True, exist_ok=True)
            make(path)
        paths.append(path)
    return paths


# -- stills -----------------------------------------------------------------------------------


def _grid(width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centre coordinates, x (1, W) and y (H, 1), in pixels."""
    x = np.arange(width, dtype=np.float64)[None, :] + 0.5
    y = np.arange(height, dtype=np.float64)[:, None] + 0.5
    return x, y


def _to_u8(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Float RGB in 0..255 -> uint8, with a little seeded dither against banding."""
    noise = rng.random(rgb.shape[:2])[..., None] - 0.5
    return np.clip(rgb + noise, 0, 255).astype(np.uint8)


def _vertical_gradient(height: int, stops: list[tuple[float, tuple[int, int, int]]]) -> np.ndarray:
    """(H, 1, 3) float colours interpolated between (position 0..1, rgb) stops."""
    t = (np.arange(height, dtype=np.float64) + 0.5) / height
    pos = [s[0] for s in stops]
    cols = np.array([s[1] for s in stops], dtype=np.float64)
    return np.stack([np.interp(t, pos, cols[:, c]) for c in range(3)], axis=-1)[:, None, :]


def draw_moon(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A pale, sepia-toned moon with a soft glow on a deep blue night: (H, W, 3) uint8."""
    rng = np.random.default_rng(SEED)
    x, y = _grid(width, height)
    sky = _vertical_gradient(height, [(0.0, (6, 10, 34)), (1.0, (18, 30, 74))])
    img = np.broadcast_to(sky, (height, width, 3)).copy()
    cx, cy, r = 0.63 * width, 0.38 * height, 0.17 * height
    d = np.hypot(x - cx, y - cy)
    glow = np.exp(-np.maximum(d - r, 0.0) / (0.45 * r)) * 0.55
    glow_col = np.array([150.0, 140.0, 118.0])
    img += glow[..., None] * glow_col
    # The disc: limb darkening, and a few soft "maria" drawn from the seed.
    disc = np.clip(r - d + 0.5, 0.0, 1.0)
    limb = np.sqrt(np.clip(1.0 - (d / r) ** 2, 0.0, 1.0))
    shade = 0.78 + 0.22 * limb
    for _ in range(9):
        mx = cx + (rng.random() - 0.5) * 1.3 * r
        my = cy + (rng.random() - 0.5) * 1.3 * r
        mr = r * (0.12 + 0.22 * rng.random())
        shade -= 0.13 * np.exp(-(((x - mx) ** 2 + (y - my) ** 2) / (mr * mr)))
    moon_col = np.array([238.0, 224.0, 190.0])
    face = shade[..., None] * moon_col
    img = img * (1.0 - disc[..., None]) + face * disc[..., None]
    return _to_u8(img, rng)


def draw_stars(width: int = WIDTH, height: int = HEIGHT, count: int | None = None) -> np.ndarray:
    """Seeded random stars (1800 at 1280x720), a few bright ones with a halo, on a dark sky."""
    rng = np.random.default_rng(SEED + 1)
    if count is None:
        count = max(1, round(1800 * width * height / (WIDTH * HEIGHT)))
    x, y = _grid(width, height)
    sky = _vertical_gradient(height, [(0.0, (2, 3, 12)), (1.0, (10, 14, 36))])
    img = np.broadcast_to(sky, (height, width, 3)).copy()
    # A faint milky band across the diagonal.
    band = np.exp(-(((y - 0.55 * height) - 0.35 * (x - 0.5 * width)) ** 2) / (0.02 * height**2))
    img += band[..., None] * np.array([14.0, 16.0, 26.0])
    light = np.zeros((height, width), dtype=np.float64)
    sx = rng.integers(0, width, count)
    sy = rng.integers(0, height, count)
    level = 40.0 + 215.0 * rng.random(count) ** 4
    np.add.at(light, (sy, sx), level)
    for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):  # a soft cross for the brighter ones
        np.add.at(light, ((sy + dy) % height, (sx + dx) % width), level * 0.25 * (level > 150))
    tint = np.array([0.92, 0.96, 1.0])
    img += light[..., None] * tint
    bright = np.flatnonzero(level > 235)
    for i in bright[:12]:
        d2 = (x - sx[i] - 0.5) ** 2 + (y - sy[i] - 0.5) ** 2
        img += (np.exp(-d2 / 18.0) * 70.0)[..., None] * np.array([0.9, 0.95, 1.0])
    return _to_u8(img, rng)


def draw_dawn(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """A dawn sky: indigo to rose to gold at the horizon, a low sun glow, a dark shore."""
    rng = np.random.default_rng(SEED + 2)
    x, y = _grid(width, height)
    stops = [
        (0.0, (22, 24, 66)),
        (0.35, (86, 66, 124)),
        (0.6, (206, 120, 112)),
        (0.72, (246, 186, 120)),
        (0.745, (250, 214, 150)),
        (0.76, (40, 30, 42)),
        (1.0, (14, 12, 20)),
    ]
    img = np.broadcast_to(_vertical_gradient(height, stops), (height, width, 3)).copy()
    sun_x, sun_y = 0.32 * width, 0.745 * height
    d = np.hypot(x - sun_x, (y - sun_y) * 1.6)
    sky = (y < sun_y + 2)[..., None]
    glow = (np.exp(-d / (0.12 * height)) * 120.0)[..., None] * np.array([1.0, 0.8, 0.5])
    img += glow * sky
    return _to_u8(img, rng)


def _save_png(path: Path, rgb: np.ndarray) -> None:
    with atomic_output(path, unique=True) as tmp:
        image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
        image.save(tmp, format="PNG", compress_level=6)


# -- videos -----------------------------------------------------------------------------------


def _encode(path: Path, width: int, height: int, seconds: float, **source: object) -> None:
    make_clip(
        path,
        width=width,
        height=height,
        fps=FPS,
        seconds=seconds,
        codec="libx264",
        colorspace="bt709",
        full_range=False,
        pix_fmt="yuv420p",
        crf=20,
        gop=GOP,
        preset="veryfast",
        threads=2,  # x264's bytes depend on its thread count: fixed, they are reproducible
        **source,  # type: ignore[arg-type]
    )


def _make_tide(path: Path, width: int, height: int, seconds: float) -> None:
    """A slow zoom into the Mandelbrot set, in moonlit blue."""
    _encode(
        path,
        width,
        height,
        seconds,
        source="mandelbrot",
        source_options="maxiter=256:start_scale=2.5:end_scale=0.6:end_pts=600:inner=black",
        filters="hue=s=0,format=rgb24,colorchannelmixer=rr=0.45:gg=0.7:bb=1.0",
    )


def _make_life(path: Path, width: int, height: int, seconds: float) -> None:
    """Conway's game of life in big cells: pale cells, blue mould on a night blue."""
    _encode(
        path,
        width,
        height,
        seconds,
        source="life",
        source_options=(
            "seed=21:ratio=0.18:mold=12:life_color=#EADCB8:death_color=#0A1028:mold_color=#16224A"
        ),
        source_size=(max(width // 4, 8), max(height // 4, 8)),
    )


def _make_cells(path: Path, width: int, height: int, seconds: float) -> None:
    """A scrolling rule-110 cellular automaton, sepia on deep blue."""
    _encode(
        path,
        width,
        height,
        seconds,
        source="cellauto",
        source_options="seed=12:rule=110:random_fill_ratio=0.5:scroll=1:full=1",
        source_size=(max(width // 4, 8), max(height // 4, 8)),
        filters="format=rgb24,lutrgb=r=val*0.8+12:g=val*0.7+16:b=val*0.5+44",
    )
