"""The desk's files without a browser: picking a grid cell keeps it through `generate`, a
hand-edited variations folder, prune asks first, "more like this" plans."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import yaml
from tiny_models import write_show

from app.cli import main
from app.desk.jobs import JobQueue, finer_axes, new_seeds
from app.desk.store import DeskStore
from app.generate.curation.catalog import variations_dir
from app.generate.curation.picks import load_pick_recipes, load_picks, save_pick
from app.generate.errors import GenerateError
from app.generate.manifest import Manifest
from app.show.loader import load_show

SHOW = """
title: Store
generate: {width: 64, height: 40, steps: 2, guidance: 5.0}
poems:
  - id: "1"
    title: One
    cues:
      - id: "1.1"
        media: g/1.1.png
        generate: {prompt: "a moon", seed: 0}
"""


@pytest.fixture
def show(tmp_path: Path) -> Path:
    path = write_show(tmp_path, SHOW)
    assert main(["generate", str(path), "--backend", "placeholder"]) == 0
    args = ["variations", str(path), "1.1", "--backend", "placeholder"]
    assert main([*args, "--seeds", "3", "--start", "0"]) == 0
    assert main([*args, "--grid", "guidance=2,8", "--grid", "steps=2,4"]) == 0
    return path


def test_a_picked_grid_cell_is_what_generate_keeps(
    show: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = DeskStore(load_show(show, allow_missing=True))
    items, missing = store.variations("1.1")
    assert missing == [] and len(items) == 3 + 4
    cell = next(v for v in items if v.values == {"guidance": 2.0, "steps": 4})
    result = store.pick("1.1", cell.name)
    assert load_picks(show) == {"1.1": 0}
    assert load_pick_recipes(show) == {"1.1": {"guidance": 2.0, "steps": 4}}
    media = show.parent.parent / "media" / "g" / "1.1.png"
    assert result.media == media and media.read_bytes() == cell.path.read_bytes()
    capsys.readouterr()
    assert main(["generate", str(show), "--backend", "placeholder", "--no-sweeps"]) == 0
    assert "1 already current" in capsys.readouterr().out
    assert media.read_bytes() == cell.path.read_bytes()
    # the command-line pick of a plain seed forgets the cell's values
    save_pick(show, "1.1", 2)
    assert load_pick_recipes(show) == {}


def test_hand_edited_folder(show: Path) -> None:
    folder = variations_dir(show.parent.parent / "media", "1.1")
    (folder / "seed-1.png").unlink()
    extra = folder / "seed-99.png"
    extra.write_bytes((folder / "seed-2.png").read_bytes())
    stranger = folder / "mine.png"
    stranger.write_bytes(b"not a png")
    store = DeskStore(load_show(show, allow_missing=True))
    items, missing = store.variations("1.1")
    names = {v.name for v in items}
    assert missing == ["seed-1.png"]
    assert "seed-99.png" in names and "mine.png" in names
    copied = next(v for v in items if v.name == "seed-99.png")
    assert not copied.recorded and copied.seed == 2  # its own metadata says seed 2
    with pytest.raises(GenerateError, match="seed-1.png was deleted"):
        store.pick("1.1", "seed-1.png")
    with pytest.raises(GenerateError, match="carries no seed"):
        store.pick("1.1", "mine.png")
    with pytest.raises(GenerateError, match="not a variation name"):
        store.pick("1.1", "../../show.yaml")
    assert load_picks(show) == {}


def test_prune_lists_sizes_and_asks_first(
    show: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = DeskStore(load_show(show, allow_missing=True))
    store.mark("1.1", "seed-1.png", rejected=True)
    store.mark("1.1", "seed-2.png", rating=3)
    folder = variations_dir(show.parent.parent / "media", "1.1")
    capsys.readouterr()
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    assert main(["variations", str(show), "1.1", "--prune"]) == 0
    printed = capsys.readouterr().out
    assert "1 rejected variations" in printed and "seed-1.png" in printed and "KB" in printed
    assert "nothing deleted" in printed and (folder / "seed-1.png").is_file()
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    assert main(["variations", str(show), "1.1", "--prune"]) == 0
    assert "deleted 1 files" in capsys.readouterr().out
    assert not (folder / "seed-1.png").exists() and (folder / "seed-2.png").is_file()
    manifest = Manifest.load(show.parent.parent / "media")
    assert manifest.get(folder / "seed-1.png") is None
    ratings = yaml.safe_load(show.with_name("show.ratings.yaml").read_text())
    assert ratings["ratings"]["1.1"] == {"seed-2.png": {"rating": 3}}


def test_more_like_this_plans(show: Path) -> None:
    store = DeskStore(load_show(show, allow_missing=True))
    items, _ = store.variations("1.1")
    assert new_seeds(items, 3) == [3, 4, 5]
    cell = next(v for v in items if v.values == {"guidance": 2.0, "steps": 4})
    axes = {a.field: a.values for a in finer_axes(cell, items)}
    # the neighbours of guidance 2 are 5 (the recipe's, of the seed variations) and nothing
    # below; of steps 4, the recipe's 2
    assert axes == {"guidance": (2.0, 3.5), "steps": (3, 4)}
    queue = JobQueue(store, lambda: None, lambda m: None)
    try:
        jobs = queue.plan("1.1", cell.name, "seeds", 2)
        assert [(j.seed, j.spec.guidance, j.spec.steps) for j in jobs] == [(3, 2.0, 4), (4, 2.0, 4)]
        finer = queue.plan("1.1", cell.name, "finer", 1)
        assert {(j.spec.guidance, j.spec.steps) for j in finer} == {
            (g, s) for g in (2.0, 3.5) for s in (3, 4)
        }
        with pytest.raises(GenerateError, match="not a cell of a numeric grid"):
            queue.plan("1.1", "seed-0.png", "finer", 1)
    finally:
        queue.close()
