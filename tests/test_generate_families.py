"""Every family the README claims renders through `generate`: tiny random pipelines of the
real diffusers classes (Chroma, Z-Image, SD3, Qwen-Image, SDXL, FLUX, Wan 2.2, LTX), CPU,
2 steps at 32-48 px. One show renders every family once per module (heavy: about half a
minute on a shared CPU); the other tests copy it or only check recipes."""

from __future__ import annotations

import functools
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requires
from PIL import Image

requires.module("torch")
diffusers = requires.module("diffusers")
requires.module("transformers")

from tiny_models import family_registry, write_show  # noqa: E402

from app.cli import main  # noqa: E402
from app.generate.manifest import Manifest  # noqa: E402
from app.generate.metadata import sidecar_path  # noqa: E402
from app.media.probe import probe  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.slow]

T2I = {  # cue id -> (model, the pipeline class its first pass runs, its img2img twin)
    "chroma": ("tiny-chroma", "ChromaPipeline", "ChromaImg2ImgPipeline"),
    "zimage": ("tiny-zimage", "ZImagePipeline", "ZImageImg2ImgPipeline"),
    "sd3": ("tiny-sd3", "StableDiffusion3Pipeline", "StableDiffusion3Img2ImgPipeline"),
    "qwen": ("tiny-qwen", "QwenImagePipeline", "QwenImageImg2ImgPipeline"),
    "sdxl": ("tiny-sdxl", "StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline"),
    "sdxlfile": ("tiny-sdxl-file", "StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline"),
    "flux": ("tiny-flux", "FluxPipeline", "FluxImg2ImgPipeline"),
}
_MSL = "extra: {max_sequence_length: 16}"
_CUE_EXTRA = {"sdxl": "", "sdxlfile": "", "flux": f'negative_prompt: "", {_MSL}'}
# Images per call of each class, in plan order: a sweep of two in one call, then the cue's
# own seed alone (first pass, then refine). Two SDXL cues (folder, single file) and the
# refiner cue (its base pass) share the SDXL classes.
CALLS = {name: [2, 1] for _, name, _ in T2I.values()} | {
    twin: [2, 1] for _, _, twin in T2I.values()
}
CALLS["StableDiffusionXLPipeline"] = [2, 1, 2, 1, 1]
CALLS["StableDiffusionXLImg2ImgPipeline"] = [2, 1, 2, 1, 1]
SHOW = (
    """
title: Families
output: {width: 64, height: 64, fps: 8}
generate: {steps: 2, width: 48, height: 48, guidance: 4.0, negative_prompt: "blurry",
           refine: {scale: 1.5, strength: 0.5, steps: 2}, fps: 8, frames: 9}
poems:
  - id: "1"
    title: One
    cues:
"""
    + "".join(
        f"""      - id: {cue}
        media: f/{cue}.png
        generate: {{model: {model}, prompt: "a moon over water", seed: 3, seeds: [3, 4],
                   {_CUE_EXTRA.get(cue, _MSL)}}}
"""
        for cue, (model, _, _) in T2I.items()
    )
    + f"""      - id: refiner
        media: f/refiner.png
        generate: {{model: tiny-sdxl-refined, prompt: "a moon over water", seed: 3}}
      - id: ltx
        media: f/ltx.mp4
        generate: {{model: tiny-ltx, from: chroma, prompt: "slow zoom", width: 32, height: 32,
                   refine: null, {_MSL}}}
      - id: wan
        media: f/wan.mp4
        generate: {{model: tiny-wan, from: chroma, last_from: zimage, prompt: "slow zoom",
                   width: 16, height: 16, frames: 5, refine: null, {_MSL}}}
"""
)
WATCHED = (
    *(c for _, c, _ in T2I.values()),
    *(t for _, _, t in T2I.values()),
    "LTXImageToVideoPipeline",
    "WanImageToVideoPipeline",
)


class Calls:
    """Records the calls of pipeline classes: (class name, selected keyword arguments)."""

    def __init__(self, mp: pytest.MonkeyPatch, names: tuple[str, ...]) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail: set[str] = set()
        for name in set(names):
            cls = getattr(diffusers, name)
            mp.setattr(cls, "__call__", self._wrap(name, cls.__call__))

    def _wrap(self, name: str, real: Any) -> Any:
        @functools.wraps(real)  # the backend reads the pipeline's signature through it
        def call(pipe: Any, *args: Any, **kwargs: Any) -> Any:
            if type(pipe).__name__ != name:  # a subclass call is recorded under its own name
                return real(pipe, *args, **kwargs)
            gens = kwargs.get("generator")
            self.calls.append(
                (
                    name,
                    {
                        "images": len(gens) if isinstance(gens, list) else 1,
                        **{
                            k: kwargs.get(k)
                            for k in ("frame_rate", "true_cfg_scale", "guidance_scale")
                        },
                    },
                )
            )
            if name in self.fail:
                raise RuntimeError(f"{name} failed on purpose")
            return real(pipe, *args, **kwargs)

        return call

    def count(self, name: str) -> int:
        """How many calls `name` got."""
        return sum(1 for n, _ in self.calls if n == name)

    def of(self, name: str) -> list[dict[str, Any]]:
        """The recorded arguments of each call of `name`."""
        return [kw for n, kw in self.calls if n == name]


def _gen(show: Path, *extra: str) -> int:
    return main(
        ["generate", str(show), "--device", "cpu", "--models", str(family_registry()), *extra]
    )


def _pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Calls]]:
    """The family show rendered once (sweeps batched by two, each cue's own seed single)."""
    root = tmp_path_factory.mktemp("families")
    show = write_show(root, SHOW)
    with pytest.MonkeyPatch.context() as mp:
        calls = Calls(mp, WATCHED)
        assert _gen(show, "--batch", "2", "--force") == 0  # --force: no copy of seed 3
    yield root, calls


def _media(root: Path) -> Path:
    return root / "media" / "f"


def test_every_family_makes_its_image_and_refines_it(rendered: tuple[Path, Calls]) -> None:
    root, calls = rendered
    manifest = Manifest.load(root / "media")
    for cue, (_, base, _) in T2I.items():
        out = _media(root) / f"{cue}.png"
        assert Image.open(out).size == (48, 48), cue
        info = manifest.get(out)["info"]
        assert info["pipeline"] == base and info["generated_size"] == [32, 32], cue
        assert info["refined"]["strength"] == 0.5, cue
    for name, expected in CALLS.items():
        assert [kw["images"] for kw in calls.of(name)] == expected, name
    # Qwen-Image's CFG is true_cfg_scale (with the negative prompt), the others' guidance_scale
    assert all(kw["true_cfg_scale"] == 4.0 for kw in calls.of("QwenImagePipeline"))
    assert all(kw["guidance_scale"] is None for kw in calls.of("QwenImagePipeline"))
    assert all(kw["guidance_scale"] == 4.0 for kw in calls.of("ChromaPipeline"))


def test_batched_sweep_equals_single_render_and_seeds_differ(
    rendered: tuple[Path, Calls],
) -> None:
    root, _ = rendered
    variations = root / "media" / ".generate" / "variations"
    for cue in T2I:
        single = _pixels(_media(root) / f"{cue}.png")
        batched = _pixels(variations / cue / "seed-3.png")
        other = _pixels(variations / cue / "seed-4.png")
        assert np.abs(single - batched).max() <= 2, cue  # same seed, two calls, same image
        assert np.abs(single - other).max() > 8, cue  # another seed, another image


def test_single_file_and_refiner_model(rendered: tuple[Path, Calls]) -> None:
    root, _ = rendered
    manifest = Manifest.load(root / "media")
    # the single-file checkpoint holds the folder model's weights: the same image
    assert np.array_equal(
        _pixels(_media(root) / "sdxl.png"), _pixels(_media(root) / "sdxlfile.png")
    )
    out = _media(root) / "refiner.png"
    entry = manifest.get(out)
    assert entry["info"]["refiner"] == "tiny-sdxl-refiner"
    assert entry["recipe"]["model"]["refiner"]["files"]
    # the same base model and seed refined by the model itself looks different
    assert np.abs(_pixels(out) - _pixels(_media(root) / "sdxl.png")).max() > 8


def test_videos_get_their_family_rate_and_frames(rendered: tuple[Path, Calls]) -> None:
    root, calls = rendered
    assert [kw["frame_rate"] for kw in calls.of("LTXImageToVideoPipeline")] == [24]
    assert calls.count("WanImageToVideoPipeline") == 1
    for cue, frames, size, rate in (("ltx", 9, 32, 24), ("wan", 5, 16, 8)):
        clip = probe(_media(root) / f"{cue}.mp4")
        assert clip.error is None and (clip.width, clip.height) == (size, size), cue
        side = json.loads(sidecar_path(_media(root) / f"{cue}.mp4").read_text())
        assert side["info"]["frames"] == frames and side["info"]["model_fps"] == rate, cue
    wan = json.loads(sidecar_path(_media(root) / "wan.mp4").read_text())
    assert set(wan["recipe"]["inputs"]) == {"from", "last_from"}


def test_videos_are_deterministic_per_seed(rendered: tuple[Path, Calls], tmp_path: Path) -> None:
    import av

    root, _ = rendered
    shutil.copytree(root, tmp_path / "copy")
    media = _media(tmp_path / "copy")
    for cue in ("ltx", "wan"):
        (media / f"{cue}.mp4").unlink()
    assert _gen(tmp_path / "copy" / "show" / "show.yaml") == 0

    def frames(path: Path) -> np.ndarray:
        with av.open(str(path)) as box:
            return np.stack([f.to_ndarray(format="rgb24") for f in box.decode(video=0)])

    for cue in ("ltx", "wan"):
        assert np.array_equal(frames(media / f"{cue}.mp4"), frames(_media(root) / f"{cue}.mp4"))


def test_a_failed_refine_never_reruns_its_base(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    show = write_show(
        tmp_path,
        SHOW.split("      - id: chroma")[0]
        + f"""      - id: chroma
        media: f/chroma.png
        generate: {{model: tiny-chroma, prompt: "a pale laundress", seed: 5, {_MSL}}}
""",
    )
    calls = Calls(monkeypatch, ("ChromaPipeline", "ChromaImg2ImgPipeline"))
    calls.fail.add("ChromaImg2ImgPipeline")
    assert _gen(show) == 1
    assert "ChromaImg2ImgPipeline failed on purpose" in capsys.readouterr().err
    assert (calls.count("ChromaPipeline"), calls.count("ChromaImg2ImgPipeline")) == (1, 1)
    assert not (_media(tmp_path) / "chroma.png").exists()

    calls.fail.clear()
    assert _gen(show) == 0  # the base pass comes from the step cache
    assert (calls.count("ChromaPipeline"), calls.count("ChromaImg2ImgPipeline")) == (1, 2)
    first = _pixels(_media(tmp_path) / "chroma.png")

    show.write_text(show.read_text().replace("strength: 0.5", "strength: 0.9"))
    assert _gen(show) == 0  # a changed refine setting reuses the base too
    assert (calls.count("ChromaPipeline"), calls.count("ChromaImg2ImgPipeline")) == (1, 3)
    assert not np.array_equal(first, _pixels(_media(tmp_path) / "chroma.png"))
    info = Manifest.load(tmp_path / "media").get(_media(tmp_path) / "chroma.png")["info"]
    assert info["base_from_cache"] == 1


# --- recipes a family cannot make: refused before anything renders ---------------------

BAD = """
title: Bad
generate: {steps: 2, width: 48, height: 48, guidance: 4.0, fps: 8, frames: 9}
poems:
  - id: "1"
    title: One
    cues:
      - id: still
        media: f/still.png
        generate: {model: tiny-chroma, prompt: "a moon"}
      - id: odd-size
        media: f/odd.mp4
        generate: {model: tiny-ltx, from: still, width: 48, height: 48}
      - id: last
        media: f/last.mp4
        generate: {model: tiny-ltx, from: still, last_from: still, width: 32, height: 32,
                   frames: 10}
      - id: negative
        media: f/negative.png
        generate: {model: tiny-flux, prompt: "a moon", negative_prompt: "blurry"}
      - id: no-twin
        media: f/no-twin.png
        generate: {model: flux2, prompt: "a moon", refine: {scale: 1.5}}
"""


@pytest.fixture
def bad_show(tmp_path: Path) -> Path:
    """BAD written with a models.yaml beside it: the family registry plus a FLUX.2 entry
    (only its model_index.json: the rules read no weights)."""
    show = write_show(tmp_path, BAD)
    flux2 = tmp_path / "flux2"
    flux2.mkdir()
    (flux2 / "model_index.json").write_text('{"_class_name": "Flux2Pipeline"}')
    registry = family_registry().read_text()
    root = family_registry().parent
    (show.parent / "models.yaml").write_text(
        f"root: {root}\n" + registry + f"  flux2: {{path: {flux2}, kind: t2i, dtype: float32}}\n"
    )
    return show


EXPECTED = (
    "cue 'odd-size': generate.width/height: LTX-Video makes sizes that are multiples of 32; "
    "the generation size is 48x48 (nearest: 64x64)",
    "cue 'last': generate.frames: LTX-Video makes 8n+1 frames (e.g. 9 or 17), got 10",
    "cue 'last': generate.last_from: LTX-Video takes no last frame",
    "cue 'negative': generate.negative_prompt: FLUX.1 is guidance-distilled and ignores a "
    "negative prompt",
    "cue 'no-twin': generate.refine: FLUX.2 has no image-to-image pipeline in diffusers",
)


def test_check_names_cue_family_and_rule(
    bad_show: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(bad_show)]) == 1
    out = capsys.readouterr().out
    for text in EXPECTED:
        assert text in out, text
    assert f"{bad_show}:" in out


def test_dry_run_and_generate_refuse_before_rendering(
    bad_show: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for extra in (["--dry-run"], []):
        assert main(["generate", str(bad_show), "--device", "cpu", *extra]) == 2
        err = capsys.readouterr().err
        for text in EXPECTED:
            assert text in err, text
    assert not (bad_show.parent.parent / "media").exists()
