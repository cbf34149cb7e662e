"""The model families we claim, in one table: their twins and the rules their pipelines keep.

A family groups the diffusers pipeline classes of one model architecture: the text-to-image
(or image-to-video) class, and the image-to-image and inpaint "twins" that share its loaded
components through `from_pipe`. Each family also says what its pipelines accept: the
multiple its generation sizes must be, the frame-count rule of a video model, its native frame
rate and the call argument that carries it, how guidance works (true classifier-free
guidance with a negative prompt, `true_cfg_scale`, or a distilled model that ignores both),
and whether it takes a last frame. `recipe_problems` checks a recipe against these rules
before anything renders (`check`, `generate --dry-run`, `generate`); the diffusers backend
reads the same table when it calls a pipeline.

Pure data and functions: no torch or diffusers import (model_index.json is read as JSON).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from app.generate.a1111 import first_pass_side
from app.generate.registry import ModelEntry
from app.show.model import GenerateSpec, MediaKind

# Guidance styles: how a recipe's `guidance` and `negative_prompt` reach the pipeline.
CFG = "cfg"  # guidance_scale, true CFG above 1: a negative prompt is used only then
TRUE_CFG = "true_cfg"  # guidance goes to true_cfg_scale; CFG runs only with a negative prompt
DISTILLED = "distilled"  # guidance_scale is an embedded (distilled) guidance; no negative


@dataclass(frozen=True)
class Family:
    """One model family: its pipeline classes and the rules they keep."""

    name: str  # how messages and the README name it
    kind: str  # t2i | i2v (the registry kind its base class serves)
    classes: tuple[str, ...]  # diffusers classes of the family, the base class first
    img2img: str | None = None  # refine: and image recipes with from:
    inpaint: str | None = None
    size_multiple: int = 16  # generation width and height must be multiples of this
    frame_step: int | None = None  # video: frames = frame_step * n + 1
    native_fps: float | None = None  # video: the rate the model was trained at
    fps_argument: str | None = None  # video: the call argument that carries the rate
    guidance: str = CFG
    last_frame: bool = False  # video: takes a last frame (last_from:)
    tested: str = ""  # what the test suite renders with tiny random weights (README)

    def twin(self, role: str) -> str | None:
        """The class name of the family's `role` twin ('img2img' or 'inpaint')."""
        return {"img2img": self.img2img, "inpaint": self.inpaint}[role]

    @property
    def takes_negative_prompt(self) -> bool:
        """True when a negative prompt can change the output (at some guidance)."""
        return self.guidance != DISTILLED


def _t2i(name: str, stem: str, **rules: Any) -> Family:
    """A text-to-image family whose classes follow diffusers' naming: `<stem>Pipeline`, and
    its twins `<stem>Img2ImgPipeline` (also a class of the family) and
    `<stem>InpaintPipeline`."""
    img2img = f"{stem}Img2ImgPipeline"
    return Family(
        name,
        "t2i",
        (f"{stem}Pipeline", img2img),
        img2img=img2img,
        inpaint=f"{stem}InpaintPipeline",
        **rules,
    )


FAMILIES: tuple[Family, ...] = (
    _t2i(
        "SDXL",
        "StableDiffusionXL",
        size_multiple=8,
        tested="folder and single-file checkpoint; refine; refiner model",
    ),
    _t2i(
        "SD3",
        "StableDiffusion3",
        tested="text to image, refine",
    ),
    _t2i(
        "FLUX.1",
        "Flux",
        guidance=DISTILLED,
        tested="text to image, refine",
    ),
    Family(
        "FLUX.2",
        "t2i",
        ("Flux2Pipeline", "Flux2KleinPipeline"),
        guidance=DISTILLED,
        tested="rules only (no image-to-image twin in diffusers: refine is refused)",
    ),
    _t2i(
        "Chroma",
        "Chroma",
        tested="text to image, refine, image from image; the reference show's model",
    ),
    _t2i(
        "Z-Image",
        "ZImage",
        tested="text to image, refine",
    ),
    _t2i(
        "Qwen-Image",
        "QwenImage",
        guidance=TRUE_CFG,
        tested="text to image, refine",
    ),
    Family(
        "Wan",
        "i2v",
        ("WanImageToVideoPipeline",),
        frame_step=4,
        native_fps=16.0,
        last_frame=True,
        tested="Wan 2.2 two experts, first and last frame",
    ),
    Family(
        "LTX-Video",
        "i2v",
        ("LTXImageToVideoPipeline",),
        size_multiple=32,
        frame_step=8,
        native_fps=25.0,
        fps_argument="frame_rate",
        tested="image to video (frame_rate passed)",
    ),
)
_BY_CLASS = {cls: family for family in FAMILIES for cls in family.classes}
DEFAULT_GRID = 16  # size multiple of a pipeline class that is not in the family table


def family_of(class_name: str | None) -> Family | None:
    """The family of a diffusers pipeline class, or None when it is not in the table."""
    return _BY_CLASS.get(class_name or "")


def grid_of(class_name: str | None) -> int:
    """The multiple a pipeline class's sizes must be (its family's, else DEFAULT_GRID)."""
    family = family_of(class_name)
    return family.size_multiple if family else DEFAULT_GRID


def pipeline_class_name(entry: ModelEntry) -> str | None:
    """The diffusers pipeline class of a model (registry `pipeline:` or model_index.json)."""
    if entry.pipeline:
        return entry.pipeline
    index = entry.path / "model_index.json"
    if entry.single_file or not index.is_file():
        return None
    try:
        return str(json.loads(index.read_text(encoding="utf-8")).get("_class_name"))
    except (OSError, ValueError):
        return None


def upscale_factor(spec: GenerateSpec) -> float:
    """The recipe's upscale factor: `upscale:` (a number or its `scale`), else refine.scale."""
    up = spec.upscale
    if isinstance(up, dict):  # a learned upscaler: {model, scale}
        return float(up.get("scale", 2.0))
    if up:
        return float(up)
    return float((spec.refine or {}).get("scale") or 1.0)


def generation_size(spec: GenerateSpec, grid: int = 8) -> tuple[float, float]:
    """The size the first pass is made at: the recipe size over `upscale` or `refine.scale`;
    when that division does not land on a multiple of `grid`, the first pass that A1111's
    hires rounding (`int(W*s)//8*8`) takes to the recipe size, if there is one (so 840x1264
    at 1.65 is made from 512x768)."""
    scale = upscale_factor(spec)
    w, h = spec.width / scale, spec.height / scale
    if scale > 1.0:
        w = first_pass_side(spec.width, scale, grid) or w
        h = first_pass_side(spec.height, scale, grid) or h
    return w, h


def snap(value: float, grid: int) -> int:
    """`value` rounded up to a multiple of `grid` (at least one grid step)."""
    return max(grid, int(math.ceil(value / grid - 1e-9)) * grid)


def _size_rule(family: Family, spec: GenerateSpec) -> list[str]:
    m = family.size_multiple
    gw, gh = generation_size(spec, m)
    if gw == int(gw) and gh == int(gh) and int(gw) % m == 0 and int(gh) % m == 0:
        return []
    scale = (
        " (width/height over upscale or refine.scale)"
        if (gw, gh)
        != (
            spec.width,
            spec.height,
        )
        else ""
    )
    return [
        f"generate.width/height: {family.name} makes sizes that are multiples of {m}; the "
        f"generation size{scale} is {gw:g}x{gh:g} (nearest: {snap(gw, m)}x{snap(gh, m)})"
    ]


def _video_rules(family: Family, spec: GenerateSpec) -> list[str]:
    problems: list[str] = []
    k = family.frame_step
    if k and (spec.frames - 1) % k != 0:
        lo = max(1, (spec.frames - 1) // k * k + 1)
        problems.append(
            f"generate.frames: {family.name} makes {k}n+1 frames (e.g. {lo} or {lo + k}), "
            f"got {spec.frames}"
        )
    if spec.last_from is not None and not family.last_frame:
        problems.append(
            f"generate.last_from: {family.name} takes no last frame; use a Wan image-to-video "
            "model for first-and-last-frame clips"
        )
    return problems


def _guidance_rules(family: Family, spec: GenerateSpec) -> list[str]:
    if not spec.negative_prompt.strip():
        return []
    if family.guidance == DISTILLED and float(spec.extra.get("true_cfg_scale", 1.0)) <= 1.0:
        return [
            f"generate.negative_prompt: {family.name} is guidance-distilled and ignores a "
            'negative prompt (set negative_prompt: "" for this cue, or extra.true_cfg_scale '
            "above 1 where the pipeline supports true CFG)"
        ]
    if family.guidance in (CFG, TRUE_CFG) and spec.guidance <= 1.0:
        return [
            f"generate.negative_prompt: {family.name} uses a negative prompt only with "
            f'guidance above 1 (got guidance {spec.guidance:g}); set negative_prompt: "" '
            "or raise guidance"
        ]
    return []


def recipe_problems(
    family: Family,
    spec: GenerateSpec,
    kind: MediaKind,
    *,
    refiner: Family | None = None,
) -> list[str]:
    """Everything in `spec` that `family` cannot make, one message per rule broken.

    `refiner` is the family of the registry's `refiner:` model when refine passes use one.
    """
    problems = _size_rule(family, spec)
    if kind is MediaKind.VIDEO:
        problems += _video_rules(family, spec)
    problems += _guidance_rules(family, spec)
    if kind is MediaKind.STILL:
        refine_family = refiner or family
        if spec.refine and refine_family.img2img is None:
            problems.append(
                f"generate.refine: {refine_family.name} has no image-to-image pipeline in "
                "diffusers, so it cannot refine; remove refine: or use another model"
            )
        if spec.source is not None and family.img2img is None:
            problems.append(
                f"generate.from: {family.name} has no image-to-image pipeline in diffusers, so "
                "it cannot make an image from another cue's image"
            )
    return problems


def call_guidance(family: Family | None, spec: GenerateSpec) -> dict[str, Any]:
    """The guidance arguments of a call for `spec` (true_cfg_scale for Qwen-Image)."""
    if family is not None and family.guidance == TRUE_CFG:
        return {"true_cfg_scale": spec.guidance, "guidance_scale": None}
    return {"guidance_scale": spec.guidance}
