"""Crossfade curves and timed fades: pure functions of a curve, a fade and a time.

The compositor's GL tests compare against these; the engine evaluates every opacity and
the black level with them. A fade of duration 0 is a cut: its start value before `t0`, its
end value at and after `t0`.
"""

from __future__ import annotations

from app.cues.state import Fade
from app.show.model import Curve


def _clamp01(x: float) -> float:
    # `not x > 0` also catches NaN, so a bad input can never leak past the curve.
    if not x > 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    return x


def curve_value(curve: Curve, x: float) -> float:
    """Shape of a transition at progress `x` (clamped to [0, 1]); 0 -> 0 and 1 -> 1.

    LINEAR is `x`; SMOOTH is smoothstep `3x^2 - 2x^3` (an S-curve: slow start and end,
    the default of most cue software).
    """
    x = _clamp01(x)
    if curve == Curve.SMOOTH:
        return x * x * (3.0 - 2.0 * x)
    return x


def fade_progress(fade: Fade, t: float) -> float:
    """Linear progress 0..1 of `fade` at time `t` (before the curve is applied)."""
    if fade.duration <= 0.0:
        return 1.0 if t >= fade.t0 else 0.0
    return _clamp01((t - fade.t0) / fade.duration)


def fade_value(fade: Fade, t: float) -> float:
    """Value of `fade` at time `t`: `start` before `t0`, `end` once the fade is over."""
    p = fade_progress(fade, t)
    if p >= 1.0:
        return fade.end  # exact, so that a finished fade to 0 is exactly 0
    return fade.start + (fade.end - fade.start) * curve_value(fade.curve, p)


def fade_done(fade: Fade, t: float) -> bool:
    """True once `fade` has reached its end value (at or after `t0 + duration`)."""
    return t >= fade.t0 + max(fade.duration, 0.0)


def fade_running(fade: Fade, t: float) -> bool:
    """True while `fade` is changing: started, not finished, and of non-zero duration."""
    return fade.duration > 0.0 and fade.t0 <= t < fade.t0 + fade.duration
