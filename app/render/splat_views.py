"""Still pictures of a splat scene read back from GL: a cue's base view (thumbnails) and a
short orbit around it (the picking desk's preview).

Runs on whichever thread owns `ctx`; every GL object made here is released before returning.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from app.cues.state import CameraOffset
from app.media.splats import SplatScene
from app.show.model import CameraLimits, CameraSpec


def premultiplied_to_rgb(rgba: np.ndarray) -> np.ndarray:
    """Float premultiplied RGBA (0..1) over black -> uint8 RGB."""
    return (np.clip(rgba[..., :3], 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def orbit_offsets(frames: int, limits: CameraLimits, amount: float = 1.0) -> list[CameraOffset]:
    """`frames` camera offsets of one smooth loop around a scene's base view.

    The camera swings left and right to `amount` of the yaw limit (and a little up and
    down), so the preview shows only views the performer can reach on stage.
    """
    out = []
    for i in range(frames):
        phase = 2.0 * math.pi * i / max(frames, 1)
        out.append(
            CameraOffset(
                yaw=amount * limits.yaw * math.sin(phase),
                pitch=0.3 * amount * limits.pitch * math.sin(2.0 * phase),
            )
        )
    return out


def render_views(
    ctx: Any,
    scene: SplatScene,
    camera: CameraSpec | None,
    offsets: list[CameraOffset],
    width: int,
    height: int,
) -> list[np.ndarray]:
    """The scene seen from its cue's base view moved by each offset (clamped to the cue's
    limits), as (height, width, 3) uint8 RGB pictures over black, top row first."""
    from app.render.camera import cue_view
    from app.render.splats import SplatRenderer

    renderer = SplatRenderer(ctx, timing=False)
    gpu = renderer.upload(scene)
    pictures = []
    try:
        for offset in offsets:
            view = cue_view(scene, camera, offset, 0.0, width, height)
            layer = renderer.render(gpu, view, width, height)
            raw = layer.texture.read()  # the layer is RGBA16F
            rgba = np.frombuffer(raw, np.float16).reshape(height, width, 4).astype(np.float32)
            if not layer.top_row_first:
                rgba = rgba[::-1]
            pictures.append(premultiplied_to_rgb(rgba))
    finally:
        gpu.release()
        renderer.release()
    return pictures
