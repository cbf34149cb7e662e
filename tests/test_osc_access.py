"""OSC access under attack (issue 23): passcode guessing from many addresses, lockouts that
survive a flood, subscriptions and answers that cannot be turned into a reflector, and OSC 1.0
address patterns. Real UDP on loopback (127.0.0.0/8: each socket bound to its own address is a
host of its own); a fake clock, so that no budget refills while a test runs."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from dataclasses import replace

import pytest
from pythonosc.osc_message import OscMessage

from app.clock import FakeTime
from app.control.access import AccessControl, Listen, Verdict
from app.control.osc import (
    MAX_SUBSCRIBERS,
    REPLY_BURST,
    SUBSCRIPTION_SECONDS,
    OscArgError,
    OscServer,
    actions_for,
    encode_message,
    expand_pattern,
)
from app.cues import actions as A
from app.status import Status

SNAP = Status(poem="1", poem_title="Mondestrunken", live_id="1.1", standby_id="1.2")


def _sock(host: str = "127.0.0.1", timeout: float = 5.0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.settimeout(timeout)
    return s


def _recv(s: socket.socket) -> OscMessage:
    return OscMessage(s.recv(65535))


def _barrier(srv: OscServer, host: str = "127.0.0.254") -> None:
    """Wait until the server has handled every datagram sent before: a /ping from a host of
    its own (its answer, /pong or denied, comes after everything queued before it)."""
    s = _sock(host)
    try:
        s.sendto(encode_message("/ping"), ("127.0.0.1", srv.port))
        _recv(s)
    finally:
        s.close()


def _count_until_marker(listener: socket.socket) -> list[OscMessage]:
    """Every packet on `listener` up to a marker the test sends itself (loopback keeps the
    order of what reached the socket): what the server sent before, counted exactly."""
    m = _sock()
    m.sendto(encode_message("/marker"), listener.getsockname())
    m.close()
    got = []
    while True:
        msg = _recv(listener)
        if msg.address == "/marker":
            return got
        got.append(msg)


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime(1000.0)


@pytest.fixture
def passcode_server(clock: FakeTime) -> Iterator[tuple[OscServer, list[A.Action]]]:
    got: list[A.Action] = []
    srv = OscServer(
        got.append, Listen("127.0.0.1", 0, ["loopback"]), passcode="4711", clock=clock
    ).start()
    yield srv, got
    srv.close()


# --- the passcode ----------------------------------------------------------------------------


def test_passcode_survives_2000_addresses_x4_guesses(passcode_server, clock) -> None:
    """2,000 hosts (127.1.y.z) guess 0000..7999 in order, 4 each, over real UDP: the right
    passcode (4711) is among the guesses but is never even compared once the global budget
    is spent; /blackout never runs; a console connected before keeps working."""
    srv, got = passcode_server
    console = _sock("127.0.0.2")
    console.sendto(encode_message("/connect", "4711"), ("127.0.0.1", srv.port))
    assert _recv(console).params == ["ok"]

    answers: dict[str, int] = {}
    guess = 0
    for n in range(2000):
        host = f"127.1.{n // 250}.{n % 250 + 1}"
        s = _sock(host)
        try:
            for _ in range(4):
                s.sendto(encode_message("/connect", f"{guess:04d}"), ("127.0.0.1", srv.port))
                reply = _recv(s).params
                answers[reply[1] if reply[0] == "denied" else reply[0]] = (
                    answers.get(reply[1] if reply[0] == "denied" else reply[0], 0) + 1
                )
                guess += 1
            s.sendto(encode_message("/blackout", 1), ("127.0.0.1", srv.port))
            assert _recv(s).params[0] == "denied"
        finally:
            s.close()
    assert guess == 8000
    assert "ok" not in answers, answers
    assert answers["badpass"] == 20  # the global budget: 20 passcodes compared, in all
    assert answers[str(Verdict.BUSY)] == 8000 - 20
    console.sendto(encode_message("/go"), ("127.0.0.1", srv.port))
    _barrier(srv)
    console.close()
    assert got == [A.Go(source="osc")]  # only the connected console's /go
    clock.advance(6.0)  # one wrong passcode's worth of budget comes back: a fresh try works
    s = _sock("127.0.0.3")
    s.sendto(encode_message("/connect", "4711"), ("127.0.0.1", srv.port))
    assert _recv(s).params == ["ok"]
    s.close()


def test_budget_and_lockout_with_the_access_object(clock) -> None:
    """The same attack without sockets, every guess through `connect`; the per-host lockout
    still applies on its own."""
    ac = AccessControl(["loopback"], "4711", clock=clock)
    verdicts = [ac.connect(f"127.2.{g // 1000}.{g % 250 + 1}", f"{g:04d}") for g in range(8000)]
    assert Verdict.OK not in verdicts and verdicts.count(Verdict.BAD_PASSCODE) == 20
    ac = AccessControl(["loopback"], "4711", clock=clock)
    assert [ac.connect("127.0.0.9", "0") for _ in range(5)][-1] is Verdict.LOCKED


def test_lock_survives_4100_other_failures(clock) -> None:
    """A locked-out host stays locked out while 4,100 other hosts fail once each (the table
    of failing hosts forgets only hosts that are not locked out); the global budget is
    opened wide here so that every failure is counted."""
    ac = AccessControl(["loopback"], "4711", clock=clock, global_failures=10**6)
    for _ in range(5):
        ac.connect("127.0.0.5", "0000")
    assert ac.check("127.0.0.5") is Verdict.LOCKED
    for n in range(4100):
        assert ac.connect(f"127.3.{n // 250}.{n % 250 + 1}", "1111") is Verdict.BAD_PASSCODE
    assert ac.connect("127.0.0.5", "4711") is Verdict.LOCKED
    clock.advance(61.0)
    assert ac.connect("127.0.0.5", "4711") is Verdict.OK


def test_a_table_full_of_lockouts_refuses_new_hosts(clock) -> None:
    ac = AccessControl(["loopback"], "4711", clock=clock, global_failures=10**6, max_tracked=3)
    for h in ("127.0.0.11", "127.0.0.12", "127.0.0.13"):
        for _ in range(5):
            ac.connect(h, "0")
    assert ac.connect("127.0.0.14", "0") is Verdict.BUSY  # no lockout was forgotten
    assert all(ac.check(h) is Verdict.LOCKED for h in ("127.0.0.11", "127.0.0.12", "127.0.0.13"))


def test_passcode_compared_by_digest() -> None:
    """Any length and any text compare (constant time over SHA-256 digests)."""
    ac = AccessControl(["loopback"], "mönd")
    assert ac.connect("127.0.0.1", "x" * 10_000) is Verdict.BAD_PASSCODE
    assert ac.connect("127.0.0.1", "\udcff") is Verdict.BAD_PASSCODE
    assert ac.connect("127.0.0.1", "mönd") is Verdict.OK


# --- reflection ------------------------------------------------------------------------------


def test_256_subscriptions_then_a_fade_send_under_50_packets(clock) -> None:
    """256 /subscribe from one host (256 source ports) naming one port, then one /go and a 3 s
    fade published frame by frame: that port gets one subscription's worth of packets."""
    got: list[A.Action] = []
    srv = OscServer(got.append, Listen("127.0.0.1", 0, ["loopback"]), clock=clock).start()
    listener = _sock()
    port = listener.getsockname()[1]
    senders = [_sock() for _ in range(256)]
    try:
        srv.publish(SNAP)
        for s in senders:
            s.sendto(encode_message("/subscribe", port), ("127.0.0.1", srv.port))
        _barrier(srv)
        on_subscribe = _count_until_marker(listener)
        assert len(on_subscribe) <= REPLY_BURST
        assert srv.subscribers == {"127.0.0.1": port}

        senders[-1].sendto(encode_message("/go"), ("127.0.0.1", srv.port))
        _barrier(srv)
        assert got == [A.Go(source="osc")]
        frames = 3 * 60
        for f in range(frames + 1):
            clock.advance(1 / 60)
            tr = None if f == frames else f / frames
            srv.publish(replace(SNAP, live_id="1.2", standby_id="1.3", transition=tr))
            srv.poll(clock())
        after_go = _count_until_marker(listener)
        assert len(after_go) < 50, len(after_go)
        transitions = [m.params[0] for m in after_go if m.address == "/state/transition"]
        assert transitions[0] == 0.0 and transitions[-1] == -1.0  # start and end always pushed
        assert ("/state/cue", ["1.2"]) in [(m.address, m.params) for m in after_go]
    finally:
        for s in senders:
            s.close()
        listener.close()
        srv.close()


def test_subscriptions_one_per_host_bounded_and_expiring(clock) -> None:
    srv = OscServer(lambda a: None, Listen("127.0.0.1", 0, ["loopback"]), clock=clock)
    srv.start()
    socks = [_sock(f"127.0.4.{n + 1}") for n in range(MAX_SUBSCRIBERS + 1)]
    try:
        for s in socks:
            s.sendto(encode_message("/subscribe"), ("127.0.0.1", srv.port))
            reply = _recv(s)
            assert reply.address == "/reply/subscribe"
        assert reply.params == ["error", f"too many subscribers ({MAX_SUBSCRIBERS}); try later"]
        assert len(srv.subscribers) == MAX_SUBSCRIBERS and "127.0.4.1" in srv.subscribers
        clock.advance(SUBSCRIPTION_SECONDS - 10)
        socks[0].sendto(encode_message("/ping"), ("127.0.0.1", srv.port))  # a heartbeat
        assert _recv(socks[0]).address == "/pong"
        clock.advance(20)
        assert list(srv.subscribers) == ["127.0.4.1"]  # the others expired, unrenewed
        socks[-1].sendto(encode_message("/subscribe"), ("127.0.0.1", srv.port))
        assert _recv(socks[-1]).params == ["ok"]
        assert set(srv.subscribers) == {"127.0.4.1", f"127.0.4.{MAX_SUBSCRIBERS + 1}"}
    finally:
        for s in socks:
            s.close()
        srv.close()


def test_no_subscription_without_the_passcode(passcode_server) -> None:
    srv, _ = passcode_server
    s = _sock("127.0.0.7")
    s.sendto(encode_message("/subscribe"), ("127.0.0.1", srv.port))
    assert _recv(s).params == ["denied", "connect first"]
    s.close()
    assert srv.subscribers == {}


def test_a_60kb_bundle_gets_a_bounded_number_of_denials(passcode_server) -> None:
    """5,000 /go in one bundle from a host that has not connected: all refused, at most one
    reply bucket of `denied` answers comes back."""
    srv, got = passcode_server
    go = encode_message("/go")
    n = 5000
    bundle = b"#bundle\x00" + b"\x00" * 7 + b"\x01" + (struct.pack(">i", len(go)) + go) * n
    assert 59_000 < len(bundle) < 61_000
    s = _sock("127.0.0.8")
    try:
        s.sendto(bundle, ("127.0.0.1", srv.port))
        _barrier(srv)
        denied = _count_until_marker(s)
        assert 1 <= len(denied) <= REPLY_BURST
        assert all(m.params == ["denied", "connect first"] for m in denied)
        assert srv.stats["denied"] >= n and got == []
    finally:
        s.close()


# --- address patterns ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("/layer/*/opacity", [f"/layer/{n}/opacity" for n in range(1, 17)]),
        ("/layer/[1-2]/rate", ["/layer/1/rate", "/layer/2/rate"]),
        ("/layer/[!2-9]/rate", ["/layer/1/rate"]),
        ("/layer/1[0-2]/rate", ["/layer/10/rate", "/layer/11/rate", "/layer/12/rate"]),
        ("/standby/{next,prev}", ["/standby/next", "/standby/prev"]),
        ("/mast?r", ["/master"]),
        ("/*", None),  # every one-part address of the table
        ("/po?m/*", ["/poem/next", "/poem/prev"]),
        ("/ping*", []),  # the server's own addresses are not in the table
        ("/layer/**/opacity", [f"/layer/{n}/opacity" for n in range(1, 17)]),
        ("/layer/17/*", []),
        ("/{tbar,crossfade}", ["/tbar"]),  # an alias is never a pattern's second target
    ],
)
def test_expand_pattern(pattern: str, expected: list[str] | None) -> None:
    names = expand_pattern(pattern)
    if expected is None:
        assert "/go" in names and "/master" in names and all(n.count("/") == 1 for n in names)
    else:
        assert names == expected


@pytest.mark.parametrize(
    "pattern", ["/layer/[1-2/rate", "/standby/{next", "/la]yer", "/x//y", "/[]", "/[9-1]"]
)
def test_bad_patterns(pattern: str) -> None:
    with pytest.raises(OscArgError, match="pattern"):
        expand_pattern(pattern)


def test_pattern_runs_whole_or_not_at_all() -> None:
    assert actions_for("/layer/[1-2]/opacity", [0.5]) == [
        A.LayerOpacity(layer=1, opacity=0.5, source="osc", detail="/layer/1/opacity"),
        A.LayerOpacity(layer=2, opacity=0.5, source="osc", detail="/layer/2/opacity"),
    ]
    with pytest.raises(OscArgError, match="/layer/1/opacity: "):
        actions_for("/layer/[1-2]/opacity", [7.0])
    with pytest.raises(OscArgError, match="no address matches"):
        actions_for("/nothing/*", [])
    assert actions_for("/standby/{next,prev}", [0]) == []  # a button release, twice
    many_stars = "/" + "*a" * 40
    assert expand_pattern(many_stars) == []  # bounded work for a hostile pattern


def test_patterns_from_liblo_oscsend(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A foreign client (liblo's `oscsend`) sends the four patterns of the issue to a real
    player; the event log shows the actions of their expansions."""
    import shutil
    import subprocess

    import numpy as np
    from frames import run_frames
    from PIL import Image
    from requires import missing

    from app.bench.common import show_of
    from app.clock import FrameClock
    from app.eventlog import EventLog, read_log
    from app.player import Player
    from app.render.outputs import HeadlessOutput, OutputError

    oscsend = shutil.which("oscsend")
    if oscsend is None:
        missing("liblo's oscsend (Debian package liblo-tools)")
    paths = []
    for name, rgb in (("red", (200, 0, 0)), ("blue", (0, 0, 200)), ("green", (0, 200, 0))):
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
    try:
        run_frames(player)  # each frame moves the fake clock on by 1/30 s
        sent = [
            ("/layer/*/opacity", "f", "0.5"),
            ("/layer/[1-2]/rate", "f", "0.25"),
            ("/standby/{next,prev}", "i", "1"),
            ("/mast?r", "f", "0.75"),
        ]
        for address, types, value in sent:
            subprocess.run(
                [oscsend, "127.0.0.1", str(srv.port), address, types, value],
                check=True,
                timeout=20,
            )
        _barrier(srv)  # oscsend has exited: its packets are queued before the ping
        run_frames(player)
        player.log.flush()
        actions = [r for r in read_log(tmp_path / "run.jsonl") if r["event"] == "action"]
        detail = [(r["action"], r["detail"]) for r in actions]
        layer = [(n, f"/layer/{n}/opacity") for n in range(1, 17)]
        assert [d for _, d in detail] == [
            *(a for _, a in layer),
            "/layer/1/rate",
            "/layer/2/rate",
            "/standby/next",
            "/standby/prev",
            "/master",
        ], detail
        assert {r["source"] for r in actions} == {"osc"}
        assert player.state.master == 0.75
        assert dict(player.state.layer_opacity) == {n: 0.5 for n in range(1, 17)}
        assert dict(player.state.layer_rate) == {1: 0.25, 2: 0.25}
        assert srv.stats["errors"] == 0
    finally:
        srv.close()
        player.close()
        out.close()
