"""Crossfade curves and timed fades (app.cues.curves): pure math, no clock."""

from __future__ import annotations

import math

import pytest

from app.cues.curves import curve_value, fade_done, fade_progress, fade_running, fade_value
from app.cues.state import Fade
from app.show.model import Curve


@pytest.mark.parametrize(
    ("x", "linear", "smooth"),
    [(0.0, 0.0, 0.0), (0.25, 0.25, 0.15625), (0.5, 0.5, 0.5), (0.75, 0.75, 0.84375), (1.0, 1, 1)],
)
def test_curve_values(x: float, linear: float, smooth: float) -> None:
    assert curve_value(Curve.LINEAR, x) == pytest.approx(linear)
    assert curve_value(Curve.SMOOTH, x) == pytest.approx(smooth)


@pytest.mark.parametrize("curve", list(Curve))
def test_curve_clamps_and_is_monotonic(curve: Curve) -> None:
    assert curve_value(curve, -3.0) == 0.0
    assert curve_value(curve, 7.0) == 1.0
    assert curve_value(curve, math.nan) == 0.0
    xs = [i / 100 for i in range(101)]
    ys = [curve_value(curve, x) for x in xs]
    assert ys == sorted(ys)
    assert ys[0] == 0.0 and ys[-1] == 1.0


def test_smooth_is_symmetric() -> None:
    for x in (0.1, 0.2, 0.3, 0.4):
        assert curve_value(Curve.SMOOTH, x) + curve_value(Curve.SMOOTH, 1 - x) == pytest.approx(1)


def test_fade_value_over_time() -> None:
    f = Fade(start=0.2, end=1.0, t0=10.0, duration=2.0, curve=Curve.LINEAR)
    assert fade_value(f, 9.0) == 0.2
    assert fade_value(f, 10.0) == 0.2
    assert fade_value(f, 11.0) == pytest.approx(0.6)
    assert fade_value(f, 12.0) == 1.0
    assert fade_value(f, 100.0) == 1.0
    assert fade_progress(f, 10.5) == pytest.approx(0.25)
    assert fade_progress(f, 5.0) == 0.0
    assert fade_progress(f, 50.0) == 1.0


def test_fade_down_ends_exactly_at_zero() -> None:
    f = Fade(start=0.37, end=0.0, t0=1.0, duration=0.3, curve=Curve.SMOOTH)
    assert fade_value(f, 1.3) == 0.0
    assert fade_value(f, 1.15) == pytest.approx(0.185)


def test_zero_duration_is_a_cut() -> None:
    f = Fade(start=1.0, end=0.0, t0=3.0, duration=0.0)
    assert fade_value(f, 2.999) == 1.0
    assert fade_value(f, 3.0) == 0.0
    assert fade_progress(f, 3.0) == 1.0
    assert fade_done(f, 3.0)
    assert not fade_running(f, 3.0)


def test_done_and_running() -> None:
    f = Fade(start=0.0, end=1.0, t0=1.0, duration=2.0)
    assert not fade_running(f, 0.5) and not fade_done(f, 0.5)
    assert fade_running(f, 1.0) and fade_running(f, 2.9)
    assert not fade_running(f, 3.0) and fade_done(f, 3.0)
