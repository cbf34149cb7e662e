"""Resident memory while a looping 1080p video plays headless (growth after the first minute).

The reference is the process's own resident size at the one-minute mark: the benchmark
prints the size over time and the growth ratio against it. Decoder queues are bounded, so
the ratio should stay near 1.0 however long the clip loops.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from app.bench.common import rss_mb, single_cue_show


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("clip", nargs="?", type=Path, default=None, help="video (default: generated)")
    p.add_argument("--minutes", type=float, default=10.0, help="how long to play")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between samples")


def run(args: argparse.Namespace) -> int:
    from app.bench.clips import make_bench_clip
    from app.clock import FrameClock
    from app.eventlog import EventLog
    from app.player import Player
    from app.render.outputs import HeadlessOutput

    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or make_bench_clip(Path(tmp) / "bench1080p30.mp4")
        show = single_cue_show(clip, width=1920, height=1080, fps=30.0)
        output = HeadlessOutput(show.output.width, show.output.height)
        player = Player(show, output, clock=FrameClock(), log=EventLog())
        from app.cues.commands import build
        from app.session import Session

        total = args.minutes * 60.0
        samples: list[tuple[float, float]] = []
        start = time.monotonic()
        next_sample = [0.0]

        def over() -> bool:  # before each frame: an RSS sample when one is due
            elapsed = time.monotonic() - start
            if elapsed >= next_sample[0]:
                samples.append((round(elapsed, 1), rss_mb()))
                next_sample[0] += args.interval
                if not args.json:
                    print(
                        f"{elapsed:7.1f} s  rss {samples[-1][1]:8.1f} MB  frames {player.frame}",
                        flush=True,
                    )
            return elapsed >= total

        try:
            Session(player).run([(0.0, build("go", source="bench"))], status=False, until=over)
        finally:
            player.close()
            output.close()
    at_1min = next((mb for s, mb in samples if s >= 60.0), samples[0][1])
    at_end = samples[-1][1]
    growth = (at_end - at_1min) / at_1min * 100.0
    result = {
        "minutes": args.minutes,
        "frames": player.frame,
        "rss_mb_at_1min": round(at_1min, 1),
        "rss_mb_at_end": round(at_end, 1),
        "growth_after_1min_pct": round(growth, 2),
        "ratio_end_to_1min": round(at_end / at_1min, 4),
        "samples": samples,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"rss at 1 min {at_1min:.1f} MB, at end {at_end:.1f} MB: "
            f"growth {growth:+.2f}% (ratio {at_end / at_1min:.4f}), {player.frame} frames"
        )
    return 0
