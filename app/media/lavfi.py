"""Clips made from ffmpeg's lavfi sources (testsrc2, mandelbrot, life, ...), colour-tagged.

The pixels are converted to YUV by the `scale` filter with the matrix and range asked for
(`out_color_matrix`, `out_range`), and the stream carries the same tags, so a decoder that
trusts the tags reproduces ffmpeg's own RGB. The demo's videos are made here
(app/media/demo_assets.py); the benches' clips (app/bench/clips.py) and the tests' too.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from app.atomic import atomic_output
from app.media.ffmpeg import fps_fraction, input_arg, last_line, run_ffmpeg
from app.media.types import MediaError

# lavfi sources that take `size` and `rate` options.
SOURCES = frozenset(
    {
        "testsrc",
        "testsrc2",
        "smptebars",
        "smptehdbars",
        "pal75bars",
        "pal100bars",
        "rgbtestsrc",
        "yuvtestsrc",
        "mandelbrot",
        "life",
        "cellauto",
        "gradients",
        "color",
    }
)

# Codecs that understand -crf.
_CRF_CODECS = frozenset({"libx264", "libx265", "libvpx", "libvpx-vp9", "libaom-av1", "libsvtav1"})

# ffmpeg's names for the tags of each colour space: (matrix, primaries, transfer).
_TAGS = {
    "bt709": ("bt709", "bt709", "bt709"),
    "bt601": ("smpte170m", "smpte170m", "smpte170m"),
}


def make_clip(
    path: str | Path,
    *,
    width: int,
    height: int,
    fps: float,
    seconds: float,
    source: str = "testsrc2",
    codec: str = "libx264",
    colorspace: str = "bt709",
    full_range: bool = False,
    pix_fmt: str = "yuv420p",
    crf: int = 18,
    gop: int | None = None,
    source_options: str = "",
    source_size: tuple[int, int] | None = None,
    filters: str = "",
    preset: str | None = None,
    threads: int | None = None,
) -> Path:
    """Encode `seconds` of a lavfi `source` into `path`; returns the path.

    `colorspace` is 'bt709' or 'bt601' (tagged smpte170m); `full_range` encodes and tags
    pc range. `source_options` are extra `key=value:...` options of the source;
    `source_size` renders the source smaller and enlarges it (nearest neighbour: big crisp
    cells for `life`); `filters` is an extra filter chain applied in RGB before the
    conversion to YUV. `gop` sets the keyframe interval; `preset` and `threads` go to the
    encoder (a fixed thread count keeps x264's bytes the same across machines). The file is
    written atomically. Raises MediaError (with ffmpeg's last stderr line) when encoding
    fails, e.g. odd sizes with 4:2:0 x264.
    """
    if colorspace not in _TAGS:
        raise MediaError(path, f"colorspace must be 'bt709' or 'bt601', got {colorspace!r}")
    if width <= 0 or height <= 0 or fps <= 0 or seconds <= 0:
        raise MediaError(path, "width, height, fps and seconds must be positive")
    if source not in SOURCES:
        raise MediaError(path, f"unknown lavfi source {source!r} (one of {sorted(SOURCES)})")
    out = Path(path)
    matrix, primaries, transfer = _TAGS[colorspace]
    rng = "pc" if full_range else "tv"
    rate = fps_fraction(fps)
    sw, sh = source_size or (width, height)
    src = f"{source}=size={sw}x{sh}:rate={rate}"
    if source_options:
        src += f":{source_options}"
    chain = [] if source_size is None else [f"scale={width}:{height}:flags=neighbor"]
    if filters:
        chain.append(filters)
    scale_matrix = "bt709" if colorspace == "bt709" else "bt601"
    chain.append(f"scale=out_color_matrix={scale_matrix}:out_range={rng}")
    chain.append(f"format={pix_fmt}")
    chain.append(
        f"setparams=range={rng}:color_primaries={primaries}:color_trc={transfer}"
        f":colorspace={matrix}"
    )
    vf = ",".join(chain)
    args: list[str] = ["-loglevel", "error", "-f", "lavfi", "-i", src]
    args += ["-t", f"{seconds:.6f}", "-vf", vf, "-map", "0:v:0", "-c:v", codec]
    if codec in _CRF_CODECS:
        args += ["-crf", str(crf)]
    if preset is not None:
        args += ["-preset", preset]
    if threads is not None:
        args += ["-threads", str(threads)]
    if gop is not None:
        args += ["-g", str(gop)]
    args += ["-pix_fmt", pix_fmt, "-colorspace", matrix, "-color_primaries", primaries]
    args += ["-color_trc", transfer, "-color_range", rng]
    if out.suffix.lower() in (".mp4", ".mov", ".m4v"):
        args += ["-movflags", "+faststart"]
    encode_atomically(out, args)
    return out


def encode_atomically(out: Path, args: list[str], *, timeout: float = 600.0) -> None:
    """Run ffmpeg `args` + an output file next to `out`, then rename it into place."""
    # ffmpeg creates the file itself (ordinary permissions); the suffix picks the muxer.
    with atomic_output(out, unique=True) as tmp:
        try:
            res = run_ffmpeg([*args, "-y", input_arg(tmp)], timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise MediaError(out, f"ffmpeg timed out after {timeout:.0f} s") from exc
        if res.returncode != 0:
            raise MediaError(out, f"ffmpeg failed: {last_line(res.stderr) or 'no message'}")
