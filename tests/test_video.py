"""VideoSource: frames by timestamp, drops, loops, holds, start/end, breakage, cleanup."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from waiting import wait_until

from app.media.ffmpeg import ffmpeg_cmd
from app.media.lavfi import make_clip
from app.media.types import MediaError, YuvFrame
from app.media.video import VideoSource, decode_throughput, reference_decode_fps

W, H, FPS = 160, 90, 25.0
PERIOD = 1.0 / FPS


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("video_clips")
    # testsrc2 changes every frame, so each frame's luma identifies it.
    common = dict(width=W, height=H, fps=FPS, gop=10)
    return {
        "2s": make_clip(d / "two.mp4", seconds=2.0, **common),
        "1s": make_clip(d / "one.mp4", seconds=1.0, **common),
        "601full": make_clip(
            d / "full.mp4", seconds=0.4, colorspace="bt601", full_range=True, **common
        ),
        "odd": make_clip(
            d / "odd.mkv",
            width=161,
            height=91,
            source_size=(160, 90),  # testsrc2 itself only makes even sizes
            fps=FPS,
            seconds=0.4,
            codec="ffv1",
        ),
    }


def reference_lumas(path: Path, w: int = W, h: int = H) -> list[bytes]:
    """Every frame's Y plane, decoded in one go by ffmpeg itself."""
    raw = subprocess.run(
        ffmpeg_cmd("-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"),
        capture_output=True,
        check=True,
    ).stdout
    cw, ch = (w + 1) // 2, (h + 1) // 2
    size = w * h + 2 * cw * ch
    return [raw[i : i + w * h] for i in range(0, len(raw), size)]


@pytest.fixture(scope="module")
def lumas(clips: dict[str, Path]) -> dict[str, list[bytes]]:
    return {k: reference_lumas(clips[k]) for k in ("2s", "1s")}


def index_of(frame: YuvFrame, refs: list[bytes]) -> int:
    matches = [i for i, y in enumerate(refs) if y == frame.y.tobytes()]
    assert len(matches) == 1, "frame does not match exactly one source frame"
    return matches[0]


def poll(src: VideoSource, t: float, timeout: float = 10.0) -> YuvFrame:
    """frame_for(t) until the frame due at t has been decoded (never blocks for long)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = src.frame_for(t, wait=0.05)
        if frame is not None and src.is_current(frame, t):
            return frame
        assert time.monotonic() < deadline, f"no current frame for t={t}"
        time.sleep(0.005)


def decoder_threads(path: Path) -> list[threading.Thread]:
    """Live decoder threads playing `path` (they are named after the file)."""
    return [t for t in threading.enumerate() if t.name == f"video:{path.name}" and t.is_alive()]


def parked(path: Path) -> bool:
    """Whether the decoder thread of `path` waits in `Queue.put` on its full queue: it can
    decode nothing more until a frame is taken (the event a bound on memory is about)."""
    threads = decoder_threads(path)
    if len(threads) != 1 or threads[0].ident is None:
        return False
    frame = sys._current_frames().get(threads[0].ident)
    names = []
    while frame is not None:
        names.append(frame.f_code.co_name)
        frame = frame.f_back
    return "_put" in names and "put" in names and "wait" in names


def test_frames_chosen_by_timestamp(clips: dict[str, Path], lumas: dict[str, list[bytes]]) -> None:
    with VideoSource(clips["2s"], loop=False) as src:
        for t in [0.0, 0.01, 0.04, 0.05, 0.3, 0.31, 0.55, 0.9, 1.37, 1.96]:
            frame = poll(src, t)
            assert frame.pts <= t + 1e-9 and t - frame.pts < PERIOD
            assert index_of(frame, lumas["2s"]) == round(frame.pts * FPS)
            assert frame.y.shape == (H, W) and frame.u.shape == (H // 2, W // 2)
            assert frame.colorspace == "bt709" and frame.full_range is False


def test_next_frame_not_due_returns_the_same_frame(clips: dict[str, Path]) -> None:
    with VideoSource(clips["2s"]) as src:
        first = poll(src, 0.10)
        wait_until(lambda: src.decoded >= 5)  # the decoder is ahead: frame 0.12 is there
        assert src.frame_for(0.11) is first
        assert src.frame_for(0.119) is first


def test_skipping_ahead_drops_late_frames(clips: dict[str, Path]) -> None:
    with VideoSource(clips["2s"], queue_size=4) as src:
        assert src.preroll() is not None
        wait_until(lambda: parked(clips["2s"]))  # the queue is full
        frame = src.frame_for(0.5)
        assert frame is not None and frame.pts <= 0.5
        assert src.dropped >= 3
        before = src.dropped
        wait_until(lambda: parked(clips["2s"]))  # full again: frames 0.2.. all due at 0.9
        frame = poll(src, 0.9)
        assert src.dropped > before
        assert src.decoded >= round(0.9 * FPS)


def test_queue_is_bounded(clips: dict[str, Path]) -> None:
    with VideoSource(clips["2s"], queue_size=3) as src:
        src.open(0.0)
        wait_until(lambda: parked(clips["2s"]))  # nothing consumed: the reader stops
        assert src.decoded <= 3 + 1  # the queue plus the frame waiting to be put
        poll(src, 1.0)
        wait_until(lambda: parked(clips["2s"]))
        # consumed (frames 0..25), held back as not yet due, queued, waiting to be put
        assert src.decoded <= (round(1.0 * FPS) + 1) + 1 + 3 + 1


def test_loop_continues_upward(clips: dict[str, Path], lumas: dict[str, list[bytes]]) -> None:
    n = len(lumas["1s"])
    with VideoSource(clips["1s"], loop=True) as src:
        pts = []
        t = 0.0
        while t < 2.6:
            frame = poll(src, t)
            pts.append(frame.pts)
            assert index_of(frame, lumas["1s"]) == round(frame.pts * FPS) % n
            t += 0.07
        assert pts == sorted(pts) and pts[-1] > 2.5
        assert src.loop_frames == n
        assert src.decoded >= 2 * n  # it really looped, no restart needed


def test_non_looping_clip_holds_last_frame(
    clips: dict[str, Path], lumas: dict[str, list[bytes]]
) -> None:
    n = len(lumas["1s"])
    with VideoSource(clips["1s"], loop=False) as src:
        t = 0.0
        while t < (n - 1) / FPS:  # play it through, each frame once it is decoded
            poll(src, t)
            t += 0.04
        deadline = time.monotonic() + 30.0
        while not src.ended:  # a bounded poll on the decoder's end
            assert time.monotonic() < deadline
            last = src.frame_for(1.5)
            time.sleep(0.01)
        last = src.frame_for(1.5)
        assert last is not None and index_of(last, lumas["1s"]) == n - 1
        assert last.pts == pytest.approx((n - 1) / FPS)
        assert src.frame_for(30.0) is last  # far past the end: no restart, same frame
        assert src.error is None


def test_start_and_end_points(clips: dict[str, Path], lumas: dict[str, list[bytes]]) -> None:
    with VideoSource(clips["2s"], loop=True, start=0.4, end=0.8) as src:
        first = src.preroll()
        assert first is not None and first.pts == pytest.approx(0.4)
        assert index_of(first, lumas["2s"]) == 10
        seen = []
        t = 0.0
        while t < 0.9:
            frame = poll(src, t)
            seen.append(index_of(frame, lumas["2s"]))
            t += 0.02
        assert min(seen) == 10 and max(seen) == 19  # frames at 0.40 .. 0.76
        assert src.loop_frames == 10
        again = poll(src, 0.4)  # one loop later
        assert again.pts == pytest.approx(0.8) and index_of(again, lumas["2s"]) == 10


def test_seeks_restart_the_decoder(clips: dict[str, Path], lumas: dict[str, list[bytes]]) -> None:
    with VideoSource(clips["2s"], loop=True) as src:
        poll(src, 0.2)
        far = poll(src, 5.4)  # > 2 s ahead: restart at 5.4 mod 2 = 1.4 s
        assert far.pts == pytest.approx(5.4) and index_of(far, lumas["2s"]) == 35
        back = poll(src, 0.12)  # backwards
        assert back.pts == pytest.approx(0.12) and index_of(back, lumas["2s"]) == 3
    assert src.open_files == 0 and not decoder_threads(clips["2s"])


def test_colour_metadata_comes_from_the_probe(clips: dict[str, Path]) -> None:
    with VideoSource(clips["601full"]) as src:
        frame = src.preroll()
        assert frame is not None
        assert frame.colorspace == "bt601" and frame.full_range is True
        assert frame.y.min() < 16  # full-range testsrc2 really uses the full scale


def test_odd_sizes_have_rounded_up_chroma(clips: dict[str, Path]) -> None:
    refs = reference_lumas(clips["odd"], 161, 91)
    with VideoSource(clips["odd"], loop=False) as src:
        frame = poll(src, 0.2)
        assert frame.y.shape == (91, 161)
        assert frame.u.shape == (46, 81) and frame.v.shape == (46, 81)
        assert frame.y.tobytes() == refs[5]


@pytest.mark.parametrize("breakage", ["delete", "truncate"])
def test_file_breaking_mid_play_sets_error(
    clips: dict[str, Path], tmp_path: Path, breakage: str
) -> None:
    clip = tmp_path / "victim.mp4"
    shutil.copy(clips["2s"], clip)
    src = VideoSource(clip, loop=True)
    try:
        good = poll(src, 0.2)
        if breakage == "delete":
            clip.unlink()
        else:
            with open(clip, "r+b") as f:
                f.truncate(3000)
        deadline = time.monotonic() + 3.0
        t = 0.2
        last = good
        while src.error is None:
            assert time.monotonic() < deadline, "the breakage went unnoticed"
            t += 0.01
            frame = src.frame_for(t)
            assert frame is not None
            last = frame
            time.sleep(0.01)
        assert isinstance(src.error, str) and src.error
        assert src.frame_for(t + 0.5) is last  # the last good frame, no exception
        assert src.frame_for(0.0) is last  # no restart on a broken source either
    finally:
        src.close()
    assert src.open_files == 0 and not decoder_threads(clip)


def test_close_ends_the_process_and_thread(clips: dict[str, Path]) -> None:
    src = VideoSource(clips["2s"])  # loops: its decoder never ends by itself
    assert src.preroll() is not None
    shown = src.frame_for(0.0)
    # The first frame came out of the open file; the thread is now waiting on the queue.
    assert src.open_files == 1 and len(decoder_threads(clips["2s"])) == 1
    src.close()
    assert src.open_files == 0 and not decoder_threads(clips["2s"])
    src.close()  # idempotent
    assert src.frame_for(1.0) is shown  # still answers, with the last frame
    assert src.open_files == 0 and not decoder_threads(clips["2s"])


def test_unusable_files_raise_at_construction(clips: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="file not found"):
        VideoSource(tmp_path / "missing.mp4")
    with pytest.raises(MediaError):
        VideoSource(clips["1s"], start=5.0)
    with pytest.raises(MediaError):
        VideoSource(clips["1s"], start=0.5, end=0.5)


def test_decode_throughput_and_reference(clips: dict[str, Path]) -> None:
    frames, seconds = decode_throughput(clips["2s"])
    assert frames == 50 and seconds > 0
    assert reference_decode_fps(clips["2s"]) > 0
    frames, _ = decode_throughput(clips["2s"], seconds_limit=0.0)
    assert frames == 1
    assert not decoder_threads(clips["2s"])


def test_frame_planes_are_views_of_the_decoded_frame(tmp_path: Path) -> None:
    # 128 pixels wide: the decoder's lines carry no padding, so nothing is copied
    clip = make_clip(tmp_path / "wide.mp4", width=128, height=72, fps=FPS, seconds=0.2)
    with VideoSource(clip) as src:
        frame = src.preroll()
        assert frame is not None
        for plane in (frame.y, frame.u, frame.v):
            assert not plane.flags.owndata and plane.flags.c_contiguous
            assert not isinstance(plane.base.base, np.ndarray)  # the decoder's own buffer
    with VideoSource(clip) as src:  # padded lines (see the 160-wide clips) are copied whole
        assert src.preroll() is not None


def test_rotated_video_frames_have_the_displayed_size(
    clips: dict[str, Path], tmp_path: Path
) -> None:
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        ffmpeg_cmd("-v", "error", "-display_rotation", "90", "-i", clips["1s"], "-c", "copy")
        + [str(rotated)],
        check=True,
    )
    with VideoSource(rotated) as src:
        assert (src.info.width, src.info.height) == (H, W)
        frame = src.preroll()
        assert frame is not None
        assert (frame.width, frame.height) == (H, W) and frame.y.shape == (W, H)
        assert frame.u.shape == (W // 2, H // 2)
