"""`bench video`'s (a)/(b) comparison: steady-state rates of both, interleaved rounds, the
median round reported with its thread count and load (figures themselves are not judged)."""

from __future__ import annotations

import statistics
from pathlib import Path

from app.bench.video import interleaved, steady_decode, steady_reference
from app.media.lavfi import make_clip


def test_interleaved_rounds_report_the_median_round(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", width=64, height=36, fps=25, seconds=2.0)
    frames, seconds = steady_decode(clip, threads=2)
    assert frames == 49 and seconds > 0  # frames after the first one out
    frames, seconds = steady_reference(clip, threads=2)
    assert 0 < frames <= 50 and seconds > 0
    result = interleaved(clip, 3, threads=2)
    ratios = [ours / ref for ref, ours in result["rounds"]]
    assert len(ratios) == 3 and result["threads"] == 2 and result["pix_fmt"] == "yuv420p"
    assert (
        result["decode_ratio"] == round(statistics.median(ratios), 3)
        or abs(result["decode_ratio"] - statistics.median(ratios)) < 0.01
    )
    assert [result["reference_fps"], result["decode_fps"]] in result["rounds"]
    assert len(result["load_avg"]) == 2
