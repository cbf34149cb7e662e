"""The UI-format converter's rules on small graphs, and ComfyUI image metadata (no server;
tests/test_generate_comfyui_ui_format.py compares with ComfyUI's own frontend)."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from app.generate.comfyui.image import MAX_TEXT_BYTES, ImageMetadataError, read_texts
from app.generate.comfyui.ui_format import ui_to_api
from app.generate.comfyui.workflow import WorkflowError, load_workflow

INFO: dict[str, Any] = {
    "Src": {"input": {"required": {"size": ["INT", {}]}}, "input_order": {"required": ["size"]}},
    "Use": {
        "input": {
            "required": {"image": ["IMAGE", {}], "text": ["STRING", {}]},
            "optional": {"seed": ["INT", {"control_after_generate": True}], "n": ["FLOAT", {}]},
        },
        "input_order": {"required": ["image", "text"], "optional": ["seed", "n"]},
    },
    "Pick": {
        "input": {"required": {"a": ["INT", {"forceInput": True}], "image": ["IMAGE", {}]}},
        "input_order": {"required": ["a", "image"]},
    },
    "Sink": {"input": {"required": {"images": ["IMAGE", {}], "tags": ["STRING", {}]}}},
}


def node(nid: Any, kind: str, values: Any = (), ins=(), outs=(), mode=0) -> dict[str, Any]:
    return {
        "id": nid,
        "type": kind,
        "mode": mode,
        "inputs": [
            {"name": n, "type": t, "link": link, **({"widget": {"name": n}} if w else {})}
            for n, t, link, w in ins
        ],
        "outputs": [{"name": t, "type": t, "links": ls} for t, ls in outs],
        "widgets_values": list(values) if isinstance(values, (list, tuple)) else values,
    }


def test_nested_subgraphs_are_flattened_with_promoted_widgets_and_path_ids() -> None:
    inner = {
        "id": "bbbb",
        "name": "Inner",
        "inputs": [
            {"name": "img", "type": "IMAGE", "linkIds": [20]},
            {"name": "text", "type": "STRING", "linkIds": [21]},
        ],
        "outputs": [{"name": "out", "type": "IMAGE", "linkIds": [22]}],
        "nodes": [
            node(
                3,
                "Use",
                ["saved", 5, "fixed", 0.5],
                ins=[("image", "IMAGE", 20, False), ("text", "STRING", 21, True)],
                outs=[("IMAGE", [22])],
            )
        ],
        "links": [
            {"id": 20, "origin_id": -10, "origin_slot": 0, "target_id": 3, "target_slot": 0},
            {"id": 21, "origin_id": -10, "origin_slot": 1, "target_id": 3, "target_slot": 1},
            {"id": 22, "origin_id": 3, "origin_slot": 0, "target_id": -20, "target_slot": 0},
        ],
    }
    outer = {
        "id": "aaaa",
        "name": "Outer",
        "inputs": [
            {"name": "img", "type": "IMAGE", "linkIds": [10]},
            {"name": "text", "type": "STRING", "linkIds": [11]},
        ],
        "outputs": [{"name": "out", "type": "IMAGE", "linkIds": [12]}],
        "nodes": [
            node(
                7,
                "bbbb",
                ins=[("img", "IMAGE", 10, False), ("text", "STRING", 11, True)],
                outs=[("IMAGE", [12])],
            )
        ],
        "links": [
            {"id": 10, "origin_id": -10, "origin_slot": 0, "target_id": 7, "target_slot": 0},
            {"id": 11, "origin_id": -10, "origin_slot": 1, "target_id": 7, "target_slot": 1},
            {"id": 12, "origin_id": 7, "origin_slot": 0, "target_id": -20, "target_slot": 0},
        ],
    }
    ui = {
        "version": 1,
        "nodes": [
            node(1, "Src", [64], outs=[("IMAGE", [1])]),
            node(5, "aaaa", ["promoted"], ins=[("img", "IMAGE", 1, False)], outs=[("IMAGE", [2])]),
            node(9, "Sink", ["t"], ins=[("images", "IMAGE", 2, False)]),
        ],
        "links": [
            {"id": 1, "origin_id": 1, "origin_slot": 0, "target_id": 5, "target_slot": 0},
            {"id": 2, "origin_id": 5, "origin_slot": 0, "target_id": 9, "target_slot": 0},
        ],
        "definitions": {"subgraphs": [outer, inner]},
    }
    conv = ui_to_api(ui, INFO)
    assert conv.problems == []
    assert conv.graph["5:7:3"]["inputs"] == {
        "image": ["1", 0],
        "text": "promoted",  # the instance's widget value wins over the saved inner one
        "seed": 5,  # its control entry ("fixed") is not an input
        "n": 0.5,
    }
    assert conv.graph["9"]["inputs"] == {"images": ["5:7:3", 0], "tags": "t"}
    assert sorted(conv.graph) == ["1", "5:7:3", "9"]


def test_bypass_takes_the_input_of_the_outputs_type_and_mute_drops_the_input() -> None:
    ui = {
        "nodes": [
            node(1, "Src", [8], outs=[("IMAGE", [1])]),
            node(2, "Src", [9], outs=[("INT", [2])]),
            # bypassed: its IMAGE output continues from its IMAGE input (slot 1, not 0)
            node(
                3,
                "Pick",
                [],
                ins=[("a", "INT", 2, False), ("image", "IMAGE", 1, False)],
                outs=[("IMAGE", [3])],
                mode=4,
            ),
            node(4, "Sink", ["x"], ins=[("images", "IMAGE", 3, False)]),
            node(5, "Src", [1], outs=[("IMAGE", [4])], mode=2),
            node(6, "Sink", ["y"], ins=[("images", "IMAGE", 4, False)]),
        ],
        "links": [
            [1, 1, 0, 3, 1, "IMAGE"],
            [2, 2, 0, 3, 0, "INT"],
            [3, 3, 0, 4, 0, "IMAGE"],
            [4, 5, 0, 6, 0, "IMAGE"],
        ],
    }
    graph = ui_to_api(ui, INFO).graph
    assert graph["4"]["inputs"] == {"images": ["1", 0], "tags": "x"}
    assert graph["6"]["inputs"] == {"tags": "y"}  # fed by a muted node: left out
    assert sorted(graph) == ["1", "2", "4", "6"]


def test_what_cannot_be_converted_is_named() -> None:
    ui = {
        "nodes": [
            node(1, "NotInstalled", [1]),
            node(2, "workflow>MyGroup", [1]),
            node(3, "Use", ["only text"]),
            node(4, "Sink", {"tags": "by name", "images": None}),
        ],
        "links": [],
    }
    ui["nodes"][0]["title"] = "Fancy"
    conv = ui_to_api(ui, INFO)
    assert conv.problems[0].startswith("node 1 (NotInstalled) 'Fancy': node class")
    assert conv.problems[1] == (
        "node 2 (workflow>MyGroup): its group node definition is not in the file (extra.groupNodes)"
    )
    assert conv.warnings[0] == (
        "node 3 (Use): no saved value for seed, n (saved by another version of the node?): "
        "the default is used"
    )
    assert conv.graph["4"]["inputs"] == {"tags": "by name"}  # a dict of widget values
    assert conv.titles["4"] == "Sink"


def _comfy_png(path: Path, texts: dict[str, str]) -> None:
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    Image.new("RGB", (4, 4), (255, 0, 0)).save(path, pnginfo=info)


def test_png_and_webp_saved_by_comfyui_are_workflow_sources(tmp_path: Path) -> None:
    api = {"1": {"class_type": "Src", "inputs": {"size": 3}}}
    ui = {"nodes": [node(1, "Src", [3])], "links": []}
    png = tmp_path / "a.png"
    _comfy_png(png, {"prompt": json.dumps(api), "workflow": json.dumps(ui)})
    wf = load_workflow(png)
    assert (wf.source, wf.graph) == ("prompt chunk", api)
    # Only the UI workflow (compressed iTXt, as PIL writes non-Latin-1 text): converted.
    info = PngInfo()
    info.add_itxt("workflow", json.dumps(ui | {"extra": {"note": "月"}}), zip=True)
    Image.new("RGB", (4, 4)).save(png, pnginfo=info)
    wf = load_workflow(png)
    assert wf.source == "workflow chunk" and wf.needs_conversion
    assert wf.converted(INFO).graph["1"]["inputs"] == {"size": 3}
    # WebP: EXIF Model = "prompt:<json>", Make = "workflow:<json>" (ComfyUI's layout).
    webp = tmp_path / "a.webp"
    im = Image.new("RGB", (4, 4))
    exif = im.getexif()
    exif[0x0110] = "prompt:" + json.dumps(api)
    exif[0x010F] = "workflow:" + json.dumps(ui)
    im.save(webp, "WEBP", exif=exif)
    assert json.loads(read_texts(webp)["workflow"]) == ui
    assert load_workflow(webp).graph == api
    # An image that carries no workflow says so.
    plain = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(plain)
    with pytest.raises(WorkflowError, match="carries no ComfyUI workflow"):
        load_workflow(plain)


def test_metadata_reads_are_bounded(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    head = b"\x89PNG\r\n\x1a\n"
    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    # A tEXt chunk that claims more than the limit: refused before anything is read.
    huge = struct.pack(">I", MAX_TEXT_BYTES + 1) + b"tEXt" + b"prompt\0{"
    path.write_bytes(head + chunk + huge)
    with pytest.raises(ImageMetadataError, match="over the 32 MiB limit"):
        read_texts(path)
    with pytest.raises(WorkflowError, match=r"big.png: tEXt chunk .* over the 32 MiB limit"):
        load_workflow(path)
    # A compressed text that inflates past the limit (a zip bomb) is refused too.
    bomb = zlib.compress(b" " * (MAX_TEXT_BYTES + 10), 9)
    data = b"prompt\0\0" + bomb
    ztxt = struct.pack(">I", len(data)) + b"zTXt" + data + b"\0\0\0\0"
    path.write_bytes(head + chunk + ztxt)
    with pytest.raises(ImageMetadataError, match="inflates past the limit"):
        read_texts(path)


def test_a_malformed_ui_workflow_is_a_problem_line_not_a_crash(tmp_path: Path) -> None:
    from app.generate.comfyui.workflow import check_against

    path = tmp_path / "bad.json"
    ui = {"nodes": [node(1, "Sink", ["x"], ins=[("images", "IMAGE", 5, False)])], "links": []}
    ui["links"] = [["five", 1, 0, 1, 0, "IMAGE"]]
    path.write_text(json.dumps(ui), encoding="utf-8")
    wf = load_workflow(path)
    with pytest.raises(WorkflowError, match=r"bad.json: not a UI-format workflow as ComfyUI"):
        wf.converted(INFO)
    (line,) = check_against(wf, {}, INFO, "http://s")
    assert "bad.json: not a UI-format workflow" in line
