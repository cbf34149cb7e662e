"""OSC server: real UDP packets on loopback, replies, state pushes, bad input and floods."""

from __future__ import annotations

import dataclasses
import math
import random
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient
from requires import missing
from waiting import wait_until

from app.clock import FakeTime
from app.control.access import Listen
from app.control.osc import (
    MalformedPacket,
    OscArgError,
    OscServer,
    encode_message,
    message_to_action,
    parse_packet,
    state_messages,
)
from app.cues import actions as A
from app.status import Status

SNAP = Status(
    poem="1",
    poem_title="Mondestrunken",
    live_id="1.1",
    standby_id="1.2",
    blackout=False,
    master=1.0,
    transition=None,
)


def wait_for(cond: Callable[[], object], timeout: float = 2.0) -> bool:
    """Wait until `cond()` holds (fails the test after `timeout` seconds)."""
    return bool(wait_until(cond, timeout))


def before_pong(client: SimpleUDPClient, *, replies: bool = False) -> list[tuple[str, list]]:
    """Ping barrier: send /ping and return every message that arrives before its /pong.

    The server answers one client's packets in order and loopback keeps their order, so
    anything the earlier packets (or an earlier publish) sent to this socket is in the list;
    an empty list proves nothing was sent, without a quiet window. `replies`: the client
    gets replies, so the ping's own /reply/ping (sent after the /pong) is read too.
    """
    client.send_message("/ping", None)
    before: list[tuple[str, list]] = []
    while True:
        m = recv_one(client)
        if m.address == "/pong":
            break
        before.append((m.address, m.params))
    if replies:
        assert (recv_one(client).address) == "/reply/ping"
    return before


def recv_one(client: SimpleUDPClient, timeout: float = 10.0) -> OscMessage:
    data = client.receive(timeout)
    assert data, "no reply"
    return OscMessage(data)


def recv_n(client: SimpleUDPClient, n: int) -> list[tuple[str, list]]:
    """Exactly the next n messages (address, params), waiting up to 10 s for each."""
    return [(m.address, m.params) for m in (recv_one(client) for _ in range(n))]


def recv_until(client: SimpleUDPClient, address: str) -> dict[str, list]:
    """Messages (address -> params) up to and including the first one at `address`."""
    got: dict[str, list] = {}
    while address not in got:
        m = recv_one(client)
        got[m.address] = m.params
    return got


@pytest.fixture
def server() -> Iterator[tuple[OscServer, list[A.Action], list[tuple[str, dict]]]]:
    got: list[A.Action] = []
    logs: list[tuple[str, dict]] = []
    srv = OscServer(
        got.append,
        Listen("127.0.0.1", 0, ["loopback"]),
        log=lambda m, f: logs.append((m, f)),
    )
    srv.start()
    yield srv, got, logs
    srv.close()


def client_for(srv: OscServer) -> SimpleUDPClient:
    return SimpleUDPClient("127.0.0.1", srv.port)


def settle(srv: OscServer, n: int) -> None:
    """Wait until the server has taken `n` packets in total."""
    assert wait_for(lambda: srv.stats["received"] >= n), srv.stats


# --- pure parts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "args", "expected"),
    [
        ("/go", [], A.Go()),
        ("/go", [1], A.Go()),
        ("/go", [1.0], A.Go()),
        ("/go", [True], A.Go()),
        ("/go", [0], None),
        ("/go", [0.0], None),
        ("/go", [False], None),
        ("/go", ["2", "2.3"], A.Go(poem="2", cue="2.3")),
        ("/go", [2, 3], A.Go(poem="2", cue="3")),
        ("/back", [], A.Back()),
        ("/back", [0], None),
        ("/panic", [1], A.Panic()),
        ("/panic", [0], None),
        ("/hardblack", [], A.HardBlack()),
        ("/standby", ["3"], A.Standby(poem="3")),
        ("/standby", ["3", "3.2"], A.Standby(poem="3", cue="3.2")),
        ("/standby/next", [], A.StandbyStep(cues=1)),
        ("/standby/prev", [1], A.StandbyStep(cues=-1)),
        ("/standby/prev", [0], None),
        ("/poem/next", [], A.StandbyStep(poems=1)),
        ("/poem/prev", [], A.StandbyStep(poems=-1)),
        ("/fade", [2.5], A.NextFade(seconds=2.5)),
        ("/fade", [0], A.NextFade(seconds=0.0)),
        ("/fadeout", [4], A.FadeOut(seconds=4.0)),
        ("/fadeout", [], A.FadeOut(seconds=None)),
        ("/blackout", [], A.Blackout(on=None)),
        ("/blackout", [1], A.Blackout(on=True)),
        ("/blackout", [0], A.Blackout(on=False)),
        ("/master", [0.25], A.Master(level=0.25)),
        ("/tbar", [0.5], A.TBar(position=0.5)),
        ("/crossfade", [1], A.TBar(position=1.0)),  # the older name, kept as an alias
        ("/layer/2/opacity", [0.5], A.LayerOpacity(layer=2, opacity=0.5)),
        ("/layer/16/rate", [4], A.LayerRate(layer=16, rate=4.0)),
        ("/camera/orbit", [1.5, -2], A.CameraOrbit(dx=1.5, dy=-2.0)),
        ("/camera/pan", [0.1, 0], A.CameraPan(dx=0.1, dy=0.0)),
        ("/camera/dolly", [-0.2], A.CameraDolly(d=-0.2)),
        ("/camera/reset", [], A.CameraReset()),
        ("/camera/reset", [0], None),
    ],
)
def test_message_to_action(address: str, args: list, expected: A.Action | None) -> None:
    action = message_to_action(address, args)
    if expected is None:
        assert action is None
        return
    assert type(action) is type(expected)
    assert action == dataclasses.replace(expected, source="osc")
    assert action.source == "osc" and action.detail == address


def test_button_edge_off_fires_on_zero() -> None:
    assert message_to_action("/go", [0], go_button_edge=False) == A.Go(source="osc")


@pytest.mark.parametrize(
    ("address", "args", "reason"),
    [
        ("/nope", [], "unknown address"),
        ("/go", [1, 2, 3], "go: takes at most 2 arguments"),
        ("/go", ["x"], "button value"),
        ("/go", [math.nan], "finite"),
        ("/go", ["1", True], "cue: expected an id"),
        ("/master", [], "master: missing argument level"),
        ("/master", [1.5], "out of range 0..1"),
        ("/master", [-0.1], "out of range"),
        ("/master", [math.nan], "not a finite number"),
        ("/master", [math.inf], "not a finite number"),
        ("/master", ["0.5"], "expected a number, got a string"),
        ("/crossfade", [2], "out of range"),
        ("/fade", [-1], "out of range 0..600"),
        ("/fade", [601], "out of range"),
        ("/fadeout", [1, 2], "fadeout: takes at most 1 argument .*, got 2"),
        ("/blackout", [2], "blackout: on: expected 1 or 0"),
        ("/layer/0/opacity", [0.5], "layer: 0 out of range 1..16"),
        ("/layer/17/rate", [1], "layer: 17 out of range"),
        ("/layer/1/rate", [5], "out of range 0..4"),
        ("/layer/1/opacity", [0.5, 1], "takes at most 2 arguments"),
        ("/layer/x/opacity", [0.5], "unknown address"),
        ("/camera/orbit", [1], "orbit: missing argument dy"),
        ("/camera/dolly", [math.nan], "not a finite number"),
        ("/standby", [], "standby: missing argument poem"),
        ("/standby", [None], "standby: poem: expected an id .a string or a number., got nothing"),
    ],
)
def test_message_to_action_rejects(address: str, args: list, reason: str) -> None:
    with pytest.raises(OscArgError, match=reason):
        message_to_action(address, args)


def test_parse_packet_roundtrip_and_truncation() -> None:
    b = OscMessageBuilder("/camera/orbit")
    b.add_arg(1.5)
    b.add_arg(-2.0, "d")
    b.add_arg("txt")
    b.add_arg(7)
    b.add_arg(True)
    data = b.build().dgram
    address, args = parse_packet(data)[0]
    assert address == "/camera/orbit" and args == [1.5, -2.0, "txt", 7, True]
    for n in range(len(data)):
        with pytest.raises(MalformedPacket):
            parse_packet(data[:n])
    with pytest.raises(MalformedPacket):
        parse_packet(data + b"\x00\x00\x00\x00")
    assert parse_packet(encode_message("/x", "a", 1, 0.5, False)) == [("/x", ["a", 1, 0.5, False])]


def test_parse_packet_rejects_odd_shapes() -> None:
    bad = [
        b"",
        b"/go\x00",  # no type tag string (pre-1.0 OSC): refused, it is what truncation looks like
        b"go\x00\x00,\x00\x00\x00",
        b"/go\x00x\x00\x00\x00",
        b"/go\x00,[]\x00",
        b"/go\x00,z\x00\x00",
        b"/\xff\xfe\x00,\x00\x00\x00",
        b"#bundle\x00\x00\x00",
        b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", 100) + b"/go\x00,\x00\x00\x00",
        b"#bundle\x00" + b"\x00" * 8 + struct.pack(">i", -4),
        b"/b\x00\x00,b\x00\x00" + struct.pack(">i", 1 << 30),
    ]
    for data in bad:
        with pytest.raises(MalformedPacket):
            parse_packet(data)


def test_state_messages_only_changes() -> None:
    full = [OscMessage(m) for m in state_messages(SNAP)]
    assert [(m.address, m.params) for m in full] == [
        ("/state/poem", ["1", "Mondestrunken"]),
        ("/state/cue", ["1.1"]),
        ("/state/standby", ["1.2"]),
        ("/state/blackout", [0]),
        ("/state/master", [1.0]),
        ("/state/transition", [-1.0]),
    ]
    changed = replace(SNAP, live_id="1.2", standby_id=None, transition=0.25)
    got = [(m.address, m.params) for m in map(OscMessage, state_messages(changed, SNAP))]
    assert got == [("/state/cue", ["1.2"]), ("/state/standby", [""]), ("/state/transition", [0.25])]
    assert state_messages(replace(SNAP, master=1.0000001), SNAP) == []


# --- over UDP ------------------------------------------------------------------------------


def test_go_press_and_release_over_udp(server) -> None:
    srv, got, _ = server
    c = client_for(srv)
    c.send_message("/go", None)
    c.send_message("/go", 1)
    c.send_message("/go", 0)  # the release of the console button: no second GO
    c.send_message("/go", ["2", "2.1"])
    settle(srv, 4)
    assert wait_for(lambda: srv.stats["ok"] == 4)
    assert got == [A.Go(source="osc"), A.Go(source="osc"), A.Go(poem="2", cue="2.1", source="osc")]
    assert all(a.detail == "/go" for a in got)
    assert srv.stats["ok"] == 4 and srv.stats["errors"] == 0
    assert before_pong(c) == []  # no replies: the client asked for none


def test_replies_ok_and_error(server) -> None:
    srv, got, logs = server
    c = client_for(srv)
    c.send_message("/replies", 1)
    r = recv_one(c)
    assert (r.address, r.params) == ("/reply/replies", ["ok"])
    c.send_message("/master", 0.5)
    r = recv_one(c)
    assert (r.address, r.params) == ("/reply/master", ["ok"])
    c.send_message("/master", 1.5)
    r = recv_one(c)
    assert r.address == "/reply/master" and r.params[0] == "error" and "out of range" in r.params[1]
    c.send_message("/master", float("nan"))
    assert recv_one(c).params[0] == "error"
    c.send_message("/layer/3/opacity", [0.5, 0.5])
    assert recv_one(c).params == [
        "error",
        "layer_opacity: takes at most 2 arguments"
        " (layer_opacity {layer 1..16} {opacity 0..1}), got 3",
    ]
    c.send_message("/what", [])
    assert recv_one(c).params == ["error", "unknown address"]
    c.send_message("/ping", None)
    msgs = recv_n(c, 2)
    assert ("/pong", []) in msgs and ("/reply/ping", ["ok"]) in msgs
    assert got == [A.Master(level=0.5, source="osc")]
    assert srv.stats["errors"] == 4
    srv.poll(0.0)  # log lines reach the sink on the main loop's thread
    assert any(m == "osc error" and f["address"] == "/what" for m, f in logs)
    c.send_message("/replies", 0)
    assert recv_one(c).params == ["ok"]  # the last reply: replies were on when it was sent
    c.send_message("/master", 2.0)
    assert before_pong(c) == []


def test_bundle_runs_in_order(server) -> None:
    srv, got, _ = server
    c = client_for(srv)
    bb = OscBundleBuilder(IMMEDIATELY)
    for addr, arg in (("/standby", "3"), ("/fade", 0.0), ("/go", None)):
        mb = OscMessageBuilder(addr)
        if arg is not None:
            mb.add_arg(arg)
        bb.add_content(mb.build())
    c.send(bb.build())
    settle(srv, 1)
    assert wait_for(lambda: len(got) == 3)
    assert [type(a) for a in got] == [A.Standby, A.NextFade, A.Go]


def test_subscribe_and_state_pushes() -> None:
    clock = FakeTime(100.0)  # the answer budget refills only when the test says so
    got: list[A.Action] = []
    srv = OscServer(got.append, Listen("127.0.0.1", 0, ["loopback"]), clock=clock)
    srv.start()
    try:
        _subscribe_and_state_pushes(srv, got, clock)
    finally:
        srv.close()


def _subscribe_and_state_pushes(srv: OscServer, got: list[A.Action], clock: FakeTime) -> None:
    srv.publish(SNAP)  # before anyone subscribes: nothing to send, but remembered
    c = client_for(srv)
    c.send_message("/subscribe", None)
    first = recv_n(c, 7)
    assert ("/reply/subscribe", ["ok"]) in first
    assert ("/state/cue", ["1.1"]) in first and ("/state/poem", ["1", "Mondestrunken"]) in first
    assert before_pong(c, replies=True) == []  # the full state on subscribing + the reply: 7
    srv.publish(replace(SNAP, live_id="1.2", standby_id="1.3", transition=0.0))
    pushed = recv_n(c, 3)
    assert pushed == [
        ("/state/cue", ["1.2"]),
        ("/state/standby", ["1.3"]),
        ("/state/transition", [0.0]),
    ]
    srv.publish(replace(SNAP, live_id="1.2", standby_id="1.3", transition=0.0))
    assert before_pong(c, replies=True) == []  # nothing changed: nothing pushed
    clock.advance(1.0)  # a second later the host's answer budget is full again
    c.send_message("/state", None)
    full = [a for a, _ in recv_n(c, 7)]
    assert sorted(full) == sorted(
        ["/state/" + k for k in ("poem", "cue", "standby", "blackout", "master", "transition")]
        + ["/reply/state"]
    )
    assert srv.clients[0].subscribed and srv.clients[0].host == "127.0.0.1"
    c.send_message("/unsubscribe", None)
    assert recv_one(c).address == "/reply/unsubscribe"
    srv.publish(replace(SNAP, blackout=True))
    assert before_pong(c) == []
    assert got == []


def test_subscribe_on_another_port(server) -> None:
    srv, _, _ = server
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(1.0)
    try:
        c = client_for(srv)
        c.send_message("/subscribe", listener.getsockname()[1])
        assert OscMessage(listener.recv(4096)).address == "/reply/subscribe"
        srv.publish(replace(SNAP, master=0.5))
        listener.settimeout(2.0)
        addresses = {OscMessage(listener.recv(4096)).address for _ in range(6)}
        assert "/state/master" in addresses and len(addresses) == 6
        c.send_message("/unsubscribe", None)  # so that the /pong comes to the source port
        assert before_pong(c) == [("/reply/unsubscribe", ["ok"])]  # no state pushed here
    finally:
        listener.close()


def test_flood_of_garbage() -> None:
    """10,000 random and truncated packets through the server's datagram handler (the code
    the receive thread runs): every one is counted as malformed or an error, none acts, the
    log is rate-limited, and the server still answers /ping over UDP afterwards. The
    counters are the parser's, so the kernel dropping datagrams cannot change the result."""
    got: list[A.Action] = []
    logs: list[tuple[str, dict]] = []
    srv = OscServer(
        got.append,
        Listen("127.0.0.1", 0, ["loopback"]),
        log=lambda m, f: logs.append((m, f)),
        clock=lambda: 100.0,  # a frozen clock: the log's token buckets never refill
    ).start()
    rng = random.Random(1234)
    valid = [
        encode_message("/go"),
        encode_message("/go", 1),
        encode_message("/master", 0.5),
        encode_message("/standby", "2", "2.1"),
        encode_message("/layer/1/opacity", 0.25),
        encode_message("/blackout", 1),
        encode_message("/panic"),
    ]
    try:
        for i in range(10_000):
            kind = i % 4
            if kind == 0:
                data = rng.randbytes(rng.randint(1, 64))
            elif kind == 1:
                v = rng.choice(valid)
                data = v[: rng.randint(0, len(v) - 1)]
            elif kind == 2:
                v = bytearray(rng.choice(valid))
                v[rng.randrange(len(v))] ^= 0x80  # one flipped bit: bad UTF-8, tag or size
                data = bytes(v) + rng.randbytes(rng.choice((1, 2, 3, 5)))
            else:
                data = b"/" + rng.randbytes(rng.randint(0, 40))
            # spread over 100 loopback hosts: each stays within its intake rate, so every
            # datagram reaches the parser
            srv.handle_datagram(data or b"\x00", f"127.0.0.{1 + i % 100}", 40000 + i % 7)
        s = srv.stats
        assert s["received"] == 10_000 and s["ok"] == 0 and s["denied"] == 0
        assert s["limited"] == 0
        assert s["malformed"] + s["errors"] >= 10_000
        assert got == []
        srv.poll(0.0)
        kinds = {"malformed", "error", "internal"}
        assert 0 < len(logs) <= 5 * len(kinds), len(logs)  # burst 5 per kind, then silence
        c = client_for(srv)  # and over the real socket, the server still serves
        c.send_message("/ping", None)
        assert recv_one(c, 5.0).address == "/pong"
    finally:
        srv.close()


def test_close_ends_the_receive_thread() -> None:
    """close() wakes the receive thread and joins it: the thread has ended when close
    returns (a thread still blocked in recv would outlive the join's time limit)."""
    srv = OscServer(lambda a: None, Listen("127.0.0.1", 0, ["loopback"])).start()
    assert [t for t in threading.enumerate() if t.name == "osc-server"]
    srv.close()
    assert not [t for t in threading.enumerate() if t.name == "osc-server"]
    srv.close()  # idempotent


def test_port_in_use_is_a_clear_error() -> None:
    with OscServer(lambda a: None, Listen("127.0.0.1", 0)) as srv:
        with pytest.raises(OSError, match="cannot listen for OSC on 127.0.0.1"):
            OscServer(lambda a: None, Listen("127.0.0.1", srv.port)).start()


# --- end to end with the player ----------------------------------------------------------


def test_end_to_end_with_player(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A real /go reaches the player's engine; the state push follows; garbage changes nothing."""
    import numpy as np
    from frames import run_frames
    from PIL import Image

    from app.bench.common import show_of
    from app.clock import FakeTime, FrameClock
    from app.eventlog import EventLog, read_log
    from app.player import Player
    from app.render.outputs import HeadlessOutput, OutputError

    paths = []
    for name, rgb in (("red", (200, 0, 0)), ("blue", (0, 0, 200))):
        paths.append(tmp_path / f"{name}.png")
        Image.fromarray(np.full((36, 64, 3), rgb, np.uint8)).save(paths[-1])
    show = show_of(paths, width=64, height=36, fps=30.0, fade=0.0)
    try:
        out = HeadlessOutput(64, 36)
    except OutputError as exc:
        missing(f"no headless GL: {exc}")
    fake = FakeTime()
    player = Player(
        show,
        out,
        clock=FrameClock(fake, fake.sleep),
        log=EventLog(tmp_path / "run.jsonl"),
        offline=True,
    )
    srv = OscServer(player.put, Listen("127.0.0.1", 0, ["loopback"])).start()
    player.add_listener(srv.publish)
    try:
        c = client_for(srv)
        c.send_message("/subscribe", None)
        assert recv_one(c).address == "/reply/subscribe"
        run_frames(player)  # first frame: the snapshot is published to the subscriber
        first = recv_until(c, "/state/transition")
        assert first["/state/cue"] == [""] and first["/state/standby"] == ["1.1"]
        c.send_message("/go", 1)
        c.send_message("/go", 0)  # release: ignored
        assert recv_one(c).params == ["ok"] and recv_one(c).params == ["ok"]
        run_frames(player)  # each frame moves the fake clock on by 1/30 s
        assert player.state.live == 0
        pushed = recv_until(c, "/state/standby")
        assert pushed["/state/cue"] == ["1.1"] and pushed["/state/standby"] == ["1.2"]
        assert out.read_pixels()[18, 32, 0] >= 197  # red on screen

        before = player.state
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.2", 0))  # another host: the flood spends its own intake budget
        rng = random.Random(7)
        go = encode_message("/go")
        for i in range(2000):
            data = rng.randbytes(rng.randint(1, 48)) if i % 2 else go[: rng.randint(0, len(go) - 1)]
            sock.sendto(data or b"\x00", ("127.0.0.1", srv.port))
        sock.close()
        assert wait_for(lambda: srv.stats["received"] >= 1900, timeout=10.0)
        c.send_message("/ping", None)
        assert "/pong" in recv_until(c, "/pong")
        run_frames(player)
        assert player.state == before
        player.log.flush()
        actions = [r for r in read_log(tmp_path / "run.jsonl") if r["event"] == "action"]
        assert [(r["action"], r["source"], r["detail"]) for r in actions] == [("GO", "osc", "/go")]
    finally:
        srv.close()
        player.close()
        out.close()
