"""The test card: its pixels where the layout says, the moving slot, the warp, `--out`."""

from __future__ import annotations

from pathlib import Path

import moderngl
import numpy as np
import pytest
from PIL import Image

from app.cli import main
from app.render.testcard import (
    BAR_COLOURS,
    MARKER_COLOURS,
    card_label,
    card_layout,
    render_testcard,
    text_overlay,
)
from app.render.warp import Venue, Warp, save_venue

W, H = 192, 108


def test_label_and_layout() -> None:
    assert card_label(1920, 1080, 60.0) == "1920x1080 @ 60 fps"
    assert card_label(1280, 720, 29.97) == "1280x720 @ 29.97 fps"
    lay = card_layout(1920, 1080)
    assert lay.cell == 120 and lay.line == 2
    assert lay.bars[0] >= 0 and lay.bars[2] <= 1920
    with pytest.raises(ValueError, match="16x16"):
        card_layout(8, 8)


def test_markers_bars_ramp(ctx: moderngl.Context) -> None:
    card, presented = render_testcard(W, H, 60.0, ctx=ctx)
    assert card.shape == (H, W, 3)
    assert np.array_equal(card, presented)  # no warp
    lay = card_layout(W, H)
    m = lay.marker
    corners = [(0, 0), (W - m, 0), (W - m, H - m), (0, H - m)]
    for (x, y), colour in zip(corners, MARKER_COLOURS, strict=True):
        block = card[y : y + m, x : x + m].reshape(-1, 3)
        assert (block == colour).all(), (x, y, colour)
    x0, y0, x1, y1 = lay.bars
    bar_w = (x1 - x0) / 8
    for i, colour in enumerate(BAR_COLOURS):
        xs = slice(int(x0 + i * bar_w + 2), int(x0 + (i + 1) * bar_w - 2))
        block = card[y0 + 1 : y1 - 1, xs].reshape(-1, 3)
        assert (block == colour).all(), (i, colour)
    x0, y0, x1, y1 = lay.ramp
    smooth = card[y0 + 1, x0:x1, 0].astype(int)
    assert smooth[0] < 5 and smooth[-1] > 250 and (np.diff(smooth) >= 0).all()
    steps = card[y1 - 2, x0:x1, 0]
    assert len(np.unique(steps)) == 11
    assert (card[y0 + 1, x0:x1] == card[y0 + 1, x0:x1, :1]).all()  # grey


def test_text_is_drawn(ctx: moderngl.Context) -> None:
    lay = card_layout(640, 360)
    overlay = text_overlay(lay, card_label(640, 360, 60))
    assert (overlay[..., :3] <= overlay[..., 3:]).all()  # premultiplied
    ys, xs = np.nonzero(overlay[..., 0] > 200)  # white letters, centred on label_at
    assert len(xs) > 200
    cx, cy = lay.label_at
    assert abs((xs.min() + xs.max()) / 2 - cx) < 3 and abs((ys.min() + ys.max()) / 2 - cy) < 4
    assert xs.max() - xs.min() > 2 * lay.cell  # a line of text, not a dot
    lay = card_layout(W, H)
    cx, cy = lay.label_at
    card, _ = render_testcard(W, H, 60.0, ctx=ctx)
    label = card[cy - lay.cell // 2 : cy + lay.cell // 2, cx - 2 * lay.cell : cx + 2 * lay.cell]
    assert (label.min(axis=2) > 150).sum() > 5


def test_frame_track_moves_one_slot_per_frame(ctx: moderngl.Context) -> None:
    lay = card_layout(W, H)
    x0, y0, x1, y1 = lay.track
    row = (y0 + y1) // 2

    def lit(frame: int) -> np.ndarray:
        card, _ = render_testcard(W, H, 30.0, frame=frame, ctx=ctx)
        return np.nonzero(card[row, x0:x1, 0] == 255)[0]

    first, second, wrapped = lit(0), lit(1), lit(30)
    slot = (x1 - x0) / 30
    assert len(first) > 0 and first.max() < slot
    assert second.min() == pytest.approx(first.min() + slot, abs=1.0)
    assert np.array_equal(wrapped, first)


def test_card_through_the_warp(ctx: moderngl.Context) -> None:
    corners = ((0.1, 0.08), (0.93, 0.02), (0.98, 0.9), (0.05, 0.97))
    card, presented = render_testcard(W, H, 60.0, warp=Warp(corners), ctx=ctx)
    for (cx, cy), colour in zip(corners, MARKER_COLOURS, strict=True):
        # one pixel inside the card from the configured corner, towards the centre
        x = int(cx * W + np.sign(0.5 - cx) * 1.5)
        y = int(cy * H + np.sign(0.5 - cy) * 1.5)
        assert np.abs(presented[y, x].astype(int) - colour).max() < 40, (x, y, colour)
    assert presented[1, 1].tolist() == [0, 0, 0]  # outside the quad


def test_out_writes_a_png_through_the_venue_warp(tmp_path: Path) -> None:
    venue = tmp_path / "venue.yaml"
    corners = ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0))
    save_venue(venue, Venue(Warp(corners)))
    out = tmp_path / "card.png"
    args = ["testcard", "--width", "160", "--height", "90", "--out", str(out)]
    assert main([*args, "--venue", str(venue)]) == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape == (90, 160, 3)
    assert img[:, :78].max() == 0  # the left half is outside the warped card
    assert img[1, 81].tolist() == [255, 0, 0]  # corner 1 now at the top middle
    assert img[1, 158].tolist() == [0, 255, 0]
    plain = tmp_path / "plain.png"
    assert main([*args[:-1], str(plain), "--venue", str(tmp_path / "none.yaml")]) == 0
    assert np.asarray(Image.open(plain).convert("RGB"))[0, 0].tolist() == [255, 0, 0]


def test_bad_venue_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    venue = tmp_path / "venue.yaml"
    venue.write_text("output: {corners: [[0, 0]]}\n")
    assert main(["testcard", "--out", str(tmp_path / "x.png"), "--venue", str(venue)]) == 2
    assert "output.corners" in capsys.readouterr().err
