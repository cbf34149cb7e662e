"""A splat scene crossfades with stills and videos like any other layer (pixel checks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from frames import hand_clock, run_frames
from PIL import Image

from app.bench.common import show_of
from app.clock import FakeTime
from app.cues.actions import CameraOrbit, Go
from app.eventlog import EventLog
from app.media.lavfi import make_clip
from app.media.splat_demo import make_demo_scene
from app.player import Player
from app.render.outputs import HeadlessOutput

W, H, FPS = 96, 54, 10.0


def test_still_to_splat_to_video_crossfade(tmp_path: Path) -> None:
    still = tmp_path / "still.png"
    Image.fromarray(np.full((H, W, 3), (180, 40, 40), np.uint8)).save(still)
    photo = tmp_path / "photo.png"
    grad = np.zeros((H, W, 3), np.uint8)
    grad[..., 1] = np.linspace(30, 220, W, dtype=np.uint8)[None, :]
    grad[..., 2] = 160
    Image.fromarray(grad).save(photo)
    room = tmp_path / "room.ply"
    make_demo_scene(photo, room, size=48)
    clip = make_clip(
        tmp_path / "bars.mp4", width=W, height=H, fps=FPS, seconds=2.0, source="smptebars"
    )
    show = show_of([still, room, clip], width=W, height=H, fps=FPS, fade=1.0)
    fake = FakeTime()
    out = HeadlessOutput(W, H)
    player = Player(show, out, clock=hand_clock(fake), log=EventLog(), offline=True)

    def frame_at(t: float) -> np.ndarray:
        while fake.t < t - 1e-9:
            fake.advance(1.0 / FPS)
        run_frames(player)  # one frame of the show's loop at that time
        return out.read_pixels()[:, :, :3].astype(float)

    try:
        player.put(Go(), 0.0)
        a = frame_at(0.0 + 1.0)  # still alone (fade of 1 s done)
        player.put(Go(), fake.t)
        go1 = fake.t
        m1 = frame_at(go1 + 0.5)  # 50% still / splat (smooth curve at x = 0.5)
        s = frame_at(go1 + 1.5)  # splat alone
        player.put(Go(), fake.t)
        go2 = fake.t
        m2 = frame_at(go2 + 0.5)
        v = frame_at(go2 + 1.5)  # video alone (smptebars: the same picture all along)

        assert np.abs(s - a).mean() > 20  # the splat scene really shows something else
        assert np.abs(m1 - (0.5 * a + 0.5 * s)).max() <= 3
        assert np.abs(m2 - (0.5 * s + 0.5 * v)).max() <= 3
        assert np.abs(v - s).mean() > 20

        # A camera move on the live splat scene changes the view (pixel test).
        player.put(Go(cue="1.2"), fake.t)
        before = frame_at(fake.t + 1.5)
        player.put(CameraOrbit(dx=8.0, dy=0.0, source="gamepad"), fake.t)
        after = frame_at(fake.t + 2.0)
        assert np.abs(after - before).mean() > 1.0  # a smooth gradient: small but real
        assert np.abs(after - before).max() >= 5
        # ... and respects the cue's limits (default: 8 degrees of yaw either side).
        player.put(CameraOrbit(dx=50.0, dy=0.0, source="osc"), fake.t)
        frame_at(fake.t + 0.2)
        assert player.state.camera.yaw == 8.0
    finally:
        player.close()
        out.close()
