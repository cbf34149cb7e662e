"""Bounded YAML (issue 23): alias bombs and deep nesting are refused as `file:line` in every
YAML the project reads (show, models.yaml, venue, picks, ratings, bindings), and the command
line says so in one line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from app import safe_yaml
from app.control.bindings import BindingError, read_yaml
from app.generate.curation.picks import load_picks
from app.generate.curation.ratings import load_ratings
from app.generate.errors import GenerateError
from app.generate.registry import load_registry
from app.render.warp import VenueError, load_venue
from app.show.controls import read_file, read_keyboard
from app.show.loader import ShowError, load_show

LEVELS = "abcdefg"


def alias_bomb(indent: str = "    ") -> str:
    """Seven levels of ten aliases each: 10^7 strings once expanded, in about 400 bytes."""
    lines = [f"{indent}a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    for prev, name in zip(LEVELS, LEVELS[1:], strict=False):
        lines.append(f"{indent}{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def deep(n: int = 600) -> str:
    return "[" * n + "]" * n


def show_text(extra: str) -> str:
    """A tiny show whose `generate.extra` is `extra` (a block under `extra:`)."""
    return (
        "title: bombs\n"
        "generate:\n"
        "  model: x\n"
        "  extra:\n"
        f"{extra}"
        "poems:\n"
        "  - id: '1'\n"
        "    title: Mondestrunken\n"
        "    cues:\n"
        "      - {id: '1.1', media: a.png, generate: {prompt: moon}}\n"
    )


BOMB_SHOW = show_text(alias_bomb())
DEEP_SHOW = show_text(f"    x: {deep()}\n")


def test_the_bomb_is_small_and_refused_at_its_line() -> None:
    assert len(BOMB_SHOW.encode()) < 600
    with pytest.raises(safe_yaml.YamlLimitError) as err:
        safe_yaml.check(BOMB_SHOW)
    assert "alias" in str(err.value) and str(err.value).startswith("line 9:")
    with pytest.raises(safe_yaml.YamlLimitError, match="nested deeper than 100"):
        safe_yaml.check(DEEP_SHOW)
    block = "".join("  " * i + "k:\n" for i in range(600))  # block style, 600 deep
    with pytest.raises(safe_yaml.YamlLimitError) as err:
        safe_yaml.safe_load(block)
    assert safe_yaml.one_line(err.value, "f.yaml") == "f.yaml:101: nested deeper than 100 levels"


def test_ordinary_anchors_and_depth_pass() -> None:
    text = "base: &b {steps: 30, guidance: 3.5}\nc1: {<<: *b, seed: 1}\nc2: *b\n"
    assert safe_yaml.safe_load(text)["c1"] == {"steps": 30, "guidance": 3.5, "seed": 1}
    assert safe_yaml.safe_load(deep(safe_yaml.MAX_DEPTH)) is not None
    fanned = "a: &a [" + ",".join(["x"] * 1000) + "]\nb: [" + ",".join(["*a"] * 99) + "]\n"
    assert len(safe_yaml.safe_load(fanned)["b"]) == 99  # 99,000 nodes through aliases: fine


def test_every_show_read_refuses_within_2_s(tmp_path: Path) -> None:
    for name, text, line in (("bomb", BOMB_SHOW, 9), ("deep", DEEP_SHOW, 5)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        t0 = time.monotonic()
        with pytest.raises(ShowError) as err:
            load_show(path, allow_missing=True)
        assert time.monotonic() - t0 < 2.0
        message = str(err.value)
        assert f"{path}:{line}: YAML refused" in message and "\n" not in message.strip()


def _expect(fn: Callable[[], Any], error: type[Exception], path: Path, line: int) -> None:
    with pytest.raises(error) as err:
        fn()
    text = str(err.value)
    assert f"{path}:{line}:" in text and "\n" not in text.strip(), text


def test_every_other_yaml_refuses(tmp_path: Path) -> None:
    bomb = "x:\n" + alias_bomb("  ")
    deep_text = f"x: {deep()}\n"
    show = tmp_path / "show.yaml"
    for i, (text, line) in enumerate(((bomb, 6), (deep_text, 1))):
        folder = tmp_path / str(i)
        folder.mkdir()
        files = {
            "models.yaml": (lambda p: load_registry(p), GenerateError),
            "venue.yaml": (lambda p: load_venue(p), VenueError),
            "bindings.yaml": (lambda p: read_yaml(p), BindingError),
        }
        for name, (fn, error) in files.items():
            path = folder / name
            path.write_text(text)
            _expect(lambda fn=fn, path=path: fn(path), error, path, line)
        show = folder / "show.yaml"
        for kind, loader in (("picks", load_picks), ("ratings", load_ratings)):
            path = folder / f"show.{kind}.yaml"
            path.write_text(text)
            _expect(lambda loader=loader, show=show: loader(show), GenerateError, path, line)
        keys = folder / "keys.yaml"
        keys.write_text(text)
        spec, problems = read_file(keys, read_keyboard, "keyboard")
        assert spec is None and [
            (p.line, "deeper" in p.message or "alias" in p.message) for p in problems
        ] == [(line, True)]


@pytest.mark.parametrize("command", ["generate --dry-run", "check", "play"])
@pytest.mark.parametrize("which", ["bomb", "deep"])
def test_command_line_one_line_error(tmp_path: Path, command: str, which: str) -> None:
    path = tmp_path / f"{which}.yaml"
    path.write_text(BOMB_SHOW if which == "bomb" else DEEP_SHOW)
    proc = subprocess.run(
        [sys.executable, "-m", "app", *command.split(), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    out = proc.stdout + proc.stderr
    line = 9 if which == "bomb" else 5
    hits = [s for s in out.splitlines() if f"{path}:{line}: YAML refused" in s]
    assert len(hits) == 1, out


def test_yaml_errors_are_still_yaml_errors() -> None:
    """Callers that catch yaml.YAMLError catch the limits too."""
    with pytest.raises(yaml.YAMLError):
        safe_yaml.compose(deep())
