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

Subscriptions: one per host (a second /subscribe from the same address replaces the first,
whatever port it names), at most `MAX_SUBSCRIBERS` (a further host is answered `error`, no
one is evicted), each expiring `SUBSCRIPTION_SECONDS` after the host's last accepted message
(any message renews it: /subscribe again, or /ping as a heartbeat). Only a host that passed
access (allow-list, and the passcode when one is set) can subscribe. Continuous values
(`/state/master`, `/state/transition`) are pushed at most every `PUSH_INTERVAL` seconds (the
latest value, the last one always follows), so a fade costs a subscriber about ten packets a
second.

Address patterns (OSC 1.0): `*` (any characters within one part of the address), `?` (one
character), `[...]` (one of a set, with ranges `a-z` and `!` for "not"), `{a,b}` (one of
the words) are matched, part by part, against the binding table (the `{layer}` addresses as
`/layer/1/...` to `/layer/16/...`): `/layer/*/opacity 0.5` runs `/layer/1/opacity 0.5` ...
`/layer/16/opacity 0.5`, every expansion checked before any runs, one reply for the
pattern. A pattern never expands beyond the addresses of the table, and matches none of the
server's own addresses (/ping, /subscribe...).

Buttons: the addresses bound with `button: true` (/go, /back, /panic...) accept no
argument or one button value; a lone
numeric 0 (or F) is the release of a console button and does nothing, so a press/release
pair fires once. With `go_button_edge=False` every message fires whatever its argument.

Replies (QLab style): `/reply/<address>` with `ok`, or `error` and a reason (two string
arguments), sent when the sender subscribed or asked for replies. Access refusals are
answered `denied` and a reason (`connect first`, `badpass`, `locked out`) whatever the
sender asked; hosts outside the allow-list get no answer at all. Every answer to a host
(replies, `denied`, /pong, the state sent on /subscribe and /state) draws on that host's
token bucket (`REPLY_BURST` packets, `REPLY_RATE` a second): beyond it answers are dropped,
so a spoofed source address cannot turn the server into an amplifier. A malformed packet is
answered `/reply/malformed error <reason>` (to clients that want replies).

Intake limit: before a datagram is parsed, its host's token buckets (`INTAKE_BYTES` bytes
and `INTAKE_PACKETS` datagrams at once, `INTAKE_RATE` bytes and `INTAKE_PACKETS` datagrams a
second after that) must cover it; a datagram beyond them is dropped unparsed, counted
(`stats["limited"]`) and logged (rate-limited). A command the show's input budget refuses
(too many discrete commands waiting, app/control/inbox.py) is answered `/reply/<address>
busy <reason>` and counted (`stats["busy"]`).

State pushes: `/state/poem {id} {title}`, `/state/cue {id}`, `/state/standby {id}` (""
when none), `/state/blackout {0|1}`, `/state/master {level}`, `/state/transition
{progress 0..1, or -1 when no transition runs}`.

Outgoing messages are built by python-osc; incoming ones are parsed here, strictly
(python-osc's parser accepts truncated and unknown-tag packets and hangs on a negative
bundle size: docs/decisions/osc-parser.md). Bundles are accepted (nested up to 4 deep); time
tags are ignored: messages run at once, in order. Type tags understood: i h f d s S b c T
F N I t r m; a packet without a type tag string, with trailing bytes or with arrays is
malformed.
"""

from __future__ import annotations

import math
import re
import socket
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from pythonosc.osc_message_builder import OscMessageBuilder

from app.control.access import AccessControl, Listen, Verdict
from app.control.bindings import OscBinding, load_osc_bindings
from app.cues.actions import Action
from app.cues.commands import MAX_LAYER, CommandError, build
from app.ratelog import RateLimitedLog
from app.status import ALERT, REFUSED, InputStatus, Status
from app.threads import BackgroundThread

DEFAULT_PORT = 7700
DEFAULT_LISTEN = Listen("0.0.0.0", DEFAULT_PORT)  # every interface, the `local` allow-list
MAX_BUNDLE_DEPTH = 4
MAX_CLIENTS = 256
MAX_SUBSCRIBERS = 32  # hosts receiving /state pushes
SUBSCRIPTION_SECONDS = 120.0  # a subscription ends this long after its host's last message
PUSH_INTERVAL = 0.1  # seconds between pushes of a continuous value (master, transition)
REPLY_BURST = 16  # answers (packets) a host may get at once...
REPLY_RATE = 32.0  # ...and per second after that
INTAKE_BYTES = 64 * 1024  # bytes a host may send at once, before any parsing...
INTAKE_RATE = 32 * 1024  # ...and per second after that (ten 60 Hz faders: about 15 KB/s)
INTAKE_PACKETS = 1000  # datagrams a host may send at once, and per second after that
BUSY_REASON = "busy: too many commands queued, try again"
_MAX_BUCKETS = 4096  # hosts whose reply buckets are remembered
MAX_PATTERN = 128  # characters of an address pattern
_CONTINUOUS = ("master", "transition")
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


def _fixed(struct_: struct.Struct) -> Callable[[bytes, int], tuple[Any, int]]:
    def read(data: bytes, i: int) -> tuple[Any, int]:
        _need(data, i, struct_.size)
        return struct_.unpack_from(data, i)[0], i + struct_.size

    return read


def _read_char(data: bytes, i: int) -> tuple[Any, int]:
    v, i = _fixed(_I32)(data, i)
    return (chr(v) if 0 <= v < 0x110000 else v), i


def _read_blob(data: bytes, i: int) -> tuple[Any, int]:
    n, i = _fixed(_I32)(data, i)
    if n < 0:
        raise MalformedPacket("negative blob size")
    _need(data, i, n)
    end = i + ((n + 3) & ~3)
    if end > len(data):
        raise MalformedPacket("blob padding cut short")
    return bytes(data[i : i + n]), end


def _raw(size: int) -> Callable[[bytes, int], tuple[Any, int]]:
    def read(data: bytes, i: int) -> tuple[Any, int]:
        _need(data, i, size)
        return bytes(data[i : i + size]), i + size

    return read


def _const(value: Any) -> Callable[[bytes, int], tuple[Any, int]]:
    return lambda data, i: (value, i)


_READERS: dict[str, Callable[[bytes, int], tuple[Any, int]]] = {
    "i": _fixed(_I32),
    "c": _read_char,
    "f": _fixed(_F32),
    "h": _fixed(_I64),
    "d": _fixed(_F64),
    "s": _read_string,
    "S": _read_string,
    "b": _read_blob,
    "t": _raw(8),
    "r": _raw(4),
    "m": _raw(4),
    "T": _const(True),
    "F": _const(False),
    "N": _const(None),
    "I": _const(math.inf),
}
"""Type tag -> reader(data, offset) -> (value, next offset); anything else is malformed."""


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
        reader = _READERS.get(tag)
        if reader is None:
            raise MalformedPacket(f"unsupported type tag {tag!r}")
        value, i = reader(data, i)
        args.append(value)
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


def encode_message(address: str, *args: str | int | float | bool) -> bytes:
    """One OSC message (string, int32, float32 and boolean arguments), built by python-osc.

    The type of each argument is chosen here (an int outside int32 goes as a float), so
    the builder never guesses.
    """
    builder = OscMessageBuilder(address)
    for a in args:
        if a is True or a is False:
            builder.add_arg(a, "T" if a else "F")
        elif isinstance(a, int) and -(2**31) <= a < 2**31:
            builder.add_arg(a, "i")
        elif isinstance(a, int | float):
            builder.add_arg(float(a), "f")
        else:
            builder.add_arg(str(a), "s")
    return builder.build().dgram


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


def _concrete_addresses() -> list[str]:
    """Every address of the binding table, the `{layer}` ones once per layer number (an
    alias is left out: a pattern names each command once)."""
    out: list[str] = []
    for b in BINDINGS:
        if b.alias_of is not None:
            continue
        if b.pattern is None:
            out.append(b.address)
        else:
            out.extend(b.address.replace("{layer}", str(n)) for n in range(1, MAX_LAYER + 1))
    return out


_ADDRESSES = _concrete_addresses()
_PATTERN_CHARS = frozenset("*?[]{}")


def is_pattern(address: str) -> bool:
    """Whether an address is an OSC 1.0 address pattern (has `* ? [ ] { }`)."""
    return not _PATTERN_CHARS.isdisjoint(address)


def _set_regex(body: str, part: str) -> str:
    """The regular expression of a `[...]` set (its inside `body`): ranges and `!`."""
    negate = body.startswith("!")
    if negate:
        body = body[1:]
    if not body:
        raise OscArgError(f"bad address pattern: empty [] in {part!r}")
    chars = []
    for j, c in enumerate(body):
        if c == "-" and 0 < j < len(body) - 1:
            if body[j - 1] > body[j + 1]:
                raise OscArgError(f"bad address pattern: range {body[j - 1 : j + 2]!r}")
            chars.append("-")
        else:
            chars.append(re.escape(c))
    return ("[^" if negate else "[") + "".join(chars) + "]"


def _part_regex(part: str) -> str:
    """The regular expression of one `/`-separated part of an OSC address pattern."""
    out: list[str] = []
    i = 0
    while i < len(part):
        ch = part[i]
        if ch == "*":
            if not out or out[-1] != "[^/]*":  # `**` is `*`: no exponential backtracking
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = part.find("]", i + 1)
            if end < 0:
                raise OscArgError(f"bad address pattern: '[' without ']' in {part!r}")
            out.append(_set_regex(part[i + 1 : end], part))
            i = end
        elif ch == "{":
            end = part.find("}", i)
            if end < 0:
                raise OscArgError(f"bad address pattern: '{{' without '}}' in {part!r}")
            words = part[i + 1 : end].split(",")
            if any(is_pattern(w) for w in words):
                raise OscArgError(f"bad address pattern: nested pattern in {part!r}")
            out.append("(?:" + "|".join(re.escape(w) for w in words) + ")")
            i = end
        elif ch in "]}":
            raise OscArgError(f"bad address pattern: stray {ch!r} in {part!r}")
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


def expand_pattern(pattern: str) -> list[str]:
    """The addresses of the binding table that an OSC 1.0 address pattern names, in table
    order (never more than the table holds); raises OscArgError for a malformed pattern."""
    if len(pattern) > MAX_PATTERN:
        raise OscArgError(f"address pattern longer than {MAX_PATTERN} characters")
    parts = pattern.split("/")[1:]
    if "" in parts:
        raise OscArgError("bad address pattern: empty part ('//')")
    regexes = [re.compile(_part_regex(p)) for p in parts]
    out = []
    for address in _ADDRESSES:
        names = address.split("/")[1:]
        if len(names) == len(regexes) and all(
            r.fullmatch(n) for r, n in zip(regexes, names, strict=True)
        ):
            out.append(address)
    return out


def actions_for(address: str, args: list[Any], *, go_button_edge: bool = True) -> list[Action]:
    """The actions of one message whose address may be a pattern: one per address it names
    (button releases give none). Every expansion is checked before any action is returned,
    so a pattern runs whole or not at all; raises OscArgError."""
    if not is_pattern(address):
        action = message_to_action(address, args, go_button_edge=go_button_edge)
        return [] if action is None else [action]
    names = expand_pattern(address)
    if not names:
        raise OscArgError("no address matches the pattern")
    out = []
    for name in names:
        try:
            action = message_to_action(name, args, go_button_edge=go_button_edge)
        except OscArgError as e:
            raise OscArgError(f"{name}: {e}") from None
        if action is not None:
            out.append(action)
    return out


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


def state_messages(snapshot: Status, previous: Status | None = None) -> list[bytes]:
    """The /state/... messages for a status snapshot: all of them, or those that changed."""
    key = _state_key(snapshot)
    old = _state_key(previous) if previous is not None else {}
    return _key_messages(key, [k for k in STATE_KEYS if k not in old or old[k] != key[k]])


def _edge(k: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """A transition that starts or ends (pushed at once, never held back)."""
    return k == "transition" and (old.get(k) == -1.0) != (new[k] == -1.0)


def _key_messages(key: dict[str, Any], keys: list[str]) -> list[bytes]:
    out: list[bytes] = []
    for k in keys:
        if k == "poem":
            out.append(encode_message("/state/poem", *key["poem"]))
        elif k == "blackout":
            out.append(encode_message("/state/blackout", int(key["blackout"])))
        elif k in ("master", "transition"):
            out.append(encode_message(f"/state/{k}", float(key[k])))
        else:
            out.append(encode_message(f"/state/{k}", key[k]))
    return out


def _state_key(snap: Status) -> dict[str, Any]:
    """The published values of a snapshot, rounded so that tiny changes are not pushed."""
    tr = snap.transition
    return {
        "poem": (snap.poem or "", snap.poem_title or ""),
        "cue": snap.live_id or "",
        "standby": snap.standby_id or "",
        "blackout": snap.blackout,
        "master": round(float(snap.master), 3),
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


@dataclass(frozen=True)
class _Subscription:
    """A host's subscription: pushes go to `port`; `source` is the port it subscribed from
    (that client gets replies); it ends at `expires` unless the host is heard from again."""

    source: int
    port: int
    expires: float


class _ReplyBuckets:
    """Per-host token buckets for everything sent back to a host (bounded: the oldest
    host is forgotten first)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    def take(self, host: str) -> bool:
        """Whether one more packet may go to `host` now (and count it)."""
        now = self._clock()
        b = self._buckets.get(host)
        if b is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._buckets.popitem(last=False)
            b = self._buckets[host] = [float(REPLY_BURST), now]
        b[0] = min(float(REPLY_BURST), b[0] + (now - b[1]) * REPLY_RATE)
        b[1] = now
        if b[0] < 1.0:
            return False
        b[0] -= 1.0
        return True


class _IntakeBuckets:
    """Per-host token buckets on what a host sends (bytes and datagrams), checked before a
    datagram is parsed, so that a flood costs the receive thread little and the show nothing
    (bounded: the oldest host is forgotten first)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._buckets: OrderedDict[str, list[float]] = OrderedDict()

    def take(self, host: str, size: int) -> bool:
        """Whether a datagram of `size` bytes from `host` may be parsed now (and count it)."""
        now = self._clock()
        b = self._buckets.get(host)
        if b is None:
            if len(self._buckets) >= _MAX_BUCKETS:
                self._buckets.popitem(last=False)
            b = self._buckets[host] = [float(INTAKE_BYTES), float(INTAKE_PACKETS), now]
        dt = max(0.0, now - b[2])
        b[0] = min(float(INTAKE_BYTES), b[0] + dt * INTAKE_RATE)
        b[1] = min(float(INTAKE_PACKETS), b[1] + dt * INTAKE_PACKETS)
        b[2] = now
        if b[0] < size or b[1] < 1.0:
            return False
        b[0] -= size
        b[1] -= 1.0
        return True


class OscServer:
    """UDP OSC server that turns messages into actions (see the module docstring).

    `put` receives every action (the player's thread-safe queue). `listen` says where to
    listen and who may talk (`port` 0 picks a free port, `.port` is the bound one after
    `start()`). `log(message, fields)` gets refusals and errors, rate-limited, on the thread
    that calls `poll` (the main loop, once per frame). `clock` is monotonic seconds
    (injectable). `access` replaces the AccessControl built from `listen.allow` and
    `passcode`.
    """

    def __init__(
        self,
        put: Callable[[Action], None],
        listen: Listen = DEFAULT_LISTEN,
        *,
        passcode: str | None = None,
        log: Log | None = None,
        go_button_edge: bool = True,
        clock: Callable[[], float] = time.monotonic,
        access: AccessControl | None = None,
    ) -> None:
        self._put = put
        self.listen = listen
        self._port = listen.port
        self.go_button_edge = go_button_edge
        self._clock = clock
        self.access = access or AccessControl(listen.allow, passcode, clock=clock)
        self._log = RateLimitedLog(log, clock)
        self._sock: socket.socket | None = None
        self._thread = BackgroundThread(self._run, "osc-server")
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, int], _Client] = {}
        self._subs: dict[str, _Subscription] = {}  # host -> its one subscription
        self._answers = _ReplyBuckets(clock)
        self._last_state: Status | None = None
        self._pushed: dict[str, Any] = {}  # the state values last pushed
        self._pushed_at = -math.inf  # when a continuous value was last pushed
        self._intake = _IntakeBuckets(clock)
        self._stats = {
            "received": 0,
            "ok": 0,
            "errors": 0,
            "denied": 0,
            "malformed": 0,
            "limited": 0,
            "busy": 0,
        }

    # -- life cycle

    def start(self) -> OscServer:
        """Bind the socket and start the receive thread. Raises OSError if the port is taken."""
        host = self.listen.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            sock.bind((host, self._port))
        except OSError as e:
            sock.close()
            raise OSError(
                e.errno, f"cannot listen for OSC on {host}:{self._port}: {e.strerror}"
            ) from None
        sock.settimeout(0.1)  # lets close() stop the thread promptly
        self._sock = sock
        self._port = sock.getsockname()[1]
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop the thread and close the socket (idempotent); delivers waiting log lines."""
        self._thread.close(timeout=2.0)
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._log.deliver()

    def poll(self, t: float) -> None:
        """Per-frame hook of the main loop: delivers the log lines gathered since the last
        call and pushes a continuous value held back by `PUSH_INTERVAL` (the receive thread
        does everything else)."""
        self._log.deliver()
        if self._last_state is not None:
            self.publish(self._last_state)

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
        """Counters: packets received; messages ok, errors, denied, busy (refused by the
        show's input budget); packets malformed, and limited (over the host's intake rate,
        dropped unparsed)."""
        return dict(self._stats)

    def status(self) -> InputStatus:
        """For the status snapshot: the known clients' addresses, most recent first."""
        return InputStatus("osc", clients=tuple(c.address for c in self.clients))

    @property
    def clients(self) -> list[ClientInfo]:
        """Known clients, most recently seen first."""
        with self._lock:
            infos = [self._info(c) for c in self._clients.values()]
        return sorted(infos, key=lambda c: -c.last_seen)

    def _info(self, c: _Client) -> ClientInfo:
        sub = self._subs.get(c.host)
        subscribed = sub is not None and sub.source == c.port
        return ClientInfo(
            c.host, c.port, c.last_seen, c.messages, subscribed, c.replies or subscribed
        )

    @property
    def subscribers(self) -> dict[str, int]:
        """Subscribed hosts and the port their pushes go to (expired ones left out)."""
        now = self._clock()
        with self._lock:
            return {h: s.port for h, s in self._subs.items() if s.expires > now}

    # -- state pushes (main thread)

    def publish(self, snapshot: Status) -> None:
        """Push the changed /state/... values to every subscribed client (thread-safe).

        A continuous value (master, transition) changed less than `PUSH_INTERVAL` after the
        last push of one waits for a later `publish` or `poll`; a transition starting or
        ending is pushed at once."""
        now = self._clock()
        with self._lock:
            self._last_state = snapshot
            key = _state_key(snapshot)
            due = [k for k in STATE_KEYS if k not in self._pushed or self._pushed[k] != key[k]]
            held = now - self._pushed_at < PUSH_INTERVAL
            if held:
                due = [k for k in due if k not in _CONTINUOUS or _edge(k, self._pushed, key)]
            if any(k in _CONTINUOUS for k in due):
                self._pushed_at = now
            for k in due:
                self._pushed[k] = key[k]
            self._subs = {h: s for h, s in self._subs.items() if s.expires > now}
            targets = [(h, s.port) for h, s in self._subs.items()]
        msgs = _key_messages(key, due)
        for target in targets:
            for m in msgs:
                self._send(m, target)

    # -- receive thread

    def _run(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._thread.stopping.is_set():
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                if self._thread.stopping.is_set():
                    break
                continue  # e.g. an ICMP error surfaced on Windows: keep serving
            self.handle_datagram(data, addr[0], addr[1])

    def handle_datagram(self, data: bytes, host: str, port: int) -> None:
        """Everything the receive thread does with one datagram from `host:port`: parse,
        check access, execute, reply, count (`stats`). Never raises (tests feed it directly,
        so that what they check does not depend on what the kernel delivers)."""
        try:
            self._packet(data, host, port)
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
            self._log(
                f"denied:{host}",
                "osc refused: not on the allow-list",
                {"client": host, ALERT: REFUSED},
            )
            return
        if not self._intake.take(host, len(data)):
            self._stats["limited"] += 1
            self._log(
                f"limited:{host}",
                "osc refused: over the rate limit",
                {"client": host, "bytes": len(data), ALERT: REFUSED},
            )
            return
        client = self._touch(host, port)
        try:
            messages = parse_packet(data)
        except (MalformedPacket, struct.error) as e:
            self._stats["malformed"] += 1
            self._log(
                "malformed", "osc malformed packet", {"client": f"{host}:{port}", "reason": str(e)}
            )
            self._reply(client, "/malformed", "error", str(e))
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
                    idle = [k for k, v in self._clients.items() if not self._info(v).subscribed]
                    victims = idle or list(self._clients)
                    del self._clients[min(victims, key=lambda k: self._clients[k].last_seen)]
                c = self._clients[(host, port)] = _Client(host, port, now)
            c.last_seen = now
            return c

    def _wants_replies(self, client: _Client) -> bool:
        sub = self._subs.get(client.host)
        return client.replies or (sub is not None and sub.source == client.port)

    def _target(self, client: _Client) -> tuple[str, int]:
        """Where answers to a client go: its subscription's port when it subscribed."""
        sub = self._subs.get(client.host)
        if sub is not None and sub.source == client.port:
            return (client.host, sub.port)
        return (client.host, client.port)

    def _answer(self, client: _Client, data: bytes, target: tuple[str, int] | None = None) -> None:
        """Send one packet back to a client's host, within its reply budget."""
        if self._answers.take(client.host):
            self._send(data, target or self._target(client))

    def _reply(self, client: _Client, address: str, *args: str, always: bool = False) -> None:
        if always or self._wants_replies(client):
            self._answer(client, encode_message(f"/reply{address}", *args))

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
                {"client": who, "address": address, "reason": reason, ALERT: REFUSED},
            )
            self._reply(client, address, "denied", reason, always=True)
            return
        self._renew(client.host)
        # replies go to clients that wanted them when they sent the message (so that
        # /unsubscribe and /replies 0 are still answered)
        wanted = self._wants_replies(client)
        try:
            accepted = self._execute(client, address, args)
        except OscArgError as e:
            self._stats["errors"] += 1
            self._log("error", "osc error", {"client": who, "address": address, "reason": str(e)})
            # a refused /subscribe is answered: the client would wait for pushes otherwise
            self._reply(client, address, "error", str(e), always=wanted or address == "/subscribe")
            return
        if not accepted:
            self._stats["busy"] += 1
            self._reply(client, address, "busy", BUSY_REASON, always=wanted)
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
        elif verdict is Verdict.BUSY:
            self._log("busy", "osc passcode refused: too many wrong passcodes", {"client": who})
        self._log(
            f"denied:{client.host}",
            "osc bad passcode",
            {"client": who, "reason": reason, ALERT: REFUSED},
        )
        self._reply(client, "/connect", "denied", reason, always=True)

    def _renew(self, host: str) -> None:
        """Any accepted message from a subscribed host extends its subscription."""
        with self._lock:
            sub = self._subs.get(host)
            if sub is not None and sub.expires > self._clock():
                self._subs[host] = replace(sub, expires=self._clock() + SUBSCRIPTION_SECONDS)

    def _subscribe(self, client: _Client, args: list[Any]) -> None:
        _count(args, 0, 1)
        port = client.port
        if args:
            port = int(_number(args[0], "port", 1, 65535))
        now = self._clock()
        with self._lock:
            self._subs = {h: s for h, s in self._subs.items() if s.expires > now}
            if client.host not in self._subs and len(self._subs) >= MAX_SUBSCRIBERS:
                raise OscArgError(f"too many subscribers ({MAX_SUBSCRIBERS}); try later")
            self._subs[client.host] = _Subscription(client.port, port, now + SUBSCRIPTION_SECONDS)
            state = self._last_state
        if state is not None:
            for m in state_messages(state):
                self._answer(client, m, (client.host, port))

    def _execute(self, client: _Client, address: str, args: list[Any]) -> bool:
        """Run one message; False when the show refused its action (busy)."""
        if address == "/ping":
            self._answer(client, encode_message("/pong"))
        elif address == "/subscribe":
            self._subscribe(client, args)
        elif address == "/unsubscribe":
            _count(args, 0)
            with self._lock:
                self._subs.pop(client.host, None)
        elif address == "/replies":
            _count(args, 0, 1)
            client.replies = not args or bool(_number(args[0], "on", 0, 1) >= 0.5)
        elif address == "/state":
            _count(args, 0)
            with self._lock:
                state = self._last_state
            for m in state_messages(state or Status()):
                self._answer(client, m)
        else:
            accepted = True
            for action in actions_for(address, args, go_button_edge=self.go_button_edge):
                if self._put(action) is False:  # the show's input budget is full
                    accepted = False
            return accepted
        return True
