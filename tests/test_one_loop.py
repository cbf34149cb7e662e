"""One loop, one snapshot (issue 21, point 3).

No module of app/ but app/player.py writes an attribute of a `Player`: the session, the
inputs and the console register through the player's methods (`add_listener`, `on_applied`,
`add_gate`, `set_inputs`, `warn`, ...).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
TESTS = Path(__file__).resolve().parent
# Test files that may call `step()` of a player themselves: none. (A unit test of
# `Player.step` itself would be named here, with the reason in its docstring.)
STEPS_OF_THEIR_OWN: set[str] = set()
MUTATORS = {"append", "extend", "insert", "remove", "pop", "clear", "update", "add", "discard"}


def _is_player(node: ast.AST) -> bool:
    """`player` or `<something>.player`."""
    return (isinstance(node, ast.Name) and node.id == "player") or (
        isinstance(node, ast.Attribute) and node.attr == "player"
    )


def _player_attribute(node: ast.AST) -> bool:
    """`player.x`, `player.x[...]` (an attribute of a player, or an item of one)."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return isinstance(node, ast.Attribute) and _is_player(node.value)


def _targets(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.Assign):
        out: list[ast.AST] = []
        for target in node.targets:
            out += target.elts if isinstance(target, ast.Tuple | ast.List) else [target]
        return out
    if isinstance(node, ast.AugAssign | ast.AnnAssign):
        return [node.target]
    if isinstance(node, ast.Delete):
        return list(node.targets)
    return []


def player_writes(source: str, name: str = "<source>") -> list[str]:
    """`file:line: text` of each write to a player's attribute in `source`."""
    found = []
    for node in ast.walk(ast.parse(source, name)):
        bad = any(_player_attribute(t) for t in _targets(node))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in MUTATORS
            and _player_attribute(node.func.value)
        ):
            bad = True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in ("setattr", "delattr") and node.args and _is_player(node.args[0]):
                bad = True
        if bad:
            found.append(f"{name}:{node.lineno}: {ast.unparse(node)[:100]}")  # type: ignore[attr-defined]
    return sorted(found)


def test_the_checker_finds_each_kind_of_write() -> None:
    source = "\n".join(
        [
            "player.hint = 'x'",
            "self.player.inputs = ()",
            "player.listeners.append(f)",
            "player.warnings += ['w']",
            "del player.warnings[:-20]",
            "a, player.recorder = player.recorder, None",
            "setattr(player, 'web', w)",
            "player.status.line()",  # reading is fine
            "player.add_listener(f)",
            "self.players = 2",
        ]
    )
    assert sorted(int(w.split(":")[1]) for w in player_writes(source)) == [1, 2, 3, 4, 5, 6, 7]


def test_no_module_writes_an_attribute_of_a_player() -> None:
    writes = []
    for path in sorted(APP.rglob("*.py")):
        if path == APP / "player.py":
            continue
        writes += player_writes(path.read_text(), str(path.relative_to(APP.parent)))
    assert writes == []


def test_the_console_state_is_built_from_a_status_alone() -> None:
    from app.status import Alert, FollowStatus, InputStatus, LayerStatus, LiveCue, Status
    from app.web.console import console_state

    show = {"poems": [{"cues": [{"layer": 1}, {"layer": 2}, {"layer": 2}]}]}
    status = Status(
        t=12.5,
        frame=750,
        fps=29.96,
        step_ms=3.14159,
        dropped=4,
        poem="1",
        live=1,
        standby=2,
        master=0.8,
        tbar=0.25,
        transition=0.5,
        black=0.1234,
        layers=(
            LayerStatus(1, 1.0, 1.0, ()),
            LayerStatus(
                2,
                0.5,
                2.0,
                (
                    LiveCue(0, "a", "1", 0.25, weight=0.5, since=10.0, base=1.0, rate=2.0),
                    LiveCue(1, "b", "1", 0.2, weight=0.4, since=None),
                ),
            ),
            LayerStatus(3, 0.7, 1.0, ()),
        ),
        set_layers=(2, 3),
        last_source="osc",
        inputs=(InputStatus("osc", ("10.0.0.2",)), InputStatus("gamepad", pads=("pad 1",))),
        alerts=(Alert("error", "e1"), Alert("refused", "osc refused: 10.0.0.9")),
        follow=FollowStatus("b", "c", "after 2 s", 14.0, 1.5),
    )
    assert console_state(status, show) == {
        "poem": "1",
        "live": 1,
        "standby": 2,
        "blackout": False,
        "panic": False,
        "black": 0.123,
        "master": 0.8,
        "transition": 0.5,
        "tbar": 0.25,
        "on_stage": [
            {"cue": 0, "layer": 2, "weight": 0.5, "since": 10.0, "base": 1.0, "rate": 2.0},
            {"cue": 1, "layer": 2, "weight": 0.4},
        ],
        "layers": [
            {"layer": 1, "opacity": 1.0, "rate": 1.0},
            {"layer": 2, "opacity": 0.5, "rate": 2.0},
            {"layer": 3, "opacity": 0.7, "rate": 1.0},
        ],
        "health": {
            "fps": 30.0,
            "dropped": 4,
            "frame_ms": 3.14,
            "source": "osc",
            "pads": ["pad 1"],
            "osc_clients": 1,
            "warnings": ["osc refused: 10.0.0.9", "e1"],
        },
        "follow": {"cue": "c", "from": "b", "mode": "after 2 s", "remaining": 1.5},
    }


def test_a_players_status_makes_the_console_state(tmp_path: Path) -> None:
    """What the console shows of a real frame comes from the frame's snapshot: a fade in
    progress (weights, clip clock), the master, the frame counter."""
    from frames import hand_clock, run_frames

    from app.clock import FakeTime
    from app.cues.commands import build
    from app.eventlog import EventLog
    from app.player import Player
    from app.render.outputs import HeadlessOutput
    from app.show.loader import load_show
    from app.web.console import console_state, show_description
    from tests.web_helpers import tiny_show

    show = load_show(tiny_show(tmp_path))
    fake = FakeTime()
    out = HeadlessOutput(64, 36)
    player = Player(show, out, clock=hand_clock(fake), log=EventLog(), offline=True)
    try:
        desc = show_description(show)
        assert console_state(player.status, desc)["standby"] == 0  # before the first frame
        player.put(build("master", (0.5,), source="test"), 0.0)
        player.put(build("layer_opacity", (3, 0.4), source="test"), 0.0)
        player.put(build("go", source="test"), 0.0)
        for _ in range(3):  # frames at 0, 0.1 and 0.2 s
            run_frames(player)
            fake.advance(0.1)
        status = player.status
        state = console_state(status, desc)
        assert status.frame == 2 and state["master"] == 0.5 and state["live"] == 0
        (item,) = state["on_stage"]
        assert item["cue"] == 0 and item["weight"] == 1.0 and item["base"] == 0.0
        assert 0.0 <= item["since"] <= 0.2  # fired at 0 (or started when its still was up)
        assert state["health"]["source"] == "test"
        assert [la["layer"] for la in state["layers"]] == [1, 2, 3]
        assert state["layers"][2] == {"layer": 3, "opacity": 0.4, "rate": 1.0}
    finally:
        player.close()
        out.close()


def _step_calls(source: str, name: str) -> list[str]:
    """`file:line (function)` of each `<player>.step()` call in `source`."""
    found = []
    tree = ast.parse(source, name)
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "step"
                and _is_player(node.func.value)
            ):
                found.append(f"{name}:{node.lineno} ({func.name})")
    return found


def test_session_run_is_the_only_loop_that_steps_the_player() -> None:
    """Render, the benches, the web console: every frame of app/ is one of `Session.run`."""
    calls = []
    for path in sorted(APP.rglob("*.py")):
        if path != APP / "player.py":
            calls += _step_calls(path.read_text(), str(path.relative_to(APP.parent)))
    assert len(calls) == 1, calls
    assert calls[0].startswith("app/session.py:") and calls[0].endswith("(run)"), calls


STEP_CALL = re.compile(r"\.step\(\s*\)")


def test_tests_run_their_frames_through_session_run() -> None:
    """Tests drive the one loop too (tests/frames.py: `run_frames` runs `Session.run`):
    no `<anything>.step()` in tests/, in code or in a script a test runs as a child
    process. (This file is left out: its checkers name the call they look for.)"""
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        if path.name == Path(__file__).name or path.name in STEPS_OF_THEIR_OWN:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if STEP_CALL.search(line):
                found.append(f"tests/{path.relative_to(TESTS)}:{number}: {line.strip()}")
    assert found == []
