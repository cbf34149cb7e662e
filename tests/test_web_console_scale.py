"""The web console at the real show's scale (issue 22): `show/pierrot.yaml` with placeholder
media, and a generated show of 40 poems x 12 cues, at six screen sizes from a 360 px phone to
a 4K screen, in Debian's chromium. The document is never wider than the screen, the page
never scrolls, and GO, BACK, the standby steps, BLACKOUT, PANIC, master, the T-bar, the toasts
and the health line are on screen. Screenshots go to tests/output/ (and docs/ with
UPDATE_DOCS=1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.web_helpers import CHROMIUM, ROOT, Play, need_chromium, wait_for

OUTPUT = Path(__file__).resolve().parent / "output"
DOCS = ROOT / "docs"
# the six sizes, and a phone turned sideways
SIZES = [(360, 740), (390, 844), (820, 1180), (1024, 768), (1920, 1080), (3840, 2160), (844, 390)]
ALWAYS_ON_SCREEN = {
    "GO": "#go",
    "BACK": "#back",
    "cue <": "#prev-cue",
    "cue >": "#next-cue-btn",
    "poem <": "#prev-poem",
    "poem >": "#next-poem",
    "BLACKOUT": "#blackout",
    "PANIC": "#panic",
    "master": "#f-master",
    "T-bar": "#f-tbar",
    "LOCK": "#lock",
    "LIVE": "#live-cue",
    "health": "#health",
    "toasts": "#toasts",
}


def pierrot_with_placeholders(folder: Path) -> Path:
    """show/pierrot.yaml with its media root in `folder`, media drawn by the placeholder
    backend (seconds, no model)."""
    text = (ROOT / "show" / "pierrot.yaml").read_text(encoding="utf-8")
    show = folder / "pierrot.yaml"
    show.write_text(f"media_root: {folder / 'media'}\n" + text, encoding="utf-8")
    subprocess.run(
        [sys.executable, "-m", "app", "generate", str(show), "--backend", "placeholder"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=600,
    )
    return show


def big_show(folder: Path, poems: int = 40, cues: int = 12) -> Path:
    """A generated show of `poems` x `cues` small stills, with long German titles and notes."""
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    for k in range(4):
        rgb = (40 + 50 * k, 90, 160 - 30 * k)
        Image.fromarray(np.full((36, 64, 3), rgb, np.uint8)).save(media / f"s{k}.png")
    lines = [
        "title: Vierzig Gedichte über die Wäscherin und den Mond",
        f"media_root: {media}",
        "output: {width: 64, height: 36, fps: 30}",
        "defaults: {fade: 0.5, go_guard: 0}",
        "poems:",
    ]
    for p in range(1, poems + 1):
        lines += [
            f'  - id: "{p}"',
            f'    title: "Eine blasse Wäscherin, Gedicht Nummer {p} mit überlangem Titel"',
            f'    notes: "Poem {p}: langsam, mit dem Klavier; Blick zur Dirigentin"',
            "    cues:",
        ]
        for c in range(1, cues + 1):
            note = f"Einsatz der Flöte, Takt {c * 7}, nicht vor dem Fermate-Ende"
            lines.append(f'      - {{id: "{p}.{c}", media: s{c % 4}.png, notes: "{note}"}}')
    show = folder / "big.yaml"
    show.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return show


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module", params=["pierrot", "big"])
def play(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    folder = tmp_path_factory.mktemp(request.param)
    show = pierrot_with_placeholders(folder) if request.param == "pierrot" else big_show(folder)
    p = Play(show, folder / "run.jsonl", cache=folder / "cache")
    # standby deep in the show, so the poem strip must scroll to keep it in view
    poem = "18" if request.param == "pierrot" else "33"
    rest_command(p, "standby", {"poem": poem})
    wait_for(lambda: p.state()["state"]["standby"] is not None, message="a standby")

    def thumbnails() -> bool:  # the screenshots show the pictures, not placeholders
        shown = [q for q in p.state()["show"]["poems"] if q["id"] == poem]
        return bool(shown) and all(c["thumb"] for c in shown[0]["cues"])

    wait_for(thumbnails, timeout=300, message=f"the thumbnails of poem {poem}")
    yield request.param, poem, p
    p.stop()


def rest_command(play: Play, name: str, args: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps({"type": "command", "id": "t1", "name": name, "args": args}).encode()
    req = urllib.request.Request(
        f"{play.base}/api/command?token={play.token}", data=body, method="POST"
    )
    with urllib.request.urlopen(req, timeout=20) as r:
        reply = json.loads(r.read())
    assert reply.get("ok"), reply
    return reply


GEOMETRY = """(sel) => {
  const out = {vw: innerWidth, vh: innerHeight,
    docW: document.documentElement.scrollWidth, bodyW: document.body.scrollWidth,
    docH: document.documentElement.scrollHeight, boxes: {}};
  for (const [name, s] of Object.entries(sel)) {
    const el = document.querySelector(s);
    const r = el.getBoundingClientRect();
    const st = getComputedStyle(el);
    out.boxes[name] = {x: r.left, y: r.top, r: r.right, b: r.bottom, w: r.width, h: r.height,
      shown: st.display !== 'none' && st.visibility !== 'hidden'};
  }
  const strip = document.querySelector('#poems');
  const cur = strip.querySelector('button.current');
  const sr = strip.getBoundingClientRect();
  const cr = cur ? cur.getBoundingClientRect() : null;
  out.current = cur ? cur.dataset.poem : null;
  out.currentInStrip = !!cr && cr.left >= sr.left - 1 && cr.right <= sr.right + 1;
  return out;
}"""


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_console_fits_the_screen(browser: Any, play: Any, size: tuple[int, int]) -> None:
    name, poem, p = play
    w, h = size
    touch = w < 1100
    page = browser.new_context(
        viewport={"width": w, "height": h}, has_touch=touch, is_mobile=touch
    ).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(p.url)
        page.get_by_text("online").wait_for(timeout=30000)
        page.wait_for_function("!document.body.classList.contains('is-stale')", timeout=30000)
        page.locator("#next-cue", has_text=f"{poem}.1").wait_for()
        page.locator("#cues li.standby").wait_for()
        g = page.evaluate(GEOMETRY, ALWAYS_ON_SCREEN)
        assert g["vw"] == w and g["vh"] == h
        assert g["docW"] <= w and g["bodyW"] <= w, g
        assert g["docH"] <= h, g  # the page itself never scrolls: only its lists do
        for label, b in g["boxes"].items():
            assert b["shown"], label
            if label == "toasts":  # an empty box: only its place counts
                assert 0 <= b["x"] and b["r"] <= w and b["b"] <= h, (label, b)
                continue
            assert b["w"] > 0 and b["h"] > 0, (label, b)
            assert b["x"] >= 0 and b["y"] >= 0 and b["r"] <= w and b["b"] <= h, (label, b)
        for label in ("GO", "BACK", "PANIC", "BLACKOUT"):
            assert g["boxes"][label]["h"] >= 44, label  # a finger's size
        assert g["current"] == poem and g["currentInStrip"], g
        # the poem titles and cue names as the show file gives them
        assert page.locator("#poems button.current").inner_text().startswith(f"{poem} ")
        assert errors == []  # no script error on the page
        shot = OUTPUT / f"console-{name}-{w}x{h}.jpg"
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=shot, type="jpeg", quality=70)
        if os.environ.get("UPDATE_DOCS") == "1":
            DOCS.mkdir(exist_ok=True)
            shutil.copy(shot, DOCS / shot.name)
    finally:
        page.context.close()


def test_pierrot_titles_not_file_names(browser: Any, play: Any) -> None:
    name, poem, p = play
    page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    try:
        page.goto(p.url)
        page.wait_for_function("!document.body.classList.contains('is-stale')", timeout=30000)
        page.locator("#cues li.standby").wait_for()
        description = p.state()
        titles = {q["id"]: q["title"] for q in page.evaluate("() => show.poems")}
        assert titles[poem] in page.locator("#next-cue").inner_text()
        text = page.locator("main").inner_text()
        assert ".png" not in text and ".mp4" not in text and ".ply" not in text
        assert description["state"]["standby"] is not None
        if name == "pierrot":
            # a live video: its time left, counted from the show loop's clock
            rest_command(p, "standby", {"poem": "18", "cue": "18.2"})
            page.locator("#next-cue", has_text="18.2").wait_for()
            rest_command(p, "go", {})
            page.locator("#live-cue", has_text="18.2").wait_for()
            page.locator("#live-left", has_text="left").wait_for()
            page.locator("#cues li.live .state", has_text="left").wait_for()
    finally:
        page.context.close()
