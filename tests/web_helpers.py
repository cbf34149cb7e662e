"""Helpers of the web console tests: a tiny show, a `play` subprocess with its console, and
the browser (Debian's chromium driven by Playwright; never downloaded)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from requires import missing
from waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 120.0  # a cold start on a loaded CI machine


def tiny_show(folder: Path, *, follow_after: float | None = None) -> Path:
    """A show of small solid stills: poem 1 (1.1 red, 1.2 blue, 1.3 green on layer 2) and
    poem 2 (2.1 grey). No fades, no double-GO guard. Poem 1 and cue 1.2 have notes; with
    `follow_after`, cue 1.1 fires 1.2 by itself that many seconds after it was fired."""
    follow = "" if follow_after is None else f", follow: {{after: {follow_after}}}"
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    for name, rgb in (("red", (200, 30, 30)), ("blue", (30, 30, 200)), ("green", (30, 200, 30))):
        Image.fromarray(np.full((36, 64, 3), rgb, np.uint8)).save(media / f"{name}.png")
    Image.fromarray(np.full((36, 64, 3), 128, np.uint8)).save(media / "grey.png")
    show = folder / "show.yaml"
    show.write_text(
        f"""title: Tiny
media_root: {media}
output: {{width: 64, height: 36, fps: 30}}
defaults: {{fade: 0, go_guard: 0}}
poems:
  - id: "1"
    title: Moon
    notes: "slow, with the piano"
    cues:
      - {{id: "1.1", media: red.png{follow}}}
      - {{id: "1.2", media: blue.png, notes: "on the flute's entry, bar 23"}}
      - {{id: "1.3", media: green.png, layer: 2}}
  - id: "2"
    title: Life
    cues:
      - {{id: "2.1", media: grey.png}}
"""
    )
    return show


def need_chromium() -> None:
    """Skip without Debian's chromium, or fail where CI requires it (REQUIRE_GL=1)."""
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} is missing (apt-get install chromium)")


class Play:
    """`python -m app play --headless` with its web console, in a child process."""

    def __init__(
        self,
        show: Path,
        log: Path,
        *,
        port: int = 0,
        token: str | None = None,
        view_token: str | None = None,
        cache: Path | None = None,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        cmd = [
            sys.executable,
            "-m",
            "app",
            "play",
            str(show),
            "--headless",
            "--quiet",
            "--no-osc",
            "--no-gamepad",
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(port),
            "--event-log",
            str(log),
        ]
        if token:
            cmd += ["--web-token", token]
        if view_token:
            cmd += ["--web-view-token", view_token]
        cmd += extra
        env = dict(os.environ if env is None else env)
        if cache is not None:
            env["XDG_CACHE_HOME"] = str(cache)
        self.log = log
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
        )
        self.url = ""
        self.view_url = ""
        self.lines: list[str] = []
        found = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.lines.append(line)
                m = re.match(r"console( \(view only\))?: (\S+)", line)
                if m and m.group(1):
                    self.view_url = m.group(2)
                    found.set()
                elif m:
                    self.url = m.group(2)
            found.set()

        threading.Thread(target=read, daemon=True).start()
        if not found.wait(STARTUP_TIMEOUT) or not self.view_url:
            self.stop()
            raise AssertionError("play did not print its console URLs:\n" + "".join(self.lines))
        self.base = self.url.split("/?")[0]
        self.token = self.url.split("token=")[1]
        self.view_token = self.view_url.split("token=")[1]
        self.port = int(self.base.rsplit(":", 1)[1])

    def state(self) -> dict[str, Any]:
        """GET /api/state with the operate token."""
        import urllib.request

        with urllib.request.urlopen(f"{self.base}/api/state?token={self.token}", timeout=10) as r:
            return json.loads(r.read())

    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass  # a line being written
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def wait_for(what: Callable[[], Any], timeout: float = 20.0, message: str = "") -> Any:
    """Wait until `what()` is truthy (the condition is the event; the timeout only a guard)."""
    return wait_until(what, timeout, message, interval=0.05)
