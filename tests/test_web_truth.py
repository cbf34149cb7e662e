"""The web console tells the stage's truth and ignores stray touches (issue 22), in Debian's
chromium against a real `play`: a frozen show loop (SIGSTOP of `play`; its console server,
a child process, goes on answering) shows STALE, a GO tapped in the stall is shown not
applied and never fires after the show resumes, a T-bar pulled in the stall does not land;
taps on a fader or a cue do nothing; LIVE reads black after PANIC; the blackout banner; the
lock leaves PANIC usable; the screen wake fallback on a page without the Wake Lock API; a GO
held by a stalled link (SIGSTOP of the console server) is shown not applied and never fires;
a page that connects before the show's first state waits for it and throws nothing; a new
show description (thumbnails made) keeps the faders and poem buttons under a finger."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web_helpers import CHROMIUM, Play, need_chromium, tiny_show, wait_for

OUTPUT = Path(__file__).resolve().parent / "output"
TABLET = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
FRESH = "!document.body.classList.contains('is-stale')"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def play(tmp_path: Path) -> Iterator[Play]:
    p = Play(tiny_show(tmp_path), tmp_path / "run.jsonl", cache=tmp_path / "cache")
    yield p
    if p.proc.poll() is None:
        os.kill(p.proc.pid, signal.SIGCONT)  # never leave it stopped
    p.stop()


class Pages:
    """The browser contexts of one test. A script error on any of their pages is kept and
    fails the test after it (raised inside Playwright's event callback, it would kill the
    browser's connection, and with it every later test of the module); the contexts are
    closed before the test's `play` stops."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.contexts: list[Any] = []
        self.errors: list[str] = []

    def context(self, **options: Any) -> Any:
        context = self.browser.new_context(**options)
        context.on("weberror", lambda e: self.errors.append(f"{e.page and e.page.url}: {e.error}"))
        self.contexts.append(context)
        return context

    def close(self) -> None:
        for context in self.contexts:
            context.close()
        assert not self.errors, f"script errors on the page: {self.errors}"


@pytest.fixture
def pages(browser: Any, play: Play) -> Iterator[Pages]:
    opened = Pages(browser)
    yield opened
    opened.close()


def open_console(pages: Pages, url: str, **context: Any) -> Any:
    page = pages.context(**context).new_page()
    page.goto(url)
    page.get_by_text("online").wait_for(timeout=30000)
    page.wait_for_function(FRESH, timeout=30000)
    return page


def sent(page: Any) -> int:
    return int(page.evaluate("window.consoleTruth.sent"))


def centre(page: Any, selector: str) -> tuple[float, float]:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def hold(page: Any, selector: str) -> None:
    """Press and hold until the page sends the command (the hold's end is the event)."""
    before = sent(page)
    page.mouse.move(*centre(page, selector))
    page.mouse.down()
    page.wait_for_function(f"window.consoleTruth.sent > {before}")
    page.mouse.up()


def web(play: Play, action: str) -> list[dict[str, Any]]:
    return [
        r
        for r in play.records()
        if r.get("event") == "action" and r.get("source") == "web" and r.get("action") == action
    ]


def test_frozen_show_loop_is_stale_and_late_commands_never_land(pages: Pages, play: Play) -> None:
    page = open_console(pages, play.url, viewport=TABLET)
    page.locator("#go").click()
    page.locator("#live-cue", has_text="1.1").wait_for()
    wait_for(lambda: web(play, "GO"), message="the first GO in the event log")

    os.kill(play.proc.pid, signal.SIGSTOP)  # the show loop stops; its console server does not
    frozen_at = page.evaluate("performance.now()")
    n = sent(page)
    page.mouse.click(*centre(page, "#go"))  # tapped before the page could know
    page.wait_for_function(f"window.consoleTruth.sent > {n}")
    page.locator("#stale").wait_for(state="visible", timeout=10000)
    truth = page.evaluate("window.consoleTruth")
    assert truth["staleAt"] - frozen_at <= 1500, truth  # STALE within 1.5 s of the freeze
    assert page.locator("#go").get_attribute("aria-disabled") == "true"
    page.locator("#cmd-status", has_text="GO NOT APPLIED").wait_for(timeout=10000)

    # during STALE: GO and the T-bar send nothing, and say so
    n = sent(page)
    page.mouse.click(*centre(page, "#go"))
    page.locator("#cmd-status", has_text="GO not sent").wait_for()
    box = page.locator("#f-tbar").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, y, steps=10)
    page.mouse.up()
    assert sent(page) == n
    assert page.locator("#f-tbar").get_attribute("aria-valuenow") == "0.000"
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "console-stale.png")

    os.kill(play.proc.pid, signal.SIGCONT)
    page.wait_for_function(FRESH, timeout=30000)
    # the GO of the stall reaches the show late and is refused there, never applied
    refused = wait_for(
        lambda: [
            r for r in play.records() if r.get("event") == "refused" and r.get("action") == "GO"
        ],
        message="the late GO refused by the show",
    )
    assert "deadline" in refused[0]["reason"]
    # a GO now goes through; everything sent before it was handled before it
    page.locator("#go").click()
    page.locator("#live-cue", has_text="1.2").wait_for()
    wait_for(lambda: len(web(play, "GO")) == 2, message="the second applied GO")
    cues = [r["cue"] for r in play.records() if r.get("event") == "cue"]
    assert cues == ["1.1", "1.2"]  # the stalled GO did not fire 1.2 by itself
    assert web(play, "TBAR") == []  # the T-bar pulled in the stall did not land
    assert play.state()["state"]["tbar"] is None
    page.context.close()


def test_stray_taps_change_nothing(pages: Pages, play: Play) -> None:
    page = open_console(pages, play.url, viewport=PHONE, has_touch=True, is_mobile=True)
    n = sent(page)
    # one tap at 15% of the master fader
    box = page.locator("#f-master").bounding_box()
    assert box is not None
    page.touchscreen.tap(box["x"] + box["width"] * 0.15, box["y"] + box["height"] / 2)
    assert sent(page) == n
    assert page.locator("#f-master").get_attribute("aria-valuenow") == "1.000"
    # one tap on a cue's thumbnail arms it only; it disarms by itself
    page.touchscreen.tap(*centre(page, "#cues li:nth-child(3) .pic"))
    page.locator("#cues li.armed").wait_for()
    assert sent(page) == n
    page.locator("#cues li.armed").wait_for(state="detached", timeout=10000)
    assert sent(page) == n
    state = play.state()["state"]
    assert state["standby"] == 0 and state["master"] == 1.0
    assert web(play, "MASTER") == [] and web(play, "STANDBY") == []
    page.context.close()


def test_panic_blackout_and_the_lock(pages: Pages, play: Play) -> None:
    page = open_console(pages, play.url, viewport=TABLET)
    page.locator("#go").click()
    page.locator("#live-cue", has_text="1.1").wait_for()
    # master below full is shown large beside LIVE (keys step the fader by 1%)
    assert page.locator("#master-big").is_hidden()
    page.locator("#f-master").focus()
    for _ in range(5):
        page.keyboard.press("ArrowLeft")
    page.locator("#master-big", has_text="MASTER 95%").wait_for()
    wait_for(lambda: abs(play.state()["state"]["master"] - 0.95) < 1e-6, message="master 0.95")
    # after PANIC, LIVE reads black
    hold(page, "#panic")
    page.locator("#live-cue", has_text="BLACK").wait_for()
    page.locator("#live-cue", has_text="1.1").wait_for(state="detached")
    # a GO brings a picture back; BLACKOUT puts the banner over the page
    page.locator("#go").click()
    page.locator("#live-cue", has_text="1.2").wait_for()
    hold(page, "#blackout")
    page.locator("#blackout-banner").wait_for(state="visible")
    page.locator("#live-cue", has_text="BLACK").wait_for()
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "console-blackout.png")
    hold(page, "#blackout")
    page.locator("#blackout-banner").wait_for(state="hidden")
    page.locator("#live-cue", has_text="1.2").wait_for()

    # the lock covers the faders and the cue list; GO, the steps, BLACKOUT and PANIC stay
    page.locator("#lock").click()
    page.locator("#lock", has_text="LOCKED").wait_for()
    page.locator("#f-master.off").wait_for()
    for sel in ("#f-tbar", "#cues li:first-child button"):
        assert "off" in (page.locator(sel).get_attribute("class") or ""), sel
    for sel in ("#go", "#back", "#next-cue-btn", "#prev-poem", "#blackout", "#panic"):
        assert "off" not in (page.locator(sel).get_attribute("class") or ""), sel
    n = sent(page)
    page.mouse.click(*centre(page, "#cues li:first-child button"))
    page.mouse.click(*centre(page, "#cues li:first-child button"))
    page.locator("#toasts div", has_text="locked").first.wait_for()
    assert sent(page) == n
    hold(page, "#panic")
    page.locator("#cmd-status", has_text="PANIC applied").wait_for()
    page.locator("#live-cue", has_text="BLACK").wait_for()
    assert len(web(play, "PANIC")) >= 1
    # unlocking needs a hold
    page.mouse.move(*centre(page, "#lock"))
    page.mouse.down()
    page.locator("#lock", has_text="LOCKED").wait_for(state="detached")
    page.mouse.up()
    page.locator("#f-master:not(.off)").wait_for()
    page.context.close()


def test_screen_wake_falls_back_to_a_video_without_the_api(pages: Pages, play: Play) -> None:
    context = pages.context(viewport=PHONE, has_touch=True, is_mobile=True)
    # what a plain-HTTP LAN address gives: no navigator.wakeLock (not a secure context)
    context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'wakeLock', {get: () => undefined});"
    )
    page = context.new_page()
    page.goto(play.url)
    page.wait_for_function(FRESH, timeout=30000)
    page.touchscreen.tap(*centre(page, "#title"))
    page.locator("#wake", has_text="awake: video").wait_for()
    assert page.evaluate("document.getElementById('wake-video').paused") is False
    context.close()


def _web_child(pid: int) -> int:
    """The pid of `play`'s console server process (`python -m app.web.child`)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"app.web.child" in cmdline:
                return int(child)
    raise AssertionError("no console server process under play")


def test_a_go_held_by_a_stalled_link_is_shown_not_applied_and_never_fires(
    pages: Pages, play: Play
) -> None:
    page = open_console(pages, play.url, viewport=TABLET)
    server = _web_child(play.proc.pid)
    os.kill(server, signal.SIGSTOP)  # the link stalls: messages wait, as in a Wi-Fi dropout
    try:
        n = sent(page)
        page.mouse.click(*centre(page, "#go"))
        page.wait_for_function(f"window.consoleTruth.sent > {n}")
        page.locator("#go.pending").wait_for()  # shown pending until an answer
        page.locator("#stale").wait_for(state="visible", timeout=10000)
        # no answer within the deadline: not applied (the show would refuse it later)
        page.locator("#cmd-status", has_text="GO NOT APPLIED").wait_for(timeout=15000)
        assert page.locator("#go.pending").count() == 0
    finally:
        os.kill(server, signal.SIGCONT)
    page.wait_for_function(FRESH, timeout=30000)
    page.locator("#go").click()
    page.locator("#live-cue", has_text="1.1").wait_for()
    wait_for(lambda: len(web(play, "GO")) == 1, message="the GO after the stall")
    assert [r["cue"] for r in play.records() if r.get("event") == "cue"] == ["1.1"]
    # the held GO either reached the show after its deadline and was refused, or died with
    # the stalled connection (the browser may reset a socket whose close went unanswered,
    # and the kernel then drops what it held): never applied either way
    refused = [r for r in play.records() if r.get("event") == "refused" and r.get("action") == "GO"]
    assert all("deadline" in r["reason"] for r in refused), refused
    page.context.close()


@pytest.fixture
def bare(browser: Any, tmp_path: Path) -> Iterator[tuple[Any, dict[str, Any], Pages, str]]:
    """A console server with the tiny show's description and no show loop behind it (no
    state yet), the test's browser contexts, and the page's address with the operate
    token."""
    from app.control.access import Listen
    from app.show.loader import load_show
    from app.web.console import show_description
    from app.web.server import Tokens, WebServer

    desc = show_description(load_show(tiny_show(tmp_path)))
    server = WebServer(desc, lambda action: None, Listen("127.0.0.1", 0),
                       tokens=Tokens("op-token", "view-token"))  # fmt: skip
    server.start()
    opened = Pages(browser)
    try:
        yield server, desc, opened, f"http://127.0.0.1:{server.port}/?token=op-token"
    finally:
        opened.close()
        server.close()


# a page's uncaught script errors, readable by the test in the page itself
RECORD_ERRORS = """window.scriptErrors = [];
addEventListener('error', (e) => window.scriptErrors.push(String(e.message)));
addEventListener('unhandledrejection', (e) => window.scriptErrors.push(String(e.reason)));"""


def test_a_page_before_the_first_state_waits_and_throws_nothing(
    bare: tuple[Any, dict[str, Any], Pages, str],
) -> None:
    """The console server has the show but no state yet (the show loop has not published
    its first frame: what a slow start gives): the page builds the show, says it waits for
    the first frame, and runs no step on the missing state."""
    _, _, opened, url = bare
    context = opened.context(viewport=TABLET)
    context.add_init_script(RECORD_ERRORS)
    page = context.new_page()
    page.goto(url)
    page.locator("#poems button").first.wait_for()  # the snapshot was handled
    page.locator("#stale-why", has_text="waiting for the show's first frame").wait_for()
    assert page.evaluate("window.scriptErrors") == []
    assert page.locator("#stale").is_visible()
    assert page.locator("#live-cue").inner_text() in ("", "-")


def test_a_new_show_description_keeps_the_faders_and_poem_buttons(
    bare: tuple[Any, dict[str, Any], Pages, str],
) -> None:
    """Thumbnails made or the show file reloaded: the server sends the show again. The page
    rebuilds what changed, never the master fader a finger may be on, or the poem strip when
    its poems are the same; a new layer rebuilds the faders."""
    server, desc, opened, url = bare
    page = opened.context(viewport=PHONE, has_touch=True, is_mobile=True).new_page()
    page.goto(url)
    page.locator("#f-master").wait_for()
    page.evaluate("window.kept = [document.getElementById('f-master'), "
                  "document.querySelector('#poems button')]")  # fmt: skip
    server.set_show({**desc, "title": "Thumbnails made"})
    page.wait_for_function("document.title.startsWith('Thumbnails made')")
    same = "window.kept.map((el) => el.isConnected)"
    assert page.evaluate(same) == [True, True]
    assert page.locator("#show-title").inner_text() == "Thumbnails made"
    # a show with another layer: new faders for it (the old master is replaced)
    server.set_show({**desc, "title": "Layered", "layers": [*desc["layers"], 9]})
    page.locator("#f-l9-opacity").wait_for()
    assert page.evaluate(same) == [False, True]
