"""Grid sweeps: `variations --grid` over recipe fields, a labelled sheet, bad values refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requires
from PIL import Image
from tiny_models import write_show

from app.cli import main
from app.generate.curation.grid import parse_axes, parse_axis
from app.generate.errors import GenerateError
from app.generate.manifest import Manifest

SHOW = """
title: Grid
generate: {steps: 2, width: 32, height: 32, guidance: 5.0}
poems:
  - id: "1"
    title: One
    cues:
      - id: "1.1"
        media: t/1.1.png
        generate: {model: tiny-sdxl, prompt: "a moon over water", seed: 7}
"""


def test_axis_values_are_checked_where_typed() -> None:
    assert parse_axis("guidance=2,3.5,5").values == (2.0, 3.5, 5.0)
    assert parse_axis("scheduler=euler,dpm++ 2m karras").values == ("euler", "dpm++ 2m karras")
    assert parse_axis("prompt=a moon, pale|a sun").values == ("a moon, pale", "a sun")
    assert parse_axis("extra.lora_scale=0.5,1").values == (0.5, 1)
    bad = {
        "steps=0,20": "steps: expected an integer >= 1, got 0",
        "scheduler=euler,nope": "unknown scheduler 'nope'",
        "width=30": "expected a multiple of 8",
        "colour=red": "'colour' is not a recipe field a grid can sweep",
        "seed=1,2": "seeds are swept with --seeds",
        "refine.power=2": "refine has no 'power'",
        "guidance": "expected FIELD=VALUE,VALUE",
        "guidance=2,,3": "an empty value",
    }
    for text, message in bad.items():
        with pytest.raises(GenerateError, match=message.replace("+", r"\+")):
            parse_axis(text)
    with pytest.raises(GenerateError, match="given twice"):
        parse_axes(["steps=2", "steps=4"])


def test_bad_grid_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = write_show(tmp_path, SHOW)
    code = main(["variations", str(show), "1.1", "--grid", "steps=0", "--backend", "placeholder"])
    assert code == 2
    assert "--grid steps=0: steps: expected an integer >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "media" / ".generate").exists()


@pytest.mark.torch
def test_grid_on_a_tiny_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    requires.module("diffusers")
    from tiny_models import build_tiny_models

    registry = build_tiny_models(tmp_path / "models", ("tiny-sdxl",))
    show = write_show(tmp_path, SHOW)
    args = ["variations", str(show), "1.1", "--grid", "guidance=2,5", "--grid", "steps=2,4"]
    args += ["--seeds", "2", "--device", "cpu", "--models", str(registry)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "8 rendered" in printed
    root = tmp_path / "media"
    manifest = Manifest.load(root)
    cells = {k: e for k, e in manifest.entries.items() if "/grid-" in k}
    assert len(cells) == 8
    combos = {(e["recipe"]["guidance"], e["recipe"]["steps"], e["seed"]) for e in cells.values()}
    assert combos == {(g, s, seed) for g in (2.0, 5.0) for s in (2, 4) for seed in (7, 8)}

    (layout_path,) = (root / ".generate/variations/1.1/sheets").glob("*.json")
    layout = json.loads(layout_path.read_text())
    assert [a["field"] for a in layout["axes"]] == ["guidance", "steps"]
    assert [a["values"] for a in layout["axes"]] == [[2.0, 5.0], [2, 4]]
    tw, ch = layout["thumb_width"], layout["cell_height"]
    with Image.open(layout_path.with_suffix(".png")) as sheet:
        assert list(sheet.size) == layout["size"]
    # X (guidance) runs left to right with two seeds side by side, Y (steps) top to bottom
    boxes = {
        (c["values"]["guidance"], c["values"]["steps"], c["seed"]): c["box"]
        for c in layout["cells"]
    }
    assert len(boxes) == 8 and all(c["ok"] for c in layout["cells"])
    x0, y0 = boxes[(2.0, 2, 7)][:2]
    assert boxes[(2.0, 2, 8)][:2] == [x0 + tw + 6, y0]
    assert boxes[(5.0, 2, 7)][0] == x0 + 2 * (tw + 6) + 6 and boxes[(5.0, 2, 7)][1] == y0
    assert boxes[(2.0, 4, 7)] == [x0, y0 + ch + 6, x0 + tw, y0 + 2 * ch + 6]
    assert layout["size"][0] >= boxes[(5.0, 4, 8)][2] and layout["size"][1] >= boxes[(5.0, 4, 8)][3]
    # every cell file is the one its manifest record describes
    for c in layout["cells"]:
        entry = manifest.entries[f".generate/variations/1.1/{c['file']}"]
        assert entry["recipe"]["guidance"] == c["values"]["guidance"]
        assert entry["recipe"]["steps"] == c["values"]["steps"]

    # the same grid again: every cell is a cached job
    assert main(args) == 0
    assert "8 already current" in capsys.readouterr().out
