"""Access control: allow-list, passcode, lockout; and the OSC server refusing and accepting."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient
from waiting import wait_until

from app.clock import FakeTime
from app.control.access import (
    LOOPBACK,
    PRIVATE,
    AccessControl,
    Listen,
    Verdict,
    local_networks,
    parse_allow,
)
from app.control.osc import OscServer
from app.cues import actions as A

ROUTE = """\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
wg0\t0000080A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
eth0\t0000000A\t0101A8C0\t0003\t0\t0\t0\t000000FF\t0\t0\t0
"""
INET6 = """\
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
fd000000000000000000000000000002 04 40 00 82     eth0
"""


def test_local_networks_from_proc(tmp_path: Path) -> None:
    (tmp_path / "route").write_text(ROUTE)
    (tmp_path / "inet6").write_text(INET6)
    nets = [str(n) for n in local_networks(tmp_path / "route", tmp_path / "inet6") or []]
    # directly connected only: not the default route, not 10/8 through a gateway
    assert nets == ["192.168.1.0/24", "10.8.0.0/16", "fe80::/64", "fd00::/64"]
    assert local_networks(tmp_path / "nope", tmp_path / "nope6") is None


def test_parse_allow() -> None:
    nets, any_ = parse_allow(["10.0.0.7", "192.168.4.0/24", "loopback"])
    assert [str(n) for n in nets] == ["10.0.0.7/32", "192.168.4.0/24", "127.0.0.0/8", "::1/128"]
    assert not any_
    assert parse_allow(["any"])[1]
    nets, _ = parse_allow(["private"])
    assert set(LOOPBACK + PRIVATE) == set(nets)
    nets, _ = parse_allow(None)  # default: local
    assert set(LOOPBACK) <= set(nets)
    with pytest.raises(ValueError, match=r"'300\.1\.1\.1', 'lan'"):
        parse_allow(["10.0.0.0/8", "300.1.1.1", "lan"])


def test_allow_list() -> None:
    ac = AccessControl(["192.168.1.0/24", "loopback"])
    assert ac.allowed("127.0.0.1") and ac.allowed("192.168.1.77") and ac.allowed("::1")
    assert ac.allowed("::ffff:192.168.1.5")  # IPv4-mapped IPv6 from a dual-stack socket
    assert not ac.allowed("192.168.2.1") and not ac.allowed("8.8.8.8")
    assert not ac.allowed("not an address")
    assert ac.check("8.8.8.8") is Verdict.NOT_ALLOWED
    assert ac.check("192.168.1.77") is Verdict.OK  # no passcode: allowed is enough
    assert AccessControl(["any"]).allowed("8.8.8.8")


def test_passcode_and_lockout_with_fake_clock() -> None:
    clock = FakeTime()
    ac = AccessControl(["loopback"], "moon", clock=clock)
    host = "127.0.0.1"
    assert ac.check(host) is Verdict.NOT_CONNECTED
    assert ac.connect(host, "moon") is Verdict.OK
    assert ac.check(host) is Verdict.OK and ac.authorized(host)
    other = "127.0.0.2"
    for _ in range(4):
        assert ac.connect(other, "sun") is Verdict.BAD_PASSCODE
    assert ac.connect(other, "sun") is Verdict.LOCKED  # the fifth wrong one
    assert ac.connect(other, "moon") is Verdict.LOCKED  # even the right one, for a minute
    assert ac.check(other) is Verdict.LOCKED
    assert ac.locked_for(other) == pytest.approx(60.0)
    clock.advance(59.0)
    assert ac.connect(other, "moon") is Verdict.LOCKED
    clock.advance(1.5)
    assert ac.check(other) is Verdict.NOT_CONNECTED
    assert ac.connect(other, "sun") is Verdict.BAD_PASSCODE  # a fresh count after the lockout
    assert ac.connect(other, "moon") is Verdict.OK
    assert ac.check(host) is Verdict.OK  # the first host was never affected


# --- through the server, over loopback UDP ---------------------------------------------------


def _recv(c: SimpleUDPClient, timeout: float = 1.0) -> OscMessage:
    data = c.receive(timeout)
    assert data, "no reply"
    return OscMessage(data)


def test_server_passcode_refuses_then_accepts() -> None:
    got: list[A.Action] = []
    logs: list[tuple[str, dict]] = []
    clock = FakeTime(100.0)
    with OscServer(
        got.append,
        Listen("127.0.0.1", 0, ["loopback"]),
        passcode="moon",
        log=lambda m, f: logs.append((m, f)),
        clock=clock,
    ) as srv:
        c = SimpleUDPClient("127.0.0.1", srv.port)
        c.send_message("/go", None)
        r = _recv(c)
        assert (r.address, r.params) == ("/reply/go", ["denied", "connect first"])
        c.send_message("/subscribe", None)
        assert _recv(c).params[0] == "denied"
        c.send_message("/connect", "sun")
        assert _recv(c).params == ["denied", "badpass"]
        c.send_message("/connect", "moon")
        assert _recv(c).params == ["ok"]
        c.send_message("/go", None)
        assert wait_until(lambda: len(got) == 1)
        assert got == [A.Go(source="osc")]
        assert srv.stats["denied"] == 3
        srv.poll(0.0)
        assert any(m == "osc denied" for m, _ in logs) and any("passcode" in m for m, _ in logs)


def test_server_lockout_after_five_wrong_passcodes() -> None:
    got: list[A.Action] = []
    clock = FakeTime(0.0)
    with OscServer(
        got.append, Listen("127.0.0.1", 0, ["loopback"]), passcode="moon", clock=clock
    ) as srv:
        c = SimpleUDPClient("127.0.0.1", srv.port)
        replies = []
        for _ in range(5):
            c.send_message("/connect", "guess")
            replies.append(_recv(c).params)
        assert replies[:4] == [["denied", "badpass"]] * 4
        assert replies[4] == ["denied", "locked out for 60 s"]
        c.send_message("/connect", "moon")
        assert _recv(c).params == ["denied", "locked out for 60 s"]
        c.send_message("/go", None)
        assert _recv(c).params[0] == "denied"
        clock.advance(61.0)
        c.send_message("/connect", "moon")
        assert _recv(c).params == ["ok"]
        c.send_message("/go", 1)
        assert wait_until(lambda: len(got) == 1)


def test_server_allow_list_refuses_silently() -> None:
    """A host outside the allow-list gets no answer and drives nothing; an allowed one does."""
    got: list[A.Action] = []
    logs: list[tuple[str, dict]] = []
    with OscServer(
        got.append,
        Listen("127.0.0.1", 0, ["127.0.0.2/32"]),
        log=lambda m, f: logs.append((m, f)),
    ) as srv:
        stranger = SimpleUDPClient("127.0.0.1", srv.port)  # sends from 127.0.0.1
        stranger.send_message("/replies", 1)
        stranger.send_message("/go", None)
        stranger.send_message("/ping", None)
        assert stranger.receive(0.2) == b""
        assert wait_until(lambda: srv.stats["denied"] == 3)
        assert got == [] and srv.clients == []
        srv.poll(0.0)
        assert any("allow-list" in m and f["client"] == "127.0.0.1" for m, f in logs)

        friend = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        friend.bind(("127.0.0.2", 0))
        friend.settimeout(1.0)
        try:
            friend.sendto(b"/ping\x00\x00\x00,\x00\x00\x00", ("127.0.0.1", srv.port))
            assert OscMessage(friend.recv(4096)).address == "/pong"
            friend.sendto(b"/go\x00,\x00\x00\x00", ("127.0.0.1", srv.port))
            assert wait_until(lambda: len(got) == 1)
        finally:
            friend.close()
        assert [c.host for c in srv.clients] == ["127.0.0.2"]
