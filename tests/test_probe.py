"""probe(): video tags and timing from generated clips, stills, splat headers, bad files."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from app.media.ffmpeg import run_ffmpeg
from app.media.lavfi import make_clip
from app.media.probe import colour_rules, probe

W, H = 160, 90


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("probe_clips")
    common = dict(width=W, height=H, seconds=1.0, gop=10)
    return {
        "709": make_clip(d / "709.mp4", fps=25, colorspace="bt709", **common),
        "601full": make_clip(
            d / "601full.mp4", fps=25, colorspace="bt601", full_range=True, **common
        ),
        "ntsc": make_clip(d / "ntsc.mkv", fps=30000 / 1001, source="smptebars", **common),
        "long": make_clip(d / "long.mp4", width=W, height=H, fps=10, seconds=4.0, gop=10),
    }


def test_bt709_limited_clip(clips: dict[str, Path]) -> None:
    info = probe(clips["709"])
    assert info.error is None
    assert (info.kind, info.width, info.height) == ("video", W, H)
    assert info.codec == "h264" and info.pix_fmt == "yuv420p"
    assert info.colorspace == "bt709" and info.full_range is False
    assert info.fps == pytest.approx(25.0)
    assert info.duration == pytest.approx(1.0, abs=0.05)


def test_bt601_full_range_clip(clips: dict[str, Path]) -> None:
    info = probe(clips["601full"])
    assert info.error is None
    assert info.colorspace == "bt601" and info.full_range is True


def test_ntsc_frame_rate_is_exact(clips: dict[str, Path]) -> None:
    info = probe(clips["ntsc"])
    assert info.error is None
    assert info.fps == pytest.approx(30000 / 1001, abs=1e-9)
    assert info.duration == pytest.approx(1.0, abs=0.05)


def test_missing_file() -> None:
    info = probe("/nonexistent/clip.mp4")
    assert info.error == "file not found" and info.kind == "video"


@pytest.mark.parametrize("name", ["empty.mp4", "garbage.mp4", "garbage.png", "garbage.mkv"])
def test_garbage_and_empty_files_give_errors(tmp_path: Path, name: str) -> None:
    p = tmp_path / name
    rng = np.random.default_rng(0)
    p.write_bytes(b"" if name.startswith("empty") else rng.bytes(4000))
    info = probe(p)
    assert info.error


def test_truncated_video_with_index_up_front(clips: dict[str, Path], tmp_path: Path) -> None:
    # make_clip writes faststart MP4s: the index survives a cut, the end of the data does not.
    data = clips["long"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    info = probe(cut)
    assert info.error and "truncated" in info.error


def test_truncated_video_without_index(clips: dict[str, Path], tmp_path: Path) -> None:
    cut = tmp_path / "head.mp4"
    cut.write_bytes(clips["709"].read_bytes()[:100])
    assert probe(cut).error


def test_unknown_extension(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    info = probe(p)
    assert info.kind == "unknown" and info.error


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    d = tmp_path / "dir.mp4"
    d.mkdir()
    assert probe(d).error == "not a file"


# -- stills -----------------------------------------------------------------------------------


def test_still_size_and_format(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    Image.new("RGB", (64, 48), (10, 20, 30)).save(p)
    info = probe(p)
    assert info.error is None
    assert (info.kind, info.width, info.height, info.codec) == ("still", 64, 48, "png")


def test_truncated_still(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    p = tmp_path / "noise.png"
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    info = probe(p)
    assert info.kind == "still" and info.error


def test_exif_rotated_still_reports_displayed_size(tmp_path: Path) -> None:
    p = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees to display
    Image.new("RGB", (64, 48)).save(p, exif=exif)
    info = probe(p)
    assert (info.width, info.height) == (48, 64)


# -- splat scenes -----------------------------------------------------------------------------


def _ply(path: Path, n: int, *, data_vertices: int | None = None, ascii: bool = False) -> Path:
    props = ["x", "y", "z", "opacity"]
    header = "ply\n"
    header += "format ascii 1.0\n" if ascii else "format binary_little_endian 1.0\n"
    header += f"element vertex {n}\n" + "".join(f"property float {p}\n" for p in props)
    header += "end_header\n"
    k = n if data_vertices is None else data_vertices
    if ascii:
        body = "".join("0 0 0 1\n" for _ in range(k)).encode()
    else:
        body = b"".join(struct.pack("<4f", 0, 0, 0, 1) for _ in range(k))
    path.write_bytes(header.encode() + body)
    return path


def test_ply_vertex_count(tmp_path: Path) -> None:
    info = probe(_ply(tmp_path / "s.ply", 5))
    assert info.error is None and info.kind == "splat" and info.count == 5


def test_ascii_ply_vertex_count(tmp_path: Path) -> None:
    info = probe(_ply(tmp_path / "a.ply", 3, ascii=True))
    assert info.error is None and info.count == 3


def test_truncated_ply(tmp_path: Path) -> None:
    info = probe(_ply(tmp_path / "t.ply", 10, data_vertices=4))
    assert info.error and "truncated" in info.error


def test_ply_garbage_and_empty(tmp_path: Path) -> None:
    (tmp_path / "g.ply").write_bytes(b"not a ply at all")
    (tmp_path / "e.ply").write_bytes(b"")
    assert probe(tmp_path / "g.ply").error
    assert probe(tmp_path / "e.ply").error == "file is empty"


def test_splat_file_count_and_bad_size(tmp_path: Path) -> None:
    (tmp_path / "ok.splat").write_bytes(bytes(64))
    (tmp_path / "bad.splat").write_bytes(bytes(33))
    assert probe(tmp_path / "ok.splat").count == 2
    assert probe(tmp_path / "bad.splat").error


# -- colour rules (FFmpeg's numbers: AVColorSpace, AVColorPrimaries, AVColorRange) -----------

BT709, UNSPEC, BT470BG, SMPTE170M, BT2020 = 1, 2, 5, 6, 9
TV, PC = 1, 2


@pytest.mark.parametrize(
    ("matrix", "primaries", "range_", "pix_fmt", "height", "space", "full"),
    [
        (BT709, BT709, TV, "yuv420p", 360, "bt709", False),
        (BT709, UNSPEC, TV, "yuv420p", 360, "bt709", False),
        (BT470BG, UNSPEC, PC, "yuvj420p", 1080, "bt601", True),
        (SMPTE170M, SMPTE170M, TV, "yuv420p", 1080, "bt601", False),
        (UNSPEC, UNSPEC, PC, "yuv420p", 360, "bt601", True),
        (UNSPEC, UNSPEC, 0, "yuv420p", 720, "bt709", False),
        (UNSPEC, UNSPEC, 0, "yuv420p", 718, "bt601", False),
        (UNSPEC, BT709, TV, "yuv420p", 360, "bt709", False),
        (BT2020, BT2020, TV, "yuv420p10le", 2160, "bt709", False),
        (UNSPEC, UNSPEC, 0, "yuvj420p", 360, "bt601", True),
    ],
)
def test_colour_rules(
    matrix: int, primaries: int, range_: int, pix_fmt: str, height: int, space: str, full: bool
) -> None:
    assert colour_rules(matrix, primaries, range_, pix_fmt, height) == (space, full)


# -- structured fields read through PyAV ------------------------------------------------------


def test_frame_count_and_codec_fields(clips: dict[str, Path]) -> None:
    info = probe(clips["long"])
    assert info.error is None
    assert info.frames == 40 and info.fps == pytest.approx(10.0)
    assert (info.bit_depth, info.alpha, info.rotation, info.hap) == (8, False, 0, None)


def test_rotation_swaps_the_displayed_size(clips: dict[str, Path], tmp_path: Path) -> None:
    rotated = tmp_path / "rotated.mp4"
    run_ffmpeg(
        ["-v", "error", "-display_rotation", "90", "-i", clips["709"], "-c", "copy", rotated]
    )
    info = probe(rotated)
    assert info.error is None
    assert info.rotation == 90 and (info.width, info.height) == (H, W)


def test_ten_bit_and_alpha(tmp_path: Path) -> None:
    ten = make_clip(
        tmp_path / "ten.mkv",
        width=W,
        height=H,
        fps=25,
        seconds=0.2,
        codec="ffv1",
        pix_fmt="yuv420p10le",
    )
    info = probe(ten)
    assert info.error is None and info.bit_depth == 10 and info.pix_fmt == "yuv420p10le"
    prores = make_clip(
        tmp_path / "alpha.mov",
        width=W,
        height=H,
        fps=25,
        seconds=0.2,
        codec="prores_ks",
        pix_fmt="yuva444p10le",
    )
    info = probe(prores)
    assert info.error is None and info.alpha is True and info.codec == "prores"


def test_full_range_is_read_from_the_stream(clips: dict[str, Path]) -> None:
    info = probe(clips["601full"])
    assert info.full_range is True and info.pix_fmt in ("yuv420p", "yuvj420p")
