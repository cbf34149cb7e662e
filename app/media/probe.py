"""Probing media files: what they are, their size, duration, frame rate, and whether they decode.

`probe(path)` never raises: a file that cannot be played comes back with `MediaInfo.error`
set. Stills are checked with Pillow (fully decoded, so truncated files are caught), videos
by parsing `ffmpeg -i` output (there is no ffprobe in imageio-ffmpeg's bundle), decoding
their first frame and reading their last packets, splat scenes by a header check only
(the splat loaders own the full parse).
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace
from pathlib import Path

from PIL import Image

from app.media.ffmpeg import error_lines, input_arg, last_line, run_ffmpeg, snap_fps
from app.media.types import MediaError, MediaInfo
from app.show.model import MediaKind, media_kind_for

# Seconds before a probe gives up on a file (a network mount that hangs, a pathological file).
PROBE_TIMEOUT = 30.0
# Size of one record of the antimatter15 `.splat` format (position, scale, colour, rotation).
SPLAT_RECORD_BYTES = 32
# How far into a .ply file the header may reach before we call it garbage.
PLY_HEADER_LIMIT = 1 << 16

_PLY_TYPE_SIZES = {
    "char": 1,
    "uchar": 1,
    "int8": 1,
    "uint8": 1,
    "short": 2,
    "ushort": 2,
    "int16": 2,
    "uint16": 2,
    "int": 4,
    "uint": 4,
    "int32": 4,
    "uint32": 4,
    "float": 4,
    "float32": 4,
    "double": 8,
    "float64": 8,
}

_STREAM_RE = re.compile(r"Stream #\d+:\d+[^:]*: Video: (.*)$", re.MULTILINE)
_DURATION_RE = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_SIZE_RE = re.compile(r"^(\d+)x(\d+)\b")
_ROTATION_RE = re.compile(r"rotation of (-?\d+(?:\.\d+)?) degrees", re.IGNORECASE)
_RATE_RE = re.compile(r"^(\d+(?:\.\d+)?)(k?) (fps|tbr)$")

_BT601_NAMES = frozenset({"bt470bg", "smpte170m", "bt601", "bt470m", "fcc"})
_BT709_NAMES = frozenset({"bt709", "bt2020nc", "bt2020c", "smpte240m"})


def probe(path: str | Path) -> MediaInfo:
    """Describe a media file; never raises. `MediaInfo.error` says why it cannot be played.

    The kind comes from the extension (see app.show.model). Missing files give the error
    "file not found".
    """
    p = Path(path)
    kind = media_kind_for(p)
    kind_name = kind.value if kind is not None else "unknown"
    try:
        if not p.exists():
            return MediaInfo(p, kind_name, error="file not found")
        if not p.is_file():
            return MediaInfo(p, kind_name, error="not a file")
        if p.stat().st_size == 0:
            return MediaInfo(p, kind_name, error="file is empty")
        if kind is MediaKind.STILL:
            return _probe_still(p)
        if kind is MediaKind.VIDEO:
            return _probe_video(p)
        if kind is MediaKind.SPLAT:
            return _probe_splat(p)
        return MediaInfo(p, "unknown", error=f"unknown media type (extension {p.suffix!r})")
    except MediaError as exc:
        return MediaInfo(p, kind_name, error=exc.reason)
    except Exception as exc:  # a probe must never take the caller down
        return MediaInfo(p, kind_name, error=f"cannot probe: {type(exc).__name__}: {exc}")


# -- stills -----------------------------------------------------------------------------------


def _probe_still(p: Path) -> MediaInfo:
    try:
        with Image.open(p) as img:
            fmt = (img.format or "").lower() or None
            mode = img.mode
            width, height = img.size
            orientation = img.getexif().get(0x0112, 1)
            img.load()  # decodes everything: truncated or corrupt data fails here
    except Image.DecompressionBombError as exc:
        return MediaInfo(p, "still", error=f"image too large: {exc}")
    except (OSError, ValueError, SyntaxError, Image.UnidentifiedImageError) as exc:
        return MediaInfo(p, "still", error=f"cannot decode image: {exc}")
    if orientation in (5, 6, 7, 8):  # EXIF rotations by 90 degrees: shown transposed
        width, height = height, width
    if width <= 0 or height <= 0:
        return MediaInfo(p, "still", error="image has no pixels")
    return MediaInfo(p, "still", width=width, height=height, codec=fmt, pix_fmt=mode)


# -- videos -----------------------------------------------------------------------------------


def _probe_video(p: Path) -> MediaInfo:
    try:
        res = run_ffmpeg(
            ["-loglevel", "level+info", "-i", input_arg(p), "-map", "0:v:0", "-frames:v", "1"]
            + ["-f", "framecrc", "-"],
            timeout=PROBE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return MediaInfo(p, "video", error=f"ffmpeg timed out after {PROBE_TIMEOUT:.0f} s")
    stderr = res.stderr.decode("utf-8", "replace")
    info = parse_ffmpeg_info(p, stderr)
    if info.error is not None:
        return info
    if res.returncode != 0 or _frame_lines(res.stdout) < 1:
        errors = error_lines(stderr)
        reason = _strip_level(errors[-1]) if errors else last_line(stderr)
        return _with_error(info, f"cannot decode the first frame: {reason or 'no frame'}")
    tail = _check_tail(p)
    if tail is not None:
        return _with_error(info, tail)
    return info


def _check_tail(p: Path) -> str | None:
    """Read the packets of the last quarter second (no decoding: cheap even with long
    GOPs): a truncated file whose index survived fails here."""
    try:
        res = run_ffmpeg(
            ["-loglevel", "level+error", "-sseof", "-0.25", "-i", input_arg(p)]
            + ["-map", "0:v:0"]
            + ["-c", "copy", "-f", "framecrc", "-"],
            timeout=PROBE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        return f"ffmpeg timed out after {PROBE_TIMEOUT:.0f} s reading the end of the file"
    stderr = res.stderr.decode("utf-8", "replace")
    errors = error_lines(stderr)
    if res.returncode != 0 or _frame_lines(res.stdout) < 1 or "partial file" in stderr:
        reason = _strip_level(errors[-1]) if errors else "no packet"
        return f"file is truncated or damaged (cannot read its end: {reason})"
    return None


def parse_ffmpeg_info(path: Path, stderr: str) -> MediaInfo:
    """Build a video MediaInfo from the stderr of `ffmpeg -i FILE` (its input dump).

    Colour space: bt709 unless tagged bt470bg/smpte170m (-> 'bt601'); untagged streams are
    bt709 from 720 lines up, bt601 below. Range: `pc`/`jpeg` or a yuvj* format is full range.
    """
    m = _STREAM_RE.search(stderr)
    if m is None:
        errors = error_lines(stderr)
        if errors and "Input #0" not in stderr:
            # The first error is the specific one ("moov atom not found"); the rest are
            # ffmpeg's generic "Error opening input" follow-ups.
            return MediaInfo(path, "video", error=f"cannot open: {_strip_level(errors[0])}")
        return MediaInfo(path, "video", error="no video stream")
    segments = _split_top_level(m.group(1))
    codec = segments[0].split()[0] if segments and segments[0] else None
    pix_fmt: str | None = None
    tags: list[str] = []
    if len(segments) > 1:
        pm = re.match(r"^([\w]+)(?:\((.*)\))?", segments[1])
        if pm is not None and not _SIZE_RE.match(segments[1]):
            pix_fmt = pm.group(1)
            tags = [t.strip() for t in (pm.group(2) or "").split(",") if t.strip()]
    width = height = 0
    fps: float | None = None
    tbr: float | None = None
    for seg in segments[1:]:
        sm = _SIZE_RE.match(seg)
        if sm is not None and width == 0:
            width, height = int(sm.group(1)), int(sm.group(2))
            continue
        rm = _RATE_RE.match(seg)
        if rm is not None:
            value = float(rm.group(1)) * (1000.0 if rm.group(2) else 1.0)
            if rm.group(3) == "fps":
                fps = value
            else:
                tbr = value
    rate = fps if fps else tbr
    # ffmpeg applies a display matrix when decoding: a quarter turn swaps the output size.
    block = stderr[m.end() :].split("Stream #", 1)[0]
    rot = _ROTATION_RE.search(block)
    if rot is not None and round(float(rot.group(1))) % 180 == 90:
        width, height = height, width
    duration = _parse_duration(stderr)
    colorspace, full_range = _colour(pix_fmt, tags, height)
    error: str | None = None
    if width <= 0 or height <= 0:
        error = "video has no frame size"
    elif not rate:
        error = "video has no frame rate"
    return MediaInfo(
        path=path,
        kind="video",
        width=width,
        height=height,
        duration=duration,
        fps=snap_fps(rate) if rate else None,
        codec=codec,
        pix_fmt=pix_fmt,
        colorspace=colorspace,
        full_range=full_range,
        error=error,
    )


def _colour(pix_fmt: str | None, tags: list[str], height: int) -> tuple[str, bool]:
    full = bool(pix_fmt and pix_fmt.startswith("yuvj"))
    space: str | None = None
    for tag in tags:
        if tag in ("pc", "jpeg"):
            full = True
        elif tag in ("tv", "mpeg"):
            full = full and bool(pix_fmt and pix_fmt.startswith("yuvj"))
        elif "/" in tag or tag in _BT601_NAMES or tag in _BT709_NAMES:
            # `matrix` alone when matrix, primaries and transfer agree, else
            # `matrix/primaries/transfer`; an untagged matrix falls back on the primaries.
            for name in tag.split("/")[:2]:
                if name in _BT601_NAMES:
                    space = "bt601"
                    break
                if name in _BT709_NAMES:
                    space = "bt709"
                    break
    if space is None:
        space = "bt709" if height >= 720 else "bt601"
    return space, full


def _parse_duration(stderr: str) -> float | None:
    m = _DURATION_RE.search(stderr)
    if m is None:
        return None
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def _split_top_level(text: str) -> list[str]:
    """Split ffmpeg's stream description at commas outside () and []."""
    parts: list[str] = []
    depth = 0
    cur: list[str] = []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth = max(0, depth - 1)
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return parts


def _strip_level(line: str) -> str:
    return re.sub(r"^(?:\[[^\]]*\]\s*)+", "", line).strip()


def _frame_lines(stdout: bytes) -> int:
    """Frames listed by ffmpeg's framecrc muxer (comment lines start with '#')."""
    return sum(1 for line in stdout.splitlines() if line and not line.startswith(b"#"))


def _with_error(info: MediaInfo, error: str) -> MediaInfo:
    return replace(info, error=error)


# -- splat scenes -----------------------------------------------------------------------------


def _probe_splat(p: Path) -> MediaInfo:
    size = p.stat().st_size
    if p.suffix.lower() == ".splat":
        if size % SPLAT_RECORD_BYTES:
            return MediaInfo(
                p,
                "splat",
                error=f"size {size} is not a multiple of {SPLAT_RECORD_BYTES} bytes",
            )
        return MediaInfo(p, "splat", codec="splat", count=size // SPLAT_RECORD_BYTES)
    return _probe_ply(p, size)


def _probe_ply(p: Path, size: int) -> MediaInfo:
    from app.media.splats import parse_ply_header  # the one PLY header parser

    with open(p, "rb") as f:
        head = f.read(PLY_HEADER_LIMIT)
    try:
        header = parse_ply_header(head, p)
    except MediaError as exc:
        return MediaInfo(p, "splat", error=exc.reason)
    vertex = header.element("vertex")
    if vertex is None:
        return MediaInfo(p, "splat", error="PLY has no vertex element")
    count = vertex.count
    if count <= 0:
        return MediaInfo(p, "splat", error="PLY has no vertices")
    # the size check needs fixed-size binary vertex rows at the start of the body
    stride = vertex.row_bytes
    if header.format != "ascii" and stride and header.elements[0] is vertex:
        needed = header.data_offset + count * stride
        if size < needed:
            return MediaInfo(
                p,
                "splat",
                count=count,
                error=f"file is truncated ({size} bytes, {count} vertices need {needed})",
            )
    return MediaInfo(p, "splat", codec="ply", count=count)
