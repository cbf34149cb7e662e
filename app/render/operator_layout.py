"""The operator view's layout and frame-time record: pure, no GL (tested alone)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.render.ui import Rect, line_height


@dataclass(frozen=True)
class Layout:
    """Where everything goes in a `width` x `height` operator view (pure, testable)."""

    width: int
    height: int
    scale: float
    margin: float
    preview: Rect
    program: Rect
    go: Rect
    blackout: Rect
    progress: Rect
    poems: Rect
    cues: Rect
    side: Rect

    @property
    def big(self) -> int:
        return max(9, round(28 * self.scale))

    @property
    def mid(self) -> int:
        return max(8, round(21 * self.scale))

    @property
    def small(self) -> int:
        return max(7, round(16 * self.scale))


def layout(width: int, height: int, aspect: float) -> Layout:
    """The operator view's regions: monitors on top (preview left, program right), buttons and
    the transition bar under them, the poem list and the poem's cues below, a status column
    on the right. `aspect` is the show output's width / height."""
    s = max(0.4, min(width / 1280.0, height / 800.0))
    m = 14.0 * s
    left_w = width * 0.7
    label_h = line_height(max(9, round(28 * s))) + 6 * s
    mw = (left_w - 3 * m) / 2
    mh = mw / aspect
    if mh > height * 0.42:
        mh = height * 0.42
        mw = mh * aspect
    top = m + label_h
    preview = Rect(m, top, mw, mh)
    program = Rect(2 * m + mw, top, mw, mh)
    row_y = top + mh + m * 0.75
    row_h = 46.0 * s
    half = (mw - m / 2) / 2
    go = Rect(preview.x, row_y, half, row_h)
    blackout = Rect(preview.x + half + m / 2, row_y, half, row_h)
    progress = Rect(program.x, row_y, mw, row_h)
    y0 = row_y + row_h + m
    bottom_h = max(0.0, height - y0 - m)
    poems = Rect(m, y0, left_w * 0.3, bottom_h)
    cues = Rect(poems.x + poems.w + m, y0, left_w - poems.w - 3 * m, bottom_h)
    side = Rect(left_w, m, max(0.0, width - left_w - m), max(0.0, height - 2 * m))
    return Layout(width, height, s, m, preview, program, go, blackout, progress, poems, cues, side)


def thumbnail_grid(area: Rect, count: int, aspect: float, label_h: float, gap: float) -> list[Rect]:
    """Rectangles (picture only) of `count` thumbnails laid out in rows to fill `area` with
    the biggest pictures that fit."""
    if count <= 0 or area.w <= 0 or area.h <= 0:
        return []
    best: tuple[float, int] = (0.0, 1)
    for cols in range(1, count + 1):
        rows = math.ceil(count / cols)
        w = (area.w - (cols - 1) * gap) / cols
        h_room = (area.h - (rows - 1) * gap) / rows - label_h
        w = min(w, h_room * aspect)
        if w > best[0]:
            best = (w, cols)
    w, cols = best
    if w <= 0:
        return []
    h = w / aspect
    return [
        Rect(area.x + (i % cols) * (w + gap), area.y + (i // cols) * (h + label_h + gap), w, h)
        for i in range(count)
    ]


def visible_rows(heights: list[float], focus: int, room: float) -> tuple[int, int]:
    """The rows [first, last) of a list with rows of `heights` shown in `room` pixels: row
    `focus` always, then rows taken alternately below and above it while they fit, so that it
    stays near the middle (and the list's ends fill the room when the focus is near one)."""
    n = len(heights)
    if n == 0:
        return 0, 0
    focus = max(0, min(n - 1, focus))
    if heights[focus] > room:
        return focus, focus
    first, last = focus, focus + 1
    used = heights[focus]
    below = True
    while True:
        can_below = last < n and used + heights[last] <= room
        can_above = first > 0 and used + heights[first - 1] <= room
        if not (can_below or can_above):
            break
        if (below and can_below) or not can_above:
            used += heights[last]
            last += 1
        else:
            first -= 1
            used += heights[first]
        below = not below
    return first, last


def performer_notes(show: Any, status: Any) -> list[tuple[str, str]]:
    """The performer's aids for the operator view: (label, text) lines, in drawing order.

    The armed follow's countdown first (`FOLLOW`), then the notes of the cue in standby
    (`NEXT`), of the live cue (`LIVE`) and of the standby's (else the live cue's) poem
    (`POEM`); lines without a text are left out.
    """
    cues = show.cues
    lines: list[tuple[str, str]] = []
    if status.follow is not None:
        lines.append(("FOLLOW", status.follow.line().removeprefix("follow ")))
    for label, index in (("NEXT", status.standby), ("LIVE", status.live)):
        if index is not None and 0 <= index < len(cues) and cues[index].notes:
            lines.append((label, f"{cues[index].id}: {cues[index].notes}"))
    poem = next((p for p in show.poems if p.id == status.poem), None)
    focus = status.standby if status.standby is not None else status.live
    if focus is not None and 0 <= focus < len(cues):
        poem = next((p for p in show.poems if p.id == cues[focus].poem_id), poem)
    if poem is not None and poem.notes:
        lines.append(("POEM", f"{poem.id}: {poem.notes}"))
    return lines


def qr_modules(text: str, border: int = 2) -> np.ndarray:
    """The QR code of `text` as a square bool array (True = dark module), with `border`
    light modules around it (the quiet zone a camera needs)."""
    import segno

    matrix = np.array([list(row) for row in segno.make(text, error="m").matrix], dtype=bool)
    return np.pad(matrix, border, constant_values=False)


class FrameTimes:
    """Intervals between frames (seconds), the last `size` of them, sampled once per frame."""

    def __init__(self, size: int = 600) -> None:
        self.intervals: deque[float] = deque(maxlen=size)
        self._last: float | None = None

    def tick(self, now: float) -> None:
        if self._last is not None:
            self.intervals.append(now - self._last)
        self._last = now

    def last(self, n: int) -> list[float]:
        items = list(self.intervals)
        return items[-n:]

    def percentile(self, q: float) -> float:
        """The q-th percentile (0..100) of the recorded intervals, 0 when there are none."""
        if not self.intervals:
            return 0.0
        return float(np.percentile(np.fromiter(self.intervals, float), q))
