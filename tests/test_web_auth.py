"""One access middleware for the console and the desk (issue 23): every route (static files
included) behind the allow-list, the Host check (DNS rebinding), Origin and token; JSON with
numbers outside the float range or nested deep refused with a one-line error; REST commands
and WebSocket commands drawing on one bucket per client."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app.control.access import Listen
from app.cues.actions import Action, Master
from app.desk.auth import Access
from app.desk.server import DeskServer
from app.desk.store import DeskStore
from app.show.loader import load_show
from app.web import safe_json
from app.web.auth import Guard, host_name
from app.web.protocol import ProtocolError, parse_request
from app.web.server import COMMAND_RATE, STATIC_DIR, Tokens, WebServer
from tests.web_helpers import tiny_show

TOKENS = Tokens("op-token", "view-token")
BIG = "1" + "0" * 399  # a 400-digit integer
BIG_ERROR = "number out of range: 100000000000...(400 characters)"


class Show:
    """Applies every action at once and acknowledges it (a stand-in for the main loop)."""

    def __init__(self) -> None:
        self.actions: list[Action] = []
        self.server: WebServer | None = None

    def put(self, action: Action) -> None:
        self.actions.append(action)
        assert self.server is not None
        self.server.publish({"n": len(self.actions)}, [(id(action), None)])


def _server(allow: list[str] | None = None, clock: Any = None) -> tuple[WebServer, Show]:
    show = Show()
    kwargs = {} if clock is None else {"clock": clock}
    server = WebServer({"poems": []}, show.put, Listen("127.0.0.1", 0, allow), tokens=TOKENS,
                       **kwargs)  # fmt: skip
    show.server = server
    server.start()
    server.publish({"n": 0})
    return server, show


@pytest.fixture
def console() -> Iterator[tuple[WebServer, Show]]:
    server, show = _server()
    yield server, show
    server.close()


async def _get(url: str, **headers: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s, s.get(url, headers=headers) as r:
        return r.status, await r.text()


async def _post(url: str, body: str | bytes, **headers: str) -> tuple[int, str]:
    headers.setdefault("Content-Type", "application/json")
    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers=headers) as r:
        return r.status, await r.text()


# --- pure parts ------------------------------------------------------------------------------


def test_safe_json_bounds() -> None:
    assert safe_json.loads('{"a": [1, 2.5, -3e10, "[[[["]}') == {"a": [1, 2.5, -3e10, "[[[["]}
    for text, reason in (
        (f'{{"x": {BIG}}}', "number out of range"),
        ('{"x": 1e400}', "number out of range"),
        ('{"x": -1e400}', "number out of range"),
        ('{"x": NaN}', "number out of range"),
        ("[" * 33 + "]" * 33, "nested deeper than 32"),
        ("[" * 100_000, "nested deeper than 32"),
        ("{", "malformed JSON"),
        (b"\xff", "not UTF-8"),
    ):
        with pytest.raises(safe_json.JsonError, match=reason) as err:
            safe_json.loads(text)
        assert "\n" not in str(err.value)
    assert safe_json.loads("[" * 32 + "]" * 32) is not None
    with pytest.raises(safe_json.JsonError) as err:
        safe_json.loads('{"id": "c1", "args": {"level": ' + BIG + "}}")
    assert err.value.parsed == {"id": "c1", "args": {"level": None}}


def test_protocol_refuses_big_numbers_with_the_id() -> None:
    with pytest.raises(ProtocolError, match="number out of range") as err:
        parse_request('{"type":"command","id":"c1","name":"master","args":{"level":' + BIG + "}}")
    assert err.value.id == "c1"


def test_host_names() -> None:
    guard = Guard(TOKENS, ["loopback"], names=["stage.example.org"])
    assert host_name("Example.COM:8080") == "example.com" and host_name("[::1]:80") == "::1"
    for good in ("127.0.0.1:8080", "localhost:1", "[::1]:9", "10.1.2.3", "stage.example.org:80",
                 None):  # fmt: skip
        assert guard.host_ok(good), good
    for bad in ("attacker.example:8080", "127.0.0.1.attacker.example", "localhost.evil", ""):
        assert not guard.host_ok(bad), bad


# --- the console -----------------------------------------------------------------------------


def test_pages_are_served_with_the_shared_head() -> None:
    """Every console page comes with static/head.html in place of its include line: the
    doctype, the phone viewport and the stylesheet, once, and no include line left."""
    head = (STATIC_DIR / "head.html").read_text()
    server, _ = _server(allow=["loopback"])
    base = f"http://127.0.0.1:{server.port}"
    try:
        for path, title in (("/", "Console"), ("/static/index.html", "Console"),
                            ("/static/rehearse.html", "Rehearse"),
                            ("/static/edit.html", "Edit the show")):  # fmt: skip
            status, text = asyncio.run(_get(base + path))
            assert status == 200, (path, status)
            assert text.startswith(head), path
            assert f"<title>{title}</title>" in text and "#include" not in text, path
            assert text.count('name="viewport"') == 1 and text.count("console.css") == 1, path
    finally:
        server.close()


def test_static_file_refused_off_the_allow_list() -> None:
    server, _ = _server(allow=["10.0.0.0/8"])
    base = f"http://127.0.0.1:{server.port}"
    try:
        for path in ("/static/console.js", "/static/index.html", "/", "/favicon.ico"):
            status, text = asyncio.run(_get(base + path))
            assert status == 403 and "allow-list" in text, (path, status)
        assert server.stats["refused"] >= 4
    finally:
        server.close()
    server, _ = _server(allow=["loopback"])
    try:
        status, text = asyncio.run(_get(f"http://127.0.0.1:{server.port}/static/console.js"))
        assert status == 200 and len(text) > 100
    finally:
        server.close()


def test_host_header_stops_dns_rebinding(console) -> None:
    """A page of attacker.example re-pointed at this machine: its requests say Host:
    attacker.example (and Origin to match), and are refused even with a good token."""
    server, show = console
    base = f"http://127.0.0.1:{server.port}"
    evil = {"Host": f"attacker.example:{server.port}",
            "Origin": f"http://attacker.example:{server.port}"}  # fmt: skip
    assert asyncio.run(_get(f"{base}/api/state?token=op-token", **evil))[0] == 403
    assert asyncio.run(_get(f"{base}/static/console.js", **evil))[0] == 403
    body = json.dumps({"type": "command", "id": 1, "name": "go"})
    assert asyncio.run(_post(f"{base}/api/command?token=op-token", body, **evil))[0] == 403

    async def ws() -> int:
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as e:
                await s.ws_connect(f"{base}/ws?token=op-token", headers=evil)
            return e.value.status

    assert asyncio.run(ws()) == 403
    assert show.actions == []
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
        status, _ = asyncio.run(_get(f"{base}/api/state?token=op-token", Host=host))
        assert status == 200, host


def test_400_digit_integer_rest_400_one_line(console) -> None:
    server, show = console
    url = f"http://127.0.0.1:{server.port}/api/command?token=op-token"
    body = '{"type":"command","id":"c1","name":"master","args":{"level":' + BIG + "}}"
    status, text = asyncio.run(_post(url, body))
    assert status == 400
    assert json.loads(text) == {"ok": False, "error": BIG_ERROR}
    deep = '{"type":"command","id":"c2","name":"go","args":' + "[" * 500 + "]" * 500 + "}"
    status, text = asyncio.run(_post(url, deep))
    assert status == 400 and "nested deeper" in json.loads(text)["error"]
    assert show.actions == []


def test_400_digit_integer_websocket_error_ack_connection_kept(console) -> None:
    server, show = console

    async def run() -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{server.port}/ws?token=op-token"
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            seen = []
            big = '{"type":"command","id":"c1","name":"master","args":{"level":' + BIG + "}}"
            await ws.send_str(big)
            await ws.send_str('{"type":"command","id":"c2","args":' + "[" * 40 + "]" * 40 + "}")
            await ws.send_str(json.dumps({"type": "command", "id": "c3", "name": "master",
                                          "args": {"level": 0.5}}))  # fmt: skip
            async with asyncio.timeout(20):
                while not any(m.get("id") == "c3" for m in seen):
                    msg = await ws.receive()
                    assert msg.type == aiohttp.WSMsgType.TEXT, msg
                    seen.append(json.loads(msg.data))
            return seen

    seen = asyncio.run(run())
    answers = [m for m in seen if m["type"] in ("ack", "error")]
    assert answers[0] == {"type": "ack", "id": "c1", "ok": False, "error": BIG_ERROR}
    assert answers[1]["type"] == "error" and "nested deeper than 32" in answers[1]["error"]
    assert answers[2] == {"type": "ack", "id": "c3", "ok": True}  # the same connection
    assert show.actions == [Master(level=0.5, source="web", detail=show.actions[0].detail)]


def test_rest_and_websocket_share_one_bucket_per_client() -> None:
    """With the clock stopped the bucket never refills: a client gets 2 x COMMAND_RATE
    commands in all, over REST and the WebSocket together."""
    from app.clock import FakeTime

    clock = FakeTime(50.0)
    server, show = _server(clock=clock)
    burst = int(2 * COMMAND_RATE)
    base = f"http://127.0.0.1:{server.port}"

    async def run() -> tuple[list[int], list[dict[str, Any]]]:
        statuses = []
        async with aiohttp.ClientSession() as s:
            for i in range(burst - 10):
                body = {"type": "command", "id": i, "name": "master", "args": {"level": 0.5}}
                async with s.post(f"{base}/api/command?token=op-token", json=body) as r:
                    statuses.append(r.status)
            async with s.ws_connect(f"{base}/ws?token=op-token") as ws:
                acks: list[dict[str, Any]] = []
                for i in range(20):
                    await ws.send_str(json.dumps({"type": "command", "id": f"w{i}",
                                                  "name": "go"}))  # fmt: skip
                async with asyncio.timeout(20):
                    while len(acks) < 20:
                        m = json.loads((await ws.receive()).data)
                        if m["type"] == "ack":
                            acks.append(m)
            for _ in range(3):
                body = {"type": "command", "id": "r", "name": "go"}
                async with s.post(f"{base}/api/command?token=op-token", json=body) as r:
                    statuses.append(r.status)
                    assert "too many commands" in (await r.json())["error"]
        return statuses, acks

    try:
        statuses, acks = asyncio.run(run())
    finally:
        server.close()
    assert statuses[: burst - 10] == [200] * (burst - 10) and statuses[-3:] == [400] * 3
    acks.sort(key=lambda a: int(a["id"][1:]))  # refusals are answered before the applied
    assert [a["ok"] for a in acks] == [True] * 10 + [False] * 10, acks
    assert all("too many commands" in a["error"] for a in acks[10:])
    assert len(show.actions) == burst


# --- the desk --------------------------------------------------------------------------------


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[DeskServer]:
    show = load_show(tiny_show(tmp_path), allow_missing=True)
    server = DeskServer(
        DeskStore(show), Access(TOKENS, ["loopback"]), make_backend=lambda: None, port=0
    ).start()
    yield server
    server.stop()


def test_desk_deep_json_and_big_numbers_one_line_400(desk: DeskServer) -> None:
    url = f"http://127.0.0.1:{desk.port}/api/cues/1.1/mark?token=op-token"
    for body, reason in (
        ("[" * 5000 + "]" * 5000, "nested deeper than 32"),
        ('{"id": "x.png", "rating": ' + BIG + "}", "number out of range"),
    ):
        status, text = asyncio.run(_post(url, body))
        assert status == 400 and reason in text and "\n" not in text.strip(), text


def test_desk_same_middleware(desk: DeskServer) -> None:
    base = f"http://127.0.0.1:{desk.port}"
    assert asyncio.run(_get(f"{base}/"))[0] == 200
    assert asyncio.run(_get(f"{base}/api/cues"))[0] == 401
    evil = {"Host": f"attacker.example:{desk.port}"}
    assert asyncio.run(_get(f"{base}/api/cues?token=op-token", **evil))[0] == 403
    assert asyncio.run(_get(f"{base}/", **evil))[0] == 403
    status, text = asyncio.run(_post(f"{base}/api/cues/1.1/mark?token=view-token", "{}"))
    assert status == 403 and "view token" in text


def test_desk_static_refused_off_the_allow_list(tmp_path: Path) -> None:
    show = load_show(tiny_show(tmp_path), allow_missing=True)
    server = DeskServer(
        DeskStore(show), Access(TOKENS, ["10.0.0.0/8"]), make_backend=lambda: None, port=0
    ).start()
    try:
        for path in ("/", "/static/desk.js", "/static/desk.html"):
            status, text = asyncio.run(_get(f"http://127.0.0.1:{server.port}{path}"))
            assert status == 403 and "allow-list" in text, (path, status)
    finally:
        server.stop()


def test_desk_posts_are_rate_limited(tmp_path: Path) -> None:
    """With the clock stopped, a client's 101st change is refused (429)."""
    from app.clock import FakeTime

    show = load_show(tiny_show(tmp_path), allow_missing=True)
    access = Access(TOKENS, ["loopback"], clock=FakeTime(5.0))
    desk = DeskServer(DeskStore(show), access, make_backend=lambda: None, port=0).start()
    url = f"http://127.0.0.1:{desk.port}/api/cues/1.1/mark?token=op-token"

    async def run() -> list[int]:
        async with aiohttp.ClientSession() as s:
            out = []
            for _ in range(110):
                async with s.post(url, data="{", headers={"Content-Type": "application/json"}) as r:
                    out.append(r.status)
            return out

    try:
        statuses = asyncio.run(run())
    finally:
        desk.stop()
    assert statuses == [400] * 100 + [429] * 10
