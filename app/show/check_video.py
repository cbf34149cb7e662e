"""What `check` says about a show's video clips: one row per clip (codec, size, rate, pixel
format, HAP variant, how it will play) and the warnings worth acting on before a concert.

Pure functions of the show and the probe results (app.media.probe): no decoding here.

The load rule: a cue's layer shows one clip at a time (two during a crossfade), and layers
play at once; the heaviest CPU-decoded clip of each layer is summed, in pixels per second,
and a show above one 4K30 stream (CPU_VIDEO_BUDGET) is told which clips to turn into HAP,
whose frames skip the CPU decode (about 9 ms per 1080p H.264 frame here against 0.5 ms for
a Hap1 frame's parse, Snappy and upload: shared/notes/video-hap.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from app.media.types import MediaInfo
from app.show.model import Cue, MediaKind, Show

# Pixels per second of CPU video decode a show may ask for before `check` warns: one 4K30
# stream (about what this 2-core machine decodes of H.264 with room for the rest).
CPU_VIDEO_BUDGET = 3840 * 2160 * 30
# From this many pixels a frame counts as 4K in the advice.
UHD_PIXELS = 3840 * 2160 * 9 // 10

# What each HAP variant holds, for the table.
HAP_LAYOUTS = {
    "Hap1": "Hap1 DXT1",
    "Hap5": "Hap5 DXT5 + alpha",
    "HapY": "Hap Q (YCoCg DXT5)",
    "HapM": "Hap Q Alpha (YCoCg + RGTC1)",
    "HapA": "Hap Alpha only (RGTC1)",
    "Hap7": "Hap R (BC7)",
    "HapH": "Hap HDR (BC6H)",
}
# Variants FFmpeg has no decoder for: they play only as GPU textures.
GPU_ONLY = frozenset({"Hap7", "HapH"})
# The ffmpeg line that turns a clip into HAP, by what the clip needs.
HAP_COMMAND = "ffmpeg -i {src} -c:v hap -format {fmt} -chunks 4 {dst}"


@dataclass(frozen=True)
class VideoRow:
    """One video clip of the show, as `check` lists it."""

    media_ref: str
    info: MediaInfo  # what the probe found in the file
    cues: tuple[str, ...]  # ids of the cues that play it
    line: int = 0  # show-file line of the first of them

    @property
    def codec(self) -> str:
        return self.info.codec or "?"

    @property
    def gpu(self) -> bool:
        """Whether its frames go to the GPU as compressed textures (an upright HAP clip)."""
        return self.info.hap is not None and (not self.info.rotation or self.info.hap in GPU_ONLY)

    @property
    def plays_as(self) -> str:
        if self.gpu:
            return "GPU textures"
        if self.info.hap is not None:
            return "CPU decode (rotated HAP)"
        return "CPU decode"

    @property
    def format(self) -> str:
        """'HapY (Hap Q...)' for HAP, else pixel format, bit depth, range, alpha, rotation."""
        if self.info.hap is not None:
            parts = [HAP_LAYOUTS.get(self.info.hap, self.info.hap)]
        else:
            parts = [self.info.pix_fmt or "?", f"{self.info.bit_depth}-bit"]
            parts.append("full range" if self.info.full_range else "tv range")
            if self.info.alpha:
                parts.append("alpha")
        if self.info.rotation:
            parts.append(f"rotated {self.info.rotation}")
        return ", ".join(parts)

    @property
    def pixel_rate(self) -> float:
        """Pixels per second it asks of its decoder."""
        return float(self.info.width * self.info.height * (self.info.fps or 0.0))


def video_rows(show: Show, infos: Mapping[Path, MediaInfo]) -> list[VideoRow]:
    """One row per playable video file of the show, in cue order."""
    cues_of: dict[Path, list[Cue]] = {}
    for cue in show.cues:
        info = infos.get(cue.media)
        if cue.kind is MediaKind.VIDEO and info is not None and info.error is None:
            cues_of.setdefault(cue.media, []).append(cue)
    rows = []
    for media, cues in cues_of.items():
        rows.append(
            VideoRow(
                media_ref=cues[0].media_ref,
                info=infos[media],
                cues=tuple(c.id for c in cues),
                line=cues[0].line,
            )
        )
    return rows


def video_warnings(show: Show, rows: Sequence[VideoRow], path: Path | None = None) -> list[str]:
    """Advice about the clips, each as `show:line: ...` (`path`: the show file as the user
    named it; default the show's): CPU decode load over the layers, alpha that will not
    show, rotated HAP, GPU-only HAP variants."""
    where = path or show.path
    by_ref = {r.media_ref: r for r in rows}
    out: list[str] = []
    for r in rows:
        cues = f"{where}:{r.line}: cue {', '.join(r.cues)}"
        if r.info.alpha and r.info.hap is None:
            out.append(
                f"{cues}: {r.media_ref}: its alpha is dropped ({r.codec} {r.info.pix_fmt}): only "
                f"HAP alpha composites; encode it with "
                + HAP_COMMAND.format(src=r.media_ref, fmt="hap_alpha", dst=_mov(r.media_ref))
            )
        if r.info.hap is not None and not r.gpu:
            out.append(
                f"{cues}: {r.media_ref} is a rotated {r.info.hap} clip: it plays through FFmpeg's "
                "CPU decoder (turned upright), not as GPU textures; re-encode it upright "
                "(ffmpeg turns it while encoding)"
            )
        if r.info.hap in GPU_ONLY:
            out.append(
                f"{cues}: {r.media_ref}: {r.info.hap} plays only on a GL with "
                f"{'BPTC (BC7)' if r.info.hap == 'Hap7' else 'BPTC (BC6H)'} textures: FFmpeg "
                "has no decoder to fall back on"
            )
    out += _load_warnings(show, by_ref, where)
    return out


def _load_warnings(show: Show, by_ref: Mapping[str, VideoRow], where: Path) -> list[str]:
    heaviest: dict[int, VideoRow] = {}
    for cue in show.cues:
        row = by_ref.get(cue.media_ref)
        if row is None or row.gpu:
            continue
        best = heaviest.get(cue.layer)
        if best is None or row.pixel_rate > best.pixel_rate:
            heaviest[cue.layer] = row
    total = sum(r.pixel_rate for r in heaviest.values())
    if total <= CPU_VIDEO_BUDGET:
        return []
    heavy = sorted(heaviest.items(), key=lambda lr: -lr[1].pixel_rate)
    listed = "; ".join(
        f"layer {layer}: {r.media_ref} ({r.codec} {r.info.width}x{r.info.height} "
        f"at {r.info.fps:g} fps)"
        for layer, r in heavy
    )
    uhd = [r for _, r in heavy if r.info.width * r.info.height >= UHD_PIXELS]
    what = "4K clips" if uhd else "clips"
    first = (uhd or [heavy[0][1]])[0]
    fmt = "hap_alpha" if first.info.alpha else "hap_q"
    layers = f"{len(heaviest)} layer{'s' if len(heaviest) != 1 else ''}"
    return [
        f"{where}: video on {layers} asks for up to "
        f"{total / 1e6:.0f} Mpixel/s of CPU decoding, more than one 4K30 stream "
        f"({CPU_VIDEO_BUDGET / 1e6:.0f}): {listed}. HAP frames skip the CPU decode: encode "
        f"the {what} as HAP, e.g. "
        + HAP_COMMAND.format(src=first.media_ref, fmt=fmt, dst=_mov(first.media_ref))
        + " (hap: smallest; hap_q: better colour; hap_alpha: with alpha)"
    ]


def format_videos(rows: Sequence[VideoRow]) -> list[str]:
    """The 'video clips' table of the report (no lines when the show has no video)."""
    if not rows:
        return []
    header = ("media", "codec", "size", "fps", "format", "plays as")
    table = [
        (
            r.media_ref,
            r.codec,
            f"{r.info.width}x{r.info.height}",
            "-" if r.info.fps is None else f"{r.info.fps:.5g}",
            r.format,
            r.plays_as,
        )
        for r in rows
    ]
    widths = [max([len(h), *(len(t[i]) for t in table)]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        return "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return ["", "video clips:", line(header), *(line(t) for t in table)]


def _mov(ref: str) -> str:
    return str(Path(ref).with_suffix("")) + "-hap.mov"
