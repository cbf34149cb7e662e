"""Gamepad: mapping validation, the pure mapper, and the pygame adapter with posted events."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import requires
from requires import missing

from app.control.gamepad import (
    Device,
    GamepadInput,
    GamepadMapper,
    GamepadMappingError,
    PadEvent,
    load_mapping,
)
from app.cues import actions as A
from app.cues.commands import log_fields
from app.eventlog import EventLog, read_log
from app.show.controls import AxisSpec

G = "gamepad"


def btn(control: str, value: float = 1.0, pad: int = 0) -> PadEvent:
    return PadEvent("button", pad, "Test Pad", control, value)


def axis(control: str, value: float, pad: int = 0) -> PadEvent:
    return PadEvent("axis", pad, "Test Pad", control, value)


def tap(m: GamepadMapper, control: str) -> list[A.Action]:
    return m.handle(btn(control, 1.0)) + m.handle(btn(control, 0.0))


def sharp() -> GamepadMapper:
    """A mapper without smoothing, so positions can be checked exactly."""
    return GamepadMapper(load_mapping({"smoothing": 0}))


# --- mapping -----------------------------------------------------------------------------


def test_default_mapping() -> None:
    m = load_mapping()
    assert dict(m.buttons) == {
        "a": "go",
        "b": "back",
        "x": "blackout",
        "leftshoulder": "poem_prev",
        "rightshoulder": "poem_next",
        "dpup": "standby_prev",
        "dpdown": "standby_next",
        "leftstick": "camera_reset",
        "rightstick": "camera_reset",
    }
    assert m.axes["righttrigger"] == AxisSpec("tbar")
    assert m.axes["lefttrigger"] == AxisSpec("master", invert=True)
    assert m.axes["leftx"].action == "orbit.dx" and m.axes["righty"].action == "dolly.d"
    assert m.dead_zone == 0.15
    assert m.raw_buttons[0] == "a" and dict(m.raw_axes) == {0: "leftx", 1: "lefty"}


def test_overrides_from_show_and_file(tmp_path: Path) -> None:
    f = tmp_path / "pad.yaml"
    f.write_text(
        "buttons:\n  y: panic\naxes:\n  lefttrigger: none\nraw:\n  axes: {'5': righttrigger}\n"
    )
    m = load_mapping({"buttons": {"x": "none", "start": "hardblack"}, "dead_zone": 0.2}, f)
    assert m.buttons["y"] == "panic" and m.buttons["start"] == "hardblack"
    assert "x" not in m.buttons and m.buttons["a"] == "go"
    assert "lefttrigger" not in m.axes and m.axes["righttrigger"].action == "tbar"
    assert m.dead_zone == 0.2 and m.raw_axes[5] == "righttrigger"


def test_validation_lists_every_problem() -> None:
    with pytest.raises(GamepadMappingError) as exc:
        load_mapping(
            {
                "buttons": {"z": "go", "a": "jump"},
                "axes": {"leftx": {"action": "spin"}, "wheel": "tbar", "righty": {"sped": 1}},
                "dead_zone": 2,
                "colour": "red",
            }
        )
    problems = exc.value.problems
    text = "\n".join(problems)
    assert "unknown name 'z' in gamepad.buttons" in text and "expected one of: a, b, x, y" in text
    assert "gamepad.buttons.a: unknown command 'jump'" in text and "go, back, standby" in text
    assert "unknown name 'spin' in gamepad.axes.leftx.action" in text
    assert "tbar, master, orbit.dx" in text
    assert "unknown name 'wheel' in gamepad.axes" in text
    assert "unknown key 'sped' in gamepad.axes.righty, did you mean 'speed'?" in text
    assert "gamepad.dead_zone: expected a number from 0 to 0.9, got 2" in text
    assert "unknown key 'colour' in gamepad" in text
    assert all(p.startswith("<gamepad>:") for p in problems)  # each with its line
    assert len(problems) == 8
    assert str(exc.value).startswith("gamepad mapping:\n  ")


def test_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(GamepadMappingError, match="nope.yaml"):
        load_mapping(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(GamepadMappingError, match="expected a mapping"):
        load_mapping(bad)


# --- the mapper --------------------------------------------------------------------------


def test_buttons_fire_on_press_edge() -> None:
    m = GamepadMapper()
    assert m.handle(PadEvent("added", 0, "Xbox Series X Controller")) == []
    assert m.connected == {0: "Xbox Series X Controller"}
    assert m.handle(btn("a")) == [A.Go(source=G)]
    assert m.handle(btn("a")) == []  # still held: no second GO
    assert m.handle(btn("a", 0.0)) == []
    assert m.handle(btn("a")) == [A.Go(source=G)]
    expected = {
        "b": A.Back(source=G),
        "x": A.Blackout(on=None, source=G),
        "y": None,
        "leftshoulder": A.StandbyStep(poems=-1, source=G),
        "rightshoulder": A.StandbyStep(poems=1, source=G),
        "dpup": A.StandbyStep(cues=-1, source=G),
        "dpdown": A.StandbyStep(cues=1, source=G),
        "leftstick": A.CameraReset(source=G),
        "rightstick": A.CameraReset(source=G),
    }
    for control, action in expected.items():
        got = tap(m, control)
        assert got == ([] if action is None else [action]), control
        assert all(a.detail == control for a in got)
    assert m.tick(1 / 60) == []  # buttons never act on ticks


def test_right_trigger_crossfade_latches_after_completion() -> None:
    m = sharp()
    m.handle(axis("righttrigger", 0.1))  # inside the dead zone
    assert m.tick(0.016) == []
    m.handle(axis("righttrigger", 0.565))  # half-way: 0.15 + 0.5 * (1 - 0.15 - 0.02)
    (a,) = m.tick(0.016)
    assert isinstance(a, A.TBar) and a.position == pytest.approx(0.5, abs=0.01)
    assert m.tick(0.016) == []  # unchanged: not re-sent
    m.handle(axis("righttrigger", 0.99))  # worn trigger: the outer dead zone reads it as full
    assert m.tick(0.016) == [A.TBar(position=1.0, source=G)]
    for v in (0.7, 0.3):  # letting go after the completed crossfade: nothing...
        m.handle(axis("righttrigger", v))
        assert m.tick(0.016) == []
    m.handle(axis("righttrigger", 0.0))  # ...but rest, once, so that the engine re-arms
    assert m.tick(0.016) == [A.TBar(position=0.0, source=G)]
    assert m.tick(0.016) == []
    m.handle(axis("righttrigger", 0.565))  # a new pull drives the next crossfade
    (a,) = m.tick(0.016)
    assert a.position == pytest.approx(0.5, abs=0.01)
    m.handle(axis("righttrigger", 0.0))  # released before completing: back to 0
    assert m.tick(0.016) == [A.TBar(position=0.0, source=G)]


def test_left_trigger_master_inverted() -> None:
    m = sharp()
    m.handle(axis("lefttrigger", 0.0))
    assert m.tick(0.016) == []  # untouched: the pad does not claim the master
    m.handle(axis("lefttrigger", 1.0))
    assert m.tick(0.016) == [A.Master(level=0.0, source=G)]
    m.handle(axis("lefttrigger", 0.0))
    assert m.tick(0.016) == [A.Master(level=1.0, source=G)]


def test_smoothing_is_time_based() -> None:
    m = GamepadMapper()  # default smoothing: 0.08 s time constant
    m.handle(axis("lefttrigger", 1.0))
    (a,) = m.tick(0.08)
    assert a.level == pytest.approx(math.exp(-1), abs=0.01)  # one time constant: 63% there
    levels = []
    for _ in range(60):
        levels += [x.level for x in m.tick(1 / 60)]
    assert levels == sorted(levels, reverse=True) and levels[-1] == 0.0
    # the same motion at 30 fps reaches the same place at the same time
    m30 = GamepadMapper()
    m30.handle(axis("lefttrigger", 1.0))
    (b,) = m30.tick(0.04) + []
    (c,) = m30.tick(0.04)
    assert c.level == pytest.approx(a.level, abs=0.01)
    assert b.level > c.level


def test_sticks_move_the_camera_while_held() -> None:
    m = sharp()
    m.handle(axis("leftx", 0.1))  # dead zone
    m.handle(axis("righty", -0.12))
    assert m.tick(0.016) == []
    m.handle(axis("leftx", 1.0))
    m.handle(axis("lefty", -1.0))  # stick up: pitch up (inverted)
    (orbit,) = m.tick(0.5)
    assert isinstance(orbit, A.CameraOrbit)
    assert orbit.dx == pytest.approx(12 * 0.1) and orbit.dy == pytest.approx(8 * 0.1)  # dt capped
    (orbit,) = m.tick(0.02)
    assert orbit.dx == pytest.approx(12 * 0.02) and orbit.detail == "leftx"
    m.handle(axis("leftx", 0.0))
    m.handle(axis("lefty", 0.0))
    m.handle(axis("rightx", -1.0))
    m.handle(axis("righty", -1.0))  # stick up: toward the scene
    got = m.tick(0.02)
    assert got == [
        A.CameraPan(dx=pytest.approx(-0.05 * 0.02), dy=0.0, source=G),
        A.CameraDolly(d=pytest.approx(0.15 * 0.02), source=G),
    ]
    m.handle(axis("rightx", 0.0))
    m.handle(axis("righty", 0.0))
    assert m.tick(0.02) == []


def test_garbage_values_are_clamped_or_ignored() -> None:
    m = sharp()
    m.handle(axis("lefttrigger", 0.5))
    m.tick(0.016)
    for garbage in (math.nan, "x", None):
        m.handle(axis("lefttrigger", garbage))  # type: ignore[arg-type]
        assert m.tick(0.016) == []  # ignored: the last good value holds
    m.handle(axis("lefttrigger", 1e9))
    assert m.tick(0.016) == [A.Master(level=0.0, source=G)]
    m.handle(axis("lefttrigger", -5.0))  # a trigger cannot go below rest
    assert m.tick(0.016) == [A.Master(level=1.0, source=G)]
    m.handle(axis("leftx", math.inf))
    (o,) = m.tick(0.01)
    assert o.dx == pytest.approx(12 * 0.01)
    for bad_dt in (math.nan, -1.0, math.inf):
        assert m.tick(bad_dt) == []
    m.handle(btn("a", math.nan))
    m.handle(btn("unknown"))
    assert m.handle(axis("wheel", 1.0)) == []


def test_hot_plug_unplug_and_replug() -> None:
    m = sharp()
    m.handle(PadEvent("added", 3, "DualSense Wireless Controller"))
    m.handle(axis("leftx", 1.0, pad=3))
    m.handle(btn("a", 1.0, pad=3))
    assert len(m.tick(0.016)) == 1
    m.handle(PadEvent("removed", 3, "DualSense Wireless Controller"))
    assert m.connected == {}
    assert m.tick(0.016) == []  # the held stick stops with the pad
    m.handle(PadEvent("added", 4, "DualSense Wireless Controller"))  # SDL gives a new id
    assert m.tick(0.016) == []  # starts at rest
    assert m.handle(btn("a", 1.0, pad=4)) == [A.Go(source=G)]  # not "still held"
    assert m.connected == {4: "DualSense Wireless Controller"}


# --- the adapter, driven through pygame's event queue ------------------------------------


@pytest.fixture
def pygame_input(tmp_path: Path):  # type: ignore[no-untyped-def]
    pygame = requires.module("pygame")
    log = EventLog(tmp_path / "events.jsonl")
    clock = {"t": 0.0}

    def put(action: A.Action) -> None:
        log.write("action", clock["t"], **log_fields(action))

    lines: list[tuple[str, dict]] = []
    inp = GamepadInput(put, load_mapping({"smoothing": 0}), lambda m, f: lines.append((m, f)))
    if inp.backend is None:
        missing("pygame cannot initialise here")
    pygame.event.clear()
    next_id = iter(range(10, 100))

    def opener(index: int) -> Device:
        controller = index < 10  # test convention: index >= 10 is an unknown (raw) pad
        return Device(next(next_id), f"Pad {index}", controller)

    inp.backend.opener = opener
    yield pygame, inp, log, clock, lines
    inp.close()
    log.close()


def _post(pygame, type_: int, **attrs) -> None:  # type: ignore[no-untyped-def]
    pygame.event.post(pygame.event.Event(type_, **attrs))


def test_adapter_added_button_axis_removed_added_again(pygame_input) -> None:  # type: ignore[no-untyped-def]
    pygame, inp, log, clock, lines = pygame_input
    _post(pygame, pygame.JOYDEVICEADDED, device_index=0)
    _post(pygame, pygame.CONTROLLERDEVICEADDED, device_index=0)  # SDL's second announcement
    _post(pygame, pygame.CONTROLLERBUTTONDOWN, instance_id=10, button=pygame.CONTROLLER_BUTTON_A)
    _post(pygame, pygame.CONTROLLERBUTTONUP, instance_id=10, button=pygame.CONTROLLER_BUTTON_A)
    _post(pygame, pygame.CONTROLLERAXISMOTION, instance_id=10, axis=5, value=32767)
    inp.poll(0.0)
    assert inp.connected == ["Pad 0"]
    clock["t"] = 0.5
    _post(pygame, pygame.CONTROLLERDEVICEREMOVED, instance_id=10)
    _post(pygame, pygame.JOYDEVICEREMOVED, instance_id=10)
    inp.poll(0.5)
    assert inp.connected == []
    clock["t"] = 1.0
    _post(pygame, pygame.JOYDEVICEADDED, device_index=0)  # plugged back: a new instance id
    _post(pygame, pygame.CONTROLLERBUTTONDOWN, instance_id=10, button=pygame.CONTROLLER_BUTTON_A)
    _post(pygame, pygame.CONTROLLERBUTTONDOWN, instance_id=11, button=pygame.CONTROLLER_BUTTON_B)
    _post(pygame, pygame.KEYDOWN, key=32)  # unrelated events are left alone
    inp.poll(1.0)
    assert inp.connected == ["Pad 0"]
    log.flush()
    recs = [(r["t"], r["action"], r["source"], r.get("detail")) for r in read_log(log.path)]
    assert recs == [
        (0.0, "GO", "gamepad", "a"),
        (0.0, "TBAR", "gamepad", "righttrigger"),
        (1.0, "BACK", "gamepad", "b"),  # the old id 10 is gone: its A does nothing
    ]
    assert [m for m, _ in lines] == [
        "gamepad connected",
        "gamepad disconnected",
        "gamepad connected",
    ]


def test_adapter_raw_joystick_fallback(pygame_input) -> None:  # type: ignore[no-untyped-def]
    pygame, inp, log, clock, _ = pygame_input
    _post(pygame, pygame.JOYDEVICEADDED, device_index=20)
    _post(pygame, pygame.JOYBUTTONDOWN, instance_id=10, button=0)
    _post(pygame, pygame.JOYBUTTONDOWN, instance_id=10, button=40)  # unmapped number
    _post(pygame, pygame.JOYHATMOTION, instance_id=10, hat=0, value=(0, -1))
    _post(pygame, pygame.JOYHATMOTION, instance_id=10, hat=0, value=(0, 0))
    _post(pygame, pygame.JOYHATMOTION, instance_id=10, hat=0, value=(0, 1))
    _post(pygame, pygame.JOYAXISMOTION, instance_id=10, axis=0, value=1.0)
    _post(pygame, pygame.JOYAXISMOTION, instance_id=10, axis=3, value=1.0)  # unmapped
    inp.poll(0.0)
    inp.poll(0.02)
    log.flush()
    names = [r["action"] for r in read_log(log.path)]
    assert names == ["GO", "STANDBY_NEXT", "STANDBY_PREV", "ORBIT"]
    steps = [r["cues"] for r in read_log(log.path) if r["action"].startswith("STANDBY_")]
    assert steps == [1, -1]  # hat down = next cue, hat up = previous


def test_adapter_without_pygame_backend_is_inert() -> None:
    class Broken:
        errors: list[str] = []

        def events(self) -> list[PadEvent]:
            raise RuntimeError("SDL exploded")

        def close(self) -> None:
            pass

    lines: list[tuple[str, dict]] = []
    got: list[A.Action] = []
    inp = GamepadInput(got.append, log=lambda m, f: lines.append((m, f)), backend=Broken())
    for i in range(10):
        inp.poll(i / 60)  # never raises
    assert got == [] and len(lines) == 5  # a few error lines, then quiet
    inp.close()
