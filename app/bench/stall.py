"""Stalls: frame times of a show with and without the disturbances that used to hold it.

Headless, in real time, driven by the session's own loop (`Session.run`): a show of two
small stills, a video, a splat scene and a 13000x13000 16-bit still plays at `--fps` on a
`--width` x `--height` offscreen output with the OSC server on loopback. Rounds alternate a
quiet window (GO onto the first still, nothing else) with a disturbed one, each disturbance
in turn:

- `still`, `video`, `splat`: a GO onto the huge still, the video or the splat scene, none
  of them in standby (their media decode, open or load while the show plays);
- `osc`: a child process sends 50 bundles of 2,000 valid commands (/master, /layer/1/
  opacity, /standby/next, /standby/prev) in 5 s to the show's OSC port.

Frame intervals come from the event log's frame times. Reported: p50, p99 and max of the
intervals in the quiet and the disturbed windows (and per disturbance), `stall_ratio` (p99
disturbed / p99 quiet), `max_frame_ms` (the longest interval of the run) and its ratio to
the quiet median; the late starts the event log recorded, the OSC server's counters and the
machine's load average before and after the run (`load`).
Exit status 1 when `stall_ratio` > 1.5 or `max_frame_ms` > 4x the quiet median.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import zlib
from pathlib import Path
from typing import Any

KINDS = ("still", "osc", "video", "splat")  # the still first: the flood moves standby
MAX_RATIO = 1.5
MAX_OVER_MEDIAN = 4.0

FLOOD = r"""
import socket, sys, time
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

port, bundles, per_bundle, seconds = (int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]),
                                      float(sys.argv[4]))
b = OscBundleBuilder(IMMEDIATELY)
for i in range(per_bundle // 4):
    for address, args in (("/master", [i / per_bundle]), ("/layer/1/opacity", [0.5]),
                          ("/standby/next", []), ("/standby/prev", [])):
        m = OscMessageBuilder(address)
        for a in args:
            m.add_arg(float(a), "f")
        b.add_content(m.build())
data = b.build().dgram
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
start = time.monotonic()
for n in range(bundles):
    time.sleep(max(0.0, start + n * seconds / bundles - time.monotonic()))
    sock.sendto(data, ("127.0.0.1", port))
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `python -m app bench stall`."""
    p.add_argument("--fps", type=float, default=30.0, help="output frame rate (default 30)")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=180)
    p.add_argument("--window", type=float, default=5.0, help="seconds per window (default 5)")
    p.add_argument("--big", type=int, default=13000, help="side of the huge still in pixels")


def write_big_png(path: Path, size: int, bits: int = 16) -> Path:
    """A size x size greyscale PNG of 16 or 1 bits a pixel (rows from dark to light), written
    row by row (never held in memory): a small file that decodes to a huge image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = size.to_bytes(4, "big") * 2 + bytes([bits, 0, 0, 0, 0])
    z = zlib.compressobj(6)
    parts = []
    for y in range(size):
        if bits == 16:
            row = ((y * 65535) // max(1, size - 1)).to_bytes(2, "big") * size
        else:
            row = (b"\xff" if y >= size // 2 else b"\x00") * ((size + 7) // 8)
        parts.append(z.compress(b"\x00" + row))
    parts.append(z.flush())
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr))
        fh.write(chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b""))
    return path


def _media(folder: Path, width: int, height: int, fps: float, big: int) -> list[Path]:
    import numpy as np
    from PIL import Image

    from app.media.lavfi import make_clip
    from app.media.splat_demo import make_demo_scene

    stills = []
    for name, rgb in (("a", (200, 60, 40)), ("b", (40, 60, 200))):
        stills.append(folder / f"{name}.png")
        Image.fromarray(np.full((height, width, 3), rgb, np.uint8)).save(stills[-1])
    clip = make_clip(
        folder / "clip.mp4", width=width, height=height, fps=fps, seconds=4.0, source="testsrc2"
    )
    room = folder / "room.ply"
    make_demo_scene(stills[0], room, size=64)
    # the huge still comes right after the stills: never in standby (GO 1.1 puts 1.2 there)
    return [*stills, write_big_png(folder / "big.png", big, 16), clip, room]


class Flood:
    """An input of the session that starts the OSC flood child at the given show times
    (spawned on a thread: the frame never waits for it)."""

    def __init__(self, port: int, starts: list[float], seconds: float) -> None:
        self.port = port
        self.starts = sorted(starts)
        self.seconds = seconds
        self.children: list[subprocess.Popen[bytes]] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> Flood:
        return self

    def poll(self, t: float) -> None:
        while self.starts and self.starts[0] <= t:
            self.starts.pop(0)
            th = threading.Thread(target=self._spawn, daemon=True)
            th.start()
            self._threads.append(th)

    def _spawn(self) -> None:
        cmd = [sys.executable, "-c", FLOOD, str(self.port), "50", "2000", str(self.seconds)]
        self.children.append(subprocess.Popen(cmd))

    def close(self) -> None:
        for th in self._threads:
            th.join(10.0)
        for child in self.children:
            try:
                child.wait(30.0)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _stats(gaps: list[float]) -> dict[str, float]:
    import numpy as np

    if not gaps:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0, "frames": 0}
    a = np.asarray(gaps) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 2),
        "p99_ms": round(float(np.percentile(a, 99)), 2),
        "max_ms": round(float(a.max()), 2),
        "frames": len(gaps),
    }


def measure(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Play the rounds (see the module docstring) and return the figures."""
    from app.bench.common import show_of
    from app.clock import FrameClock
    from app.control.access import Listen
    from app.control.osc import OscServer
    from app.cues.commands import build
    from app.eventlog import EventLog, read_log
    from app.player import Player
    from app.render.outputs import HeadlessOutput
    from app.session import Session

    load_before = os.getloadavg()[0]
    media = _media(folder, args.width, args.height, args.fps, args.big)
    show = show_of(media, width=args.width, height=args.height, fps=args.fps, fade=0.5)
    target = {"still": "1.3", "video": "1.4", "splat": "1.5"}
    window = args.window
    warmup = 2.0
    windows: list[tuple[float, float, str]] = []  # (start, end, kind or "quiet")
    script: list[tuple[float, Any]] = []
    flood_starts = []
    t = warmup
    for kind in KINDS:
        script.append((t, build("go", ("1", "1.1"), source="bench")))
        windows.append((t, t + window, "quiet"))
        t += window
        windows.append((t, t + window, kind))
        if kind == "osc":
            flood_starts.append(t)
        else:
            script.append((t, build("go", ("1", target[kind]), source="bench")))
        t += window
    end = t
    log_path = folder / "run.jsonl"
    output = HeadlessOutput(args.width, args.height)
    player = Player(show, output, clock=FrameClock(), log=EventLog(log_path))
    server = OscServer(player.put, Listen("127.0.0.1", 0, ["loopback"]))
    session = Session(player)
    session.closers += [output.close, player.close]
    try:
        session.add_input(server)
        session.add_listener(server.publish)
        session.add_input(Flood(server.port, flood_starts, min(5.0, window)))
        session.run(script, frames=int(end * args.fps), status=False)
        stats = server.stats
    finally:
        session.close()
    records = read_log(log_path)
    times = [r["t"] for r in records if r["event"] == "frame"]
    by: dict[str, list[float]] = {"quiet": [], "disturbed": [], **{k: [] for k in KINDS}}
    for t0, t1 in zip(times, times[1:], strict=False):
        for start, stop, kind in windows:
            if start <= t1 < stop:
                by["quiet" if kind == "quiet" else "disturbed"].append(t1 - t0)
                if kind != "quiet":
                    by[kind].append(t1 - t0)
    all_gaps = [b - a for a, b in zip(times, times[1:], strict=False) if a >= warmup]
    quiet, disturbed = _stats(by["quiet"]), _stats(by["disturbed"])
    max_ms = _stats(all_gaps)["max_ms"]
    return {
        "quiet": quiet,
        "disturbed": disturbed,
        "by_disturbance": {k: _stats(by[k]) for k in KINDS},
        "stall_ratio": round(disturbed["p99_ms"] / max(quiet["p99_ms"], 1e-9), 3),
        "max_frame_ms": max_ms,
        "max_over_quiet_median": round(max_ms / max(quiet["p50_ms"], 1e-9), 2),
        "late_starts": [
            {"cue": r["cue"], "delay_s": r["delay"]}
            for r in records
            if r["event"] == "late" and r["t"] >= warmup
        ],
        "inputs_refused": sum(r["refused"] for r in records if r["event"] == "input"),
        "inputs_coalesced": sum(r["coalesced"] for r in records if r["event"] == "input"),
        "event_log_bytes": log_path.stat().st_size,
        "osc": {k: stats[k] for k in ("received", "limited", "ok", "busy", "malformed")},
        "fps": args.fps,
        "size": f"{args.width}x{args.height}",
        # the machine's 1-minute load average before and after: other processes' share of
        # the cores shows in every window, quiet ones included
        "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def run(args: argparse.Namespace) -> int:
    """`python -m app bench stall`."""
    with tempfile.TemporaryDirectory(prefix="bench-stall-") as tmp:
        result = measure(args, Path(tmp))
    ok = result["stall_ratio"] <= MAX_RATIO and result["max_over_quiet_median"] <= MAX_OVER_MEDIAN
    if args.json:
        print(json.dumps(result))
    else:
        print(f"frame intervals at {result['fps']:g} fps, {result['size']}, headless:")
        rows = [("quiet", result["quiet"]), ("disturbed", result["disturbed"])]
        rows += [(f"  {k}", v) for k, v in result["by_disturbance"].items()]
        for name, s in rows:
            print(
                f"  {name:10} p50 {s['p50_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f}"
                f"  max {s['max_ms']:7.1f}"
            )
        print(
            f"stall_ratio {result['stall_ratio']:.2f} (p99 disturbed / quiet; target <= "
            f"{MAX_RATIO}), max_frame_ms {result['max_frame_ms']:.1f} = "
            f"{result['max_over_quiet_median']:.1f}x the quiet median (target <= "
            f"{MAX_OVER_MEDIAN:g}x)"
        )
        print(f"late starts: {result['late_starts']}; osc: {result['osc']}")
        print(f"load average before and after: {result['load'][0]}, {result['load'][1]}")
    return 0 if ok else 1
