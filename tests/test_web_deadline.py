"""Command deadlines (app/web/truth.py): the page's clock mapped onto the machine's by its
pings, and a command that reaches the show loop after its deadline refused there, never
applied late; pings answered by the show loop itself (page -> show loop -> page)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from frames import run_frames

from app.clock import FakeTime, FrameClock
from app.control.access import Listen
from app.eventlog import EventLog
from app.loop import FrameTap
from app.web.console import WebConsole
from app.web.server import Tokens, WebServer
from app.web.truth import DEFAULT_TTL, MAX_TTL, MIN_TTL, ClockSync, clamp_ttl, late

TOKENS = Tokens("op-token", "view-token")


def test_clock_sync_keeps_the_least_delayed_offset() -> None:
    sync = ClockSync()
    assert sync.offset is None
    assert sync.deadline(50.0, 1000.0, 500.0) == 50.5  # no ping yet: from the arrival
    sync.sample(100.0, 2000.0)  # offset 98.0 (plus that ping's delay)
    sync.sample(101.5, 3000.0)  # 98.5: a slower ping
    assert sync.offset == 98.0
    # sent at page 4000 ms = 102.0 here; it arrived at 107.0 (held 5 s): already expired
    assert sync.deadline(107.0, 4000.0, 1000.0) == 103.0
    # never later than arrival + ttl, even with a page clock that runs ahead
    assert sync.deadline(100.0, 9_000_000.0, 1000.0) == 101.0
    assert clamp_ttl(None) == DEFAULT_TTL
    assert clamp_ttl(1e9) == MAX_TTL and clamp_ttl(0.0) == MIN_TTL


def test_late_names_how_late() -> None:
    assert late(None, 5.0) is None
    assert late(5.0, 5.0) is None
    assert late(5.0, 7.25) == "not applied: it reached the show 2.2 s after its deadline"


@pytest.fixture
def live(ctx: Any, tmp_path: Path) -> Iterator[tuple[Any, WebConsole, FakeTime]]:
    from app.player import Player
    from app.render.outputs import HeadlessOutput
    from app.show.loader import load_show
    from tests.web_helpers import tiny_show

    show = load_show(tiny_show(tmp_path))
    fake_time = FakeTime()
    out = HeadlessOutput(64, 36)
    player = Player(
        show,
        out,
        clock=FrameClock(fake_time, fake_time.sleep),
        log=EventLog(tmp_path / "run.jsonl"),
        offline=True,
    )

    def factory(desc: dict[str, Any], put: Any) -> WebServer:
        return WebServer(desc, put, Listen("127.0.0.1", 0), tokens=TOKENS, put_deadline=put)

    console = WebConsole(player, factory).start()
    yield player, console, fake_time
    console.close()
    player.close()
    out.close()


def _client(
    page: Callable[[], Coroutine[Any, Any, None]],
    result: dict[str, Any],
    *ends: threading.Event,
) -> None:
    """Run the page's coroutine on a thread of its own; its exception goes to
    `result["error"]` and every event of `ends` is set when it ends, however it ends."""

    def run() -> None:
        try:
            asyncio.run(page())
        except BaseException as exc:
            result["error"] = exc
        finally:
            for end in ends:
                end.set()

    threading.Thread(target=run, daemon=True).start()


def test_a_held_command_is_refused_by_the_show_and_a_fresh_one_applied(
    live: tuple[Any, WebConsole, FakeTime], tmp_path: Path
) -> None:
    player, console, fake_time = live
    url = f"http://127.0.0.1:{console.server.port}/ws?token=op-token"
    result: dict[str, Any] = {}
    done = threading.Event()

    async def until(ws: Any, pred: Any) -> list[dict[str, Any]]:
        seen = []
        async with asyncio.timeout(30):
            while True:
                msg = await ws.receive()
                assert msg.type == aiohttp.WSMsgType.TEXT, msg
                m = json.loads(msg.data)
                seen.append(m)
                if pred(m):
                    return seen

    async def page() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            await until(ws, lambda m: m["type"] == "snapshot")
            # the ping comes back only through the show's main loop (console.poll)
            await ws.send_str('{"type":"ping","t":100000.0}')
            pong = await until(ws, lambda m: m["type"] == "pong")
            result["pong"] = pong[-1]
            # a GO sent 5 s before that ping, held by the network until now
            held = {"type": "command", "id": "g1", "name": "go", "sent": 95000.0, "ttl": 1000}
            await ws.send_str(json.dumps(held))
            got = await until(ws, lambda m: m["type"] == "ack" and m["id"] == "g1")
            result["held"] = got[-1]
            fresh = {"type": "command", "id": "g2", "name": "go", "sent": 100001.0, "ttl": 1000}
            await ws.send_str(json.dumps(fresh))
            got = await until(ws, lambda m: m["type"] == "ack" and m["id"] == "g2")
            result["fresh"] = got[-1]

    _client(page, result, done)
    # the show's main loop (each frame moves the fake clock on by 1/fps); after each frame
    # the client's thread gets a moment
    pause = FrameTap(lambda: done.wait(0.005))
    run_frames(player, None, inputs=[console, pause], until=done.is_set)
    assert "error" not in result, result.get("error")
    assert result["pong"]["t"] == 100000.0 and isinstance(result["pong"]["frame"], int)
    assert result["held"]["ok"] is False
    assert "after its deadline" in result["held"]["error"]
    assert result["fresh"] == {"type": "ack", "id": "g2", "ok": True}
    player.log.flush()
    records = [json.loads(line) for line in (tmp_path / "run.jsonl").read_text().splitlines()]
    refused = [r for r in records if r["event"] == "refused"]
    fired = [r for r in records if r["event"] == "cue"]
    assert [r["action"] for r in refused] == ["GO"]
    assert [r["cue"] for r in fired] == ["1.1"]  # one GO fired: the fresh one


def test_a_ping_queued_before_the_first_frame_is_answered_with_a_frame(
    live: tuple[Any, WebConsole, FakeTime],
) -> None:
    """The frame counter reaches the server before the pings of a frame are answered: a ping
    waiting when the show loop starts comes back with the counter of the frame that answered
    it (0: the first frame polls its inputs before drawing), never `frame: null`."""
    player, console, _ = live
    url = f"http://127.0.0.1:{console.server.port}/ws?token=op-token"
    result: dict[str, Any] = {}
    queued, done = threading.Event(), threading.Event()

    async def page() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            async with asyncio.timeout(30):
                while json.loads((await ws.receive()).data)["type"] != "snapshot":
                    pass
                await ws.send_str('{"type":"ping","t":5000.0}')
                # answered by the server itself, after the ping (one connection, in order)
                await ws.send_bytes(b"x")
                while json.loads((await ws.receive()).data)["type"] != "error":
                    pass
                queued.set()
                while (m := json.loads((await ws.receive()).data))["type"] != "pong":
                    pass
                result["pong"] = m

    _client(page, result, queued, done)
    assert queued.wait(30)
    assert player.status.frame == 0  # the show loop has not run a frame yet
    pause = FrameTap(lambda: done.wait(0.005))
    run_frames(player, None, inputs=[console, pause], until=done.is_set)
    assert "error" not in result, result.get("error")
    assert result["pong"] == {"type": "pong", "t": 5000.0, "frame": 0}
