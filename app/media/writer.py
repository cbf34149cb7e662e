"""Video writing: RGB frames piped into an ffmpeg subprocess (H.264, BT.709, yuv420p)."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import numpy as np

from app.atomic import commit, partial_path
from app.media.ffmpeg import spawn_ffmpeg


class VideoWriter:
    """Write (H, W, 3|4) uint8 frames to a video file; the file appears only when complete.

    Frames are encoded to a temporary file next to the target and renamed on `close()`, so
    an interrupted render never leaves a half-written video under the final name.
    """

    def __init__(
        self, path: str | Path, width: int, height: int, fps: float, *, crf: int = 18
    ) -> None:
        self.path = Path(path)
        self.width, self.height = width, height
        self.frames = 0
        self._tmp = partial_path(self.path, unique=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        args = [
            "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", f"{fps:g}",
            "-i", "-",
            "-vf", "scale=out_color_matrix=bt709:out_range=tv,format=yuv420p",
            "-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf),
            "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
            "-color_range", "tv", "-movflags", "+faststart", str(self._tmp),
        ]  # fmt: skip
        self._proc = spawn_ffmpeg(args)

    def write(self, frame: np.ndarray) -> None:
        """Append one frame (top row first)."""
        if frame.shape[0] != self.height or frame.shape[1] != self.width:
            raise ValueError(
                f"frame is {frame.shape[1]}x{frame.shape[0]}, writer expects "
                f"{self.width}x{self.height}"
            )
        rgb = np.ascontiguousarray(frame[:, :, :3])
        assert self._proc.stdin is not None
        self._proc.stdin.write(rgb.tobytes())
        self.frames += 1

    def close(self) -> None:
        """Finish encoding and move the file into place."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
        if self._proc.wait() != 0:
            raise RuntimeError(f"{self.path}: ffmpeg failed: {err.strip()[-400:]}")
        commit(self._tmp, self.path)

    def abort(self) -> None:
        """Stop without keeping anything."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        self._proc.kill()
        self._proc.wait()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
