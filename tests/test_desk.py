"""The picking desk in a real browser (Debian's chromium through Playwright): a cue with 200
placeholder variations, keys, ratings, rejection, a pick that a running headless `play`
reloads, "more like this", compare with synced zoom; a screenshot is kept as an artefact."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from waiting import wait_until

from app.generate.backends import make_backend
from app.generate.curation.grid import cells_for, make_grid_sheet, parse_axes
from app.generate.manifest import Manifest
from app.generate.plan import plan_show, variation_jobs
from app.generate.runner import Runner
from app.show.loader import load_show

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
CHROMIUM = "/usr/bin/chromium"
COUNT = 200
SHOW = """
title: Desk test
output: {width: 64, height: 36, fps: 10}
generate: {width: 160, height: 96, steps: 2}
poems:
  - id: "1"
    title: Mondestrunken
    part: 1
    cues:
      - id: "1.1"
        media: gen/1.1.png
        generate: {prompt: "the moon, drunk with wine", seed: 0}
      - id: "1.2"
        media: gen/1.2.png
        generate: {prompt: "a pale laundress", seed: 3}
      - id: "1.3"
        media: gen/1.3.mp4
        generate: {prompt: "a slow tide", seed: 0, from: "1.1", fps: 8}
      - id: "1.4"
        media: gen/1.4.png
        generate: {prompt: "a pale laundress by moonlight", seed: 0}
"""
TWIN_SEEDS = 6  # cue 1.4 has seed-0.png ... seed-5.png, as 1.1 has
LONG_PROMPT = "a pale laundress washing the moonlit linen at the silver river, slowly"


class _Deferred(Manifest):
    """Saves once at the end: the fixture makes 200 files, not 200 manifest rewrites."""

    def save(self) -> None:
        pass


def _make_show(folder: Path) -> Path:
    (folder / "show").mkdir(parents=True)
    path = folder / "show" / "show.yaml"
    path.write_text(SHOW, encoding="utf-8")
    show = load_show(path, allow_missing=True)
    axes = parse_axes(["guidance=2,8", "steps=2,4"])
    cells, grid = cells_for(show, "1.2", axes, [3])
    jobs = plan_show(show, sweeps=False) + variation_jobs(show, "1.1", range(COUNT))
    jobs += grid + variation_jobs(show, "1.3", range(2))
    jobs += variation_jobs(show, "1.4", range(TWIN_SEEDS))
    long_axes = parse_axes([f"prompt={LONG_PROMPT}|a pale laundress", "guidance=2,8"])
    long_cells, long_grid = cells_for(show, "1.4", long_axes, [3])
    jobs += long_grid
    manifest = _Deferred.load(show.media_root)
    runner = Runner(
        show, make_backend("placeholder"), manifest, out=io.StringIO(), err=io.StringIO()
    )
    assert runner.run(jobs).exit_code == 0
    Manifest.save(manifest)
    make_grid_sheet(cells, axes, [3], cells[0].job.output.parent / "sheets", title="1.2")
    return path


def _wait_line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(prefix):
            return line[len(prefix) :].strip()
    raise AssertionError(f"the process ended without printing '{prefix}': {proc.wait()}")


def _records(log: Path, event: str) -> list[dict[str, Any]]:
    if not log.is_file():
        return []
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # the line being written
        if rec.get("event") == event:
            out.append(rec)
    return out


def _until(what: str, check: Any, timeout: float = 60.0) -> Any:
    """Wait for a file-side effect of a running process (the page side uses Playwright)."""
    return wait_until(check, timeout, what, interval=0.05)


@pytest.fixture(scope="module")
def desk() -> Iterator[dict[str, Any]]:
    """The show, a desk and a headless play on it, and one browser page on the desk."""
    from playwright.sync_api import sync_playwright

    base = Path(
        tempfile.mkdtemp(prefix="desk-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    )
    procs: list[subprocess.Popen[str]] = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    try:
        show = _make_show(base)
        log = base / "play.jsonl"
        cmd = [sys.executable, "-m", "app"]
        play = subprocess.Popen(
            [*cmd, "play", str(show), "--headless", "--no-osc", "--no-gamepad", "--quiet"]
            + ["--event-log", str(log)],
            cwd=ROOT,
            env=env,
            text=True,
        )
        procs.append(play)
        server = subprocess.Popen(
            [*cmd, "desk", str(show), "--port", "0", "--backend", "placeholder"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        procs.append(server)
        url = _wait_line(server, "desk: ")
        view_url = _wait_line(server, "desk (view only): ")
        _until("play's first frame", lambda: _records(log, "frame"))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1500, "height": 900})
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_selector("body[data-socket='open']")
            yield {
                "page": page,
                "show": show,
                "url": url,
                "view_url": view_url,
                "log": log,
                "base": base,
            }
            browser.close()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=20)
        shutil.rmtree(base, ignore_errors=True)


def _current(page: Any) -> str:
    return page.evaluate("document.body.dataset.current")


def _press_and_wait_status(page: Any, key: str, text: str) -> None:
    page.keyboard.press(key)
    page.wait_for_function(
        "t => document.getElementById('status').textContent.includes(t)", arg=text
    )


def test_grid_is_windowed_and_arrows_move(desk: dict[str, Any]) -> None:
    page = desk["page"]
    assert page.evaluate("document.body.dataset.count") == str(COUNT)
    cells = page.locator("#grid .cell").count()
    assert 0 < cells < COUNT / 2, "only the visible rows are in the page"
    assert _current(page) == "seed-0.png"
    cols = page.evaluate("Math.floor((document.getElementById('grid').clientWidth - 8) / 172)")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowDown")
    assert _current(page) == f"seed-{2 + cols}.png"
    for _ in range(15):
        page.keyboard.press("ArrowDown")
    far = 2 + 16 * cols
    assert _current(page) == f"seed-{far}.png"
    assert page.locator(f"#grid .cell.cursor[data-id='seed-{far}.png']").count() == 1
    assert page.locator("#grid .cell").count() < COUNT / 2
    params = page.locator("#parameters").text_content()
    assert f"Seed: {far}," in params and "the moon" in params
    for _ in range(16):
        page.keyboard.press("ArrowUp")
    assert _current(page) == "seed-2.png"


def test_rate_and_reject_are_kept_beside_the_picks(desk: dict[str, Any]) -> None:
    page, show = desk["page"], desk["show"]
    ratings = show.with_name("show.ratings.yaml")
    _press_and_wait_status(page, "4", "\u2605\u2605\u2605\u2605\u2606")
    data = yaml.safe_load(ratings.read_text())
    assert data["ratings"]["1.1"]["seed-2.png"] == {"rating": 4}
    page.keyboard.press("ArrowRight")
    _press_and_wait_status(page, "x", "rejected")
    data = yaml.safe_load(ratings.read_text())
    assert data["ratings"]["1.1"]["seed-3.png"] == {"rejected": True}
    # rejected variations are hidden by default: the cursor is on the next one
    page.wait_for_function(f"document.body.dataset.count === '{COUNT - 1}'")
    assert _current(page) == "seed-4.png"
    page.select_option("#f-rating", "4")
    page.wait_for_function("document.body.dataset.count === '1'")
    assert _current(page) == "seed-2.png"
    page.select_option("#f-rating", "0")
    page.wait_for_function(f"document.body.dataset.count === '{COUNT - 1}'")


def test_pick_writes_picks_media_and_a_running_play_reloads(desk: dict[str, Any]) -> None:
    page, show, log = desk["page"], desk["show"], desk["log"]
    page.fill("#f-seed", "17")
    page.wait_for_function("document.body.dataset.current === 'seed-17.png'")
    page.locator("#grid").focus()
    _press_and_wait_status(page, "Enter", "picked seed-17.png")
    picks = yaml.safe_load(show.with_name("show.picks.yaml").read_text())
    assert picks["picks"] == {"1.1": 17}
    assert picks["variations"] == {"1.1": "seed-17.png"}
    media = desk["base"] / "media"
    picked = media / "gen" / "1.1.png"
    source = media / ".generate" / "variations" / "1.1" / "seed-17.png"
    assert picked.read_bytes() == source.read_bytes()
    entry = Manifest.load(media).get(picked)
    assert entry is not None and entry["seed"] == 17 and entry["variation"] is False
    # 1.1 is in standby in the running play (not live): it reopens the new file
    reloaded = _until("play to reload cue 1.1", lambda: _records(log, "media"))
    assert (
        reloaded[-1]["cue"] == "1.1"
        and f"({source.stat().st_size} bytes)" in reloaded[-1]["message"]
    )
    assert page.locator("#grid .cell.picked[data-id='seed-17.png']").count() == 1
    page.fill("#f-seed", "")
    page.locator("#grid").focus()


def test_pick_of_a_deleted_variation_is_refused(desk: dict[str, Any]) -> None:
    page, show = desk["page"], desk["show"]
    before = show.with_name("show.picks.yaml").read_text()
    (desk["base"] / "media/.generate/variations/1.1/seed-5.png").unlink()
    reply = page.evaluate(
        """async () => { const r = await fetch('/api/cues/1.1/pick', {method: 'POST',
           headers: {'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}`},
           body: JSON.stringify({id: 'seed-5.png'})});
           return [r.status, (await r.json()).error]; }"""
    )
    assert reply[0] == 409 and "seed-5.png was deleted" in reply[1]
    assert show.with_name("show.picks.yaml").read_text() == before
    second = subprocess.run(
        [sys.executable, "-m", "app", "desk", str(show), "--port", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2 and "a desk is already open on this show" in second.stderr


def _http(url: str, method: str = "GET", body: bytes | None = None, **headers: str) -> int:
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_access_follows_the_console_rules(desk: dict[str, Any]) -> None:
    base, _, token = desk["url"].partition("/?token=")
    view = desk["view_url"].partition("/?token=")[2]
    body = json.dumps({"id": "seed-9.png", "rating": 2}).encode()
    mark = f"{base}/api/cues/1.1/mark"
    assert _http(f"{base}/") == 200  # the page itself carries no data
    assert _http(f"{base}/api/cues") == 401
    assert _http(f"{base}/api/cues?token=wrong") == 401
    assert _http(f"{base}/api/cues?token={view}") == 200
    assert _http(f"{base}/thumb/1.1/seed-9.png?token={view}") == 200
    assert _http(mark, "POST", body, Authorization=f"Bearer {view}") == 403
    evil = {"Authorization": f"Bearer {token}", "Origin": "http://example.com"}
    assert _http(mark, "POST", body, **evil) == 403
    ratings = yaml.safe_load(desk["show"].with_name("show.ratings.yaml").read_text())
    assert "seed-9.png" not in ratings["ratings"]["1.1"]


def test_more_like_this_appears_when_done(desk: dict[str, Any]) -> None:
    page = desk["page"]
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("body[data-socket='open']")
    shown = int(page.evaluate("document.body.dataset.count"))  # seed-5 deleted, seed-3 hidden
    page.keyboard.press("m")
    page.wait_for_function("document.getElementById('jobs').textContent.includes('8/8 done')")
    page.wait_for_function(f"document.body.dataset.count === '{shown + 8}'")
    folder = desk["base"] / "media/.generate/variations/1.1"
    assert all((folder / f"seed-{s}.png").is_file() for s in range(COUNT, COUNT + 8))
    page.fill("#f-seed", str(COUNT + 7))
    page.wait_for_function(f"document.body.dataset.current === 'seed-{COUNT + 7}.png'")
    page.fill("#f-seed", "")
    page.locator("#grid").focus()


def _choose_cue(page: Any, cue: str) -> None:
    page.select_option("#cue", cue)
    page.wait_for_function(f"document.body.dataset.cue === '{cue}'")
    page.locator("#grid").focus()


def test_grid_cells_their_values_and_sheet(desk: dict[str, Any]) -> None:
    page = desk["page"]
    _choose_cue(page, "1.2")
    assert page.evaluate("document.body.dataset.count") == "4"
    options = page.locator("#f-value option").all_text_contents()
    assert options == ["any", "guidance=2", "guidance=8", "steps=4"]
    page.select_option("#f-value", "guidance=8")
    page.wait_for_function("document.body.dataset.count === '2'")
    assert "guidance 8" in page.locator("#grid .cell.cursor .cap").text_content()
    assert "CFG scale: 8," in page.locator("#parameters").text_content()
    page.select_option("#f-value", "")
    page.locator("#sheets-box summary").click()
    page.wait_for_function(
        "[...document.querySelectorAll('#sheets img')].some(i => i.complete && i.naturalWidth > 0)"
    )


def test_videos_play_on_hover(desk: dict[str, Any]) -> None:
    page = desk["page"]
    _choose_cue(page, "1.3")
    assert page.evaluate("document.body.dataset.count") == "2"
    cell = page.locator("#grid .cell[data-id='seed-1.mp4']")
    assert cell.locator("img").count() == 1
    cell.hover()
    page.wait_for_function(
        "(() => { const v = document.querySelector(\"#grid .cell[data-id='seed-1.mp4'] video\");"
        " return v && v.readyState >= 2 && !v.paused; })()"
    )
    page.mouse.move(5, 5)
    page.wait_for_function(
        "document.querySelector(\"#grid .cell[data-id='seed-1.mp4'] img\") !== null"
    )
    _choose_cue(page, "1.1")


def test_compare_two_with_synced_zoom_and_screenshot(desk: dict[str, Any]) -> None:
    page = desk["page"]
    page.keyboard.press("Home")
    page.keyboard.press(" ")
    page.keyboard.press("ArrowRight")
    page.keyboard.press(" ")
    page.keyboard.press("c")
    page.wait_for_selector("#panes.n2")
    assert page.locator("#panes .pane").count() == 2
    page.locator("#panes").hover()
    page.mouse.wheel(0, -100)
    page.wait_for_function("document.getElementById('panes').dataset.zoom === '1.200'")
    transforms = page.evaluate(
        "[...document.querySelectorAll('#panes img')].map(i => i.style.transform)"
    )
    assert len(set(transforms)) == 1 and "scale(1.2)" in transforms[0]
    page.evaluate("Promise.all([...document.images].map(i => i.decode().catch(() => null)))")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "desk.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000


_SAME_PICTURE = """async ([cue, name, other]) => {
  const cell = document.querySelector(`#grid .cell[data-id='${name}']`);
  const img = cell.querySelector("img");
  await img.decode();
  const pixels = (im) => {
    const c = document.createElement("canvas");
    c.width = im.naturalWidth; c.height = im.naturalHeight;
    const g = c.getContext("2d");
    g.drawImage(im, 0, 0);
    return Array.from(g.getImageData(0, 0, c.width, c.height).data);
  };
  const fetched = async (c) => {
    const im = new Image();
    im.src = `/thumb/${c}/${name}?token=${encodeURIComponent(TOKEN)}`;
    await im.decode();
    return pixels(im);
  };
  const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
  const shown = pixels(img), own = await fetched(cue), theirs = await fetched(other);
  return {cue: cell.dataset.cue, path: new URL(img.src).pathname,
          own: same(shown, own), other: same(shown, theirs), differ: !same(own, theirs)};
}"""


def test_switching_cues_shows_each_cues_own_thumbnails(desk: dict[str, Any]) -> None:
    """1.1 and 1.4 both have seed-0.png ... seed-5.png: after each switch every cell shows
    the picture of the cue chosen, read back from the page's own pixels."""
    page = desk["page"]
    for cue, other in (("1.1", "1.4"), ("1.4", "1.1"), ("1.1", "1.4")):
        _choose_cue(page, cue)
        # the cells are drawn with the cue's list (body[data-cue] is set just before)
        cells = page.evaluate(
            "[...document.querySelectorAll('#grid .cell')].map(c => c.dataset.cue)"
        )
        assert cells and set(cells) == {cue}
        for seed in (0, 1, 2, 4):  # in 1.1, seed-3 is rejected (hidden) and seed-5 deleted
            name = f"seed-{seed}.png"
            seen = page.evaluate(_SAME_PICTURE, [cue, name, other])
            assert seen["differ"], "the two cues' thumbnails must differ for this test"
            assert seen == {
                "cue": cue,
                "path": f"/thumb/{cue}/{name}",
                "own": True,
                "other": False,
                "differ": True,
            }, (cue, name)


def test_grid_captions_show_every_swept_value(desk: dict[str, Any]) -> None:
    page = desk["page"]
    _choose_cue(page, "1.4")
    caps = page.evaluate(
        """[...document.querySelectorAll('#grid .cell')].map(cell => {
             const cap = cell.querySelector('.cap'), c = cap.getBoundingClientRect();
             const box = cell.getBoundingClientRect();
             return {text: cap.textContent, inside: c.bottom <= box.bottom + 0.5
                     && c.right <= box.right + 0.5 && cap.scrollWidth <= cap.clientWidth};
           })"""
    )
    long = [c for c in caps if LONG_PROMPT in c["text"]]
    assert len(long) == 2  # guidance 2 and 8: the whole prompt, on several lines
    assert all("guidance" in c["text"] for c in long)
    assert all(c["inside"] for c in caps), [c for c in caps if not c["inside"]]
    page.evaluate("Promise.all([...document.images].map(i => i.decode().catch(() => null)))")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "desk-captions.png"))


def test_compare_panes_say_loading_until_the_pictures_arrive(desk: dict[str, Any]) -> None:
    from playwright.sync_api import Error as PlaywrightError

    page = desk["page"]
    _choose_cue(page, "1.4")
    held: list[Any] = []
    holding = [True]

    def hold(route: Any) -> None:
        if holding[0]:
            held.append(route)
        else:
            route.continue_()

    page.route("**/media/1.4/**", hold)
    try:
        page.keyboard.press("Home")
        page.keyboard.press(" ")
        page.keyboard.press("ArrowRight")
        page.keyboard.press(" ")
        page.keyboard.press("c")
        page.wait_for_selector("#panes.n2")
        page.wait_for_function("document.getElementById('panes').dataset.loading === '2'")
        waits = page.locator("#panes .pane .wait")
        assert waits.all_text_contents() == ["loading seed-0.png\u2026", "loading seed-1.png\u2026"]
        assert waits.first.is_visible()
        holding[0] = False
        for route in held:
            try:
                route.continue_()
            except PlaywrightError:
                pass  # a request the page dropped when it replaced the single view
        page.wait_for_function("document.getElementById('panes').dataset.loading === '0'")
        assert page.locator("#panes .pane .wait").count() == 0
        assert page.evaluate(
            "[...document.querySelectorAll('#panes img')].every(i => i.complete && i.naturalWidth)"
        )
    finally:
        page.unroute("**/media/1.4/**")
    page.keyboard.press("c")


def test_pick_then_undo_restores_the_picks_file(desk: dict[str, Any]) -> None:
    page, show = desk["page"], desk["show"]
    _choose_cue(page, "1.4")
    picks = show.with_name("show.picks.yaml")
    before = picks.read_text(encoding="utf-8")
    media = desk["base"] / "media" / "gen" / "1.4.png"
    media_before = media.read_bytes()
    source = desk["base"] / "media" / ".generate" / "variations" / "1.4" / "seed-2.png"
    page.keyboard.press("Home")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert _current(page) == "seed-2.png"
    _press_and_wait_status(page, "Enter", "picked seed-2.png")
    assert yaml.safe_load(picks.read_text(encoding="utf-8"))["picks"]["1.4"] == 2
    assert media.read_bytes() == source.read_bytes() != media_before
    assert page.locator("#grid .cell.picked[data-id='seed-2.png']").count() == 1
    _press_and_wait_status(page, "u", "undid the pick of seed-2.png for cue 1.4")
    assert picks.read_text(encoding="utf-8") == before
    assert media.read_bytes() == media_before
    page.wait_for_function("document.querySelectorAll('#grid .cell.picked').length === 0")
