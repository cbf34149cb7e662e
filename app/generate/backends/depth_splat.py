"""Image to Gaussian-splat scene through monocular depth (our fallback for ml-sharp).

One Gaussian per pixel of a downsampled image, unprojected along its camera ray to the
estimated depth, in ml-sharp's convention (OpenCV camera frame: x right, y down, z forward,
camera at the origin, metres). Opacity fades where depth jumps, so foreground and background
do not get joined by a rubber sheet of stretched splats. `gaussians_from_depth` is pure
numpy; `estimate_depth` runs a transformers depth model (torch imported inside).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from app.media.splats import SplatScene

DEFAULT_FOV = 55.0  # degrees, vertical: a normal lens when the photo says nothing
DEFAULT_NEAR = 2.0  # metres: relative depth maps are spread between near and far
DEFAULT_FAR = 12.0


def disparity_to_depth(
    disparity: np.ndarray, near: float = DEFAULT_NEAR, far: float = DEFAULT_FAR
) -> np.ndarray:
    """Map a relative inverse-depth map (any scale, larger = nearer) to metres in near..far."""
    d = disparity.astype(np.float64)
    lo, hi = np.percentile(d, 1), np.percentile(d, 99)
    t = np.clip((d - lo) / max(hi - lo, 1e-9), 0.0, 1.0)
    inv = 1.0 / far + t * (1.0 / near - 1.0 / far)
    return (1.0 / inv).astype(np.float32)


def gaussians_from_depth(
    rgb: np.ndarray,
    depth: np.ndarray,
    *,
    fov: float = DEFAULT_FOV,
    edge_fade: float = 0.08,
    opacity: float = 0.97,
    source_size: tuple[int, int] | None = None,
) -> SplatScene:
    """One Gaussian per pixel of `rgb` (H, W, 3 uint8) at `depth` (H, W metres).

    `fov` is the vertical field of view; `edge_fade` the relative depth step (per pixel) at
    which opacity has fallen to 1/e. `source_size` (w, h) is the size of the photo the scene
    stands for (recorded as the scene's intrinsics), default the size of `rgb`.
    """
    h, w = depth.shape
    if rgb.shape[:2] != (h, w):
        raise ValueError(f"rgb is {rgb.shape[1]}x{rgb.shape[0]}, depth is {w}x{h}")
    f = (h / 2.0) / math.tan(math.radians(fov) / 2.0)
    cx, cy = w / 2.0, h / 2.0
    u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    z = depth.astype(np.float32)
    x = (u - cx) / f * z
    y = (v - cy) / f * z
    positions = np.stack([x, y, z], axis=-1).reshape(-1, 3).astype(np.float32)

    # A pixel covers z/f metres; sigma of 0.6 pixel leaves no holes and little blur.
    footprint = (z / f).reshape(-1)
    scales = np.stack([footprint * 0.6, footprint * 0.6, footprint * 0.3], axis=-1)

    logz = np.log(np.maximum(z, 1e-6))
    gy, gx = np.gradient(logz)
    step = np.hypot(gx, gy).reshape(-1)
    alpha = opacity * np.exp(-((step / max(edge_fade, 1e-9)) ** 2))

    rotations = np.zeros((h * w, 4), dtype=np.float32)
    rotations[:, 0] = 1.0
    colours = (rgb[:, :, :3].reshape(-1, 3).astype(np.float32) / 255.0).clip(0.0, 1.0)
    sw, sh = source_size or (w, h)
    k = sw / w
    intrinsics = (f * k, f * k, cx * k, cy * k, int(sw), int(sh))
    return SplatScene(
        positions=positions,
        scales=scales.astype(np.float32),
        rotations=rotations,
        opacities=np.clip(alpha, 1e-4, 0.999).astype(np.float32),
        colours=colours,
        dilation=0.0,
        colour_space="srgb",
        blend_linear=True,
        intrinsics=intrinsics,
        extrinsic=np.eye(4),
        kind="mlsharp",
    )


def splat_grid(image: Image.Image, width: int) -> np.ndarray:
    """`image` resized to `width` pixels wide (aspect kept) as (H, W, 3) uint8."""
    w = max(2, min(width, image.width))
    h = max(2, int(round(image.height * w / image.width)))
    return np.asarray(image.convert("RGB").resize((w, h), Image.Resampling.LANCZOS))


class DepthModel:
    """A transformers depth-estimation model loaded from a local folder (torch inside)."""

    def __init__(self, path: Path, device: str, dtype: Any = None) -> None:
        import torch
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        self.device = device
        self.processor = AutoImageProcessor.from_pretrained(str(path), local_files_only=True)
        model = AutoModelForDepthEstimation.from_pretrained(str(path), local_files_only=True)
        self.model = model.to(device=device, dtype=dtype or torch.float32).eval()
        kind = getattr(model.config, "depth_estimation_type", None)
        name = type(model).__name__
        self.metric = kind == "metric" or "DepthPro" in name

    def estimate(self, image: Image.Image) -> np.ndarray:
        """Depth (metres for metric models, else relative disparity) at the image's size."""
        import torch

        inputs = self.processor(images=image.convert("RGB"), return_tensors="pt")
        dtype = next(self.model.parameters()).dtype
        inputs = {
            k: v.to(self.device, dtype=dtype) if v.is_floating_point() else v.to(self.device)
            for k, v in inputs.items()
        }
        with torch.inference_mode():
            predicted = self.model(**inputs).predicted_depth
        pred = predicted.float().unsqueeze(1) if predicted.ndim == 3 else predicted.float()
        pred = torch.nn.functional.interpolate(
            pred, size=(image.height, image.width), mode="bicubic", align_corners=False
        )
        return pred[0, 0].cpu().numpy()


def image_to_scene(
    depth_model: DepthModel, image: Image.Image, extra: dict[str, Any]
) -> tuple[SplatScene, dict[str, Any]]:
    """The splat scene of a photo: depth estimate, then one Gaussian per pixel.

    `extra` may set `splat_width` (Gaussians per row, default 768), `fov`, `near`, `far`,
    `edge_fade`.
    """
    width = int(extra.get("splat_width", 768))
    raw = depth_model.estimate(image)
    if depth_model.metric:
        depth = np.clip(raw, 0.1, None).astype(np.float32)
    else:
        depth = disparity_to_depth(
            raw, float(extra.get("near", DEFAULT_NEAR)), float(extra.get("far", DEFAULT_FAR))
        )
    rgb = splat_grid(image, width)
    small = np.asarray(
        Image.fromarray(depth).resize((rgb.shape[1], rgb.shape[0]), Image.Resampling.BILINEAR)
    )
    scene = gaussians_from_depth(
        rgb,
        small,
        fov=float(extra.get("fov", DEFAULT_FOV)),
        edge_fade=float(extra.get("edge_fade", 0.08)),
        source_size=(image.width, image.height),
    )
    info = {
        "splats": scene.count,
        "depth": "metric" if depth_model.metric else "relative",
        "depth_range_m": [float(small.min()), float(small.max())],
    }
    return scene, info
