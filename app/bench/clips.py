"""The benches' clips: the 1080p30 H.264 bench clip and HAP clips of the same picture.

Bench and test support (the product never imports app/bench): `bench video` and
`bench memory` play these; the HAP tests make their clips with `make_hap_clip` too.
"""

from __future__ import annotations

from pathlib import Path

from app.media.ffmpeg import fps_fraction
from app.media.lavfi import SOURCES, encode_atomically, make_clip
from app.media.types import MediaError

BENCH_CLIP_SIZE = (1920, 1080)
BENCH_CLIP_FPS = 30.0
BENCH_CLIP_SECONDS = 10.0

# ffmpeg's HAP encoder formats (it writes Hap1, Hap5 and HapY; the other variants are
# assembled from their sections by the tests).
HAP_ENCODER_FORMATS = {"Hap1": "hap", "Hap5": "hap_alpha", "HapY": "hap_q"}


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
    filters: str = "",
) -> Path:
    """Encode `seconds` of a lavfi `source` as HAP (`variant` Hap1, Hap5 or HapY) in a .mov.

    `chunks` cuts each texture into that many chunks (decode instructions), `compressor`
    is 'snappy' or 'none'; width and height must be multiples of 4 (ffmpeg's encoder asks
    it). `filters` is an extra filter chain applied to the RGBA picture (the tests draw an
    alpha ramp with it for Hap5).
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
    if filters:
        vf += f",{filters}"
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
