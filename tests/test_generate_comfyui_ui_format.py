"""UI-format workflows (as ComfyUI saves them) and ComfyUI images as recipes, against a REAL
ComfyUI server (the test venv, CPU, placeholder weights).

The oracle is ComfyUI's own frontend (the server's comfyui-frontend-package, in chromium):
`app.graphToPrompt()` converts every template of the server's template package whose node
classes the server has; our converter (app/generate/comfyui/ui_format.py) must give the same
API graph. The oracle never comes from our converter.
"""

from __future__ import annotations

import io
import json
import re
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from comfyui_server import MODEL_KINDS, Server
from PIL import Image
from tiny_models import write_show
from tools.comfy_oracle import frontend_convert, template_files

from app.cli import main
from app.generate.comfyui.image import read_texts
from app.generate.comfyui.recipe import recipe_from_comfyui
from app.generate.comfyui.ui_format import VIRTUAL, ui_to_api
from app.generate.comfyui.workflow import load_workflow

# HAND_MADE with White, the blend and a RandomNoise turned into a legacy group node by
# ComfyUI's frontend and saved (tests/tools/comfy_group_node.py made it).
GROUP_NODE = (Path(__file__).parent / "data" / "comfyui" / "group_node.json").read_text("utf-8")
# The templates the production used (issue 24): all must be among those converted.
PRODUCTION = (
    "sdxl_simple_example",
    "flux_dev_checkpoint_example",
    "image_chroma_text_to_image",
    "esrgan_example",
    "video_wan2_2_14B_i2v",
    "video_wan2_2_14B_flf2v",
    "video_wan2_2_14B_fun_camera",
    "video_wan2_2_14B_fun_inpaint",
)
WEIGHTS = (".safetensors", ".pth", ".pt", ".ckpt", ".bin", ".gguf", ".sft")
MEDIA = (".png", ".jpg", ".jpeg", ".webp", ".mp4", ".webm", ".mp3", ".wav", ".flac", ".glb")


def _node(nid: int, kind: str, values: list[Any], ins=(), outs=(), mode=0, title=None):
    node: dict[str, Any] = {
        "id": nid,
        "type": kind,
        "pos": [0, 0],
        "size": [200, 100],
        "flags": {},
        "order": nid,
        "mode": mode,
        "inputs": [dict(i) for i in ins],
        "outputs": [dict(o) for o in outs],
        "properties": {},
        "widgets_values": values,
    }
    if title:
        node["title"] = title
    return node


# Core nodes, no weights: a primitive feeds Base's colour (a widget turned into an input), a
# Reroute carries Base on, a bypassed ImageInvert passes the blend through, a muted one and a
# Note are left out. Red blended 0.25 with white, not inverted: (255, 64, 64).
HAND_MADE: dict[str, Any] = {
    "last_node_id": 12,
    "last_link_id": 8,
    "nodes": [
        _node(
            1,
            "EmptyImage",
            [64, 48, 1, 0],
            ins=[{"name": "color", "type": "INT", "link": 1, "widget": {"name": "color"}}],
            outs=[{"name": "IMAGE", "type": "IMAGE", "links": [2]}],
            title="Base",
        ),
        _node(
            10,
            "PrimitiveNode",
            [255, "fixed"],
            outs=[{"name": "INT", "type": "INT", "links": [1], "widget": {"name": "color"}}],
        ),
        _node(
            11,
            "Reroute",
            [],
            ins=[{"name": "", "type": "*", "link": 2}],
            outs=[{"name": "", "type": "IMAGE", "links": [3]}],
        ),
        _node(
            2,
            "EmptyImage",
            [64, 48, 1, 16777215],
            outs=[{"name": "IMAGE", "type": "IMAGE", "links": [4]}],
            title="White",
        ),
        _node(
            3,
            "ImageBlend",
            [0.25, "normal"],
            ins=[
                {"name": "image1", "type": "IMAGE", "link": 3},
                {"name": "image2", "type": "IMAGE", "link": 4},
            ],
            outs=[{"name": "IMAGE", "type": "IMAGE", "links": [5, 7]}],
        ),
        _node(
            4,
            "ImageInvert",
            [],
            ins=[{"name": "image", "type": "IMAGE", "link": 5}],
            outs=[{"name": "IMAGE", "type": "IMAGE", "links": [6]}],
            mode=4,
        ),
        _node(
            5,
            "SaveImage",
            ["hand"],
            ins=[{"name": "images", "type": "IMAGE", "link": 6}],
            title="Out",
        ),
        _node(
            6,
            "ImageInvert",
            [],
            ins=[{"name": "image", "type": "IMAGE", "link": 7}],
            outs=[{"name": "IMAGE", "type": "IMAGE", "links": []}],
            mode=2,
        ),
        _node(12, "Note", ["a note"]),
    ],
    "links": [
        [1, 10, 0, 1, 0, "INT"],
        [2, 1, 0, 11, 0, "IMAGE"],
        [3, 11, 0, 3, 0, "IMAGE"],
        [4, 2, 0, 3, 1, "IMAGE"],
        [5, 3, 0, 4, 0, "IMAGE"],
        [6, 4, 0, 5, 0, "IMAGE"],
        [7, 3, 0, 6, 0, "IMAGE"],
    ],
    "groups": [],
    "config": {},
    "extra": {},
    "version": 0.4,
}


@dataclass
class Converted:
    server: Server
    info: dict[str, Any]
    files: dict[str, Path]  # template name -> its UI-format file
    ours: dict[str, Any]
    oracle: dict[str, Any]


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def _classes(ui: dict[str, Any]) -> set[str]:
    subs = (ui.get("definitions") or {}).get("subgraphs") or []
    ids = {s["id"] for s in subs}
    nodes = list(ui["nodes"]) + [n for s in subs for n in s.get("nodes", [])]
    return {n["type"] for n in nodes if n["type"] not in ids and n["type"] not in VIRTUAL}


def _placeholders(graphs: list[dict[str, Any]], models: Path, inputs: Path) -> None:
    """An empty file for every weight a graph names, in every model folder; a tiny image
    (or empty file) for every input medium."""
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    for graph in graphs:
        for node in graph.values():
            for value in node["inputs"].values():
                if not isinstance(value, str) or "\n" in value or len(value) > 200:
                    continue
                low = value.lower()
                if low.endswith(WEIGHTS):
                    for kind in MODEL_KINDS:
                        (models / kind / value).parent.mkdir(parents=True, exist_ok=True)
                        (models / kind / value).touch()
                elif low.endswith(MEDIA) and not value.startswith("/"):
                    target = inputs / value.removesuffix(" [input]")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(png.getvalue() if low.endswith(".png") else b"")


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Converted]:
    folder = tmp_path_factory.mktemp("comfyui-ui")
    models = folder / "models"
    for kind in MODEL_KINDS:
        (models / kind).mkdir(parents=True)
    server = Server(folder / "server", models=models)
    server.start()
    try:
        info = _get(server.url + "/object_info")
        files: dict[str, Path] = {}
        uis: dict[str, Any] = {"hand_made": HAND_MADE, "group_node": json.loads(GROUP_NODE)}
        for path in template_files(server.python):
            ui = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(ui, dict) and "nodes" in ui and _classes(ui) <= set(info):
                files[path.stem] = path
                uis[path.stem] = ui
        ours = {name: ui_to_api(ui, info) for name, ui in uis.items()}
        _placeholders([c.graph for c in ours.values()], models, folder / "server" / "input")
        oracle = frontend_convert(server.url, uis)
        yield Converted(server, _get(server.url + "/object_info"), files, ours, oracle)
    finally:
        server.kill()


def _strip(graph: dict[str, Any]) -> dict[str, Any]:
    return {k: {"class_type": v["class_type"], "inputs": v["inputs"]} for k, v in graph.items()}


def test_every_template_converts_as_comfyuis_frontend_does(converted: Converted) -> None:
    assert set(PRODUCTION) <= set(converted.files), set(PRODUCTION) - set(converted.files)
    assert len(converted.files) >= 100
    differ = []
    for name, conv in converted.ours.items():
        want = converted.oracle[name]
        assert isinstance(want, dict), f"{name}: the frontend failed: {want}"
        if _strip(conv.graph) != _strip(want):
            differ.append(name)
    assert differ == []


def test_hand_made_graph_primitive_reroute_bypass_mute(converted: Converted) -> None:
    graph = converted.ours["hand_made"].graph
    assert sorted(graph) == ["1", "2", "3", "5"]  # muted, bypassed and frontend-only: out
    assert graph["1"]["inputs"]["color"] == 255  # the primitive's value
    assert graph["3"]["inputs"]["image1"] == ["1", 0]  # through the Reroute
    assert graph["5"]["inputs"]["images"] == ["3", 0]  # through the bypassed invert
    assert converted.ours["hand_made"].titles["1"] == "Base"
    group = converted.ours["group_node"]
    assert group.problems == []
    assert group.graph["15:1"] == {
        "inputs": {"noise_seed": 42},  # the group's values, the seed's control entry skipped
        "class_type": "RandomNoise",
        "_meta": {"title": "RandomNoise"},
    }
    assert group.graph["15:2"]["inputs"]["image1"] == ["1", 0]
    assert group.graph["5"]["inputs"]["images"] == ["15:2", 0]


def test_a_recipe_pointing_at_each_template_passes_check(
    converted: Converted, tmp_path: Path
) -> None:
    from app.generate.comfyui.backend import check_show_workflows
    from app.show.loader import load_show

    cues = "".join(
        f"      - id: c{i}\n        media: m/c{i}.png\n"
        f"        generate: {{workflow: {json.dumps(str(path))}}}\n"
        for i, path in enumerate(converted.files.values())
    )
    show = write_show(tmp_path, f"title: T\npoems:\n  - id: '1'\n    cues:\n{cues}")
    (show.parent / "models.yaml").write_text(
        f"comfyui: {{servers: [{converted.server.url}]}}\n", encoding="utf-8"
    )
    problems, warnings = check_show_workflows(load_show(show, allow_missing=True))
    # A template saved by a newer node version than the server's: its missing widget values
    # take their defaults, as in ComfyUI, and check says so.
    assert warnings and all("no saved value" in w for w in warnings), warnings
    # Its value that the server refuses is the one ComfyUI's own frontend sends too.
    names = list(converted.files)
    bad = []
    for line in problems:
        found = re.search(r"cue 'c(\d+)'.*: node (\S+) \(\w+\): (\w+) (.+): no such value", line)
        if found:
            cue, node, name, value = found.groups()
            sent = converted.oracle[names[int(cue)]][node]["inputs"][name]
            if repr(sent) == value:
                continue
        bad.append(line)
    assert bad == [], "\n".join(bad)


def test_check_names_the_node_it_could_not_convert(
    converted: Converted, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ui = json.loads(json.dumps(HAND_MADE))
    ui["nodes"].append(_node(20, "NoSuchCustomNode", [1], title="Fancy"))
    show = write_show(
        tmp_path,
        "title: T\npoems:\n  - id: '1'\n    cues:\n      - id: a\n        media: m/a.png\n"
        "        generate: {workflow: w.json, bind: {seed: Nope.color}}\n",
    )
    (show.parent / "w.json").write_text(json.dumps(ui), encoding="utf-8")
    (show.parent / "models.yaml").write_text(
        f"comfyui: {{servers: [{converted.server.url}]}}\n", encoding="utf-8"
    )
    assert main(["check", str(show)]) != 0
    out = capsys.readouterr().out
    assert "node 20 (NoSuchCustomNode) 'Fancy'" in out and "not installed" in out
    assert "bind.seed" in out and "no node Nope" in out


def _post_prompt(url: str, graph: dict[str, Any], workflow: dict[str, Any]) -> str:
    """Queue as ComfyUI's frontend does (the UI workflow in extra_pnginfo); wait for it."""
    body = json.dumps(
        {
            "prompt": graph,
            "client_id": uuid.uuid4().hex,
            "extra_data": {"extra_pnginfo": {"workflow": workflow}},
        }
    ).encode()
    req = urllib.request.Request(
        url + "/prompt", body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        pid = json.loads(r.read())["prompt_id"]
    deadline = time.monotonic() + 120
    while pid not in _get(url + f"/history/{pid}"):  # the server's record of the finished run
        assert time.monotonic() < deadline, "ComfyUI did not finish the prompt"
        time.sleep(0.05)
    return pid


def _pixel(path: Path) -> tuple[int, ...]:
    with Image.open(path) as im:
        return tuple(int(v) for v in np.asarray(im.convert("RGB"))[5, 5])


def test_ui_workflow_and_comfyui_png_render_bound_by_title(
    converted: Converted, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _strip(converted.ours["hand_made"].graph) == _strip(converted.oracle["hand_made"])
    url = converted.server.url
    out = converted.server.folder / "output"
    before = set(out.glob("hand*.png"))
    _post_prompt(url, converted.oracle["hand_made"], HAND_MADE)
    made = sorted(set(out.glob("hand*.png")) - before)
    assert len(made) == 1
    show = write_show(
        tmp_path,
        "title: T\ngenerate: {width: 40, height: 32}\npoems:\n  - id: '1'\n    cues:\n"
        "      - id: ui\n        media: c/ui.png\n        generate:\n"
        "          workflow: hand.json\n"
        "          bind: {seed: Base.color, width: [Base.width, White.width],\n"
        "                 height: [Base.height, White.height], Out.filename_prefix: ui}\n"
        "          seed: 16711680\n"
        "      - id: png\n        media: c/png.png\n        generate:\n"
        "          workflow: saved.png\n"
        "          bind: {seed: Base.color, width: [1.width, 2.width],\n"
        "                 height: [1.height, 2.height]}\n"
        "          seed: 255\n",
    )
    saved = show.parent / "saved.png"  # as ComfyUI saved it: prompt and workflow chunks
    saved.write_bytes(made[0].read_bytes())
    texts = read_texts(saved)
    assert json.loads(texts["workflow"])["nodes"] and json.loads(texts["prompt"])["5"]
    (show.parent / "hand.json").write_text(json.dumps(HAND_MADE), encoding="utf-8")
    (show.parent / "models.yaml").write_text(f"comfyui: {{servers: [{url}]}}\n", encoding="utf-8")
    assert main(["generate", str(show)]) == 0, capsys.readouterr().err
    assert "2 rendered" in capsys.readouterr().out
    found = {p.name: p for p in tmp_path.rglob("*.png") if p.parent.name == "c"}
    red = _pixel(found["ui.png"])
    assert max(abs(a - b) for a, b in zip(red, (255, 64, 64), strict=True)) <= 1
    blue = _pixel(found["png.png"])
    assert max(abs(a - b) for a, b in zip(blue, (64, 64, 255), strict=True)) <= 1
    with Image.open(found["ui.png"]) as im:
        assert im.size == (40, 32)
    assert main(["check", str(show)]) == 0, capsys.readouterr()

    assert load_workflow(saved).source == "prompt chunk"
    recipe, unmapped = recipe_from_comfyui(saved)
    assert recipe["workflow"] == str(saved)
    assert recipe["bind"] == {"width": "1.width", "height": "1.height"}
    assert (recipe["width"], recipe["height"]) == (64, 48)
    assert any("cue's seed" in u for u in unmapped)
