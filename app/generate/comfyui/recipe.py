"""A cue recipe from a file ComfyUI saved: a PNG/WebP (its metadata) or a workflow JSON.

`recipe_from_comfyui(path)` returns (recipe, not mapped): the `generate:` mapping to paste
into a cue (`workflow:` the file itself, `bind:` naming the nodes the cue's fields go to, and
the saved values of those fields, so the cue renders as saved), and a line for each thing it
could not map. A UI-format file is read with `object_info` when one is given (a server's
/object_info), else with the widget order of the core nodes it maps (samplers, text encoders,
latent sizes), which is enough to find the fields.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.generate.comfyui.workflow import Workflow, WorkflowError, load_workflow

# Widget order of the core nodes the mapping reads (the rest of a UI file is not needed).
_INT, _FLOAT, _STR = ["INT", {}], ["FLOAT", {}], ["STRING", {}]
_SEED = ["INT", {"control_after_generate": True}]
_SAMPLING = [("steps", _INT), ("cfg", _FLOAT), ("sampler_name", [[]]), ("scheduler", [[]])]
_IMAGE_LATENT = [("width", _INT), ("height", _INT), ("batch_size", _INT)]
_VIDEO_LATENT = [("width", _INT), ("height", _INT), ("length", _INT), ("batch_size", _INT)]
_CORE: dict[str, list[tuple[str, Any]]] = {
    "KSampler": [("seed", _SEED), *_SAMPLING, ("denoise", _FLOAT)],
    "KSamplerAdvanced": [
        ("add_noise", [[]]),
        ("noise_seed", _SEED),
        *_SAMPLING,
        ("start_at_step", _INT),
        ("end_at_step", _INT),
        ("return_with_leftover_noise", [[]]),
    ],
    "RandomNoise": [("noise_seed", _SEED)],
    "BasicScheduler": [("scheduler", [[]]), ("steps", _INT), ("denoise", _FLOAT)],
    "CFGGuider": [("cfg", _FLOAT)],
    "FluxGuidance": [("guidance", _FLOAT)],
    "CLIPTextEncode": [("text", _STR)],
    "EmptyLatentImage": _IMAGE_LATENT,
    "EmptySD3LatentImage": _IMAGE_LATENT,
    "EmptyHunyuanLatentVideo": _VIDEO_LATENT,
    "WanImageToVideo": _VIDEO_LATENT,
    "WanFirstLastFrameToVideo": _VIDEO_LATENT,
    "LoadImage": [("image", [[], {"image_upload": True}])],
}
CORE_INFO = {
    cls: {
        "input": {"required": dict(widgets)},
        "input_order": {"required": [n for n, _ in widgets]},
    }
    for cls, widgets in _CORE.items()
}
SEED_INPUTS = ("seed", "noise_seed")
TEXT_INPUTS = ("text", "prompt")
MAX_HOPS = 8


def recipe_from_comfyui(
    path: Path, object_info: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """(recipe mapping for a cue's `generate:`, what could not be mapped) of a ComfyUI PNG,
    WebP or workflow JSON. WorkflowError for a file that carries no workflow."""
    wf = load_workflow(Path(path))
    unmapped: list[str] = []
    if wf.needs_conversion:
        wf = wf.converted(object_info or CORE_INFO)
        if object_info is None:  # only the core nodes were read: the rest is not an issue
            wf = Workflow(wf.path, wf.graph, wf.sha256, wf.ui, (), wf.source)
        unmapped += list(wf.notes)
    return _map(wf, unmapped)


def _map(wf: Workflow, unmapped: list[str]) -> tuple[dict[str, Any], list[str]]:
    graph = wf.graph
    bind: dict[str, Any] = {}
    values: dict[str, Any] = {}

    def put(field: str, node_id: str, name: str) -> None:
        value = graph[node_id]["inputs"].get(name)
        if isinstance(value, list):  # fed by another node: nothing to bind
            return
        spot = f"{node_id}.{name}"
        if field in bind:
            unmapped.append(
                f"{wf.node_label(node_id)} {name} = {value!r}: only {bind[field]} takes the "
                f"cue's {field}; this one keeps its saved value"
            )
            return
        bind[field] = spot
        values[field] = value

    for node_id in _order(graph):  # Flux: the guidance is FluxGuidance's, cfg stays 1
        if graph[node_id]["class_type"] == "FluxGuidance":
            put("guidance", node_id, "guidance")
    samplers = [i for i in _order(graph) if _has(graph[i], ("steps",)) or _seed(graph[i])]
    for node_id in samplers:
        inputs = graph[node_id]["inputs"]
        seed = _seed(graph[node_id])
        if seed:
            put("seed", node_id, seed)
        if "steps" in inputs:
            put("steps", node_id, "steps")
        if "cfg" in inputs and not bind.get("guidance", "").endswith(".guidance"):
            put("guidance", node_id, "cfg")
        for field, name in (("prompt", "positive"), ("negative_prompt", "negative")):
            text = _text_node(graph, inputs.get(name), 0)
            if text is not None and field not in bind:
                put(field, *text)
    _map_sizes(wf, put, bind, unmapped)
    for field in ("prompt", "seed"):
        if field not in bind:
            unmapped.append(f"no node found for the cue's {field}: add bind.{field} by hand")
    recipe: dict[str, Any] = {"workflow": str(wf.path), "bind": bind}
    recipe.update(values)
    return recipe, unmapped


def _map_sizes(wf: Workflow, put: Any, bind: dict[str, Any], unmapped: list[str]) -> None:
    """Guidance of a Flux graph, the latent's size and length, the input images."""
    graph = wf.graph
    for node_id in _order(graph):
        node = graph[node_id]
        inputs = node["inputs"]
        if "width" in inputs and "height" in inputs and "width" not in bind:
            if not isinstance(inputs["width"], list) and "latent" in _outputs_kind(node):
                put("width", node_id, "width")
                put("height", node_id, "height")
                if "length" in inputs:
                    put("frames", node_id, "length")
        if node["class_type"] == "LoadImage":
            unmapped.append(
                f"{wf.node_label(node_id)} image {inputs.get('image')!r}: an input image "
                f"is not a cue field; to feed it a cue's image, bind from: '{node_id}.image'"
            )
    if "width" not in bind:
        for node_id in _order(graph):
            inputs = graph[node_id]["inputs"]
            if "width" in inputs and "height" in inputs and not isinstance(inputs["width"], list):
                put("width", node_id, "width")
                put("height", node_id, "height")
                break


def _order(graph: dict[str, Any]) -> list[str]:
    return sorted(
        graph, key=lambda i: [(0, int(p)) if p.isdigit() else (1, p) for p in i.split(":")]
    )


def _has(node: dict[str, Any], names: tuple[str, ...]) -> bool:
    return all(n in node.get("inputs", {}) for n in names)


def _seed(node: dict[str, Any]) -> str | None:
    for name in SEED_INPUTS:
        if name in node.get("inputs", {}):
            return name
    return None


def _outputs_kind(node: dict[str, Any]) -> str:
    cls = node["class_type"]
    return "latent" if ("Latent" in cls or "ToVideo" in cls) else ""


def _text_node(graph: dict[str, Any], link: Any, hops: int) -> tuple[str, str] | None:
    """(node id, input) of the prompt text that feeds a conditioning link."""
    if not (isinstance(link, list) and len(link) == 2) or hops > MAX_HOPS:
        return None
    node_id = str(link[0])
    node = graph.get(node_id)
    if node is None:
        return None
    inputs = node.get("inputs", {})
    for name in TEXT_INPUTS:
        if isinstance(inputs.get(name), str):
            return node_id, name
    for name in ("conditioning", "positive", "negative", "conditioning_to", "conditioning_1"):
        if name in inputs:
            if name in ("positive", "negative") and link[1] != (0 if name == "positive" else 1):
                continue
            found = _text_node(graph, inputs[name], hops + 1)
            if found is not None:
                return found
    return None


__all__ = ["WorkflowError", "recipe_from_comfyui"]
