"""Warnings are typed where they are written (issue 21, point 3): the OSC server and the web
console mark the log line of each refused client with its Alert kind, and the session shows
it in the status as it is, without reading the message's words."""

from __future__ import annotations

import argparse
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from app.clock import FrameClock
from app.control.osc import OscServer, encode_message
from app.eventlog import EventLog, read_log
from app.player import Player
from app.render.outputs import HeadlessOutput
from app.session import Session, start_inputs
from app.show.loader import load_show
from app.status import ALERT, REFUSED, Alert, alert_of
from app.web.console import WebConsole, console_state, show_description
from tests.web_helpers import tiny_show


def test_a_log_line_is_a_warning_only_by_its_alert_field() -> None:
    assert alert_of("osc refused: whatever words", {"client": "10.0.0.9", ALERT: REFUSED}) == (
        Alert(REFUSED, "osc refused: whatever words: 10.0.0.9")
    )
    assert alert_of("osc refused: not on the allow-list", {"client": "10.0.0.9"}) is None
    assert alert_of("a client we never name", {ALERT: "warning"}) == Alert(
        "warning", "a client we never name: ?"
    )


def test_refusals_from_osc_and_the_web_reach_the_status_with_their_kind(tmp_path: Path) -> None:
    """A real `play` set-up (`start_inputs`: the OSC server and the web console in its own
    process): a datagram from a host off the OSC allow-list and a console request with a
    wrong token each reach the status, and the console's state, as a 'refused' alert."""
    show = load_show(tiny_show(tmp_path))
    out = HeadlessOutput(64, 36)
    log_path = tmp_path / "run.jsonl"
    player = Player(show, out, clock=FrameClock(), log=EventLog(log_path))
    session = Session(player)
    session.closers += [out.close, player.close]
    args = argparse.Namespace(
        osc_host="127.0.0.1",
        osc_port=0,
        passcode=None,
        osc_allow=["192.168.77.0/24"],  # not this machine's loopback
        web_host="127.0.0.1",
        web_port=0,
        web_allow=["loopback"],
        web_token="op-token",
        web_view_token="view-token",
        web_thumbs=None,
        no_gamepad=True,
    )
    expected = {
        Alert(REFUSED, "osc refused: not on the allow-list: 127.0.0.1"),
        Alert(REFUSED, "web console refused: 127.0.0.1"),
    }
    try:
        start_inputs(session, args)
        osc = next(i for i in session.inputs if isinstance(i, OscServer))
        web = next(i for i in session.inputs if isinstance(i, WebConsole))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(encode_message("/go"), ("127.0.0.1", osc.port))
        url = f"http://127.0.0.1:{web.server.port}/api/state?token=wrong"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=30)
        assert refused.value.code == 401
        # the log lines reach the session on its main thread, in the frames that follow
        deadline = time.monotonic() + 60.0  # a guard against a hang only
        session.run(
            status=False,
            until=lambda: expected <= set(player.status.alerts) or time.monotonic() > deadline,
        )
        status = player.status
    finally:
        session.close()
    assert expected <= set(status.alerts)
    assert all(a.kind == REFUSED for a in status.alerts)
    warnings = console_state(status, show_description(show))["health"]["warnings"]
    assert {a.message for a in expected} <= set(warnings)
    infos = [r for r in read_log(log_path) if r.get("alert") == REFUSED]
    assert {r["message"] for r in infos} >= {
        "osc refused: not on the allow-list",
        "web console refused",
    }
