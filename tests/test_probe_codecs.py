"""probe()'s structured fields (range, bit depth, alpha, rotation) on every codec `check`
accepts, each read from a clip made here with the imageio-ffmpeg binary."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from app.bench.clips import make_hap_clip
from app.media.ffmpeg import run_ffmpeg
from app.media.lavfi import make_clip
from app.media.probe import probe
from app.media.types import YuvFrame
from app.media.video import VideoSource
from tests.hap_clips import bc7_flat, rgtc1_flat, section, write_hap_mov

W, H, FPS = 64, 48, 10.0


@dataclass(frozen=True)
class Codec:
    """How to make a clip of one codec and what it can carry."""

    ext: str
    encoder: str
    name: str  # the decoder's name probe reports
    base: str = "yuv420p"  # the plain clip's pixel format
    deep: str = "yuv420p10le"  # a 10-bit format
    alpha: str | None = None  # a format with alpha, where the codec has one
    full_range: bool = True  # whether the codec carries a full-range tag


CODECS = {
    "h264": Codec(".mp4", "libx264", "h264"),
    "hevc": Codec(".mp4", "libx265", "hevc"),
    "vp9": Codec(".webm", "libvpx-vp9", "vp9", alpha="yuva420p"),
    "av1": Codec(".mp4", "libaom-av1", "libdav1d"),
    # ProRes is limited range by definition: its encoder writes no range tag
    "prores": Codec(
        ".mov", "prores_ks", "prores", "yuv422p10le", "yuv422p10le", "yuva444p10le", False
    ),
    "ffv1": Codec(".mkv", "ffv1", "ffv1", alpha="yuva420p"),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("codec_clips")


def clip(folder: Path, codec: str, kind: str = "plain") -> Path:
    """The clip of `codec` ('plain', 'full', 'deep', 'alpha' or 'rotated'), made once."""
    c = CODECS[codec]
    path = folder / f"{codec}-{kind}{c.ext}"
    if path.exists():
        return path
    common = dict(width=W, height=H, fps=FPS, seconds=0.3, codec=c.encoder)
    if kind == "rotated":
        plain = clip(folder, codec)
        run_ffmpeg(["-v", "error", "-display_rotation", "90", "-i", plain, "-c", "copy", path])
        return path
    pix_fmt = {"deep": c.deep, "alpha": c.alpha}.get(kind) or c.base
    return make_clip(path, pix_fmt=pix_fmt, full_range=kind == "full", **common)


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_range(folder: Path, codec: str) -> None:
    plain, full = probe(clip(folder, codec)), probe(clip(folder, codec, "full"))
    assert plain.error is None and full.error is None
    assert plain.codec == CODECS[codec].name
    assert plain.full_range is False
    assert full.full_range is CODECS[codec].full_range


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_bit_depth(folder: Path, codec: str) -> None:
    plain, deep = probe(clip(folder, codec)), probe(clip(folder, codec, "deep"))
    assert plain.bit_depth == (10 if CODECS[codec].base.endswith("10le") else 8)
    assert deep.error is None and deep.bit_depth == 10 and deep.pix_fmt == CODECS[codec].deep


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_alpha(folder: Path, codec: str) -> None:
    assert probe(clip(folder, codec)).alpha is False
    if CODECS[codec].alpha is None:
        return
    info = probe(clip(folder, codec, "alpha"))
    assert info.error is None and info.alpha is True


@pytest.mark.parametrize("codec", sorted(CODECS))
def test_rotation(folder: Path, codec: str) -> None:
    info = probe(clip(folder, codec, "rotated"))
    assert info.error is None
    assert info.rotation == 90 and (info.width, info.height) == (H, W)


# -- HAP ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hap(folder: Path) -> dict[str, Path]:
    common = dict(width=W, height=H, fps=FPS, seconds=0.3)
    out = {v: make_hap_clip(folder / f"{v}.mov", variant=v, **common) for v in ("Hap1", "Hap5")}
    out["HapY"] = make_hap_clip(folder / "HapY.mov", variant="HapY", **common)
    alpha = rgtc1_flat(np.full((H // 4, W // 4), 200, np.uint8))
    out["HapM"] = write_hap_mov(
        folder / "HapM.mov",
        out["HapY"],
        "HapM",
        lambda i, p: section(0x0D, p + section(0xA1, alpha)),
    )
    out["HapA"] = write_hap_mov(
        folder / "HapA.mov", out["HapY"], "HapA", lambda i, p: section(0xA1, alpha)
    )
    bc7 = bc7_flat(np.full((H // 4, W // 4, 4), 128, np.uint8))
    out["Hap7"] = write_hap_mov(
        folder / "Hap7.mov", out["HapY"], "Hap7", lambda i, p: section(0xAC, bc7, long=True)
    )
    return out


@pytest.mark.parametrize(
    ("variant", "alpha"),
    [
        ("Hap1", False),
        ("Hap5", True),
        ("HapY", False),
        ("HapM", True),
        ("HapA", True),
        ("Hap7", True),
    ],
)
def test_hap_fields(hap: dict[str, Path], variant: str, alpha: bool) -> None:
    info = probe(hap[variant])
    assert info.error is None
    assert (info.codec, info.hap, info.alpha) == ("hap", variant, alpha)
    assert (info.width, info.height, info.bit_depth, info.full_range, info.rotation) == (
        W,
        H,
        8,
        False,
        0,
    )


def test_rotated_hap_is_reported_and_plays_upright_on_the_cpu(
    hap: dict[str, Path], folder: Path
) -> None:
    rotated = folder / "Hap1-rotated.mov"
    run_ffmpeg(["-v", "error", "-display_rotation", "90", "-i", hap["Hap1"], "-c", "copy", rotated])
    info = probe(rotated)
    assert info.error is None
    assert (info.hap, info.rotation, info.width, info.height) == ("Hap1", 90, H, W)
    with VideoSource(rotated, info=info, hap=True) as src:
        frame = src.preroll()
    # textures cannot be turned: the frame is FFmpeg's decode, turned upright
    assert isinstance(frame, YuvFrame) and (frame.width, frame.height) == (H, W)
