"""The paper's chain for one still at its real sizes: generate 1280x720 -> learned upscale
x2 -> refine at 2560x1440 -> edit, in one `generate` call; a second call renders nothing.

The models are tiny and random (built in the test) but the images are full size: the SDXL
VAE downscales by 8 as the real one does and the Kontext VAE by 16, the UNet's attention
runs two levels down, the upscaler is a 4-feature Real-ESRGAN Compact; 2 steps a pass.
Every pipeline call is recorded, so the test sees which image each step was given.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from tiny_models import write_show  # noqa: E402

from app.cli import main  # noqa: E402

pytestmark = pytest.mark.torch

SHOW = """
poems:
  - id: "14"
    title: Die Kreuze
    cues:
      - id: "14.1"
        media: c/crosses.png
        generate:
          model: sdxl-hd
          prompt: "white crosses on a black sea"
          seed: 5
          steps: 2
          width: 2560
          height: 1440
          upscale: {model: compact-x2, scale: 2, tile: 512, overlap: 16}
          refine: {strength: 0.5, steps: 2}
          edit: {model: kontext-hd, prompt: "remove the square texture effect", steps: 2}
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from app.generate.tiny import save_tiny, save_tiny_esrgan

    folder = tmp_path_factory.mktemp("hd-models")
    save_tiny("sdxl-hd", folder / "sdxl-hd")
    save_tiny("kontext-hd", folder / "kontext-hd")
    save_tiny_esrgan(folder / "compact-x2.safetensors", scale=2, compact=True)
    models = {
        "sdxl-hd": {"path": "sdxl-hd", "kind": "t2i", "dtype": "float32"},
        "kontext-hd": {"path": "kontext-hd", "kind": "edit", "dtype": "float32"},
        "compact-x2": {"path": "compact-x2.safetensors", "kind": "upscale"},
    }
    path = folder / "models.yaml"
    path.write_text(yaml.safe_dump({"models": models}), encoding="utf-8")
    return path


def _record(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any, Image.Image]]:
    """Wrap the three pipelines and the upscaler: (what, input image, output image) a call."""
    from diffusers import (
        FluxKontextPipeline,
        StableDiffusionXLImg2ImgPipeline,
        StableDiffusionXLPipeline,
    )

    from app.generate.upscale import Upscaler

    calls: list[tuple[str, Any, Image.Image]] = []
    for cls in (StableDiffusionXLPipeline, StableDiffusionXLImg2ImgPipeline, FluxKontextPipeline):

        def wrap(original: Any) -> Any:
            @functools.wraps(original)  # the backend reads the call's parameters
            def call(self: Any, *args: Any, **kwargs: Any) -> Any:
                result = original(self, *args, **kwargs)
                image = kwargs.get("image")
                given = image[0] if isinstance(image, list) else image
                calls.append((type(self).__name__, given, result.images[0]))
                return result

            return call

        monkeypatch.setattr(cls, "__call__", wrap(cls.__call__))
    original = Upscaler.upscale

    def upscale(self: Upscaler, image: Image.Image, *args: Any, **kwargs: Any) -> Image.Image:
        out = original(self, image, *args, **kwargs)
        calls.append(("upscale", image, out))
        return out

    monkeypatch.setattr(Upscaler, "upscale", upscale)
    return calls


def _same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and np.array_equal(np.asarray(a.convert("RGB")), np.asarray(b))


def test_chain_at_real_sizes_in_one_call_then_nothing(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    calls = _record(monkeypatch)
    show = write_show(tmp_path, SHOW)
    args = ["generate", str(show), "--device", "cpu", "--models", str(registry)]
    assert main(args) == 0
    assert "generate: 1 rendered, 0 copied, 0 already current" in capsys.readouterr().out
    names = [c[0] for c in calls]
    assert names == [
        "StableDiffusionXLPipeline",
        "upscale",
        "StableDiffusionXLImg2ImgPipeline",
        "FluxKontextPipeline",
    ]
    (_, _, base), (_, up_in, up_out), (_, ref_in, ref_out), (_, edit_in, edit_out) = calls
    assert base.size == (1280, 720)
    assert up_out.size == ref_out.size == edit_out.size == (2560, 1440)
    # Each step is given the previous step's image, unchanged.
    assert _same(up_in, base) and _same(ref_in, up_out) and _same(edit_in, ref_out)
    media = tmp_path / "media"
    out = Image.open(media / "c" / "crosses.png")
    assert _same(out, edit_out)

    # The manifest records the chain, step by step; the steps before the last are cached at
    # full size (a re-run after a failure resumes from them).
    manifest = json.loads((media / ".generate" / "manifest.json").read_text())
    entry = manifest["outputs"]["c/crosses.png"]
    assert [Path(p).name for p in entry["steps"]] == [
        "1-base.jpg",
        "2-upscaled.jpg",
        "3-refined.jpg",
        "4-edited.jpg",
    ]
    assert entry["info"]["upscaler"] == "compact-x2" and entry["info"]["edited"] == "kontext-hd"
    stored = sorted(Image.open(p).size for p in (media / ".generate" / "steps").glob("*.png"))
    assert stored == [(1280, 720), (2560, 1440), (2560, 1440)]
    stored_images = [Image.open(p) for p in (media / ".generate" / "steps").glob("*.png")]
    for made in (base, up_out, ref_out):
        assert any(_same(s, made) for s in stored_images)

    # A second call renders nothing: no pipeline runs, no file changes.
    before = {p: p.stat().st_mtime_ns for p in media.rglob("*") if p.is_file()}
    calls.clear()
    assert main(args) == 0
    assert "generate: 0 rendered, 0 copied, 1 already current" in capsys.readouterr().out
    assert calls == []
    after = {p: p.stat().st_mtime_ns for p in media.rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items() if p.name != "lock"} == {
        p: t for p, t in before.items() if p.name != "lock"
    }
