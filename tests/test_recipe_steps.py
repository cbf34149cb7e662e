"""The chain-step keys of a recipe in the show file: `loras`, `upscale`, `edit`, `kind: edit`."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from app.generate.chain.prompt_weights import has_weights, parse_weighted, plain_text
from app.show.loader import ShowError, load_show


def _show(tmp_path: Path, cues: str) -> Path:
    (tmp_path / "show").mkdir(exist_ok=True)
    path = tmp_path / "show" / "show.yaml"
    head = 'poems:\n  - id: "1"\n    cues:\n'
    path.write_text(head + textwrap.indent(textwrap.dedent(cues), "      "), encoding="utf-8")
    return path


def test_steps_are_read_into_the_recipe(tmp_path: Path) -> None:
    path = _show(
        tmp_path,
        """
        - id: a
          media: a.png
          generate:
            loras: [{name: turbo, weight: 0.8}, {name: grain}]
            upscale: {model: ultrasharp, scale: 2, tile: 256}
            edit: {model: kontext, prompt: "remove the squares", steps: 20}
        - id: b
          media: b.png
          generate: {kind: edit, model: kontext, from: a, prompt: "night falls"}
        - id: c
          media: c.png
          generate: {upscale: 1.5}
        """,
    )
    cues = {c.id: c.generate for c in load_show(path, allow_missing=True).cues}
    assert cues["a"].loras == (("turbo", 0.8), ("grain", 1.0))
    assert cues["a"].upscale == {"model": "ultrasharp", "scale": 2.0, "tile": 256}
    assert cues["a"].edit == {"model": "kontext", "prompt": "remove the squares", "steps": 20}
    assert cues["a"].mode == "generate"
    assert cues["b"].mode == "edit" and cues["b"].source == "a"
    assert cues["c"].upscale == 1.5 and cues["c"].loras == ()


def test_bad_steps_are_reported_with_their_lines(tmp_path: Path) -> None:
    path = _show(
        tmp_path,
        """
        - id: a
          media: a.png
          generate:
            loras: [{weight: 2}, {name: x, weight: high}, {name: y}, {name: y}]
            upscale: {model: u, scale: 0.5, tiles: 3}
            edit: {model: k}
        - id: b
          media: b.png
          generate: {kind: edit, model: k, prompt: p}
        """,
    )
    with pytest.raises(ShowError) as info:
        load_show(path, allow_missing=True)
    text = "\n".join(str(p) for p in info.value.problems)
    assert "show.yaml:8: generate.loras[0]: a LoRA needs a name" in text
    assert "generate.loras[1].weight: expected a number from -4 to 4, got 'high'" in text
    assert "generate.loras[3]: LoRA 'y' is listed twice" in text
    assert "show.yaml:9: generate.upscale.scale: expected a number > 1, got 0.5" in text
    assert "unknown key 'tiles' in generate.upscale, did you mean 'tile'?" in text
    assert "show.yaml:10: generate.edit: an edit step needs `prompt:`" in text
    assert "show.yaml:13: generate.kind edit: needs `from:`" in text


def test_a1111_weights_parse() -> None:
    assert parse_weighted("a (messy hair:1.2), [sea]") == [
        [("a ", 1.0), ("messy hair", 1.2), (", ", 1.0), ("sea", pytest.approx(1 / 1.1))]
    ]
    assert parse_weighted("((x))")[0][0][1] == pytest.approx(1.21)
    assert parse_weighted("(a:0.5) BREAK b") == [[("a", 0.5), (" ", 1.0)], [(" b", 1.0)]]
    assert parse_weighted(r"\(literal\) text") == [[("(literal) text", 1.0)]]
    assert not has_weights("ratio 16:9, plain") and has_weights("a BREAK b")
    assert plain_text("(cartoon, 3d, cgi:1.3)") == "cartoon, 3d, cgi"
