"""GO-to-screen latency: OSC /go (a real UDP packet) -> first rendered frame showing the cue.

Headless, in real time: a show of small solid stills alternating red and blue (cuts, no
fade; double-GO guard 0) plays at `--fps` on a 320x180 offscreen output with the OSC server
running on loopback. Each GO is sent from a python-osc client at a random moment inside a
frame interval, after at least two quiet frames with the loop on schedule (the standby still
is pre-rolled, and no catch-up frames follow a stall). Latency in frames
counts the frames started after the send, up to and including the first one whose mix has
the fired cue at opacity > 0 (1 = the very next frame, the best possible); the milliseconds
run from the send to the end of that frame's render. That frame's centre pixel is checked
against the cue's colour.

Reference, measured in the same run: the same GOs put straight on the player's queue at the
same kind of moment (the keyboard's path, no network, no thread hop). The ratio of the two
medians says what OSC costs. With `--json`: one object with `median_frames`,
`worst_frames`, `median_ms`, `worst_ms` and the same for the reference (`reference_...`).
Exit status 1 when the OSC median exceeds one frame.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RED = (230, 30, 30)
BLUE = (30, 30, 230)
SETTLE_FRAMES = 2
MAX_WAIT_FRAMES = 30


@dataclass(frozen=True)
class Sample:
    """One GO: frames until it showed (None = never, within MAX_WAIT_FRAMES), ms, pixel ok."""

    frames: int | None
    ms: float
    pixel_ok: bool


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `python -m app bench latency`."""
    p.add_argument("--gos", type=int, default=100, help="GOs per path (default 100)")
    p.add_argument("--fps", type=float, default=60.0, help="output frame rate (default 60)")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=180)
    p.add_argument("--seed", type=int, default=1, help="seed of the send moments")


def _stills(folder: Path, width: int, height: int) -> tuple[Path, Path]:
    import numpy as np
    from PIL import Image

    paths = []
    for name, rgb in (("red", RED), ("blue", BLUE)):
        path = folder / f"{name}.png"
        Image.fromarray(np.full((height, width, 3), rgb, np.uint8)).save(path)
        paths.append(path)
    return paths[0], paths[1]


def _shows(mix: Any, cue: int) -> bool:
    return mix is not None and any(
        e.cue == cue and e.opacity * layer.opacity > 0.0
        for layer in mix.layers
        for e in layer.entries
    )


class _Measure:
    """An input of `Session.run` that fires GOs and times each one to the screen: per path
    (`sends`, in turn), `gos` GOs, each after SETTLE_FRAMES frames, at a random moment inside
    a frame interval (between frames, as a performer's press arrives), then counts the frames
    until the cue shows. `done` once every path has had its GOs."""

    def __init__(
        self, player: Any, output: Any, sends: list[Any], gos: int, rng: random.Random
    ) -> None:
        self.player, self.output, self.sends, self.gos, self.rng = player, output, sends, gos, rng
        self.samples: list[list[Sample]] = [[] for _ in sends]
        self.path = 0
        self.phase = "start"  # start (the first frame) -> settle -> ready -> showing
        self.count = 0
        self.expected: int | None = None
        self.t0 = 0.0
        self.done = False

    def start(self) -> _Measure:
        return self

    def poll(self, t: float) -> None:
        pass

    def close(self) -> None:
        pass

    def idle(self) -> None:
        """After each frame, before the loop waits for the next."""
        if self.done:
            return
        if self.phase == "start":  # the first frame put something on stage
            self._next_go()
        elif self.phase == "settle":
            self.count += 1
            if self.count >= SETTLE_FRAMES:
                self.phase, self.count = "ready", 0
                self._maybe_send()
        elif self.phase == "ready":
            self.count += 1  # behind schedule (a stall): the loop caught up a frame
            self._maybe_send()
        else:
            self.count += 1
            self._check()

    def _next_go(self) -> None:
        while self.path < len(self.sends):
            if len(self.samples[self.path]) < self.gos:
                self.expected = self.player.state.standby
                if self.expected is not None:
                    self.phase, self.count = "settle", 0
                    return
            self.path += 1
        self.done = True

    def _maybe_send(self) -> None:
        clock, fps = self.player.clock, self.player.show.output.fps
        remaining = (clock.frame + 1) / fps - clock.time()
        if remaining <= 0.25 / fps and self.count < MAX_WAIT_FRAMES:
            return  # too close to the next frame: let the loop catch up before sending
        # a random moment inside the current frame interval, as a performer's press arrives
        time.sleep(self.rng.random() * max(0.0, remaining) * 0.95)
        self.t0 = time.perf_counter()
        self.sends[self.path]()
        self.phase, self.count = "showing", 0

    def _check(self) -> None:
        player, output, expected = self.player, self.output, self.expected
        got: Sample | None = None
        if expected is not None and _shows(player.last_mix, expected):
            ms = (time.perf_counter() - self.t0) * 1000.0
            h, w = output.height, output.width
            px = output.read_pixels()[h // 2, w // 2, :3].astype(int)
            want = RED if player.show.cues[expected].media.stem == "red" else BLUE
            ok = max(abs(int(a) - b) for a, b in zip(px, want, strict=True)) <= 3
            got = Sample(self.count, ms, ok)
        elif self.count < MAX_WAIT_FRAMES:
            return
        self.samples[self.path].append(
            got or Sample(None, (time.perf_counter() - self.t0) * 1000.0, False)
        )
        self._next_go()


def _whole(x: float) -> float | int:
    return int(x) if float(x).is_integer() else x


def _summary(samples: list[Sample]) -> dict[str, Any]:
    shown = [s for s in samples if s.frames is not None]
    frames = [s.frames for s in shown if s.frames is not None]
    ms = [s.ms for s in shown]
    return {
        "gos": len(samples),
        "missed": len(samples) - len(shown),
        "pixel_mismatches": sum(1 for s in shown if not s.pixel_ok),
        "median_frames": _whole(statistics.median(frames)) if frames else None,
        "worst_frames": max(frames) if frames else None,
        "median_ms": round(statistics.median(ms), 2) if ms else None,
        "worst_ms": round(max(ms), 2) if ms else None,
        "histogram": {str(k): frames.count(k) for k in sorted(set(frames))},
    }


def run(args: argparse.Namespace) -> int:
    """`python -m app bench latency`."""
    from pythonosc.udp_client import SimpleUDPClient

    from app.bench.common import show_of
    from app.clock import FrameClock
    from app.control.access import Listen
    from app.control.osc import OscServer
    from app.cues.commands import build
    from app.eventlog import EventLog
    from app.player import Player
    from app.render.outputs import HeadlessOutput, OutputError
    from app.session import Session

    gos = max(1, args.gos)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        red, blue = _stills(Path(tmp), args.width, args.height)
        media = [red if i % 2 == 0 else blue for i in range(2 * gos + 1)]
        show = show_of(
            media, width=args.width, height=args.height, fps=args.fps, fade=0.0, go_guard=0.0
        )
        try:
            output = HeadlessOutput(args.width, args.height)
        except OutputError as exc:
            print(f"bench latency: no headless output: {exc}", file=sys.stderr)
            return 2
        player = Player(show, output, clock=FrameClock(), log=EventLog())
        server = OscServer(player.put, Listen("127.0.0.1", 0, ["loopback"]))
        server.start()
        player.add_listener(server.publish)
        client = SimpleUDPClient("127.0.0.1", server.port)
        sends = [
            lambda: client.send_message("/go", None),
            lambda: player.put(build("go", source="bench")),  # the reference: direct queue
        ]
        measure = _Measure(player, output, sends, gos, rng)
        try:
            session = Session(player, inputs=[measure])
            first = build("go", source="bench")  # something on stage before measuring
            session.run([(0.0, first)], status=False, until=lambda: measure.done)
            osc, direct = measure.samples
        finally:
            client.close()
            server.close()
            player.close()
            output.close()
    a, ref = _summary(osc), _summary(direct)
    result: dict[str, Any] = {
        "median_frames": a["median_frames"],
        "worst_frames": a["worst_frames"],
        "median_ms": a["median_ms"],
        "worst_ms": a["worst_ms"],
        "missed": a["missed"],
        "pixel_mismatches": a["pixel_mismatches"],
        "histogram": a["histogram"],
        "reference_median_frames": ref["median_frames"],
        "reference_worst_frames": ref["worst_frames"],
        "reference_median_ms": ref["median_ms"],
        "reference_worst_ms": ref["worst_ms"],
        "ratio_median_ms": round(a["median_ms"] / ref["median_ms"], 3)
        if a["median_ms"] and ref["median_ms"]
        else None,
        "gos": a["gos"],
        "fps": args.fps,
        "size": f"{args.width}x{args.height}",
        "osc_stats": server.stats,
    }
    ok = a["median_frames"] is not None and a["median_frames"] <= 1
    if args.json:
        print(json.dumps(result))
    else:
        period = 1000.0 / args.fps
        print(
            f"GO -> first frame showing the cue, {a['gos']} GOs per path, "
            f"{args.width}x{args.height} headless at {args.fps:g} fps ({period:.1f} ms a frame)"
        )
        for label, s in (("OSC /go over UDP", a), ("reference: direct queue", ref)):
            print(
                f"  {label:<24} median {s['median_frames']} frame(s) ({s['median_ms']} ms), "
                f"worst {s['worst_frames']} ({s['worst_ms']} ms), frames {s['histogram']}, "
                f"missed {s['missed']}, pixel mismatches {s['pixel_mismatches']}"
            )
        print(f"  ratio of median ms (OSC / reference): {result['ratio_median_ms']}")
        print(f"  target: median <= 1 frame: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1
