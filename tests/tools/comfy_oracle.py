"""Make the oracle for the UI-format converter: ComfyUI's own frontend converts each
template of the test server's template package to its API graph (`app.graphToPrompt()`).

    python tests/tools/comfy_oracle.py OUT.json [--url http://127.0.0.1:8188]

Without --url it starts the test ComfyUI server (tests/comfyui_server.py). The frontend is the
server's own (comfyui-frontend-package), loaded in /usr/bin/chromium by Playwright; our
converter is never used here. OUT.json maps template name -> API graph (or an error text).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

READY = "(() => { try { return !!(window.app && window.app.graph) } catch (e) { return false } })()"
CONVERT = """async ([name, wf]) => {
  try {
    await window.app.loadGraphData(wf, true, true, name);
    const p = await window.app.graphToPrompt();
    return p.output;
  } catch (e) { return 'error: ' + e; }
}"""


def frontend_convert(url: str, workflows: dict[str, Any]) -> dict[str, Any]:
    """name -> API graph as ComfyUI's frontend at `url` makes it."""
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(url + "/")
            page.wait_for_function(READY, timeout=180_000)
            for name, wf in workflows.items():
                out[name] = page.evaluate(CONVERT, [name, wf])
        finally:
            browser.close()
    return out


def template_files(python: Path) -> list[Path]:
    """Every workflow JSON of the server venv's template packages."""
    import subprocess

    code = (
        "import glob, os, site; "
        "print('\\n'.join(sorted(glob.glob(os.path.join(site.getsitepackages()[0], "
        "'comfyui_workflow_templates_*', 'templates', '*.json')))))"
    )
    found = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return [
        Path(line)
        for line in found.stdout.splitlines()
        if line and not Path(line).name.startswith("index")
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out")
    parser.add_argument("--url")
    args = parser.parse_args()
    from comfyui_server import Server, comfyui_env

    _, python = comfyui_env()
    workflows: dict[str, Any] = {}
    for path in template_files(python):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "nodes" in data:
            workflows[path.stem] = data
    server = None
    url = args.url
    if url is None:
        server = Server(Path(tempfile.mkdtemp(prefix="comfy-oracle-")))
        server.start()
        url = server.url
    try:
        out = frontend_convert(url, workflows)
    finally:
        if server is not None:
            server.kill()
    Path(args.out).write_text(json.dumps(out, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(out)} templates -> {args.out}")


if __name__ == "__main__":
    main()
