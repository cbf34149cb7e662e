"""Synthetic test and bench clips made with ffmpeg's lavfi sources, correctly colour-tagged.

The pixels are converted to YUV by the `scale` filter with the matrix and range asked for
(`out_color_matrix`, `out_range`), and the stream carries the same tags, so a decoder that
trusts the tags reproduces ffmpeg's own RGB. Used by tests, `bench video` and demo media.
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

BENCH_CLIP_SIZE = (1920, 1080)
BENCH_CLIP_FPS = 30.0
BENCH_CLIP_SECONDS = 10.0


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


def make_bench_clip(path: str | Path) -> Path:
    """The default `bench video` clip: 10 s of 1080p30 H.264 (testsrc2, BT.709, GOP 60)."""
    w, h = BENCH_CLIP_SIZE
    return make_clip(
        path,
        width=w,
        height=h,
        fps=BENCH_CLIP_FPS,
        seconds=BENCH_CLIP_SECONDS,
        source="testsrc2",
        crf=20,
        gop=60,
        preset="veryfast",
    )


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


# ffmpeg's HAP encoder formats (it writes Hap1, Hap5 and HapY; the other variants are
# assembled from their sections by the tests).
HAP_ENCODER_FORMATS = {"Hap1": "hap", "Hap5": "hap_alpha", "HapY": "hap_q"}


def make_hap_clip(
    path: str | Path,
    *,
    width: int,
    height: int,
    fps: float,
    seconds: float,
    variant: str = "Hap1",
    chunks: int = 1,
    compressor: str = "snappy",
    source: str = "testsrc2",
    alpha_ramp: bool = False,
) -> Path:
    """Encode `seconds` of a lavfi `source` as HAP (`variant` Hap1, Hap5 or HapY) in a .mov.

    `chunks` cuts each texture into that many chunks (decode instructions), `compressor`
    is 'snappy' or 'none'; width and height must be multiples of 4 (ffmpeg's encoder asks
    it). `alpha_ramp` makes alpha run from 0 on the left to 255 on the right (Hap5).
    """
    if variant not in HAP_ENCODER_FORMATS:
        raise MediaError(path, f"ffmpeg encodes {sorted(HAP_ENCODER_FORMATS)}, not {variant!r}")
    if width % 4 or height % 4 or width <= 0 or height <= 0:
        raise MediaError(path, f"HAP clips need sizes in multiples of 4, got {width}x{height}")
    if source not in SOURCES:
        raise MediaError(path, f"unknown lavfi source {source!r} (one of {sorted(SOURCES)})")
    out = Path(path)
    src = f"{source}=size={width}x{height}:rate={fps_fraction(fps)}"
    vf = "format=rgba"
    if alpha_ramp:
        vf += ",geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='255*X/(W-1)'"
    args: list[str] = ["-loglevel", "error", "-f", "lavfi", "-i", src, "-t", f"{seconds:.6f}"]
    args += ["-vf", vf, "-c:v", "hap", "-format", HAP_ENCODER_FORMATS[variant]]
    args += ["-chunks", str(chunks), "-compressor", compressor]
    encode_atomically(out, args)
    return out


def make_bench_hap_clips(folder: str | Path, seconds: float = 4.0) -> dict[str, Path]:
    """`bench video` (e): the bench clip's picture (1080p30 testsrc2) as Hap1 and Hap Q."""
    w, h = BENCH_CLIP_SIZE
    d = Path(folder)
    return {
        variant: make_hap_clip(
            d / f"bench_{variant.lower()}.mov",
            width=w,
            height=h,
            fps=BENCH_CLIP_FPS,
            seconds=seconds,
            variant=variant,
        )
        for variant in ("Hap1", "HapY")
    }
