"""The web console in a real browser: Debian's chromium driven by Playwright, against a real
`play` process. One browser for the module; screenshots go to tests/output/ (and docs/ with
UPDATE_DOCS=1)."""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web_helpers import CHROMIUM, Play, need_chromium, tiny_show, wait_for

OUTPUT = Path(__file__).resolve().parent / "output"
DOCS = Path(__file__).resolve().parent.parent / "docs"
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def play(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Play]:
    folder = tmp_path_factory.mktemp("webshow")
    p = Play(tiny_show(folder), folder / "run.jsonl", cache=folder / "cache")
    yield p
    p.stop()


def web_actions(play: Play, name: str) -> list[dict[str, Any]]:
    return [
        r
        for r in play.records()
        if r.get("event") == "action" and r.get("source") == "web" and r.get("action") == name
    ]


def open_console(browser: Any, url: str, **context: Any) -> Any:
    """A console page, online and hearing the show loop's frames (not STALE)."""
    page = browser.new_context(**context).new_page()
    page.goto(url)
    page.get_by_text("online").wait_for(timeout=30000)
    page.wait_for_function("!document.body.classList.contains('is-stale')", timeout=30000)
    return page


def test_go_is_logged_and_the_page_updates(browser: Any, play: Play) -> None:
    page = open_console(browser, play.url, viewport=TABLET)
    cue = page.get_by_role("button", name="Standby cue 1.1")
    cue.click()  # the first tap only arms it; the second puts it in standby
    page.locator("#cues li.armed").wait_for()
    cue.click()
    page.locator("#next-cue", has_text="1.1").wait_for()
    before = len(web_actions(play, "GO"))
    page.get_by_role("button", name="GO", exact=True).click()
    # the second update: the page now shows 1.1 live and 1.2 next
    page.locator("#live-cue", has_text="1.1").wait_for()
    page.locator("#next-cue", has_text="1.2").wait_for()
    wait_for(lambda: len(web_actions(play, "GO")) > before, message="a web GO in the event log")
    assert play.state()["state"]["live"] == 0
    page.locator("#cues li.live").first.wait_for()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "console-tablet.png")
    page.context.close()


def test_dragging_a_layer_fader_sets_the_engine_value(browser: Any, play: Play) -> None:
    page = open_console(browser, play.url, viewport=TABLET)
    fader = page.get_by_label("Layer 1 opacity")
    box = fader.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    # relative: the drag moves the value from where it is (1.0) by the distance moved
    page.mouse.move(box["x"] + box["width"] * 0.9, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, y, steps=8)
    page.mouse.move(box["x"] + box["width"] * 0.3, y, steps=8)
    page.mouse.up()
    shown = float(fader.get_attribute("aria-valuenow") or "nan")
    assert 0.3 < shown < 0.5
    engine = wait_for(
        lambda: next(
            (
                layer["opacity"]
                for layer in play.state()["state"]["layers"]
                if layer["layer"] == 1 and abs(layer["opacity"] - shown) < 1e-3
            ),
            None,
        ),
        message="the engine's layer 1 opacity at the fader's value",
    )
    assert abs(engine - shown) < 1e-3
    assert web_actions(play, "LAYER_OPACITY")
    # the server's value moves the fader when no finger holds it
    page.get_by_label("Layer 1 opacity").wait_for()
    page.context.close()


def test_wrong_token_and_view_token_execute_nothing(browser: Any, play: Play) -> None:
    before = [r for r in play.records() if r.get("event") == "action"]
    page = browser.new_context(viewport=TABLET).new_page()
    page.goto(f"{play.base}/?token=not-the-token")
    page.locator("#link", has_text="offline").wait_for()
    assert page.locator("#live-cue").inner_text() == "-"
    page.context.close()

    view = open_console(browser, play.view_url, viewport=TABLET)
    assert view.get_by_role("button", name="GO", exact=True).is_disabled()
    assert view.locator("#role").inner_text() == "VIEW ONLY"
    # a view client that sends a command anyway gets a refusal, nothing runs
    reply = view.evaluate(
        """(base) => new Promise((resolve) => {
          const ws = new WebSocket(base.replace('http', 'ws') + '/ws?token=' + TOKEN);
          ws.onopen = () => ws.send(JSON.stringify({type: 'command', id: 'x1', name: 'go'}));
          ws.onmessage = (ev) => {
            const m = JSON.parse(ev.data);
            if (m.type === 'ack') resolve(m);
          };
        })""".replace("TOKEN", repr(play.view_token)),
        play.base,
    )
    assert reply == {"type": "ack", "id": "x1", "ok": False, "error": reply["error"]}
    assert "view only" in reply["error"]
    view.context.close()
    # a refusal is logged, and no action came in
    wait_for(
        lambda: any("refused" in str(r.get("message", "")) for r in play.records()),
        message="the refusal in the event log",
    )
    after = [r for r in play.records() if r.get("event") == "action"]
    assert after == before


def test_phone_layout_with_touch(browser: Any, play: Play) -> None:
    page = open_console(browser, play.url, viewport=PHONE, has_touch=True, is_mobile=True)
    cue = page.get_by_role("button", name="Standby cue 1.2")
    cue.tap()
    page.locator("#cues li.armed").wait_for()
    cue.tap()
    page.locator("#next-cue", has_text="1.2").wait_for()
    page.get_by_role("button", name="GO", exact=True).tap()
    page.locator("#live-cue", has_text="1.2").wait_for()
    go = page.get_by_role("button", name="GO", exact=True).bounding_box()
    assert go is not None and go["width"] > 0.8 * PHONE["width"]  # full width on a phone
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "console-phone.png")
    for name in ("console-phone.png", "console-tablet.png"):
        _publish(name)
    page.context.close()


def _publish(name: str) -> None:
    """Copy a screenshot into docs/ (the README's pictures) when UPDATE_DOCS=1; a plain run
    leaves the working tree as it was."""
    if os.environ.get("UPDATE_DOCS") == "1" and (OUTPUT / name).exists():
        DOCS.mkdir(exist_ok=True)
        shutil.copy(OUTPUT / name, DOCS / name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_page_reconnects_after_a_server_restart(browser: Any, tmp_path: Path) -> None:
    show = tiny_show(tmp_path)
    port = _free_port()
    tokens = {"token": "operate-secret-1", "view_token": "view-secret-1"}
    first = Play(show, tmp_path / "a.jsonl", port=port, cache=tmp_path / "cache", **tokens)
    try:
        page = open_console(browser, first.url, viewport=TABLET)
        page.get_by_role("button", name="GO", exact=True).click()
        page.locator("#live-cue", has_text="1.1").wait_for()
    finally:
        first.stop()
    page.locator("#link", has_text="offline").wait_for()
    page.locator("#stale").wait_for(state="visible", timeout=15000)
    second = Play(show, tmp_path / "b.jsonl", port=port, cache=tmp_path / "cache", **tokens)
    try:
        page.locator("#link", has_text="online").wait_for(timeout=30000)
        page.locator("#stale").wait_for(state="hidden")
        # resynchronised from the new run's snapshot: nothing is live there
        page.locator("#live-cue", has_text="BLACK").wait_for()
        page.get_by_role("button", name="GO", exact=True).click()
        page.locator("#live-cue", has_text="1.1").wait_for()
    finally:
        second.stop()
        page.context.close()


def test_notes_and_the_follow_countdown(browser: Any, tmp_path: Path) -> None:
    play = Play(
        tiny_show(tmp_path, follow_after=20.0), tmp_path / "run.jsonl", cache=tmp_path / "cache"
    )
    try:
        page = open_console(browser, play.url, viewport=TABLET)
        page.locator("#poem-notes", has_text="slow, with the piano").wait_for()
        page.locator("#cues .cue-notes", has_text="bar 23").wait_for()
        page.locator("#cues .facts", has_text="follow after 20 s").wait_for()
        assert page.locator("#follow").is_hidden()
        page.get_by_role("button", name="GO", exact=True).click()
        page.locator("#live-cue", has_text="1.1").wait_for()
        page.locator("#next-notes", has_text="on the flute's entry, bar 23").wait_for()
        countdown = page.locator("#follow")
        countdown.wait_for(state="visible")

        def seconds() -> float:
            text = countdown.inner_text()
            assert text.startswith("FOLLOW 1.2 in ") and text.endswith(" s"), text
            return float(text.removeprefix("FOLLOW 1.2 in ").removesuffix(" s"))

        first = seconds()
        assert 0.0 < first <= 20.0
        wait_for(lambda: seconds() < first, message="the countdown going down")
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=OUTPUT / "console-follow.png")
        _publish("console-follow.png")
        page.get_by_role("button", name="BACK", exact=True).click()
        countdown.wait_for(state="hidden")
        cancelled = wait_for(
            lambda: [
                r
                for r in play.records()
                if r.get("event") == "follow" and r.get("what") == "cancelled"
            ],
            message="the follow's cancellation in the event log",
        )
        assert [r["by"] for r in cancelled] == ["BACK"]
        assert play.state()["state"]["follow"] is None
        page.context.close()
    finally:
        play.stop()
