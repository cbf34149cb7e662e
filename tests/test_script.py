"""Action scripts (app.cues.script): parsing, errors, and the format round trip."""

from __future__ import annotations

import pytest

from app.cues.actions import (
    Back,
    Blackout,
    CameraDolly,
    CameraOrbit,
    CameraPan,
    CameraReset,
    FadeOut,
    Go,
    HardBlack,
    LayerOpacity,
    LayerRate,
    Master,
    NextFade,
    Panic,
    Standby,
    StandbyStep,
    TBar,
)
from app.cues.commands import log_name
from app.cues.script import ScriptError, format_script, parse_script

EXAMPLE = (
    "0:go 4:go 9.5:blackout 12:fadeout 3 14:standby 2 15:standby 2 2.1 16:master 0.5 "
    "17:panic 18:next_fade 0.5 19:back 20:blackout 0"
)


def test_parse_the_docstring_example() -> None:
    assert parse_script(EXAMPLE) == [
        (0.0, Go()),
        (4.0, Go()),
        (9.5, Blackout()),
        (12.0, FadeOut(seconds=3.0)),
        (14.0, Standby(poem="2")),
        (15.0, Standby(poem="2", cue="2.1")),
        (16.0, Master(level=0.5)),
        (17.0, Panic()),
        (18.0, NextFade(seconds=0.5)),
        (19.0, Back()),
        (20.0, Blackout(on=False)),
    ]


def test_every_command_and_argument_form() -> None:
    text = (
        "1:go 2 2.3 2:GO 2 4:blackout on 5:BLACKOUT off 6:Blackout 1 7:fadeout "
        "8:hardblack 9:tbar 0.3 10:layer_opacity 2 0.5 11:layer_rate 1 1.5 "
        "12:standby_next 13:standby_prev 14:poem_next 15:poem_prev 16:orbit 5 -2 "
        "17:pan 0.01 0 18:dolly -0.05 19:camera_reset 20:standby_prev 3"
    )
    assert [a for _, a in parse_script(text)] == [
        Go(poem="2", cue="2.3"),
        Go(poem="2"),
        Blackout(on=True),
        Blackout(on=False),
        Blackout(on=True),
        FadeOut(),
        HardBlack(),
        TBar(position=0.3),
        LayerOpacity(layer=2, opacity=0.5),
        LayerRate(layer=1, rate=1.5),
        StandbyStep(cues=1),
        StandbyStep(cues=-1),
        StandbyStep(poems=1),
        StandbyStep(poems=-1),
        CameraOrbit(dx=5.0, dy=-2.0),
        CameraPan(dx=0.01, dy=0.0),
        CameraDolly(d=-0.05),
        CameraReset(),
        StandbyStep(cues=-3),
    ]


def test_old_upper_case_words_still_read() -> None:
    assert parse_script("0:GO 4:GO 9:BLACKOUT") == [(0.0, Go()), (4.0, Go()), (9.0, Blackout())]


def test_sixty_gos_on_one_line() -> None:
    text = " ".join(f"{i}:go" for i in range(60))
    assert [t for t, _ in parse_script(text)] == [float(i) for i in range(60)]


def test_lines_comments_sorting_and_source() -> None:
    text = """
    # the opening
    4:go   2:go 1 1.2   # out of order on purpose
    2:master 0.5

    10:panic
    """
    items = parse_script(text, source="operator")
    assert [(t, log_name(a)) for t, a in items] == [
        (2.0, "GO"),
        (2.0, "MASTER"),
        (4.0, "GO"),
        (10, "PANIC"),
    ]
    assert all(a.source == "operator" for _, a in items)
    assert parse_script("") == [] and parse_script("# nothing\n") == []


def test_round_trip() -> None:
    items = parse_script(
        EXAMPLE + " 21:go 3 22:go 3 x 23:layer_rate 2 0.25 24:orbit 1e-05 -3 25:standby_prev 2 "
        "26:poem_next 27:tbar 1 28:dolly 0.1 29:pan 0 0.3 30:camera_reset 31:blackout 1"
    )
    text = format_script(items)
    assert text.startswith("0:go 4:go 9.5:blackout 12:fadeout 3 14:standby 2 15:standby 2 2.1")
    assert parse_script(text) == items


def test_format_script() -> None:
    assert format_script([(1.5, StandbyStep(poems=1, cues=-1))]) == (
        "1.5:poem_next 1.5:standby_prev"
    )
    assert format_script([(0.1, Master(level=0.3))]) == "0.1:master 0.3"
    assert format_script([(0, LayerOpacity(layer=2, opacity=1.0))]) == "0:layer_opacity 2 1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0:go 4:go 9.x:go", "script item 3 '9.x:go': bad time '9.x' (expected a number)"),
        ("go", "script item 1 'go': expected T:COMMAND (e.g. 4:go)"),
        ("1:", "script item 1 '1:': expected T:COMMAND (e.g. 4:go)"),
        ("-1:go", "script item 1 '-1:go': bad time '-1' (expected seconds >= 0)"),
        ("nan:go", "script item 1 'nan:go': bad time 'nan' (expected seconds >= 0)"),
        ("1:goo", "script item 1 '1:goo': unknown command 'goo' (did you mean 'go'?"),
        ("1:master", "script item 1 '1:master': master: missing argument level"),
        ("1:master x", "script item 1 '1:master x': master: level: expected a number, got 'x'"),
        ("1:master nan", "script item 1 '1:master nan': master: level: nan is not a finite"),
        ("1:master 2", "script item 1 '1:master 2': master: level: 2 out of range 0..1"),
        ("1:back 1", "script item 1 '1:back 1': back: takes no arguments"),
        ("1:standby", "script item 1 '1:standby': standby: missing argument poem"),
        ("1:orbit 1", "script item 1 '1:orbit 1': orbit: missing argument dy"),
        (
            "1:layer_rate 1.5 1",
            "script item 1 '1:layer_rate 1.5 1': layer_rate: layer: expected a whole number",
        ),
        ("1:next_fade -1", "script item 1 '1:next_fade -1': next_fade: seconds: -1 out of range"),
        ("1:blackout 2", "script item 1 '1:blackout 2': blackout: on: expected 1 or 0"),
        ("0:go\n1:go # ok\n2:foo", "script item 3 '2:foo' (line 3): unknown command 'foo'"),
    ],
)
def test_errors_name_the_item(text: str, message: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse_script(text)
    assert str(info.value).startswith(message)
