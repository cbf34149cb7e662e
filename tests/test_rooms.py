"""The rooms of ARCHITECTURE.md keep their walls: each imports only the rooms its row of the
table names (every `import`, lazy ones inside functions too, read with `ast`), torch and GL
stay in their rooms, and `app/` has no import circle beyond the known debt listed here.

A new import that breaks the table fails with the file and line; fix the import, or change
the table here and in ARCHITECTURE.md together. The DEBT entries are today's known breaches
(issue 27): they may only shrink. When one is gone, delete its line (a stale entry fails).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"

# Shared leaves any room may import: they import nothing of app/ themselves.
LEAVES = {
    "app",
    "app.safe_yaml",
    "app.clock",
    "app.status",
    "app.eventlog",
    "app.memory",
    "app.confirm",
    "app.ratelog",
    "app.atomic",
    "app.threads",
    "app.closing",
}

# room -> the rooms it may import (besides itself and LEAVES). ARCHITECTURE.md's table.
ALLOWED: dict[str, set[str]] = {
    "show": {"media"},
    "cues": {"show"},
    "control": {"cues", "show"},
    "media": {"show"},
    "render": {"cues", "media", "show"},
    "generate": {"show", "media"},
    "pack": {"show", "media", "generate"},
    "desk": {"generate", "media", "render", "show", "web"},
    "web": {"cues", "control", "media", "render", "show"},
    "rehearse": {"show", "media", "cues", "render", "player"},
    "bench": {"*"},
    "player": {"cues", "show", "media", "render", "control"},
    "loop": set(),
    "session": {"*"},
    "cli": {"*"},
    "__main__": {"*"},
}

# Known breaches, as (importing file, imported module): debt of issue 27, to be removed.
DEBT = {
    # show/ checks command lines, ComfyUI workflows and camera paths with the rooms that
    # define them (the room circle show <-> cues: cues reads the show model).
    ("app/show/controls.py", "app.cues.commands"),
    ("app/show/check.py", "app.generate.comfyui.backend"),
    ("app/show/check_splats.py", "app.render.camera_path"),
    # check reads the reference recording and the cue-times file with the rehearse room
    ("app/show/check.py", "app.rehearse.cuetimes"),
    ("app/show/check.py", "app.rehearse.recording"),
    # generate --verify reads a pack (pack reads generate's manifest: generate <-> pack);
    # pack makes the demo media through the play wiring.
    ("app/generate/reverify.py", "app.pack.format"),
    ("app/generate/reverify.py", "app.pack.reader"),
    ("app/pack/cli.py", "app.session"),
}

# Known import circles (lazy imports inside functions make them work): debt of issue 27.
CIRCLES_DEBT: set[frozenset[str]] = set()

TORCH = {"torch", "diffusers", "transformers", "compel", "spandrel", "peft", "accelerate"}
TORCH_ROOMS = {"generate", "bench"}
GL = {"moderngl", "glfw", "OpenGL"}
GL_ROOMS = {"render", "web", "desk", "bench", "player", "session"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(APP.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _room(module: str) -> str:
    """`app.render.pool` -> `render`; `app.player` -> `player`; `app` -> `app`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def _resolve(name: str) -> str | None:
    """The app module a dotted name lives in (`app.cues.commands.parse` -> the module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every app module `module` imports, with the line (lazy imports included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        for name in names:
            if name.split(".")[0] == "app":
                target = _resolve(name)
                if target is not None and target != module:
                    found.append((target, node.lineno))
            elif name:
                found.append((name, node.lineno))
    return sorted(set(found))


def _app_imports() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        graph[module] = {
            t
            for t, _ in _imports(module, path)
            if t in MODULES and not module.startswith(t + ".")  # a package's own parents
        }
    return graph


def test_each_room_imports_only_what_the_table_allows() -> None:
    offences, used_debt = [], set()
    for module, path in MODULES.items():
        room = _room(module)
        rel = str(path.relative_to(ROOT))
        allowed = ALLOWED.get(room)
        if allowed is None:
            if module in LEAVES:
                allowed = set()
            else:
                offences.append(f"{rel}: room '{room}' is not in the table (tests/test_rooms.py)")
                continue
        for target, line in _imports(module, path):
            if target not in MODULES or target in LEAVES or "*" in allowed:
                continue
            other = _room(target)
            if other == room or other in allowed:
                continue
            if (rel, target) in DEBT:
                used_debt.add((rel, target))
                continue
            offences.append(f"{rel}:{line}: room '{room}' imports {target} (room '{other}')")
    assert not offences, "\n".join(offences)
    assert used_debt == DEBT, f"debt paid off: delete from DEBT {sorted(DEBT - used_debt)}"


# The bench's tiny SDXL, kept in app/ for `bench generate` (the tests' other tiny models are
# built on it in tests/tiny_builders.py): the product never imports it.
TEST_SUPPORT = {"app.bench.tiny"}


def test_test_support_stays_out_of_the_product() -> None:
    offences = [
        f"{path.relative_to(ROOT)}:{line}: imports {target}, test support for the benches"
        for module, path in MODULES.items()
        if _room(module) != "bench"
        for target, line in _imports(module, path)
        if target in TEST_SUPPORT
    ]
    assert not offences, "\n".join(offences)


def test_leaves_import_nothing_of_app() -> None:
    for leaf in LEAVES - {"app"}:
        targets = [t for t, _ in _imports(leaf, MODULES[leaf]) if t in MODULES]
        assert targets == [], f"{leaf} is a shared leaf but imports {targets}"


def test_torch_and_gl_stay_in_their_rooms() -> None:
    offences = []
    for module, path in MODULES.items():
        room = _room(module)
        for name, line in _imports(module, path):
            top = name.split(".")[0]
            if top in TORCH and room not in TORCH_ROOMS:
                offences.append(f"{path.relative_to(ROOT)}:{line}: {name} outside generate")
            if top in GL and room not in GL_ROOMS:
                offences.append(f"{path.relative_to(ROOT)}:{line}: {name} outside the GL rooms")
    assert not offences, "\n".join(offences)


def test_the_product_never_imports_bench_or_test_support() -> None:
    """app/bench/ holds the support the benches share with the tests (shows, clips, tiny
    models); only the benches import it (`python -m app bench` loads them by name), and no
    module of app/ imports a module of tests/."""
    support = {p.stem for p in (ROOT / "tests").glob("*.py")} | {"tests"}
    offences = []
    for module, path in MODULES.items():
        if _room(module) == "bench":
            continue
        for target, line in _imports(module, path):
            if (target in MODULES and _room(target) == "bench") or target.split(".")[0] in support:
                offences.append(f"{path.relative_to(ROOT)}:{line}: imports {target}")
    assert not offences, "\n".join(offences)


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.add(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def test_no_new_import_circle() -> None:
    cycles = _cycles(_app_imports())
    new = [sorted(c) for c in cycles - CIRCLES_DEBT]
    assert not new, f"import circles in app/: {new}"
    gone = [sorted(c) for c in CIRCLES_DEBT - cycles]
    assert not gone, f"circle gone: delete it from CIRCLES_DEBT {gone}"


def test_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == {frozenset({"a", "b", "c"})}


if __name__ == "__main__":  # print the table as the code has it
    for module, path in MODULES.items():
        print(module, sorted({_room(t) for t, _ in _imports(module, path) if t in MODULES}))
    sys.exit(0)
