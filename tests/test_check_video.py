"""`python -m app check` on a show's video clips: a row per clip (codec, size, rate, format,
HAP variant, how it plays) and advice: CPU decode over the layers -> HAP, dropped alpha,
rotated HAP, GPU-only HAP."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from app.bench.clips import make_hap_clip
from app.media.ffmpeg import run_ffmpeg
from app.media.lavfi import make_clip
from app.media.types import MediaInfo
from app.show.check import check_show
from app.show.check_video import CPU_VIDEO_BUDGET, video_rows, video_warnings
from app.show.loader import load_show

ROOT = Path(__file__).resolve().parents[1]


def write_show(tmp_path: Path, cues: str) -> Path:
    (tmp_path / "media").mkdir(exist_ok=True)
    (tmp_path / "show").mkdir(exist_ok=True)
    path = tmp_path / "show" / "show.yaml"
    body = "title: V\noutput: {width: 64, height: 48, fps: 30}\npoems:\n  - id: 1\n    cues:\n"
    path.write_text(body + textwrap.indent(textwrap.dedent(cues).lstrip("\n"), "      "))
    return path


def test_check_lists_each_clip_and_warns(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        - {id: a, media: plain.mp4}
        - {id: b, media: q.mov, layer: 2}
        - {id: c, media: alpha.mov, layer: 3}
        - {id: d, media: turned.mov}
        - {id: e, media: plain.mp4, layer: 2}
        """,
    )
    media = tmp_path / "media"
    common = dict(width=64, height=48, fps=25, seconds=0.3)
    make_clip(media / "plain.mp4", **common)
    make_hap_clip(media / "q.mov", variant="HapY", **common)
    make_clip(media / "alpha.mov", codec="prores_ks", pix_fmt="yuva444p10le", **common)
    hap1 = make_hap_clip(tmp_path / "hap1.mov", variant="Hap1", **common)
    run_ffmpeg(
        ["-v", "error", "-display_rotation", "90", "-i", hap1, "-c", "copy", media / "turned.mov"]
    )

    r = subprocess.run(
        [sys.executable, "-m", "app", "check", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    table = lines[lines.index("video clips:") + 1 :]
    assert table[0].split() == ["media", "codec", "size", "fps", "format", "plays", "as"]
    rows = {line.split()[0]: line for line in table[1:5]}
    assert set(rows) == {"plain.mp4", "q.mov", "alpha.mov", "turned.mov"}  # each clip once
    assert rows["plain.mp4"].split()[1:4] == ["h264", "64x48", "25"]
    assert "yuv420p, 8-bit, tv range" in rows["plain.mp4"] and "CPU decode" in rows["plain.mp4"]
    assert rows["q.mov"].split()[1:4] == ["hap", "64x48", "25"]
    assert "Hap Q (YCoCg DXT5)" in rows["q.mov"] and rows["q.mov"].endswith("GPU textures")
    assert "prores" in rows["alpha.mov"] and "12-bit" in rows["alpha.mov"]
    assert "alpha" in rows["alpha.mov"]
    assert "48x64" in rows["turned.mov"] and "Hap1 DXT1, rotated 90" in rows["turned.mov"]
    assert rows["turned.mov"].endswith("CPU decode (rotated HAP)")
    warnings = [line.strip() for line in lines if line.startswith(f"  {path}:")]
    alpha = [w for w in warnings if "alpha.mov" in w]
    assert len(alpha) == 1 and alpha[0].startswith(f"{path}:8: cue c: alpha.mov")
    assert "its alpha is dropped" in alpha[0] and "-format hap_alpha" in alpha[0]
    turned = [w for w in warnings if "turned.mov" in w]
    assert len(turned) == 1 and "rotated Hap1" in turned[0] and "CPU" in turned[0]
    assert not [w for w in warnings if "q.mov" in w or "plain.mp4" in w]  # nothing to say
    assert not [w for w in warnings if "Mpixel/s" in w]  # tiny clips: no load warning


def info(path: Path, codec: str, w: int, h: int, fps: float, hap: str | None = None) -> MediaInfo:
    return MediaInfo(path, "video", width=w, height=h, fps=fps, codec=codec, hap=hap)


def test_4k_h264_on_several_layers_suggests_hap(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        - {id: a, media: uhd.mp4}
        - {id: b, media: uhd2.mp4, layer: 2}
        - {id: c, media: small.mp4, layer: 2}
        - {id: d, media: uhd.mov, layer: 3}
        """,
    )
    show = load_show(path, allow_missing=True)
    media = show.media_root
    infos = {
        media / "uhd.mp4": info(media / "uhd.mp4", "h264", 3840, 2160, 30),
        media / "uhd2.mp4": info(media / "uhd2.mp4", "hevc", 3840, 2160, 30),
        media / "small.mp4": info(media / "small.mp4", "h264", 640, 360, 30),
        media / "uhd.mov": info(media / "uhd.mov", "hap", 3840, 2160, 60, hap="HapY"),
    }
    rows = video_rows(show, {k.resolve(): v for k, v in infos.items()})
    warnings = video_warnings(show, rows, path)
    assert len(warnings) == 1
    w = warnings[0]
    # the HAP layer costs no CPU decode; layer 2 counts its heaviest clip
    assert w.startswith(f"{path}: video on 2 layers asks for up to 498 Mpixel/s")
    assert f"({CPU_VIDEO_BUDGET / 1e6:.0f})" in w
    assert "layer 1: uhd.mp4 (h264 3840x2160 at 30 fps)" in w
    assert "layer 2: uhd2.mp4 (hevc 3840x2160 at 30 fps)" in w
    assert "encode the 4K clips as HAP" in w and "-c:v hap -format hap_q" in w
    # one 4K30 layer alone stays within the budget
    one = [r for r in rows if r.media_ref in ("uhd.mp4", "uhd.mov")]
    assert not [x for x in video_warnings(show, one, path) if "Mpixel/s" in x]


def test_a_real_4k_clip_is_reported_by_check(tmp_path: Path) -> None:
    path = write_show(
        tmp_path,
        """
        - {id: a, media: uhd.mp4}
        - {id: b, media: uhd.mp4, layer: 2}
        """,
    )
    make_clip(
        tmp_path / "media" / "uhd.mp4",
        width=3840,
        height=2160,
        fps=30,
        seconds=0.07,
        preset="ultrafast",
        source="color",
    )
    report = check_show(path)
    assert report.ok, report.problems
    assert [
        (r.codec, r.info.width, r.info.height, r.info.fps, r.info.hap) for r in report.videos
    ] == [("h264", 3840, 2160, 30.0, None)]
    assert any("video on 2 layers" in w and "HAP" in w for w in report.warnings)
