"""A procedural splat scene for the demo show, shaped like Apple ml-sharp's output.

ml-sharp turns one photo into an "image-space" scene: one Gaussian per pixel per layer (two
layers), placed along the pixel's ray at the predicted depth, in the photo's OpenCV camera
frame, colours in sRGB. We do the same with a synthetic depth map instead of a network, and
write the result in the ml-sharp PLY layout (with its extra elements) so that the demo goes
through the same loader as the artists' files. Deterministic: the same still and settings
give the same bytes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from app.atomic import atomic_output
from app.media.splats import SplatScene, load_splats, write_mlsharp_ply
from app.media.still import load_still

DEPTH_KINDS = ("room", "dome", "luma", "plane")
DEMO_STILLS = ("moon.png", "stars.png", "dawn.png")
DEMO_FOV = 50.0  # degrees, vertical field of view given to the synthetic photo


def synthetic_depth(kind: str, rgb: np.ndarray, focal: float) -> np.ndarray:
    """A (H, W) depth map (camera z, > 0) for an (H, W, 3) image in 0..1 seen with `focal` px.

    'room': inside a box (back wall, floor, ceiling, side walls), brighter pixels nudged
    forward; 'dome': a bulge toward the camera in the middle; 'luma': brightness as nearness;
    'plane': a flat wall.
    """
    h, w = rgb.shape[:2]
    luma = rgb @ np.array([0.2126, 0.7152, 0.0722])
    x = (np.arange(w) + 0.5 - w / 2.0) / focal
    y = (np.arange(h) + 0.5 - h / 2.0) / focal
    xx, yy = np.meshgrid(x, y)
    if kind == "room":
        with np.errstate(divide="ignore"):
            depth = np.full((h, w), 6.0)
            depth = np.minimum(depth, np.where(yy > 0, 1.4 / yy, np.inf))  # floor, y down
            depth = np.minimum(depth, np.where(yy < 0, -1.8 / yy, np.inf))  # ceiling
            depth = np.minimum(depth, np.where(xx != 0, 2.8 / np.abs(xx), np.inf))  # walls
        return depth * (1.0 - 0.12 * (luma - 0.5))
    if kind == "dome":
        r2 = (xx**2 + yy**2) / max(float(x.max() ** 2 + y.max() ** 2), 1e-9)
        return 4.0 - 1.5 * np.exp(-3.0 * r2) - 0.3 * luma
    if kind == "luma":
        return 2.5 + 2.0 * (1.0 - luma)
    if kind == "plane":
        return np.full((h, w), 4.0)
    raise ValueError(f"unknown depth kind {kind!r} (expected one of {', '.join(DEPTH_KINDS)})")


def image_space_scene(
    rgb: np.ndarray,
    depth: np.ndarray,
    *,
    focal: float,
    photo_size: tuple[int, int],
    layers: int = 2,
    seed: int = 0,
    margin: int = 0,
) -> SplatScene:
    """One splat per pixel per layer from an (h, w, 3) sRGB image in 0..1 and its depth.

    `focal` is in pixels of the (h, w) grid; `photo_size` (W, H) is the photo that the grid
    without its `margin` (pixels on each side, beyond the photo's frame) stands for: the
    intrinsics are written for it. Layer 0 is the visible surface; layer 1 sits a little
    behind it with wider, fainter, blurred splats, like ml-sharp's second layer that fills
    what camera moves uncover.
    """
    h, w = depth.shape
    rng = np.random.default_rng(seed)
    u = (np.arange(w) + 0.5 - w / 2.0) / focal
    v = (np.arange(h) + 0.5 - h / 2.0) / focal
    uu, vv = np.meshgrid(u, v)
    parts = []
    blurred = _blur(rgb, 2.0)
    for layer in range(layers):
        z = depth * (1.0 + 0.04 * layer)
        z = z * (1.0 + rng.uniform(-0.002, 0.002, size=z.shape))  # no exact depth ties
        pixel = z / focal  # world size of one grid pixel at this depth
        sigma = pixel * (0.6 if layer == 0 else 0.9)
        pos = np.stack([uu * z, vv * z, z], axis=-1).reshape(-1, 3)
        scales = np.stack([sigma, sigma, sigma * 0.25], axis=-1).reshape(-1, 3)
        colours = (rgb if layer == 0 else blurred).reshape(-1, 3)
        opac = np.full(h * w, 0.97 if layer == 0 else 0.6)
        parts.append((pos, scales, colours, opac))
    n = h * w * layers
    rotations = np.zeros((n, 4), dtype=np.float32)
    rotations[:, 0] = 1.0
    fx = focal * photo_size[0] / (w - 2 * margin)
    fy = focal * photo_size[1] / (h - 2 * margin)
    return SplatScene(
        positions=np.concatenate([p[0] for p in parts]).astype(np.float32),
        scales=np.concatenate([p[1] for p in parts]).astype(np.float32),
        rotations=rotations,
        opacities=np.concatenate([p[3] for p in parts]).astype(np.float32),
        colours=np.concatenate([p[2] for p in parts]).astype(np.float32),
        dilation=0.0,
        colour_space="srgb",
        blend_linear=True,
        intrinsics=(fx, fy, photo_size[0] / 2.0, photo_size[1] / 2.0, *photo_size),
        extrinsic=np.eye(4),
        kind="mlsharp",
    )


def _blur(rgb: np.ndarray, radius: float) -> np.ndarray:
    img = Image.fromarray(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return np.asarray(img.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float64) / 255.0


def make_demo_scene(
    still_path: str | Path,
    out_path: str | Path,
    *,
    depth: str = "room",
    size: int = 192,
    layers: int = 2,
    seed: int = 0,
    margin: float = 0.1,
) -> SplatScene:
    """Build an ml-sharp-shaped scene from a still, write it to `out_path`, and load it back.

    `size` is the grid's longer side across the photo (splats = size * shorter side *
    layers, plus the margin); `depth` one of `DEPTH_KINDS`; `margin` extends the scene beyond
    the photo's frame by that fraction of the longer side on each side (mirrored pixels), so
    that camera moves do not show its edges at once. Returns the scene as `load_splats` reads
    the written file.
    """
    rgba = load_still(still_path)
    return _write_scene(
        rgba, Path(out_path), depth=depth, size=size, layers=layers, seed=seed, margin=margin
    )


def _write_scene(
    rgba: np.ndarray,
    out_path: Path,
    *,
    depth: str,
    size: int,
    layers: int,
    seed: int,
    margin: float,
) -> SplatScene:
    photo_h, photo_w = rgba.shape[:2]
    if size < 2:
        raise ValueError(f"size must be at least 2, got {size}")
    scale = size / max(photo_w, photo_h)
    gw, gh = max(2, round(photo_w * scale)), max(2, round(photo_h * scale))
    small = Image.fromarray(np.ascontiguousarray(rgba[..., :3])).resize((gw, gh), Image.BOX)
    rgb = np.asarray(small, dtype=np.float64) / 255.0
    m = min(int(round(margin * size)), gw - 1, gh - 1)
    rgb = np.pad(rgb, ((m, m), (m, m), (0, 0)), mode="reflect")
    focal = gh / (2.0 * math.tan(math.radians(DEMO_FOV) / 2.0))
    depth_map = synthetic_depth(depth, rgb, focal)
    scene = image_space_scene(
        rgb,
        depth_map,
        focal=focal,
        photo_size=(photo_w, photo_h),
        layers=layers,
        seed=seed,
        margin=m,
    )
    with atomic_output(out_path) as tmp:
        write_mlsharp_ply(tmp, scene)
    return load_splats(out_path)


def _fallback_still(width: int = 1280, height: int = 720) -> np.ndarray:
    """A night sky with a moon, for when no demo still exists yet."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    t = y / height
    sky = np.stack([0.05 + 0.25 * t, 0.07 + 0.2 * t, 0.2 + 0.25 * t], axis=-1)
    d = np.hypot(x - 0.62 * width, y - 0.35 * height) / (0.12 * height)
    moon = np.clip(1.5 - d, 0.0, 1.0)[..., None]
    img = sky * (1 - moon) + np.array([0.95, 0.92, 0.8]) * moon
    rgba = np.empty((height, width, 4), dtype=np.uint8)
    rgba[..., :3] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    rgba[..., 3] = 255
    return rgba


def ensure_demo_splat(media_root: str | Path) -> Path:
    """Make `media_root/demo/room.ply` when missing or older than its still; return its path.

    The still is `demo/moon.png`, else another demo still, else a built-in night sky.
    """
    demo = Path(media_root) / "demo"
    out = demo / "room.ply"
    candidates = [demo / name for name in DEMO_STILLS]
    if demo.is_dir():
        candidates += sorted(p for p in demo.iterdir() if p.suffix.lower() in (".png", ".jpg"))
    still = next((p for p in candidates if p.is_file()), None)
    if out.is_file() and (still is None or still.stat().st_mtime <= out.stat().st_mtime):
        return out
    rgba = load_still(still) if still is not None else _fallback_still()
    _write_scene(rgba, out, depth="room", size=160, layers=2, seed=0, margin=0.15)
    return out
