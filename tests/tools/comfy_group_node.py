"""Make tests/data/comfyui/group_node.json: ComfyUI's own frontend turns three nodes of the
test's hand-made workflow into a legacy group node ("Convert to Group Node (Deprecated)")
and saves the workflow, as an artist's file with a group node would be.

    python tests/tools/comfy_group_node.py OUT.json --url http://127.0.0.1:8188

(Start a test server first, e.g. with tests/comfyui_server.py's Server.)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from test_generate_comfyui_ui_format import HAND_MADE

from tools.comfy_oracle import READY

LOAD_AND_SELECT = """async (wf) => {
  await window.app.loadGraphData(wf, true, true, 'g');
  const g = window.app.graph;
  window.app.canvas.selectNodes([g.getNodeById(2), g.getNodeById(14), g.getNodeById(3)]);
  window.__done = window.app.extensionManager.command.execute(
    'Comfy.GroupNode.ConvertSelectedNodesToGroupNode');
}"""
SAVE = """async () => { await window.__done; return window.app.graph.serialize(); }"""


def workflow() -> dict:
    """HAND_MADE without its Reroute, plus a RandomNoise (a seed widget in the group)."""
    wf = json.loads(json.dumps(HAND_MADE))
    wf["nodes"] = [n for n in wf["nodes"] if n["id"] != 11]
    wf["links"] = [k for k in wf["links"] if k[0] not in (2, 3)] + [[3, 1, 0, 3, 0, "IMAGE"]]
    for n in wf["nodes"]:
        if n["id"] == 1:
            n["outputs"][0]["links"] = [3]
    noise = {"name": "NOISE", "type": "NOISE", "links": []}
    wf["nodes"].append(
        {"id": 14, "type": "RandomNoise", "pos": [0, 0], "size": [200, 80], "flags": {},
         "order": 14, "mode": 0, "inputs": [], "outputs": [noise], "properties": {},
         "widgets_values": [42, "fixed"]}
    )  # fmt: skip
    return wf


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--url", required=True)
    args = parser.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(args.url + "/")
            page.wait_for_function(READY, timeout=180_000)
            page.evaluate(LOAD_AND_SELECT, workflow())
            page.wait_for_selector(".p-dialog input", timeout=20_000)  # the name prompt
            page.fill(".p-dialog input", "Grp")
            page.keyboard.press("Enter")
            saved = page.evaluate(SAVE)
        finally:
            browser.close()
    Path(args.out).write_text(json.dumps(saved, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
