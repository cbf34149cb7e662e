"""The media pool reopens a cue whose file was replaced (a pick), but never while it is live."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from frames import run_frames
from test_player import FPS, H, W, make_player, solid_png

from app.cues.actions import Go
from app.eventlog import read_log


def _replace(path: Path, rgb: tuple[int, int, int]) -> None:
    tmp = path.with_name("." + path.name)
    solid_png(tmp, rgb)
    os.replace(tmp, path)  # as picks are written: a new file moved over the old one


def _centre(out) -> list[int]:
    return out.read_pixels()[H // 2, W // 2, :3].astype(int).tolist()


def test_replaced_media_reloads_when_not_live(tmp_path: Path) -> None:
    red = solid_png(tmp_path / "red.png", (200, 0, 0))
    green = solid_png(tmp_path / "green.png", (0, 200, 0))
    player, fake, out = make_player(tmp_path, [red, green], fade=0.0)
    try:
        run_frames(player, 5, [(0.0, Go())])  # red live, green pre-rolled in standby
        assert _centre(out) == [200, 0, 0]
        _replace(green, (200, 200, 0))  # the standby cue gets a new pick
        _replace(red, (255, 255, 255))  # so does the live one
        run_frames(player, int(FPS))  # one second: the pool looks twice
        assert _centre(out) == [200, 0, 0], "the live cue changed under the audience"
        records = [r for r in read_log(tmp_path / "run.jsonl") if r["event"] == "media"]
        assert [r["cue"] for r in records] == ["1.2"]
        run_frames(player, 2, [(fake.t, Go())])
        assert np.abs(np.array(_centre(out)) - [200, 200, 0]).max() <= 2
        run_frames(player, int(FPS))  # red left the mix: now it is reloaded too
        records = [r for r in read_log(tmp_path / "run.jsonl") if r["event"] == "media"]
        assert [r["cue"] for r in records] == ["1.2", "1.1"]
    finally:
        player.close()
        out.close()
