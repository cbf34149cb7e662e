"""The ComfyUI backend against a REAL ComfyUI server on the CPU (core nodes, no weights).

The server's virtual environment is built by .ci/comfyui_env.sh on first use (cached
outside the repository). One server for the module; the kill test starts its own.
"""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from comfyui_server import Server
from PIL import Image
from tiny_models import write_show

from app.cli import main
from app.generate.manifest import Manifest

# EmptyImage (colour from the seed) blended with white, saved: a cue's own image.
BLEND = {
    "1": {
        "class_type": "EmptyImage",
        "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0},
    },
    "2": {
        "class_type": "EmptyImage",
        "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 16777215},
    },
    "3": {
        "class_type": "ImageBlend",
        "inputs": {
            "image1": ["1", 0],
            "image2": ["2", 0],
            "blend_factor": 0.25,
            "blend_mode": "normal",
        },
    },
    "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}},
}
# LoadImage (the `from:` image, uploaded) inverted: a cue made from another cue.
INVERT = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "placeholder.png"}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "inv"}},
}

SHOW = """
title: Comfy
generate: {width: 64, height: 48}
poems:
  - id: "1"
    cues:
      - id: red
        media: c/red.png
        generate:
          workflow: workflows/blend.json
          bind: {seed: "1.color", width: ["1.width", "2.width"], height: ["1.height", "2.height"],
                 "4.filename_prefix": moon}
          seed: 16711680
      - id: inverse
        media: c/inverse.png
        generate:
          workflow: workflows/invert.json
          bind: {from: "1.image"}
          from: red
"""


def _show(root: Path, text: str, server: str, **workflows: dict[str, Any]) -> Path:
    show = write_show(root, text)
    folder = show.parent / "workflows"
    folder.mkdir(exist_ok=True)
    for name, graph in {"blend": BLEND, "invert": INVERT, **workflows}.items():
        (folder / f"{name}.json").write_text(json.dumps(graph), encoding="utf-8")
    (show.parent / "models.yaml").write_text(
        f"comfyui: {{servers: [{server}]}}\nmodels: {{}}\n", encoding="utf-8"
    )
    return show


def _history_count(url: str) -> int:
    with urllib.request.urlopen(url + "/history", timeout=10) as r:
        return len(json.loads(r.read()))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("comfyui"))
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


def _pixel(path: Path) -> tuple[int, ...]:
    with Image.open(path) as im:
        return tuple(int(v) for v in np.asarray(im.convert("RGB"))[5, 5])


def test_cues_render_through_comfyui_then_come_from_our_cache(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    show = _show(tmp_path, SHOW, server.url)
    assert main(["generate", str(show), "--dry-run"]) == 0
    plan = capsys.readouterr().out
    assert "comfyui" in plan and f"local:{server.url.split('://')[1]}" in plan

    before = _history_count(server.url)
    assert main(["generate", str(show)]) == 0
    assert "2 rendered" in capsys.readouterr().out
    media = tmp_path / "media" / "c"
    # 0.75 * red + 0.25 * white, and its inverse (made from the uploaded first image).
    red = _pixel(media / "red.png")
    assert max(abs(a - b) for a, b in zip(red, (255, 64, 64), strict=True)) <= 1
    inv = _pixel(media / "inverse.png")
    assert max(abs(a - (255 - b)) for a, b in zip(inv, red, strict=True)) <= 1
    with Image.open(media / "red.png") as im:
        assert im.size == (64, 48)
    entry = Manifest.load(tmp_path / "media").get(media / "red.png")
    assert entry["backend"] == "comfyui"
    assert entry["info"]["workflow"] == "workflows/blend.json"
    assert entry["info"]["bind"]["seed"] == "1.color"
    assert entry["info"]["server"] == server.url
    assert entry["recipe"]["model"]["workflow_sha256"]
    assert _history_count(server.url) == before + 2

    # Second run: served from our cache, nothing reaches the server.
    assert main(["generate", str(show)]) == 0
    assert "2 already current" in capsys.readouterr().out
    assert _history_count(server.url) == before + 2

    # The workflow's content is part of the cache key.
    graph = json.loads(json.dumps(BLEND))
    graph["3"]["inputs"]["blend_factor"] = 0.5
    (show.parent / "workflows" / "blend.json").write_text(json.dumps(graph), encoding="utf-8")
    assert main(["generate", str(show)]) == 0
    assert "2 rendered" in capsys.readouterr().out


def test_missing_node_class_fails_check_naming_the_node(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = json.loads(json.dumps(BLEND))
    bad["3"]["class_type"] = "WanFunInpaintToVideoXYZ"
    text = SHOW.replace("workflows/blend.json", "workflows/bad.json")
    show = _show(tmp_path, text, server.url, bad=bad)
    assert main(["check", str(show)]) != 0
    out = capsys.readouterr()
    text_out = out.out + out.err
    assert "cue 'red'" in text_out and "node 3 (WanFunInpaintToVideoXYZ)" in text_out
    assert "not installed on" in text_out
    assert main(["generate", str(show), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert f"{show}:" in err and "node 3 (WanFunInpaintToVideoXYZ)" in err


GATED = {
    **BLEND,
    "5": {"class_type": "AppTestGate", "inputs": {"image": ["3", 0], "marker": "MARKER"}},
    "4": {"class_type": "SaveImage", "inputs": {"images": ["5", 0], "filename_prefix": "g"}},
}


def test_server_killed_mid_job_gets_the_job_resubmitted(tmp_path: Path) -> None:
    srv = Server(tmp_path / "server")
    srv.start()
    try:
        marker = tmp_path / "gate.started"
        gated = json.loads(json.dumps(GATED).replace("MARKER", str(marker)))
        text = SHOW.replace("workflows/blend.json", "workflows/gated.json")
        show = _show(tmp_path / "s", text, srv.url, gated=gated)
        result: dict[str, Any] = {}
        err = io.StringIO()

        def generate() -> None:
            from app.generate.cli import cmd_generate

            args = _args(show)
            result["code"] = cmd_generate(args, out=io.StringIO(), err=err)

        thread = threading.Thread(target=generate)
        thread.start()
        deadline = time.monotonic() + 300
        while not marker.is_file():  # the job is running on the server
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.05)
        srv.kill()
        srv.start()  # same port: the slot resubmits once the server answers again
        thread.join(timeout=600)
        assert not thread.is_alive()
        assert result["code"] == 0, err.getvalue()
        assert "lost red" in err.getvalue()
        media = tmp_path / "s" / "media" / "c"
        assert _pixel(media / "red.png")[0] == 255 and (media / "inverse.png").is_file()
    finally:
        srv.kill()


def _args(show: Path) -> Any:
    import argparse

    from app.generate import cli

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    cli.register(sub)
    return parser.parse_args(["generate", str(show)])


def test_the_example_show_renders(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    repo = Path(__file__).resolve().parents[1] / "show"
    folder = tmp_path / "show"
    shutil.copytree(repo / "workflows", folder / "workflows")
    text = (repo / "comfyui_example.yaml").read_text(encoding="utf-8")
    text = text.replace("media_root: ../media/comfyui_example", "media_root: ../media")
    (folder / "comfyui_example.yaml").write_text(text, encoding="utf-8")
    # The README's models.yaml: only `comfyui:` (the workflow names its own weights).
    (folder / "models.yaml").write_text(f"comfyui: {{servers: [{server.url}]}}\n")
    assert main(["check", str(folder / "comfyui_example.yaml")]) != 0  # media not made yet
    out = capsys.readouterr().out
    assert "media file not found" in out
    assert "model" not in out.replace("models.yaml", "").split("problems:")[-1]
    assert main(["generate", str(folder / "comfyui_example.yaml")]) == 0
    assert "2 rendered" in capsys.readouterr().out
    with Image.open(tmp_path / "media" / "night.png") as im:
        assert im.size == (640, 360)
    assert main(["check", str(folder / "comfyui_example.yaml")]) == 0, capsys.readouterr()
