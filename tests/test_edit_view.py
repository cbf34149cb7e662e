"""The console's edit view (issue 26, point 2) in a real browser (Debian's chromium driven by
Playwright) against a real headless `play`: drag to reorder, change a fade, add a cue, undo.
The show file's diff touches only those lines, its comments and anchors survive, and the
running show follows (reload records in the event log, the console's description)."""

from __future__ import annotations

import difflib
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.show.edit import digest
from tests.web_helpers import CHROMIUM, Play, need_chromium, tiny_show, wait_for

SHOW = """# The edit view's test show: comments and an anchor must survive edits.
title: Edit   # the title
media_root: {media}
output: {{width: 64, height: 36, fps: 30}}
defaults: &defaults {{fade: 0, go_guard: 0}}
poems:
  - id: "1"
    title: Moon
    cues:
      # the opening
      - id: "1.1"   # red
        media: red.png
      - id: "1.2"
        media: blue.png
        notes: "bar 23"
      # green, on the cello
      - id: "1.3"
        media: green.png
      - id: "1.4"
        media: grey.png

  # the second poem
  - id: "2"
    title: Life
    cues:
      - id: "2.1"
        media: grey.png
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _reloads(play: Play) -> list[dict[str, Any]]:
    return [r for r in play.records() if r["event"] == "reload"]


def _changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """Lines removed and added by the diff from `before` to `after`."""
    removed, added = [], []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0):
        if line.startswith("-") and not line.startswith("---"):
            removed.append(line[1:])
        elif line.startswith("+") and not line.startswith("+++"):
            added.append(line[1:])
    return removed, added


def _cue_order(play: Play) -> list[str]:
    return [c["id"] for c in play.state()["show"]["poems"][0]["cues"]]


def test_the_edit_view_edits_the_file_and_the_show_follows(browser: Any, tmp_path: Path) -> None:
    path = tiny_show(tmp_path)
    (tmp_path / "media" / "white.png").write_bytes((tmp_path / "media" / "grey.png").read_bytes())
    path.write_text(SHOW.format(media=tmp_path / "media"))
    original = path.read_text()
    play = Play(path, tmp_path / "run.jsonl", cache=tmp_path / "cache")
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        page.goto(play.url)
        page.get_by_text("online").wait_for(timeout=30000)
        page.click("#edit-link")  # the console's link; the token stays in the tab
        page.locator("li.cue[data-id='1.4']").wait_for(timeout=30000)

        def posted(action: Any) -> dict[str, Any]:
            seen = len(_reloads(play))
            with page.expect_response(
                lambda r: "/api/edit" in r.url and r.request.method == "POST"
            ) as info:
                action()
            body = info.value.json()
            assert body["ok"], body
            return wait_for(lambda: _reloads(play)[seen:], 30.0, "the show reloading")[0]

        # drag 1.3 before 1.2
        before = path.read_text()
        rec = posted(lambda: page.drag_and_drop("li.cue[data-id='1.3']", "li.cue[data-id='1.2']"))
        assert rec["changes"] == ["cue order: 1.1 1.3 1.2 1.4 2.1"]
        removed, added = _changed_lines(before, path.read_text())
        block = ["      # green, on the cello", '      - id: "1.3"', "        media: green.png"]
        assert sorted(removed + added) == sorted(block + block)
        wait_for(
            lambda: _cue_order(play) == ["1.1", "1.3", "1.2", "1.4"], 10.0, "the console's order"
        )

        # change the fade of 1.2
        before = path.read_text()
        fade = page.locator("li.cue[data-id='1.2'] input.fade")
        fade.fill("2.5")
        rec = posted(lambda: fade.press("Tab"))
        assert rec["changes"] == ["cue 1.2: fade 0.0 -> 2.5"]
        assert _changed_lines(before, path.read_text()) == ([], ["        fade: 2.5"])
        wait_for(lambda: play.state()["show"]["poems"][0]["cues"][2]["fade"] == 2.5, 10.0, "fade")

        # add a cue from the media folder to poem 1
        before_add = path.read_text()
        section = page.locator("section.poem[data-poem='1']")
        section.locator("select.add-media").select_option("white.png")
        rec = posted(lambda: section.locator("button.add-cue").click())
        assert rec["changes"] == ["cue 1.5 added"]
        assert _changed_lines(before_add, path.read_text()) == (
            [],
            ['      - id: "1.5"', "        media: white.png"],
        )
        wait_for(
            lambda: _cue_order(play) == ["1.1", "1.3", "1.2", "1.4", "1.5"],
            10.0,
            "the console's order",
        )

        # undo the add: the file is as it was before it
        rec = posted(lambda: page.click("#undo"))
        assert rec["changes"] == ["cue 1.5 deleted"]
        assert path.read_text() == before_add
        wait_for(
            lambda: _cue_order(play) == ["1.1", "1.3", "1.2", "1.4"], 10.0, "the console's order"
        )

        # delete with undo
        rec = posted(lambda: page.click("li.cue[data-id='1.4'] button.delete"))
        assert rec["changes"] == ["cue 1.4 deleted"]
        rec = posted(lambda: page.click("#undo"))
        assert rec["changes"] == ["cue 1.4 added"] and path.read_text() == before_add

        # in all: only the moved lines and the fade line changed, comments and anchor kept
        final = path.read_text()
        removed, added = _changed_lines(original, final)
        assert sorted(removed + added) == sorted(block + block + ["        fade: 2.5"])
        for line in original.splitlines():
            if "#" in line or "&defaults" in line:
                assert line in final.splitlines()

        # an edit against a file changed on disk since is refused and the page reloads
        seen = len(_reloads(play))
        path.write_text(final.replace('notes: "bar 23"', 'notes: "bar 24"'))
        wait_for(lambda: len(_reloads(play)) > seen, 30.0, "the outside edit reloaded")
        changed = path.read_text()
        page.locator("li.cue[data-id='1.1'] input.fade").fill("9")
        with page.expect_response(lambda r: r.request.method == "POST") as info:
            page.locator("li.cue[data-id='1.1'] input.fade").press("Tab")
        assert info.value.status == 409
        page.wait_for_function(
            "document.querySelector(\"li.cue[data-id='1.2'] input.notes\")?.value === 'bar 24'"
        )
        assert path.read_text() == changed
    finally:
        page.context.close()
        play.stop()


def test_the_edit_routes_refuse_the_view_token_stale_digests_and_bad_input(
    tmp_path: Path,
) -> None:
    path = tiny_show(tmp_path)
    play = Play(path, tmp_path / "run.jsonl", cache=tmp_path / "cache")
    try:

        def call(token: str, body: Any = None) -> tuple[int, dict[str, Any]]:
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(
                f"{play.base}/api/edit?token={token}", data=data, method="POST" if data else "GET"
            )
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        assert call(play.view_token)[0] == 403
        status, shown = call(play.token)
        assert status == 200 and shown["digest"] == digest(path.read_text())
        edit = {"op": "set", "cue": "1.1", "field": "fade", "value": 2, "digest": "0" * 64}
        assert call(play.token, edit)[0] == 409
        for bad in (
            {"op": "set", "cue": "1.1", "field": "fade", "value": -1},
            {"op": "set", "cue": "1.1", "field": "media", "value": "x.png"},
            {"op": "add", "poem": "1", "media": "../../etc/passwd.png"},
            {"op": "move", "cue": "1.9", "poem": "1", "before": None},
            {"op": "set", "cue": "1.1", "field": "fade", "value": 1e400},
        ):
            status, body = call(play.token, {**bad, "digest": shown["digest"]})
            assert status == 400 and body["error"], bad
        assert call(play.view_token, {**edit, "digest": shown["digest"]})[0] == 403
        assert digest(path.read_text()) == shown["digest"]  # nothing was written
    finally:
        play.stop()


def test_moving_to_another_poem_and_curve_notes_follow(browser: Any, tmp_path: Path) -> None:
    path = tiny_show(tmp_path)
    path.write_text(SHOW.format(media=tmp_path / "media"))
    play = Play(path, tmp_path / "run.jsonl", cache=tmp_path / "cache")
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        page.goto(play.url)  # the console keeps the token for the tab
        page.get_by_text("online").wait_for(timeout=30000)
        page.goto(f"{play.base}/static/edit.html")
        page.locator("li.cue[data-id='2.1']").wait_for(timeout=30000)

        def posted(action: Any) -> dict[str, Any]:
            seen = len(_reloads(play))
            with page.expect_response(
                lambda r: "/api/edit" in r.url and r.request.method == "POST"
            ) as info:
                action()
            assert info.value.json()["ok"]
            return wait_for(lambda: _reloads(play)[seen:], 30.0, "the show reloading")[0]

        rec = posted(lambda: page.drag_and_drop("li.cue[data-id='2.1']", "li.cue[data-id='1.2']"))
        assert "cue 2.1 moved to poem 1" in rec["changes"]
        # onto the end of poem 2's (now empty of rows) list: back to poem 2
        ol = page.locator("section.poem[data-poem='2'] ol")
        box = ol.bounding_box()
        assert box is not None
        pos = {"x": box["width"] / 2, "y": box["height"] - 4}
        rec = posted(
            lambda: page.drag_and_drop(
                "li.cue[data-id='2.1']", "section.poem[data-poem='2'] ol", target_position=pos
            )
        )
        assert "cue 2.1 moved to poem 2" in rec["changes"]

        row = "li.cue[data-id='1.3']"
        rec = posted(lambda: page.select_option(f"{row} select.curve", "linear"))
        assert rec["changes"] == ["cue 1.3: curve smooth -> linear"]
        page.fill(f"{row} input.notes", "on the cello")
        rec = posted(lambda: page.press(f"{row} input.notes", "Tab"))
        assert rec["changes"] == ["cue 1.3: notes '' -> 'on the cello'"]
        page.select_option(f"{row} select.follow", "after")  # posts {after: 0}
        wait_for(lambda: "follow: {after: 0}" in path.read_text(), 30.0, "follow written")
        page.locator(f"{row} input.follow-after").wait_for()
        page.fill(f"{row} input.follow-after", "2")
        posted(lambda: page.press(f"{row} input.follow-after", "Tab"))
        wait_for(lambda: "follow: {after: 2}" in path.read_text(), 30.0, "follow written")
        text = path.read_text()
        assert (
            "        curve: linear\n        notes: on the cello\n        follow: {after: 2}\n"
            in text
        )
        assert "      # green, on the cello\n" in text and "  # the second poem\n" in text
        wait_for(
            lambda: play.state()["show"]["poems"][0]["cues"][2]["notes"] == "on the cello",
            10.0,
            "notes",
        )
        # on a phone the notes field takes a line of its own, wide enough to read, and the
        # delete button sits beside it, not over it
        page.set_viewport_size({"width": 390, "height": 844})
        field = page.locator(f"{row} input.notes").bounding_box()
        delete = page.locator(f"{row} button.delete").bounding_box()
        assert field is not None and delete is not None
        assert field["width"] >= 150, field
        assert field["x"] + field["width"] <= delete["x"] and delete["x"] + delete["width"] <= 390
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
    finally:
        page.context.close()
        play.stop()
