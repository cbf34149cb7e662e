"""The console's WebSocket protocol: JSON text messages, one object each (pure functions).

Client -> server:

    {"type": "command", "id": "c7", "name": "go", "args": {}, "sent": 1234.5, "ttl": 1000}
                                     sent: the page's clock (ms) when sent; ttl: ms it may take
                                     to reach the show loop (app/web/truth.py); both optional
    {"type": "command", "id": "c9", "name": "layer_opacity", "args": {"layer": 1, "opacity": 0.5}}
    {"type": "ping", "t": 1234.5, "rtt": 18.2}   t: the client's clock, echoed; rtt: its last
    {"type": "lock", "id": "c8", "on": true}      the show lock (operate role)
    {"type": "program", "on": true}               the program picture for this client

Server -> client:

    {"type": "snapshot", "show": {...}, "state": {...}, "role": "operate", "client": "w3"}
    {"type": "update", "state": {...}, "seq": 41, "frame": 912, "t": 30.4}
                                the newest state, at most 30 a second; frame and t: the show
                                loop's frame counter and show time last heard (null: none yet)
    {"type": "tick", "frame": 912, "t": 30.4}          the show loop's clock, ~10 a second
    {"type": "show", "show": {...}}                    thumbnails or lengths became known
    {"type": "heartbeat", "seq": 41, "t": 12.5, "frame": 912, "show_t": 30.4}   every second
    {"type": "ack", "id": "c7", "ok": true, "note": "GO ignored: ..."}  note: optional
    {"type": "ack", "id": "c7", "ok": false, "error": "view only"}
    {"type": "error", "error": "malformed JSON"}       a message without a usable id
    {"type": "pong", "t": 1234.5, "frame": 913}        after the ping went through the show
                                                       loop (page -> show loop -> page)
    {"type": "program", "n": 17}                       a new picture at /api/program.jpg

Commands are those of the command table (app.cues.commands), arguments by name. A command
is acknowledged once the main loop has applied it, after the update that shows
its effect; a refused one at once; one that reaches the main loop after its deadline is
refused there (never applied late), and one not acknowledged by its deadline (plus
`truth.GRACE`) is answered "not applied". Every message is capped at `MAX_MESSAGE` bytes, its
nesting at `safe_json.MAX_DEPTH`; a number outside the float range (a 400-digit integer,
1e400, NaN) refuses the message with an error ack when its id is readable.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from app.web import safe_json

MAX_MESSAGE = 4096  # bytes of one client message; larger ones are refused
MAX_ID = 64  # characters of a command id
CLIENT_TYPES = ("command", "ping", "lock", "program")


class ProtocolError(ValueError):
    """A client message that cannot be used; `id` is the command id when one was readable."""

    def __init__(self, reason: str, id: str | None = None) -> None:
        super().__init__(reason)
        self.id = id


@dataclass(frozen=True)
class Request:
    """One parsed client message."""

    type: str
    id: str | None = None
    name: str | None = None
    args: dict[str, Any] | None = None
    on: bool | None = None
    t: float | None = None
    rtt: float | None = None
    sent: float | None = None
    ttl: float | None = None


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _decode(data: str | bytes) -> dict[str, Any]:
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message too large ({len(data)} bytes, at most {MAX_MESSAGE})")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("message is not UTF-8") from None
    try:
        obj = safe_json.loads(data)
    except safe_json.JsonError as exc:
        if exc.parsed is None:
            reason = str(exc) if "nested" in str(exc) else "malformed JSON"
            raise ProtocolError(reason) from None
        raise ProtocolError(str(exc), _readable_id(exc.parsed)) from None
    if not isinstance(obj, dict):
        raise ProtocolError("expected a JSON object")
    return obj


def _readable_id(obj: Any) -> str | None:
    """The command id of a message refused for one of its numbers, when it has one."""
    raw = obj.get("id") if isinstance(obj, dict) else None
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None
    return str(raw)[:MAX_ID]


def parse_request(data: str | bytes) -> Request:
    """Parse one client message; raises ProtocolError with the reason."""
    obj = _decode(data)
    raw_id = obj.get("id")
    cid: str | None = None
    if raw_id is not None:
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            raise ProtocolError("id: expected a string or a number")
        cid = str(raw_id)[:MAX_ID]
    kind = obj.get("type")
    if kind not in CLIENT_TYPES:
        raise ProtocolError(f"unknown message type {str(kind)[:40]!r}", cid)
    if kind == "command":
        if cid is None:
            raise ProtocolError("command without an id")
        name = obj.get("name")
        if not isinstance(name, str):
            raise ProtocolError("name: expected a command name", cid)
        args = obj.get("args", {})
        if args is None:
            args = {}
        if not isinstance(args, dict):
            raise ProtocolError("args: expected an object", cid)
        return Request(
            "command", cid, name, args, sent=_finite(obj.get("sent")), ttl=_finite(obj.get("ttl"))
        )
    if kind == "ping":
        return Request("ping", cid, t=_finite(obj.get("t")), rtt=_finite(obj.get("rtt")))
    on = obj.get("on")
    if not isinstance(on, bool):
        raise ProtocolError("on: expected true or false", cid)
    if kind == "lock" and cid is None:
        raise ProtocolError("lock without an id")
    return Request(kind, cid, on=on)


def encode(message: dict[str, Any]) -> str:
    """One server message as compact JSON."""
    return json.dumps(message, separators=(",", ":"), allow_nan=False)


def ack(cid: str, error: str | None = None, note: str | None = None) -> dict[str, Any]:
    """An acknowledgement: ok (with the engine's note, if any) or an error reason."""
    if error is not None:
        return {"type": "ack", "id": cid, "ok": False, "error": error}
    msg: dict[str, Any] = {"type": "ack", "id": cid, "ok": True}
    if note:
        msg["note"] = note
    return msg
