"""ComfyUI workflows as recipes: load an API-format graph, bind cue fields, validate it.

A recipe names `workflow:` (a JSON file exported from ComfyUI with "Export (API)", path
relative to the show file) and `bind:`, which says where the cue's fields go:

```yaml
bind: {prompt: "6.text", seed: "3.seed", width: "5.width", from: "12.image",
       "9.filename_prefix": moon}        # a key with a dot sets a literal
```

A field key (`prompt`, `negative_prompt`, `seed`, `width`, `height`, `steps`, `guidance`,
`frames`, `fps`, `from`, `last_from`) maps to one `node_id.input` or a list of them; a key
written as `node_id.input` sets that input to the literal value given. `from`/`last_from` go
to a LoadImage-like input: the image is uploaded and its server-side name bound.

Validation comes in two passes: `check_offline` (file, format, binds to existing nodes and
inputs; `python -m app check` runs it with no server) and `check_against` (a server's
`/object_info`: unknown node classes, unknown inputs, model files and other choices the
server does not have). Each problem is one line naming the node and, by the caller, the cue.
This module is pure (json only): the live runtime's `check` may import it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIELDS = (
    "prompt",
    "negative_prompt",
    "seed",
    "width",
    "height",
    "steps",
    "guidance",
    "frames",
    "fps",
    "from",
    "last_from",
)
IMAGE_FIELDS = ("from", "last_from")


class WorkflowError(Exception):
    """A workflow file or bind that cannot be used (the message says what to do)."""


@dataclass(frozen=True)
class Workflow:
    """A loaded API-format graph: node id -> {class_type, inputs}."""

    path: Path
    graph: dict[str, dict[str, Any]]
    sha256: str  # of the file's bytes: part of the cache key

    def node_label(self, node_id: str) -> str:
        """`node 6 (CLIPTextEncode)` for messages."""
        node = self.graph.get(node_id, {})
        return f"node {node_id} ({node.get('class_type', '?')})"


def load_workflow(path: Path) -> Workflow:
    """Read an API-format workflow; WorkflowError for a missing, broken or UI-format file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise WorkflowError(f"workflow {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        graph = json.loads(data)
    except ValueError as exc:
        raise WorkflowError(f"workflow {path}: not JSON ({exc})") from None
    if isinstance(graph, dict) and ("nodes" in graph and "links" in graph):
        raise WorkflowError(
            f"workflow {path}: this is a UI-format export (it has 'nodes' and 'links'); in "
            "ComfyUI use Workflow > Export (API) and point the recipe at that file"
        )
    if not isinstance(graph, dict) or not graph:
        raise WorkflowError(f"workflow {path}: expected a mapping of node ids to nodes")
    for node_id, node in graph.items():
        if not isinstance(node, dict) or "class_type" not in node:
            raise WorkflowError(
                f"workflow {path}: node {node_id} has no class_type: not an API-format export"
            )
        if not isinstance(node.get("inputs", {}), dict):
            raise WorkflowError(f"workflow {path}: node {node_id}: inputs must be a mapping")
    return Workflow(path, graph, hashlib.sha256(data).hexdigest())


def targets(bind: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """(field or '=', node id, input, literal) for every target of a bind mapping.

    Raises WorkflowError for a key that is neither a field nor `node.input`, or a target that
    is not written `node.input`.
    """
    out: list[tuple[str, str, str, Any]] = []
    for key, value in bind.items():
        key = str(key)
        if key in FIELDS:
            spots = value if isinstance(value, list) else [value]
            for spot in spots:
                node, dot, name = str(spot).partition(".")
                if not dot or not node or not name:
                    raise WorkflowError(
                        f"bind.{key}: expected 'node_id.input' (e.g. '6.text'), got {spot!r}"
                    )
                out.append((key, node, name, None))
        elif "." in key:
            node, _, name = key.partition(".")
            out.append(("=", node, name, value))
        else:
            raise WorkflowError(
                f"bind: unknown key '{key}': expected one of {', '.join(FIELDS)}, or "
                "'node_id.input: value' for a literal"
            )
    return out


def check_offline(workflow: Workflow, bind: dict[str, Any]) -> list[str]:
    """Problems of the binds against the graph itself (no server needed)."""
    try:
        spots = targets(bind)
    except WorkflowError as exc:
        return [str(exc)]
    problems: list[str] = []
    for what, node_id, name, _ in spots:
        key = what if what != "=" else f"{node_id}.{name}"
        node = workflow.graph.get(node_id)
        if node is None:
            problems.append(
                f"bind.{key}: the workflow {workflow.path.name} has no node {node_id} "
                f"(its nodes: {', '.join(sorted(workflow.graph, key=_num))})"
            )
        elif name not in node.get("inputs", {}):
            have = ", ".join(sorted(node.get("inputs", {}))) or "none"
            problems.append(
                f"bind.{key}: {workflow.node_label(node_id)} has no input '{name}' "
                f"(its inputs: {have})"
            )
    return problems


def _num(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 30, node_id)


def _spec_inputs(info: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {}
    for section in ("required", "optional", "hidden"):
        spec.update(info.get("input", {}).get(section, {}) or {})
    return spec


def _choices(spec: Any) -> list[str] | None:
    """The allowed values of a combo input (old list form or the COMBO form), else None."""
    if not isinstance(spec, list) or not spec:
        return None
    if isinstance(spec[0], list):
        return [str(v) for v in spec[0]]
    if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], dict):
        options = spec[1].get("options")
        return [str(v) for v in options] if isinstance(options, list) else None
    return None


def check_against(
    workflow: Workflow, bind: dict[str, Any], object_info: dict[str, Any], server: str
) -> list[str]:
    """Problems of the graph on one server: node classes, inputs, model files, choices."""
    try:
        bound_images = {(n, i) for w, n, i, _ in targets(bind) if w in IMAGE_FIELDS}
    except WorkflowError:
        bound_images = set()
    problems: list[str] = []
    for node_id in sorted(workflow.graph, key=_num):
        node = workflow.graph[node_id]
        cls = str(node["class_type"])
        info = object_info.get(cls)
        label = workflow.node_label(node_id)
        if info is None:
            problems.append(
                f"{label}: node class '{cls}' is not installed on {server} (a custom node? "
                "install it there, e.g. with ComfyUI-Manager, and restart the server)"
            )
            continue
        spec = _spec_inputs(info)
        for name, value in node.get("inputs", {}).items():
            if name not in spec:
                problems.append(f"{label}: unknown input '{name}' on {server}")
                continue
            choices = _choices(spec[name])
            if choices is None or isinstance(value, list) or (node_id, name) in bound_images:
                continue
            if str(value) not in choices:
                what = "file" if any("." in c for c in choices[:20]) else "value"
                problems.append(
                    f"{label}: {name} {value!r}: no such {what} on {server} "
                    f"({len(choices)} available{': ' + ', '.join(choices[:5]) if choices else ''})"
                )
    return problems


def field_value(job: Any, what: str) -> Any:
    """The value of cue field `what` for a job (seed: the job's own)."""
    from app.generate.plan import full_prompt

    spec = job.spec
    values = {
        "prompt": full_prompt(spec),
        "negative_prompt": spec.negative_prompt,
        "seed": job.seed,
        "width": spec.width,
        "height": spec.height,
        "steps": spec.steps,
        "guidance": spec.guidance,
        "frames": spec.frames,
        "fps": spec.fps,
    }
    return values[what]


def bind_graph(
    workflow: Workflow, bind: dict[str, Any], job: Any, images: dict[str, str]
) -> dict[str, Any]:
    """The graph with the job's values bound (`images`: role -> uploaded file name)."""
    graph = copy.deepcopy(workflow.graph)
    for what, node_id, name, literal in targets(bind):
        if what == "=":
            value = literal
        elif what in IMAGE_FIELDS:
            if what not in images:
                continue
            value = images[what]
        else:
            value = field_value(job, what)
        graph[node_id].setdefault("inputs", {})[name] = value
    return graph
