"""The progress bar: ETA from finished work, a line per job when not on a terminal."""

from __future__ import annotations

import io

from app.generate.progress import Progress, format_duration


def test_eta_and_lines() -> None:
    now = [0.0]
    out = io.StringIO()
    bar = Progress(10.0, 3, stream=out, clock=lambda: now[0], width=10)
    assert bar.eta() is None
    bar.begin_job("1.1", 2.0)
    now[0] = 4.0
    bar.step(0.5)  # 1 unit in 4 s
    assert bar.eta() == 36.0
    bar.end_job()
    bar.skip(4.0)  # a current output leaves the total
    assert bar.eta() == 8.0  # 2 units in 4 s, 4 left
    line = bar.line()
    assert line.startswith("[###-------]  33.3% job 1/3 1.1") and "ETA 0:08" in line
    bar.message("error: something")
    assert out.getvalue().splitlines()[-1] == "error: something"
    assert format_duration(3725) == "1:02:05" and format_duration(75) == "1:15"
