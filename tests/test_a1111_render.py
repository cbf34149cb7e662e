"""A1111 compatibility against the installed diffusers and third-party readers: the tables
match diffusers' own arguments, every supported sampler x schedule type builds its scheduler
with the options kept, and our PNGs (a tiny single-file SDXL with a 1.65 hires fix, rendered
on the CPU) read back through sd-parsers and sd-prompt-reader, and through `recipe import`."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import pytest
import yaml
from PIL import Image

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

from tiny_models import build_tiny_models, write_show  # noqa: E402

from app.cli import main  # noqa: E402
from app.generate import a1111  # noqa: E402
from app.generate.chain.pipeline_args import CALL_ARGUMENTS, installed_arguments  # noqa: E402

pytestmark = pytest.mark.torch

# Stable Diffusion's scheduler config (what a checkpoint brings along).
SD_CONFIG = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "timestep_spacing": "leading",
}


@pytest.mark.parametrize("cls", sorted(CALL_ARGUMENTS))
def test_call_argument_table_matches_installed_diffusers(cls: str) -> None:
    assert CALL_ARGUMENTS[cls] == installed_arguments(cls), (
        f"{cls}: regenerate app/generate/chain/pipeline_args.py"
    )


@pytest.mark.parametrize("cls", sorted(a1111.SCHEDULER_OPTIONS))
def test_scheduler_option_table_matches_installed_diffusers(cls: str) -> None:
    import inspect

    known = set().union(*a1111.SCHEDULER_OPTIONS.values())
    params = set(inspect.signature(getattr(diffusers, cls).__init__).parameters)
    assert a1111.SCHEDULER_OPTIONS[cls] == known & params


SUPPORTED = [
    words
    for s, t in itertools.product(a1111.SAMPLERS, a1111.SCHEDULES)
    if s.scheduler and s.scheduler != "FlowMatchEulerDiscreteScheduler"
    for words in [f"{s.name} {t.name}"]
    if a1111.scheduler_problem(words) is None
]


def test_most_of_the_vocabulary_is_supported() -> None:
    assert len(SUPPORTED) > 120
    for words in ("DPM++ 2M Karras", "DPM++ 2M SDE Exponential", "DPM++ 3M SDE Exponential"):
        assert words in SUPPORTED


@pytest.mark.parametrize("words", SUPPORTED)
def test_each_supported_pair_builds_its_scheduler_with_the_options_kept(words: str) -> None:
    choice = a1111.parse_scheduler(words)
    scheduler = getattr(diffusers, choice.cls).from_config(SD_CONFIG, **choice.options)
    for key, value in choice.options.items():
        assert scheduler.config[key] == value, (words, key)
    scheduler.set_timesteps(8)
    assert len(scheduler.timesteps) >= 8
    assert a1111.words_of(choice.cls, dict(scheduler.config)).split()[0] == words.split()[0]


SHOW = """
title: Hires
poems:
  - id: "1"
    title: One
    cues:
      - id: "1.1"
        media: h/1.1.png
        generate:
          model: tiny-sdxl-file
          prompt: a moon over water
          negative_prompt: blurry
          scheduler: DPM++ 2M Karras
          steps: 3
          guidance: 5
          seed: 11
          width: 48      # 32x48 at 1.65, by A1111's rounding (52x79 -> 48x72)
          height: 72
          refine: {scale: 1.65, steps: 2, strength: 0.6, guidance: 7}
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(the PNG, its checkpoint, models.yaml): rendered once."""
    root = tmp_path_factory.mktemp("a1111")
    registry = build_tiny_models(root / "models", ("tiny-sdxl", "tiny-sdxl-file"))
    show = write_show(root, SHOW)
    assert main(["generate", str(show), "--device", "cpu", "--models", str(registry)]) == 0
    png = root / "media" / "h" / "1.1.png"
    return png, root / "models" / "tiny-sdxl-file.safetensors", registry


def _autov2(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:10]


def test_png_is_the_hires_size(made: tuple[Path, Path, Path]) -> None:
    png, _, _ = made
    assert Image.open(png).size == (48, 72)


def test_sd_parsers_reads_our_png(made: tuple[Path, Path, Path]) -> None:
    from sd_parsers import ParserManager

    png, checkpoint, _ = made
    info = ParserManager().parse(str(png))
    assert info is not None and info.generator.name == "AUTOMATIC1111"
    sampler = info.samplers[0]
    assert sampler.name == "DPM++ 2M"
    assert sampler.parameters["scheduler"] == "Karras"
    assert sampler.parameters["seed"] == "11" and sampler.parameters["steps"] == "3"
    assert sampler.model.hash == _autov2(checkpoint) and sampler.model.name == "tiny-sdxl-file"
    meta = info.metadata
    assert meta["Size"] == "32x48"  # the first pass
    assert meta["Hires upscale"] == "1.65" and meta["Hires steps"] == "2"
    assert meta["Denoising strength"] == "0.6" and meta["Hires CFG Scale"] == "7"
    assert len(meta["Recipe hash"]) == 32


def test_sd_prompt_reader_reads_our_png(made: tuple[Path, Path, Path]) -> None:
    from sd_prompt_reader.image_data_reader import ImageDataReader

    png, checkpoint, _ = made
    reader = ImageDataReader(str(png))
    assert reader.tool == "A1111 webUI"
    assert (reader.width, reader.height) == ("32", "48")
    assert reader.parameter["sampler"] == "DPM++ 2M" and reader.parameter["seed"] == "11"
    fields = dict(part.split(": ", 1) for part in reader.setting.split(", "))
    assert fields["Schedule type"] == "Karras"
    assert fields["Model hash"] == _autov2(checkpoint)
    assert fields["Hires upscale"] == "1.65" and fields["Hires CFG Scale"] == "7"
    assert fields["Denoising strength"] == "0.6" and fields["Hires steps"] == "2"


def test_our_png_imports_back_to_its_recipe(
    made: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    png, _, registry = made
    assert main(["recipe", "import", str(png), "--models", str(registry)]) == 0
    captured = capsys.readouterr()
    recipe = yaml.safe_load(captured.out)["generate"]
    assert recipe == {
        "model": "tiny-sdxl-file",  # found by its A1111 hash
        "prompt": "a moon over water",
        "negative_prompt": "blurry",
        "scheduler": "DPM++ 2M Karras",
        "steps": 3,
        "guidance": 5.0,
        "seed": 11,
        "width": 48,
        "height": 72,
        "refine": {"scale": 1.65, "steps": 2, "strength": 0.6, "guidance": 7.0},
    }
    # Our own fields are named, not silently dropped.
    assert "not mapped: Cue: 1.1" in captured.err and "not mapped: Recipe hash" in captured.err
