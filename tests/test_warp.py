"""Four-corner warp: homography math, the venue file, the editor, and the shader's pixels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import moderngl
import numpy as np
import pytest
from xvfb import run_on_display, xvfb

from app.render.compositor import Compositor
from app.render.outputs import HeadlessOutput, KeyEvent
from app.render.textures import RgbaTexture
from app.render.warp import (
    UNIT_SQUARE,
    Venue,
    VenueError,
    Warp,
    WarpEditor,
    WarpError,
    homography,
    homography_between,
    load_venue,
    parse_monitor,
    save_venue,
)
from app.show.model import Fit

REPO = Path(__file__).resolve().parents[1]
KEYSTONE = ((0.12, 0.06), (0.9, 0.15), (0.96, 0.92), (0.04, 0.8))


# --- math -------------------------------------------------------------------------------


def test_homography_maps_the_unit_square_corners() -> None:
    h = homography(KEYSTONE)
    for (u, v), (x, y) in zip(UNIT_SQUARE, KEYSTONE, strict=True):
        q = h @ [u, v, 1.0]
        assert q[:2] / q[2] == pytest.approx([x, y], abs=1e-12)
    assert h[2, 2] == 1.0


def test_homography_known_points() -> None:
    # an affine case: scale by 2 and shift by (1, 3), the centre goes where affinity says
    h = homography_between(UNIT_SQUARE, [(1, 3), (3, 3), (3, 5), (1, 5)])
    assert h == pytest.approx(np.array([[2, 0, 1], [0, 2, 3], [0, 0, 1]]), abs=1e-12)
    # a true perspective: the square's centre lands where the quad's diagonals cross
    w = Warp(KEYSTONE)
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = KEYSTONE
    a = np.array([[x2 - x0, -(x3 - x1)], [y2 - y0, -(y3 - y1)]])
    s, _ = np.linalg.solve(a, [x1 - x0, y1 - y0])
    crossing = np.array([x0 + s * (x2 - x0), y0 + s * (y2 - y0)])
    assert w.to_output([0.5, 0.5]) == pytest.approx(crossing, abs=1e-12)
    # midpoints of an edge do not land at the middle of that edge (perspective), but on it
    top = w.to_output([0.5, 0.0])
    t = (top[0] - x0) / (x1 - x0)
    assert top[1] == pytest.approx(y0 + t * (y1 - y0), abs=1e-12)


def test_inverse_round_trip_and_identity() -> None:
    w = Warp(KEYSTONE)
    rng = np.random.default_rng(1)
    uv = rng.random((100, 2))
    assert w.to_source(w.to_output(uv)) == pytest.approx(uv, abs=1e-10)
    assert w.inverse @ w.matrix / (w.inverse @ w.matrix)[2, 2] == pytest.approx(np.eye(3))
    ident = Warp.identity()
    assert ident.is_identity and ident.matrix == pytest.approx(np.eye(3))
    assert ident.to_source(uv) == pytest.approx(uv)


def test_invalid_corners_are_refused() -> None:
    with pytest.raises(WarpError, match="four"):
        Warp(((0, 0), (1, 0), (1, 1)))  # type: ignore[arg-type]
    with pytest.raises(WarpError, match="convex"):
        Warp(((0, 0), (1, 1), (1, 0), (0, 1)))  # a bow tie
    with pytest.raises(WarpError, match="convex"):
        Warp(((0, 0), (1, 0), (0.2, 0.2), (0, 1)))  # a dent
    with pytest.raises(WarpError, match="finite"):
        Warp(((0, 0), (1, 0), (1, float("nan")), (0, 1)))
    mirrored = Warp(((1, 0), (0, 0), (0, 1), (1, 1)))  # rear projection
    assert mirrored.to_output([0.25, 0.5]) == pytest.approx([0.75, 0.5])


# --- venue file -------------------------------------------------------------------------


def test_venue_round_trip_is_atomic(tmp_path: Path) -> None:
    path = tmp_path / "venue.yaml"
    venue = Venue(Warp(KEYSTONE), output_monitor=1, operator_monitor="DELL")
    save_venue(path, venue)
    assert load_venue(path) == venue
    assert [p.name for p in tmp_path.iterdir()] == ["venue.yaml"]  # no temporary left
    text = path.read_text()
    assert "monitor: 1" in text and "corners:" in text and "DELL" in text
    assert load_venue(tmp_path / "none.yaml", missing_ok=True) == Venue()
    with pytest.raises(VenueError, match="no such venue file"):
        load_venue(tmp_path / "none.yaml")


def test_venue_problems_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "venue.yaml"
    path.write_text(
        "output: {monitor: [1], corners: [[0, 0], [1, 1], [1, 0], [0, 1]], colour: 3}\n"
        "operater: {}\n"
    )
    with pytest.raises(VenueError) as info:
        load_venue(path)
    text = str(info.value)
    assert "operater" in text and "colour" in text and "output.monitor" in text
    assert "output.corners" in text and "convex" in text
    assert all(line.startswith(str(path)) for line in text.splitlines())


def test_parse_monitor() -> None:
    assert parse_monitor("1") == 1 and parse_monitor(2) == 2
    assert parse_monitor("HDMI") == "HDMI" and parse_monitor(None) is None
    assert parse_monitor(" ") is None


# --- editor -----------------------------------------------------------------------------


def key(name: str, *mods: str, action: str = "press") -> KeyEvent:
    return KeyEvent(name, action, frozenset(mods))  # type: ignore[arg-type]


def test_editor_select_nudge_reset_save() -> None:
    ed = WarpEditor(width=100, height=50)
    assert ed.handle(key("right")) is None  # nothing selected: the key is not the editor's
    assert ed.handle(key("2")) == "select" and ed.selected == 1
    assert ed.handle(key("left")) == "nudge"
    assert ed.handle(key("down", "shift", action="repeat")) == "nudge"
    assert ed.warp.corners[1] == pytest.approx((0.99, 0.2))
    assert ed.warp.corners[0] == (0.0, 0.0)
    assert ed.handle(key("left", action="release")) is None
    assert ed.handle(key("f8")) == "reset" and ed.warp.is_identity
    assert ed.handle(key("f5")) == "save"
    assert ed.handle(key("x")) is None
    assert "top-right" in ed.describe()


def test_editor_refuses_a_fold() -> None:
    ed = WarpEditor(width=10, height=10, coarse_step=3)  # 0.3 per step with shift
    ed.handle(key("f1"))
    for name in ("right", "down", "right"):
        assert ed.handle(key(name, "shift")) == "nudge"
    assert ed.warp.corners[0] == pytest.approx((0.6, 0.3))
    # (0.6, 0.6) is past the diagonal from top-right to bottom-left: the quad would fold
    before = ed.warp
    assert ed.handle(key("down", "shift")) == "refused"
    assert ed.warp == before


def test_editor_in_show_mode_leaves_show_keys_alone() -> None:
    ed = WarpEditor(width=100, height=100, nudge_mod="shift", coarse_mod="ctrl",
                    function_keys_only=True)  # fmt: skip
    assert ed.handle(key("1")) is None
    assert ed.handle(key("f4")) == "select" and ed.selected == 3
    assert ed.handle(key("left")) is None  # plain arrows move the standby
    assert ed.handle(key("up", "shift")) == "nudge"
    assert ed.handle(key("up", "shift", "ctrl")) == "nudge"
    assert ed.handle(key("up", "alt", "shift")) is None
    assert ed.warp.corners[3] == pytest.approx((0.0, 1.0 - 0.11))
    assert ed.handle(key("f4")) == "deselect" and ed.selected is None
    assert ed.handle(key("up", "shift")) is None  # back to the show


# --- pixels -----------------------------------------------------------------------------

W, H = 96, 64


def corner_dots(w: int, h: int, size: int = 3) -> np.ndarray:
    img = np.zeros((h, w, 4), np.uint8)
    img[..., 3] = 255
    for ys in (slice(0, size), slice(h - size, h)):
        for xs in (slice(0, size), slice(w - size, w)):
            img[ys, xs, :3] = 255
    return img


def present(ctx: moderngl.Context, img: np.ndarray, warp: Warp | None) -> tuple[np.ndarray, ...]:
    h, w = img.shape[:2]
    out = HeadlessOutput(w, h, ctx=ctx, warp=warp)
    comp = Compositor(ctx, w, h)
    tex = RgbaTexture(ctx, img)
    try:
        out.begin_frame()
        comp.draw_image(tex, Fit.STRETCH, 1.0, out.fbo)
        out.end_frame()
        return out.read_pixels(), out.read_presented()
    finally:
        tex.release()
        comp.release()
        out.close()


def test_identity_warp_leaves_the_image_unchanged(ctx: moderngl.Context) -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (H, W, 4), dtype=np.uint8)
    img[..., 3] = 255
    show, presented = present(ctx, img, Warp.identity())
    assert np.array_equal(show, img[..., :3])
    assert np.array_equal(presented, show)


def test_corner_dots_land_on_the_configured_corners(ctx: moderngl.Context) -> None:
    warp = Warp(KEYSTONE)
    show, presented = present(ctx, corner_dots(W, H), warp)
    assert np.array_equal(show, corner_dots(W, H)[..., :3])  # read_pixels stays unwarped
    lum = presented.astype(float).mean(axis=2)
    ys, xs = np.nonzero(lum > 60)
    bright = np.stack([xs + 0.5, ys + 0.5], axis=1)  # pixel centres, output pixels
    for (cx, cy), (u, v) in zip(warp.corners, UNIT_SQUARE, strict=True):
        corner = np.array([cx * W, cy * H])
        near = bright[np.hypot(*(bright - corner).T) < 8]
        assert len(near) >= 2, f"no dot near corner {corner}"
        # the dot's outermost pixel holds the configured corner (within 1 px)
        assert np.hypot(*(near - corner).T).min() <= 1.0
        # and the dot's centre is where the homography sends the dot's centre
        centre_uv = [abs(u - 1.5 / W), abs(v - 1.5 / H)]
        expect = warp.to_output(centre_uv) * [W, H]
        weights = lum[near[:, 1].astype(int), near[:, 0].astype(int)]
        centroid = (near * weights[:, None]).sum(0) / weights.sum()
        assert np.hypot(*(centroid - expect)) <= 1.0
    # nothing lit far from the corners, black outside the quad
    corners = np.array(warp.corners) * [W, H]
    far = [p for p in bright if np.hypot(*(corners - p).T).min() > 8]
    assert far == []


def test_warp_shader_matches_the_inverse_mapping(ctx: moderngl.Context) -> None:
    # u in red, v in green, sampled linearly: the presented colour is the show point drawn
    u = (np.arange(W) + 0.5) / W
    v = (np.arange(H) + 0.5) / H
    img = np.zeros((H, W, 4), np.uint8)
    img[..., 0] = np.round(u * 255)[None, :]
    img[..., 1] = np.round(v * 255)[:, None]
    img[..., 3] = 255
    warp = Warp(KEYSTONE)
    _, presented = present(ctx, img, warp)
    px, py = np.meshgrid((np.arange(W) + 0.5) / W, (np.arange(H) + 0.5) / H)
    src = warp.to_source(np.stack([px, py], axis=-1))
    margin = 2.0 / min(W, H)
    inside = np.all((src > margin) & (src < 1 - margin), axis=-1)
    outside = ~np.all((src > -margin) & (src < 1 + margin), axis=-1)
    assert inside.sum() > W * H // 2
    got = presented[..., :2].astype(float)
    assert np.abs(got[inside] - src[inside] * 255).max() <= 2.5
    assert presented[outside].max() == 0


# --- the window -------------------------------------------------------------------------

WINDOW_SCRIPT = r"""
import json
import numpy as np
from app.render.outputs import GlfwOutput
from app.render.warp import Warp

right_half = Warp(((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0)))
out = GlfwOutput(32, 18, vsync=False, title="warp", warp=right_half)
for _ in range(2):
    out.begin_frame()
    out.fbo.clear(1.0, 1.0, 1.0, 1.0)
    out.end_frame()
copy = out.ctx.simple_framebuffer((32, 18))
out.ctx.copy_framebuffer(copy, out.ctx.screen)
win = np.frombuffer(copy.read(components=3, alignment=1), np.uint8).reshape(18, 32, 3)
result = {"left": win[9, 8].tolist(), "right": win[9, 24].tolist(), "error": out.ctx.error}
print(json.dumps(result))
copy.release()
out.close()
"""


@pytest.fixture
def xvfb_display() -> Iterator[str]:
    with xvfb("320x180x24") as display:
        yield display


def test_window_presents_through_the_warp(xvfb_display: str) -> None:
    result = run_on_display(xvfb_display, ["-c", WINDOW_SCRIPT], timeout=120)
    assert result == {"left": [0, 0, 0], "right": [255, 255, 255], "error": "GL_NO_ERROR"}


def test_projector_keys_in_play_adjust_and_save_the_warp(tmp_path: Path) -> None:
    from PIL import Image

    from app.bench.common import show_of
    from app.clock import FakeTime, FrameClock
    from app.player import Player
    from app.session import _warp_keys, run

    still = tmp_path / "a.png"
    Image.fromarray(np.full((36, 64, 3), 200, np.uint8)).save(still)
    show = show_of([still], width=64, height=36, fps=30.0)
    fake = FakeTime()
    out = HeadlessOutput(64, 36)
    player = Player(show, out, clock=FrameClock(fake, fake.sleep), offline=True)
    venue_path = tmp_path / "venue.yaml"
    player.add_key_filter(_warp_keys(player, Venue(operator_monitor=2), venue_path, 1))
    out.inject([key("f2"), key("left", "shift"), key("down", "shift", "ctrl"), key("f5")])
    out.inject([key("left"), key("space")])  # the show's keys still reach the show
    try:
        run(player, frames=3, status=False)
        assert out.warp is not None
        assert out.warp.corners[1] == pytest.approx((1 - 1 / 64, 10 / 36))
        saved = load_venue(venue_path)  # corners written to 6 decimals
        assert (saved.output_monitor, saved.operator_monitor) == (1, 2)
        assert np.array(saved.warp.corners) == pytest.approx(np.array(out.warp.corners))
        assert player.state.live == 0
    finally:
        player.close()
        out.close()
