"""Looks: the numpy reference alone, then shaders/look.glsl against it, through the compositor.

Every comparison reads back an RGBA8 target, so the tolerance is 2/255 (rounding of the
input and of the output); the noise (grain, dust) is an integer hash the shader computes
bit for bit, so it needs no extra tolerance.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import moderngl
import numpy as np
import pytest
from frames import hand_clock, run_frames
from PIL import Image

from app.bench.common import show_of
from app.clock import FakeTime
from app.cues.actions import Go
from app.cues.state import LayerMix, Mix, MixEntry
from app.eventlog import EventLog
from app.media.types import YuvFrame
from app.player import Player
from app.render import look_math as lm
from app.render.compositor import Compositor, LayerImage
from app.render.outputs import HeadlessOutput
from app.render.textures import RgbaTexture, YuvTextures
from app.show.model import LOOK_PRESETS, Fit, Look

W, H = 64, 36
TOL = 2.0

# one operation each, then the presets (all operations together)
SINGLE_OPS = {
    "saturation0": Look(saturation=0.0),
    "saturation2": Look(saturation=2.0),
    "tint": Look(tint=(1.0, 0.8, 0.55), tint_amount=0.7),
    "contrast": Look(contrast=1.6),
    "low_contrast": Look(contrast=0.4),
    "brightness": Look(brightness=0.15),
    "darker": Look(brightness=-0.2),
    "grain": Look(grain=1.0),
    "vignette": Look(vignette=1.0),
    "dust": Look(dust=1.0),
}
ALL_LOOKS = {**SINGLE_OPS, **{f"preset_{k}": v for k, v in LOOK_PRESETS.items() if k != "none"}}


def random_image(seed: int, h: int = H, w: int = W) -> np.ndarray:
    """A smooth gradient plus noise: every tone from black to white, and colour."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / (w - 1), y / (h - 1), 1.0 - x / (w - 1)], axis=-1)
    img = 0.7 * base + 0.3 * rng.random((h, w, 3))
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def one_entry(cue: int = 0) -> Mix:
    return Mix(master=1.0, black=0.0, layers=(LayerMix(1, (MixEntry(cue, 1.0, 0.0, 1.0),)),))


def assert_close(got: np.ndarray, expected: np.ndarray, tol: float = TOL) -> None:
    diff = np.abs(got.astype(float) - expected)
    worst = np.unravel_index(diff.argmax(), diff.shape)
    assert diff.max() <= tol, (
        f"max difference {diff.max():.2f} at {worst}: got {got[worst]}, want {expected[worst]:.2f}"
    )


@pytest.fixture
def output(ctx: moderngl.Context) -> Iterator[HeadlessOutput]:
    out = HeadlessOutput(W, H, ctx=ctx)
    yield out
    out.close()


@pytest.fixture(params=[True, False], ids=["direct", "reference"])
def compositor(request: pytest.FixtureRequest, ctx: moderngl.Context) -> Iterator[Compositor]:
    comp = Compositor(ctx, W, H, direct=request.param)
    yield comp
    comp.release()


def render(
    comp: Compositor,
    out: HeadlessOutput,
    mix: Mix,
    images: dict[int, LayerImage],
    looks: dict[int, Look | None] | None = None,
    t: float = 0.0,
    fit: Fit = Fit.COVER,
) -> np.ndarray:
    out.begin_frame()
    if looks is None:
        comp.draw(mix, images.get, lambda cue: fit, out.fbo)
    else:
        comp.draw(mix, images.get, lambda cue: fit, out.fbo, look_for=looks.get, t=t)
    out.end_frame()
    return out.read_pixels()


# --- the numpy reference alone ----------------------------------------------------------


def test_hash_is_lowbias32() -> None:
    # reference values of Wellons' lowbias32, computed with Python integers
    def ref(x: int) -> int:
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)

    xs = np.array([0, 1, 2, 12345, 0xFFFFFFFF, 0xDEADBEEF], dtype=np.uint32)
    assert lm.hash_u32(xs).tolist() == [ref(int(x)) for x in xs]
    n = lm.unit_float(lm.hash3(*lm.pixel_coords(256, 256), 7))
    assert n.min() >= 0.0 and n.max() < 1.0
    assert abs(n.mean() - 0.5) < 0.01  # uniform enough
    assert lm.frame_seed(0.0) == 0 and lm.frame_seed(1.0) == 24 and lm.frame_seed(1.0 / 48) == 0


def test_identity_and_colour_operations() -> None:
    img = random_image(1) / 255.0
    np.testing.assert_array_equal(lm.apply_look(img, None), img)
    np.testing.assert_array_equal(lm.apply_look(img, Look()), img)
    np.testing.assert_array_equal(lm.apply_look(img, LOOK_PRESETS["none"]), img)
    assert Look(tint=(0.2, 0.3, 0.4)).is_identity  # no toning amount: the tint does nothing
    assert not Look(grain=0.1).is_identity

    grey = lm.apply_look(img, Look(saturation=0.0))
    np.testing.assert_allclose(grey, np.repeat(lm.luma(img)[..., None], 3, axis=-1))
    # full toning maps luminance onto the tint: white becomes the tint, black stays black
    toned = lm.apply_look(np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]]), LOOK_PRESETS["sepia"])
    np.testing.assert_allclose(toned[0, 0], LOOK_PRESETS["sepia"].tint)
    np.testing.assert_allclose(toned[0, 1], 0.0)
    # contrast pivots on mid-grey; brightness adds; both clamp
    mid = np.full((1, 1, 3), 0.5)
    np.testing.assert_allclose(lm.apply_look(mid, Look(contrast=3.0)), 0.5)
    np.testing.assert_allclose(lm.apply_look(mid + 0.2, Look(contrast=2.0)), 0.9)
    np.testing.assert_allclose(lm.apply_look(mid, Look(brightness=0.7)), 1.0)


def test_grain_is_animated_and_spares_black_and_white() -> None:
    img = np.full((H, W, 3), 0.5)
    look = Look(grain=1.0)
    a, b = lm.apply_look(img, look, 0.0), lm.apply_look(img, look, 0.01)
    np.testing.assert_array_equal(a, b)  # same film frame
    c = lm.apply_look(img, look, 1.0 / 24)
    assert np.abs(a - c).max() > 0.1  # next film frame
    assert np.abs(a - 0.5).max() <= lm.GRAIN_STRENGTH
    assert abs((a - 0.5).mean()) < 0.01
    for level in (0.0, 1.0):
        flat = np.full((H, W, 3), level)
        np.testing.assert_array_equal(lm.apply_look(flat, look, 0.3), flat)


def test_vignette_darkens_corners_only() -> None:
    img = np.ones((H, W, 3))
    out = lm.apply_look(img, Look(vignette=1.0))
    assert out[H // 2, W // 2, 0] == 1.0
    assert out[0, 0, 0] < 0.05 and out[-1, -1, 0] < 0.05
    assert 0.3 < out[H // 2, 0, 0] < 0.9


def test_dust_makes_specks_in_cells_and_scratches() -> None:
    img = np.full((H, W, 3), 0.5)
    look = Look(dust=1.0)
    changed = [(lm.apply_look(img, look, i / 24) != 0.5).any(-1) for i in range(48)]
    assert sum(c.any() for c in changed) > 10  # specks or scratches on many frames
    assert len({c.tobytes() for c in changed}) > 10  # and they move
    assert lm.dust_cell(720) == 16 and lm.dust_cell(1080) == 24
    s = lm.scratches(1.0, 0.0, 1280, 720)
    assert s.shape == (lm.SCRATCHES, 3)
    np.testing.assert_array_equal(s, lm.scratches(1.0, 0.01, 1280, 720))
    assert not lm.scratches(0.0, 0.0, 1280, 720).any()


# --- shader against numpy ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(ALL_LOOKS))
@pytest.mark.parametrize("t", [0.0, 2.71])
def test_rgba_shader_matches_numpy(compositor, output, ctx, name: str, t: float) -> None:
    img = random_image(2)
    tex = RgbaTexture(ctx, img, mipmaps=False)
    try:
        look = ALL_LOOKS[name]
        got = render(compositor, output, one_entry(), {0: tex}, {0: look}, t)
        expected = lm.apply_look(img / 255.0, look, t) * 255.0
        assert_close(got, expected)
    finally:
        tex.release()


def test_dust_shader_matches_numpy_over_frames(output, ctx) -> None:
    img = random_image(15)
    tex = RgbaTexture(ctx, img, mipmaps=False)
    comp = Compositor(ctx, W, H)
    look = Look(dust=1.0)
    specks = scratched = 0
    try:
        for frame in range(24):
            t = frame / lm.FRAME_RATE + 0.01
            got = render(comp, output, one_entry(), {0: tex}, {0: look}, t)
            expected = lm.apply_look(img / 255.0, look, t)
            assert_close(got, expected * 255.0)
            cells = lm.dust_cells(t, W, H)
            specks += int((cells[..., 3] < lm.dust_threshold(1.0)).sum())
            scratched += int(lm.scratches(1.0, t, W, H)[:, 2].astype(bool).any())
        assert specks > 5 and scratched > 5  # the comparison saw both
    finally:
        comp.release()
        tex.release()


@pytest.mark.parametrize("name", ["tint", "contrast", "grain", "vignette", "dust", "preset_sepia"])
def test_premultiplied_alpha_is_looked_straight(output, ctx, name: str) -> None:
    rgba = np.dstack([random_image(3), np.linspace(0, 255, W, dtype=np.uint8)[None].repeat(H, 0)])
    tex = RgbaTexture(ctx, rgba, mipmaps=False)  # premultiplies on upload
    comp = Compositor(ctx, W, H)
    try:
        look = ALL_LOOKS[name]
        alpha = rgba[..., 3:4].astype(np.uint16)
        premul = (rgba[..., :3].astype(np.uint16) * alpha + 127) // 255
        src = np.concatenate([premul, alpha], axis=-1) / 255.0
        got = render(comp, output, one_entry(), {0: tex}, {0: look}, 0.5)
        expected = lm.apply_look_premultiplied(src, look, 0.5)[..., :3] * 255.0
        assert_close(got, expected)
    finally:
        comp.release()
        tex.release()


@pytest.mark.parametrize("name", ["saturation2", "tint", "contrast", "grain", "dust", "vignette"])
def test_yuv_shader_matches_numpy(output, ctx, name: str) -> None:
    rng = np.random.default_rng(4)
    y = random_image(5)[..., 1]
    u = rng.integers(60, 200, (H // 2, W // 2), dtype=np.uint8)
    v = rng.integers(60, 200, (H // 2, W // 2), dtype=np.uint8)
    frame = YuvFrame(0.0, W, H, y, u, v, "bt709", False)
    yuv = YuvTextures(ctx, W, H)
    yuv.upload(frame)
    comp = Compositor(ctx, W, H)
    try:
        look = ALL_LOOKS[name]
        plain = render(comp, output, one_entry(), {0: yuv})
        got = render(comp, output, one_entry(), {0: yuv}, {0: look}, 1.1)
        # the plain frame is rounded to 8 bits before the numpy look: half a step more
        assert_close(got, lm.apply_look(plain / 255.0, look, 1.1) * 255.0, tol=TOL + 0.5)
    finally:
        comp.release()
        yuv.release()


def test_look_is_placed_in_output_pixels(output, ctx) -> None:
    # a scaled (cover) image: vignette, grain and dust land on the output's pixel grid
    img = random_image(6, 20, 50)
    tex = RgbaTexture(ctx, img, mipmaps=False)
    comp = Compositor(ctx, W, H)
    try:
        look = LOOK_PRESETS["daguerreotype"]
        plain = render(comp, output, one_entry(), {0: tex}, fit=Fit.STRETCH)
        got = render(comp, output, one_entry(), {0: tex}, {0: look}, 3.0, fit=Fit.STRETCH)
        assert_close(got, lm.apply_look(plain / 255.0, look, 3.0) * 255.0, tol=TOL + 0.5)
    finally:
        comp.release()
        tex.release()


# --- crossfades and the plain path ------------------------------------------------------


@pytest.mark.parametrize("w", [0.25, 0.5, 0.8])
def test_crossfade_blends_looked_images(compositor, output, ctx, w: float) -> None:
    a, b = random_image(7), random_image(8)
    images = {0: RgbaTexture(ctx, a, mipmaps=False), 1: RgbaTexture(ctx, b, mipmaps=False)}
    looks = {0: LOOK_PRESETS["daguerreotype"], 1: LOOK_PRESETS["contemporary"]}
    try:
        mix = Mix(
            master=1.0,
            black=0.0,
            layers=(LayerMix(1, (MixEntry(0, 1.0 - w, 0, 1), MixEntry(1, w, 0, 1))),),
        )
        got = render(compositor, output, mix, images, looks, 5.0)
        expected = (1.0 - w) * lm.apply_look(a / 255.0, looks[0], 5.0) + w * lm.apply_look(
            b / 255.0, looks[1], 5.0
        )
        assert_close(got, expected * 255.0)
    finally:
        for tex in images.values():
            tex.release()


def test_crossfade_in_an_upper_layer_uses_the_looks(compositor, output, ctx) -> None:
    # a two-entry layer over another one goes through the float layer buffer
    base, a, b = random_image(9), random_image(10), random_image(11)
    images = {i: RgbaTexture(ctx, img, mipmaps=False) for i, img in enumerate((base, a, b))}
    looks = {1: LOOK_PRESETS["sepia"], 2: Look(contrast=1.4, grain=0.5)}
    try:
        mix = Mix(
            master=1.0,
            black=0.0,
            layers=(
                LayerMix(1, (MixEntry(0, 1.0, 0, 1),)),
                LayerMix(2, (MixEntry(1, 0.3, 0, 1), MixEntry(2, 0.3, 0, 1)), opacity=1.0),
            ),
        )
        got = render(compositor, output, mix, images, looks, 0.7)
        top = 0.3 * lm.apply_look(a / 255.0, looks[1], 0.7)
        top = top + 0.3 * lm.apply_look(b / 255.0, looks[2], 0.7)
        expected = top + (1.0 - 0.6) * base / 255.0
        assert_close(got, expected * 255.0)
    finally:
        for tex in images.values():
            tex.release()


def test_no_look_renders_exactly_as_before(compositor, output, ctx) -> None:
    a, b = random_image(12), random_image(13)
    images = {0: RgbaTexture(ctx, a, mipmaps=False), 1: RgbaTexture(ctx, b, mipmaps=False)}
    try:
        mix = Mix(
            master=1.0,
            black=0.0,
            layers=(LayerMix(1, (MixEntry(0, 0.4, 0, 1), MixEntry(1, 0.6, 0, 1))),),
        )
        before = render(compositor, output, mix, images)
        for looks in ({}, {0: None, 1: None}, {0: Look(), 1: LOOK_PRESETS["none"]}):
            np.testing.assert_array_equal(render(compositor, output, mix, images, looks), before)
        assert not compositor._looks  # the look programs were never needed
    finally:
        for tex in images.values():
            tex.release()


def test_draw_image_applies_a_look(output, ctx) -> None:
    img = random_image(14)
    tex = RgbaTexture(ctx, img, mipmaps=False)
    comp = Compositor(ctx, W, H)
    try:
        look = LOOK_PRESETS["expressionist"]
        output.begin_frame()
        comp.draw_image(tex, Fit.COVER, 1.0, output.fbo, look=look, t=1.0)
        assert_close(output.read_pixels(), lm.apply_look(img / 255.0, look, 1.0) * 255.0)
    finally:
        comp.release()
        tex.release()


def test_player_draws_cue_looks(tmp_path: Path) -> None:
    colour = (180, 120, 60)
    png = tmp_path / "a.png"
    Image.fromarray(np.full((H, W, 3), colour, np.uint8)).save(png)
    show = show_of([png], width=W, height=H, fps=30.0, fade=0.0)
    look = Look(tint=(1.0, 0.8, 0.6), tint_amount=1.0, grain=0.4, vignette=0.5)
    poem = replace(show.poems[0], cues=tuple(replace(c, look=look) for c in show.poems[0].cues))
    show = replace(show, poems=(poem,))
    fake = FakeTime()
    out = HeadlessOutput(W, H)
    player = Player(
        show,
        out,
        clock=hand_clock(fake),
        log=EventLog(tmp_path / "r.jsonl"),
        offline=True,
    )
    try:
        player.put(Go(), 0.0)
        fake.advance(0.5)
        run_frames(player)  # one frame of the show's loop at 0.5 s
        t = player.status.t
        expected = lm.apply_look(np.full((H, W, 3), colour) / 255.0, look, t) * 255.0
        assert_close(out.read_pixels(), expected)
    finally:
        player.close()
        out.close()
