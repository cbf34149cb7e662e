"""Thumbnails: the one place their pixels are made.

- `make_thumbnail(cue, w, h)`: a cue's picture cropped to fill (a still, a video's frame at the
  cue's start), for the operator view (render/thumbs.ThumbnailTextures uploads it) and the web
  console (web/thumbs.Thumbnails caches it on disk as a JPEG).
- `file_thumbnail(path, width)`: a media file scaled to a width (a still, a video's first
  frame), for contact sheets, grids and the desk.
- `first_frame(path)`: a video's first frame.

Pure CPU work (Pillow, one ffmpeg run), meant for worker threads.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from app.media.ffmpeg import input_arg, run_ffmpeg
from app.media.types import MediaError
from app.show.model import Cue, MediaKind

if TYPE_CHECKING:
    from PIL import Image as PILImage

STILL_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def first_frame(path: Path) -> np.ndarray:
    """The first frame of a video as (H, W, 3) uint8; MediaError when ffmpeg cannot read one."""
    from PIL import Image

    args = [
        "-loglevel", "error", "-i", input_arg(path),
        "-frames:v", "1", "-f", "image2pipe", "-c:v", "png", "-",
    ]  # fmt: skip
    out = run_ffmpeg(args, timeout=60)
    if out.returncode != 0 or not out.stdout:
        raise MediaError(path, f"cannot read a frame: {out.stderr.decode(errors='replace')[-200:]}")
    with Image.open(io.BytesIO(out.stdout)) as im:
        return np.asarray(im.convert("RGB"))


def file_thumbnail(path: Path, width: int) -> PILImage.Image:
    """A thumbnail of a still, or of a video's first frame, `width` pixels wide (Lanczos)."""
    from PIL import Image

    if path.suffix.lower() in STILL_SUFFIXES:
        with Image.open(path) as im:
            image = im.convert("RGB")
    else:
        image = Image.fromarray(first_frame(path))
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS)


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
