"""The command table: one parser and one set of messages; every binding resolves through it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.control import tables
from app.control.bindings import BindingError, load_osc_bindings
from app.control.gamepad import ABSOLUTE_AXIS_ACTIONS, MOVE_AXIS_ACTIONS, load_mapping
from app.control.keyboard import DEFAULT_BINDINGS
from app.control.osc import BINDINGS, message_to_action
from app.cues import actions as A
from app.cues.commands import COMMANDS, CommandError, build, format_action, parse

ROOT = Path(__file__).resolve().parent.parent


def test_every_command_builds_parses_and_formats_back() -> None:
    samples = {"int": "2", "float": "0.5", "bool": "1", "id": "p1"}
    for name, cmd in COMMANDS.items():
        words = [name] + [samples[a.type] for a in cmd.args]
        action = parse(" ".join(words), source="test", detail="d")
        assert type(action) is cmd.action and action.source == "test" and action.detail == "d"
        assert parse(format_action(action), source="test") == action


def test_build_types_ranges_defaults() -> None:
    assert build("master", [0.25], source="osc") == A.Master(level=0.25, source="osc")
    assert build("layer_rate", {"layer": 2, "rate": 0}, source="web") == A.LayerRate(
        layer=2, rate=0.0, source="web"
    )
    assert build("fadeout", [], source="x") == A.FadeOut(seconds=None, source="x")
    assert build("standby_prev", [], source="x") == A.StandbyStep(cues=-1, source="x")
    assert build("blackout", [0.7], source="osc") == A.Blackout(on=True, source="osc")
    with pytest.raises(CommandError) as info:
        build("master", ["0.5"], source="osc")  # typed input: a string is not a number
    assert (info.value.command, info.value.arg) == ("master", "level")
    with pytest.raises(CommandError, match="master: level: 1.5 out of range 0..1"):
        build("master", [1.5], source="osc")
    with pytest.raises(CommandError, match="layer_opacity: unknown argument 'opacty'"):
        build("layer_opacity", {"layer": 1, "opacty": 1}, source="web")


def test_unknown_command_suggests_and_lists() -> None:
    with pytest.raises(CommandError) as info:
        parse("gox", source="x")
    text = str(info.value)
    assert "unknown command 'gox'" in text and "did you mean 'go'?" in text
    assert "commands: go, back, standby, standby_next" in text


def test_every_osc_binding_resolves() -> None:
    addresses = {b.address for b in BINDINGS}
    assert {"/go", "/standby", "/crossfade", "/layer/{layer}/opacity"} <= addresses
    for b in BINDINGS:
        cmd = COMMANDS[b.command]
        address = b.address.replace("{layer}", "3")
        args: list[object] = [] if b.button else [_typed(a.type) for a in cmd.args]
        if "{" in b.address:
            args = args[1:]
        action = message_to_action(address, args)
        assert type(action) is cmd.action and action is not None and action.source == "osc"


def test_an_osc_alias_runs_its_address_and_must_name_one_above(tmp_path: Path) -> None:
    alias = next(b for b in BINDINGS if b.address == "/crossfade")
    assert (alias.alias_of, alias.command) == ("/tbar", "tbar")
    assert message_to_action("/crossfade", [0.5]) == A.TBar(
        position=0.5, source="osc", detail="/crossfade"
    )
    bad = tmp_path / "osc.yaml"
    bad.write_text("/old: {alias: /new}\n/new: tbar\n")
    with pytest.raises(BindingError, match=r"osc.yaml: /old: alias of '/new': no such address"):
        load_osc_bindings(bad)


def _typed(kind: str) -> object:
    return {"int": 1, "float": 0.5, "bool": True, "id": "p"}[kind]


def test_every_gamepad_and_key_binding_resolves() -> None:
    m = load_mapping()
    for control, line in m.buttons.items():
        assert parse(line, source="gamepad", detail=control).source == "gamepad"
    for name in ABSOLUTE_AXIS_ACTIONS:
        cmd = COMMANDS[name]
        assert [a.type for a in cmd.args] == ["float"] and cmd.args[0].max == 1.0
    for target in MOVE_AXIS_ACTIONS:
        name, _, arg = target.partition(".")
        assert arg in [a.name for a in COMMANDS[name].args]
    for key, b in DEFAULT_BINDINGS.items():
        assert parse(b.command, source="key", detail=key).source == "key"


def test_readme_tables_match_the_bindings() -> None:
    texts = {name: (ROOT / name).read_text() for name in tables.FILES}
    for name, make in tables.TABLES.items():
        where = [f for f, text in texts.items() if tables.section(text, name) is not None]
        assert where, f"table '{name}' is in none of {tables.FILES}"
        for f in where:
            assert tables.section(texts[f], name) == make().strip(), (
                f"{f}: table '{name}' is out of date: run python -m app.control.tables"
            )


def test_no_other_module_maps_names_to_action_classes() -> None:
    """Inputs build actions through the table: no module but it and the engine (which
    gives the classes meaning) constructs action classes from names or keywords."""
    names = [c.action.__name__ for c in COMMANDS.values()]
    pattern = re.compile(r"\b(" + "|".join(sorted(set(names))) + r")\(")
    allowed = {"app/cues/commands.py", "app/cues/actions.py", "app/cues/engine.py"}
    offenders = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in allowed:
            continue
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(line) and not line.lstrip().startswith(("#", "class ")):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert offenders == []
