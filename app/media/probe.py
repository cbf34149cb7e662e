"""Probing media files: what they are, their size, duration, frame rate, and whether they decode.

`probe(path)` never raises: a file that cannot be played comes back with `MediaInfo.error`
set. Stills are checked with Pillow (fully decoded, so truncated files are caught), videos
with PyAV (the stream's structured fields, its first frame decoded, or parsed for HAP, and
its last packets read), splat scenes by a header check only (the splat loaders own the
full parse). PyAV is imported inside the video functions: a still-only check needs no FFmpeg.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from app.media.ffmpeg import snap_fps
from app.media.still import too_large
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
            refused = too_large(width, height)
            if refused is not None:  # refused before a pixel is decoded, as play does
                return MediaInfo(p, "still", error=refused)
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
    """Open with PyAV, read the stream's fields, decode (or, for HAP, parse) the first frame
    and read the packets at the end of the file (a truncated file whose index survived)."""
    import av

    try:
        container = av.open(str(p), timeout=PROBE_TIMEOUT)
    except av.FFmpegError as exc:
        return MediaInfo(p, "video", error=f"cannot open: {_av_reason(exc)}")
    with container:
        if not container.streams.video:
            return MediaInfo(p, "video", error="no video stream")
        stream = container.streams.video[0]
        info = stream_info(p, stream, container.duration)
        try:
            first = _first_frame(container, stream, info)
        except (av.FFmpegError, MediaError, ValueError) as exc:
            reason = exc.reason if isinstance(exc, MediaError) else _av_reason(exc)
            return _with_error(info, f"cannot decode the first frame: {reason}")
        if first is None:
            return _with_error(info, "cannot decode the first frame: no frame")
        info = replace(info, **first)
        if info.error is None:
            tail = _check_tail(p, container, stream, info)
            if tail is not None:
                return _with_error(info, tail)
    return info


def stream_info(path: Path, stream: Any, container_duration: int | None = None) -> MediaInfo:
    """A video MediaInfo from a PyAV stream's fields (no decoding).

    The frame rate is the stream's average rate, else its guessed rate; the duration the
    stream's, else the container's (microseconds). Colour rules: see `colour_rules`.
    """
    cc = stream.codec_context
    if cc is None:
        return _unknown_codec_info(path, stream)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = snap_fps(float(rate)) if rate else None
    duration: float | None = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container_duration is not None:
        duration = container_duration / 1_000_000
    frames = int(stream.frames) if stream.frames else None
    if frames is None and duration is not None and fps:
        frames = round(duration * fps)
    pix_fmt = cc.format.name if cc.format is not None else None
    codec = cc.name
    hap_variant = None
    if codec == "hap":
        hap_variant = str(stream.codec_tag or "") or "Hap"
    colorspace, full_range = colour_rules(
        cc.colorspace, cc.color_primaries, cc.color_range, pix_fmt, cc.height
    )
    error: str | None = None
    if cc.width <= 0 or cc.height <= 0:
        error = "video has no frame size"
    elif not fps:
        error = "video has no frame rate"
    return MediaInfo(
        path=path,
        kind="video",
        width=cc.width,
        height=cc.height,
        duration=duration,
        fps=fps,
        codec=codec,
        pix_fmt=pix_fmt,
        colorspace=colorspace,
        full_range=full_range,
        frames=frames,
        bit_depth=_bit_depth(pix_fmt),
        # VP8/VP9 keep alpha beside the picture (WebM's alpha_mode): their format shows none
        alpha=_has_alpha(pix_fmt)
        or hap_variant in HAP_ALPHA_TAGS
        or stream.metadata.get("alpha_mode") == "1",
        hap=hap_variant,
        error=error,
    )


# FourCCs of HAP in QuickTime files. FFmpeg's mov demuxer maps all but Hap7 (and HapH) to
# its `hap` codec; for those two PyAV gives a stream without codec, which still demuxes.
HAP_FOURCCS = (b"Hap1", b"Hap5", b"HapY", b"HapM", b"HapA", b"Hap7", b"HapH")
# How much of the file's head and tail is searched for the sample description.
_SAMPLE_ENTRY_SEARCH = 4 << 20


def _unknown_codec_info(path: Path, stream: Any) -> MediaInfo:
    """A stream FFmpeg has no codec for: HAP when its sample description says so."""
    found = hap_sample_entry(path)
    if found is None:
        return MediaInfo(path, "video", error="unknown video codec (FFmpeg cannot decode it)")
    fourcc, width, height = found
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = snap_fps(float(rate)) if rate else None
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    return MediaInfo(
        path=path,
        kind="video",
        width=width,
        height=height,
        duration=duration,
        fps=fps,
        codec="hap",
        frames=int(stream.frames) if stream.frames else None,
        alpha=fourcc in HAP_ALPHA_TAGS,
        hap=fourcc,
        error=None if fps else "video has no frame rate",
    )


def hap_sample_entry(path: Path) -> tuple[str, int, int] | None:
    """(FourCC, width, height) of a HAP sample description in a QuickTime file, or None.

    A visual sample entry is: size (4 bytes, big-endian), FourCC, 6 reserved bytes, data
    reference (2), version, revision (2 each), vendor, temporal and spatial quality (4
    each), then width and height (2 each). Only the head and tail of the file are read
    (where the `moov` box lives).
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(_SAMPLE_ENTRY_SEARCH)
        f.seek(max(size - _SAMPLE_ENTRY_SEARCH, len(head)))
        tail = f.read()
    for data in (head, tail):
        for fourcc in HAP_FOURCCS:
            at = data.find(fourcc, 4)
            while at >= 4:
                entry = int.from_bytes(data[at - 4 : at], "big")
                if 86 <= entry <= 4096 and at + 32 <= len(data):
                    width = int.from_bytes(data[at + 28 : at + 30], "big")
                    height = int.from_bytes(data[at + 30 : at + 32], "big")
                    if width > 0 and height > 0:
                        return fourcc.decode(), width, height
                at = data.find(fourcc, at + 1)
    return None


def _first_frame(container: Any, stream: Any, info: MediaInfo) -> dict[str, Any] | None:
    """Fields only the first frame tells: rotation (display matrix), HAP's texture format.

    A HAP frame is parsed by app.media.hap; where FFmpeg has a HAP decoder (all but Hap7
    and HapH) the packet is decoded too, for the rotation a decoded frame carries.
    """
    import av

    if info.hap is not None:
        from app.media.hap import parse_frame

        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            frame = parse_frame(memoryview(packet), info.width, info.height)
            fields: dict[str, Any] = {"hap": frame.variant, "alpha": frame.has_alpha}
            if stream.codec_context is not None:
                try:
                    decoded = stream.codec_context.decode(packet)
                except av.FFmpegError:  # FFmpeg's decoder is stricter than ours: no rotation
                    decoded = []
                if decoded:
                    fields.update(_rotation_fields(decoded[0], info))
            return fields
        return None
    for frame in container.decode(stream):
        return _rotation_fields(frame, info)
    return None


def _rotation_fields(frame: Any, info: MediaInfo) -> dict[str, Any]:
    rotation = int(round(frame.rotation or 0)) % 360
    fields: dict[str, Any] = {"rotation": rotation}
    if rotation % 180 == 90:  # played upright: a quarter turn swaps the displayed size
        fields.update(width=info.height, height=info.width)
    return fields


def _check_tail(p: Path, container: Any, stream: Any, info: MediaInfo) -> str | None:
    """Read the packets of the last quarter second (no decoding: cheap even with long GOPs);
    a packet that reaches past the end of the file, or none at all, means it is truncated."""
    import av

    size = p.stat().st_size
    entries = stream.index_entries or []
    if entries:
        last = max(e.pos + e.size for e in entries)
        if last > size:
            return f"file is truncated or damaged ({size} bytes, its index reaches {last})"
    if info.duration is None or stream.time_base is None:
        return None
    start = stream.start_time or 0
    target = start + int(max(info.duration - 0.25, 0.0) / stream.time_base)
    packets = 0
    try:
        container.seek(target, stream=stream, backward=True)
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packet.pos is not None and packet.pos >= 0 and packet.pos + packet.size > size:
                return "file is truncated or damaged (its last packet is cut)"
            packets += 1
    except av.FFmpegError as exc:
        return f"file is truncated or damaged (cannot read its end: {_av_reason(exc)})"
    if packets == 0:
        return "file is truncated or damaged (cannot read its end: no packet)"
    return None


# FFmpeg's colour enumerations (AVColorSpace, AVColorPrimaries, AVColorRange), by number.
_BT601_NUMBERS = frozenset({4, 5, 6})  # fcc, bt470bg, smpte170m (matrix and primaries)
_BT709_NUMBERS = frozenset({1, 7, 9, 10})  # bt709, smpte240m, bt2020 (ncl), bt2020 cl
_RANGE_MPEG, _RANGE_JPEG = 1, 2
HAP_ALPHA_TAGS = frozenset({"Hap5", "HapM", "HapA", "Hap7"})


def colour_rules(
    matrix: int | None, primaries: int | None, range_: int | None, pix_fmt: str | None, height: int
) -> tuple[str, bool]:
    """('bt709' | 'bt601', full range) from a stream's colour tags (FFmpeg's numbers).

    The matrix decides; an untagged matrix falls back on the primaries; untagged streams are
    bt709 from 720 lines up, bt601 below. Full range: tagged `pc`/`jpeg`, or a yuvj* format.
    """
    full = range_ == _RANGE_JPEG or bool(pix_fmt and pix_fmt.startswith("yuvj"))
    space = None
    for tag in (matrix, primaries):
        if tag in _BT601_NUMBERS:
            space = "bt601"
            break
        if tag in _BT709_NUMBERS:
            space = "bt709"
            break
    if space is None:
        space = "bt709" if height >= 720 else "bt601"
    return space, full


def _bit_depth(pix_fmt: str | None) -> int:
    if not pix_fmt:
        return 8
    import av

    try:
        return max(c.bits for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, av.FFmpegError):
        return 8


def _has_alpha(pix_fmt: str | None) -> bool:
    if not pix_fmt:
        return False
    import av

    try:
        return any(c.is_alpha for c in av.VideoFormat(pix_fmt).components)
    except (ValueError, av.FFmpegError):
        return False


def _av_reason(exc: BaseException) -> str:
    """FFmpeg's own words for an error, without PyAV's errno prefix and file name."""
    strerror = getattr(exc, "strerror", None)
    return str(strerror or exc)


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
    if p.suffix.lower() == ".ply":
        return _probe_ply(p, size)
    if p.suffix.lower() == ".ksplat":
        from app.media.splats import KSPLAT_REFUSAL

        return MediaInfo(p, "splat", error=KSPLAT_REFUSAL)
    # SPZ and SOG: their counts sit inside compressed data; `check` loads them whole
    # (app.show.check_splats), which is where a damaged one is found
    return MediaInfo(p, "splat", codec=p.suffix.lower().lstrip(".") or p.name)


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
    if header.format == "ascii":
        # each value takes a digit and a separator at least: the rows claimed must fit
        values = sum(len(e.properties) * e.count for e in header.elements)
        if size - header.data_offset < 2 * values:
            return MediaInfo(
                p,
                "splat",
                count=count,
                error=f"file is truncated ({size} bytes cannot hold {count} ASCII vertex rows)",
            )
    return MediaInfo(p, "splat", codec="ply", count=count)
