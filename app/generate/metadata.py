"""Metadata the outputs carry, in the conventions artists' tools already read.

PNGs get AUTOMATIC1111's `parameters` text chunk (prompt, `Negative prompt:`, then
`Steps: .., Sampler: .., CFG scale: .., Seed: .., Size: WxH, Model hash: .., Model: ..`)
plus our own `generate_hash` and `generate_recipe` chunks. Videos and PLY scenes get a
sidecar JSON next to them (`clip.mp4` -> `clip.mp4.json`) with the same information.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, PngImagePlugin

from app.atomic import write_text_atomic

if TYPE_CHECKING:
    from app.show.model import GenerateSpec

PARAMETERS_CHUNK = "parameters"
HASH_CHUNK = "generate_hash"
RECIPE_CHUNK = "generate_recipe"
_NEEDS_QUOTES = re.compile(r"[,:\n]")
REFINE_STRENGTH = 0.35  # a refine pass's strength when the recipe gives none


def _a1111_value(value: Any) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return json.dumps(text, ensure_ascii=False) if _NEEDS_QUOTES.search(text) else text


def a1111_parameters(prompt: str, negative_prompt: str, fields: list[tuple[str, Any]]) -> str:
    """The AUTOMATIC1111 `parameters` text: prompt, negative prompt, then `Key: value, ...`.

    Values containing `,`, `:` or a newline are JSON-quoted, as A1111 does; fields whose value
    is None are left out.
    """
    lines = [prompt]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt}")
    lines.append(", ".join(f"{k}: {_a1111_value(v)}" for k, v in fields if v is not None))
    return "\n".join(lines)


def first_pass_size(spec: GenerateSpec, info: dict[str, Any]) -> tuple[int, int]:
    """A1111's `Size`: the first pass the backend made (its `generated_size`), else the one
    the recipe asks for (A1111's hires rounding, app/generate/chain/families.py)."""
    made = info.get("generated_size")
    if made:
        return int(made[0]), int(made[1])
    from app.generate.chain.families import generation_size

    w, h = generation_size(spec)
    return round(w), round(h)


def hires_fields(spec: GenerateSpec) -> list[tuple[str, Any]]:
    """A1111's hires-fix fields of a recipe's `refine:` (and `upscale:`): Denoising strength,
    Hires upscale, Hires steps, Hires upscaler, Hires CFG Scale, Hires prompt."""
    refine = spec.refine or {}
    up = spec.upscale
    model = up.get("model") if isinstance(up, dict) else None
    scale = up.get("scale", 2.0) if isinstance(up, dict) else up
    if not refine:
        return [("Hires upscale", scale), ("Hires upscaler", model)] if scale else []
    return [
        ("Denoising strength", refine.get("strength", REFINE_STRENGTH)),
        ("Hires upscale", refine.get("scale", scale)),
        ("Hires steps", refine.get("steps")),
        ("Hires upscaler", model or "Lanczos"),
        ("Hires CFG Scale", refine.get("guidance", spec.guidance)),
        ("Hires prompt", refine.get("prompt")),
    ]


def parse_a1111_fields(parameters: str) -> dict[str, str]:
    """The `Key: value` fields of the last line of an A1111 `parameters` text (unquoted)."""
    last = parameters.strip().splitlines()[-1]
    fields: dict[str, str] = {}
    for m in re.finditer(r'\s*([\w ]+):\s*("(?:\\.|[^"\\])*"|[^,]*)(?:,|$)', last):
        raw = m.group(2).strip()
        fields[m.group(1).strip()] = json.loads(raw) if raw.startswith('"') else raw
    return fields


def save_png(
    image: Image.Image, path: Path, *, parameters: str, digest: str, recipe: dict[str, Any]
) -> None:
    """Write `image` as PNG at `path` (a temporary path: the caller commits it)."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt(PARAMETERS_CHUNK, parameters)
    info.add_text(HASH_CHUNK, digest)
    info.add_itxt(RECIPE_CHUNK, json.dumps(recipe, sort_keys=True, ensure_ascii=False))
    image.save(path, format="PNG", pnginfo=info, compress_level=6)


def sidecar_path(media: Path) -> Path:
    """The sidecar JSON of a video or splat file."""
    return media.with_name(media.name + ".json")


def write_sidecar(media: Path, data: dict[str, Any]) -> None:
    """Write the sidecar JSON of `media` atomically."""
    write_text_atomic(sidecar_path(media), json.dumps(data, indent=1, sort_keys=True, default=str))


def embedded_hash(media: Path) -> str | None:
    """The recipe hash a finished output carries (PNG chunk or sidecar), or None."""
    try:
        if media.suffix.lower() == ".png":
            with Image.open(media) as im:
                value = im.text.get(HASH_CHUNK)  # type: ignore[attr-defined]
                return str(value) if value else None
        side = sidecar_path(media)
        if side.is_file():
            value = json.loads(side.read_text(encoding="utf-8")).get("hash")
            return str(value) if value else None
    except (OSError, ValueError, SyntaxError):
        return None
    return None


def embedded_backend(media: Path) -> str | None:
    """The backend that made an output, from its own metadata, or None (not ours)."""
    try:
        if media.suffix.lower() == ".png":
            with Image.open(media) as im:
                recipe = im.text.get(RECIPE_CHUNK)  # type: ignore[attr-defined]
            return json.loads(recipe).get("backend") if recipe else None
        side = sidecar_path(media)
        if side.is_file():
            return json.loads(side.read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, SyntaxError, AttributeError):
        return None
    return None


def read_png_metadata(path: Path) -> dict[str, str]:
    """The text chunks of a PNG (parameters, generate_hash, generate_recipe, ...)."""
    with Image.open(path) as im:
        return dict(im.text)  # type: ignore[attr-defined]


def recipe_summary(spec: Any, grid: int = 8) -> str:
    """One line for `generate --dry-run`: scheduler and its diffusers config, the first pass,
    the hires pass (scale, size, steps, strength, CFG)."""
    from app.generate.a1111 import parse_scheduler
    from app.generate.chain.families import generation_size

    parts = []
    if spec.scheduler:
        try:
            choice = parse_scheduler(spec.scheduler)
            parts.append(f"scheduler {choice.words} = {choice.describe()}")
        except ValueError as exc:
            parts.append(f"scheduler: {exc}")
    gw, gh = generation_size(spec, grid)
    parts.append(f"first pass {gw:g}x{gh:g}, {spec.steps} steps, CFG {spec.guidance:g}")
    refine = spec.refine or {}
    if refine:
        scale = float(refine.get("scale") or 1.0)
        parts.append(
            f"hires x{scale:g} -> {spec.width}x{spec.height}, "
            f"{refine.get('steps', spec.steps)} steps, "
            f"strength {float(refine.get('strength', REFINE_STRENGTH)):g}, "
            f"CFG {float(refine.get('guidance', spec.guidance)):g}"
        )
    return "; ".join(parts)
