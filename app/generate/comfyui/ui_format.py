"""ComfyUI's UI-format workflow (nodes and links, as saved) to its API graph.

A pure function of the saved JSON and a server's `/object_info`: `ui_to_api(ui, object_info)`
returns the graph ComfyUI's frontend would send (`graphToPrompt`), the nodes' titles (for
`bind: {prompt: "Positive.text"}`) and what could not be converted, each line naming the node.

What it follows (shared/notes/comfyui-workflows.md):
- widget values go to inputs in the node's own input order (`input_order`: required, then
  optional); after a widget with `control_after_generate` (seed widgets) comes one extra entry
  (fixed/increment/...), after an upload combo (`image_upload`...) the button's entry; neither
  is sent. A dict in `widgets_values` is taken by name.
- a connected input becomes `[origin id, slot]` and wins over its widget value (a widget
  turned into an input keeps its slot in `widgets_values`);
- frontend-only nodes are not sent: `Reroute` (followed), `PrimitiveNode` (its value goes to
  the inputs it feeds), `Note`/`MarkdownNote`; muted nodes (mode 2) are left out with the
  inputs fed by them; through a bypassed node (mode 4) a link continues from the node's input
  of the same type (same slot first, then the first input of that type);
- subgraphs (`definitions.subgraphs`) are flattened; inner nodes get ids `"<instance>:<inner>"`
  and the instance's widget values (promoted widgets) go to the inner inputs they feed;
- group nodes (`extra.groupNodes`, types `workflow>Name`) are expanded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

VIRTUAL = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote"})
WIDGET_TYPES = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
UPLOADS = ("image_upload", "video_upload", "audio_upload", "animated_image_upload", "upload")
SEED_NAMES = ("seed", "noise_seed")
# Widgets the frontend's own extensions add to a node (not in /object_info): name -> value
# when the saved values do not hold one.
FRONTEND_WIDGETS: dict[str, tuple[str, ...]] = {
    "PreviewAny": ("preview",),
    "Preview3D": ("image",),
    "Preview3DAnimation": ("image",),
    "SaveGLB": ("image",),
}
MUTED, BYPASSED = 2, 4
GROUP_PREFIXES = ("workflow>", "workflow/")
MAX_DEPTH = 16


@dataclass
class Conversion:
    """The API graph, each node's title, and what could not be converted."""

    graph: dict[str, dict[str, Any]]
    titles: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # converted as ComfyUI would, but told


def _is_widget(spec: Any) -> bool:
    if not isinstance(spec, list) or not spec:
        return False
    kind = spec[0]
    opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
    if opts.get("forceInput") or opts.get("rawLink"):
        return False
    return isinstance(kind, list) or kind in WIDGET_TYPES


def _opts(spec: Any) -> dict[str, Any]:
    return spec[1] if isinstance(spec, list) and len(spec) > 1 and isinstance(spec[1], dict) else {}


def widget_names(info: dict[str, Any]) -> list[tuple[str, int]]:
    """(input name, slots it takes in `widgets_values`) in the node's widget order."""
    inputs = info.get("input", {}) or {}
    order = info.get("input_order") or {
        k: list((inputs.get(k) or {}).keys()) for k in ("required", "optional")
    }
    out: list[tuple[str, int]] = []
    for section in ("required", "optional"):
        specs = inputs.get(section) or {}
        for name in order.get(section, []) or []:
            spec = specs.get(name)
            if not _is_widget(spec):
                continue
            opts = _opts(spec)
            extra = 0
            if opts.get("control_after_generate", spec[0] == "INT" and name in SEED_NAMES):
                extra += 1
            if any(opts.get(k) for k in UPLOADS):
                extra += 1
            out.append((name, 1 + extra))
    return out


def _links(raw: Any) -> dict[int, tuple[Any, int, Any, int, str]]:
    """link id -> (origin id, origin slot, target id, target slot, type), both forms."""
    out: dict[int, tuple[Any, int, Any, int, str]] = {}
    for link in raw or []:
        if isinstance(link, list) and len(link) >= 5:
            out[int(link[0])] = (
                link[1],
                int(link[2]),
                link[3],
                int(link[4]),
                str(link[5]) if len(link) > 5 else "*",
            )
        elif isinstance(link, dict) and "id" in link:
            out[int(link["id"])] = (
                link.get("origin_id"),
                int(link.get("origin_slot", 0)),
                link.get("target_id"),
                int(link.get("target_slot", 0)),
                str(link.get("type", "*")),
            )
    return out


@dataclass
class _Scope:
    """One graph level: the root, or one subgraph instance (path = its id path)."""

    path: str  # "" for the root, else "12" or "12:5"
    nodes: dict[str, dict[str, Any]]
    links: dict[int, tuple[Any, int, Any, int, str]]
    parent: _Scope | None = None
    instance: dict[str, Any] | None = None  # the instance node in the parent scope
    definition: dict[str, Any] | None = None
    promoted: dict[int, Any] = field(default_factory=dict)  # subgraph input slot -> value

    def pid(self, node_id: Any) -> str:
        return f"{self.path}:{node_id}" if self.path else str(node_id)


class _Converter:
    def __init__(self, ui: dict[str, Any], object_info: dict[str, Any]) -> None:
        self.ui = ui
        self.info = object_info
        defs = (ui.get("definitions") or {}).get("subgraphs") or []
        self.subgraphs = {str(s.get("id")): s for s in defs if isinstance(s, dict)}
        groups = (ui.get("extra") or {}).get("groupNodes") or {}
        if isinstance(groups, dict):
            for name, data in groups.items():
                if isinstance(data, dict) and isinstance(data.get("nodes"), list):
                    for prefix in GROUP_PREFIXES:
                        self.subgraphs[prefix + str(name)] = self._group_as_subgraph(data)
        self.graph: dict[str, dict[str, Any]] = {}
        self.titles: dict[str, str] = {}
        self.problems: list[str] = []
        self.warnings: list[str] = []
        self.emitted: dict[str, tuple[_Scope, dict[str, Any]]] = {}

    # --- naming -------------------------------------------------------------------------

    def label(self, scope: _Scope, node: dict[str, Any]) -> str:
        kind = str(node.get("type"))
        sub = self.subgraphs.get(kind)
        if sub is not None and not sub.get("group"):
            kind = f"subgraph '{sub.get('name', kind)}'"
        title = node.get("title")
        extra = f" '{title}'" if title else ""
        return f"node {scope.pid(node.get('id'))} ({kind}){extra}"

    # --- walking ------------------------------------------------------------------------

    def run(self) -> Conversion:
        root = _Scope("", self._index(self.ui.get("nodes")), _links(self.ui.get("links")))
        self.walk(root, 0)
        for pid in list(self.graph):
            scope, node = self.emitted[pid]
            self.fill(pid, scope, node)
        return Conversion(self.graph, self.titles, self.problems, self.warnings)

    def _index(self, nodes: Any) -> dict[str, dict[str, Any]]:
        return {str(n.get("id")): n for n in nodes or [] if isinstance(n, dict)}

    def walk(self, scope: _Scope, depth: int) -> None:
        for node in scope.nodes.values():
            kind = str(node.get("type"))
            mode = node.get("mode", 0)
            if kind in self.subgraphs:
                if mode in (MUTED, BYPASSED):
                    continue
                if depth >= MAX_DEPTH:
                    self.problems.append(f"{self.label(scope, node)}: subgraphs nested too deep")
                    continue
                self.walk(self.enter(scope, node), depth + 1)
                continue
            if kind in VIRTUAL or mode in (MUTED, BYPASSED):
                continue
            if kind.startswith(GROUP_PREFIXES):
                self.problems.append(
                    f"{self.label(scope, node)}: its group node definition is not in the "
                    "file (extra.groupNodes)"
                )
                continue
            if kind not in self.info:
                self.problems.append(
                    f"{self.label(scope, node)}: node class '{kind}' is not installed on the "
                    "server (a custom node? install it there and restart the server)"
                )
                continue
            pid = scope.pid(node.get("id"))
            self.graph[pid] = {"inputs": {}, "class_type": kind}
            self.emitted[pid] = (scope, node)

    def enter(self, scope: _Scope, node: dict[str, Any]) -> _Scope:
        sub = self.subgraphs[str(node.get("type"))]
        inner = _Scope(
            scope.pid(node.get("id")),
            self._index(sub.get("nodes")),
            _links(sub.get("links")),
            parent=scope,
            instance=node,
            definition=sub,
        )
        # Promoted widgets: the instance's widget values, in the order of the subgraph
        # inputs that feed a widget inside (a group node: every inner widget, its control
        # entries included).
        values = node.get("widgets_values")
        if isinstance(values, list) and "widths" in sub:
            at = 0
            for slot, width in sub["widths"]:
                if at < len(values):
                    inner.promoted[slot] = values[at]
                at += width
        elif isinstance(values, list):
            widget_slots = [
                i for i, s in enumerate(sub.get("inputs") or []) if self._feeds_widget(inner, s)
            ]
            for slot, value in zip(widget_slots, values, strict=False):
                inner.promoted[slot] = value
        return inner

    def _group_as_subgraph(self, data: dict[str, Any]) -> dict[str, Any]:
        """A legacy group node's definition (`extra.groupNodes`) as a subgraph definition:
        inner nodes by index; the instance's inputs are the inner inputs not linked inside
        (links first, then widgets, node by node), its outputs the inner outputs not linked
        inside or marked external."""
        nodes = [
            dict(n, id=i, inputs=[dict(e) for e in n.get("inputs") or [] if isinstance(e, dict)])
            for i, n in enumerate(data["nodes"])
            if isinstance(n, dict)
        ]

        def wire(link: dict[str, Any]) -> None:
            links.append(link | {"id": len(links) + 1})
            target = link["target_id"]
            if 0 <= target < len(nodes) and link["target_slot"] < len(nodes[target]["inputs"]):
                nodes[target]["inputs"][link["target_slot"]]["link"] = len(links)

        links: list[dict[str, Any]] = []
        fed: set[tuple[int, int]] = set()
        used: set[tuple[int, int]] = set()
        for raw in data.get("links") or []:
            if not isinstance(raw, list) or len(raw) < 4 or raw[0] is None:
                continue
            wire({"origin_id": raw[0], "origin_slot": int(raw[1])} | {"target_id": int(raw[2]),
                  "target_slot": int(raw[3])})  # fmt: skip
            fed.add((int(raw[2]), int(raw[3])))
            used.add((int(raw[0]), int(raw[1])))
        external = {(int(e[0]), int(e[1])) for e in data.get("external") or [] if len(e) > 1}
        inputs: list[dict[str, Any]] = []
        widths: list[tuple[int, int]] = []
        for widgets in (False, True):
            for node in nodes:
                info = self.info.get(str(node.get("type")), {})
                width = dict(widget_names(info)) if info else {}
                for slot, entry in enumerate(node.get("inputs") or []):
                    if (node["id"], slot) in fed or bool(entry.get("widget")) != widgets:
                        continue
                    if widgets:
                        widths.append((len(inputs), width.get(entry.get("name"), 1)))
                    inputs.append({"name": f"{node['id']}:{entry.get('name')}", "linkIds": []})
                    wire(
                        {"origin_id": -10, "origin_slot": len(inputs) - 1}
                        | {"target_id": node["id"], "target_slot": slot}
                    )
                    inputs[-1]["linkIds"].append(len(links))
        outputs: list[dict[str, Any]] = []
        for node in nodes:
            for slot, _ in enumerate(node.get("outputs") or []):
                if (node["id"], slot) in used and (node["id"], slot) not in external:
                    continue
                wire(
                    {"origin_id": node["id"], "origin_slot": slot}
                    | {"target_id": -20, "target_slot": len(outputs)}
                )
                outputs.append({"linkIds": [len(links)]})
        return {"name": "group node", "nodes": nodes, "links": links, "inputs": inputs,
                "outputs": outputs, "widths": widths, "group": True}  # fmt: skip

    def _feeds_widget(self, inner: _Scope, sub_input: dict[str, Any], depth: int = 0) -> bool:
        if depth > MAX_DEPTH:
            return False
        for link_id in sub_input.get("linkIds") or []:
            link = inner.links.get(int(link_id))
            if link is None:
                continue
            target = inner.nodes.get(str(link[2]))
            if target is None:
                continue
            slots = target.get("inputs") or []
            if link[3] < len(slots) and isinstance(slots[link[3]], dict):
                if slots[link[3]].get("widget"):
                    return True
            if str(target.get("type")) == "PrimitiveNode":
                return False
            if str(target.get("type")) in self.subgraphs:
                sub = self.subgraphs[str(target.get("type"))]
                ins = sub.get("inputs") or []
                if link[3] < len(ins):
                    peek = self.enter_peek(inner, target)
                    return self._feeds_widget(peek, ins[link[3]], depth + 1)
        return False

    def enter_peek(self, scope: _Scope, node: dict[str, Any]) -> _Scope:
        sub = self.subgraphs[str(node.get("type"))]
        return _Scope(
            scope.pid(node.get("id")), self._index(sub.get("nodes")), _links(sub.get("links"))
        )

    # --- resolving a link to what feeds it ----------------------------------------------

    def source(self, scope: _Scope, link_id: Any, depth: int = 0) -> tuple[str, Any] | None:
        """('link', [id, slot]) or ('value', v) for a link's origin, or None (left out)."""
        if link_id is None or depth > 256:
            return None
        link = scope.links.get(int(link_id))
        if link is None:
            return None
        return self.output(scope, link[0], link[1], link[4], depth + 1)

    def output(
        self, scope: _Scope, origin: Any, slot: int, kind: str, depth: int
    ) -> tuple[str, Any] | None:
        if str(origin) == "-10":  # a subgraph's input node: what feeds the instance
            return self.subgraph_input(scope, slot, depth)
        node = scope.nodes.get(str(origin))
        if node is None:
            return None
        ntype = str(node.get("type"))
        mode = node.get("mode", 0)
        if ntype in self.subgraphs:
            if mode == MUTED:
                return None
            if mode == BYPASSED:
                return self.bypass(scope, node, slot, kind, depth)
            inner = self.enter(scope, node)
            outs = (inner.definition or {}).get("outputs") or []
            if slot >= len(outs):
                return None
            for link_id in outs[slot].get("linkIds") or []:
                return self.source(inner, link_id, depth)
            return None
        if ntype == "Reroute":
            ins = node.get("inputs") or []
            return self.source(scope, ins[0].get("link"), depth) if ins else None
        if ntype == "PrimitiveNode":
            values = node.get("widgets_values") or []
            return ("value", values[0]) if values else None
        if mode == MUTED:
            return None
        if mode == BYPASSED:
            return self.bypass(scope, node, slot, kind, depth)
        pid = scope.pid(node.get("id"))
        if pid not in self.graph:
            return None
        return ("link", [pid, slot])

    def subgraph_input(self, scope: _Scope, slot: int, depth: int) -> tuple[str, Any] | None:
        """What feeds input `slot` of the subgraph instance `scope`: a link outside or the
        instance's (promoted) widget value."""
        if scope.parent is None or scope.instance is None:
            return None
        sub_inputs = (scope.definition or {}).get("inputs") or []
        name = sub_inputs[slot].get("name") if slot < len(sub_inputs) else None
        ins = scope.instance.get("inputs") or []
        if (scope.definition or {}).get("group"):  # a group node's inputs: by position
            ins = [dict(ins[slot], name=name)] if slot < len(ins) else []
        for entry in ins:
            if entry.get("name") == name and entry.get("link") is not None:
                return self.source(scope.parent, entry.get("link"), depth)
        if slot in scope.promoted:
            return ("value", scope.promoted[slot])
        return None

    def bypass(
        self, scope: _Scope, node: dict[str, Any], slot: int, kind: str, depth: int
    ) -> tuple[str, Any] | None:
        ins = node.get("inputs") or []
        outs = node.get("outputs") or []
        want = outs[slot].get("type") if slot < len(outs) else kind
        order = ([slot] if slot < len(ins) else []) + list(range(len(ins)))
        for i in order:
            if ins[i].get("type") == want and ins[i].get("link") is not None:
                return self.source(scope, ins[i].get("link"), depth)
            if ins[i].get("type") == want and i != slot:
                break
        return None

    # --- one emitted node -----------------------------------------------------------------

    def fill(self, pid: str, scope: _Scope, node: dict[str, Any]) -> None:
        kind = self.graph[pid]["class_type"]
        info = self.info[kind]
        inputs: dict[str, Any] = {}
        values = node.get("widgets_values")
        names = widget_names(info)
        if isinstance(values, dict):
            for name, _ in names:
                if name in values:
                    inputs[name] = values[name]
        specs = {**(info.get("input", {}).get("required") or {})}
        specs.update(info.get("input", {}).get("optional") or {})
        if isinstance(values, list) or values is None:
            values = values or []
            at = 0
            short: list[str] = []
            for name, width in names:
                if at < len(values):
                    inputs[name] = values[at]
                else:  # the frontend gives a widget with no saved value its default
                    inputs[name] = _default(specs[name])
                    short.append(name)
                at += width
            for name in FRONTEND_WIDGETS.get(kind, ()):
                inputs[name] = values[at] if at < len(values) else ""
                at += 1
            if short and node.get("widgets_values") is not None:
                self.warnings.append(
                    f"{self.label(scope, node)}: no saved value for {', '.join(short)} (saved "
                    "by another version of the node?): the default is used"
                )
        for entry in node.get("inputs") or []:
            name = entry.get("name")
            if not isinstance(name, str):
                continue
            if entry.get("link") is None:
                continue
            found = self.source(scope, entry.get("link"))
            if found is None:
                inputs.pop(name, None)
                continue
            inputs[name] = found[1]
        for name in list(inputs):
            if isinstance(inputs[name], list) and not (
                len(inputs[name]) == 2
                and isinstance(inputs[name][0], str)
                and isinstance(inputs[name][1], int)
                and any(e.get("name") == name and e.get("link") for e in node.get("inputs") or [])
            ):
                inputs[name] = {"__value__": inputs[name]}
        self.graph[pid]["inputs"] = inputs
        title = node.get("title") or info.get("display_name") or kind
        self.graph[pid]["_meta"] = {"title": title}
        self.titles[pid] = str(title)


def _default(spec: Any) -> Any:
    opts = _opts(spec)
    if "default" in opts:
        return opts["default"]
    kind = spec[0]
    choices = kind if isinstance(kind, list) else opts.get("options")
    if isinstance(choices, list):
        return choices[0] if choices else None
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(kind)


class UIFormatError(ValueError):
    """A UI-format workflow too malformed to convert (the message says where)."""


def ui_to_api(ui: dict[str, Any], object_info: dict[str, Any]) -> Conversion:
    """The API graph of a UI-format workflow on a server with `object_info`; UIFormatError
    for a file whose structure is broken (not as ComfyUI writes it)."""
    try:
        return _Converter(ui, object_info).run()
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        raise UIFormatError(
            f"not a UI-format workflow as ComfyUI writes it ({type(exc).__name__}: {exc})"
        ) from None


def is_ui_format(data: Any) -> bool:
    """True for ComfyUI's UI format (nodes and links), False for an API graph."""
    return isinstance(data, dict) and "nodes" in data and "links" in data
