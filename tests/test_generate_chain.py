"""The image chain through `generate`: LoRAs, weighted prompts, learned upscale, refine, edit,
`kind: edit` feeding a `last_from:`, and ml-sharp splat scenes from a stub `sharp` tool.

Tiny random models are built in the test (SDXL, FLUX Kontext, Wan, Depth Anything, a 1-block
ESRGAN, a peft LoRA); everything runs on the CPU at 16-64 px with 2 steps, but the paper's
chain at its real sizes (1280x720 upscaled to 2560x1440) on models whose VAEs downscale by 8
and 16 and a Real-ESRGAN Compact upscaler.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
import requires
import yaml
from PIL import Image

torch = requires.module("torch")
requires.module("diffusers")
requires.module("peft")
requires.module("compel")

from test_generate_upscale import tiny_esrgan  # noqa: E402
from tiny_models import tiny_registry, write_show  # noqa: E402

from app.cli import main  # noqa: E402
from app.generate.metadata import read_png_metadata, sidecar_path  # noqa: E402
from app.media.splats import load_splats  # noqa: E402
from app.render.camera import base_view  # noqa: E402

pytestmark = pytest.mark.torch

STUB_SHARP = r'''#!{python}
"""A stand-in for ml-sharp's `sharp predict`: writes its PLY layout for the input image."""
import argparse, os, sys
from pathlib import Path
import numpy as np
from PIL import Image

p = argparse.ArgumentParser()
p.add_argument("command")
p.add_argument("-i", required=True)
p.add_argument("-o", required=True)
p.add_argument("-c", required=True)
p.add_argument("--device", default="default")
a = p.parse_args()
Path(os.environ["STUB_SHARP_LOG"]).write_text(" ".join(sys.argv[1:]))
if os.environ.get("STUB_SHARP_MODE") == "fail":
    print("CUDA error: out of memory", file=sys.stderr)
    sys.exit(3)
if os.environ.get("STUB_SHARP_MODE") == "silent":
    sys.exit(0)
w, h = Image.open(a.i).size
f = 0.9 * w
n = 8 * 6
ys, xs = np.mgrid[0:6, 0:8]
z = np.full(n, 3.0, np.float32)
x = ((xs.ravel() + 0.5) * w / 8 - w / 2) / f * z
y = ((ys.ravel() + 0.5) * h / 6 - h / 2) / f * z
v = np.zeros(n, dtype=[(k, "<f4") for k in ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2",
    "opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]])
v["x"], v["y"], v["z"] = x, y, z
v["f_dc_0"] = 1.0
v["opacity"] = 2.0
v["scale_0"] = v["scale_1"] = v["scale_2"] = np.log(0.05)
v["rot_0"] = 1.0
extras = [("extrinsic", "float", "<f4", np.eye(4).ravel()),
          ("intrinsic", "float", "<f4", np.array([f, 0, w / 2, 0, f, h / 2, 0, 0, 1])),
          ("image_size", "uint", "<u4", np.array([w, h])),
          ("frame", "int", "<i4", np.array([1, n])),
          ("disparity", "float", "<f4", np.array([0.3, 0.34])),
          ("color_space", "uchar", "u1", np.array([0])),
          ("version", "uchar", "u1", np.array([1, 5, 0]))]
head = ["ply", "format binary_little_endian 1.0", f"element vertex {{n}}"]
head += [f"property float {{k}}" for k in v.dtype.names]
for name, t, _, vals in extras:
    head += [f"element {{name}} {{vals.size}}", f"property {{t}} {{name}}"]
out = Path(a.o) / (Path(a.i).stem + ".ply")
with open(out, "wb") as fh:
    fh.write(("\n".join(head + ["end_header"]) + "\n").encode())
    fh.write(v.tobytes())
    for _, _, dt, vals in extras:
        fh.write(vals.astype(dt).tobytes())
'''


def _lora(folder: Path, family: str) -> Path:
    """A LoRA made with peft on a tiny model (random, non-zero up weights), saved the way
    diffusers saves them."""
    from peft import LoraConfig, get_peft_model_state_dict
    from tiny_builders import tiny_flux

    from app.bench.tiny import tiny_sdxl

    torch.manual_seed(1)
    config = LoraConfig(
        r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v"], init_lora_weights=False
    )
    if family == "sdxl":
        pipe = tiny_sdxl()
        pipe.unet.add_adapter(config)
        layers = {"unet_lora_layers": get_peft_model_state_dict(pipe.unet)}
    else:
        pipe = tiny_flux()
        pipe.transformer.add_adapter(config)
        layers = {"transformer_lora_layers": get_peft_model_state_dict(pipe.transformer)}
    type(pipe).save_lora_weights(str(folder), safe_serialization=True, **layers)
    return folder / "pytorch_lora_weights.safetensors"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """models.yaml with the tiny models plus a Kontext editor, an ESRGAN, LoRAs and ml-sharp
    entries (a stub tool, a missing tool with a depth fallback, a missing one without)."""
    from tiny_builders import save_tiny

    folder = tmp_path_factory.mktemp("chain-models")
    base = tiny_registry()
    models = yaml.safe_load(base.read_text())["models"]
    for entry in models.values():
        entry["path"] = str(base.parent / entry["path"])
    save_tiny("kontext", folder / "tiny-kontext")
    stub = folder / "sharp"
    stub.write_text(STUB_SHARP.format(python=sys.executable))
    stub.chmod(stub.stat().st_mode | stat.S_IXUSR)
    (folder / "sharp.pt").write_bytes(b"stub checkpoint")
    models.update(
        {
            "tiny-kontext": {"path": "tiny-kontext", "kind": "edit", "dtype": "float32"},
            "tiny-esrgan": {
                "path": str(tiny_esrgan(folder / "esrgan.safetensors")),
                "kind": "upscale",
            },
            "sdxl-lora": {"path": str(_lora(folder / "l1", "sdxl")), "kind": "lora"},
            "flux-lora": {"path": str(_lora(folder / "l2", "flux")), "kind": "lora"},
            "ml-sharp": {
                "path": "sharp.pt",
                "kind": "sharp",
                "tool": str(stub),
                "licence": "research only",
            },
            "sharp-absent": {
                "path": "sharp.pt",
                "kind": "sharp",
                "tool": "/nonexistent/sharp",
                "fallback": "tiny-depth",
            },
            "sharp-nowhere": {"path": "sharp.pt", "kind": "sharp", "tool": "/nonexistent/sharp"},
        }
    )
    path = folder / "models.yaml"
    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    return path


def _gen(show: Path, registry: Path, *extra: str) -> int:
    return main(["generate", str(show), "--device", "cpu", "--models", str(registry), *extra])


def _px(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


LORA_SHOW = """
generate: {model: tiny-sdxl, steps: 2, width: 32, height: 32, prompt: "a moon", seed: 3}
poems:
  - id: "1"
    cues:
      - {id: plain, media: l/plain.png, generate: {}}
      - {id: full, media: l/full.png, generate: {loras: [{name: sdxl-lora, weight: 1.0}]}}
      - {id: half, media: l/half.png, generate: {loras: [{name: sdxl-lora, weight: 0.5}]}}
      - {id: zero, media: l/zero.png, generate: {loras: [{name: sdxl-lora, weight: 0}]}}
      - {id: weighted, media: l/weighted.png, generate: {prompt: "a (moon:1.6), [sea]"}}
"""


def test_lora_weights_change_the_image_without_reloading(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from diffusers import StableDiffusionXLPipeline

    loads = []
    original = StableDiffusionXLPipeline.from_pretrained.__func__

    def counting(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(args[0])
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(StableDiffusionXLPipeline, "from_pretrained", classmethod(counting))
    show = write_show(tmp_path, LORA_SHOW)
    assert _gen(show, registry) == 0
    assert len(loads) == 1  # one pipeline for all five cues, LoRA on, re-weighted, off
    media = tmp_path / "media" / "l"
    plain, full, half, zero = (_px(media / f"{n}.png") for n in ("plain", "full", "half", "zero"))
    d_full, d_half = np.abs(full - plain).mean(), np.abs(half - plain).mean()
    assert d_full > 0.5 and d_half > 0.2 and abs(d_full - d_half) > 0.2
    assert np.abs(zero - plain).max() <= 1  # weight 0 is no LoRA
    assert not np.array_equal(_px(media / "weighted.png"), plain)
    recipe = json.loads(read_png_metadata(media / "full.png")["generate_recipe"])
    assert recipe["loras"] == [["sdxl-lora", 1.0]]
    assert recipe["model"]["loras"][0]["files"]  # the LoRA file's identity is in the key
    parameters = read_png_metadata(media / "full.png")["parameters"]
    assert (
        'Lora weights: "sdxl-lora: 1"' in parameters and 'Lora hashes: "sdxl-lora: ' in parameters
    )
    # The recipe without LoRAs keeps the hash it had before LoRAs existed.
    assert "loras" not in json.loads(read_png_metadata(media / "plain.png")["generate_recipe"])


def test_weighted_prompt_changes_the_conditioning() -> None:
    from app.bench.tiny import tiny_sdxl
    from app.generate.chain.prompt_weights import WeightedEncoder

    encoder = WeightedEncoder(tiny_sdxl())
    weighted = encoder.encode("a moon, (messy hair:1.4)", "blurry")
    same = encoder.encode("a moon, (messy hair:1.0)", "blurry")
    broken = encoder.encode("a moon BREAK messy hair", "blurry")
    diff = (weighted["prompt_embeds"] - same["prompt_embeds"]).abs()
    assert float(diff.max()) > 1e-3
    assert torch.equal(weighted["negative_prompt_embeds"], same["negative_prompt_embeds"])
    assert weighted["prompt_embeds"].shape == (1, 77, 64)
    assert broken["prompt_embeds"].shape == (1, 154, 64)  # one 77-token chunk per part
    assert broken["negative_prompt_embeds"].shape == (1, 154, 64)


def test_bad_loras_and_weights_are_refused_before_rendering(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = LORA_SHOW.replace("name: sdxl-lora, weight: 0.5", "name: flux-lora, weight: 0.5")
    text = text.replace("name: sdxl-lora, weight: 0}", "name: tiny-esrgan}")
    text = text.replace('prompt: "a (moon:1.6), [sea]"', 'model: tiny-flux, prompt: "(moon:2)"')
    text = text.replace(
        "media: l/plain.png, generate: {}", "media: l/plain.png, generate: {model: tiny-kontext}"
    )
    show = write_show(tmp_path, text)
    assert _gen(show, registry) == 2
    err = capsys.readouterr().err
    assert "cue 'half': generate.loras: LoRA 'flux-lora'" in err
    assert "is for a TRANSFORMER model; StableDiffusionXLPipeline has a unet" in err
    assert "l2/pytorch_lora_weights.safetensors" in err
    assert "cue 'zero': generate.loras: 'tiny-esrgan': model 'tiny-esrgan' is a upscale" in err
    assert "cue 'weighted': generate.prompt uses A1111 weights or BREAK, which FluxPipeline" in err
    assert "cue 'plain': model 'tiny-kontext' is a edit model (instruction edit); image " in err
    assert not (tmp_path / "media").exists()


CHAIN_SHOW = """
generate: {steps: 2, guidance: 4.0, fps: 8, frames: 5}
poems:
  - id: "14"
    title: Die Kreuze
    cues:
      - id: "14.1"
        media: c/14.1.png
        generate:
          model: tiny-sdxl
          prompt: "white crosses"
          seed: 5
          width: 64
          height: 64
          upscale: {model: tiny-esrgan, scale: 2, tile: 16, overlap: 8}
          refine: {strength: 0.5, steps: 2}
          edit: {model: tiny-kontext, prompt: "remove the square texture", steps: 2,
                 guidance: 2.5}
      - id: "14.2"
        media: c/14.2.png
        generate: {kind: edit, model: tiny-kontext, from: "14.1", width: 32, height: 32,
                   prompt: "Keep image 1 exactly as it is except: night falls"}
      - id: "14.3"
        media: c/14.3.mp4
        generate: {model: tiny-wan, from: "14.1", last_from: "14.2", prompt: "dusk",
                   width: 16, height: 16, extra: {max_sequence_length: 16}}
"""


def test_chain_generate_upscale_refine_edit_then_nothing(
    registry: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import app.generate.chain.stages as chain

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the editor broke")

    # The chain fails at its last step: the cue is named, the steps before it are kept.
    show = write_show(tmp_path, CHAIN_SHOW)
    with monkeypatch.context() as patch:
        patch.setattr(chain.Chain, "edit_images", broken)
        assert _gen(show, registry) == 1
    err = capsys.readouterr().err
    assert "cue '14.1'" in err and "step edited failed: RuntimeError: the editor broke" in err
    assert "not made: it needs '14.1'" in err  # the edit cue and the clip wait for it
    assert _gen(show, registry) == 0
    assert "generate: 3 rendered, 0 copied, 0 already current" in capsys.readouterr().out
    media = tmp_path / "media" / "c"
    manifest = json.loads((tmp_path / "media" / ".generate" / "manifest.json").read_text())
    info = manifest["outputs"]["c/14.1.png"]["info"]
    assert info["base_from_cache"] == 1 and info["upscaled_from_cache"] == 1
    assert info["refined_from_cache"] == 1  # the re-run resumed at the edit
    assert Image.open(media / "14.1.png").size == (64, 64)
    recipe = json.loads(read_png_metadata(media / "14.1.png")["generate_recipe"])
    assert recipe["model"]["upscaler"] and recipe["model"]["edit_model"]
    manifest = json.loads((tmp_path / "media" / ".generate" / "manifest.json").read_text())
    entry = manifest["outputs"]["c/14.1.png"]
    assert entry["info"]["upscaler"] == "tiny-esrgan" and entry["info"]["edited"]
    steps = [Path(p).name for p in entry["steps"]]
    assert steps == ["1-base.jpg", "2-upscaled.jpg", "3-refined.jpg", "4-edited.jpg"]
    sizes = [Image.open(tmp_path / "media" / p).size for p in entry["steps"]]
    assert sizes == [(32, 32), (64, 64), (64, 64), (64, 64)]
    edited = read_png_metadata(media / "14.2.png")
    assert "Seed: 0" in edited["parameters"] and Image.open(media / "14.2.png").size == (32, 32)
    side = json.loads(sidecar_path(media / "14.3.mp4").read_text())
    assert set(side["recipe"]["inputs"]) == {"from", "last_from"}  # the edit made the end frame

    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "media").rglob("*") if p.is_file()}
    assert _gen(show, registry) == 0
    assert "generate: 0 rendered, 0 copied, 3 already current" in capsys.readouterr().out
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "media").rglob("*") if p.is_file()}
    assert {p: t for p, t in after.items() if p.name != "lock"} == {
        p: t for p, t in before.items() if p.name != "lock"
    }

    # A sweep of the chained cue: its contact sheet shows each step of each seed.
    code = main(
        ["variations", str(show), "14.1", "--seeds", "8,", "--device", "cpu"]
        + ["--models", str(registry)]
    )
    assert code == 0
    folder = tmp_path / "media" / ".generate" / "variations" / "14.1"
    thumbs = sorted(p.name for p in (folder / "thumbs").iterdir())
    assert thumbs == [f"seed-8-{s}.jpg" for s in ("base", "edited", "refined", "upscaled")]
    page = (folder / "index.html").read_text()
    assert page.index("base") < page.index("upscaled") < page.index("refined")


SPLAT_SHOW = """
poems:
  - id: "3"
    title: Der Dandy
    cues:
      - {id: "3.1", media: s/room.png}
      - id: "3.2"
        media: s/room.ply
        generate: {kind: splat, model: ml-sharp, from: "3.1"}
"""


def _splat_show(tmp_path: Path, model: str = "ml-sharp") -> Path:
    show = write_show(tmp_path, SPLAT_SHOW.replace("model: ml-sharp", f"model: {model}"))
    (tmp_path / "media" / "s").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(
        tmp_path / "media" / "s" / "room.png"
    )
    return show


def test_ml_sharp_stub_makes_the_scene_with_its_camera(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "sharp-args.txt"
    monkeypatch.setenv("STUB_SHARP_LOG", str(log))
    show = _splat_show(tmp_path)
    assert _gen(show, registry) == 0
    args = log.read_text().split()
    assert args[0] == "predict" and args[args.index("-c") + 1].endswith("sharp.pt")
    assert args[args.index("--device") + 1] == "cpu"
    ply = tmp_path / "media" / "s" / "room.ply"
    scene = load_splats(ply)
    assert scene.kind == "mlsharp" and scene.count == 48
    fx, fy, cx, cy, w, h = scene.intrinsics
    assert (w, h) == (64, 48) and math.isclose(fx, 0.9 * 64, rel_tol=1e-5)
    view = base_view(scene, None, 64, 48)  # the runtime camera starts from the photo's
    assert math.isclose(view.fy, fy, rel_tol=1e-5)
    assert math.isclose(view.fov_y, math.degrees(2 * math.atan(24 / fy)), rel_tol=1e-5)
    side = json.loads(sidecar_path(ply).read_text())
    assert side["info"]["maker"] == "ml-sharp" and side["recipe"]["model"]["maker"] == "ml-sharp"
    assert not list(ply.parent.glob(".*sharp*"))  # no temporary files left behind


def test_ml_sharp_failing_names_the_cue_and_keeps_nothing(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("STUB_SHARP_LOG", str(tmp_path / "log"))
    show = _splat_show(tmp_path)
    for mode, said in (("fail", "failed (exit 3); it said: CUDA error"), ("silent", "no PLY")):
        monkeypatch.setenv("STUB_SHARP_MODE", mode)
        assert _gen(show, registry) == 1
        err = capsys.readouterr().err
        assert "cue '3.2'" in err and "ml-sharp" in err and said in err
        assert not (tmp_path / "media" / "s" / "room.ply").exists()


def test_ml_sharp_missing_falls_back_to_depth_and_says_so(
    registry: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = _splat_show(tmp_path, "sharp-absent")
    assert _gen(show, registry, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "ml-sharp (model 'sharp-absent') is not installed" in out
    assert "git clone https://github.com/apple/ml-sharp" in out and "'tiny-depth'" in out
    assert _gen(show, registry) == 0
    ply = tmp_path / "media" / "s" / "room.ply"
    assert json.loads(sidecar_path(ply).read_text())["info"]["fallback_for"] == "sharp-absent"
    assert load_splats(ply).intrinsics is not None

    shutil.copy(registry, tmp_path / "models.yaml")  # `check` finds it next to the show
    assert main(["check", str(show)]) == 0
    assert "ml-sharp (model 'sharp-absent') is not installed" in capsys.readouterr().out

    nowhere = _splat_show(tmp_path / "b", "sharp-nowhere")
    assert _gen(nowhere, registry) == 2
    assert "give the entry a depth `fallback:`" in capsys.readouterr().err
    os.environ.pop("STUB_SHARP_MODE", None)


PAPER_SHOW = """
generate: {steps: 2, guidance: 1.0}
poems:
  - id: "14"
    title: Die Kreuze
    cues:
      - id: "14.1"
        media: c/14.1.png
        generate:
          model: tiny-sdxl-fullsize
          prompt: "white crosses on a hill"
          seed: 5
          width: 2560
          height: 1440
          upscale: {model: tiny-compact, scale: 2, tile: 320, overlap: 16}
          refine: {strength: 0.5, steps: 2}
          edit: {model: tiny-kontext-fullsize, prompt: "make the sky darker", steps: 2,
                 guidance: 2.5}
"""


@pytest.fixture(scope="module")
def fullsize_registry(registry: Path) -> Path:
    """The chain registry plus tiny SDXL and Kontext models whose VAEs downscale by 8, so the
    paper's sizes (1280x720, upscaled to 2560x1440) run on a CPU."""
    from tiny_builders import save_tiny, save_tiny_esrgan

    models = yaml.safe_load(registry.read_text())["models"]
    for name in ("sdxl-fullsize", "kontext-fullsize"):
        save_tiny(name, registry.parent / f"tiny-{name}")
    models["tiny-sdxl-fullsize"] = {
        **models["tiny-sdxl"],
        "path": str(registry.parent / "tiny-sdxl-fullsize"),
    }
    models["tiny-kontext-fullsize"] = {
        "path": str(registry.parent / "tiny-kontext-fullsize"),
        "kind": "edit",
        "dtype": "float32",
    }
    compact = save_tiny_esrgan(registry.parent / "compact.safetensors", arch="compact")
    models["tiny-compact"] = {"path": str(compact), "kind": "upscale"}
    path = registry.parent / "fullsize.yaml"
    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False))
    return path


def test_the_papers_chain_at_full_size_then_nothing(
    fullsize_registry: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Generate 1280x720 -> learned upscale x2 -> refine -> edit, in one `generate` call, each
    step taking the one before's image; a second call does nothing."""
    import app.generate.chain.stages as chain

    seen: list[tuple[str, list[bytes], list[bytes], tuple[int, int]]] = []
    run_step = chain._run_step

    def spy(label: str, what: dict, make: object, todo: list[int], images: list) -> list:
        made = run_step(label, what, make, todo, images)
        seen.append(
            (label, [i.tobytes() for i in images], [m.tobytes() for m in made], images[0].size)
        )
        return made

    monkeypatch.setattr(chain, "_run_step", spy)
    show = write_show(tmp_path, PAPER_SHOW)
    assert _gen(show, fullsize_registry) == 0
    assert "generate: 1 rendered, 0 copied, 0 already current" in capsys.readouterr().out
    assert [(label, size) for label, _, _, size in seen] == [
        ("upscaled", (1280, 720)),
        ("refined", (2560, 1440)),
        ("edited", (2560, 1440)),
    ]
    for (_, _, made, _), (_, given, _, _) in zip(seen, seen[1:], strict=False):
        assert given == made  # each step works on the image the step before made
    media = tmp_path / "media" / "c" / "14.1.png"
    final = Image.open(media).convert("RGB")
    assert final.size == (2560, 1440) and final.tobytes() == seen[-1][2][0]
    entry = json.loads((tmp_path / "media" / ".generate" / "manifest.json").read_text())
    entry = entry["outputs"]["c/14.1.png"]
    assert entry["info"]["upscaler"] == "tiny-compact"
    assert entry["info"]["edited"] == "tiny-kontext-fullsize"
    steps = [Path(p).name for p in entry["steps"]]
    assert steps == ["1-base.jpg", "2-upscaled.jpg", "3-refined.jpg", "4-edited.jpg"]

    seen.clear()
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "media").rglob("*") if p.is_file()}
    assert _gen(show, fullsize_registry) == 0
    assert "generate: 0 rendered, 0 copied, 1 already current" in capsys.readouterr().out
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "media").rglob("*") if p.is_file()}
    assert seen == []
    assert {p: t for p, t in after.items() if p.name != "lock"} == {
        p: t for p, t in before.items() if p.name != "lock"
    }
