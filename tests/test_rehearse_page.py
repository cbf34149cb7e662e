"""The rehearsal page in a real browser (Debian's chromium, Playwright) against a real `play
--reference` playing through a PulseAudio null sink: the position runs, pause stops it, a
click on the waveform seeks, a dragged cue mark retimes its cue in the cue-times file, and
the console links to the page."""

from __future__ import annotations

import os
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from audio_server import audio_server
from web_helpers import CHROMIUM, Play, need_chromium, wait_for

from app.rehearse.cuetimes import RecordingTimes, cuetimes_path, read_recording, write_recording

OUTPUT = Path(__file__).resolve().parent / "output"
DOCS = Path(__file__).resolve().parent.parent / "docs"
RATE = 22050
LENGTH = 60.0  # seconds of recording: long enough that it never ends during the test

pytestmark = pytest.mark.slow


def _show(folder: Path) -> Path:
    from PIL import Image

    media = folder / "media"
    media.mkdir()
    Image.new("RGB", (16, 9), (200, 40, 40)).save(media / "a.png")
    Image.new("RGB", (16, 9), (40, 40, 200)).save(media / "b.png")
    show = folder / "show.yaml"
    show.write_text(
        "title: Rehearse page\n"
        "output: {width: 32, height: 18, fps: 30}\n"
        "media_root: media\n"
        "reference: rec.wav\n"  # the show names its recording: no --reference needed
        "poems:\n"
        '  - id: "1"\n    cues:\n      - {id: "1.1", media: a.png}\n'
        '      - {id: "1.2", media: b.png}\n'
        '  - id: "2"\n    cues:\n      - {id: "2.1", media: a.png}\n'
    )
    t = np.arange(int(LENGTH * RATE)) / RATE
    # a louder second half: the waveform strip is not flat
    level = np.where(t < LENGTH / 2, 0.1, 0.6)
    tone = (level * np.sin(2 * np.pi * 330 * t) * 32767).astype(np.int16)
    with wave.open(str(folder / "rec.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(tone.tobytes())
    times = RecordingTimes("rec.wav").with_time("1.1", 10.0).with_time("1.2", 20.0)
    write_recording(cuetimes_path(show), times.with_time("2.1", 40.0))
    return show


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def rehearsal(tmp_path: Path) -> Iterator[tuple[Play, Path]]:
    with audio_server(tmp_path / "pulse") as env:
        show = _show(tmp_path)
        play = Play(show, tmp_path / "run.jsonl", cache=tmp_path / "cache", env=env)
        try:
            yield play, show
        finally:
            play.stop()


def _rehearsal(play: Play) -> dict[str, Any]:
    return play.state()["state"]["rehearsal"]


def test_rehearse_page_transport_seek_and_retime(
    browser: Any, rehearsal: tuple[Play, Path]
) -> None:
    play, show = rehearsal
    page = browser.new_context(viewport={"width": 1300, "height": 800}).new_page()
    page.goto(play.url)  # the console stores the token; its link opens the page
    page.get_by_text("online").wait_for(timeout=30000)
    page.click("#rehearse-link")
    page.wait_for_url("**/static/rehearse.html")
    page.get_by_text("online").wait_for(timeout=30000)
    page.locator("#state", has_text="playing").wait_for(timeout=60000)
    assert page.locator("#next-cue").inner_text() == "1.1"
    assert page.locator("#next-at").inner_text() == "0:10.0"
    wait_for(lambda: _rehearsal(play)["position"] > 0.5, 60, "the recording to play")
    r = _rehearsal(play)
    assert r["duration"] == pytest.approx(LENGTH, abs=0.01)
    assert r["marks"] == [
        {"cue": "1.1", "at": 10.0},
        {"cue": "1.2", "at": 20.0},
        {"cue": "2.1", "at": 40.0},
    ]
    assert len(r["peaks"]) > 100

    # pause: the position stops, and the page says so
    page.click("#toggle")
    page.locator("#state", has_text="paused").wait_for(timeout=30000)
    held = wait_for(lambda: (s := _rehearsal(play)) and not s["playing"] and s, 30, "paused")
    assert _rehearsal(play)["position"] == held["position"]

    # a click at 3/4 of the strip seeks there (paused: it stays there)
    strip = page.locator("#strip")
    box = strip.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.click(box["x"] + box["width"] * 0.75, y)
    wait_for(
        lambda: abs(_rehearsal(play)["position"] - 0.75 * LENGTH) < 0.1,
        30,
        "the seek to 45 s",
    )
    # the page shows it once the show's next state reaches it (not at once: a wait, not a read)
    page.locator("#countdown", has_text="late 35.0 s").wait_for(timeout=30000)  # 1.1 at 10 s
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "rehearse.png")
    if os.environ.get("UPDATE_DOCS") == "1":  # the picture of docs/rehearsal-reference.md
        shutil.copyfile(OUTPUT / "rehearse.png", DOCS / "rehearse.png")

    # drag cue 1.2's mark from 20 s to 25 s: the cue-times file has it
    x20 = box["x"] + box["width"] * 20 / LENGTH
    x25 = box["x"] + box["width"] * 25 / LENGTH
    page.mouse.move(x20, y)
    page.mouse.down()
    page.mouse.move((x20 + x25) / 2, y)
    page.mouse.move(x25, y)
    page.mouse.up()

    def retimed() -> float | None:
        at = read_recording(show, show.parent / "rec.wav").at("1.2")
        return at if at is not None and at != 20.0 else None

    at = wait_for(retimed, 30, "cue 1.2 retimed in the file")
    assert at == pytest.approx(25.0, abs=LENGTH / box["width"] * 2)  # within 2 pixels
    assert wait_for(
        lambda: [m for m in _rehearsal(play)["marks"] if m["cue"] == "1.2"][0]["at"] == at
    )
    assert any(r.get("event") == "cuetime" and r["cue"] == "1.2" for r in play.records())
    # the pause held through all of it: the show clock did not move
    assert _rehearsal(play)["position"] == pytest.approx(0.75 * LENGTH, abs=0.1)
    # on a phone every transport label is read whole (wrapped in its button, not cut short)
    page.set_viewport_size({"width": 390, "height": 844})
    cut = page.evaluate(
        "[...document.querySelectorAll('section[aria-label=Transport] button')]"
        ".filter((b) => b.scrollWidth > b.clientWidth).map((b) => b.id)"
    )
    assert cut == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.context.close()
