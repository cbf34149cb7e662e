"""The operator view's text and safety: every character of the real show drawn (no missing
glyph), notes wrapped instead of cut, the live poem's cues kept in view at a poem's end, and
BLACKOUT acting only on a second click or key press."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import moderngl
import numpy as np
import pytest
from frames import run_frames
from PIL import Image, ImageFont

from app.cues.commands import log_name
from app.render.gl import release_framebuffer
from app.render.ui import (
    AMBER,
    RED,
    Rect,
    UiCanvas,
    elide,
    font,
    line_height,
    missing_glyphs,
    render_text,
    text_width,
    wrap,
)

ROOT = Path(__file__).resolve().parent.parent
PIERROT = ROOT / "show" / "pierrot.yaml"
OUT_W, OUT_H = 160, 90
LATIN_EXTENDED = "ÄÖÜäöüß ÀÉÈÇçñ ŁłŒœŠšŽžĞğİıŐőŰű ąęćńśźż ČčĆćĐđ ĀāĒēĪīŌōŪū"


def _pierrot_texts() -> list[str]:
    """Every title and note of show/pierrot.yaml as the loader reads them, and the raw file's
    non-ASCII characters (in case a field holding text is not listed here)."""
    from app.show.loader import load_show

    show = load_show(PIERROT, allow_missing=True)
    texts = [show.title]
    for poem in show.poems:
        texts += [poem.id, poem.title, poem.notes or ""]
        for cue in poem.cues:
            texts += [cue.id, cue.notes or ""]
    raw = PIERROT.read_text(encoding="utf-8")
    texts.append("".join(sorted({ch for ch in raw if ord(ch) > 127})))
    return [t for t in texts if t]


# --- the font -----------------------------------------------------------------------------


def test_the_font_has_every_character_of_the_show() -> None:
    texts = _pierrot_texts()
    assert any("Wäscherin" in t for t in texts)  # the title that was drawn "W?scherin"
    for size in (12, 24):
        assert missing_glyphs("".join(texts), size) == []
        assert missing_glyphs(LATIN_EXTENDED, size) == []


def test_the_missing_glyph_check_finds_what_pillows_default_font_lacks() -> None:
    # Pillow's bundled default font (the view's font until now) has no "ä": the check sees it
    default = ImageFont.load_default(size=24)
    assert missing_glyphs("Eine blasse Wäscherin", face=default) == ["ä"]
    assert missing_glyphs("Eine blasse Wäscherin") == []
    assert missing_glyphs("Mond 月") == ["月"]  # no CJK in DejaVu Sans: reported


def test_every_title_is_drawn_by_the_canvas_as_the_font_renders_it(
    ctx: moderngl.Context,
) -> None:
    """Read back: each of the show's strings drawn through the atlas is the font's own
    rendering, pixel for pixel, and differs from the .notdef box where it has an "ä"."""
    canvas = UiCanvas(ctx)
    size = 20
    texts = _pierrot_texts()
    width = int(max(text_width(t, size) for t in texts)) + 8
    height = line_height(size)
    target = ctx.simple_framebuffer((width, height))
    try:
        for text in texts:
            canvas.begin(width, height)
            canvas.text(0, 0, text, size, (1.0, 1.0, 1.0, 1.0))
            canvas.end(target, clear=(0.0, 0.0, 0.0, 1.0))
            px = np.frombuffer(target.read(components=1, alignment=1), np.uint8)
            drawn = px.reshape(height, width)[::-1]
            mask = render_text(text, size)
            h, w = mask.shape
            assert np.abs(drawn[:h, :w].astype(int) - mask).max() <= 1, text
            assert drawn[:, w:].max() == 0
        boxed = render_text("W\U0010ffffscherin", size)
        real = render_text("Wäscherin", size)
        assert boxed.shape != real.shape or (boxed != real).any()
    finally:
        canvas.release()
        release_framebuffer(target)


def test_wrap_keeps_every_character_and_fits_the_width() -> None:
    text = (
        "Auf den Einsatz der Flöte warten; dann langsam über die Wäscherin blenden, "
        "Überblendung ungefähr acht Takte — Ausnahmeüberlänge: Donaudampfschifffahrtsgesellschaft"
    )
    for room in (60.0, 140.0, 400.0):
        lines = wrap(text, 14, room)
        assert len(lines) > 1
        assert all(text_width(line, 14) <= room for line in lines if len(line) > 1)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
        assert not any("…" in line for line in lines)
    assert wrap("kurz", 14, 400.0) == ("kurz",)
    assert wrap("eins\nzwei", 14, 400.0) == ("eins", "zwei")


# --- the view ---------------------------------------------------------------------------


def _solid(path: Path, rgb: tuple[int, int, int]) -> Path:
    Image.fromarray(np.full((OUT_H, OUT_W, 3), rgb, np.uint8)).save(path)
    return path


@pytest.fixture
def two_poems(ctx: moderngl.Context, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A two-poem show (1.1, 1.2 | 2.1, 2.2; cuts) playing headless with an operator view
    driven by a fake clock."""
    from frames import hand_clock

    from app.bench.common import show_of
    from app.clock import FakeTime
    from app.eventlog import EventLog
    from app.player import Player
    from app.render.operator import OperatorWindow
    from app.render.outputs import HeadlessOutput
    from app.show.model import Poem

    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    media = [_solid(tmp_path / f"{i}.png", rgb) for i, rgb in enumerate(colours)]
    base = show_of(media, width=OUT_W, height=OUT_H, fps=30.0, fade=0.0)
    c = base.poems[0].cues
    poems = (
        Poem(id="1", title="Eine blasse Wäscherin", part=1, cues=(c[0], c[1])),
        Poem(
            id="2",
            title="Valse de Chopin",
            part=1,
            cues=(replace(c[2], id="2.1", poem_id="2"), replace(c[3], id="2.2", poem_id="2")),
        ),
    )
    show = replace(base, poems=poems)
    fake = FakeTime()
    out = HeadlessOutput(OUT_W, OUT_H, ctx=ctx)
    player = Player(show, out, clock=hand_clock(fake), log=EventLog(), offline=True)
    op = OperatorWindow(out, width=1280, height=800, every=1, clock=fake)
    try:
        yield {"player": player, "op": op, "out": out, "fake": fake, "show": show}
        assert out.ctx.error == "GL_NO_ERROR"
    finally:
        op.close()
        player.close()
        out.close()


def _step(env: dict[str, Any], *actions: Any) -> None:
    player, fake = env["player"], env["fake"]
    for action in actions:
        player.put(action, fake())
    fake.advance(1 / 30)
    run_frames(player)  # one frame of the show's loop, 1/30 s later


def test_the_live_poems_cues_stay_in_view_at_a_poems_end(two_poems: dict[str, Any]) -> None:
    from app.cues.actions import Go

    env = two_poems
    player, op = env["player"], env["op"]
    _step(env, Go(source="script"))
    _step(env, Go(source="script"))  # 1.2 live (the poem's last cue), 2.1 in standby
    assert (player.status.live, player.status.standby) == (1, 2)
    op.draw(player, force=True)
    assert op.grid_poems == ["1", "2"]
    assert set(op.thumb_rects) == {0, 1, 2, 3}  # the live poem's cues and the next poem's
    view = op.read_pixels()
    live, standby = op.thumb_rects[1], op.thumb_rects[2]
    assert view[int(live.y + live.h / 2), int(live.x) - 1].tolist() == [
        round(v * 255) for v in RED[:3]
    ]
    assert live.y + live.h < standby.y  # the live poem above, the next one under it
    for index, rect in op.thumb_rects.items():
        assert Rect(0, 0, 1280, 800).contains(rect.x + rect.w - 1, rect.y + rect.h - 1), index
    if os.environ.get("UPDATE_DOCS") == "1":  # the picture in docs/operator-and-desk.md
        op.thumbs.wait(timeout=30)
        op.draw(player, force=True)
        shot = op.read_pixels()
        Image.fromarray(shot).save(ROOT / "docs" / "operator-poem-end.png", optimize=True)
    _step(env, Go(source="script"))  # 2.1 live, 2.2 in standby: one poem again
    op.draw(player, force=True)
    assert op.grid_poems == ["2"] and set(op.thumb_rects) == {2, 3}


def test_long_notes_wrap_onto_several_lines(two_poems: dict[str, Any]) -> None:
    from app.cues.actions import Go

    env = two_poems
    player, op, show = env["player"], env["op"], env["show"]
    note = (
        "Warten auf den Einsatz der Flöte, dann über die Wäscherin blenden; "
        "das Licht bleibt kalt und blass bis zum Ende des Gedichts"
    )
    poem = show.poems[0]
    cues = (replace(poem.cues[0], notes=note), poem.cues[1])
    player.show = replace(show, poems=(replace(poem, cues=cues), show.poems[1]))
    _step(env, Go(source="script"))
    op.draw(player, force=True)
    assert op.notes_drawn == [("LIVE", f"1.1: {note}")]
    lines = op.notes_lines
    assert len(lines) >= 2
    assert " ".join(lines) == f"1.1: {note}"  # every word, nothing cut
    assert not any("…" in line for line in lines)
    # the lines are on screen: text pixels on each line's row of the status column
    view = op.read_pixels()
    lay = op.layout
    small = lay.small
    step = line_height(small) + 2 * lay.scale
    side = view[:, int(lay.side.x) : int(lay.side.x + lay.side.w)]
    first = int(lay.side.y)
    for k in range(len(lines)):
        rows = side[int(first + k * step) : int(first + k * step + line_height(small))]
        assert rows.max() > 200, f"line {k} of the note is not drawn"
    assert font(small).getlength(lines[0]) <= lay.side.w


def test_visible_rows_keep_the_focus_near_the_middle() -> None:
    from app.render.operator_layout import visible_rows

    assert visible_rows([10.0] * 21, 10, 50) == (8, 13)
    assert visible_rows([10.0] * 21, 0, 50) == (0, 5)  # at an end: the room is filled
    assert visible_rows([10.0] * 21, 20, 50) == (16, 21)
    assert visible_rows([10.0, 30.0, 10.0, 10.0], 1, 50) == (0, 3)
    assert visible_rows([10.0, 30.0, 10.0, 10.0], 1, 45) == (1, 3)
    assert visible_rows([10.0] * 3, 1, 100) == (0, 3)
    assert visible_rows([60.0], 0, 50) == (0, 0)  # not even the focus fits
    assert visible_rows([], 0, 50) == (0, 0)


def test_poem_titles_wrap_instead_of_being_cut(two_poems: dict[str, Any]) -> None:
    from app.cues.actions import Go
    from app.render.operator import OperatorWindow

    env = two_poems
    player = env["player"]
    _step(env, Go(source="script"))
    drawn = {}
    for size in ((1280, 800), (1024, 640), (1920, 1080)):
        op = OperatorWindow(env["out"], width=size[0], height=size[1], every=1)
        try:
            op.draw(player, force=True)
            lines = op.poem_lines["1"]
            lay = op.layout
            room = lay.poems.w - 20 * lay.scale
        finally:
            op.close()
        assert " ".join(lines) == "Eine blasse Wäscherin", lines
        assert not any("…" in line for line in lines)
        assert all(text_width(f"1  {line}", lay.mid) <= room for line in lines)
        drawn[size] = lines
    assert len(drawn[(1280, 800)]) == 2  # too wide for one line there: wrapped, not cut
    assert len(drawn[(1920, 1080)]) == 1


def test_the_operator_window_draws_every_pierrot_title_whole(ctx: moderngl.Context) -> None:
    """The real show (its media need not exist): each poem put in standby in turn, its title
    drawn whole in the poem list and as the cue grid's heading, at 1280 x 800."""
    from frames import hand_clock

    from app.clock import FakeTime
    from app.cues.commands import build
    from app.eventlog import EventLog
    from app.player import Player
    from app.render.operator import OperatorWindow
    from app.render.outputs import HeadlessOutput
    from app.show.loader import load_show

    show = load_show(PIERROT, allow_missing=True)
    fake = FakeTime()
    out = HeadlessOutput(320, 180, ctx=ctx)
    player = Player(show, out, clock=hand_clock(fake), log=EventLog(), offline=True)
    op = OperatorWindow(out, width=1280, height=800, every=1)
    try:
        for poem in show.poems:
            player.put(build("standby", [poem.id], source="script"), fake())
            fake.advance(1 / 30)
            run_frames(player)
            op.draw(player, force=True)
            assert op.grid_poems == [poem.id]
            assert " ".join(op.poem_lines[poem.id]) == poem.title
            lay = op.layout
            heading = f"POEM {poem.id}  {poem.title}"
            assert elide(heading, lay.big, round(lay.cues.w)) == heading  # not cut
            assert missing_glyphs(poem.title) == []
        assert len(op.poem_lines) >= 10  # the list scrolls with the standby
        assert out.ctx.error == "GL_NO_ERROR"
    finally:
        op.close()
        player.close()
        out.close()


def test_blackout_needs_a_second_click(two_poems: dict[str, Any]) -> None:
    env = two_poems
    player, op, fake = env["player"], env["op"], env["fake"]
    _step(env)
    op.draw(player, force=True)
    button = op.layout.blackout.centre
    assert op.click(*button) is None  # armed, nothing sent
    assert op.poll_events() == []
    op.draw(player, force=True)
    view = op.read_pixels()
    b = op.layout.blackout
    assert view[int(b.y + 3), int(b.x + 3)].tolist() == [round(v * 255) for v in AMBER[:3]]
    fake.advance(0.5)
    action = op.click(*button)
    assert action is not None and log_name(action) == "BLACKOUT"
    events = op.poll_events()
    assert events == [action]
    _step(env, *events)
    assert player.status.blackout
    # too slow: the second click only arms again
    assert op.click(*button) is None
    fake.advance(1.5)
    assert op.click(*button) is None
    # another click in between disarms it (and acts)
    fake.advance(0.1)
    go = op.click(*op.layout.go.centre)
    assert go is not None and log_name(go) == "GO"
    assert op.click(*button) is None
    fake.advance(0.1)
    assert op.click(-5, -5) is None  # a click on nothing disarms too
    assert op.click(*button) is None
    fake.advance(0.1)
    assert op.click(*button) is not None
    assert player.status.blackout  # nothing but the confirmed click reached the show


def test_blackout_key_on_the_operator_window_needs_a_second_press(
    two_poems: dict[str, Any],
) -> None:
    from app.control.keyboard import KeyEvent
    from app.session import run

    env = two_poems
    player, op = env["player"], env["op"]
    seen: dict[str, Any] = {}

    class Keys:
        def poll(self, t: float) -> None:
            frame = player.frame
            if frame == 1:
                op.inject(KeyEvent("b"))
            elif frame == 3:
                seen["armed"] = (player.status.blackout, player.status.hint)
                op.draw(player, force=True)
                seen["drawn"] = op.read_pixels()
                seen["side"] = op.layout.side
                op.inject(KeyEvent("b"))
            elif frame == 5:
                seen["after"] = player.status.blackout

        def close(self) -> None:
            pass

    run(player, [], frames=6, status=False, inputs=[Keys()], operator=op)
    assert seen["armed"] == (False, "press b again for BLACKOUT")
    assert seen["after"] is True
    side = seen["side"]
    top = seen["drawn"][int(side.y) : int(side.y + 30), int(side.x) : int(side.x + side.w)]
    amber = np.array([round(v * 255) for v in AMBER[:3]])
    assert (np.abs(top.astype(int) - amber).sum(axis=2) < 60).any()  # the hint, in amber
