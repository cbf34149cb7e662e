"""The reference show's own recipes end to end: tiny random models registered under the model
names `show/pierrot.yaml` uses (a ChromaPipeline as chroma-hd, a two-expert Wan 2.2 as
wan22-i2v, Depth Anything as depth-anything-v2, a 1-block ESRGAN as ultrasharp-v2, a FLUX
Kontext as flux-kontext, ml-sharp absent so its depth fallback) render a cut-down copy of
it (a few poems of each part, at a small size, with its upscale and refine, sweep, video,
edit-made end frame, first-and-last-frame and splat recipes) through `generate`; then the
show is checked and played headless (heavy)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requires
import yaml
from tiny_models import build_tiny_models, tiny_registry

from app.cli import main
from app.generate.manifest import Manifest
from app.show.check import check_show
from app.show.loader import load_show
from app.show.model import MediaKind

requires.module("torch")
requires.module("diffusers")
requires.module("transformers")

pytestmark = [pytest.mark.torch, pytest.mark.slow]

PIERROT = Path(__file__).resolve().parent.parent / "show" / "pierrot.yaml"
POEMS = ("1", "3", "4", "8", "21")  # part 1: sweep, splat, first and last frame; 2; 3
MODELS = {
    "chroma-hd": "tiny-chroma",
    "wan22-i2v": "tiny-wan",
    "depth-anything-v2": "tiny-depth",
    "ultrasharp-v2": "tiny-esrgan",
    "flux-kontext": "tiny-kontext",
}
# ml-sharp is not installed here: its entry falls back to the depth model, as on a machine
# without it.
ML_SHARP = {"kind": "sharp", "path": "sharp.pt", "tool": "/nonexistent/sharp"}


def cut_down(text: str) -> dict[str, Any]:
    """pierrot.yaml with only POEMS, at 24x24 (made at 16x16, refined at full size), two
    denoising steps everywhere, five frames, a sweep of two, small splat scenes."""
    data = yaml.safe_load(text)  # YAML merge keys (the show's anchors) are resolved here
    data["output"] = {"width": 64, "height": 36, "fps": 10}
    data["poems"] = [p for p in data["poems"] if str(p["id"]) in POEMS]
    gen = data["generate"]
    gen.update(width=24, height=24, steps=2, frames=5)
    gen["refine"]["steps"] = 2
    gen["extra"] = {"max_sequence_length": 32}
    for poem in data["poems"]:
        for cue in poem["cues"]:
            recipe = cue["generate"]
            if "steps" in recipe:
                recipe["steps"] = 2
            if isinstance(recipe.get("seeds"), dict):
                recipe["seeds"]["count"] = 2
            if "splat_width" in recipe.get("extra", {}):
                recipe["extra"]["splat_width"] = 16
    return data


@pytest.fixture(scope="module")
def pierrot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cut-down show, generated once with the tiny models under the show's names."""
    root = tmp_path_factory.mktemp("pierrot")
    (root / "show").mkdir()
    show = root / "show" / "pierrot.yaml"
    show.write_text(yaml.safe_dump(cut_down(PIERROT.read_text(encoding="utf-8"))))
    registry = build_tiny_models(
        tiny_registry().parent,
        ("tiny-chroma", "tiny-wan", "tiny-depth", "tiny-esrgan", "tiny-kontext"),
        aliases=MODELS,
        registry_name="pierrot-models.yaml",
    )
    # found beside the show, by `generate` and by `check` (which then checks the recipes)
    models = yaml.safe_load(registry.read_text())
    models["models"]["ml-sharp"] = {**ML_SHARP, "fallback": "depth-anything-v2"}
    models["root"] = str(registry.parent)
    (show.parent / "models.yaml").write_text(yaml.safe_dump(models, sort_keys=False))
    assert main(["generate", str(show), "--device", "cpu"]) == 0
    return show


def test_the_shows_recipes_render_with_its_model_names(pierrot: Path) -> None:
    show = load_show(pierrot)  # every media file now exists
    assert [p.id for p in show.poems] == list(POEMS)
    manifest = Manifest.load(show.media_root)
    kinds = {MediaKind.STILL: 0, MediaKind.VIDEO: 0, MediaKind.SPLAT: 0}
    for cue in show.cues:
        entry = manifest.get(cue.media)
        assert entry is not None and entry["model"] == cue.generate.model, cue.id
        kinds[cue.kind] += 1
        if cue.kind is MediaKind.STILL and cue.generate.mode == "edit":
            assert entry["info"]["pipeline"] == "FluxKontextPipeline", cue.id
        elif cue.kind is MediaKind.STILL:
            assert entry["info"]["pipeline"] == "ChromaPipeline", cue.id
            assert entry["info"]["refined"]["strength"] == 0.35, cue.id  # the hires fix
            assert entry["info"]["upscaler"] == "ultrasharp-v2", cue.id  # learned upscale
        elif cue.kind is MediaKind.SPLAT:
            assert entry["info"]["fallback_for"] == "ml-sharp", cue.id
    assert kinds == {MediaKind.STILL: 8, MediaKind.VIDEO: 4, MediaKind.SPLAT: 3}
    first_last = manifest.get(show.media_root / "pierrot/04/4.3.mp4")
    assert set(first_last["recipe"]["inputs"]) == {"from", "last_from"}
    end_frame = manifest.get(show.media_root / "pierrot/04/4.2.png")  # made by an edit
    assert end_frame["info"]["edited_from"] == "4.1.png"
    sweep = show.media_root / ".generate" / "variations" / "1.1"
    assert sorted(p.name for p in sweep.glob("seed-*.png")) == ["seed-100.png", "seed-101.png"]


def test_the_generated_show_checks_and_plays_headless(
    pierrot: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_show(pierrot).ok
    assert main(["check", str(pierrot)]) == 0  # with the family rules of every recipe
    show = load_show(pierrot)
    ids = [c.id for c in show.cues]
    script = " ".join(f"{i * 0.3:.1f}:GO" for i in range(len(ids)))
    log = tmp_path / "run.jsonl"
    code = main(
        [
            "render",
            str(pierrot),
            "--script",
            script,
            "--out",
            str(tmp_path / "run.mp4"),
            "--event-log",
            str(log),
            "--duration",
            f"{len(ids) * 0.3 + 0.5:.1f}",
        ]
    )
    assert code == 0
    events = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["cue"] for e in events if e["event"] == "cue"] == ids
    assert not [e for e in events if e["event"] == "error"]
    shown = {layer["cue"] for e in events if e["event"] == "frame" for layer in e["layers"]}
    assert set(ids) <= shown
