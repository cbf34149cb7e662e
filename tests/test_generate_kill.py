"""A generate run killed midway (SIGKILL, a real subprocess) resumes without redoing work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requires
from PIL import Image
from tiny_models import tiny_registry, write_show

from app.cli import main
from app.generate.manifest import Manifest

requires.module("torch")
requires.module("diffusers")

pytestmark = pytest.mark.torch
ROOT = Path(__file__).resolve().parent.parent
COUNT = 12


def _show() -> str:
    cues = "\n".join(
        f'      - {{id: "1.{i}", media: k/{i:02d}.png, '
        f'generate: {{prompt: "moon number {i}", seed: {i}}}}}'
        for i in range(1, COUNT + 1)
    )
    return (
        "title: Kill\n"
        "generate: {model: tiny-sdxl, steps: 4, width: 64, height: 64}\n"
        "poems:\n"
        '  - id: "1"\n'
        "    cues:\n" + cues + "\n"
    )


def test_killed_run_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = tiny_registry()
    show = write_show(tmp_path, _show())
    media = tmp_path / "media" / "k"
    cmd = [
        sys.executable,
        "-m",
        "app",
        "generate",
        str(show),
        "--device",
        "cpu",
        "--models",
        str(registry),
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if media.is_dir() and any(not p.name.startswith(".") for p in media.glob("*.png")):
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    finished = {p.name: p.stat().st_mtime_ns for p in media.glob("[!.]*.png")}
    assert 1 <= len(finished) < COUNT, "the run should have been killed midway"
    for name in finished:
        with Image.open(media / name) as im:
            im.verify()  # complete files only: outputs are renamed into place when done

    assert main(["generate", str(show), "--device", "cpu", "--models", str(registry)]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    rendered = int(summary.split("generate: ")[1].split(" rendered")[0])
    assert rendered == COUNT - len(finished)
    for name, mtime in finished.items():
        assert (media / name).stat().st_mtime_ns == mtime, f"{name} was redone"
    assert len(list(media.glob("[!.]*.png"))) == COUNT
    assert not [p for p in media.iterdir() if ".partial-" in p.name]
    manifest = Manifest.load(tmp_path / "media")
    assert all(manifest.get(p) is not None for p in media.glob("[!.]*.png"))

    assert main(["generate", str(show), "--device", "cpu", "--models", str(registry)]) == 0
    assert f"0 rendered, 0 copied, {COUNT} already current" in capsys.readouterr().out
