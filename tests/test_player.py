"""The player end to end on a headless output: event log, pixels, pre-roll, broken media."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from frames import run_frames
from PIL import Image
from waiting import wait_until

from app.bench.common import show_of
from app.clock import FakeTime
from app.cues.actions import Blackout, Go
from app.eventlog import EventLog, read_log
from app.loop import RenderClock
from app.media.lavfi import make_clip
from app.player import Player
from app.render.outputs import HeadlessOutput

W, H, FPS = 64, 36, 30.0


def solid_png(path: Path, rgb: tuple[int, int, int]) -> Path:
    Image.fromarray(np.full((H, W, 3), rgb, np.uint8)).save(path)
    return path


def make_player(tmp_path: Path, media: list[Path], *, fade: float, offline: bool = True):
    show = show_of(media, width=W, height=H, fps=FPS, fade=fade)
    fake = FakeTime()
    out = HeadlessOutput(W, H)
    log = EventLog(tmp_path / "run.jsonl")
    player = Player(show, out, clock=RenderClock(fake), log=log, offline=offline)
    return player, fake, out


def test_crossfade_log_and_pixels(tmp_path: Path) -> None:
    red = solid_png(tmp_path / "red.png", (200, 0, 0))
    blue = solid_png(tmp_path / "blue.png", (0, 0, 200))
    player, fake, out = make_player(tmp_path, [red, blue], fade=1.0)
    try:
        run_frames(player, 46, [(0.0, Go()), (0.5, Go())])
        # At t = 1.0 (frame 30) the second GO (fired at 0.5 with a 1 s smooth fade) is at 50%.
        frames = [r for r in read_log(tmp_path / "run.jsonl") if r["event"] == "frame"]
        f30 = {e["cue"]: e["opacity"] for e in frames[30]["layers"]}
        assert frames[30]["t"] == pytest.approx(1.0)
        assert f30["1.2"] == pytest.approx(0.5, abs=1e-3)
        # The outgoing cue continues from where the first fade was at 0.5 s (no jump).
        before = {e["cue"]: e["opacity"] for e in frames[14]["layers"]}
        after = {e["cue"]: e["opacity"] for e in frames[15]["layers"]}
        assert abs(after["1.1"] - before["1.1"]) < 0.1
        last = {e["cue"]: e["opacity"] for e in frames[-1]["layers"]}
        assert last == {"1.2": 1.0}
        px = out.read_pixels()[H // 2, W // 2, :3].astype(int)
        assert np.abs(px - [0, 0, 200]).max() <= 2
    finally:
        player.close()
        out.close()


def test_first_frame_after_go_shows_preroll(tmp_path: Path) -> None:
    a = solid_png(tmp_path / "a.png", (255, 255, 255))
    clip = make_clip(
        tmp_path / "b.mp4", width=W, height=H, fps=FPS, seconds=1.0, source="smptebars"
    )
    player, fake, out = make_player(tmp_path, [a, clip], fade=0.5, offline=False)
    try:
        run_frames(player, 10, [(0.0, Go())])  # standby (the video) pre-rolls meanwhile
        # the frames never wait for it: wait here, a frame per poll
        wait_until(lambda: run_frames(player, 1) or player.pool.ready(1), 30.0, "preroll")
        go_t = fake.t - 0.5 / FPS  # between two frames, as a real input arrives
        player.put(Go(source="key"), go_t)
        run_frames(player, 1)
        records = read_log(tmp_path / "run.jsonl")
        frame = [r for r in records if r["event"] == "frame"][-1]
        assert frame["t"] > go_t
        incoming = [e for e in frame["layers"] if e["cue"] == "1.2"]
        assert incoming and incoming[0]["opacity"] > 0
        assert player.pool.image_for(1) is not None  # the pre-rolled frame is on the GPU
    finally:
        player.close()
        out.close()


def test_broken_video_mid_show_fades_to_black_and_goes_on(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "v.mp4", width=W, height=H, fps=FPS, seconds=2.0, source="testsrc2")
    still = solid_png(tmp_path / "g.png", (0, 180, 0))
    player, fake, out = make_player(tmp_path, [clip, still], fade=0.0, offline=False)
    try:
        run_frames(player, 3, [(0.0, Go())])
        # the frames never wait for the clip: wait here, a frame per poll
        wait_until(lambda: run_frames(player, 1) or player.pool.ready(0), 30.0, "the clip")
        clip.write_bytes(b"\0" * 100)  # truncated under the decoder's feet
        run_frames(player, 45)
        errors = [r for r in read_log(tmp_path / "run.jsonl") if r["event"] == "error"]
        assert errors and errors[0]["cue"] == "1.1"
        frames = [r for r in read_log(tmp_path / "run.jsonl") if r["event"] == "frame"]
        assert all(layer["opacity"] == 0.0 for layer in frames[-1]["layers"])  # faded out
        told = [r for r in read_log(tmp_path / "run.jsonl") if r.get("action") == "MEDIA_FAILED"]
        assert [r["cue"] for r in told] == [0]  # the engine heard it: status and log agree
        assert player.status.media_failed == (0,)
        player.put(Go(source="key"), fake.t)  # the show goes on
        run_frames(player, 2)
        px = out.read_pixels()[H // 2, W // 2, :3].astype(int)
        assert np.abs(px - [0, 180, 0]).max() <= 2
    finally:
        player.close()
        out.close()


def test_missing_media_draws_black_and_logs(tmp_path: Path) -> None:
    gone = tmp_path / "gone.png"
    player, fake, out = make_player(tmp_path, [gone], fade=0.0)
    try:
        run_frames(player, 3, [(0.0, Go())])
        errors = [r for r in read_log(tmp_path / "run.jsonl") if r["event"] == "error"]
        assert "not found" in errors[0]["message"]
        assert out.read_pixels()[:, :, :3].max() == 0
    finally:
        player.close()
        out.close()


def test_blackout_covers_and_releases(tmp_path: Path) -> None:
    white = solid_png(tmp_path / "w.png", (255, 255, 255))
    player, fake, out = make_player(tmp_path, [white], fade=0.0)
    try:
        run_frames(player, 2, [(0.0, Go())])
        assert out.read_pixels()[H // 2, W // 2, 0] == 255
        run_frames(player, 2, [(fake.t, Blackout(source="key"))])
        assert out.read_pixels()[:, :, :3].max() == 0
        run_frames(player, 2, [(fake.t, Blackout(source="key"))])
        assert out.read_pixels()[H // 2, W // 2, 0] == 255
    finally:
        player.close()
        out.close()
