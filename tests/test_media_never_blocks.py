"""Media never hold the frame: a cue fired before its media is ready is held (its fade starts
when its first image is on the GPU, and the event log says how late), huge stills are
decoded small, and the pixel cap is named by `check`."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from frames import run_frames
from PIL import Image

from app.bench.common import show_of
from app.bench.stall import write_big_png
from app.clock import FakeTime, FrameClock
from app.cues.actions import Go
from app.cues.engine import Engine
from app.eventlog import EventLog, read_log
from app.media.still import MAX_STILL_PIXELS, load_still, reduction
from app.player import Player

W, H, FPS = 64, 36, 30.0
REPO = Path(__file__).resolve().parent.parent


def solid_png(path: Path, rgb: tuple[int, int, int]) -> Path:
    Image.fromarray(np.full((H, W, 3), rgb, np.uint8)).save(path)
    return path


def big_png(path: Path, size: int, bits: int) -> Path:
    return write_big_png(path, size, bits)


def test_delay_start_moves_the_fade_the_media_clock_and_the_fade_outs(tmp_path: Path) -> None:
    paths = [solid_png(tmp_path / f"{n}.png", (n * 40, 0, 0)) for n in range(3)]
    engine = Engine(show_of(paths, width=W, height=H, fps=FPS, fade=1.0))
    s = engine.apply(engine.initial_state(), Go(), 0.0).state
    s = engine.apply(s, Go(poem="1", cue="1.3"), 5.0).state
    held = engine.delay_start(s, 2, 7.0)
    incoming = next(e for e in held.entries if e.cue == 2)
    outgoing = next(e for e in held.entries if e.cue == 0)
    assert incoming.opacity.t0 == 7.0 and incoming.fired_at == 7.0
    assert outgoing.opacity.t0 == 7.0 and outgoing.opacity.end == 0.0
    mix = engine.mix(held, 6.9)  # still held: the old cue in full, the new one not shown
    assert [(e.cue, e.opacity) for lm in mix.layers for e in lm.entries] == [(0, 1.0)]
    assert engine.delay_start(held, 2, 7.0) is held
    assert engine.delay_start(held, 1, 9.0) is held  # no entry for that cue


def test_cue_waits_for_its_still_and_its_fade_starts_late(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decode of the fired cue's still is held back by the test: frames go on showing
    the previous cue, then the new one fades in from the frame its image is on the GPU."""
    import app.render.pool as pool_module
    from app.render.outputs import HeadlessOutput

    red = solid_png(tmp_path / "red.png", (200, 0, 0))
    blue = solid_png(tmp_path / "blue.png", (0, 0, 200))
    green = solid_png(tmp_path / "green.png", (0, 200, 0))
    gate, decoding = threading.Event(), threading.Event()
    real = pool_module.load_still

    def gated(path: Path, fit_to: tuple[int, int] | None = None) -> np.ndarray:
        if Path(path).name == "green.png":
            decoding.set()
            assert gate.wait(60.0), "the test never opened the gate"
        return real(path, fit_to)

    monkeypatch.setattr(pool_module, "load_still", gated)
    show = show_of([red, blue, green], width=W, height=H, fps=FPS, fade=0.5)
    fake = FakeTime()
    out = HeadlessOutput(W, H)
    log_path = tmp_path / "run.jsonl"
    player = Player(show, out, clock=FrameClock(fake, fake.sleep), log=EventLog(log_path))

    def frames(n: int) -> None:  # the show's loop: each frame moves the clock on by 1 / FPS
        run_frames(player, n)

    try:
        player.put(Go(source="test"), 0.0)
        deadline = time.monotonic() + 30.0
        while not player.pool.ready(0) and time.monotonic() < deadline:
            frames(1)
            time.sleep(0.01)
        frames(20)  # 1.1 is in full
        go_t = fake.t
        player.put(Go(poem="1", cue="1.3", source="test"), go_t)  # not in standby
        frames(1)
        assert decoding.wait(30.0)  # a worker is decoding it: the test holds it there
        frames(29)  # one second of frames while its decode is held
        assert not player.pool.ready(2)
        gate.set()
        deadline = time.monotonic() + 30.0
        while not player.pool.ready(2) and time.monotonic() < deadline:
            frames(1)
            time.sleep(0.01)
        frames(30)
        player.log.flush()
        records = read_log(log_path)
        px = out.read_pixels()[H // 2, W // 2, :3].astype(int)
    finally:
        gate.set()
        player.close()
        out.close()
    (late,) = [r for r in records if r["event"] == "late" and r["cue"] == "1.3"]
    assert late["cue"] == "1.3" and late["fired"] == pytest.approx(go_t)
    assert late["delay"] >= 30 / FPS - 1e-6
    shown = [
        (r["t"], {e["cue"]: e["opacity"] for e in r["layers"]})
        for r in records
        if r["event"] == "frame"
    ]
    held = [layers for t, layers in shown if go_t <= t < late["t"]]
    assert len(held) >= 30 and all(layers == {"1.1": 1.0} for layers in held)
    # the fade (0.5 s, smooth) is measured from the late start: half way 0.25 s later
    t, half = next((t, layers) for t, layers in shown if t >= late["t"] + 0.25 - 1e-6)
    x = (t - late["t"]) / 0.5
    assert half["1.3"] == pytest.approx(x * x * (3 - 2 * x), abs=1e-3)
    first = next(layers for t, layers in shown if t > late["t"])
    assert 0 < first["1.3"] < 0.05  # from the frame its image was on the GPU
    assert np.abs(px - [0, 200, 0]).max() <= 2


def test_reduction_keeps_the_output_covered() -> None:
    assert reduction((13000, 13000), (160, 90)) == 81
    assert reduction((1920, 1080), (1920, 1080)) == 1
    assert reduction((4000, 3000), (1920, 1080)) == 2  # 2000x1500 still covers it
    assert reduction((3000, 4000), (1920, 1080)) == 2  # a portrait one, either way round
    assert reduction((500, 500), None) == 1


@pytest.mark.parametrize("bits", [16, 1])
def test_huge_still_is_decoded_small(tmp_path: Path, bits: int) -> None:
    path = big_png(tmp_path / f"big{bits}.png", 13000, bits)
    rgba = load_still(path, fit_to=(160, 90))
    assert rgba.shape == (160, 160, 4)
    top, bottom = int(rgba[0, 0, 0]), int(rgba[-1, 0, 0])
    assert top < 10 and bottom > 245  # rows from dark to light survive the reduction


def test_pixel_cap_is_reported_by_check(tmp_path: Path) -> None:
    side = int(MAX_STILL_PIXELS**0.5) + 2
    path = big_png(tmp_path / "huge.png", side, 1)
    (tmp_path / "show.yaml").write_text(
        "title: cap\nmedia_root: .\noutput: {width: 64, height: 36, fps: 30}\npoems:\n"
        "  - id: '1'\n    title: one\n    cues:\n      - id: '1.1'\n"
        f"        media: {path.name}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "app", "check", str(tmp_path / "show.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode != 0
    text = done.stdout + done.stderr
    assert "show.yaml:8:" in text and f"{side}x{side}" in text
    assert f"limit is {MAX_STILL_PIXELS / 1e6:.0f} megapixels" in text


DRIVER = """
import json, sys, time
from pathlib import Path
from app.bench.common import show_of
from app.bench.stall import write_big_png
from app.clock import FrameClock
from app.cues.actions import Go
from app.eventlog import EventLog, read_log
from app.loop import Steps
from app.player import Player
from app.render.outputs import HeadlessOutput
from app.session import Session

media, log_path, target = [Path(p) for p in sys.argv[1].split(",")], sys.argv[2], sys.argv[3]
show = show_of(media, width=160, height=90, fps=30.0, fade=0.5)
out = HeadlessOutput(160, 90)
clock = FrameClock()
player = Player(show, out, clock=clock, log=EventLog(log_path))
player.put(Go(source="test"))
target_index = show.cues.index(next(c for c in show.cues if c.id == target))

def script():  # after each frame of the show's loop, in real time at 30 fps
    phase = 0
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline:
        if phase == 0 and player.pool.ready(0) and player.frame > 10:
            player.put(Go(poem="1", cue=target, source="test"))
            phase = 1
        elif phase == 1 and player.state.live == target_index:
            phase = 2
        elif phase == 2 and not player.starting:
            break
        yield
    for _ in range(10):
        yield

steps = Steps(script())
Session(player, inputs=[steps]).run(status=False, until=lambda: steps.done)
player.close()
out.close()
hwm = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
print(json.dumps({"hwm_kb": hwm}))
"""


def _drive(tmp_path: Path, media: list[Path], target: str) -> tuple[dict, list[dict]]:
    log_path = tmp_path / "drive.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, ",".join(map(str, media)), str(log_path), target],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    records = read_log(log_path)
    frames = [r["t"] for r in records if r["event"] == "frame"]
    gaps = np.diff(frames)
    print(f"{target}: max frame interval {gaps.max():.3f} s, median {np.median(gaps):.3f} s")
    return result, records


@pytest.mark.parametrize("bits", [16, 1])
def test_go_onto_a_huge_still(tmp_path: Path, bits: int) -> None:
    """A real headless show: GO onto a 13000x13000 still that was not in standby."""
    small = [solid_png(tmp_path / f"{n}.png", (n * 60, 0, 0)) for n in range(2)]
    big = big_png(tmp_path / f"big{bits}.png", 13000, bits)
    result, records = _drive(tmp_path, [*small, big], "1.3")
    assert result["hwm_kb"] < 1.5 * 1024 * 1024, result
    late = [r for r in records if r["event"] == "late" and r["cue"] == "1.3"]
    assert late and late[0]["delay"] > 0
    last = [r for r in records if r["event"] == "frame"][-1]
    assert [e["cue"] for e in last["layers"]][-1] == "1.3"
    assert not [r for r in records if r["event"] == "error"]


def test_go_onto_a_video_and_a_splat_not_in_standby(tmp_path: Path) -> None:
    from app.media.lavfi import make_clip
    from app.media.splat_demo import make_demo_scene

    small = [solid_png(tmp_path / f"{n}.png", (n * 60, 0, 0)) for n in range(2)]
    clip = make_clip(tmp_path / "v.mp4", width=160, height=90, fps=30.0, seconds=2.0)
    room = tmp_path / "room.ply"
    make_demo_scene(small[1], room, size=48)
    for target in ("1.3", "1.4"):
        result, records = _drive(tmp_path, [*small, clip, room], target)
        late = [r for r in records if r["event"] == "late" and r["cue"] == target]
        assert late and late[0]["delay"] > 0, target
        assert not [r for r in records if r["event"] == "error"]
        assert result["hwm_kb"] < 1.5 * 1024 * 1024
