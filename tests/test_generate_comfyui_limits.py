"""The ComfyUI client against hostile fake servers (tests/comfyui_fakes.py, 127.0.0.1): each
case ends within its limit (set small in models.yaml), with a message naming the server (and
the job), under 1 GB of memory, and nothing written outside the media root.

`check` and `generate` run as child processes with torch made unimportable: their peak
memory is read from the kernel (wait4), and a workflow-only run must not need torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from comfyui_fakes import WORKFLOW, FakeComfy

from app.generate.comfyui.limits import ComfyLimits
from app.generate.errors import GenerateError
from app.generate.registry import load_registry

REPO = Path(__file__).resolve().parent.parent
GB = 1 << 30

SHOW = """
title: Comfy limits
generate: {width: 8, height: 8}
poems:
  - id: "1"
    cues:
      - id: moon
        media: c/moon.png
        generate:
          workflow: workflows/w.json
"""

# the child: torch made unimportable, its own peak memory printed last
CHILD = """
import sys
sys.modules["torch"] = None
from app.cli import main
try:
    code = main(ARGS)
finally:
    # VmHWM is this process' own high-water mark: ru_maxrss keeps the parent's across a
    # vfork+exec (Linux), so a child of a 1.4 GB pytest would report 1.4 GB
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
    print("peak-kb", hwm[0].split()[1], file=sys.stderr)
sys.exit(code)
"""


def _project(root: Path, server: str, limits: str = "") -> Path:
    show = root / "show" / "show.yaml"
    (root / "show" / "workflows").mkdir(parents=True)
    show.write_text(SHOW, encoding="utf-8")
    (root / "show" / "workflows" / "w.json").write_text(json.dumps(WORKFLOW), encoding="utf-8")
    entry = f"{{url: {server}{', ' + limits if limits else ''}}}"
    (root / "show" / "models.yaml").write_text(
        f"comfyui: {{servers: [{entry}]}}\nmodels: {{}}\n", encoding="utf-8"
    )
    return show


def _run(args: list[str], cwd: Path, limit_s: float) -> tuple[int, str, float, float]:
    """Run `python -m app ARGS` without torch: (exit code, its output, seconds, peak GB)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", CHILD.replace("ARGS", repr(args))],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=limit_s + 60,  # the process' own start on a busy CPU
    )
    seconds = time.monotonic() - started
    lines = done.stderr.splitlines()
    assert lines and lines[-1].startswith("peak-kb "), done.stderr[-2000:]
    peak = int(lines[-1].split()[1]) * 1024 / GB
    return done.returncode, done.stdout + "\n".join(lines[:-1]), seconds, peak


def _tree(root: Path, skip: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and not p.is_relative_to(skip)
    }


@pytest.fixture
def fake(request: pytest.FixtureRequest) -> Iterator[FakeComfy]:
    server = FakeComfy(request.param)
    try:
        yield server
    finally:
        server.close()


def test_limits_are_read_per_server_from_models_yaml(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "comfyui:\n  timeout: 900\n  servers:\n    - http://a:8188\n"
        "    - {url: http://b:8188, timeout: 60, read_timeout: 2, max_pixels: 1000}\n"
        "models: {}\n",
        encoding="utf-8",
    )
    registry = load_registry(path)
    assert registry.comfyui_servers == ("http://a:8188", "http://b:8188")
    assert registry.comfyui_limits["http://a:8188"] == ComfyLimits(timeout=900)
    b = registry.comfyui_limits["http://b:8188"]
    assert (b.timeout, b.read_timeout, b.max_pixels, b.connect_timeout) == (60, 2, 1000, 10)
    path.write_text(
        "comfyui: {servers: [{url: http://a:8188, timeout: -1, speed: 3}]}\nmodels: {}\n",
        encoding="utf-8",
    )
    with pytest.raises(GenerateError) as caught:
        load_registry(path)
    text = str(caught.value)
    assert f"{path}:1: comfyui: timeout: expected a positive number" in text
    assert "unknown key 'speed'" in text


@pytest.mark.parametrize("fake", ["huge_object_info"], indirect=True)
def test_an_800_mb_object_info_is_refused_without_holding_it(
    fake: FakeComfy, tmp_path: Path
) -> None:
    show = _project(tmp_path, fake.url, "max_object_info_mb: 16")
    code, out, seconds, peak = _run(["check", str(show)], tmp_path, 30)
    assert fake.url in out and "over 16.0 MiB (max_object_info_mb in models.yaml)" in out, out
    assert "Traceback" not in out
    assert peak < 1.0, f"{peak:.2f} GB"
    assert fake.bytes_sent < 200 * (1 << 20)  # the client hung up long before 800 MB
    assert seconds < 30 + 30  # its limit, and the process' start
    code, out, seconds, peak = _run(["generate", str(show)], tmp_path, 30)
    assert code != 0 and fake.url in out and "max_object_info_mb" in out, out
    assert peak < 1.0 and "Traceback" not in out


@pytest.mark.parametrize("fake", ["slowloris"], indirect=True)
def test_a_byte_every_20_s_ends_at_the_read_timeout(fake: FakeComfy, tmp_path: Path) -> None:
    from app.generate.comfyui.backend import ComfyClient, ServerDown

    client = ComfyClient(fake.url, ComfyLimits(read_timeout=1.0, request_timeout=3.0))
    started = time.monotonic()
    with pytest.raises(ServerDown) as caught:
        client.object_info()
    assert time.monotonic() - started < 1.0 + 2.0
    assert f"{fake.url}/object_info: no answer within 1 s (read_timeout" in str(caught.value)

    show = _project(tmp_path, fake.url, "read_timeout: 1")
    code, out, seconds, peak = _run(["check", str(show)], tmp_path, 5)
    assert fake.url in out and "read_timeout" in out and "Traceback" not in out, out
    assert peak < 1.0


@pytest.mark.parametrize("fake", ["never_done"], indirect=True)
def test_a_job_that_never_ends_fails_at_its_time_limit(fake: FakeComfy, tmp_path: Path) -> None:
    show = _project(tmp_path, fake.url, "timeout: 2")
    before = _tree(tmp_path, tmp_path / "media")
    code, out, seconds, peak = _run(["generate", str(show)], tmp_path, 2)
    assert code != 0
    assert fake.url in out and "did not finish within 2 s (timeout in models.yaml)" in out, out
    assert "moon" in out and "Traceback" not in out
    assert peak < 1.0
    assert _tree(tmp_path, tmp_path / "media") == before
    assert not (tmp_path / "media" / "c" / "moon.png").exists()


@pytest.mark.parametrize("fake", ["many_outputs"], indirect=True)
def test_only_the_workflows_own_output_is_downloaded(fake: FakeComfy, tmp_path: Path) -> None:
    show = _project(tmp_path, fake.url)
    before = _tree(tmp_path, tmp_path / "media")
    code, out, seconds, peak = _run(["generate", str(show)], tmp_path, 30)
    assert code == 0, out
    assert fake.views == 1  # of 2,001 listed, one still
    assert (tmp_path / "media" / "c" / "moon.png").is_file()
    assert _tree(tmp_path, tmp_path / "media") == before
    assert peak < 1.0


@pytest.mark.parametrize("fake", ["giant_image"], indirect=True)
def test_an_image_over_the_pixel_cap_is_refused_from_its_header(
    fake: FakeComfy, tmp_path: Path
) -> None:
    show = _project(tmp_path, fake.url)
    before = _tree(tmp_path, tmp_path / "media")
    code, out, seconds, peak = _run(["generate", str(show)], tmp_path, 30)
    assert code != 0
    assert "13000x13000, over the pixel cap" in out and fake.url in out and "moon" in out, out
    assert "Traceback" not in out
    assert peak < 1.0  # never decoded (it would take 507 MB as RGB, and more on the way)
    assert not (tmp_path / "media" / "c" / "moon.png").exists()
    assert _tree(tmp_path, tmp_path / "media") == before


@pytest.mark.parametrize("fake", ["cut_body"], indirect=True)
def test_a_server_closing_mid_body_is_a_one_line_error(fake: FakeComfy, tmp_path: Path) -> None:
    from app.generate.comfyui.backend import ComfyClient, ServerDown

    with pytest.raises(ServerDown) as caught:
        ComfyClient(fake.url).view({"filename": "x.png"})
    assert str(caught.value) == (
        f"{fake.url}/view?filename=x.png&subfolder=&type=output: the server closed the "
        "connection mid-answer (100 of 100000 bytes read)"
    )
    show = _project(tmp_path, fake.url)
    code, out, seconds, peak = _run(["generate", str(show)], tmp_path, 60)
    assert code != 0 and "Traceback" not in out
    assert "closed the connection mid-answer" in out and fake.url in out, out
    assert fake.views >= 2  # a dropped answer counts as the server lost: resubmitted
    assert peak < 1.0


@pytest.mark.parametrize("fake", ["ok"], indirect=True)
def test_a_workflow_only_generate_without_torch_closes_cleanly(
    fake: FakeComfy, tmp_path: Path
) -> None:
    show = _project(tmp_path, fake.url)
    code, out, seconds, peak = _run(["generate", str(show)], tmp_path, 30)
    assert code == 0 and "1 rendered" in out and "Traceback" not in out, out
    assert (tmp_path / "media" / "c" / "moon.png").is_file()
