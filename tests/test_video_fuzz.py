"""200 corrupted variants of an H.264, a ProRes and a HAP clip, played in one running
headless show: nothing crashes or hangs, every cue whose media broke fades to black through
the engine (its MediaFailed input is logged, its logged opacity falls linearly to nothing over
MEDIA_FAIL_FADE and the read-back output is black), the log names the file and the reason,
and the show reaches its last cue and frame with every decoder thread gone afterwards.

Determinism: the clips and their corruptions are seeded; the show runs on a fake clock with
the pool's `offline` waiting (each frame waits for the frame due from its decoder, as
`render` does), and every cue plays past one full pass and the start of the next, so whether
a variant breaks depends on its bytes only, never on how fast the decoder thread ran.
"""

from __future__ import annotations

import faulthandler
import threading
from collections.abc import Generator
from pathlib import Path

import av
import numpy as np
from frames import run_steps

from app.bench.clips import make_hap_clip
from app.bench.common import show_of
from app.clock import FakeTime
from app.cues.actions import Go
from app.cues.engine import MEDIA_FAIL_FADE
from app.eventlog import EventLog, read_log
from app.loop import RenderClock
from app.media.lavfi import make_clip
from app.player import Player
from app.render.outputs import HeadlessOutput

W, H, FPS = 64, 36, 10.0
SECONDS = 1.0
VARIANTS = 200
# Frames each cue plays when it does not break: one full pass of the clip (its damage judged)
# and the first frames of the loop after it (the seek back to the start done).
PLAY_FRAMES = int(SECONDS * FPS) + 3
# Frames a broken cue plays after its failure: the engine's fade, then one frame of black.
FADE_FRAMES = int(round(MEDIA_FAIL_FADE * FPS)) + 1
# A guard against a hang only: the process dumps every thread's stack and exits after it.
RUN_LIMIT = 900.0


def packet_spans(path: Path) -> list[tuple[int, int]]:
    """(file offset, size) of each video packet, from the container's index."""
    with av.open(str(path)) as c:
        return [(e.pos, e.size) for e in c.streams.video[0].index_entries]


def corrupt(data: bytes, spans: list[tuple[int, int]], rng: np.random.Generator) -> bytes:
    """One corrupted copy: truncated, bytes flipped, header cut, a packet's first bytes
    (a HAP section header: sizes past the packet, unknown types) scrambled, or empty."""
    kind = rng.integers(6)
    b = bytearray(data)
    if kind == 0:  # truncated anywhere
        return bytes(b[: int(rng.integers(0, len(b)))])
    if kind == 1:  # random bytes flipped
        for at in rng.integers(0, len(b), size=int(rng.integers(1, 40))):
            b[at] ^= int(rng.integers(1, 256))
        return bytes(b)
    if kind == 2:  # header cut
        return bytes(b[int(rng.integers(1, min(len(b), 4096))) :])
    if kind == 3:  # packet headers scrambled
        for pos, _size in [spans[i] for i in rng.integers(0, len(spans), size=3)]:
            b[pos : pos + 8] = rng.integers(0, 256, size=8, dtype=np.uint8).tobytes()
        return bytes(b)
    if kind == 4:  # a run of zeros in the middle of the data
        at = int(rng.integers(len(b) // 4, len(b)))
        b[at : at + 512] = bytes(len(b[at : at + 512]))
        return bytes(b)
    return b""


def test_corrupted_clips_never_stop_the_show(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    common = dict(width=W, height=H, fps=FPS, seconds=SECONDS)
    sources = [
        make_clip(src / "h264.mp4", gop=5, threads=1, **common),
        make_clip(src / "prores.mov", codec="prores_ks", pix_fmt="yuv422p10le", **common),
        make_hap_clip(src / "hap.mov", variant="HapY", chunks=2, **common),
    ]
    rng = np.random.default_rng(20261202)
    media = []
    for i in range(VARIANTS):
        source = sources[i % len(sources)]
        bad = tmp_path / f"v{i:03d}{source.suffix}"
        bad.write_bytes(corrupt(source.read_bytes(), packet_spans(source), rng))
        media.append(bad)

    show = show_of(media, width=W, height=H, fps=FPS, fade=0.0)
    fake = FakeTime()
    out = HeadlessOutput(W, H)
    log_path = tmp_path / "run.jsonl"
    # frame n at exactly n / FPS
    player = Player(show, out, clock=RenderClock(fake), log=EventLog(log_path), offline=True)
    black_after_fade: dict[int, bool] = {}

    def script() -> Generator[None, None, None]:  # one yield a frame
        for cue in range(VARIANTS):
            player.put(Go(source="key"), fake.t)
            played = 0
            while cue not in player.state.failed:
                yield
                played += 1
                if played >= PLAY_FRAMES and player.pool.error_since(cue) is None:
                    break
            if cue in player.state.failed:
                for _ in range(FADE_FRAMES):
                    yield
                black_after_fade[cue] = int(out.read_pixels().max()) == 0

    faulthandler.dump_traceback_later(RUN_LIMIT, exit=True)
    try:
        run_steps(player, script())
        assert player.state.live == VARIANTS - 1  # the show reached its last cue
        last_frame = player.frame
    finally:
        faulthandler.cancel_dump_traceback_later()
        player.close()
        out.close()

    assert not [t for t in threading.enumerate() if t.name.startswith("video:")]
    records = read_log(log_path)
    frames = [r for r in records if r["event"] == "frame"]
    assert [r["frame"] for r in frames] == list(range(last_frame))  # every frame, in order
    errors = {r["cue"]: r["message"] for r in records if r["event"] == "error"}
    failed_at = {
        show.cues[r["cue"]].id: r["t"]
        for r in records
        if r["event"] == "action" and r["action"] == "MEDIA_FAILED"
    }
    broken = {show.cues[i].id for i in black_after_fade}
    assert broken and broken == set(errors) == set(failed_at)
    assert 0 < len(broken) < VARIANTS  # some variants still play (flipped bytes in data)
    assert all(black_after_fade.values()), "a broken cue's output was not black after its fade"
    for cue_id, message in errors.items():
        index = int(cue_id.split(".")[1]) - 1
        assert media[index].name in message and len(message) > len(str(media[index])) + 4
    # From its MediaFailed on, each broken cue's logged opacity follows the engine's linear
    # fade to 0, and the first frame at the fade's end shows it no more.
    for cue_id, t0 in failed_at.items():
        after = [r for r in frames if r["t"] >= t0]
        shown = [(r["t"], e["opacity"]) for r in after for e in r["layers"] if e["cue"] == cue_id]
        assert shown, f"cue {cue_id} vanished without fading"
        for t, opacity in shown:
            assert t < t0 + MEDIA_FAIL_FADE
            assert abs(opacity - (1.0 - (t - t0) / MEDIA_FAIL_FADE)) < 1e-3, (cue_id, t, opacity)
        end = next(r for r in after if r["t"] >= t0 + MEDIA_FAIL_FADE - 1e-6)
        assert all(e["cue"] != cue_id for e in end["layers"])
