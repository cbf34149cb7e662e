"""Finding and running the ffmpeg binary that imageio-ffmpeg bundles.

There is no ffprobe in that bundle: probing parses `ffmpeg -i` output (see app.media.probe).
Everything here is a thin helper; the decoding itself lives in app.media.video. Every other
ffmpeg run (writer, recorder, generation, test clips) goes through `run_ffmpeg` or
`spawn_ffmpeg`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from app.media.types import MediaError

# ffmpeg's error-level lines when run with `-loglevel level+...`.
_ERROR_LINE = re.compile(r"\[(?:error|fatal|panic)\]")


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary (imageio-ffmpeg's, or $IMAGEIO_FFMPEG_EXE when set).

    Raises MediaError when no binary can be found.
    """
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MediaError("ffmpeg", "imageio-ffmpeg is not installed") from exc
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as exc:
        raise MediaError("ffmpeg", f"no ffmpeg binary found ({exc})") from exc
    if not Path(exe).is_file():
        raise MediaError(exe, "ffmpeg binary not found")
    return str(exe)


def ffmpeg_cmd(*args: str | os.PathLike[str]) -> list[str]:
    """An ffmpeg command line: the binary, `-nostdin -hide_banner`, then `args`."""
    return [ffmpeg_exe(), "-nostdin", "-hide_banner", *(os.fspath(a) for a in args)]


def input_arg(path: str | os.PathLike[str]) -> str:
    """A file path as an ffmpeg input/output argument: absolute, so that a name with a colon
    is not taken for a protocol ("a:b.mp4") and one starting with '-' not for an option."""
    return os.path.abspath(os.fspath(path))


def run_ffmpeg(
    args: Sequence[str | os.PathLike[str]], *, timeout: float | None = 120.0
) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg with `args` (after `-nostdin -hide_banner`), capturing stdout and stderr.

    Never raises for a non-zero exit status (the caller reads `returncode`); raises
    subprocess.TimeoutExpired when `timeout` passes (the process is killed first).
    """
    return subprocess.run(
        ffmpeg_cmd(*args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )


def spawn_ffmpeg(
    args: Sequence[str | os.PathLike[str]], *, stdout: int | None = None
) -> subprocess.Popen[bytes]:
    """Start ffmpeg with `args` (after `-nostdin -hide_banner`) reading frames from a stdin
    pipe; stderr is piped for the error message. The caller writes, closes and waits."""
    return subprocess.Popen(
        ffmpeg_cmd(*args),
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=subprocess.PIPE,
        # its own process group: a Ctrl-C in the terminal does not cut a recording short;
        # the caller ends it by closing stdin
        process_group=0,
    )


def last_line(text: bytes | str) -> str:
    """The last non-empty line of some ffmpeg output (its most specific error), stripped."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line:
            return line
    return ""


def error_lines(stderr: bytes | str) -> list[str]:
    """Lines of ffmpeg output (run with `-loglevel level+...`) at error level or worse."""
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    return [line.strip() for line in stderr.splitlines() if _ERROR_LINE.search(line)]


def set_pipe_size(fd: int, size: int = 1 << 20) -> int:
    """Grow a pipe's kernel buffer (Linux); returns the size in effect (0 if unknown).

    A larger pipe lets ffmpeg write a whole chunk of a frame while the reader is busy,
    which means fewer context switches per frame. Fails quietly elsewhere or over the
    system limit (/proc/sys/fs/pipe-max-size), keeping the default.
    """
    if not sys.platform.startswith("linux"):
        return 0
    import fcntl

    # The numbers are the kernel's (Linux ABI), for Pythons whose fcntl lacks the names.
    setsz = getattr(fcntl, "F_SETPIPE_SZ", 1031)
    getsz = getattr(fcntl, "F_GETPIPE_SZ", 1032)
    try:
        return fcntl.fcntl(fd, setsz, size)
    except OSError:
        try:
            return fcntl.fcntl(fd, getsz)
        except OSError:
            return 0


def fps_fraction(fps: float) -> Fraction:
    """A frame rate as an exact fraction: 29.97 -> 30000/1001, 25.0 -> 25."""
    ntsc = round(fps * 1.001)
    if abs(fps - round(fps)) > 1e-6 and abs(ntsc / 1.001 - fps) < 0.006:
        return Fraction(ntsc * 1000, 1001)
    return Fraction(fps).limit_denominator(1001)


def snap_fps(fps: float) -> float:
    """ffmpeg prints frame rates rounded to 2 decimals: 29.97 -> 29.97002997..."""
    return float(fps_fraction(fps))
