"""A private X server for the real-window tests, and running a script on it.

Xvfb picks a free display number itself (`-displayfd`), so parallel or leftover servers
never collide. The tests skip when Xvfb is not installed or does not start.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def xvfb(screen: str = "1024x600x24") -> Iterator[str]:
    """Start Xvfb with one screen of `screen` (WxHxDEPTH); yields its DISPLAY (":N")."""
    exe = shutil.which("Xvfb")
    if exe is None:
        pytest.skip("Xvfb is not installed")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [exe, "-displayfd", str(write_fd), "-screen", "0", screen, "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 10.0)
        number = os.read(read_fd, 32).decode().strip() if ready else ""
    finally:
        os.close(read_fd)
    if not number.isdigit():
        proc.kill()
        proc.wait(timeout=10)
        pytest.skip("Xvfb did not start")
    try:
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_on_display(display: str, args: Sequence[str], timeout: float = 180) -> Any:
    """Run `python ARGS` on `display` from the repository root; the JSON of its last line.

    Fails the test with the child's stderr when it exits non-zero.
    """
    env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(REPO)}
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])
