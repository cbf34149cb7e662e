"""`python -m app recipe import FILE [--show SHOW --cue ID]`: a recipe from an artist's file.

FILE may be an AUTOMATIC1111/Forge picture (PNG `parameters` text chunk, or the EXIF
UserComment of a JPEG/WebP), a `parameters` text file, or a ComfyUI picture or workflow
(through `app.generate.comfyui.recipe`). The recipe is printed as YAML
to paste under a cue's `generate:`; with `--show SHOW --cue ID` it is written into that cue's
`generate:` (ruamel.yaml round trip: the file's comments and order stay). What could not be
mapped is named, on stderr and as comments above the printed recipe.

The mapping (docs/a1111.md): prompt, negative prompt, Steps, CFG scale, Seed, Sampler and
Schedule type (app/generate/a1111.py), Size (the first pass) and the hires fix (Hires upscale
or Hires resize, Hires steps, Denoising strength, Hires CFG Scale, Hires prompt) to
`width`/`height` (the saved size, by A1111's rounding) and `refine:`, Model hash and Model
to a models.yaml name. Files are untrusted: sizes are bounded and every refusal names the file.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from app import safe_yaml
from app.atomic import write_text_atomic
from app.generate import a1111
from app.generate.errors import GenerateError

MAX_FILE = 256 << 20  # bytes of a picture or workflow file read at most
MAX_TEXT = 1 << 20  # characters of a parameters text
_LORA_TAG = re.compile(r"<(lora|lyco|hypernet):([^:>]+)(?::([^>]*))?>")
# Fields A1111 writes whose default needs no mapping.
_DEFAULTS = {"Clip skip": "1", "Schedule type": "Automatic", "Hires checkpoint": "Use same"}
_HIRES_SAMPLER_SAME = ("", "Use same sampler")
_HIRES_SCHEDULE_SAME = ("", "Use same scheduler")


@dataclass
class Imported:
    """A recipe mapping and the fields that could not be mapped (with why)."""

    recipe: dict[str, Any]
    unmapped: list[str] = field(default_factory=list)
    source: str = ""  # what the file was: "A1111 parameters", "ComfyUI ..."


# --- reading the file --------------------------------------------------------------------


def _user_comment(raw: bytes) -> str:
    """EXIF UserComment bytes (8-byte charset prefix, then the text) as text."""
    head, body = raw[:8], raw[8:]
    if head.startswith(b"UNICODE"):
        # piexif (A1111) writes UTF-16 big-endian; some tools little-endian with a BOM.
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16")
        return body.decode("utf-16-be", errors="replace")
    return body.decode("utf-8", errors="replace")


def read_file(path: Path) -> tuple[str, Any]:
    """('a1111', parameters text) or ('comfyui', None) for `path`; GenerateError naming the
    file when it carries no recipe we can read."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise GenerateError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if size > MAX_FILE:
        raise GenerateError(f"{path}: {size} bytes, more than the {MAX_FILE} read at most")
    data = path.read_bytes()
    if data[:8] == b"\x89PNG\r\n\x1a\n" or data[:2] == b"\xff\xd8" or data[8:12] == b"WEBP":
        return _read_picture(path, data)
    if path.suffix.lower() == ".json" or data.lstrip()[:1] == b"{":
        return "comfyui", None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GenerateError(
            f"{path}: not a picture, a workflow or a UTF-8 parameters text ({exc.reason} at "
            f"byte {exc.start})"
        ) from None
    return "a1111", _bounded(path, text)


def _bounded(path: Path, text: str) -> str:
    if len(text) > MAX_TEXT:
        raise GenerateError(f"{path}: parameters text over {MAX_TEXT} characters")
    return text


def _read_picture(path: Path, data: bytes) -> tuple[str, Any]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            info = dict(getattr(im, "text", None) or {})
            info.update({k: v for k, v in im.info.items() if isinstance(v, str)})
            tags = im.getexif()
            exif = tags.get_ifd(0x8769).get(0x9286)
            # ComfyUI's WebP: "workflow:{...}" and "prompt:{...}" in EXIF Make / Model.
            comfy_exif = any(
                isinstance(v, str) and v.startswith(("workflow:", "prompt:"))
                for v in (tags.get(0x010F), tags.get(0x0110))
            )
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise GenerateError(f"{path}: cannot read the picture: {exc}") from None
    if isinstance(info.get("parameters"), str):
        return "a1111", _bounded(path, info["parameters"])
    if "workflow" in info or "prompt" in info or comfy_exif:
        return "comfyui", None
    if isinstance(exif, bytes) and len(exif) > 8:
        return "a1111", _bounded(path, _user_comment(exif))
    raise GenerateError(
        f"{path}: the picture carries no recipe (no A1111 `parameters` chunk or EXIF "
        "UserComment, no ComfyUI `workflow` or `prompt` chunk)"
    )


# --- A1111 parameters -> recipe ----------------------------------------------------------


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _int(value: str) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number == int(number) else None


def find_model(registry: Any, name: str | None, digest: str | None) -> tuple[str | None, str]:
    """(models.yaml name, '') for A1111's `Model hash` (AutoV2, or the legacy 8-hex hash of
    a single-file checkpoint) or `Model` name; (None, why) when none matches."""
    models = dict(getattr(registry, "models", {}) or {})
    digest = (digest or "").lower()
    if digest:
        for entry in models.values():
            path = entry.path
            if entry.kind != "t2i" or not entry.single_file or not path.is_file():
                continue
            try:
                found = a1111.legacy_hash(path) if len(digest) == 8 else a1111.autov2_hash(path)
            except OSError:
                continue
            if found == digest[: len(found)]:
                return entry.name, ""
    if name:
        wanted = name.lower()
        for entry in models.values():
            stems = {entry.name.lower(), entry.path.stem.lower(), entry.path.name.lower()}
            if entry.kind == "t2i" and wanted in stems:
                return entry.name, ""
    if registry is None or getattr(registry, "path", None) is None:
        where = "no models.yaml given (--models, or beside --show)"
    else:
        where = f"not in {registry.path}"
    if not name and not digest:
        return None, "no Model or Model hash field; set model: to a models.yaml name"
    what = f"Model: {name or '?'}" + (f" (hash {digest})" if digest else "")
    return None, f"{what}: {where}; set model: to a models.yaml name"


def _hires_scale(p: dict[str, str], out: Imported) -> float | None:
    """The hires factor: `Hires upscale`, or `Hires resize` over `Size` (one side 0 keeps
    the aspect, as in A1111)."""
    scale = _number(p.pop("Hires upscale", ""))
    resize = a1111.size_of(p.pop("Hires resize", ""))
    first = a1111.size_of(p.get("Size", ""))
    if scale is not None or not resize or not first or not any(resize):
        return scale
    (rw, rh), (sw, sh) = resize, first
    if rw and rh and rw * sh != rh * sw:
        out.unmapped.append(f"Hires resize: {rw}x{rh}: a change of aspect (crop) is not mapped")
    return rw / sw if rw else rh / sh


def _hires_upscaler(p: dict[str, str], out: Imported) -> None:
    upscaler = p.pop("Hires upscaler", "")
    if upscaler.startswith("Latent"):
        out.unmapped.append(
            f"Hires upscaler: {upscaler}: upscaled in pixels (Lanczos), not in latent space"
        )
    elif upscaler and upscaler not in ("Lanczos", "None"):
        out.unmapped.append(
            f"Hires upscaler: {upscaler}: Lanczos used (register it as an upscale model in "
            "models.yaml and set upscale: {model: NAME, scale: ...})"
        )
    for key, same in (
        ("Hires sampler", _HIRES_SAMPLER_SAME),
        ("Hires schedule type", _HIRES_SCHEDULE_SAME),
    ):
        value = p.pop(key, "")
        if value not in same:
            out.unmapped.append(f"{key}: {value}: the refine pass uses the first pass's sampler")
    checkpoint = p.pop("Hires checkpoint", "")
    if checkpoint and not checkpoint.startswith("Use same"):
        out.unmapped.append(
            f"Hires checkpoint: {checkpoint}: use the model's `refiner:` in models.yaml"
        )


def _hires(p: dict[str, str], steps: int | None, out: Imported) -> dict[str, Any] | None:
    """The hires fields as `refine:` (None without a hires fix)."""
    scale = _hires_scale(p, out)
    if scale is None:
        for key in [k for k in p if k.startswith("Hires ")]:
            out.unmapped.append(f"{key}: {p.pop(key)} (no Hires upscale)")
        return None
    refine: dict[str, Any] = {"scale": scale}
    hires_steps = _int(p.pop("Hires steps", "0")) or 0
    if hires_steps and hires_steps != steps:  # 0 or absent: the first pass's steps
        refine["steps"] = hires_steps
    for key, name in (("Denoising strength", "strength"), ("Hires CFG Scale", "guidance")):
        value = _number(p.pop(key, ""))
        if value is not None:
            refine[name] = value
    prompt = p.pop("Hires prompt", "")
    if prompt:
        refine["prompt"] = prompt
    _hires_upscaler(p, out)
    return refine


def _own_scheduler(registry: Any, name: str | None) -> str | None:
    entry = registry.models.get(name) if registry is not None and name else None
    return a1111.own_scheduler_class([entry.path, entry.config]) if entry else None


def _sampler(sampler: str, schedule: str, out: Imported, own: str | None) -> None:
    """`scheduler:` from Sampler and Schedule type; Forge's `Euler` of a flow-matching model
    (FLUX, SD3, Chroma...) is our `Flow Euler`."""
    if not sampler:
        return
    if own and own.startswith("FlowMatch") and sampler.strip().lower() == "euler":
        sampler = "Flow Euler"
    written = f"{sampler}, {schedule}" if schedule else sampler
    try:
        choice = a1111.parse_scheduler(sampler, schedule)
    except ValueError as exc:
        out.unmapped.append(f"Sampler: {written}: {exc}")
        return
    mismatch = a1111.flow_problem(choice, own)
    if mismatch:
        out.unmapped.append(f"Sampler: {written}: {mismatch}")
    else:
        out.recipe["scheduler"] = choice.words


def _prompt_loras(prompt: str, registry: Any, out: Imported) -> str:
    """The prompt without A1111's `<lora:NAME:W>` tags; a tag whose NAME is a models.yaml
    LoRA (entry name or file name) becomes an entry of `loras:`, others are named."""
    loras = {}
    for entry in (getattr(registry, "models", None) or {}).values():
        if entry.kind == "lora":
            loras[entry.name.lower()] = loras[entry.path.stem.lower()] = entry.name
    found = []
    for tag in _LORA_TAG.finditer(prompt):
        kind, name, weight = tag.group(1), tag.group(2).strip(), _number(tag.group(3) or "1")
        registered = loras.get(name.lower()) if kind != "hypernet" else None
        if registered and weight is not None:
            found.append({"name": registered, "weight": weight})
        else:
            out.unmapped.append(f"prompt {tag.group(0)}: no such LoRA in models.yaml")
    if found:
        out.recipe["loras"] = found
    text = re.sub(r",(\s*,)+", ",", _LORA_TAG.sub("", prompt))  # "a, <lora:x:1>, b"
    return re.sub(r"[\s,]+$", "", text).strip()


def recipe_from_parameters(text: str, registry: Any = None) -> Imported:
    """The recipe of an A1111/Forge `parameters` text, and what could not be mapped."""
    parsed = a1111.parse_parameters(text)
    p = dict(parsed.fields)
    out = Imported({}, source="A1111 parameters")
    if not p:
        raise GenerateError(
            "no A1111 parameters line (the last line must hold at least 3 `Key: value` "
            "fields, e.g. `Steps: 20, Sampler: Euler a, CFG scale: 7`)"
        )
    name, why = find_model(registry, p.pop("Model", None), p.pop("Model hash", None))
    if name:
        out.recipe["model"] = name
    else:
        out.unmapped.append(why)
    out.recipe["prompt"] = _prompt_loras(parsed.prompt, registry, out)
    if parsed.negative_prompt:
        out.recipe["negative_prompt"] = parsed.negative_prompt
    _sampler(p.pop("Sampler", ""), p.pop("Schedule type", ""), out, _own_scheduler(registry, name))
    steps = _int(p.pop("Steps", ""))
    cfg = _number(p.pop("CFG scale", ""))
    seed = _int(p.pop("Seed", ""))
    for key, value in (("steps", steps), ("guidance", cfg), ("seed", seed)):
        if value is not None and value >= 0:
            out.recipe[key] = value
    refine = _hires(p, steps, out)
    size = a1111.size_of(p.pop("Size", ""))
    if size:
        width, height = a1111.hires_size(*size, refine["scale"]) if refine else size
        if width % 8 or height % 8:
            out.unmapped.append(f"Size: {width}x{height}: sizes are multiples of 8 here")
        out.recipe["width"], out.recipe["height"] = width, height
    if refine:
        out.recipe["refine"] = refine
    strength = p.pop("Denoising strength", None)
    if strength is not None:
        out.unmapped.append(f"Denoising strength: {strength}: img2img (no source image here)")
    for key, value in p.items():
        if _DEFAULTS.get(key) == value or (key == "Hires checkpoint" and value.startswith("Use")):
            continue
        out.unmapped.append(f"{key}: {value}")
    return out


def _comfy(path: Path) -> Imported:
    from app.generate.comfyui.recipe import recipe_from_comfyui

    recipe, unmapped = recipe_from_comfyui(path)
    return Imported(dict(recipe), list(unmapped), source="ComfyUI")


def import_recipe(path: Path, registry: Any = None) -> Imported:
    """The recipe of `path` (see the module docstring)."""
    kind, text = read_file(path)
    if kind == "comfyui":
        return _comfy(path)
    try:
        return recipe_from_parameters(text, registry)
    except GenerateError as exc:
        raise GenerateError(f"{path}: {exc}") from None


# --- YAML out ----------------------------------------------------------------------------


def _commented(recipe: dict[str, Any]) -> Any:
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import LiteralScalarString

    out = CommentedMap()
    for key, value in recipe.items():
        if isinstance(value, dict):
            value = _commented(value)
        elif isinstance(value, str) and "\n" in value:
            value = LiteralScalarString(value)
        out[key] = value
    return out


def recipe_yaml(imported: Imported) -> str:
    """The recipe as a `generate:` block, the unmapped fields as comments above it."""
    from ruamel.yaml.comments import CommentedMap

    lines = [f"# recipe imported from {imported.source}"]
    lines += [f"# not mapped: {u}" for u in imported.unmapped]
    buf = io.StringIO()
    safe_yaml.round_trip().dump(CommentedMap([("generate", _commented(imported.recipe))]), buf)
    return "\n".join(lines) + "\n" + buf.getvalue()


def write_into_cue(show: Path, cue_id: str, imported: Imported) -> int:
    """Put the recipe into cue `cue_id`'s `generate:` in `show` (keys the recipe sets are
    replaced, the cue's other `generate:` keys and the file's comments stay); returns the
    cue's line. Atomic."""
    from ruamel.yaml.error import YAMLError

    y = safe_yaml.round_trip()
    try:
        data = y.load(show.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise GenerateError(f"{show}: cannot read: {exc}") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise GenerateError(f"{show}:{mark.line + 1 if mark else 0}: {exc}") from None
    cue = _find_cue(data, cue_id)
    if cue is None:
        raise GenerateError(f"{show}: no cue with id '{cue_id}'")
    block = cue.get("generate")
    if not isinstance(block, dict):
        cue["generate"] = block = _commented({})
    for key, value in _commented(imported.recipe).items():
        block[key] = value
    buf = io.StringIO()
    y.dump(data, buf)
    write_text_atomic(show, buf.getvalue())
    return cue.lc.line + 1


def _find_cue(data: Any, cue_id: str) -> Any:
    for poem in (data or {}).get("poems") or []:
        for cue in (poem or {}).get("cues") or []:
            if isinstance(cue, dict) and str(cue.get("id")) == cue_id:
                return cue
    return None


# --- the command -------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `recipe import` to the program's subcommands."""
    recipe = sub.add_parser("recipe", help="recipes from artists' files (recipe import)")
    rsub = recipe.add_subparsers(dest="recipe_command", required=True)
    imp = rsub.add_parser(
        "import",
        help="print the recipe of an A1111/Forge or ComfyUI picture, a parameters text or a "
        "ComfyUI workflow, or write it into a cue",
        description="Read the recipe an image or text carries and print it as a generate: "
        "block (what could not be mapped is named); with --show and --cue, write it into "
        "that cue, keeping the show file's comments and order.",
    )
    imp.add_argument("file", type=Path)
    imp.add_argument("--show", type=Path, default=None, help="show file to write the recipe into")
    imp.add_argument("--cue", default=None, help="cue id (with --show)")
    imp.add_argument(
        "--models",
        type=Path,
        default=None,
        help="models.yaml to find the model in (default: beside --show, else $APP_MODELS)",
    )
    imp.set_defaults(handler=cmd_import)


def _registry(args: argparse.Namespace) -> Any:
    from app.generate.registry import find_registry, load_registry

    path = args.models
    if path is None and args.show is not None:
        path = find_registry(args.show)
    if path is None and os.environ.get("APP_MODELS"):
        path = Path(os.environ["APP_MODELS"])
    return load_registry(path) if path is not None else None


def cmd_import(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """`recipe import FILE [--show SHOW --cue ID]`."""
    out, err = out or sys.stdout, err or sys.stderr
    if (args.show is None) != (args.cue is None):
        print("recipe import: --show and --cue go together", file=err)
        return 2
    try:
        imported = import_recipe(args.file, _registry(args))
        if args.show is not None:
            line = write_into_cue(args.show, str(args.cue), imported)
            print(f"{args.show}:{line}: cue '{args.cue}': generate: written", file=out)
        else:
            out.write(recipe_yaml(imported))
    except GenerateError as exc:
        print(f"error: {exc}", file=err)
        return 1
    for item in imported.unmapped:
        print(f"not mapped: {item}", file=err)
    return 0
