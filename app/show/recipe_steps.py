"""Show-file readers for the chain steps of a recipe: `loras`, `upscale`, `edit`.

- `loras`: a list of `{name, weight}` (weight a number, default 1; names from the model
  registry, kind `lora`) -> a tuple of (name, weight).
- `upscale`: a number > 1 (Lanczos, as before), or `{model, scale, tile, overlap}` (a
  registry entry of kind `upscale`; `scale` > 1, default 2; `tile` >= 16 and `overlap` >= 0
  pixels of the input) -> float or dict.
- `edit`: `{model, prompt, negative_prompt, steps, guidance, seed}` (model and prompt
  required) -> dict: an instruction edit applied after the rest of the still's chain.

`kind: edit` itself is read by the loader: a still made by editing the image of the cue
named in `from:`.
"""

from __future__ import annotations

from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

from app.show.schema import (
    INVALID,
    Converter,
    Reporter,
    block,
    describe,
    integer,
    number,
    read_fields,
    string,
)

LORA_SPEC: dict[str, Converter] = {"name": string(), "weight": number(-4, 4)}
UPSCALE_SPEC: dict[str, Converter] = {
    "model": string(nullable=True),
    "scale": number(1, lo_open=True),
    "tile": integer(16),
    "overlap": integer(0),
}
EDIT_SPEC: dict[str, Converter] = {
    "model": string(),
    "prompt": string(),
    "negative_prompt": string(),
    "steps": integer(1),
    "guidance": number(0),
    "seed": integer(0),
}
EDIT_MODE = "edit"  # GenerateSpec.mode of a `kind: edit` recipe


def loras(node: Node, rep: Reporter, name: str) -> Any:
    """`[{name, weight}, ...]` -> ((name, weight), ...)."""
    if not isinstance(node, SequenceNode):
        rep.add(node, f"{name}: expected a list of {{name, weight}}, got {describe(node)}")
        return INVALID
    out: list[tuple[str, float]] = []
    ok = True
    for i, item in enumerate(node.value):
        where = f"{name}[{i}]"
        items = block(item, rep, where, LORA_SPEC)
        if items is None:
            ok = False
            continue
        values = read_fields(items, LORA_SPEC, rep, prefix=f"{where}.")
        if "name" not in items:
            rep.add(item, f"{where}: a LoRA needs a name (from models.yaml, kind lora)")
            ok = False
            continue
        if "name" not in values or ("weight" in items and "weight" not in values):
            ok = False
            continue
        if any(n == values["name"] for n, _ in out):
            rep.add(item, f"{where}: LoRA '{values['name']}' is listed twice")
            ok = False
            continue
        out.append((values["name"], float(values.get("weight", 1.0))))
    return tuple(out) if ok else INVALID


def upscale(node: Node, rep: Reporter, name: str) -> Any:
    """A number > 1 (Lanczos) or `{model, scale, tile, overlap}`."""
    if not isinstance(node, MappingNode):
        return number(1, lo_open=True, nullable=True)(node, rep, name)
    items = block(node, rep, name, UPSCALE_SPEC)
    if items is None:
        return INVALID
    values = read_fields(items, UPSCALE_SPEC, rep, prefix=f"{name}.")
    if any(k in items and k not in values for k in UPSCALE_SPEC):
        return INVALID
    values.setdefault("scale", 2.0)
    return values


def edit(node: Node, rep: Reporter, name: str) -> Any:
    """`{model, prompt, ...}` -> dict (None for null: no edit step)."""
    if node.tag.endswith(":null"):
        return None
    items = block(node, rep, name, EDIT_SPEC)
    if items is None:
        return INVALID
    values = read_fields(items, EDIT_SPEC, rep, prefix=f"{name}.")
    for key in ("model", "prompt"):
        if key not in items:
            rep.add(node, f"{name}: an edit step needs `{key}:`")
            return INVALID
    if any(k in items and k not in values for k in EDIT_SPEC):
        return INVALID
    return values
