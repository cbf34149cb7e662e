"""`bench soak`: a short run plays frames and reports memory, frame times and drops."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from app.bench.soak import Drops, Samples, percentiles

ROOT = Path(__file__).resolve().parents[1]


def test_percentiles_and_windows() -> None:
    assert percentiles([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    p = percentiles([float("nan")] + [10.0] * 98 + [50.0, 100.0])
    assert p["p50"] == 10.0 and p["max"] == 100.0 and p["p95"] == 10.0
    s = Samples()
    for i in range(10):
        s.add(i * 1.0, 10.0 * (i + 1), 1.0)
    frame, work = s.window(2.0, 5.0)  # frames that started at 2, 3 and 4 s
    assert frame["p50"] == 40.0 and frame["max"] == 50.0 and work["max"] == 1.0


def test_drops_keep_counting_videos_the_pool_released() -> None:
    class Pool:
        dropped_video_frames = 0

    class Player:
        dropped = 0
        pool = Pool()

    player, drops = Player(), Drops()
    player.pool.dropped_video_frames = 3
    assert drops.sample(player) == 3
    player.pool.dropped_video_frames = 0  # that video was released
    player.dropped = 2
    assert drops.sample(player) == 5
    player.pool.dropped_video_frames = 1
    assert drops.sample(player) == 6 and drops.video == 4


def test_short_soak_reports_json() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "app",
            "bench",
            "soak",
            "--minutes",
            "0.1",
            "--width",
            "320",
            "--height",
            "180",
            "--go-every",
            "1",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    for key in (
        "rss_mb_at_1min",
        "rss_mb_at_end",
        "growth_after_1min_pct",
        "frame_ms_p50",
        "frame_ms_p95",
        "frame_ms_p99",
        "frame_ms_max",
        "work_ms_p95",
        "dropped_frames",
        "rss_ratio_end_to_1min",
        "p95_ratio_last_to_first",
        "intervals",
        "gos",
    ):
        assert key in r, key
    assert r["frames"] > 30  # 6 s at 30 fps, on a slow software rasteriser too
    assert r["gos"] >= 2 and r["actions"] > r["gos"]
    assert r["rss_mb_at_1min"] > 0 and r["rss_mb_at_end"] > 0
    assert 0 < r["frame_ms_p50"] <= r["frame_ms_p95"] <= r["frame_ms_p99"] <= r["frame_ms_max"]
    assert len(r["intervals"]) >= 3 and r["intervals"][-1]["frames"] == r["frames"]
    assert r["errors"] == 0
