"""A private X server for the real-window tests, and running a script on it.

Each server gets a random high display number (never the shared `:0`), is started with
`-noreset` (a client leaving never makes it regenerate under the next one), and is only
handed out once it has answered a real X connection handshake, over the same sockets
libxcb tries (abstract first, then the file in /tmp/.X11-unix). A display that does not
answer is dropped and another number tried. The tests skip when Xvfb is not installed or
no server it starts ever answers.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from requires import missing

REPO = Path(__file__).resolve().parents[1]

# X11 connection setup: little-endian byte order, protocol 11.0, no authorisation.
_SETUP_REQUEST = struct.pack("<cxHHHHxx", b"l", 11, 0, 0, 0)


def _answers_handshake(number: int, timeout: float = 5.0) -> bool:
    """Whether the X server on display `number` accepts a connection as libxcb makes it."""
    path = f"/tmp/.X11-unix/X{number}"
    for address in ("\0" + path, path):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            continue  # libxcb also falls back from the abstract socket to the file
        try:
            sock.sendall(_SETUP_REQUEST)
            status = sock.recv(1)
        except OSError:
            return False
        finally:
            sock.close()
        return status == b"\x01"  # 1: Success; 0: Failed; 2: Authenticate
    return False


def _read_to_eof(fd: int, deadline: float) -> str:
    """All `fd` gives until its writer closes it (or the deadline), stripped.

    Xvfb writes the number and the newline in two writes: closing our end after the first
    makes the second fail, and Xvfb then dies ("Cannot write display number").
    """
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 64)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def _start(exe: str, number: int, screen: str) -> subprocess.Popen[bytes] | None:
    """Xvfb on `:number`, once it says it is ready and answers a handshake; else None."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [exe, f":{number}", "-displayfd", str(write_fd), "-screen", "0", screen]
        + ["-nolisten", "tcp", "-noreset"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    try:
        said = _read_to_eof(read_fd, deadline=time.monotonic() + 10.0)
    finally:
        os.close(read_fd)
    if said == str(number) and _answers_handshake(number):
        return proc
    _stop(proc)
    return None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def xvfb(screen: str = "1024x600x24", attempts: int = 4) -> Iterator[str]:
    """Start Xvfb with one screen of `screen` (WxHxDEPTH); yields its DISPLAY (":N")."""
    exe = shutil.which("Xvfb")
    if exe is None:
        missing("Xvfb is not installed")
    rng = random.Random(time.monotonic_ns() ^ os.getpid())
    for _ in range(attempts):
        number = rng.randrange(1000, 50000)
        if Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = _start(exe, number, screen)
        if proc is not None:
            break
    else:
        missing(f"no Xvfb server answered an X handshake in {attempts} attempts")
    try:
        yield f":{number}"
    finally:
        with suppress(Exception):
            _stop(proc)


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
