"""The console's HTTP and WebSocket server: aiohttp on its own thread and event loop.

It knows nothing of the player. The main loop hands it the newest state with `publish`
(never blocking: one reference swap and one wake-up of the loop) and the actions the engine
applied, which acknowledge the commands that asked for them; the server hands actions to
`put` (the player's thread-safe queue). See app/web/protocol.py for the messages.

Access (app.web.auth.Guard, a middleware before every route, static files included): the
client's address must be on the allow-list (app.control.access, `local` by default), the
`Host` header must name this machine and a browser's `Origin` must be this server's own;
every REST call and the WebSocket upgrade carry a token (`?token=` or an `Authorization:
Bearer` header) that gives the `operate` or the `view` role. The page and its static files
carry no data and are served to anyone who passes the rest. Commands share one rate bucket
per client address, REST and WebSocket alike. Refusals are counted and logged
(rate-limited), never executed.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from app.control.access import Listen
from app.cues.actions import Action
from app.cues.commands import CommandError, build, name_of
from app.ratelog import RateLimitedLog
from app.status import ALERT, REFUSED
from app.web.auth import Bucket, Guard, Rules
from app.web.protocol import ProtocolError, Request, ack, encode, parse_request
from app.web.truth import GRACE, ClockSync

STATIC_DIR = Path(__file__).resolve().parent / "static"
INCLUDE_HEAD = "<!--#include head.html"


@functools.cache
def page_html(name: str) -> bytes:
    """The console page `static/<name>.html`, its first line (`<!--#include head.html ...`)
    replaced by `static/head.html`: the doctype, charset, phone viewport, colour scheme and
    stylesheet every page shares, written once."""
    text = (STATIC_DIR / f"{name}.html").read_text(encoding="utf-8")
    first, _, rest = text.partition("\n")
    if first.startswith(INCLUDE_HEAD):
        text = (STATIC_DIR / "head.html").read_text(encoding="utf-8") + rest
    return text.encode("utf-8")


DEFAULT_PORT = 8080
DEFAULT_LISTEN = Listen("0.0.0.0", DEFAULT_PORT)  # every interface, the `local` allow-list
MAX_CONSOLES = 24
MAX_WS_FRAME = 65536  # aiohttp closes the socket beyond this; protocol.MAX_MESSAGE refuses less
UPDATE_INTERVAL = 1.0 / 30.0  # updates are coalesced to at most 30 a second per client
HEARTBEAT = 1.0
SEND_TIMEOUT = 10.0  # a client that takes longer to accept one message is dropped
ACK_TIMEOUT = 5.0  # a REST command not answered by then is answered with an error
COMMAND_RATE = 50.0  # commands a second per console (burst: twice that)
CONSOLE_RULES = Rules(rate=COMMAND_RATE)  # the handlers draw on guard.bucket per command
BACKLOG_LIMIT = 256 * 1024  # bytes waiting in a client's socket before updates are skipped
# with the show lock on, only these run: GO, BACK, the standby steps, and BLACKOUT and PANIC
# (behind their holds on the page); picking a cue or a poem directly and the faders wait
UNLOCKED_COMMANDS = frozenset(
    {
        "go",
        "back",
        "standby_next",
        "standby_prev",
        "poem_next",
        "poem_prev",
        "blackout",
        "panic",
    }
)

Log = Callable[[str, dict[str, Any]], None]
Role = str  # "operate" or "view"
PutDeadline = Callable[[Action, float], None]
Probe = Callable[[str, float], None]


class Tokens:
    """The two tokens of a run: `operate` (everything) and `view` (read-only)."""

    def __init__(self, operate: str | None = None, view: str | None = None) -> None:
        self.operate = operate or secrets.token_urlsafe(12)
        self.view = view or secrets.token_urlsafe(12)
        if hmac.compare_digest(self.operate, self.view):
            raise ValueError("the operate and view tokens must differ")

    def role(self, token: str | None) -> Role | None:
        """The role a token gives, or None."""
        if not token:
            return None
        given = token.encode()
        if hmac.compare_digest(given, self.operate.encode()):
            return "operate"
        if hmac.compare_digest(given, self.view.encode()):
            return "view"
        return None

    def url(self, bind: str, port: int, host: str | None = None, *, view: bool = False) -> str:
        """The console's address with the operate (or `view`) token: on `host`, or on the
        bind address `bind` (127.0.0.1 when it binds every interface)."""
        h = host or ("127.0.0.1" if bind in ("0.0.0.0", "::", "") else bind)
        token = self.view if view else self.operate
        return f"http://{h}:{port}/?token={token}"


@dataclass(eq=False)
class _Console:
    id: str
    role: Role
    remote: str
    agent: str
    since: float
    ws: web.WebSocketResponse
    transport: Any
    bucket: Bucket
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dirty: bool = True
    outbox: deque[str] = field(default_factory=lambda: deque(maxlen=256))
    rtt: float | None = None
    program: bool = False
    program_seen: int = 0
    show_seen: int = 0
    sync: ClockSync = field(default_factory=ClockSync)
    tick_seen: int = -1

    def info(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "address": self.remote,
            "agent": self.agent,
            "seconds": round(now - self.since),
            "rtt_ms": None if self.rtt is None else round(self.rtt, 1),
        }


def _agent(ua: str) -> str:
    """A short device name from a User-Agent."""
    for key, name in (
        ("iPad", "iPad"),
        ("iPhone", "iPhone"),
        ("Android", "Android"),
        ("Mac OS", "Mac"),
        ("Windows", "Windows"),
        ("Linux", "Linux"),
    ):
        if key in ua:
            return name
    return ua[:24] or "?"


async def _no_content(request: web.Request) -> web.Response:
    return web.Response(status=204)


class WebServer:
    """The console server (see the module docstring).

    `show` is the JSON-ready description of the show (poems, cues); `put(action)` takes the
    actions of accepted commands. `listen` says where to listen and who may talk (`port` 0
    picks a free port: `.port` once started).
    `thumb_file(key)` returns the cached thumbnail file of a key (or None).
    """

    def __init__(
        self,
        show: dict[str, Any],
        put: Callable[[Action], None],
        listen: Listen = DEFAULT_LISTEN,
        *,
        tokens: Tokens | None = None,
        log: Log | None = None,
        clock: Callable[[], float] = time.monotonic,
        thumb_file: Callable[[str], Path | None] | None = None,
        show_file: Path | None = None,
        put_deadline: PutDeadline | None = None,
        probe: Probe | None = None,
    ) -> None:
        self.host = listen.host
        self.show_file = show_file  # the edit view's file (app/web/edit.py), when given
        self._port = listen.port
        self.tokens = tokens or Tokens()
        self.guard = Guard(
            self.tokens,
            listen.allow,
            names=[listen.host],  # a bind address given as a name is a name it is reached by
            rules=CONSOLE_RULES,
            clock=clock,
            refused=self._count_refusal,
        )
        self.access = self.guard.control
        self._put = put
        # with it, an action goes to the show with its deadline (the show refuses it late)
        self._put_deadline = put_deadline
        # with it, pings go to the show loop (another process) and come back through `echo`;
        # without, `poll` (the show's main thread, once a frame) echoes them
        self._probe = probe
        self._probes: deque[tuple[str, float]] = deque(maxlen=256)
        self._tick: tuple[int, int | None, float | None] = (0, None, None)  # (n, frame, t)
        self._clock = clock
        self._log = RateLimitedLog(log, clock, max_kinds=256)
        self._thumb_file = thumb_file or (lambda key: None)
        self._show = show
        self._show_version = 1
        self._state: dict[str, Any] = {}
        self._seq = 0
        self._encoded: tuple[int, str] = (-1, "")
        self._handover: deque[tuple[Any, ...]] = deque()
        self._pending: dict[int, tuple[Action, _Console, str, float]] = {}  # ..., deadline
        self._consoles: dict[str, _Console] = {}
        self._next_id = 0
        self.locked = False
        self._program: tuple[int, bytes] = (0, b"")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._wake_pending = False
        self._expiry: asyncio.Task[None] | None = None
        self.stats = {
            "messages": 0,
            "commands": 0,
            "ok": 0,
            "errors": 0,
            "refused": 0,
            "malformed": 0,
            "rate_limited": 0,
            "dropped_clients": 0,
            "skipped_updates": 0,
        }

    # --- life cycle (caller's thread) ---------------------------------------------------

    def start(self) -> WebServer:
        """Bind and serve on a new thread; raises OSError when the port cannot be used."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._startup())
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.close()

        self._thread = threading.Thread(target=main, name="web-console", daemon=True)
        self._thread.start()
        ready.wait(30.0)
        if failure:
            self._thread.join()
            self._thread = None
            exc = failure[0]
            if isinstance(exc, OSError):
                raise OSError(
                    exc.errno, f"cannot serve the console on {self.host}:{self._port}: {exc}"
                ) from None
            raise exc
        return self

    async def _startup(self) -> None:
        app = web.Application(middlewares=[self.guard.middleware], client_max_size=64 * 1024)
        app.router.add_get("/", self._page)
        app.router.add_get("/favicon.ico", _no_content)
        app.router.add_get("/ws", self._websocket)
        app.router.add_get("/api/state", self._rest_state)
        app.router.add_post("/api/command", self._rest_command)
        app.router.add_get("/api/thumb/{key}", self._rest_thumb)
        app.router.add_get("/api/program.jpg", self._rest_program)
        if self.show_file is not None:  # the edit view (app/web/edit.py)
            from app.web.edit import EditRoutes

            EditRoutes(self.show_file, self.guard).register(app.router)
        app.router.add_get("/static/{page:index|rehearse|edit}.html", self._page)
        app.router.add_static("/static", STATIC_DIR, show_index=False)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port, reuse_address=True)
        await site.start()
        server = site._server  # the bound port, for --web-port 0
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self._port = sockets[0].getsockname()[1]
        self._expiry = asyncio.get_running_loop().create_task(self._expire_pending())

    async def _shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
        for c in list(self._consoles.values()):
            await c.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def close(self) -> None:
        """Stop serving (idempotent); delivers the waiting log lines."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10.0)
        self._thread = None
        self._log.deliver()

    def poll(self, t: float = 0.0) -> None:
        """Main thread, once a frame: hand the gathered log lines to the log, and answer the
        pings that reached the show loop (when this server runs in the show's process)."""
        self._log.deliver()
        if self._probe is None and self._probes:
            probes = []
            while self._probes:
                probes.append(self._probes.popleft())
            self.echo(probes)

    def tick(self, frame: int, t: float) -> None:
        """The show loop's frame counter and show time (main thread, a few times a second;
        thread-safe, returns at once)."""
        self._tick = (self._tick[0] + 1, frame, t)
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._wake_all)
            except RuntimeError:
                pass

    def echo(self, probes: Iterable[tuple[str, float]]) -> None:
        """The pings `(console id, page time)` that went through the show loop: each is
        answered now (thread-safe)."""
        probes = list(probes)
        loop = self._loop
        if loop is None or not probes:
            return
        frame = self._tick[1]

        def answer() -> None:
            for cid, t in probes:
                c = self._consoles.get(cid)
                if c is not None:
                    self._send_soon(c, {"type": "pong", "t": t, "frame": frame})

        try:
            loop.call_soon_threadsafe(answer)
        except RuntimeError:
            pass

    def _wake_all(self) -> None:
        for c in self._consoles.values():
            c.wake.set()

    @property
    def port(self) -> int:
        return self._port

    def url(self, host: str | None = None, *, view: bool = False) -> str:
        """The console's address with a token (`host` defaults to the bind address)."""
        return self.tokens.url(self.host, self._port, host, view=view)

    @property
    def consoles(self) -> list[dict[str, Any]]:
        """The connected consoles (a copy, thread-safe enough for a status line)."""
        now = self._clock()
        return [c.info(now) for c in list(self._consoles.values())]

    @property
    def program_wanted(self) -> bool:
        """Whether any console asked for the program picture."""
        return any(c.program for c in list(self._consoles.values()))

    # --- the main loop's side (never blocks) ---------------------------------------------

    def publish(self, state: dict[str, Any], applied: Iterable[tuple[Any, ...]] = ()) -> None:
        """The newest state, and the actions applied since the last call, each as the `id()`
        of the object given to `put` with the engine's note (None when it took effect), and
        optionally a third item, the show's refusal (the action was not applied).
        Thread-safe; returns at once."""
        applied = list(applied)
        if state is self._state and not applied and not self._handover:
            return
        # the state first: an ack handed over is sent only after an update that shows it
        self._state = state
        self._handover.extend(applied)
        self._wake()

    def set_show(self, show: dict[str, Any]) -> None:
        """A new description of the show (e.g. thumbnails are ready): sent to every console."""
        self._show = show
        self._show_version += 1
        self._wake()

    def set_program(self, jpeg: bytes) -> None:
        """A new program picture (JPEG bytes) for the consoles that want it."""
        self._program = (self._program[0] + 1, jpeg)
        self._wake()

    def _wake(self) -> None:
        loop = self._loop
        if loop is None or self._wake_pending:
            return
        self._wake_pending = True
        try:
            loop.call_soon_threadsafe(self._on_wake)
        except RuntimeError:  # the loop has closed
            self._wake_pending = False

    # --- event loop side ---------------------------------------------------------------

    def _on_wake(self) -> None:
        self._wake_pending = False
        self._seq += 1
        while self._handover:
            key, note, *refusal = self._handover.popleft()
            pending = self._pending.pop(key, None)
            if pending is None:
                continue
            _, console, cid, _ = pending
            if refusal and refusal[0]:
                console.outbox.append(encode(ack(cid, error=str(refusal[0]))))
                self.stats["errors"] += 1
                continue
            console.outbox.append(encode(ack(cid, note=note)))
            self.stats["ok"] += 1
        for c in self._consoles.values():
            c.dirty = True
            c.wake.set()

    async def _expire_pending(self) -> None:
        # the show refuses a command after its deadline, so once it (and a grace for the
        # answer's way back) has passed, "not applied" is the truth
        while True:
            await asyncio.sleep(0.1)
            now = self._clock()
            for key, (_, console, cid, deadline) in list(self._pending.items()):
                if now > deadline + GRACE:
                    del self._pending[key]
                    self._send_soon(
                        console,
                        ack(cid, error="not applied: the show did not take it in time"),
                    )

    def _full_state(self) -> dict[str, Any]:
        return {
            **self._state,
            "locked": self.locked,
            "consoles": self.consoles,
        }

    def _update_text(self) -> str:
        if self._encoded[0] != self._seq:
            msg = {
                "type": "update",
                "seq": self._seq,
                "state": self._full_state(),
                "frame": self._tick[1],
                "t": self._tick[2],
            }
            self._encoded = (self._seq, encode(msg))
        return self._encoded[1]

    def _send_soon(self, console: _Console, message: dict[str, Any]) -> None:
        console.outbox.append(encode(message))
        console.wake.set()

    def _count_refusal(self, request: web.Request, reason: str) -> None:
        self.stats["refused"] += 1
        remote = request.remote or "?"
        self._log(
            f"refused:{remote}",
            "web console refused",
            {"client": remote, "path": request.path, "reason": reason, ALERT: REFUSED},
        )

    def _refuse(self, request: web.Request, reason: str, status: int) -> web.Response:
        self._count_refusal(request, reason)
        return web.json_response({"ok": False, "error": reason}, status=status)

    def _authorize(self, request: web.Request, *, check_origin: bool) -> Role | web.Response:
        """The caller's role (the guard checked address, Host, Origin and token before the
        route ran), or the refusal to send."""
        role = request.get("role")
        if role is None:
            return self._refuse(request, "no token", 401)
        return str(role)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("page", "index")
        return web.Response(
            body=page_html(name), content_type="text/html", headers={"Cache-Control": "no-cache"}
        )

    async def _rest_state(self, request: web.Request) -> web.Response:
        role = self._authorize(request, check_origin=True)
        if isinstance(role, web.Response):
            return role
        return web.json_response({"show": self._show, "state": self._full_state(), "role": role})

    async def _rest_thumb(self, request: web.Request) -> web.StreamResponse:
        role = self._authorize(request, check_origin=False)
        if isinstance(role, web.Response):
            return role
        key = request.match_info["key"].removesuffix(".jpg")
        path = self._thumb_file(key) if key.isalnum() and len(key) <= 64 else None
        if path is None:
            return web.json_response({"ok": False, "error": "no such thumbnail"}, status=404)
        # the key is the content hash: the picture behind a URL never changes
        return web.FileResponse(path, headers={"Cache-Control": "private, max-age=86400"})

    async def _rest_program(self, request: web.Request) -> web.Response:
        role = self._authorize(request, check_origin=False)
        if isinstance(role, web.Response):
            return role
        n, jpeg = self._program
        if not jpeg:
            return web.json_response({"ok": False, "error": "no program picture yet"}, status=404)
        return web.Response(
            body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"}
        )

    async def _rest_command(self, request: web.Request) -> web.Response:
        role = self._authorize(request, check_origin=True)
        if isinstance(role, web.Response):
            return role
        try:
            body = await request.read()
            req = parse_request(body)
            if req.type != "command":
                raise ProtocolError("expected a command")
        except ProtocolError as exc:
            self.stats["malformed"] += 1
            return web.json_response({"ok": False, "error": str(exc)}, status=400)
        console = _Console(
            f"rest-{request.remote}",
            role,
            request.remote or "?",
            "REST",
            self._clock(),
            None,  # type: ignore[arg-type]
            None,
            self.guard.bucket(request.remote or "?"),  # the client's one bucket
        )
        error = self._command(console, req)
        if error is not None:
            return web.json_response({"ok": False, "error": error}, status=400)
        # wait (on this loop, never on the show) for the main loop to apply it
        deadline = self._clock() + ACK_TIMEOUT
        while self._clock() < deadline:
            if console.outbox:
                return web.Response(text=console.outbox[0], content_type="application/json")
            await asyncio.sleep(0.01)
        return web.json_response({"ok": False, "error": "not applied"}, status=504)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        role = self._authorize(request, check_origin=True)
        if isinstance(role, web.Response):
            return role
        if len(self._consoles) >= MAX_CONSOLES:
            return self._refuse(request, "too many consoles", 503)
        ws = web.WebSocketResponse(heartbeat=5.0, max_msg_size=MAX_WS_FRAME)
        await ws.prepare(request)
        self._next_id += 1
        console = _Console(
            f"w{self._next_id}",
            role,
            request.remote or "?",
            _agent(request.headers.get("User-Agent", "")),
            self._clock(),
            ws,
            request.transport,
            self.guard.bucket(request.remote or "?"),  # shared with its REST calls
        )
        self._consoles[console.id] = console
        self._log(
            "connect",
            "web console connected",
            {"client": console.remote, "console": console.id, "role": role},
        )
        sender = asyncio.get_running_loop().create_task(self._sender(console))
        try:
            await self._receive(console)
        finally:
            sender.cancel()
            self._consoles.pop(console.id, None)
            for key, pending in list(self._pending.items()):
                if pending[1] is console:
                    del self._pending[key]
            for c in self._consoles.values():  # the consoles list changed
                c.dirty = True
                c.wake.set()
            self._log(
                "connect",
                "web console disconnected",
                {"client": console.remote, "console": console.id},
            )
        return ws

    async def _receive(self, console: _Console) -> None:
        async for msg in console.ws:
            if msg.type == WSMsgType.TEXT:
                self._message(console, msg.data)
            elif msg.type == WSMsgType.BINARY:
                self.stats["messages"] += 1
                self.stats["malformed"] += 1
                self._send_soon(console, {"type": "error", "error": "binary messages refused"})
            elif msg.type == WSMsgType.ERROR:
                self.stats["malformed"] += 1
                self._log(
                    "ws-error",
                    "web console socket error",
                    {"client": console.remote, "error": str(console.ws.exception())[:200]},
                )
                break

    def _message(self, console: _Console, data: str) -> None:
        self.stats["messages"] += 1
        try:
            req = parse_request(data)
        except ProtocolError as exc:
            self.stats["malformed"] += 1
            self._log(
                "malformed",
                "web console bad message",
                {"client": console.remote, "reason": str(exc)},
            )
            if exc.id is not None:
                self._send_soon(console, ack(exc.id, error=str(exc)))
            else:
                self._send_soon(console, {"type": "error", "error": str(exc)})
            return
        if req.type == "ping":
            console.rtt = req.rtt
            console.sync.sample(self._clock(), req.t)
            if req.t is not None:
                if self._probe is not None:
                    self._probe(console.id, req.t)
                else:
                    self._probes.append((console.id, req.t))
            return
        if req.type == "program":
            console.program = bool(req.on)
            return
        error = self._command(console, req)
        if error is not None:
            assert req.id is not None
            self._send_soon(console, ack(req.id, error=error))

    def _command(self, console: _Console, req: Request) -> str | None:
        """Run a command or a lock request; the refusal's reason, or None when accepted."""
        assert req.id is not None
        self.stats["commands"] += 1
        reason: str | None = None
        if console.role != "operate":
            reason = "view only: commands are refused"
        elif not console.bucket.take():
            self.stats["rate_limited"] += 1
            reason = "too many commands: slow down"
        if reason is None and req.type == "lock":
            self.locked = bool(req.on)
            self._log(
                "lock",
                "web console show lock " + ("on" if self.locked else "off"),
                {"client": console.remote, "console": console.id},
            )
            self._send_soon(console, ack(req.id))
            self._on_wake()
            self.stats["ok"] += 1
            return None
        action: Action | None = None
        if reason is None:
            try:
                action = build(str(req.name), req.args or {}, source="web", detail=console.id)
            except CommandError as exc:
                reason = str(exc)
        if reason is None and self.locked and action is not None:
            if name_of(action) not in UNLOCKED_COMMANDS:
                reason = "show locked: only GO and standby until unlocked"
        if reason is not None or action is None:
            self.stats["errors"] += 1
            self._log(
                f"cmd-error:{console.remote}",
                "web console command refused",
                {"client": console.remote, "command": str(req.name)[:40], "reason": reason},
            )
            return reason
        deadline = console.sync.deadline(self._clock(), req.sent, req.ttl)
        self._pending[id(action)] = (action, console, req.id, deadline)
        if self._put_deadline is not None:
            self._put_deadline(action, deadline)
        else:
            self._put(action)
        return None

    async def _sender(self, console: _Console) -> None:
        ws = console.ws
        try:
            hello = {
                "type": "snapshot",
                "show": self._show,
                "state": self._full_state(),
                "role": console.role,
                "client": console.id,
                "seq": self._seq,
            }
            console.show_seen = self._show_version
            console.dirty = False
            await asyncio.wait_for(ws.send_str(encode(hello)), SEND_TIMEOUT)
            last_beat = self._clock()
            while not ws.closed:
                wait = max(0.0, HEARTBEAT - (self._clock() - last_beat))
                try:
                    await asyncio.wait_for(console.wake.wait(), wait)
                except TimeoutError:
                    pass
                console.wake.clear()
                await self._flush(console)
                if self._clock() - last_beat >= HEARTBEAT:
                    last_beat = self._clock()
                    beat = {
                        "type": "heartbeat",
                        "seq": self._seq,
                        "t": round(self._clock(), 3),
                        "frame": self._tick[1],
                        "show_t": self._tick[2],
                    }
                    await asyncio.wait_for(ws.send_str(encode(beat)), SEND_TIMEOUT)
        except (TimeoutError, ConnectionError, RuntimeError):
            self.stats["dropped_clients"] += 1
            await ws.close()
        except asyncio.CancelledError:
            pass

    async def _flush(self, console: _Console) -> None:
        ws = console.ws
        transport = console.transport
        if transport is not None and transport.get_write_buffer_size() > BACKLOG_LIMIT:
            # a slow client: keep only "dirty", it gets the newest state when it drains
            self.stats["skipped_updates"] += 1
            await asyncio.sleep(UPDATE_INTERVAL)
            console.wake.set()
            return
        sent = False
        if console.show_seen != self._show_version:
            console.show_seen = self._show_version
            await asyncio.wait_for(
                ws.send_str(encode({"type": "show", "show": self._show})), SEND_TIMEOUT
            )
        # only what was queued before the update was composed goes out after it: an ack that
        # arrives while the update is being sent waits for the next update, which shows it
        queued = len(console.outbox)
        if console.dirty:
            console.dirty = False
            text = self._update_text()
            queued = len(console.outbox)
            await asyncio.wait_for(ws.send_str(text), SEND_TIMEOUT)
            sent = True
        for _ in range(min(queued, len(console.outbox))):
            await asyncio.wait_for(ws.send_str(console.outbox.popleft()), SEND_TIMEOUT)
        if console.outbox:
            console.wake.set()
        n, frame, t = self._tick
        if console.tick_seen != n and frame is not None:
            console.tick_seen = n
            await asyncio.wait_for(
                ws.send_str(encode({"type": "tick", "frame": frame, "t": t})), SEND_TIMEOUT
            )
        if console.program and console.program_seen != self._program[0]:
            console.program_seen = self._program[0]
            await asyncio.wait_for(
                ws.send_str(encode({"type": "program", "n": self._program[0]})), SEND_TIMEOUT
            )
        if sent:
            await asyncio.sleep(UPDATE_INTERVAL)  # coalesce: at most 30 updates a second
