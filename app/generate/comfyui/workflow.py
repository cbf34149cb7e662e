"""ComfyUI workflows as recipes: load an API-format graph, bind cue fields, validate it.

A recipe names `workflow:` (path relative to the show file): a workflow as ComfyUI saves it
(UI format, converted with a server's `/object_info` by `ui_format`), an "Export (API)"
graph, or a PNG/WebP saved by ComfyUI (its metadata), and `bind:`, which says where the cue's
fields go (a node by id, or by its title: "Positive.text"):

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

from app.generate.comfyui.ui_format import FRONTEND_WIDGETS, is_ui_format

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


MAX_WORKFLOW_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Workflow:
    """A loaded workflow: node id -> {class_type, inputs}.

    A UI-format file (nodes and links, as ComfyUI saves it) has `ui` set and an empty graph
    until `converted(object_info)` turns it into the API graph the server's frontend would
    send; `notes` then say what could not be converted, naming the node.
    """

    path: Path
    graph: dict[str, dict[str, Any]]
    sha256: str  # of the file's bytes, or of the converted graph: part of the cache key
    ui: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    source: str = "API graph"  # or "UI workflow", "prompt chunk", "workflow chunk"
    warnings: tuple[str, ...] = ()  # converted as ComfyUI's frontend would, but worth a look

    def node_label(self, node_id: str) -> str:
        """`node 6 (CLIPTextEncode)` for messages."""
        node = self.graph.get(node_id, {})
        return f"node {node_id} ({node.get('class_type', '?')})"

    @property
    def needs_conversion(self) -> bool:
        """A UI-format workflow not yet converted (it needs a server's /object_info)."""
        return self.ui is not None and not self.graph

    def converted(self, object_info: dict[str, Any]) -> Workflow:
        """The API graph of a UI-format workflow on a server with `object_info`."""
        if self.ui is None:
            return self
        from app.generate.comfyui.ui_format import UIFormatError, ui_to_api

        try:
            found = ui_to_api(self.ui, object_info)
        except UIFormatError as exc:
            raise WorkflowError(f"workflow {self.path}: {exc}") from None
        graph = found.graph
        for pid, title in found.titles.items():
            graph[pid].setdefault("_meta", {"title": title})
        digest = hashlib.sha256(
            json.dumps(graph, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        return Workflow(
            self.path,
            graph,
            digest,
            self.ui,
            tuple(found.problems),
            self.source,
            tuple(f"{self.source}: {w}" for w in found.warnings),
        )


def _read(path: Path) -> tuple[Any, str, bytes]:
    """(parsed JSON, where it came from, bytes for the hash) of a workflow file or image."""
    from app.generate.comfyui.image import ImageMetadataError, is_image, read_texts

    try:
        with path.open("rb") as f:
            head = f.read(12)
            if is_image(head):
                data = None
            else:
                f.seek(0)
                data = f.read(MAX_WORKFLOW_BYTES + 1)
    except OSError as exc:
        raise WorkflowError(f"workflow {path}: cannot read it ({exc.strerror or exc})") from None
    if data is None:
        try:
            texts = read_texts(path)
        except ImageMetadataError as exc:
            raise WorkflowError(f"workflow {exc}") from None
        key = "prompt" if "prompt" in texts else "workflow" if "workflow" in texts else None
        if key is None:
            raise WorkflowError(
                f"workflow {path}: the image carries no ComfyUI workflow (no 'prompt' or "
                "'workflow' metadata: saved with --disable-metadata, or not by ComfyUI?)"
            )
        data = texts[key].encode("utf-8")
        source = f"{key} chunk"
    else:
        source = ""
        if len(data) > MAX_WORKFLOW_BYTES:
            raise WorkflowError(
                f"workflow {path}: over {MAX_WORKFLOW_BYTES >> 20} MiB: not a workflow"
            )
    try:
        return json.loads(data), source, data
    except ValueError as exc:
        raise WorkflowError(f"workflow {path}: not JSON ({exc})") from None


def load_workflow(path: Path) -> Workflow:
    """Read a workflow: an API graph, a UI-format file as ComfyUI saves it (converted later,
    see `Workflow.converted`), or a PNG/WebP saved by ComfyUI (its prompt chunk, else its
    workflow chunk). WorkflowError for a missing or broken file."""
    path = Path(path)
    graph, source, data = _read(path)
    digest = hashlib.sha256(data).hexdigest()
    if is_ui_format(graph):
        if not isinstance(graph["nodes"], list):
            raise WorkflowError(f"workflow {path}: 'nodes' must be a list")
        return Workflow(path, {}, digest, ui=graph, source=source or "UI workflow")
    if not isinstance(graph, dict) or not graph:
        raise WorkflowError(f"workflow {path}: expected a mapping of node ids to nodes")
    for node_id, node in graph.items():
        if not isinstance(node, dict) or "class_type" not in node:
            raise WorkflowError(
                f"workflow {path}: node {node_id} has no class_type: neither an API graph "
                "nor a UI-format workflow"
            )
        if not isinstance(node.get("inputs", {}), dict):
            raise WorkflowError(f"workflow {path}: node {node_id}: inputs must be a mapping")
    return Workflow(path, graph, digest, source=source or "API graph")


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
                node, dot, name = str(spot).rpartition(".")
                if not dot or not node or not name:
                    raise WorkflowError(
                        f"bind.{key}: expected 'node_id.input' (e.g. '6.text'), got {spot!r}"
                    )
                out.append((key, node, name, None))
        elif "." in key:
            node, _, name = key.rpartition(".")
            out.append(("=", node, name, value))
        else:
            raise WorkflowError(
                f"bind: unknown key '{key}': expected one of {', '.join(FIELDS)}, or "
                "'node_id.input: value' for a literal"
            )
    return out


def node_titles(workflow: Workflow) -> dict[str, list[str]]:
    """title -> node ids (`_meta.title` of the API graph)."""
    out: dict[str, list[str]] = {}
    for node_id, node in workflow.graph.items():
        title = (node.get("_meta") or {}).get("title")
        if isinstance(title, str) and title:
            out.setdefault(title, []).append(node_id)
    return out


def resolved(workflow: Workflow, bind: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    """`targets(bind)` with node titles ("Positive.text") turned into node ids.

    A reference that is a node id stays; else it must be the title of exactly one node.
    WorkflowError for an unknown or ambiguous title.
    """
    titles = node_titles(workflow)
    out = []
    for what, node_id, name, literal in targets(bind):
        if node_id not in workflow.graph and node_id in titles:
            ids = titles[node_id]
            if len(ids) > 1:
                key = what if what != "=" else f"{node_id}.{name}"
                raise WorkflowError(
                    f"bind.{key}: {len(ids)} nodes are titled '{node_id}' (nodes "
                    f"{', '.join(sorted(ids, key=_num))}): give one a unique title in ComfyUI, "
                    "or name it by id"
                )
            node_id = ids[0]
        out.append((what, node_id, name, literal))
    return out


def check_offline(workflow: Workflow, bind: dict[str, Any]) -> list[str]:
    """Problems of the binds against the graph itself (no server needed; a UI-format
    workflow not yet converted has only its conversion checked, by `check_against`)."""
    if workflow.needs_conversion:
        try:
            targets(bind)
        except WorkflowError as exc:
            return [str(exc)]
        return []
    problems = [f"{workflow.source}: {n}" for n in workflow.notes]
    try:
        spots = resolved(workflow, bind)
    except WorkflowError as exc:
        return [*problems, str(exc)]
    for what, node_id, name, _ in spots:
        key = what if what != "=" else f"{node_id}.{name}"
        node = workflow.graph.get(node_id)
        if node is None:
            have = ", ".join(
                f"{i} '{t}'" if t else i
                for i, t in (
                    (i, (workflow.graph[i].get("_meta") or {}).get("title"))
                    for i in sorted(workflow.graph, key=_num)
                )
            )
            problems.append(
                f"bind.{key}: the workflow {workflow.path.name} has no node {node_id} "
                f"(no such id or title; its nodes: {have})"
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
    """Problems of the graph on one server: node classes, inputs, model files, choices.

    A UI-format workflow is converted first with this server's `/object_info`; what could
    not be converted and the binds against the converted graph come first."""
    if workflow.needs_conversion:
        try:
            workflow = workflow.converted(object_info)
        except WorkflowError as exc:
            return [str(exc)]
        return [
            f"on {server}: {m}" if not m.startswith("bind.") else m
            for m in check_offline(workflow, bind)
        ] + check_against(workflow, bind, object_info, server)
    try:
        bound_images = {(n, i) for w, n, i, _ in resolved(workflow, bind) if w in IMAGE_FIELDS}
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
        extra = FRONTEND_WIDGETS.get(cls, ())  # sent by ComfyUI's frontend, ignored by servers
        for name, value in node.get("inputs", {}).items():
            if name in extra:
                continue
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
    for what, node_id, name, literal in resolved(workflow, bind):
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
