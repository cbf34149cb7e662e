"""Camera moves as data: a move recorded headless from scripted camera commands (fake clock)
replays to the same poses at the same cue times, and a performer takes over from the path
and lets it go back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from frames import run_frames
from splat_writers import known_splats, write_inria_ply

from app.clock import FakeTime
from app.cues.commands import parse
from app.cues.state import CameraOffset
from app.loop import FrameTap, RenderClock
from app.media.types import MediaError
from app.player import Player
from app.render.camera_path import path_from_samples, read_path, write_path
from app.render.outputs import HeadlessOutput
from app.show.loader import load_show

W, H, FPS = 48, 32, 25
FIELDS = ("yaw", "pitch", "pan_x", "pan_y", "dolly")

RECORD = {0: ["go"], 2: ["camera_record 1"], 35: ["camera_record 0"]}
RECORD.update({n: ["orbit 0.5 0.2"] for n in range(3, 21)})
RECORD.update({n: ["orbit 0.5 0.2", "pan 0.004 -0.002", "dolly 0.005"] for n in range(21, 31)})


def _show(tmp_path: Path, camera: str = "") -> Path:
    media = tmp_path / "media"
    if not (media / "scene.ply").exists():
        media.mkdir(parents=True, exist_ok=True)
        write_inria_ply(media / "scene.ply", known_splats(n=400))
    (tmp_path / "show").mkdir(exist_ok=True)
    path = tmp_path / "show" / "show.yaml"
    path.write_text(
        f"title: Path\noutput: {{width: {W}, height: {H}, fps: {FPS}}}\n"
        "defaults: {fade: 0}\npoems:\n  - id: 1\n    cues:\n"
        f"      - {{id: s, media: scene.ply{camera}}}\n"
    )
    return path


def _run(
    path: Path, script: dict[int, list[str]], frames: int
) -> tuple[list[tuple[float, CameraOffset]], list[np.ndarray], Player]:
    """Play `frames` frames at FPS on a fake clock; each frame's (cue time, offset) and
    pixels. The player is closed (which saves a recording still running)."""
    show = load_show(path)
    fake = FakeTime()
    out = HeadlessOutput(W, H)
    player = Player(show, out, clock=RenderClock(fake), offline=True)  # frame n at n / FPS
    poses, pictures = [], []

    def before(t: float) -> None:
        for line in script.get(player.frame, []):
            player.put(parse(line, source="test"), t)

    def after() -> None:
        poses.append(player.pool.camera_moves.last(0))
        pictures.append(out.read_pixels().copy())

    try:
        run_frames(player, frames, inputs=[FrameTap(after, before)])
    finally:
        player.close()
        out.close()
    return poses, pictures, player


def _values(offset: CameraOffset) -> np.ndarray:
    return np.array([getattr(offset, f) for f in FIELDS])


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list, list, Path]:
    tmp = tmp_path_factory.mktemp("camera_path")
    poses, pictures, player = _run(_show(tmp), RECORD, 40)
    assert len(player.pool.camera_moves.saved) == 1
    return tmp, poses, pictures, player.pool.camera_moves.saved[0]


def test_recording_writes_the_poses_of_the_frames(recorded: tuple) -> None:
    tmp, poses, _pictures, saved = recorded
    assert saved == tmp / "media" / "paths" / "s.json"
    doc = json.loads(saved.read_text())
    assert doc["cue"] == "s" and doc["media"] == "scene.ply"
    path = read_path(saved)
    # frames 2..34 were recorded (start and stop take effect on the frame they arrive)
    assert path.times.tolist() == [poses[n][0] for n in range(2, 35)]
    assert path.times[0] == pytest.approx(2 / FPS)
    for n in range(2, 35):
        np.testing.assert_array_equal(path.poses[n - 2], _values(poses[n][1]))
    moved = path.poses[-1]
    assert moved[0] > 5.0 and moved[2] > 0.0 and moved[4] > 0.0  # yaw, pan_x, dolly moved


def test_path_replays_the_same_poses_at_the_same_cue_times(recorded: tuple) -> None:
    tmp, poses, pictures, _saved = recorded
    replay, replay_pictures, _ = _run(_show(tmp, ", camera: {path: paths/s.json}"), {0: ["go"]}, 40)
    for n in range(2, 35):
        assert replay[n][0] == poses[n][0]  # the same cue time
        np.testing.assert_allclose(_values(replay[n][1]), _values(poses[n][1]), atol=1e-12)
        assert np.array_equal(replay_pictures[n], pictures[n]), f"frame {n} differs"
    # before the first sample the path holds its first pose, after it its last
    np.testing.assert_allclose(_values(replay[0][1]), _values(poses[2][1]), atol=1e-12)
    np.testing.assert_allclose(_values(replay[39][1]), _values(poses[34][1]), atol=1e-12)
    assert not np.array_equal(replay_pictures[34], replay_pictures[2])  # the picture moved


def test_performer_takes_over_from_the_path_and_lets_it_go_back(recorded: tuple) -> None:
    tmp, poses, _pictures, _saved = recorded
    script = {0: ["go"], 10: ["orbit 3 0"], 20: ["camera_reset"]}
    took, _pics, _ = _run(_show(tmp, ", camera: {path: paths/s.json}"), script, 80)
    path = read_path(tmp / "media" / "paths" / "s.json")
    off = [took[n][1].yaw - path.at(took[n][0]).yaw for n in range(80)]
    assert off[9] == 0.0  # on the path until the performer moves
    assert 0.0 < off[11] < off[15] < off[19] <= 3.0  # eases toward the path plus 3 degrees
    assert off[40] < off[20]  # camera_reset: back toward the path
    assert abs(off[79]) < 0.01
    np.testing.assert_allclose(_values(took[79][1]), path.poses[-1], atol=0.01)


def test_camera_record_needs_a_live_splat_cue(tmp_path: Path) -> None:
    poses, _pictures, player = _run(_show(tmp_path), {0: ["camera_record 1"]}, 3)
    assert player.pool.camera_moves.saved == [] and player.last_note.endswith(
        "no splat cue is live"
    )


def test_path_files_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "p.json"
    write_path(good, path_from_samples([(0.0, CameraOffset()), (1.0, CameraOffset(yaw=2))]))
    assert read_path(good).at(0.25).yaw == pytest.approx(0.5)
    doc = json.loads(good.read_text())
    doc["poses"][1][0] = 0.0
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(MediaError, match="pose 2: times must start >= 0 and increase"):
        read_path(tmp_path / "bad.json")
    doc["poses"][1] = [1.0, "x", 0, 0, 0, 0]
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(MediaError, match="pose 2: expected 6 finite numbers"):
        read_path(tmp_path / "bad.json")
    with pytest.raises(MediaError, match="not found"):
        read_path(tmp_path / "none.json")


def test_a_broken_path_file_is_reported_and_the_cue_plays_without_it(tmp_path: Path) -> None:
    from app.show.check import check_show

    show = _show(tmp_path, ", camera: {path: paths/none.json}")
    report = check_show(show)
    assert not report.ok
    assert report.problems == [
        f"{show}:7: cue 's': camera.path paths/none.json: camera path file not found"
    ]
    poses, pictures, player = _run(show, {0: ["go"]}, 3)
    assert pictures[2].mean() > 5.0  # drawn from the base view
    assert poses[2][1] == CameraOffset()
