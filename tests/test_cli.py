"""The command line as a user runs it: check, render, play --headless with an event log."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def app(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def write_show(tmp: Path, body: str) -> Path:
    (tmp / "media").mkdir(exist_ok=True)
    (tmp / "show").mkdir(exist_ok=True)
    path = tmp / "show" / "s.yaml"
    path.write_text(body)
    return path


def test_check_reports_each_error_with_file_and_line(tmp_path: Path) -> None:
    show = write_show(
        tmp_path,
        "title: Broken\n"
        "output: {width: 64, height: 36, fps: 30}\n"
        "poems:\n"
        "  - id: '1'\n"
        "    title: One\n"
        "    cues:\n"
        "      - id: a\n"
        "        media: nothere.png\n"
        "        fdae: 2\n"
        "      - id: a\n"
        "        media: x.png\n"
        "        opacity: 3\n",
    )
    r = app("check", str(show))
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert f"{show}:9:" in out and "did you mean 'fade'" in out
    assert f"{show}:10:" in out and "duplicate" in out
    assert f"{show}:12:" in out and "opacity" in out
    assert f"{show}:7:" in out and "nothere.png" in out
    assert "Traceback" not in out


def solid(path: Path, rgb: tuple[int, int, int]) -> None:
    Image.fromarray(np.full((36, 64, 3), rgb, np.uint8)).save(path)


def decode(path: Path, w: int, h: int) -> np.ndarray:
    raw = subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-i",
            str(path),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, h, w, 3)


def test_render_writes_the_scripted_run(tmp_path: Path) -> None:
    show = write_show(
        tmp_path,
        "output: {width: 64, height: 36, fps: 10}\n"
        "defaults: {fade: 1.0, curve: linear}\n"
        "poems:\n"
        "  - id: '1'\n"
        "    title: One\n"
        "    cues:\n"
        "      - {id: r, media: red.png, fade: 0}\n"
        "      - {id: b, media: blue.png}\n",
    )
    solid(tmp_path / "media" / "red.png", (220, 0, 0))
    solid(tmp_path / "media" / "blue.png", (0, 0, 220))
    out = tmp_path / "run.mp4"
    log = tmp_path / "run.jsonl"
    r = app(
        "render",
        str(show),
        "--script",
        "0:GO 1:GO 2.5:BLACKOUT",
        "--out",
        str(out),
        "--event-log",
        str(log),
    )
    assert r.returncode == 0, r.stderr
    frames = decode(out, 64, 36)
    assert len(frames) == 55  # last scripted time 2.5 s + 3 s at 10 fps
    c = frames[:, 18, 32].astype(int)
    assert abs(c[5] - [220, 0, 0]).max() <= 8  # red alone
    assert abs(c[15] - [110, 0, 110]).max() <= 8  # halfway through a linear 1 s crossfade
    assert abs(c[22] - [0, 0, 220]).max() <= 8  # blue alone
    assert c[30].max() <= 4  # blackout
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["cue"] for r in records if r["event"] == "cue"] == ["r", "b"]


def test_play_headless_demo_event_log(tmp_path: Path) -> None:
    log = tmp_path / "run.jsonl"
    r = app(
        "play",
        "--headless",
        "--fake-clock",
        "--frames",
        "150",
        "--quiet",
        "--no-osc",
        "--no-gamepad",
        "--script",
        "0:GO 1:GO 3.5:GO",
        "--event-log",
        str(log),
    )
    assert r.returncode == 0, r.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    frames = [x for x in records if x["event"] == "frame"]
    assert len(frames) == 150

    # demo.yaml: 1.1 fades in over 2 s; 1.2 over 1.5 s from t=1; 1.3 is a cut at t=3.5.
    def opacity(frame: dict, cue: str) -> float:
        return sum(e["opacity"] for e in frame["layers"] if e["cue"] == cue)

    at = {round(f["t"] * 30): f for f in frames}
    assert abs(opacity(at[15], "1.1") - (3 * 0.25**2 - 2 * 0.25**3)) < 1e-3  # smooth, x = 0.25
    assert abs(opacity(at[30], "1.2")) < 1e-6  # fired at exactly this frame: starts at 0
    assert abs(opacity(at[53], "1.2") - 0.5) < 0.02  # 1.75 s = halfway through 1.5 s
    assert opacity(at[75], "1.2") == 1.0 and opacity(at[75], "1.1") == 0.0
    assert opacity(at[105], "1.3") == 1.0 and opacity(at[105], "1.2") == 0.0
    assert opacity(at[104], "1.3") == 0.0
