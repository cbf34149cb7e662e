"""The console server without a browser: protocol, access, acks, slow and hostile clients."""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from frames import run_frames

from app.clock import FakeTime, FrameClock
from app.control.access import Listen
from app.cues.actions import Action, Go, Master
from app.cues.commands import CommandError, build, log_name
from app.eventlog import EventLog, read_log
from app.loop import FrameTap
from app.web.console import WebConsole
from app.web.protocol import MAX_MESSAGE, ProtocolError, parse_request
from app.web.server import Tokens, WebServer

TOKENS = Tokens("op-token", "view-token")


# --- pure parts ---------------------------------------------------------------------------


def test_parse_request_accepts_the_protocol() -> None:
    r = parse_request('{"type":"command","id":7,"name":"go","args":{}}')
    assert (r.type, r.id, r.name, r.args) == ("command", "7", "go", {})
    assert parse_request('{"type":"ping","t":1.5,"rtt":3}').t == 1.5
    assert parse_request('{"type":"lock","id":"a","on":true}').on is True


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{", "malformed JSON"),
        ("[1]", "expected a JSON object"),
        ('{"type":"nope"}', "unknown message type"),
        ('{"type":"command","name":"go"}', "command without an id"),
        ('{"type":"command","id":1,"name":3}', "name: expected"),
        ('{"type":"command","id":1,"name":"go","args":[1]}', "args: expected an object"),
        ('{"type":"lock","id":1,"on":"yes"}', "on: expected true or false"),
        ('{"type":"command","id":[1],"name":"go"}', "id: expected"),
        ("x" * (MAX_MESSAGE + 1), "message too large"),
        ("[" * 100000 + "]" * 100000, "message too large"),
    ],
)
def test_parse_request_refuses_with_a_reason(text: str, reason: str) -> None:
    with pytest.raises(ProtocolError, match=reason):
        parse_request(text)


def test_commands_come_from_the_command_table() -> None:
    assert build("go", {}, source="web") == Go(source="web")
    with pytest.raises(CommandError, match="out of range"):
        build("master", {"level": 1.5}, source="web")


# --- a server with a stand-in for the show ---------------------------------------------------


class FakeShow:
    """Applies every action at once on the server's thread and publishes a counter state."""

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.server: WebServer | None = None
        self.master = 1.0

    def put(self, action: Action) -> None:
        self.actions.append(action)
        if isinstance(action, Master):
            self.master = action.level
        assert self.server is not None
        self.server.publish({"master": self.master, "n": len(self.actions)}, [(id(action), None)])


@pytest.fixture
def fake() -> Iterator[tuple[WebServer, FakeShow]]:
    show = FakeShow()
    server = WebServer({"title": "t", "poems": []}, show.put, Listen("127.0.0.1", 0), tokens=TOKENS)
    show.server = server
    server.start()
    server.publish({"master": 1.0, "n": 0})
    yield server, show
    server.close()


def ws_url(server: WebServer, token: str | None = "op-token") -> str:
    q = "" if token is None else f"?token={token}"
    return f"http://127.0.0.1:{server.port}/ws{q}"


async def _until(ws: aiohttp.ClientWebSocketResponse, pred: Any, timeout: float = 20.0) -> list:
    """Messages received until one satisfies `pred` (included)."""
    seen = []
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"socket ended: {msg}")
            m = json.loads(msg.data)
            seen.append(m)
            if pred(m):
                return seen


def test_snapshot_then_ack_and_heartbeat(fake: tuple[WebServer, FakeShow]) -> None:
    server, show = fake

    async def run() -> list:
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(server)) as ws:
            first = await _until(ws, lambda m: True)
            assert first[0]["type"] == "snapshot" and first[0]["role"] == "operate"
            await ws.send_str(
                json.dumps(
                    {"type": "command", "id": "m1", "name": "master", "args": {"level": 0.25}}
                )
            )
            got = await _until(ws, lambda m: m["type"] == "ack")
            beats = await _until(ws, lambda m: m["type"] == "heartbeat")
            return got + beats

    seen = asyncio.run(run())
    ack = next(m for m in seen if m["type"] == "ack")
    assert ack == {"type": "ack", "id": "m1", "ok": True}
    # the update that shows the effect comes before its ack
    i = seen.index(ack)
    assert any(m["type"] == "update" and m["state"]["master"] == 0.25 for m in seen[:i])
    assert show.actions == [Master(level=0.25, source="web")]
    assert show.actions[0].source == "web"


def test_refusals_execute_nothing(fake: tuple[WebServer, FakeShow]) -> None:
    server, show = fake
    base = f"http://127.0.0.1:{server.port}"

    async def run() -> None:
        async with aiohttp.ClientSession() as s:
            for token, status in ((None, 401), ("wrong", 401)):
                with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                    await s.ws_connect(ws_url(server, token))
                assert e.value.status == status
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await s.ws_connect(ws_url(server), headers={"Origin": "http://evil.example"})
            assert e.value.status == 403
            async with s.post(f"{base}/api/command?token=wrong", json={}) as r:
                assert r.status == 401
            body = {"type": "command", "id": 1, "name": "go"}
            async with s.post(f"{base}/api/command?token=view-token", json=body) as r:
                assert r.status == 400 and "view only" in (await r.json())["error"]
            async with s.ws_connect(ws_url(server, "view-token")) as ws:
                await ws.send_str(json.dumps(body))
                got = await _until(ws, lambda m: m["type"] == "ack")
                assert got[-1]["ok"] is False and "view only" in got[-1]["error"]
            async with s.get(f"{base}/api/state?token=view-token") as r:
                assert (await r.json())["role"] == "view"
            async with s.post(f"{base}/api/command?token=op-token", json=body) as r:
                assert (await r.json())["ok"] is True

    asyncio.run(run())
    assert show.actions == [Go(source="web")]  # only the last, operate REST call ran
    assert server.stats["refused"] >= 4


def test_allow_list_refuses_other_addresses() -> None:
    server = WebServer(
        {}, lambda a: None, Listen("127.0.0.1", 0, ["10.0.0.0/8"]), tokens=TOKENS
    ).start()
    try:

        async def run() -> int:
            async with aiohttp.ClientSession() as s:
                url = f"http://127.0.0.1:{server.port}/api/state?token=op-token"
                async with s.get(url) as r:
                    return r.status

        assert asyncio.run(run()) == 403
    finally:
        server.close()


def test_show_lock_leaves_only_go_standby_steps_blackout_and_panic(
    fake: tuple[WebServer, FakeShow],
) -> None:
    server, show = fake

    async def run() -> list:
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(server)) as ws:
            await _until(ws, lambda m: m["type"] == "snapshot")
            out = []
            for i, msg in enumerate(
                [
                    {"type": "lock", "on": True},
                    {"type": "command", "name": "master", "args": {"level": 0}},
                    {"type": "command", "name": "go"},
                    {"type": "command", "name": "standby_next"},
                    {"type": "command", "name": "standby", "args": {"poem": "1"}},
                    {"type": "command", "name": "blackout"},
                    {"type": "command", "name": "panic"},
                    {"type": "lock", "on": False},
                    {"type": "command", "name": "master", "args": {"level": 0}},
                ]
            ):
                await ws.send_str(json.dumps({**msg, "id": f"k{i}"}))
                got = await _until(ws, lambda m, i=i: m["type"] == "ack" and m["id"] == f"k{i}")
                out.append(got[-1])
            return out

    acks = asyncio.run(run())
    assert [a["ok"] for a in acks] == [True, False, True, True, False, True, True, True, True]
    assert "show locked" in acks[1]["error"] and "show locked" in acks[4]["error"]
    names = [log_name(a) for a in show.actions]
    assert names == ["GO", "STANDBY_NEXT", "BLACKOUT", "PANIC", "MASTER"]


def test_slow_client_gets_the_newest_state_not_a_backlog(
    fake: tuple[WebServer, FakeShow],
) -> None:
    server, _ = fake

    async def run() -> tuple[list, float]:
        async with aiohttp.ClientSession() as s, s.ws_connect(ws_url(server)) as ws:
            await _until(ws, lambda m: m["type"] == "snapshot")
            start = time.monotonic()
            # 5000 states while this client reads nothing
            for n in range(1, 5001):
                server.publish({"master": 1.0, "n": n, "pad": "x" * 200})
            got = await _until(ws, lambda m: m["type"] == "update" and m["state"].get("n") == 5000)
            return got, time.monotonic() - start

    got, elapsed = asyncio.run(run())
    updates = [m for m in got if m["type"] == "update"]
    assert updates[-1]["state"]["n"] == 5000
    # coalesced: at most 30 a second (plus the one in flight), never one per state
    assert len(updates) <= 30 * elapsed + 2


# --- a real player: 10,000 hostile messages -------------------------------------------------


def _hostile(rng: random.Random, n: int) -> list[str | bytes]:
    kinds: list[Any] = [
        "{",
        "null",
        "[]",
        '"GO"',
        "1e999",
        "{" * 3000,
        "x" * (MAX_MESSAGE + 10),
        '{"type":"command","id":1,"name":"master","args":{"level":NaN}}',
        '{"type":"command","id":1,"name":"master","args":{"level":"0"}}',
        '{"type":"command","id":1,"name":"layer_opacity","args":{"layer":-1,"opacity":0.5}}',
        '{"type":"command","id":1,"name":"layer_rate","args":{"layer":1,"rate":1e9}}',
        '{"type":"command","id":1,"name":"__class__","args":{}}',
        '{"type":"command","id":1,"name":"go","args":{"source":"key"}}',
        '{"type":"command","id":{"a":1},"name":"go"}',
        '{"type":"command","name":"panic"}',
        '{"type":"lock","id":1,"on":"off"}',
        '{"type":"ping","t":"now"}',
        '{"type":"\u0000\ud7ff"}',
        b"\x00\xff binary",
    ]
    return [rng.choice(kinds) for _ in range(n)]


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
        return WebServer(
            desc,
            put,
            Listen("127.0.0.1", 0),
            tokens=TOKENS,
            log=lambda m, f: player.log.write("info", fake_time.t, message=m, **f),
        )

    console = WebConsole(player, factory).start()
    yield player, console, fake_time
    console.close()
    player.close()
    out.close()


def test_ten_thousand_hostile_messages(live: tuple[Any, WebConsole, FakeTime]) -> None:
    player, console, fake_time = live
    server = console.server
    url = ws_url(server)
    result: dict[str, Any] = {}
    done = threading.Event()
    flooded = threading.Event()  # every hostile message was handled (the pong came after)
    checked = threading.Event()

    async def flood() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(url) as ws:
                await _until(ws, lambda m: m["type"] == "snapshot")
                for msg in _hostile(random.Random(5), 10_000):
                    if isinstance(msg, bytes):
                        await ws.send_bytes(msg)
                    else:
                        await ws.send_str(msg)
                await ws.send_str('{"type":"ping","t":1}')
                await _until(ws, lambda m: m["type"] == "pong")  # the same socket still answers
                flooded.set()
                await asyncio.to_thread(checked.wait, 60)
            async with s.ws_connect(url) as ws:  # a fresh console still commands the show
                await _until(ws, lambda m: m["type"] == "snapshot")
                await ws.send_str(
                    '{"type":"command","id":"ok1","name":"master","args":{"level":0.5}}'
                )
                got = await _until(ws, lambda m: m["type"] == "ack" and m["id"] == "ok1")
                result["ack"] = got[-1]
                result["update"] = [m for m in got if m["type"] == "update"][-1]["state"]

    def client() -> None:
        try:
            asyncio.run(flood())
        except BaseException as exc:
            result["error"] = exc
        finally:
            done.set()

    initial = player.state
    frames_before = player.frame
    threading.Thread(target=client, daemon=True).start()
    state_during_flood = None

    def after_frame() -> None:
        nonlocal state_during_flood
        if flooded.is_set() and not checked.is_set():
            state_during_flood = player.state
            checked.set()

    # the show's main loop (each frame moves the fake clock on by 1/fps): it never waits
    # for the server
    run_frames(player, None, inputs=[console, FrameTap(after_frame)], until=done.is_set)
    run_frames(player, 3, inputs=[console])
    assert "error" not in result, result.get("error")
    assert state_during_flood == initial  # nothing hostile changed the show
    assert result["ack"] == {"type": "ack", "id": "ok1", "ok": True}
    assert result["update"]["master"] == 0.5 and player.state.master == 0.5
    assert player.frame - frames_before > 0
    stats = server.stats
    assert stats["messages"] >= 10_000
    assert stats["malformed"] + stats["errors"] + stats["rate_limited"] > 5_000
    player.log.flush()
    records = read_log(player.log.path)
    actions = [r for r in records if r["event"] == "action"]
    assert [(a["action"], a["source"]) for a in actions] == [("MASTER", "web")]
    frames = [r["frame"] for r in records if r["event"] == "frame"]
    assert frames == list(range(player.frame))  # every frame rendered and logged, in order
    # refusals were logged, rate-limited (not one line per bad message)
    refusals = [r for r in records if "bad message" in str(r.get("message", ""))]
    assert 0 < len(refusals) < 200
