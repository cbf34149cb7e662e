"""Shared fixtures: one headless GL context for the session, checked for errors per test."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from requires import missing

from app.media.types import YuvFrame

if TYPE_CHECKING:  # pure tests must run without the GL stack: moderngl only when used
    import moderngl


@pytest.fixture(scope="session")
def gl_context() -> Iterator[moderngl.Context]:
    """The session's EGL context (Mesa llvmpipe on the build machine)."""
    from app.render.gl import GLError, create_headless_context

    try:
        ctx = create_headless_context(450)
    except GLError as exc:
        missing(f"no headless GL: {exc}")
    yield ctx
    ctx.release()


@pytest.fixture
def ctx(gl_context: moderngl.Context) -> Iterator[moderngl.Context]:
    """The session GL context, made current; the test fails if a GL error is pending before
    or after it."""
    from app.render.gl import make_current

    # other tests may have created (and released) contexts of their own since
    make_current(gl_context)
    assert gl_context.error == "GL_NO_ERROR", "GL error left by an earlier test"
    yield gl_context
    assert gl_context.error == "GL_NO_ERROR", "GL error raised by this test"


@pytest.fixture(scope="session")
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary bundled with imageio-ffmpeg."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _run_ffmpeg(exe: str, args: list[str]) -> None:
    subprocess.run([exe, "-v", "error", "-y", *args], check=True, capture_output=True)


SWS_FLAGS = "accurate_rnd+full_chroma_int"


@pytest.fixture(scope="session")
def ffmpeg_clip(
    ffmpeg_exe: str, tmp_path_factory: pytest.TempPathFactory
) -> Callable[..., tuple[YuvFrame, np.ndarray]]:
    """Factory: one frame of a lavfi test source encoded by ffmpeg as yuv420p, and ffmpeg's
    own RGB conversion of that same yuv file.

    `clip(source, colorspace, full_range, width=320, height=180)` -> (YuvFrame, (H, W, 3)
    uint8 RGB). Cached per arguments for the session.
    """
    cache: dict[tuple, tuple[YuvFrame, np.ndarray]] = {}
    folder = tmp_path_factory.mktemp("clips")

    def clip(
        source: str, colorspace: str, full_range: bool, width: int = 320, height: int = 180
    ) -> tuple[YuvFrame, np.ndarray]:
        key = (source, colorspace, full_range, width, height)
        if key in cache:
            return cache[key]
        rng = "pc" if full_range else "tv"
        stem = f"{source}_{colorspace}_{rng}_{width}x{height}"
        yuv_path: Path = folder / f"{stem}.yuv"
        rgb_path: Path = folder / f"{stem}.rgb"
        size = f"{width}x{height}"
        _run_ffmpeg(
            ffmpeg_exe,
            [
                *("-f", "lavfi", "-i", f"{source}=size={size}:rate=1"),
                *("-frames:v", "1", "-sws_flags", SWS_FLAGS),
                "-vf",
                f"scale=out_color_matrix={colorspace}:out_range={rng}:flags={SWS_FLAGS},"
                "format=yuv420p",
                *("-f", "rawvideo", str(yuv_path)),
            ],
        )
        _run_ffmpeg(
            ffmpeg_exe,
            [
                *("-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", size, "-i", str(yuv_path)),
                "-sws_flags",
                SWS_FLAGS,
                "-vf",
                f"scale=in_color_matrix={colorspace}:in_range={rng}:flags={SWS_FLAGS},format=rgb24",
                *("-f", "rawvideo", str(rgb_path)),
            ],
        )
        data = np.fromfile(yuv_path, dtype=np.uint8)
        cw, ch = (width + 1) // 2, (height + 1) // 2
        y = data[: width * height].reshape(height, width)
        u = data[width * height : width * height + cw * ch].reshape(ch, cw)
        v = data[width * height + cw * ch :].reshape(ch, cw)
        rgb = np.fromfile(rgb_path, dtype=np.uint8).reshape(height, width, 3)
        frame = YuvFrame(0.0, width, height, y, u, v, colorspace, full_range)
        cache[key] = (frame, rgb)
        return cache[key]

    return clip


def _flat_chroma_mask(frame: YuvFrame, radius: int = 2, tolerance: int = 1) -> np.ndarray:

    def flat(plane: np.ndarray) -> np.ndarray:
        p = np.pad(plane.astype(np.int16), radius, mode="edge")
        h, w = plane.shape
        windows = [
            p[dy : dy + h, dx : dx + w]
            for dy in range(2 * radius + 1)
            for dx in range(2 * radius + 1)
        ]
        stack = np.stack(windows)
        return (stack.max(0) - stack.min(0)) <= tolerance

    chroma_ok = flat(frame.u) & flat(frame.v)
    rows = np.arange(frame.height) // 2
    cols = np.arange(frame.width) // 2
    return chroma_ok[rows[:, None], cols[None, :]]


@pytest.fixture(scope="session")
def flat_chroma_mask() -> Callable[..., np.ndarray]:
    """Function (frame, radius=2, tolerance=1) -> (H, W) bool: luma pixels whose chroma
    neighbourhood (`radius` chroma samples each way) is flat, i.e. away from colour edges,
    where chroma upsampling methods disagree."""
    return _flat_chroma_mask
