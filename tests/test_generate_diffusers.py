"""`generate` through real diffusers pipelines: tiny random SDXL, FLUX, Wan2.2 image-to-video
and Depth Anything models built in the test, run on the CPU at 16-64 px with 2 steps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import requires
from PIL import Image

torch = requires.module("torch")
requires.module("diffusers")
requires.module("transformers")

from tiny_models import tiny_registry, write_show  # noqa: E402

from app.cli import main  # noqa: E402
from app.generate.chain.diffusers_backend import DiffusersBackend  # noqa: E402
from app.generate.errors import is_out_of_memory  # noqa: E402
from app.generate.metadata import read_png_metadata, sidecar_path  # noqa: E402
from app.media.probe import probe  # noqa: E402
from app.media.splats import load_splats  # noqa: E402

pytestmark = pytest.mark.torch

SHOW = """
title: Tiny
generate: {steps: 2, width: 32, height: 32, guidance: 5.0, fps: 8, frames: 5,
           negative_prompt: "blurry"}
poems:
  - id: "1"
    title: One
    cues:
      - id: "1.1"
        media: t/1.1.png
        generate: {model: tiny-sdxl, prompt: "a moon over water", seed: 7}
      - id: "1.2"
        media: t/1.2.png
        generate: {model: tiny-flux, prompt: "a pale laundress", seed: 1, negative_prompt: "",
                   extra: {max_sequence_length: 32}}
      - id: "1.3"
        media: t/1.3.mp4
        generate: {model: tiny-wan, from: "1.1", last_from: "1.2", prompt: "slow zoom",
                   width: 16, height: 16, extra: {max_sequence_length: 16}}
      - id: "1.4"
        media: t/1.4.ply
        generate: {model: tiny-depth, from: "1.1", extra: {splat_width: 16}}
      - id: "1.5"
        media: t/1.5.png
        generate: {model: tiny-sdxl, prompt: "refined", seed: 2, width: 64, height: 64,
                   refine: {scale: 2, strength: 0.5, steps: 2}}
"""
OUTPUTS = ("1.1.png", "1.2.png", "1.3.mp4", "1.4.ply", "1.5.png")


def _gen(show: Path, *extra: str) -> int:
    return main(
        ["generate", str(show), "--device", "cpu", "--models", str(tiny_registry()), *extra]
    )


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny show rendered once; tests copy it before changing anything."""
    root = tmp_path_factory.mktemp("tiny-show")
    show = write_show(root, SHOW)
    assert _gen(show) == 0
    return root


def _copy(rendered: Path, tmp_path: Path) -> Path:
    shutil.copytree(rendered, tmp_path / "copy")
    return tmp_path / "copy" / "show" / "show.yaml"


def test_outputs_exist_with_metadata(rendered: Path) -> None:
    media = rendered / "media" / "t"
    for name in OUTPUTS:
        assert (media / name).is_file(), name
    sdxl = read_png_metadata(media / "1.1.png")
    lines = sdxl["parameters"].splitlines()
    assert lines[:2] == ["a moon over water", "Negative prompt: blurry"]
    for field in (
        "Steps: 2",
        "Seed: 7",
        "Size: 32x32",
        "Model: tiny-sdxl",
        "Sampler: Euler, Schedule type: DDIM",  # A1111's words for the model's own scheduler
    ):
        assert field in lines[2], field
    assert "Model hash" not in lines[2]  # A1111's hash is a checkpoint file's; this is a folder
    assert sdxl["generate_hash"] in lines[2]
    assert json.loads(sdxl["generate_recipe"])["model"]["files"]
    assert "Model: tiny-flux" in read_png_metadata(media / "1.2.png")["parameters"]
    refined = read_png_metadata(media / "1.5.png")["parameters"]
    assert "Denoising strength: 0.5" in refined and "Hires upscale: 2" in refined
    assert Image.open(media / "1.5.png").size == (64, 64)

    clip = probe(media / "1.3.mp4")
    assert clip.error is None and (clip.width, clip.height) == (16, 16) and clip.fps == 8
    side = json.loads(sidecar_path(media / "1.3.mp4").read_text())
    assert side["model"] == "tiny-wan" and side["info"]["frames"] == 5
    assert set(side["recipe"]["inputs"]) == {"from", "last_from"}
    scene = load_splats(media / "1.4.ply")
    assert scene.kind == "mlsharp" and scene.count == 16 * 16
    assert np.isfinite(scene.positions).all() and scene.intrinsics is not None
    assert json.loads(sidecar_path(media / "1.4.ply").read_text())["info"]["depth"] == "relative"


def test_second_run_does_nothing(rendered: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    before = {p: p.stat().st_mtime_ns for p in (rendered / "media").rglob("*") if p.is_file()}
    assert _gen(rendered / "show" / "show.yaml") == 0
    assert "generate: 0 rendered, 0 copied, 5 already current" in capsys.readouterr().out
    after = {p: p.stat().st_mtime_ns for p in (rendered / "media").rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items() if p.name != "lock"} == {
        p: t for p, t in before.items() if p.name != "lock"
    }


def test_deterministic_for_a_seed(rendered: Path, tmp_path: Path) -> None:
    show = _copy(rendered, tmp_path)
    media = show.parent.parent / "media" / "t"
    assert _gen(show, "--force", "--only", "1/1.1", "--only", "1/1.2") == 0
    for name in ("1.1.png", "1.2.png"):
        assert np.array_equal(_pixels(media / name), _pixels(rendered / "media" / "t" / name))
    changed = show.read_text().replace("seed: 7", "seed: 8")
    show.write_text(changed)
    assert _gen(show, "--only", "1/1.1") == 0
    assert not np.array_equal(_pixels(media / "1.1.png"), _pixels(rendered / "media/t/1.1.png"))


def test_batched_sweep_matches_single_renders(
    rendered: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = _copy(rendered, tmp_path)
    args = [
        "variations",
        str(show),
        "1.1",
        "--seeds",
        "6,7,8",
        "--batch",
        "3",
        "--device",
        "cpu",
        "--models",
        str(tiny_registry()),
    ]
    assert main(args) == 0
    assert "contact sheet:" in capsys.readouterr().out
    var = show.parent.parent / "media" / ".generate" / "variations" / "1.1"
    single = _pixels(rendered / "media" / "t" / "1.1.png")
    assert np.abs(_pixels(var / "seed-7.png") - single).max() <= 2  # batching keeps the image
    assert not np.array_equal(_pixels(var / "seed-6.png"), single)
    assert "Seed: 8" in read_png_metadata(var / "seed-8.png")["parameters"]


def test_missing_model_names_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = tmp_path / "models.yaml"
    registry.write_text(f"models:\n  gone: {{path: {tmp_path / 'gone'}, kind: t2i}}\n")
    text = SHOW.replace("model: tiny-flux", "model: nope").replace(
        "model: tiny-depth", "model: gone"
    )
    show = write_show(tmp_path, text)
    code = main(["generate", str(show), "--device", "cpu", "--models", str(registry)])
    assert code == 2
    err = capsys.readouterr().err
    assert f"{show}:" in err
    assert "model 'nope' is not in" in err and str(registry) in err
    assert f"model folder not found: {tmp_path / 'gone'}" in err
    assert not (tmp_path / "media").exists()


def test_recipe_the_family_cannot_make(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = SHOW.replace("frames: 5,", "frames: 6,").replace(
        'generate: {model: tiny-sdxl, prompt: "refined"', 'generate: {model: tiny-wan, prompt: "r"'
    )
    show = write_show(tmp_path, text)
    assert _gen(show) == 2
    err = capsys.readouterr().err
    assert "generate.frames: Wan makes 4n+1 frames (e.g. 5 or 9), got 6" in err
    assert "model 'tiny-wan' is a i2v model (image to video); image recipes need a t2i" in err


def test_missing_cuda_device(
    rendered: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    show = _copy(rendered, tmp_path)
    media = show.parent.parent / "media" / "t"
    before = {n: (media / n).read_bytes() for n in OUTPUTS}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code = main(["generate", str(show), "--models", str(tiny_registry()), "--force"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--device cuda: no CUDA device is available" in err and "--backend placeholder" in err
    assert {n: (media / n).read_bytes() for n in OUTPUTS} == before


def test_out_of_memory_is_reported_per_cue(
    rendered: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    show = _copy(rendered, tmp_path)
    media = show.parent.parent / "media" / "t"
    old = (media / "1.1.png").read_bytes()
    real = DiffusersBackend.text_to_image

    def flaky(self, pipe, entry, jobs, on_step, source=None):  # type: ignore[no-untyped-def]
        if jobs[0].cue.id == "1.1":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real(self, pipe, entry, jobs, on_step, source)

    monkeypatch.setattr(DiffusersBackend, "text_to_image", flaky)
    show.write_text(
        show.read_text()
        .replace("a moon over water", "a moon over the sea")
        .replace("a pale laundress", "a pale washerwoman")
    )
    assert _gen(show) == 1
    captured = capsys.readouterr()
    assert "cue '1.1' (line" in captured.err and "out of memory" in captured.err
    assert "offload: model" in captured.err
    assert "cue '1.3' (line" in captured.err and "it needs '1.1', which failed" in captured.err
    assert "1 rendered" in captured.out and "1 failed" in captured.out
    assert (media / "1.1.png").read_bytes() == old  # the finished output is intact
    assert "washerwoman" in read_png_metadata(media / "1.2.png")["parameters"]
    assert not list(media.glob(".*partial*"))


def test_unknown_extra_argument_is_refused_before_anything_renders(
    rendered: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = _copy(rendered, tmp_path)
    media = show.parent.parent / "media" / "t"
    old = (media / "1.5.png").read_bytes()
    show.write_text(show.read_text().replace("seed: 2,", "seed: 2, extra: {foo: 1},"))
    assert _gen(show) == 2  # a recipe problem, found by the check before the run (issue 24)
    captured = capsys.readouterr()
    assert (
        f"{show}:23: cue '1.5': generate.extra.foo: StableDiffusionXLPipeline takes no "
        "argument 'foo'" in captured.err
    )
    assert "rendered" not in captured.out
    assert (media / "1.5.png").read_bytes() == old


def test_out_of_memory_detection() -> None:
    assert is_out_of_memory(torch.cuda.OutOfMemoryError("x"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))


def test_bench_generate_on_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    from app.bench import generate as bench
    from app.cli import build_parser

    model = tiny_registry().parent / "tiny-sdxl"
    args = build_parser().parse_args(
        [
            "bench",
            "generate",
            "--model",
            str(model),
            "--device",
            "cpu",
            "--size",
            "32",
            "--steps",
            "2",
            "--repeat",
            "1",
            "--json",
        ]
    )
    assert bench.run(args) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("baseline_s_per_image", "ours_s_per_image", "sweep_images_per_min"):
        assert result[key] > 0
    assert result["max_abs_diff_vs_baseline"] < 1e-3  # CPU: float32 both ways
    assert result["batched_vs_single_max_abs_diff"] <= 2 / 255
    assert "plumbing" in result["note"]
