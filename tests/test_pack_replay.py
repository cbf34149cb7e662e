"""The demo show packed, unpacked on another folder tree and played headless inside a
network namespace with no network (`unshare -n`): the same event log as the original."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from requires import missing

from app.cli import main
from app.eventlog import read_log

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "show" / "demo.yaml"
SCRIPT = "0:GO 0.4:GO 0.8:GO 1.2:GO 1.5:BLACKOUT"
PLAY = ["--headless", "--fake-clock", "--frames", "54", "--script", SCRIPT]
PLAY += ["--no-osc", "--no-gamepad", "--quiet"]


def _no_network_prefix() -> list[str]:
    """`unshare -n` (as root) or `unshare -rn` (a user namespace); skip when both are refused."""
    if shutil.which("unshare") is None:
        missing("unshare is not installed: cannot make a network namespace")
    reasons = []
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        done = subprocess.run([*prefix, "true"], capture_output=True, text=True, timeout=30)
        if done.returncode == 0:
            return prefix
        reasons.append(f"{' '.join(prefix)}: {done.stderr.strip()}")
    missing("this machine refuses network namespaces (" + "; ".join(reasons) + ")")


def _play(show: Path, log: Path, cwd: Path, prefix: list[str] = (), **env: str) -> None:
    environ = {**os.environ, "PYTHONPATH": str(REPO), **env}
    environ.pop("DISPLAY", None)
    cmd = [*prefix, sys.executable, "-m", "app", "play", str(show), *PLAY, "--event-log", str(log)]
    done = subprocess.run(cmd, cwd=cwd, env=environ, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_packed_demo_replays_offline_with_the_same_event_log(tmp_path: Path) -> None:
    prefix = _no_network_prefix()
    pack = tmp_path / "demo.vjshow"
    assert main(["pack", str(DEMO), "--out", str(pack)]) == 0
    elsewhere = tmp_path / "another" / "machine" / "shows" / "demo"
    assert main(["unpack", str(pack), "--to", str(elsewhere)]) == 0

    for f in elsewhere.rglob("*"):  # no path of the packing machine inside
        assert str(REPO).encode() not in f.read_bytes() if f.is_file() else True

    probe = "import socket; socket.create_connection(('10.255.255.1', 9), timeout=2)"
    cut_off = subprocess.run([*prefix, sys.executable, "-c", probe], capture_output=True, text=True)
    assert cut_off.returncode != 0 and "unreachable" in cut_off.stderr.lower()

    original = tmp_path / "original.jsonl"
    _play(DEMO, original, REPO)
    unpacked = tmp_path / "unpacked.jsonl"
    _play(elsewhere / "show" / "demo.yaml", unpacked, tmp_path, prefix)
    direct = tmp_path / "direct.jsonl"
    _play(pack, direct, tmp_path, prefix, VJSHOW_CACHE=str(tmp_path / "cache"))

    want = read_log(original)
    cues = [e["cue"] for e in want if e["event"] == "cue"]
    assert cues == ["1.1", "1.2", "1.3", "1.4"]
    shown = {lay["media"] for e in want if e["event"] == "frame" for lay in e["layers"]}
    assert shown == {"demo/moon.png", "demo/tide.mp4", "demo/stars.png", "demo/room.ply"}
    assert not [e for e in want if e["event"] == "error"]
    assert read_log(unpacked) == want
    assert read_log(direct) == want
