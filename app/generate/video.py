"""Encoding generated frames to H.264 with the ffmpeg that imageio-ffmpeg bundles.

Short GOP (one keyframe a second) so the live player can loop and seek cheaply; yuv420p,
BT.709 tags, even sizes. Frames made at a model's native rate are resampled to the recipe's
rate by ffmpeg's `fps` filter (frames repeated or dropped, duration kept).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from app.generate.errors import JobError
from app.media.ffmpeg import spawn_ffmpeg
from app.media.types import MediaError


def encode_video(
    frames: Iterable[np.ndarray],
    path: Path,
    *,
    fps_in: float,
    fps_out: float,
    width: int,
    height: int,
    crf: int = 18,
    preset: str = "veryfast",
) -> int:
    """Encode (H, W, 3) uint8 frames (all the same size) to `path` at `width`x`height`.

    Frames of another size are scaled (Lanczos, cover then centre crop). Returns the number
    of frames read. Raises JobError when ffmpeg fails.
    """
    width, height = width - width % 2, height - height % 2
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise JobError(f"{path.name}: no frames to encode")
    fh, fw = first.shape[:2]
    scale = (
        f"scale={width}:{height}:force_original_aspect_ratio=increase:flags=lanczos,"
        f"crop={width}:{height},"
        if (fw, fh) != (width, height)
        else ""
    )
    vf = f"{scale}fps={fps_out:g},scale=out_color_matrix=bt709:out_range=tv,format=yuv420p"
    gop = max(1, int(round(fps_out)))
    args = [
        "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{fw}x{fh}", "-r", f"{fps_in:g}",
        "-i", "-", "-vf", vf,
        "-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-g", str(gop),
        "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-color_range", "tv", "-movflags", "+faststart", "-f", "mp4", str(path),
    ]  # fmt: skip
    proc = spawn_ffmpeg(args)
    assert proc.stdin is not None and proc.stderr is not None
    count = 0
    try:
        for frame in _chain(first, it):
            if frame.shape[:2] != (fh, fw):
                raise JobError(f"{path.name}: frame {count} is {frame.shape[1]}x{frame.shape[0]}")
            proc.stdin.write(np.ascontiguousarray(frame[:, :, :3], dtype=np.uint8).tobytes())
            count += 1
        proc.stdin.close()
    except BrokenPipeError:
        pass
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    err = proc.stderr.read().decode(errors="replace")
    if proc.wait() != 0:
        raise JobError(f"{path.name}: ffmpeg failed: {err.strip()[-400:]}")
    return count


def _chain(first: np.ndarray, rest: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    yield first
    yield from rest


def first_frame(path: Path) -> np.ndarray:
    """The first frame of a video as (H, W, 3) uint8 (JobError when it cannot be read)."""
    from app.media.thumbnails import first_frame as read_first_frame

    try:
        return read_first_frame(path)
    except MediaError as exc:
        raise JobError(str(exc)) from None
