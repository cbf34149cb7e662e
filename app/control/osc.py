"""OSC server: a console (TouchOSC, Open Stage Control, QLab, a lighting desk) drives the show.

One daemon thread reads a plain UDP socket, parses each datagram strictly (a malformed or
truncated packet is rejected as a whole, never half-executed), checks access
(app.control.access), turns each message into an action of app.cues.actions and puts it on
the player's queue. It never touches the engine: the main loop applies the actions and calls
`publish(snapshot)` when the state changes, which pushes the changed `/state/...` values to
the subscribed clients, and `poll(t)` once per frame, which hands the (rate-limited) log
lines to the log callback on the main thread.

Address space: the show-control addresses are bindings onto the command table
(`osc_bindings.yaml`: `/go`, `/standby {poem} [cue]`, `/master {0..1}`,
`/layer/{n}/opacity {0..1}`... the README's table is generated from it); their arguments are
the command's, checked by the table. The connection addresses are the server's own:

    /ping                    answered with /pong
    /subscribe [port]        push /state/... to this client (on `port`, default its source
                             port) whenever the state changes; also turns replies on
    /unsubscribe             stop the pushes
    /state                   one full set of /state/... messages, to the sender
    /replies [0|1]           replies without the pushes
    /connect {passcode}      unlock a host when a passcode is set

Buttons: the addresses bound with `button: true` (/go, /back, /panic...) accept no
argument or one button value; a lone
numeric 0 (or F) is the release of a console button and does nothing, so a press/release
pair fires once. With `go_button_edge=False` every message fires whatever its argument.

Replies (QLab style): `/reply/<address>` with `ok`, or `error` and a reason (two string
arguments), sent when the sender subscribed or asked for replies. Access refusals are
answered `denied` and a reason (`connect first`, `badpass`, `locked out`) whatever the
sender asked; hosts outside the allow-list get no answer at all. A malformed packet is
answered `/reply/malformed error <reason>` (to clients that want replies).

State pushes: `/state/poem {id} {title}`, `/state/cue {id}`, `/state/standby {id}` (""
when none), `/state/blackout {0|1}`, `/state/master {level}`, `/state/transition
{progress 0..1, or -1 when no transition runs}`.

Bundles are accepted (nested up to 4 deep); their time tags are ignored: messages run at
once, in order. Type tags understood: i h f d s S b c T F N I t r m; a packet without a
type tag string, with trailing bytes or with arrays is malformed.
"""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.control.access import AccessControl, Verdict
from app.control.bindings import OscBinding, load_osc_bindings
from app.cues.actions import Action
from app.cues.commands import CommandError, build

DEFAULT_PORT = 7700
MAX_BUNDLE_DEPTH = 4
MAX_CLIENTS = 256
STATE_KEYS = ("poem", "cue", "standby", "blackout", "master", "transition")

Log = Callable[[str, dict[str, Any]], None]

# --- wire format -----------------------------------------------------------------------


class MalformedPacket(ValueError):
    """A datagram that is not a well-formed OSC message or bundle."""


_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")
_BUNDLE = b"#bundle\x00"


def _read_string(data: bytes, i: int) -> tuple[str, int]:
    end = data.find(b"\x00", i)
    if end < 0:
        raise MalformedPacket("unterminated string")
    nxt = (end + 4) & ~3
    if nxt > len(data):
        raise MalformedPacket("string padding cut short")
    try:
        return data[i:end].decode("utf-8"), nxt
    except UnicodeDecodeError:
        raise MalformedPacket("string is not UTF-8") from None


def _need(data: bytes, i: int, n: int) -> None:
    if i + n > len(data):
        raise MalformedPacket("argument cut short")


def parse_message(data: bytes) -> tuple[str, list[Any]]:
    """Address and arguments of one OSC message; raises MalformedPacket."""
    address, i = _read_string(data, 0)
    if not address.startswith("/"):
        raise MalformedPacket("address does not start with '/'")
    if i == len(data):
        raise MalformedPacket("no type tag string")
    tags, i = _read_string(data, i)
    if not tags.startswith(","):
        raise MalformedPacket("type tag string does not start with ','")
    args: list[Any] = []
    for tag in tags[1:]:
        if tag == "i" or tag == "c":
            _need(data, i, 4)
            (v,) = _I32.unpack_from(data, i)
            args.append(chr(v) if tag == "c" and 0 <= v < 0x110000 else v)
            i += 4
        elif tag == "f":
            _need(data, i, 4)
            args.append(_F32.unpack_from(data, i)[0])
            i += 4
        elif tag == "h":
            _need(data, i, 8)
            args.append(_I64.unpack_from(data, i)[0])
            i += 8
        elif tag == "d":
            _need(data, i, 8)
            args.append(_F64.unpack_from(data, i)[0])
            i += 8
        elif tag == "s" or tag == "S":
            s, i = _read_string(data, i)
            args.append(s)
        elif tag == "b":
            _need(data, i, 4)
            (n,) = _I32.unpack_from(data, i)
            if n < 0:
                raise MalformedPacket("negative blob size")
            i += 4
            _need(data, i, n)
            args.append(bytes(data[i : i + n]))
            i += (n + 3) & ~3
            if i > len(data):
                raise MalformedPacket("blob padding cut short")
        elif tag in "trm":
            size = 8 if tag == "t" else 4
            _need(data, i, size)
            args.append(bytes(data[i : i + size]))
            i += size
        elif tag == "T":
            args.append(True)
        elif tag == "F":
            args.append(False)
        elif tag == "N":
            args.append(None)
        elif tag == "I":
            args.append(math.inf)
        else:
            raise MalformedPacket(f"unsupported type tag {tag!r}")
    if i != len(data):
        raise MalformedPacket("trailing bytes after the arguments")
    return address, args


def parse_packet(data: bytes, depth: int = 0) -> list[tuple[str, list[Any]]]:
    """Every message of a datagram (a message, or a bundle, possibly nested), in order."""
    if data.startswith(b"/"):
        return [parse_message(data)]
    if not data.startswith(_BUNDLE):
        raise MalformedPacket("neither a message nor a bundle")
    if depth >= MAX_BUNDLE_DEPTH:
        raise MalformedPacket("bundles nested too deep")
    i = len(_BUNDLE) + 8  # skip the time tag
    if i > len(data):
        raise MalformedPacket("bundle time tag cut short")
    out: list[tuple[str, list[Any]]] = []
    while i < len(data):
        _need(data, i, 4)
        (n,) = _I32.unpack_from(data, i)
        i += 4
        if n <= 0 or n % 4 or i + n > len(data):
            raise MalformedPacket("bad bundle element size")
        out.extend(parse_packet(data[i : i + n], depth + 1))
        i += n
    return out


def _pad(b: bytes) -> bytes:
    return b + b"\x00" * (4 - len(b) % 4)


def encode_message(address: str, *args: str | int | float | bool) -> bytes:
    """One OSC message (string, int32, float32 and boolean arguments)."""
    tags = [","]
    payload = []
    for a in args:
        if a is True or a is False:
            tags.append("T" if a else "F")
        elif isinstance(a, int) and -(2**31) <= a < 2**31:
            tags.append("i")
            payload.append(_I32.pack(a))
        elif isinstance(a, int | float):
            tags.append("f")
            payload.append(_F32.pack(float(a)))
        else:
            tags.append("s")
            payload.append(_pad(str(a).encode("utf-8")))
    return _pad(address.encode("utf-8")) + _pad("".join(tags).encode()) + b"".join(payload)


# --- messages -> actions ---------------------------------------------------------------


class OscArgError(ValueError):
    """A well-formed message whose address or arguments are wrong; the text is the reason."""


BINDINGS: tuple[OscBinding, ...] = load_osc_bindings()
"""The show-control addresses (app/control/osc_bindings.yaml), onto the command table."""
_PLAIN = {b.address: b for b in BINDINGS if b.pattern is None}
_PATTERNS = [(b.pattern, b) for b in BINDINGS if b.pattern is not None]


def binding_for(address: str) -> tuple[OscBinding, list[int]] | None:
    """The binding of an address and the numbers taken from it, None if it has none."""
    plain = _PLAIN.get(address)
    if plain is not None:
        return plain, []
    for pattern, binding in _PATTERNS:
        m = pattern.match(address)
        if m is not None:
            return binding, [int(g) for g in m.groups()]
    return None


def _kind(v: Any) -> str:
    return {bool: "a boolean", str: "a string", bytes: "a blob", type(None): "nil"}.get(
        type(v), type(v).__name__
    )


def _count(args: list[Any], lo: int, hi: int | None = None) -> None:
    hi = lo if hi is None else hi
    if not lo <= len(args) <= hi:
        want = str(lo) if lo == hi else f"at most {hi}" if lo == 0 else f"{lo} or {hi}"
        raise OscArgError(f"expected {want} argument{'s' if hi != 1 else ''}, got {len(args)}")


def _number(v: Any, name: str, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise OscArgError(f"{name}: expected a number, got {_kind(v)}")
    x = float(v)
    if not math.isfinite(x):
        raise OscArgError(f"{name}: not a finite number")
    if (lo is not None and x < lo) or (hi is not None and x > hi):
        raise OscArgError(f"{name}: {x:g} out of range {lo:g}..{hi:g}")
    return x


def _pressed(args: list[Any], edge: bool) -> bool:
    """True for a press, False for a release (a lone 0 when button edges are on)."""
    if not args:
        return True
    if len(args) > 1:
        raise OscArgError(f"expected no argument or a button value 1/0, got {len(args)}")
    v = args[0]
    if isinstance(v, bool):
        return v or not edge
    if isinstance(v, int | float):
        if not math.isfinite(v):
            raise OscArgError("button value: not a finite number")
        return v != 0 or not edge
    raise OscArgError(f"button value: expected 1 or 0, got {_kind(v)}")


def message_to_action(
    address: str, args: list[Any], *, go_button_edge: bool = True
) -> Action | None:
    """The action of one OSC message, None for a button release; raises OscArgError.

    Only the show-control addresses (`BINDINGS`) are handled here (not /ping,
    /subscribe...). Actions carry source="osc" and the address as detail.
    """
    found = binding_for(address)
    if found is None:
        raise OscArgError("unknown address")
    binding, taken = found
    if binding.button and len(args) <= 1:
        if not _pressed(args, go_button_edge):
            return None
        args = []
    try:
        return build(binding.command, [*taken, *args], source="osc", detail=address)
    except CommandError as e:
        raise OscArgError(str(e)) from None


def state_messages(snapshot: dict[str, Any], previous: dict[str, Any] | None = None) -> list[bytes]:
    """The /state/... messages for a player snapshot: all of them, or those that changed."""
    key = _state_key(snapshot)
    old = _state_key(previous) if previous is not None else {}
    out: list[bytes] = []
    for k in STATE_KEYS:
        if k in old and old[k] == key[k]:
            continue
        if k == "poem":
            out.append(encode_message("/state/poem", *key["poem"]))
        elif k == "blackout":
            out.append(encode_message("/state/blackout", int(key["blackout"])))
        elif k in ("master", "transition"):
            out.append(encode_message(f"/state/{k}", float(key[k])))
        else:
            out.append(encode_message(f"/state/{k}", key[k]))
    return out


def _state_key(snap: dict[str, Any]) -> dict[str, Any]:
    """The published values of a snapshot, rounded so that tiny changes are not pushed."""
    tr = snap.get("transition")
    master = snap.get("master", 1.0)
    return {
        "poem": (str(snap.get("poem") or ""), str(snap.get("poem_title") or "")),
        "cue": str(snap.get("cue") or ""),
        "standby": str(snap.get("standby") or ""),
        "blackout": bool(snap.get("blackout", False)),
        "master": round(float(master), 3) if master is not None else 1.0,
        "transition": -1.0 if tr is None else round(float(tr), 2),
    }


# --- the server ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientInfo:
    """A client seen by the server, for the status line."""

    host: str
    port: int
    last_seen: float  # monotonic seconds (the server's clock)
    messages: int
    subscribed: bool  # receives /state pushes
    replies: bool  # receives /reply messages

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class _Client:
    host: str
    port: int
    last_seen: float
    messages: int = 0
    replies: bool = False
    push_port: int | None = None

    def target(self) -> tuple[str, int]:
        return (self.host, self.push_port or self.port)

    def info(self) -> ClientInfo:
        return ClientInfo(
            self.host,
            self.port,
            self.last_seen,
            self.messages,
            self.push_port is not None,
            self.replies or self.push_port is not None,
        )


class _LogLimiter:
    """Per-kind token bucket (burst 5, one line a second) so that a flood cannot flood the log.

    Lines wait in a bounded queue until `deliver` (the main thread) hands them to the sink:
    the receive thread never writes to the event log itself.
    """

    def __init__(self, log: Log | None, clock: Callable[[], float]) -> None:
        self._log = log
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}  # kind -> [tokens, last time, suppressed]
        self._pending: deque[tuple[str, dict[str, Any]]] = deque(maxlen=256)

    def deliver(self) -> None:
        """Hand the waiting lines to the sink, on the caller's thread."""
        while self._pending:
            try:
                message, fields = self._pending.popleft()
            except IndexError:
                return
            try:
                self._log(message, fields)  # type: ignore[misc]
            except Exception:
                pass

    def __call__(self, kind: str, message: str, fields: dict[str, Any]) -> None:
        if self._log is None:
            return
        now = self._clock()
        b = self._buckets.get(kind)
        if b is None:
            if len(self._buckets) >= 1024:
                self._buckets.clear()  # a flood from many spoofed hosts: forget, stay bounded
            b = self._buckets[kind] = [5.0, now, 0]
        b[0] = min(5.0, b[0] + (now - b[1]))
        b[1] = now
        if b[0] < 1.0:
            b[2] += 1
            return
        b[0] -= 1.0
        if b[2]:
            fields = {**fields, "suppressed": int(b[2])}
            b[2] = 0
        self._pending.append((message, fields))


class OscServer:
    """UDP OSC server that turns messages into actions (see the module docstring).

    `put` receives every action (the player's thread-safe queue). `port=0` picks a free
    port (tests); `.port` is the bound one after `start()`. `log(message, fields)` gets
    refusals and errors, rate-limited, on the thread that calls `poll` (the main loop, once
    per frame). `clock` is monotonic seconds (injectable). `access` replaces the
    AccessControl built from `allow` and `passcode`.
    """

    def __init__(
        self,
        put: Callable[[Action], None],
        *,
        host: str = "0.0.0.0",
        port: int = DEFAULT_PORT,
        passcode: str | None = None,
        allow: list[str] | None = None,
        log: Log | None = None,
        go_button_edge: bool = True,
        clock: Callable[[], float] = time.monotonic,
        access: AccessControl | None = None,
    ) -> None:
        self._put = put
        self.host = host
        self._port = port
        self.go_button_edge = go_button_edge
        self._clock = clock
        self.access = access or AccessControl(allow, passcode, clock=clock)
        self._log = _LogLimiter(log, clock)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, int], _Client] = {}
        self._last_state: dict[str, Any] | None = None
        self._stats = {"received": 0, "ok": 0, "errors": 0, "denied": 0, "malformed": 0}

    # -- life cycle

    def start(self) -> OscServer:
        """Bind the socket and start the receive thread. Raises OSError if the port is taken."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((self.host, self._port))
        except OSError as e:
            sock.close()
            raise OSError(
                e.errno, f"cannot listen for OSC on {self.host}:{self._port}: {e.strerror}"
            ) from None
        sock.settimeout(0.1)  # lets close() stop the thread promptly
        self._sock = sock
        self._port = sock.getsockname()[1]
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="osc-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread and close the socket (idempotent); delivers waiting log lines."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._log.deliver()

    def poll(self, t: float) -> None:
        """Per-frame hook of the main loop: delivers the log lines gathered since the last
        call (the receive thread does everything else)."""
        self._log.deliver()

    def __enter__(self) -> OscServer:
        return self if self._sock is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        """The UDP port (the bound one once started)."""
        return self._port

    @property
    def stats(self) -> dict[str, int]:
        """Counters: packets received; messages ok, errors, denied; malformed packets."""
        return dict(self._stats)

    @property
    def clients(self) -> list[ClientInfo]:
        """Known clients, most recently seen first."""
        with self._lock:
            infos = [c.info() for c in self._clients.values()]
        return sorted(infos, key=lambda c: -c.last_seen)

    # -- state pushes (main thread)

    def publish(self, snapshot: dict[str, Any]) -> None:
        """Push the changed /state/... values to every subscribed client (thread-safe)."""
        with self._lock:
            msgs = state_messages(snapshot, self._last_state)
            self._last_state = dict(snapshot)
            targets = [c.target() for c in self._clients.values() if c.push_port is not None]
        for target in targets:
            for m in msgs:
                self._send(m, target)

    # -- receive thread

    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    break
                continue  # e.g. an ICMP error surfaced on Windows: keep serving
            try:
                self._packet(data, addr[0], addr[1])
            except Exception as e:
                self._stats["errors"] += 1
                self._log("internal", "osc internal error", {"error": repr(e)})

    def _send(self, data: bytes, target: tuple[str, int]) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            sock.sendto(data, target)
        except OSError:
            pass  # a vanished client must not disturb the show

    def _packet(self, data: bytes, host: str, port: int) -> None:
        self._stats["received"] += 1
        if not self.access.allowed(host):
            self._stats["denied"] += 1
            self._log(f"denied:{host}", "osc refused: not on the allow-list", {"client": host})
            return
        client = self._touch(host, port)
        try:
            messages = parse_packet(data)
        except (MalformedPacket, struct.error) as e:
            self._stats["malformed"] += 1
            self._log(
                "malformed", "osc malformed packet", {"client": f"{host}:{port}", "reason": str(e)}
            )
            if client.replies or client.push_port is not None:
                self._send(encode_message("/reply/malformed", "error", str(e)), client.target())
            return
        for address, args in messages:
            client.messages += 1
            self._message(client, address, args)

    def _touch(self, host: str, port: int) -> _Client:
        now = self._clock()
        with self._lock:
            c = self._clients.get((host, port))
            if c is None:
                if len(self._clients) >= MAX_CLIENTS:
                    idle = [k for k, v in self._clients.items() if v.push_port is None]
                    victims = idle or list(self._clients)
                    del self._clients[min(victims, key=lambda k: self._clients[k].last_seen)]
                c = self._clients[(host, port)] = _Client(host, port, now)
            c.last_seen = now
            return c

    def _reply(self, client: _Client, address: str, *args: str, always: bool = False) -> None:
        if always or client.replies or client.push_port is not None:
            self._send(encode_message(f"/reply{address}", *args), client.target())

    def _message(self, client: _Client, address: str, args: list[Any]) -> None:
        who = f"{client.host}:{client.port}"
        if address == "/connect":
            self._connect(client, args)
            return
        verdict = self.access.check(client.host)
        if verdict is not Verdict.OK:
            self._stats["denied"] += 1
            reason = verdict.value
            if verdict is Verdict.LOCKED:
                reason = f"locked out for {math.ceil(self.access.locked_for(client.host))} s"
            self._log(
                f"denied:{client.host}",
                "osc denied",
                {"client": who, "address": address, "reason": reason},
            )
            self._reply(client, address, "denied", reason, always=True)
            return
        # replies go to clients that wanted them when they sent the message (so that
        # /unsubscribe and /replies 0 are still answered)
        wanted = client.replies or client.push_port is not None
        try:
            self._execute(client, address, args)
        except OscArgError as e:
            self._stats["errors"] += 1
            self._log("error", "osc error", {"client": who, "address": address, "reason": str(e)})
            self._reply(client, address, "error", str(e), always=wanted)
            return
        self._stats["ok"] += 1
        self._reply(client, address, "ok", always=wanted)

    def _connect(self, client: _Client, args: list[Any]) -> None:
        if len(args) != 1 or not isinstance(args[0], str | int) or isinstance(args[0], bool):
            self._stats["errors"] += 1
            self._reply(
                client, "/connect", "error", "expected 1 argument: the passcode", always=True
            )
            return
        verdict = self.access.connect(client.host, str(args[0]))
        who = f"{client.host}:{client.port}"
        if verdict is Verdict.OK:
            self._stats["ok"] += 1
            self._log("connect", "osc client connected", {"client": who})
            self._reply(client, "/connect", "ok", always=True)
            return
        self._stats["denied"] += 1
        reason = verdict.value
        if verdict is Verdict.LOCKED:
            reason = f"locked out for {math.ceil(self.access.locked_for(client.host))} s"
        self._log(f"denied:{client.host}", "osc bad passcode", {"client": who, "reason": reason})
        self._reply(client, "/connect", "denied", reason, always=True)

    def _execute(self, client: _Client, address: str, args: list[Any]) -> None:
        if address == "/ping":
            self._send(encode_message("/pong"), client.target())
        elif address == "/subscribe":
            _count(args, 0, 1)
            port = client.port
            if args:
                port = int(_number(args[0], "port", 1, 65535))
            with self._lock:
                client.push_port = port
                state = self._last_state
            if state is not None:
                for m in state_messages(state):
                    self._send(m, client.target())
        elif address == "/unsubscribe":
            _count(args, 0)
            with self._lock:
                client.push_port = None
        elif address == "/replies":
            _count(args, 0, 1)
            client.replies = not args or bool(_number(args[0], "on", 0, 1) >= 0.5)
        elif address == "/state":
            _count(args, 0)
            with self._lock:
                state = self._last_state
            for m in state_messages(state or {}):
                self._send(m, client.target())
        else:
            action = message_to_action(address, args, go_button_edge=self.go_button_edge)
            if action is not None:
                self._put(action)
