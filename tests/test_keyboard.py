"""Keyboard mapping: keys -> actions, repeat rules, Esc twice to quit."""

from __future__ import annotations

from app.clock import FakeTime
from app.control.keyboard import QUIT, QUIT_HINT, Hint, KeyboardMapper, KeyEvent
from app.cues import actions as A


def press(m: KeyboardMapper, key: str, action: str = "press") -> object:
    return m.handle(KeyEvent(key, action))  # type: ignore[arg-type]


def test_default_keys() -> None:
    m = KeyboardMapper(clock=FakeTime())
    expected = {
        "space": A.Go(source="key"),
        "backspace": A.Back(source="key"),
        "b": A.Blackout(on=None, source="key"),
        "left": A.StandbyStep(cues=-1, source="key"),
        "right": A.StandbyStep(cues=1, source="key"),
        "up": A.StandbyStep(poems=-1, source="key"),
        "down": A.StandbyStep(poems=1, source="key"),
        "p": A.Panic(source="key"),
    }
    for key, action in expected.items():
        got = press(m, key)
        if key == "b":  # blackout needs a second press
            assert got == Hint("press b again for BLACKOUT")
            got = press(m, key)
        assert got == action and type(got) is type(action)
        assert got.detail == key  # type: ignore[union-attr]
    assert press(m, "q") is None
    assert press(m, "space", "release") is None


def test_repeat_never_fires_go_but_moves_standby() -> None:
    m = KeyboardMapper(clock=FakeTime())
    for key in ("space", "backspace", "b", "p"):
        assert press(m, key, "repeat") is None
    assert press(m, "right", "repeat") == A.StandbyStep(cues=1, source="key")


def test_modifier_shortcuts_ignored() -> None:
    m = KeyboardMapper(clock=FakeTime())
    assert m.handle(KeyEvent("space", "press", frozenset({"ctrl"}))) is None
    assert m.handle(KeyEvent("space", "press", frozenset({"shift"}))) == A.Go(source="key")


def test_escape_twice_within_a_second_quits() -> None:
    clock = FakeTime()
    m = KeyboardMapper(clock=clock)
    assert press(m, "escape") == Hint(QUIT_HINT)
    assert m.hint == QUIT_HINT
    clock.advance(0.6)
    assert press(m, "escape", "release") is None
    assert press(m, "escape") is QUIT
    assert m.hint is None


def test_escape_too_slow_or_interrupted_does_not_quit() -> None:
    clock = FakeTime()
    m = KeyboardMapper(clock=clock)
    press(m, "escape")
    clock.advance(1.2)
    assert m.hint is None
    assert press(m, "escape") == Hint(QUIT_HINT)  # armed again, not quit
    clock.advance(0.2)
    press(m, "space")  # any other key disarms
    assert press(m, "escape") == Hint(QUIT_HINT)
    assert press(m, "escape", "repeat") is None  # a held Esc is not a second press
    clock.advance(0.1)
    assert press(m, "escape") is QUIT


def test_blackout_key_needs_a_second_press_within_a_second() -> None:
    clock = FakeTime()
    m = KeyboardMapper(clock=clock)
    armed = Hint("press b again for BLACKOUT")
    assert press(m, "b") == armed and m.hint == armed.text
    assert press(m, "b", "repeat") is None  # a held key is not a second press
    assert press(m, "b", "release") is None
    clock.advance(0.5)
    assert press(m, "b") == A.Blackout(on=None, source="key")
    assert m.hint is None
    # too slow: the second press arms again
    assert press(m, "b") == armed
    clock.advance(1.2)
    assert m.hint is None
    assert press(m, "b") == armed
    # another key in between disarms it (and still acts)
    clock.advance(0.1)
    assert press(m, "right") == A.StandbyStep(cues=1, source="key")
    assert m.hint is None
    assert press(m, "b") == armed
    clock.advance(0.1)
    assert press(m, "q") is None  # an unbound key disarms as well
    assert press(m, "b") == armed
    clock.advance(0.1)
    assert press(m, "b") == A.Blackout(on=None, source="key")
