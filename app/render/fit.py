"""How media of one aspect ratio is placed on an output of another (pure math, no GL)."""

from __future__ import annotations

from app.show.model import Fit


def fit_scale(
    src_w: int, src_h: int, dst_w: int, dst_h: int, fit: Fit | str
) -> tuple[float, float]:
    """Half-extent (sx, sy) in NDC of the quad that shows a `src_w` x `src_h` image on a
    `dst_w` x `dst_h` target.

    The target spans -1..1 on both axes, so (1, 1) fills it exactly. `cover` fills the target
    and crops the overflow (one of sx, sy > 1), `contain` shows the whole image with black bars
    (one of sx, sy < 1), `stretch` fills it and distorts: always (1, 1).
    """
    if min(src_w, src_h, dst_w, dst_h) <= 0:
        raise ValueError(
            f"sizes must be positive, got source {src_w}x{src_h} and target {dst_w}x{dst_h}"
        )
    fit = Fit(fit)
    if fit is Fit.STRETCH:
        return 1.0, 1.0
    # > 1: the image is wider than the target
    ratio = (src_w / src_h) / (dst_w / dst_h)
    wider = ratio > 1.0
    if fit is Fit.CONTAIN:
        return (1.0, 1.0 / ratio) if wider else (ratio, 1.0)
    return (ratio, 1.0) if wider else (1.0, 1.0 / ratio)
