"""Thumbnail pixels of a cue's media (a still, a video's first frame), for the operator view.

Pure CPU work (Pillow, one ffmpeg run): the render room uploads the pixels.
"""

from __future__ import annotations

import numpy as np

from app.show.model import Cue, MediaKind


def make_thumbnail(cue: Cue, width: int, height: int) -> np.ndarray | None:
    """An (height, width, 3) uint8 picture of a cue (a still, a video's first frame), cropped to
    fill; None for splat scenes (rendered on the GPU instead) and unreadable media.

    Runs on a worker thread: decoding a big still or starting ffmpeg must not stall a frame.
    """
    from PIL import Image, ImageOps

    if cue.kind is MediaKind.STILL:
        from app.media.still import load_still

        try:
            rgba = load_still(cue.media)
        except Exception:
            return None
        img = Image.fromarray(np.ascontiguousarray(rgba[..., :3]))
        img = ImageOps.fit(img, (width, height), Image.BILINEAR)
        return np.asarray(img, dtype=np.uint8)
    if cue.kind is MediaKind.VIDEO:
        from app.media.ffmpeg import input_arg, run_ffmpeg

        vf = f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}"
        try:
            proc = run_ffmpeg(
                [
                    "-loglevel",
                    "error",
                    "-ss",
                    f"{cue.start:.3f}",
                    "-i",
                    input_arg(cue.media),
                    "-frames:v",
                    "1",
                    "-vf",
                    vf,
                    "-f",
                    "rawvideo",
                    "-pix_fmt",
                    "rgb24",
                    "-",
                ],
                timeout=30.0,
            )
        except Exception:
            return None
        need = width * height * 3
        if proc.returncode != 0 or len(proc.stdout) < need:
            return None
        return np.frombuffer(proc.stdout[:need], np.uint8).reshape(height, width, 3).copy()
    return None
