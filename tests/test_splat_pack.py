"""A show's splat trims, camera paths and unbundled SOG images travel in its pack: the
unpacked show renders the same picture and check counts the same trimmed splats."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from splat_writers import known_splats, write_inria_ply, write_sog_folder

from app.cli import main
from app.cues.state import CameraOffset
from app.render.camera_path import path_from_samples, write_path
from app.show.check import check_show

W, H = 64, 36
SHOW = f"""title: Packed splats
output: {{width: {W}, height: {H}, fps: 10}}
defaults: {{fade: 0}}
poems:
  - id: 1
    cues:
      - id: crop
        media: scenes/scene.ply
        splat: {{crop: {{box: [[-0.4, -0.3, 2.0], [0.4, 0.3, 3.2]]}}, min_opacity: 0.2}}
        camera: {{path: paths/crop.json}}
      - {{id: sog, media: scenes/sog/meta.json}}
"""


def _decode(path: Path) -> np.ndarray:
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path)]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, H, W, 3)


def _render(show: Path, out: Path) -> np.ndarray:
    args = ["render", str(show), "--script", "0:GO 0.6:GO", "--duration", "1.0"]
    assert main([*args, "--out", str(out)]) == 0
    return _decode(out)


def test_pack_keeps_trim_paths_and_sog_images(tmp_path: Path) -> None:
    media = tmp_path / "orig" / "media"
    (media / "scenes").mkdir(parents=True)
    s = known_splats(n=500)
    write_inria_ply(media / "scenes" / "scene.ply", s)
    write_sog_folder(media / "scenes" / "sog", known_splats(n=300, seed=8))
    samples = [(0.0, CameraOffset()), (0.5, CameraOffset(yaw=4.0, dolly=0.1))]
    write_path(media / "paths" / "crop.json", path_from_samples(samples))
    show = tmp_path / "orig" / "show" / "show.yaml"
    show.parent.mkdir()
    show.write_text(SHOW)

    before = check_show(show)
    assert before.ok, before.problems
    original = _render(show, tmp_path / "a.mp4")
    assert original[4].mean() > 5 and original[-1].mean() > 5  # both cues draw
    assert not np.array_equal(original[0], original[5])  # the camera path moves the view

    pack = tmp_path / "show.vjshow"
    assert main(["pack", str(show), "--out", str(pack)]) == 0
    elsewhere = tmp_path / "elsewhere"
    assert main(["unpack", str(pack), "--to", str(elsewhere)]) == 0
    unpacked = next(elsewhere.rglob("show.yaml"))
    after = check_show(unpacked)
    assert after.ok, after.problems
    rows = [r.length for p in after.poems for r in p.rows]
    assert rows == [r.length for p in before.poems for r in p.rows]
    assert "trimmed" in rows[0]
    replayed = _render(unpacked, tmp_path / "b.mp4")
    assert replayed.shape == original.shape
    assert np.array_equal(replayed, original)
