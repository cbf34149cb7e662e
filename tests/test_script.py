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
    Crossfade,
    FadeOut,
    Go,
    Goto,
    HardBlack,
    LayerOpacity,
    LayerRate,
    Master,
    NextFade,
    Panic,
    StandbyStep,
)
from app.cues.script import ScriptError, format_action, format_script, parse_script

EXAMPLE = (
    "0:GO 4:GO 9.5:BLACKOUT 12:FADEOUT=3 14:GOTO=2 15:GOTO=2/2.1 16:MASTER=0.5 17:PANIC "
    "18:NEXTFADE=0.5 19:BACK 20:BLACKOUT=0"
)


def test_parse_the_issue_example() -> None:
    assert parse_script(EXAMPLE) == [
        (0.0, Go()),
        (4.0, Go()),
        (9.5, Blackout()),
        (12.0, FadeOut(seconds=3.0)),
        (14.0, Goto(poem="2")),
        (15.0, Goto(poem="2", cue="2.1")),
        (16.0, Master(level=0.5)),
        (17.0, Panic()),
        (18.0, NextFade(seconds=0.5)),
        (19.0, Back()),
        (20.0, Blackout(on=False)),
    ]


def test_every_action_and_argument_form() -> None:
    text = (
        "1:go=2/2.3 2:GO=2 3:Go=/1.1 4:blackout=on 5:BLACKOUT=off 6:BLACKOUT=1 7:FADEOUT "
        "8:HARDBLACK 9:CROSSFADE=0.3 10:LAYEROPACITY=2,0.5 11:LAYERRATE=1,1.5 "
        "12:STANDBY=+1 13:STANDBY=-1 14:POEM=1 15:POEM=-1 16:ORBIT=5,-2 17:PAN=0.01,0 "
        "18:DOLLY=-0.05 19:CAMERARESET"
    )
    assert [a for _, a in parse_script(text)] == [
        Go(poem="2", cue="2.3"),
        Go(poem="2"),
        Go(cue="1.1"),
        Blackout(on=True),
        Blackout(on=False),
        Blackout(on=True),
        FadeOut(),
        HardBlack(),
        Crossfade(position=0.3),
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
    ]


def test_lines_comments_sorting_and_source() -> None:
    text = """
    # the opening
    4:GO   2:GO=1/1.2   # out of order on purpose
    2:MASTER=0.5

    10:PANIC
    """
    items = parse_script(text, source="operator")
    assert [(t, a.name) for t, a in items] == [
        (2.0, "GO"),
        (2.0, "MASTER"),
        (4.0, "GO"),
        (10, "PANIC"),
    ]
    assert all(a.source == "operator" for _, a in items)
    assert parse_script("") == [] and parse_script("# nothing\n") == []


def test_round_trip() -> None:
    items = parse_script(
        EXAMPLE + " 21:GO=/x 22:GO=3 23:LAYERRATE=2,0.25 24:ORBIT=1e-05,-3 25:STANDBY=-2 "
        "26:POEM=1 27:CROSSFADE=1 28:DOLLY=0.1 29:PAN=0,0.3 30:CAMERARESET 31:BLACKOUT=1"
    )
    text = format_script(items)
    assert text.startswith("0:GO 4:GO 9.5:BLACKOUT 12:FADEOUT=3 14:GOTO=2 15:GOTO=2/2.1")
    assert parse_script(text) == items


def test_format_action() -> None:
    assert format_action(LayerOpacity(layer=2, opacity=1.0)) == "LAYEROPACITY=2,1"
    assert format_action(StandbyStep(cues=1)) == "STANDBY=+1"
    assert format_action(StandbyStep()) == "STANDBY=+0"
    assert format_script([(1.5, StandbyStep(poems=1, cues=-1))]) == "1.5:POEM=+1 1.5:STANDBY=-1"
    assert format_script([(0.1, Master(level=0.3))]) == "0.1:MASTER=0.3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0:GO 4:GO 9.x:GO", "script token 3 '9.x:GO': bad time '9.x' (expected a number)"),
        ("GO", "script token 1 'GO': expected T:ACTION (e.g. 4:GO)"),
        ("1:", "script token 1 '1:': expected T:ACTION (e.g. 4:GO)"),
        ("-1:GO", "script token 1 '-1:GO': bad time '-1' (expected seconds >= 0)"),
        ("nan:GO", "script token 1 'nan:GO': bad time 'nan' (expected seconds >= 0)"),
        ("1:GOO", "script token 1 '1:GOO': unknown action 'GOO' (did you mean GOTO?)"),
        ("1:MASTER", "script token 1 '1:MASTER': MASTER takes a level 0..1"),
        ("1:MASTER=", "script token 1 '1:MASTER=': empty argument after MASTER="),
        ("1:MASTER=x", "script token 1 '1:MASTER=x': bad level 'x' (expected a number)"),
        (
            "1:MASTER=nan",
            "script token 1 '1:MASTER=nan': bad level 'nan' (expected a finite number)",
        ),
        ("1:BACK=1", "script token 1 '1:BACK=1': BACK takes no argument"),
        ("1:GOTO", "script token 1 '1:GOTO': GOTO takes poem or poem/cue"),
        (
            "1:GOTO=/x",
            "script token 1 '1:GOTO=/x': bad GOTO argument '/x' (expected poem or poem/cue)",
        ),
        ("1:GO=2/", "script token 1 '1:GO=2/': bad GO argument '2/' (expected poem or poem/cue)"),
        ("1:ORBIT=1", "script token 1 '1:ORBIT=1': ORBIT takes dx,dy"),
        ("1:ORBIT=1,", "script token 1 '1:ORBIT=1,': ORBIT takes dx,dy"),
        (
            "1:LAYERRATE=1.5,1",
            "script token 1 '1:LAYERRATE=1.5,1': bad layer '1.5' (expected a whole number)",
        ),
        ("1:STANDBY=x", "script token 1 '1:STANDBY=x': bad step 'x' (expected a whole number)"),
        (
            "1:NEXTFADE=-1",
            "script token 1 '1:NEXTFADE=-1': bad seconds '-1' (expected a number >= 0)",
        ),
        (
            "1:BLACKOUT=2",
            "script token 1 '1:BLACKOUT=2': bad BLACKOUT argument '2' (expected 1, 0, on or off)",
        ),
        ("0:GO\n1:GO # ok\n2:FOO", "script token 3 '2:FOO' (line 3): unknown action 'FOO'"),
    ],
)
def test_errors_name_the_token(text: str, message: str) -> None:
    with pytest.raises(ScriptError) as info:
        parse_script(text)
    assert str(info.value).startswith(message)
