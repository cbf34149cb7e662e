"""One loop, one snapshot (issue 21, point 3).

No module of app/ but app/player.py writes an attribute of a `Player`: the session, the
inputs and the console register through the player's methods (`add_listener`, `on_applied`,
`add_gate`, `set_inputs`, `warn`, ...).
"""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
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
