"""ComfyUI workflows as recipes: loading, binds, validation against an /object_info."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.generate.comfyui.backend import prompt_id
from app.generate.comfyui.workflow import (
    WorkflowError,
    bind_graph,
    check_against,
    check_offline,
    load_workflow,
)

GRAPH = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "wan.safetensors"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
    "3": {"class_type": "KSampler", "inputs": {"seed": 1, "steps": 20, "model": ["4", 0]}},
    "12": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
}
INFO = {
    "CheckpointLoaderSimple": {"input": {"required": {"ckpt_name": [["sdxl.safetensors"], {}]}}},
    "CLIPTextEncode": {"input": {"required": {"text": ["STRING", {}], "clip": ["CLIP", {}]}}},
    "KSampler": {
        "input": {"required": {"seed": ["INT", {}], "steps": ["INT", {}], "model": ["MODEL", {}]}}
    },
    "LoadImage": {"input": {"required": {"image": ["COMBO", {"options": ["a.png"]}]}}},
}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_ui_format_is_converted_with_the_servers_object_info(tmp_path: Path) -> None:
    ui = {
        "nodes": [
            {"id": 6, "type": "CLIPTextEncode", "mode": 0, "title": "Positive",
             "widgets_values": ["moon"], "inputs": [], "outputs": []},
            {"id": 3, "type": "KSampler", "mode": 0, "inputs": [], "outputs": [],
             "widgets_values": [7, "randomize", 20]},
        ],
        "links": [],
        "version": 0.4,
    }  # fmt: skip
    info = {
        "CLIPTextEncode": {"input": {"required": {"text": ["STRING", {}]}}},
        "KSampler": {
            "input": {
                "required": {"seed": ["INT", {"control_after_generate": True}], "steps": ["INT"]}
            }
        },
    }
    wf = load_workflow(_write(tmp_path, ui))
    assert wf.needs_conversion and check_offline(wf, {"prompt": "Positive.text"}) == []
    api = wf.converted(info)
    assert api.graph["6"]["inputs"] == {"text": "moon"}
    assert api.graph["3"]["inputs"] == {"seed": 7, "steps": 20}
    assert check_offline(api, {"prompt": "Positive.text", "seed": "3.seed"}) == []
    assert check_against(wf, {"prompt": "Positive.txt"}, info, "S") == [
        "bind.prompt: node 6 (CLIPTextEncode) has no input 'txt' (its inputs: text)"
    ]
    bound = bind_graph(api, {"Positive.text": "sun"}, None, {})
    assert bound["6"]["inputs"]["text"] == "sun"
    # The cache key covers the converted graph: another server's widgets, another key.
    info["KSampler"]["input"]["required"]["seed"] = ["INT", {"control_after_generate": False}]
    assert wf.converted(info).sha256 != api.sha256
    path = tmp_path / "wf.json"
    path.write_text("{", encoding="utf-8")
    with pytest.raises(WorkflowError, match="not JSON"):
        load_workflow(path)
    with pytest.raises(WorkflowError, match="cannot read"):
        load_workflow(tmp_path / "missing.json")


def test_binds_are_checked_against_the_graph(tmp_path: Path) -> None:
    wf = load_workflow(_write(tmp_path, GRAPH))
    ok = {"prompt": "6.text", "seed": "3.seed", "from": "12.image", "3.steps": 8}
    assert check_offline(wf, ok) == []
    problems = check_offline(wf, {"prompt": "7.text", "seed": "3.sed", "colour": "1.x"})
    assert problems == [
        "bind: unknown key 'colour': expected one of prompt, negative_prompt, "
        "seed, width, height, steps, guidance, frames, fps, from, last_from, or "
        "'node_id.input: value' for a literal"
    ]
    problems = check_offline(wf, {"prompt": "7.text", "seed": "3.sed"})
    assert "has no node 7" in problems[0]
    assert "node 3 (KSampler) has no input 'sed'" in problems[1]


def test_server_check_names_missing_classes_inputs_and_model_files(tmp_path: Path) -> None:
    graph = json.loads(json.dumps(GRAPH))
    graph["9"] = {"class_type": "WanFunInpaint", "inputs": {}}
    graph["3"]["inputs"]["cfg_rescale"] = 1
    wf = load_workflow(_write(tmp_path, graph))
    problems = check_against(wf, {"from": "12.image"}, INFO, "http://gpu1:8188")
    assert any(
        "node 9 (WanFunInpaint): node class 'WanFunInpaint' is not installed" in p for p in problems
    )
    assert any("node 3 (KSampler): unknown input 'cfg_rescale'" in p for p in problems)
    assert any(
        "node 4 (CheckpointLoaderSimple): ckpt_name 'wan.safetensors': no such file" in p
        for p in problems
    )
    assert not any("LoadImage" in p for p in problems)  # bound from: uploaded at run time


def test_bind_graph_sets_fields_literals_and_uploaded_images(tmp_path: Path) -> None:
    wf = load_workflow(_write(tmp_path, GRAPH))
    spec = SimpleNamespace(
        prompt="moonlight",
        negative_prompt="",
        steps=12,
        guidance=4.0,
        width=64,
        height=48,
        frames=9,
        fps=16.0,
        extra={},
    )
    job = SimpleNamespace(spec=spec, seed=42)
    bind = {"prompt": "6.text", "seed": ["3.seed"], "from": "12.image", "3.steps": 5}
    graph = bind_graph(wf, bind, job, {"from": "app-a.png"})
    assert graph["6"]["inputs"]["text"] == "moonlight"
    assert graph["3"]["inputs"]["seed"] == 42 and graph["3"]["inputs"]["steps"] == 5
    assert graph["12"]["inputs"]["image"] == "app-a.png"
    assert wf.graph["6"]["inputs"]["text"] == ""  # the loaded graph is left as it was


def test_prompt_id_is_our_cache_key_as_a_uuid() -> None:
    key = "0123456789abcdef0123456789abcdef"
    assert prompt_id(key).replace("-", "") == key
