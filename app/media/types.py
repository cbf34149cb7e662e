"""Data types shared by the media sources and the renderer (no GL here)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class MediaError(Exception):
    """A media file that cannot be used: names the file and the reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@dataclass(frozen=True)
class MediaInfo:
    """What probing a media file found. `error` is set when it cannot be played."""

    path: Path
    kind: str  # 'still', 'video', 'splat' or 'unknown'
    width: int = 0
    height: int = 0
    duration: float | None = None  # seconds (videos)
    fps: float | None = None  # frames per second (videos)
    codec: str | None = None
    pix_fmt: str | None = None
    colorspace: str = "bt709"  # 'bt709' or 'bt601' (videos)
    full_range: bool = False  # True for 'pc'/'jpeg' range (videos)
    count: int | None = None  # number of splats (splat scenes)
    error: str | None = None
    frames: int | None = None  # frame count, from the container or duration x fps (videos)
    bit_depth: int = 8  # bits per component of the stored pixels (videos)
    alpha: bool = False  # the video carries an alpha channel
    rotation: int = 0  # degrees of the display matrix; width/height are the displayed size
    hap: str | None = None  # HAP variant ('Hap1', 'Hap5', 'HapY', 'HapM', 'HapA', 'Hap7')


@dataclass(frozen=True)
class YuvFrame:
    """One decoded video frame in planar YUV 4:2:0, as ffmpeg wrote it.

    `y` is (height, width), `u` and `v` are (ceil(h/2), ceil(w/2)), all uint8. `pts` is the
    frame's time in seconds on the source's own timeline (loops continue it upward).
    """

    pts: float
    width: int
    height: int
    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    colorspace: str = "bt709"
    full_range: bool = False


FileStamp = tuple[int, int, int] | None  # (inode, size, mtime ns); None: no file


def file_stamp(path: Any) -> FileStamp:
    """What tells a replaced file from the one opened (os.replace gives a new inode): the
    stamp the video file watch and the render pool compare."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)
