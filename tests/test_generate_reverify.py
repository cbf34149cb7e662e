"""`generate --verify`: re-made cues bit-identical, a changed model file reported with its
reason, a missing model reported as not re-made; the placeholder backend and a pack too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import requires
from PIL import Image

from app.cli import main
from app.generate.reverify import compare_media, image_distance, recipe_differences
from app.show.model import MediaKind

SHOW = """
title: Reverify
generate: {steps: 2, width: 32, height: 32, guidance: 5.0}
poems:
  - id: "1"
    cues:
      - id: "1.1"
        media: t/1.1.png
        generate: {model: tiny-sdxl, prompt: "a moon over water", seed: 7}
      - id: "1.2"
        media: t/1.2.png
        generate: {model: tiny-sdxl, prompt: "a pale laundress", seed: 3}
      - id: "1.3"
        media: t/1.3.png
        generate: {model: absent-model, prompt: "made elsewhere"}
"""


def _write(root: Path, text: str) -> Path:
    (root / "show").mkdir(parents=True, exist_ok=True)
    show = root / "show" / "show.yaml"
    show.write_text(text, encoding="utf-8")
    return show


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A show whose cues 1.1 and 1.2 were rendered with a tiny random SDXL (1.3 by hand)."""
    requires.module("torch")
    requires.module("diffusers")
    from tiny_models import build_tiny_models

    root = tmp_path_factory.mktemp("reverify")
    build_tiny_models(root / "models", ("tiny-sdxl",))
    show = _write(root, SHOW)
    args = ["--device", "cpu", "--models", str(root / "models" / "models.yaml")]
    assert main(["generate", str(show), "--only", "1.1", "--only", "1.2", *args]) == 0
    Image.new("RGB", (32, 32), (90, 60, 30)).save(root / "media" / "t" / "1.3.png")
    return root


def _verify(root: Path, capsys: pytest.CaptureFixture[str], *only: str) -> tuple[int, str]:
    models = root / "models" / "models.yaml"
    flags = [x for o in only for x in ("--only", o)]
    code = main(["generate", str(root / "show" / "show.yaml"), "--verify", *flags,
                 "--device", "cpu", "--models", str(models)])  # fmt: skip
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _rows(root: Path) -> dict[str, dict]:
    report = root / "media" / ".generate" / "verify" / "report.json"
    return {r["cue"]: r for r in json.loads(report.read_text())}


@pytest.mark.torch
def test_tiny_models_re_render_bit_identical(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (tiny / "media" / "t" / "1.1.png").read_bytes()
    code, text = _verify(tiny, capsys, "1.1", "1.2")
    assert code == 0, text
    rows = _rows(tiny)
    assert rows["1.1"]["status"] == rows["1.2"]["status"] == "identical"
    assert "bit-identical" in rows["1.1"]["detail"] and not rows["1.1"]["reasons"]
    assert "tiny-sdxl" in rows["1.1"]["made_from"] and "seed 7" in rows["1.1"]["made_from"]
    assert (tiny / "media" / "t" / "1.1.png").read_bytes() == before  # nothing replaced


@pytest.mark.torch
def test_missing_model_is_reported_as_not_re_made(
    tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = _verify(tiny, capsys)
    assert code == 1
    rows = _rows(tiny)
    assert rows["1.3"]["status"] == "not re-made"
    assert "absent-model" in rows["1.3"]["detail"]
    assert "1 could not be re-made" in text


@pytest.mark.torch
def test_changed_model_file_is_not_identical_with_the_reason(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "copy"
    shutil.copytree(tiny, root)
    registry = root / "models" / "models.yaml"
    assert "path: tiny-sdxl" in registry.read_text()
    config = root / "models" / "tiny-sdxl" / "scheduler" / "scheduler_config.json"
    data = json.loads(config.read_text())
    data["beta_end"] = 0.02
    config.write_text(json.dumps(data))
    code, text = _verify(root, capsys, "1.1")
    assert code == 1
    row = _rows(root)["1.1"]
    assert row["status"] == "differs", text
    assert any("model's files changed" in r for r in row["reasons"])
    assert row["distance"] is not None and row["distance"] > 0
    assert "why it may differ: the model's files changed" in text


@pytest.mark.torch
def test_a_pack_with_its_models_re_renders_identical_without_a_registry(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VJSHOW_CACHE", str(tmp_path / "cache"))
    pack = tmp_path / "with-models.vjshow"
    show, models = tiny / "show" / "show.yaml", tiny / "models" / "models.yaml"
    assert (
        main(["pack", str(show), "--out", str(pack), "--models", str(models), "--with-models"]) == 0
    )
    assert main(["verify", str(pack)]) == 0
    capsys.readouterr()
    code = main(["generate", str(pack), "--verify", "--only", "1.1", "--device", "cpu"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "verify: 1 identical, 0 differ, 0 could not be re-made" in text


PLACEHOLDER_SHOW = """
title: Placeholders
generate: {width: 320, height: 176, frames: 8, fps: 8}
poems:
  - id: "1"
    cues:
      - id: "1.1"
        media: p/1.1.png
        generate: {model: some-model, prompt: "a moon", seed: 4}
      - id: "1.2"
        media: p/1.2.mp4
        generate: {model: some-video-model, from: "1.1", prompt: "slow zoom"}
"""


def test_placeholder_media_re_render_identical_from_a_pack(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VJSHOW_CACHE", str(tmp_path / "cache"))
    show = _write(tmp_path / "proj", PLACEHOLDER_SHOW)
    assert main(["generate", str(show), "--backend", "placeholder"]) == 0
    pack = tmp_path / "p.vjshow"
    assert main(["pack", str(show), "--out", str(pack)]) == 0
    capsys.readouterr()
    assert main(["generate", str(pack), "--verify", "--backend", "placeholder"]) == 0
    text = capsys.readouterr().out
    assert "verify: 2 identical, 0 differ, 0 could not be re-made" in text


def test_recipe_differences_name_each_field() -> None:
    old = {"seed": 1, "prompt": "a", "model": {"files": "abc" * 10}, "inputs": {"from": "x"}}
    new = {"seed": 2, "prompt": "a", "model": {"files": "def" * 10}, "inputs": {"from": "y"}}
    reasons = recipe_differences(old, new)
    assert reasons == [
        "input 'from' is not the file it was made from",
        "the model's files changed (identity abcabcabcabc when made, defdefdefdef now)",
        "seed: 1 when made, 2 now",
    ]
    assert "no recorded recipe" in recipe_differences(None, new)[0]


def test_distance_and_comparison(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 255, (36, 64, 3), dtype=np.uint8)
    assert image_distance(a, a)[0] == 0.0
    white, black = np.full_like(a, 255), np.zeros_like(a)
    assert image_distance(white, black)[0] == pytest.approx(1.0)
    noisy = np.clip(a.astype(int) + rng.integers(-3, 4, a.shape), 0, 255).astype(np.uint8)
    assert image_distance(a, noisy)[0] < 0.01
    Image.fromarray(a).save(tmp_path / "a.png")
    Image.fromarray(a).save(tmp_path / "b.png", pnginfo=_info())
    status, detail, *_ = compare_media(tmp_path / "a.png", tmp_path / "b.png", MediaKind.STILL)
    assert status == "identical" and "pixels" in detail
    Image.fromarray(noisy).save(tmp_path / "c.png")
    status, detail, distance, _ = compare_media(
        tmp_path / "a.png", tmp_path / "c.png", MediaKind.STILL
    )
    assert status == "differs" and distance is not None and "PSNR" in detail


def _info():  # a PNG text chunk: same pixels, other bytes
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("note", "other metadata")
    return info
