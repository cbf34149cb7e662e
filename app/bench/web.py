"""Web console: command -> acknowledged state round trip, and what 4 consoles cost a frame.

Headless, in real time: a show of small stills plays at `--fps` on a 320x180 offscreen
output with the web console running on loopback, the main loop exactly as `play` runs it
(console poll, then the frame). Four console clients (aiohttp WebSockets in a child
process, as tablets would be other machines) each set their own layer's opacity to a new
value, wait for the acknowledgement (which the server sends after the update that shows the
applied value), pause a random 30-120 ms and go again. Round trip: send -> ack, in ms:
page -> show loop -> page, since the ack leaves only once the show's main loop applied the
command. Every fifth command is preceded by a ping, whose pong also comes back through the
show loop (the round trip the console page shows): `probe_rtt_ms_median`. A command the
show did not apply by its deadline is counted in `not_applied`.

Frame time: from the start of one frame to the start of the next (what the audience sees:
a stall makes a frame late, work that fits in the frame does not), p99 in ms; the render
work of each frame (console poll + the frame itself) is reported beside it (`work_...`).
Reference, measured in the same run: the same with no client connected.

The machine is shared, and another program's burst of work that lands on one block makes
that block's p99 on its own. So the run is made of `--rounds` rounds (default 7), each a
block of `--block-seconds` (default 2.5 s, 150 frames at 60 fps) with the four clients
and one without (the clients disconnect), in alternating order (off/on, then on/off), so
that a slow drift of the machine's load weighs on both sides alike. Each round gives the
ratio of its two p99s; `frame_p99_ratio` is the median over the rounds: a burst that hits
one block of one round moves that round only, while a cost the clients add is in every
round. The clients' process starts, and connects once for `WARM_UP_SECONDS`, before the
first round (neither is measured). The pooled p99s (all blocks of a side together), every
round's ratio and the load
average before and after the run are reported beside it. A block shorter than
`MIN_BLOCK_FRAMES` frames is refused (its p99 would be its worst frame).

The server is the one `play` runs: a child process (`--in-process`: on a thread of the
show's process), handed the state after each frame is out (`WebConsole.idle`). With
`--json`: one object with `rtt_ms_median`, `rtt_ms_worst`, `frame_p99_ratio` and the
figures behind them. Exit status 1 when `rtt_ms_median` > 50 or `frame_p99_ratio` > 1.15.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
Frames = Generator[None, None, T]  # a script of the bench: one frame of the show a `yield`

CLIENTS = 4
RTT_TARGET_MS = 50.0
RATIO_TARGET = 1.15
MIN_BLOCK_FRAMES = 100
WARM_UP_SECONDS = 1.0  # one block with the clients before the measured rounds


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `python -m app bench web`."""
    p.add_argument("--fps", type=float, default=60.0, help="output frame rate (default 60)")
    p.add_argument(
        "--rounds", type=int, default=7, help="rounds of a block with and one without clients"
    )
    p.add_argument("--block-seconds", type=float, default=2.5, help="seconds per block")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--in-process", action="store_true", help="the server on a thread (as before the child)"
    )


def _load() -> list[float]:
    """The 1, 5 and 15 minute load averages (what else the machine was doing)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


# --- the clients (child process) ---------------------------------------------------------


async def _client(
    url: str, layer: int, seed: int, active: Any, stop: Any
) -> tuple[list[float], list[float], int]:
    """One console: connected while `active` is set, a round trip after another; every
    fifth, a ping too (its pong comes back through the show loop, as the page's does).
    Returns the command round trips, the ping round trips (ms) and the commands the show
    did not apply in time."""
    import asyncio

    import aiohttp

    rng = random.Random(seed)
    out: list[float] = []
    probes: list[float] = []
    not_applied = 0
    n = 0
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            if not active.is_set():
                await asyncio.sleep(0.02)
                continue
            async with session.ws_connect(url) as ws:
                while (await ws.receive_json())["type"] != "snapshot":
                    pass
                while active.is_set():
                    n += 1
                    cid = f"b{layer}-{n}"
                    args = {"layer": layer, "opacity": round(0.2 + 0.6 * rng.random(), 4)}
                    if n % 5 == 0:
                        await ws.send_json({"type": "ping", "t": time.perf_counter() * 1000.0})
                    sent = time.perf_counter()
                    await ws.send_json(
                        {"type": "command", "id": cid, "name": "layer_opacity", "args": args}
                    )
                    while True:
                        msg = await ws.receive_json()
                        if msg["type"] == "pong" and isinstance(msg.get("t"), float):
                            probes.append(time.perf_counter() * 1000.0 - msg["t"])
                        if msg["type"] == "ack" and msg["id"] == cid:
                            break
                    if not msg["ok"]:
                        if "not applied" not in str(msg.get("error")):
                            raise RuntimeError(f"command refused: {msg.get('error')}")
                        not_applied += 1  # the show took longer than the command's deadline
                    out.append((time.perf_counter() - sent) * 1000.0)
                    await asyncio.sleep(rng.uniform(0.03, 0.12))
    return out, probes, not_applied


def _clients_main(url: str, seed: int, active: Any, stop: Any, results: Any, ready: Any) -> None:
    import asyncio
    import os

    import aiohttp  # noqa: F401  (imported before `ready`: its import is not measured)

    # the consoles stand for tablets, other machines: on this one they get the CPU the show
    # leaves (the server, the cost being measured, is the one `play` runs)
    os.nice(15)
    ready.set()

    async def all_clients() -> list[tuple[list[float], list[float], int]]:
        return await asyncio.gather(
            *(_client(url, i + 1, seed * 100 + i, active, stop) for i in range(CLIENTS))
        )

    try:
        got = asyncio.run(all_clients())
        results.put(
            (
                "ok",
                {
                    "rtt": [x for r in got for x in r[0]],
                    "probe": [x for r in got for x in r[1]],
                    "not_applied": sum(r[2] for r in got),
                },
            )
        )
    except Exception as exc:
        results.put(("error", repr(exc)))


def _start_clients(url: str, seed: int) -> Frames[tuple[Any, Any, Any, Any]]:
    """The clients' process, started while the show runs (a frame at each `yield`);
    returned once it is ready (its start-up is not measured): (process, results, active,
    stop)."""
    ctx = multiprocessing.get_context("spawn")
    results, active, stop, ready = ctx.Queue(), ctx.Event(), ctx.Event(), ctx.Event()
    child = ctx.Process(
        target=_clients_main, args=(url, seed, active, stop, results, ready), daemon=True
    )
    child.start()
    while not ready.is_set() and child.is_alive():
        yield
    return child, results, active, stop


# --- the show (this process) ------------------------------------------------------------


def _show(folder: Path, fps: float) -> Any:
    import numpy as np
    from PIL import Image

    from app.bench.common import show_of
    from app.show.model import Cue

    media = []
    for i, rgb in enumerate(((200, 40, 40), (40, 40, 200), (40, 200, 40), (200, 200, 40))):
        path = folder / f"layer{i + 1}.png"
        Image.fromarray(np.full((180, 320, 3), rgb, np.uint8)).save(path)
        media.append(path)
    show = show_of(media, width=320, height=180, fps=fps)
    from dataclasses import replace

    poems = show.poems
    cues: tuple[Cue, ...] = tuple(replace(c, layer=i + 1) for i, c in enumerate(poems[0].cues))
    return replace(show, poems=(replace(poems[0], cues=cues),))


def _summary(
    rtts: list[float],
    measured: list[dict[bool, Any]],
    fps: float,
    load_before: list[float],
    load_after: list[float],
) -> dict[str, Any] | None:
    """The figures of a run (None, with the reason printed, when a block was too short)."""
    short = min(len(side[0]) for r in measured for side in r.values())
    if short < MIN_BLOCK_FRAMES:
        print(
            f"bench web: a block had {short} frames (< {MIN_BLOCK_FRAMES}): raise --block-seconds",
            file=sys.stderr,
        )
        return None
    frames = {on: [x for r in measured for x in r[on][0]] for on in (True, False)}
    work = {on: [x for r in measured for x in r[on][1]] for on in (True, False)}
    ratios = [_p99(r[True][0]) / _p99(r[False][0]) for r in measured]
    work_ratios = [_p99(r[True][1]) / _p99(r[False][1]) for r in measured]
    result = {
        "rtt_ms_median": round(statistics.median(rtts), 2),
        "rtt_ms_worst": round(max(rtts), 2),
        "rtt_ms_p90": round(sorted(rtts)[int(0.9 * (len(rtts) - 1))], 2),
        "round_trips": len(rtts),
        "clients": CLIENTS,
        "frame_p99_ratio": round(statistics.median(ratios), 3),
        "frame_p99_ratio_rounds": [round(x, 3) for x in ratios],
        "frame_p99_ratio_pooled": round(_p99(frames[True]) / _p99(frames[False]), 3),
        "frame_p99_ms_clients": round(_p99(frames[True]), 3),
        "frame_p99_ms_reference": round(_p99(frames[False]), 3),
        "work_p99_ratio": round(statistics.median(work_ratios), 3),
        "work_p99_ms_clients": round(_p99(work[True]), 3),
        "work_p99_ms_reference": round(_p99(work[False]), 3),
        "rounds": len(measured),
        "frames_per_block_min": short,
        "frames_clients": len(frames[True]),
        "frames_reference": len(frames[False]),
        "fps": fps,
        "load_avg_before": load_before,
        "load_avg_after": load_after,
        "cpus": os.cpu_count(),
    }
    return result


def _report(result: dict[str, Any], *, as_json: bool) -> None:
    """Print the figures: one JSON object, or two lines for a person."""
    if as_json:
        print(json.dumps(result))
    else:
        print(
            f"web console, {CLIENTS} clients, {result['round_trips']} round trips: median "
            f"{result['rtt_ms_median']} ms, p90 {result['rtt_ms_p90']} ms, worst "
            f"{result['rtt_ms_worst']} ms (target median <= {RTT_TARGET_MS:g})"
        )
        print(
            f"frame time p99 ratio, median of {result['rounds']} rounds: "
            f"{result['frame_p99_ratio']} (target <= {RATIO_TARGET}; rounds "
            f"{result['frame_p99_ratio_rounds']}); pooled: {result['frame_p99_ms_clients']} "
            f"ms with clients, {result['frame_p99_ms_reference']} ms without "
            f"({result['frame_p99_ratio_pooled']}); render work p99 ratio "
            f"{result['work_p99_ratio']}; load average {result['load_avg_before']} -> "
            f"{result['load_avg_after']} on {result['cpus']} CPUs"
        )


def _rounds(block: Any, count: int, seconds: float, active: Any) -> Frames[list[dict[bool, Any]]]:
    """`count` rounds of one `block` with clients and one without, in alternating order;
    for each round, by side (True: clients): (frame times, work times)."""
    out = []
    for n in range(count):
        order = (False, True) if n % 2 == 0 else (True, False)
        pair = {}
        for on in order:
            pair[on] = yield from block(seconds, on, active)
        out.append(pair)
    return out


def run(args: argparse.Namespace) -> int:
    """`python -m app bench web`."""
    from app.clock import FrameClock
    from app.control.access import Listen
    from app.cues.commands import build
    from app.eventlog import EventLog
    from app.loop import FrameTap, Steps
    from app.player import Player
    from app.render.outputs import HeadlessOutput, OutputError
    from app.session import Session
    from app.web.child import ServerProcess
    from app.web.console import WebConsole
    from app.web.server import Tokens, WebServer

    with tempfile.TemporaryDirectory() as tmp:
        show = _show(Path(tmp), args.fps)
        try:
            output = HeadlessOutput(show.output.width, show.output.height)
        except OutputError as exc:
            print(f"bench web: no headless output: {exc}", file=sys.stderr)
            return 2
        player = Player(show, output, clock=FrameClock(), log=EventLog())
        tokens = Tokens()

        def factory(desc: dict[str, Any], put: Any) -> Any:
            if args.in_process:
                return WebServer(desc, put, Listen("127.0.0.1", 0), tokens=tokens, put_deadline=put)
            return ServerProcess(desc, put, Listen("127.0.0.1", 0), tokens=tokens, put_deadline=put)

        console = WebConsole(player, factory).start()
        server = console.server
        fps = show.output.fps
        frame_ms: list[float] = []  # render work of each frame
        starts: list[float] = []  # when each frame began

        started = [0.0]

        def before(t: float) -> None:  # the frame starts (before the console's poll)
            started[0] = time.perf_counter()
            starts.append(started[0])

        def after() -> None:  # the frame is rendered (before the console's idle)
            frame_ms.append((time.perf_counter() - started[0]) * 1000.0)

        def block(seconds: float, on: bool, active: Any) -> Frames[tuple[list[float], list[float]]]:
            """One block with the clients (on) or without: (frame times, work times) in ms,
            counted once the block's state holds (the clients connected, or gone)."""
            if on:
                active.set()
            else:
                active.clear()
            want = CLIENTS if on else 0
            while len(server.consoles) != want:
                yield
            frame_ms.clear()
            starts.clear()
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                yield
            intervals = [(b - a) * 1000.0 for a, b in zip(starts, starts[1:], strict=False)]
            return intervals, list(frame_ms)

        def bench() -> Frames[tuple[Any, ...]]:
            """The bench, a frame of the show at each `yield`."""
            for n in range(len(show.cues)):  # every layer on stage
                player.put(build("go", {"poem": "1", "cue": f"1.{n + 1}"}, source="bench"))
                yield
            url = f"http://127.0.0.1:{server.port}/ws?token={tokens.operate}"
            child, results, active, stop = yield from _start_clients(url, args.seed)
            yield from block(WARM_UP_SECONDS, True, active)  # first connections: not measured
            load_before = _load()
            measured = yield from _rounds(block, args.rounds, args.block_seconds, active)
            load_after = _load()
            stop.set()
            active.clear()
            while child.is_alive():  # the show runs on until the clients are done
                yield
            return child, results, measured, load_before, load_after

        try:
            # as play's loop: the console polls before the frame and hands over after it
            steps = Steps(bench())
            session = Session(player, inputs=[FrameTap(after, before), console, steps])
            session.run(status=False, until=lambda: steps.done)
            child, results, measured, load_before, load_after = steps.value
            status, payload = results.get(timeout=60)
            child.join(10)
        finally:
            console.close()
            player.close()
            output.close()
    if status != "ok":
        print(f"bench web: the clients failed: {payload}", file=sys.stderr)
        return 2
    result = _summary(payload["rtt"], measured, fps, load_before, load_after)
    if result is None:
        return 2
    probes = payload["probe"]
    result["probe_rtt_ms_median"] = round(statistics.median(probes), 2) if probes else None
    result["probes"] = len(probes)
    result["not_applied"] = payload["not_applied"]
    _report(result, as_json=args.json)
    ok = result["rtt_ms_median"] <= RTT_TARGET_MS and result["frame_p99_ratio"] <= RATIO_TARGET
    return 0 if ok else 1
