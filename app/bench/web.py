"""Web console: command -> acknowledged state round trip, and what 4 consoles cost a frame.

Headless, in real time: a show of small stills plays at `--fps` on a 320x180 offscreen
output with the web console running on loopback, the main loop exactly as `play` runs it
(console poll, then the frame). Four console clients (aiohttp WebSockets in a child
process, as tablets would be other machines) each set their own layer's opacity to a new
value, wait for the acknowledgement (which the server sends after the update that shows the
applied value), pause a random 30-120 ms and go again. Round trip: send -> ack, in ms.

Frame time: from the start of one frame to the start of the next (what the audience sees:
a stall makes a frame late, work that fits in the frame does not), p99 in ms; the render
work of each frame (console poll + the frame itself) is reported beside it (`work_...`).
Reference, measured in the same run: the same with no client connected. Blocks with the
four clients alternate with blocks without any (the clients disconnect), so that the
machine's other load weighs on both alike;
`frame_p99_ratio` is the p99 with the clients over the p99 without. The server is the one
`play` runs: a child process (`--in-process`: on a thread of the show's process), handed
the state after each frame is out (`WebConsole.idle`). With `--json`: one object with
`rtt_ms_median`, `rtt_ms_worst`, `frame_p99_ratio` and the figures behind them. Exit status
1 when `rtt_ms_median` > 50 or `frame_p99_ratio` > 1.15.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CLIENTS = 4
RTT_TARGET_MS = 50.0
RATIO_TARGET = 1.15


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `python -m app bench web`."""
    p.add_argument("--fps", type=float, default=60.0, help="output frame rate (default 60)")
    p.add_argument("--blocks", type=int, default=6, help="blocks with clients (and without)")
    p.add_argument("--block-seconds", type=float, default=1.5, help="seconds per block")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--in-process", action="store_true", help="the server on a thread (as before the child)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


# --- the clients (child process) ---------------------------------------------------------


async def _client(url: str, layer: int, seed: int, active: Any, stop: Any) -> list[float]:
    """One console: connected while `active` is set, a round trip after another."""
    import asyncio

    import aiohttp

    rng = random.Random(seed)
    out: list[float] = []
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
                    sent = time.perf_counter()
                    await ws.send_json(
                        {"type": "command", "id": cid, "name": "layer_opacity", "args": args}
                    )
                    while True:
                        msg = await ws.receive_json()
                        if msg["type"] == "ack" and msg["id"] == cid:
                            break
                    if not msg["ok"]:
                        raise RuntimeError(f"command refused: {msg.get('error')}")
                    out.append((time.perf_counter() - sent) * 1000.0)
                    await asyncio.sleep(rng.uniform(0.03, 0.12))
    return out


def _clients_main(url: str, seed: int, active: Any, stop: Any, results: Any) -> None:
    import asyncio
    import os

    # the consoles stand for tablets, other machines: on this one they get the CPU the show
    # leaves (the server, the cost being measured, is the one `play` runs)
    os.nice(15)

    async def all_clients() -> list[list[float]]:
        return await asyncio.gather(
            *(_client(url, i + 1, seed * 100 + i, active, stop) for i in range(CLIENTS))
        )

    try:
        results.put(("ok", [x for xs in asyncio.run(all_clients()) for x in xs]))
    except Exception as exc:
        results.put(("error", repr(exc)))


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


def run(args: argparse.Namespace) -> int:
    """`python -m app bench web`."""
    from app.clock import FrameClock
    from app.cues.commands import build
    from app.eventlog import EventLog
    from app.player import Player
    from app.render.outputs import HeadlessOutput, OutputError
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
                return WebServer(desc, put, host="127.0.0.1", port=0, tokens=tokens)
            return ServerProcess(desc, put, host="127.0.0.1", port=0, tokens=tokens)

        console = WebConsole(player, factory).start()
        server = console.server
        fps = show.output.fps
        frame_ms: list[float] = []  # render work of each frame
        starts: list[float] = []  # when each frame began

        def frame() -> None:
            started = time.perf_counter()
            starts.append(started)
            console.poll(player.clock.time())
            player.step()
            frame_ms.append((time.perf_counter() - started) * 1000.0)
            console.idle()  # as play's loop: after the frame, before the wait
            player.clock.wait_next_frame(fps)

        def blocks(count: int, seconds: float, active: Any) -> dict[bool, list[list[float]]]:
            """Alternate blocks with the four clients and with none (so that the machine's
            other load weighs on both alike); frames count once the block's state holds.
            For each (True: clients, False: none): [frame times, work times] in ms."""
            out: dict[bool, list[list[float]]] = {True: [[], []], False: [[], []]}
            for block in range(2 * count):
                on = block % 2 == 1
                if on:
                    active.set()
                else:
                    active.clear()
                want = CLIENTS if on else 0
                while len(server.consoles) != want:
                    frame()
                frame_ms.clear()
                starts.clear()
                end = time.perf_counter() + seconds
                while time.perf_counter() < end:
                    frame()
                out[on][0].extend(
                    (b - a) * 1000.0 for a, b in zip(starts, starts[1:], strict=False)
                )
                out[on][1].extend(frame_ms)
            return out

        try:
            player.clock.start()
            for n in range(len(show.cues)):  # every layer on stage
                player.put(build("go", {"poem": "1", "cue": f"1.{n + 1}"}, source="bench"))
                frame()
            ctx = multiprocessing.get_context("spawn")
            results, active, stop = ctx.Queue(), ctx.Event(), ctx.Event()
            url = f"http://127.0.0.1:{server.port}/ws?token={tokens.operate}"
            child = ctx.Process(
                target=_clients_main, args=(url, args.seed, active, stop, results), daemon=True
            )
            child.start()
            measured = blocks(args.blocks, args.block_seconds, active)
            stop.set()
            active.clear()
            while child.is_alive():  # the show runs on until the clients are done
                frame()
            status, payload = results.get(timeout=60)
            child.join(10)
        finally:
            console.close()
            player.close()
            output.close()
    if status != "ok":
        print(f"bench web: the clients failed: {payload}", file=sys.stderr)
        return 2
    rtts: list[float] = payload
    result = {
        "rtt_ms_median": round(statistics.median(rtts), 2),
        "rtt_ms_worst": round(max(rtts), 2),
        "rtt_ms_p90": round(sorted(rtts)[int(0.9 * (len(rtts) - 1))], 2),
        "round_trips": len(rtts),
        "clients": CLIENTS,
        "frame_p99_ms_clients": round(_p99(measured[True][0]), 3),
        "frame_p99_ms_reference": round(_p99(measured[False][0]), 3),
        "frame_p99_ratio": round(_p99(measured[True][0]) / _p99(measured[False][0]), 3),
        "work_p99_ms_clients": round(_p99(measured[True][1]), 3),
        "work_p99_ms_reference": round(_p99(measured[False][1]), 3),
        "work_p99_ratio": round(_p99(measured[True][1]) / _p99(measured[False][1]), 3),
        "frames_clients": len(measured[True][0]),
        "frames_reference": len(measured[False][0]),
        "fps": fps,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"web console, {CLIENTS} clients, {len(rtts)} round trips: median "
            f"{result['rtt_ms_median']} ms, p90 {result['rtt_ms_p90']} ms, worst "
            f"{result['rtt_ms_worst']} ms (target median <= {RTT_TARGET_MS:g})"
        )
        print(
            f"frame time p99: {result['frame_p99_ms_clients']} ms with clients, "
            f"{result['frame_p99_ms_reference']} ms without: ratio {result['frame_p99_ratio']} "
            f"(target <= {RATIO_TARGET}); render work p99 {result['work_p99_ms_clients']} "
            f"ms vs {result['work_p99_ms_reference']} ms: ratio {result['work_p99_ratio']}"
        )
    ok = result["rtt_ms_median"] <= RTT_TARGET_MS and result["frame_p99_ratio"] <= RATIO_TARGET
    return 0 if ok else 1
