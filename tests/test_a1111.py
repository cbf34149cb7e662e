"""A1111's vocabulary and `recipe import` (no torch): the sampler x schedule table, the hires
rounding, the parameters reader, import of texts and pictures in A1111's layout, writing into
a cue, and `check` / `generate --dry-run` on the imported recipes."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image, PngImagePlugin
from tiny_models import write_show

from app.cli import main
from app.generate import a1111

# The two parameter texts of issue 24 (a real user's slides).
SLIDES = (
    "portrait of a woman in a library, film grain\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 4, Seed: 2529697523, "
    "Size: 512x768, Model hash: 43d0be1815, Model: cyberrealistic_v60, Denoising strength: "
    "0.6, Hires CFG Scale: 7, Hires upscale: 1.65, Hires steps: 10, Hires upscaler: Latent"
)
TURBO = (
    "a lighthouse at dusk\n"
    "Steps: 8, Sampler: DPM++ 2M SDE, Schedule type: Exponential, CFG scale: 1.5, "
    "Seed: 405868469, Size: 832x1216"
)

# --- the sampler table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "cls", "options"),
    [
        ("DPM++ 2M Karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
        (
            "DPM++ 2M SDE Exponential",
            "DPMSolverMultistepScheduler",
            {
                "algorithm_type": "sde-dpmsolver++",
                "use_exponential_sigmas": True,
                "use_karras_sigmas": False,
            },
        ),
        (
            "DPM++ 3M SDE Automatic",
            "DPMSolverMultistepScheduler",
            {
                "solver_order": 3,
                "algorithm_type": "sde-dpmsolver++",
                "use_exponential_sigmas": True,
            },
        ),
        (
            "DPM++ 2M SDE Heun Karras",
            "DPMSolverMultistepScheduler",
            {"solver_type": "heun", "use_karras_sigmas": True},
        ),
        ("DPM++ SDE Karras", "DPMSolverSDEScheduler", {"use_karras_sigmas": True}),
        ("Euler a", "EulerAncestralDiscreteScheduler", {}),
        ("Euler SGM Uniform", "EulerDiscreteScheduler", {"timestep_spacing": "trailing"}),
        ("Euler Simple", "EulerDiscreteScheduler", {"timestep_spacing": "trailing"}),
        ("Heun Beta", "HeunDiscreteScheduler", {"use_beta_sigmas": True}),
        ("LMS Polyexponential", "LMSDiscreteScheduler", {"use_exponential_sigmas": True}),
        ("DPM2 a Automatic", "KDPM2AncestralDiscreteScheduler", {"use_karras_sigmas": True}),
        ("DDIM Uniform", "DDIMScheduler", {"timestep_spacing": "linspace"}),
        ("UniPC Karras", "UniPCMultistepScheduler", {"use_karras_sigmas": True}),
        ("PLMS", "PNDMScheduler", {}),
        ("dpm++ 2m sde karras", "DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
        ("flow euler", "FlowMatchEulerDiscreteScheduler", {}),
        ("DPMSolverMultistepScheduler", "DPMSolverMultistepScheduler", {}),
    ],
)
def test_sampler_and_schedule_map_onto_diffusers(
    words: str, cls: str, options: dict[str, object]
) -> None:
    choice = a1111.parse_scheduler(words)
    assert choice.cls == cls
    assert {k: choice.options.get(k) for k in options} == options


def test_karras_is_kept_whether_written_apart_or_folded_in() -> None:
    apart = a1111.parse_scheduler("DPM++ 2M", "Karras")
    folded = a1111.parse_scheduler("DPM++ 2M Karras")
    assert apart == folded and apart.options["use_karras_sigmas"] is True
    assert apart.words == "DPM++ 2M Karras"
    # Without a schedule type the model's own schedule is kept: no flag is set.
    assert not any(k.startswith("use_") for k in a1111.parse_scheduler("DPM++ 2M").options)


@pytest.mark.parametrize(
    ("words", "closest"),
    [
        ("DPM++ 2S a Karras", "closest: 'DPM++ SDE'"),
        ("Restart", "closest: 'Heun'"),
        ("DDIM CFG++", "closest: 'DDIM'"),
        ("Euler a Karras", "closest: 'Euler a'"),
        ("DPM++ 2M Align Your Steps", "closest: 'DPM++ 2M Karras'"),
        ("DPM++ 2M KL Optimal", "closest: 'DPM++ 2M Karras'"),
        ("DPM++ 2N Karras", "closest: 'DPM++ 2M Karras'"),
    ],
)
def test_what_diffusers_cannot_do_is_refused_naming_the_closest(words: str, closest: str) -> None:
    with pytest.raises(ValueError, match="closest") as info:
        a1111.parse_scheduler(words)
    assert closest in str(info.value)
    suggestion = str(info.value).split("closest: '")[1].split("'")[0]
    a1111.parse_scheduler(suggestion)  # the suggestion itself is accepted


@pytest.mark.parametrize(
    "words",
    [
        "DPM++ 2M Karras",
        "DPM++ 2M SDE Exponential",
        "DPM++ 3M SDE Exponential",
        "Euler a Uniform",
        "Euler SGM Uniform",
        "DDIM DDIM",
        "Heun Beta",
        "UniPC Karras",
    ],
)
def test_our_words_of_a_scheduler_config_read_back_as_the_same(words: str) -> None:
    choice = a1111.parse_scheduler(words)
    assert a1111.words_of(choice.cls, choice.options) == words
    fields = dict(a1111.sampler_fields(words))
    assert f"{fields['Sampler']} {fields['Schedule type']}" == words


# --- hires sizes ---------------------------------------------------------------------------


def test_hires_size_follows_a1111_rounding_and_is_found_back() -> None:
    assert a1111.hires_size(512, 768, 1.65) == (840, 1264)
    assert a1111.first_pass_side(840, 1.65) == 512
    assert a1111.first_pass_side(1264, 1.65) == 768
    for scale in (1.25, 1.5, 1.65, 2.0, 2.5, 3.3):
        for side in range(256, 2049, 8):
            final = a1111.hires_size(side, side, scale)[0]
            assert a1111.first_pass_side(final, scale) == side, (side, scale)
    assert a1111.first_pass_side(840, 1.65, grid=16) == 512
    assert a1111.first_pass_side(852, 1.65, grid=16) is None


# --- the parameters text -------------------------------------------------------------------


def test_parameters_are_read_as_a1111_reads_them() -> None:
    text = (
        "a moon,\nover water\nNegative prompt: blurry,\nlowres\n"
        'Steps: 20, Sampler: Euler a, CFG scale: 7, Lora hashes: "detail: 0123abcd, x: 42", '
        "Size: 512x768"
    )
    p = a1111.parse_parameters(text)
    assert p.prompt == "a moon,\nover water" and p.negative_prompt == "blurry,\nlowres"
    assert p.fields["Lora hashes"] == "detail: 0123abcd, x: 42"
    assert list(p.fields) == ["Steps", "Sampler", "CFG scale", "Lora hashes", "Size"]
    # A last line with fewer than 3 pairs is prompt, as in A1111.
    assert a1111.parse_parameters("a cat\nstyle: oil, mood: calm").fields == {}


# --- recipe import ---------------------------------------------------------------------------


def _import(path: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    assert main(["recipe", "import", str(path), *args]) == 0
    captured = capsys.readouterr()
    return yaml.safe_load(captured.out)["generate"], captured.err


def test_import_of_the_slides_text_maps_karras_hires_and_names_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "slide.txt"
    path.write_text(SLIDES, encoding="utf-8")
    recipe, err = _import(path, capsys=capsys)
    assert recipe == {
        "prompt": "portrait of a woman in a library, film grain",
        "negative_prompt": "blurry, lowres",
        "scheduler": "DPM++ 2M Karras",
        "steps": 20,
        "guidance": 4.0,
        "seed": 2529697523,
        "width": 840,
        "height": 1264,
        "refine": {"scale": 1.65, "steps": 10, "strength": 0.6, "guidance": 7.0},
    }
    assert "not mapped: Hires upscaler: Latent: upscaled in pixels (Lanczos)" in err
    assert "not mapped: Model: cyberrealistic_v60 (hash 43d0be1815)" in err


def test_import_of_the_sde_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "turbo.txt"
    path.write_text(TURBO, encoding="utf-8")
    recipe, _ = _import(path, capsys=capsys)
    assert recipe["scheduler"] == "DPM++ 2M SDE Exponential"
    assert (recipe["width"], recipe["height"], recipe["seed"]) == (832, 1216, 405868469)
    assert recipe["guidance"] == 1.5 and "refine" not in recipe


def _a1111_png(path: Path, text: str, itxt: bool = False) -> Path:
    """A PNG as A1111 saves it: the text in a `parameters` chunk."""
    info = PngImagePlugin.PngInfo()
    (info.add_itxt if itxt else info.add_text)("parameters", text)
    Image.new("RGB", (16, 24), (90, 80, 70)).save(path, pnginfo=info)
    return path


def _a1111_jpeg(path: Path, text: str) -> Path:
    """A JPEG as A1111 saves it: the text as EXIF UserComment (piexif's UNICODE, UTF-16BE)."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + text.encode("utf-16-be")
    Image.new("RGB", (16, 24), (90, 80, 70)).save(path, exif=exif.tobytes())
    return path


@pytest.mark.parametrize("layout", ["tEXt", "iTXt", "jpeg"])
def test_import_of_pictures_in_a1111_layout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], layout: str
) -> None:
    text = SLIDES.replace("portrait", "portrait ü")  # non-ASCII survives each layout
    if layout == "jpeg":
        path = _a1111_jpeg(tmp_path / "slide.jpg", text)
    else:
        path = _a1111_png(tmp_path / "slide.png", text, itxt=layout == "iTXt")
    recipe, err = _import(path, capsys=capsys)
    assert recipe["prompt"].startswith("portrait ü of a woman")
    assert recipe["scheduler"] == "DPM++ 2M Karras" and recipe["seed"] == 2529697523
    assert recipe["refine"] == {"scale": 1.65, "steps": 10, "strength": 0.6, "guidance": 7.0}
    assert "Hires upscaler: Latent" in err


def test_unmappable_fields_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "odd.txt"
    path.write_text(
        "a cat <lora:add_detail:0.5>\nSteps: 20, Sampler: DPM++ 2S a, Schedule type: Karras, "
        "CFG scale: 7, Seed: 1, Size: 512x512, Clip skip: 2, ENSD: 31337, Hires sampler: Euler",
        encoding="utf-8",
    )
    assert main(["recipe", "import", str(path)]) == 0
    captured = capsys.readouterr()
    for field in (
        "not mapped: Sampler: DPM++ 2S a, Karras: sampler 'DPM++ 2S a' has no diffusers "
        "equivalent (closest: 'DPM++ SDE')",
        "not mapped: Clip skip: 2",
        "not mapped: ENSD: 31337",
        "not mapped: prompt <lora:add_detail:0.5>: no such LoRA in models.yaml",
        "not mapped: Hires sampler: Euler (no Hires upscale)",
    ):
        assert field in captured.err
        assert "# " + field in captured.out  # the pasted block carries them as comments
    assert yaml.safe_load(captured.out)["generate"]["prompt"] == "a cat"


def test_files_without_a_recipe_are_refused_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(plain)
    binary = tmp_path / "noise.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    for path, why in ((plain, "carries no recipe"), (binary, "not a picture, a workflow")):
        assert main(["recipe", "import", str(path)]) == 1
        assert f"error: {path}: " in (err := capsys.readouterr().err) and why in err


def _comfy_png(path: Path) -> Path:
    info = PngImagePlugin.PngInfo()
    info.add_text("workflow", '{"nodes": [], "links": []}')
    info.add_text("prompt", "{}")
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    return path


def _comfy_webp(path: Path) -> Path:
    """A WebP as ComfyUI saves it: the graphs in EXIF Make and Model."""
    exif = Image.Exif()
    exif[0x010F] = 'workflow:{"nodes": [], "links": []}'
    exif[0x0110] = "prompt:{}"
    Image.new("RGB", (8, 8)).save(path, exif=exif.tobytes())
    return path


def test_comfyui_files_go_to_the_comfyui_module(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    png = _comfy_png(tmp_path / "comfy.png")
    webp = _comfy_webp(tmp_path / "comfy.webp")
    workflow = tmp_path / "flow.json"
    workflow.write_text('{"nodes": [], "links": []}', encoding="utf-8")
    seen: list[Path] = []

    def recipe_from_comfyui(path: Path) -> tuple[dict, list[str]]:
        seen.append(path)
        return {"workflow": str(path), "bind": {"prompt": "6.text"}}, ["node 9 (Note)"]

    import app.generate.comfyui.recipe as comfy_recipe

    monkeypatch.setattr(comfy_recipe, "recipe_from_comfyui", recipe_from_comfyui)
    for path in (png, webp, workflow):
        recipe, err = _import(path, capsys=capsys)
        assert seen[-1] == path and recipe["bind"] == {"prompt": "6.text"}
        assert "not mapped: node 9 (Note)" in err


# --- models.yaml, writing into a cue, check and dry-run --------------------------------------

SHOW = """\
# The slides, remade.
title: Slides
poems:
  - id: "1"
    title: One   # the first poem
    cues:
      - id: "1.1"
        media: s/1.1.png
        # made from the artist's slide
        generate:
          prompt: to be replaced
          loras: []          # kept: the import does not set it
      - id: "1.2"
        media: s/1.2.png
        fade: 2.0
"""


def _checkpoint(folder: Path, name: str) -> Path:
    """A 'single-file checkpoint' of random bytes (2 MiB: past the legacy hash's offset)."""
    path = folder / name
    path.write_bytes(os.urandom(2 << 20))
    return path


def _registry(folder: Path) -> tuple[Path, Path]:
    ckpt = _checkpoint(folder, "cyberrealistic_v60.safetensors")
    models = folder / "models.yaml"
    models.write_text(
        "models:\n"
        "  cyber:\n"
        f"    path: {ckpt.name}\n"
        "    kind: t2i\n"
        "    pipeline: StableDiffusionPipeline\n",
        encoding="utf-8",
    )
    return models, ckpt


def _slides_for(ckpt: Path, hash_kind: str) -> str:
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()[:10]
    if hash_kind == "legacy":
        with open(ckpt, "rb") as fh:
            fh.seek(0x100000)
            digest = hashlib.sha256(fh.read(0x10000)).hexdigest()[:8]
    name = "something_else" if hash_kind != "name" else "cyberrealistic_v60"
    digest = digest if hash_kind != "name" else "0000000000"
    return SLIDES.replace("43d0be1815", digest).replace("cyberrealistic_v60", name)


@pytest.mark.parametrize("hash_kind", ["autov2", "legacy", "name"])
def test_model_found_by_a1111_hash_or_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hash_kind: str
) -> None:
    models, ckpt = _registry(tmp_path)
    path = tmp_path / "slide.txt"
    path.write_text(_slides_for(ckpt, hash_kind), encoding="utf-8")
    recipe, err = _import(path, "--models", str(models), capsys=capsys)
    assert recipe["model"] == "cyber"
    assert "Model" not in err


def test_written_into_a_cue_keeping_comments_then_checked_and_planned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = write_show(tmp_path, SHOW)
    models, ckpt = _registry(show.parent)
    slide = _a1111_png(tmp_path / "slide.png", _slides_for(ckpt, "autov2"))
    assert main(["recipe", "import", str(slide), "--show", str(show), "--cue", "1.1"]) == 0
    assert "cue '1.1': generate: written" in capsys.readouterr().out
    text = show.read_text(encoding="utf-8")
    for kept in (
        "# The slides, remade.",
        "title: One   # the first poem",
        "# made from the artist's slide",
        "loras: []          # kept",
        "fade: 2.0",
    ):
        assert kept in text
    cue = yaml.safe_load(text)["poems"][0]["cues"][0]["generate"]
    assert cue["model"] == "cyber" and cue["prompt"].startswith("portrait of a woman")
    assert cue["refine"] == {"scale": 1.65, "steps": 10, "strength": 0.6, "guidance": 7.0}

    assert main(["check", str(show)]) in (0, 1)
    report = capsys.readouterr().out
    assert "generate." not in report, report  # the recipe breaks no rule

    assert main(["generate", str(show), "--dry-run", "--models", str(models)]) == 0
    plan = capsys.readouterr().out
    assert "2529697523" in plan  # the seed column
    assert (
        "recipe 1.1: scheduler DPM++ 2M Karras = DPMSolverMultistepScheduler("
        "algorithm_type='dpmsolver++', solver_order=2, use_karras_sigmas=True, "
        "use_exponential_sigmas=False, use_beta_sigmas=False)" in plan
    ), plan
    assert "first pass 512x768, 20 steps, CFG 4" in plan
    assert "hires x1.65 -> 840x1264, 10 steps, strength 0.6, CFG 7" in plan


def test_sde_exponential_import_planned(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    show = write_show(tmp_path, SHOW)
    models, _ = _registry(show.parent)
    text = tmp_path / "turbo.txt"
    text.write_text(TURBO + ", Model: cyberrealistic_v60", encoding="utf-8")
    assert main(["recipe", "import", str(text), "--show", str(show), "--cue", "1.1"]) == 0
    assert main(["generate", str(show), "--dry-run", "--models", str(models)]) == 0
    plan = capsys.readouterr().out
    assert "405868469" in plan
    assert "algorithm_type='sde-dpmsolver++'" in plan and "use_exponential_sigmas=True" in plan


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ('scheduler: "DPM++ 2S a"', "has no diffusers equivalent (closest: 'DPM++ SDE')"),
        ('scheduler: "Euler a Karras"', "takes no use_karras_sigmas (closest: 'Euler a'"),
        (
            "extra: {guidance_rescal: 0.7}",
            "generate.extra.guidance_rescal: StableDiffusionPipeline takes no argument "
            "'guidance_rescal' (did you mean 'guidance_rescale'?)",
        ),
    ],
)
def test_check_refuses_schedulers_and_extra_keys_before_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setting: str, message: str
) -> None:
    show = write_show(
        tmp_path,
        SHOW.replace("loras: []          # kept: the import does not set it", setting).replace(
            "prompt: to be replaced", "prompt: a cat\n          model: cyber"
        ),
    )
    _registry(show.parent)
    assert main(["check", str(show)]) == 1
    out = capsys.readouterr().out
    assert message in out, out


def test_no_torch_in_check(tmp_path: Path) -> None:
    show = write_show(
        tmp_path, SHOW.replace("prompt: to be replaced", "prompt: a cat\n          model: cyber")
    )
    _registry(show.parent)
    import subprocess

    code = (
        "import sys; from app.cli import main; main(['check', sys.argv[1]]); "
        "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(show)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert done.stdout.strip().splitlines()[-1] == "NO TORCH", done.stdout + done.stderr


def _flow_registry(folder: Path) -> Path:
    """A models.yaml naming a flow-matching 'model' folder (only its configs: enough for
    import and check, which read no weights)."""
    model = folder / "chroma"
    (model / "scheduler").mkdir(parents=True)
    (model / "model_index.json").write_text('{"_class_name": "ChromaPipeline"}')
    (model / "scheduler" / "scheduler_config.json").write_text(
        '{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 3.0}'
    )
    models = folder / "models.yaml"
    models.write_text("models:\n  chroma:\n    path: chroma\n    kind: t2i\n", encoding="utf-8")
    return models


def test_forge_euler_of_a_flow_model_is_flow_euler(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = _flow_registry(tmp_path)
    text = tmp_path / "forge.txt"
    text.write_text(
        "a pale laundress\nSteps: 26, Sampler: Euler, Schedule type: Simple, CFG scale: 4, "
        "Seed: 5, Size: 1024x1024, Model: chroma",
        encoding="utf-8",
    )
    recipe, err = _import(text, "--models", str(models), capsys=capsys)
    assert recipe["model"] == "chroma" and recipe["scheduler"] == "Flow Euler"
    assert "Sampler" not in err
    assert a1111.parse_scheduler("Flow Euler Simple").options == {}


def test_check_refuses_a_diffusion_sampler_on_a_flow_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = write_show(
        tmp_path,
        SHOW.replace(
            "prompt: to be replaced",
            'prompt: a cat\n          model: chroma\n          scheduler: "DPM++ 2M Karras"',
        ),
    )
    _flow_registry(show.parent)
    assert main(["check", str(show)]) == 1
    out = capsys.readouterr().out
    assert (
        "generate.scheduler: 'DPM++ 2M Karras' is a sampler of diffusion models; this model is "
        "a flow-matching model (FlowMatchEulerDiscreteScheduler) (closest: 'Flow Euler')" in out
    ), out


def test_docs_tables_are_the_code_tables() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "a1111.md").read_text(encoding="utf-8")
    between = doc.split("<!-- tables: begin -->\n")[1].split("<!-- tables: end -->")[0]
    assert between == a1111.markdown_tables(), "regenerate docs/a1111.md's tables"
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    short = readme.split("<!-- table:samplers -->\n")[1].split("\n<!-- /table:samplers -->")[0]
    assert short == a1111.readme_table(), "regenerate the README's sampler table"
    assert all(s.name in short for s in a1111.SAMPLERS + a1111.SCHEDULES)


def test_prompt_lora_tags_become_loras_when_registered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models, _ = _registry(tmp_path)
    (tmp_path / "add_detail.safetensors").write_bytes(b"0" * 64)
    models.write_text(
        models.read_text() + "  detail:\n    path: add_detail.safetensors\n    kind: lora\n"
    )
    text = tmp_path / "lora.txt"
    text.write_text(
        "a cat, <lora:add_detail:0.6>, <lora:unknown:1>\nSteps: 20, Sampler: Euler a, "
        "CFG scale: 7, Seed: 3, Size: 512x512, Model: cyberrealistic_v60",
        encoding="utf-8",
    )
    recipe, err = _import(text, "--models", str(models), capsys=capsys)
    assert recipe["loras"] == [{"name": "detail", "weight": 0.6}]
    assert recipe["prompt"] == "a cat"
    assert "not mapped: prompt <lora:unknown:1>: no such LoRA in models.yaml" in err
