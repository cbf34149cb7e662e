"""Splat variations on the desk: an orbit preview rendered once on the desk's GL thread,
served as an animated WebP, shown on hover in a real browser (Debian's chromium)."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence
from tiny_models import write_show

from app.cli import main
from app.desk.auth import Access
from app.desk.orbit import FRAMES
from app.desk.server import DeskServer
from app.desk.store import DeskStore
from app.generate.curation.catalog import variations_dir
from app.generate.errors import GenerateError
from app.media.splat_demo import make_demo_scene
from app.render.splat_views import orbit_offsets
from app.show.loader import load_show
from app.show.model import CameraLimits

CHROMIUM = "/usr/bin/chromium"
# the room.ply cell's picture has loaded from a URL containing %s
SHOWS = (
    "(() => { const i = document.querySelector(\"#grid .cell[data-id='room.ply'] img\");"
    " return i && i.src.includes('%s') && i.complete && i.naturalWidth === 256; })()"
)
SHOW = """
title: Orbit
output: {width: 64, height: 36, fps: 10}
generate: {width: 96, height: 64, steps: 2}
poems:
  - id: "1"
    title: One
    cues:
      - id: "1.1"
        media: g/1.1.png
        generate: {prompt: "a moonlit room", seed: 0}
      - id: "1.2"
        media: g/1.2.ply
        camera: {limits: {yaw: 20}}
"""


def test_orbit_offsets_loop_within_the_limits() -> None:
    limits = CameraLimits(yaw=20.0, pitch=5.0)
    offsets = orbit_offsets(24, limits)
    assert len(offsets) == 24
    assert offsets[0].yaw == 0.0 and offsets[0].pitch == 0.0
    yaws = [o.yaw for o in offsets]
    assert max(yaws) == pytest.approx(20.0) and min(yaws) == pytest.approx(-20.0)
    assert all(abs(o.pitch) <= 5.0 for o in offsets)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DeskStore]:
    path = write_show(tmp_path, SHOW)
    assert main(["generate", str(path), "--backend", "placeholder", "--only", "1.1"]) == 0
    show = load_show(path, allow_missing=True)
    folder = variations_dir(show.media_root, "1.2")
    folder.mkdir(parents=True)
    still = show.media_root / "g" / "1.1.png"
    for name, depth in (("room.ply", "room"), ("dome.ply", "dome")):
        make_demo_scene(still, folder / name, depth=depth, size=48, layers=1)
    desk = DeskStore(show)
    yield desk
    desk.close()


def _frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as im:
        assert im.format == "WEBP"
        return [np.asarray(f.convert("RGB"), dtype=np.float32) for f in ImageSequence.Iterator(im)]


def test_an_orbit_is_rendered_once_and_moves(store: DeskStore) -> None:
    webp, jpeg = store.orbit("1.2", "room.ply")
    frames = _frames(webp)
    assert len(frames) == FRAMES
    assert frames[0].shape == (144, 256, 3)  # the desk's thumbnail width, the show's aspect
    assert frames[0].mean() > 20.0  # the scene is drawn, not black
    # a quarter of the loop later the camera has swung to the side: the picture changed
    assert np.abs(frames[FRAMES // 4] - frames[0]).mean() > 3.0
    # the loop comes back: its last frame is close to its first (the camera is near home)
    assert np.abs(frames[-1] - frames[0]).mean() < np.abs(frames[FRAMES // 4] - frames[0]).mean()
    with Image.open(jpeg) as im:
        first = np.asarray(im.convert("RGB"), dtype=np.float32)
    assert np.abs(first - frames[0]).mean() < 6.0  # the thumbnail is the orbit's first frame
    assert store.thumbnail("1.2", "room.ply") == jpeg
    stamps = webp.stat().st_mtime_ns, jpeg.stat().st_mtime_ns
    assert store.orbit("1.2", "room.ply") == (webp, jpeg)
    assert (webp.stat().st_mtime_ns, jpeg.stat().st_mtime_ns) == stamps  # not rendered again
    other, _ = store.orbit("1.2", "dome.ply")
    assert np.abs(_frames(other)[0] - frames[0]).mean() > 1.0  # another scene, another picture


def test_a_changed_scene_is_rendered_again_and_a_broken_one_is_named(store: DeskStore) -> None:
    webp, _ = store.orbit("1.2", "room.ply")
    before = _frames(webp)[0]
    scene = store.variation("1.2", "room.ply").path
    still = store.root / "g" / "1.1.png"
    make_demo_scene(still, scene, depth="dome", size=48, layers=1, seed=4)
    os.utime(scene, ns=(webp.stat().st_mtime_ns + 1, webp.stat().st_mtime_ns + 1))
    again, _ = store.orbit("1.2", "room.ply")
    assert np.abs(_frames(again)[0] - before).mean() > 1.0
    scene.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 9\nend_header\n")
    with pytest.raises(GenerateError, match=r"1\.2: cannot preview .*room\.ply"):
        store.orbit("1.2", "room.ply")
    flat = variations_dir(store.root, "1.1") / "seed-0.png"
    flat.parent.mkdir(parents=True, exist_ok=True)
    flat.write_bytes(still.read_bytes())
    with pytest.raises(GenerateError, match="seed-0.png is not a splat scene"):
        store.orbit("1.1", "seed-0.png")
    # the renderer survives a broken scene: the next one still renders
    assert len(_frames(store.orbit("1.2", "dome.ply")[0])) == FRAMES


def _get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.status, resp.headers.get("Content-Type", ""), resp.read()


def test_the_page_shows_the_orbit_on_hover(store: DeskStore) -> None:
    from playwright.sync_api import sync_playwright

    server = DeskServer(store, Access(), make_backend=lambda: None).start()
    try:
        url = server.url()
        token = url.split("token=")[1]
        status, kind, body = _get(
            f"http://127.0.0.1:{server.port}/orbit/1.2/room.ply?token={token}"
        )
        assert status == 200 and kind == "image/webp" and body[8:12] == b"WEBP"
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(url)
            page.wait_for_selector("body[data-ready='1']")
            page.select_option("#cue", "1.2")
            page.wait_for_function("document.body.dataset.count === '2'")
            cell = page.locator("#grid .cell[data-id='room.ply']")
            img = cell.locator("img")
            page.wait_for_function(SHOWS % "/thumb/")
            cell.hover()
            page.wait_for_function(SHOWS % "/orbit/")
            page.mouse.move(2, 2)
            page.wait_for_function(
                "document.querySelector(\"#grid .cell[data-id='room.ply'] img\")"
                ".src.includes('/thumb/')"
            )
            assert img.count() == 1
            # the large view of a splat variation is its orbit
            page.wait_for_function(
                "[...document.querySelectorAll('#panes img')].some(i => i.src.includes('/orbit/'))"
            )
            browser.close()
    finally:
        server.stop()


def test_the_console_draws_a_splat_cues_thumbnail(ctx: object, store: DeskStore) -> None:
    """The console's thumbnail of a splat cue is the same base view as the orbit's first
    frame (both read back through `render_views`)."""
    from app.media.splats import load_splats
    from app.web.thumbs import SplatJob, render_splat_thumbnail

    cue = store.cue("1.2")
    path = store.variation("1.2", "room.ply").path
    pixels = render_splat_thumbnail(ctx, SplatJob(0, cue, "k", load_splats(path)), 256, 144)
    assert pixels.shape == (144, 256, 3) and pixels.mean() > 20.0
    first = _frames(store.orbit("1.2", "room.ply")[0])[0]
    assert np.abs(first - pixels.astype(np.float32)).mean() < 4.0  # WebP is lossy
