"""The compositor, read back from a framebuffer: crossfades, fit, layers, master, black."""

from __future__ import annotations

from collections.abc import Iterator

import moderngl
import numpy as np
import pytest

from app.cues.state import LayerMix, Mix, MixEntry
from app.render.compositor import Compositor, LayerImage
from app.render.outputs import HeadlessOutput
from app.render.textures import PremulTexture, RgbaTexture
from app.show.model import Fit

W, H = 64, 36
RED = (220, 30, 10)
BLUE = (10, 60, 230)


def solid(ctx: moderngl.Context, rgb: tuple[int, int, int], w: int = W, h: int = H, a: int = 255):
    return RgbaTexture(ctx, np.full((h, w, 4), (*rgb, a), dtype=np.uint8))


def mix_of(*layers: tuple[tuple[int, float], ...] | LayerMix, master=1.0, black=0.0) -> Mix:
    out = []
    for i, layer in enumerate(layers):
        if isinstance(layer, LayerMix):
            out.append(layer)
        else:
            entries = tuple(MixEntry(cue, w, 0.0, 1.0) for cue, w in layer)
            out.append(LayerMix(i + 1, entries))
    return Mix(layers=tuple(out), master=master, black=black)


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
    fits: dict[int, Fit] | None = None,
) -> np.ndarray:
    out.begin_frame()
    comp.draw(mix, images.get, lambda cue: (fits or {}).get(cue, Fit.COVER), out.fbo)
    out.end_frame()
    return out.read_pixels().astype(int)


def assert_colour(pixels: np.ndarray, expected, tol: float = 2.0) -> None:
    diff = np.abs(pixels - np.asarray(expected, dtype=float))
    assert diff.max() <= tol, f"got {pixels.reshape(-1, 3)[diff.reshape(-1, 3).max(1).argmax()]}"


@pytest.mark.parametrize("t", [0.5, 0.25, 0.75])
def test_crossfade_mixes_colours(compositor, output, ctx, t: float) -> None:
    images = {0: solid(ctx, RED), 1: solid(ctx, BLUE)}
    pixels = render(compositor, output, mix_of(((0, 1.0 - t), (1, t))), images)
    expected = (1.0 - t) * np.array(RED) + t * np.array(BLUE)
    assert_colour(pixels, expected, tol=2.0)


def test_single_still_is_exact(compositor, output, ctx) -> None:
    pixels = render(compositor, output, mix_of(((0, 1.0),)), {0: solid(ctx, RED)})
    assert_colour(pixels, RED, tol=0)


def test_missing_image_draws_black(compositor, output, ctx) -> None:
    images = {0: solid(ctx, RED)}
    pixels = render(compositor, output, mix_of(((0, 0.5), (7, 0.5))), images)
    assert_colour(pixels, 0.5 * np.array(RED), tol=1)
    pixels = render(compositor, output, mix_of(((7, 1.0),)), images)
    assert_colour(pixels, (0, 0, 0), tol=0)
    assert_colour(render(compositor, output, mix_of(), images), (0, 0, 0), tol=0)


def test_contain_letterboxes_with_black(compositor, output, ctx) -> None:
    # a square image on a 64x36 target: a 36x36 column in the middle, black bars either side
    images = {0: solid(ctx, RED, 20, 20)}
    pixels = render(compositor, output, mix_of(((0, 1.0),)), images, {0: Fit.CONTAIN})
    assert_colour(pixels[:, 14:50], RED, tol=0)
    assert_colour(pixels[:, :14], (0, 0, 0), tol=0)
    assert_colour(pixels[:, 50:], (0, 0, 0), tol=0)
    # the bars stay black in a crossfade with a full-frame image: alpha 0 outside the quad
    images[1] = solid(ctx, BLUE)
    mix = mix_of(((0, 0.5), (1, 0.5)))
    pixels = render(compositor, output, mix, images, {0: Fit.CONTAIN})
    assert_colour(pixels[:, :14], 0.5 * np.array(BLUE), tol=1)
    assert_colour(pixels[:, 14:50], 0.5 * (np.array(RED) + BLUE), tol=2)


def test_cover_crops_and_stretch_fills(compositor, output, ctx) -> None:
    # a 2:1 image, left half red, right half blue, with a 4-pixel green border on the left
    img = np.zeros((40, 80, 4), np.uint8)
    img[..., 3] = 255
    img[:, :40, :3] = RED
    img[:, 40:, :3] = BLUE
    img[:, :4, :3] = (0, 255, 0)
    images = {0: RgbaTexture(ctx, img, mipmaps=False)}
    cover = render(compositor, output, mix_of(((0, 1.0),)), images, {0: Fit.COVER})
    # 2:1 on 16:9: cropped left and right, so the green border is not visible
    assert (cover[:, :, 1] < 100).all()
    assert_colour(cover[:, 2:30], RED, tol=0)
    assert_colour(cover[:, 34:62], BLUE, tol=0)
    stretch = render(compositor, output, mix_of(((0, 1.0),)), images, {0: Fit.STRETCH})
    assert_colour(stretch[:, :2], (0, 255, 0), tol=0)
    contain = render(compositor, output, mix_of(((0, 1.0),)), images, {0: Fit.CONTAIN})
    # 64 wide -> 32 tall: 2-pixel bars top and bottom
    assert_colour(contain[:2], (0, 0, 0), tol=0)
    assert_colour(contain[-2:], (0, 0, 0), tol=0)
    assert_colour(contain[4:-4, 0:2], (0, 255, 0), tol=0)


def test_layers_composite_over(compositor, output, ctx) -> None:
    images = {0: solid(ctx, RED), 1: solid(ctx, BLUE), 2: solid(ctx, (250, 250, 250))}
    # opaque upper layer at opacity 0.25 over red
    mix = mix_of(((0, 1.0),), LayerMix(2, (MixEntry(1, 1.0, 0.0, 1.0),), opacity=0.25))
    assert_colour(
        render(compositor, output, mix, images), 0.75 * np.array(RED) + 0.25 * np.array(BLUE)
    )
    # an upper layer mid-crossfade (two entries) at opacity 0.5 over red
    upper = LayerMix(2, (MixEntry(1, 0.5, 0, 1), MixEntry(2, 0.5, 0, 1)), opacity=0.5)
    expected = 0.5 * np.array(RED) + 0.5 * (0.5 * np.array(BLUE) + 0.5 * 250)
    assert_colour(render(compositor, output, mix_of(((0, 1.0),), upper), images), expected)
    # an upper layer whose only entry is fading in (weight 0.4): lower shows through 60%
    mix = mix_of(((0, 1.0),), ((1, 0.4),))
    assert_colour(
        render(compositor, output, mix, images), 0.6 * np.array(RED) + 0.4 * np.array(BLUE)
    )
    # an upper letterboxed layer leaves the lower one visible in its bars
    images[3] = solid(ctx, BLUE, 20, 20)
    pixels = render(compositor, output, mix_of(((0, 1.0),), ((3, 1.0),)), images, {3: Fit.CONTAIN})
    assert_colour(pixels[:, :14], RED, tol=0)
    assert_colour(pixels[:, 14:50], BLUE, tol=0)


def test_translucent_still_is_premultiplied(compositor, output, ctx) -> None:
    images = {0: solid(ctx, RED), 1: solid(ctx, BLUE, a=128)}
    mix = mix_of(((0, 1.0),), ((1, 1.0),))
    a = 128 / 255
    assert_colour(
        render(compositor, output, mix, images), (1 - a) * np.array(RED) + a * np.array(BLUE)
    )


@pytest.mark.parametrize(("master", "black"), [(1.0, 1.0), (0.5, 0.0), (1.0, 0.25), (0.8, 0.5)])
def test_master_and_black(compositor, output, ctx, master: float, black: float) -> None:
    images = {0: solid(ctx, RED), 1: solid(ctx, BLUE)}
    mix = mix_of(((0, 0.5), (1, 0.5)), master=master, black=black)
    expected = master * (1 - black) * (0.5 * np.array(RED) + 0.5 * np.array(BLUE))
    pixels = render(compositor, output, mix, images)
    assert_colour(pixels, expected, tol=2)
    assert (output.read_pixels(4)[..., 3] == 255).all()


def test_weights_over_one_clamp(compositor, output, ctx) -> None:
    images = {0: solid(ctx, (200, 200, 200)), 1: solid(ctx, (200, 200, 200))}
    pixels = render(compositor, output, mix_of(((0, 0.9), (1, 0.9))), images)
    assert_colour(pixels, (255, 255, 255), tol=0)


def test_premultiplied_float_texture(compositor, output, ctx) -> None:
    # as the splat renderer leaves it: rendered by GL, bottom row first, premultiplied
    premul = PremulTexture.create(ctx, W, H)
    data = np.zeros((H, W, 4), np.float32)
    data[: H // 2] = (0.0, 0.0, 0.5, 0.5)  # GL rows: the bottom half of the image
    premul.texture.write(data.astype("f2").tobytes())
    images = {0: solid(ctx, RED), 1: premul}
    pixels = render(compositor, output, mix_of(((0, 1.0),), ((1, 1.0),)), images)
    assert_colour(pixels[: H // 2], RED, tol=0)
    assert_colour(pixels[H // 2 :], 0.5 * np.array(RED) + (0, 0, 127.5), tol=1)
    premul.release()


def test_direct_matches_reference_on_random_mixes(ctx, output) -> None:
    rng = np.random.default_rng(7)
    images: dict[int, LayerImage] = {}
    for cue in range(6):
        img = rng.integers(0, 256, (9, 16, 4), dtype=np.uint8)
        img[..., 3] = 255 if cue % 3 else rng.integers(0, 256)
        images[cue] = RgbaTexture(ctx, img, mipmaps=False)
    fits = {c: list(Fit)[c % 3] for c in range(6)}
    direct, reference = Compositor(ctx, W, H), Compositor(ctx, W, H, direct=False)
    for _ in range(12):
        layers = []
        for layer in range(int(rng.integers(1, 4))):
            cues = rng.choice(6, size=int(rng.integers(1, 3)), replace=False)
            weights = rng.dirichlet(np.ones(len(cues))) * rng.uniform(0.3, 1.0)
            entries = tuple(
                MixEntry(int(c), float(w), 0, 1) for c, w in zip(cues, weights, strict=True)
            )
            layers.append(LayerMix(layer + 1, entries, float(rng.uniform(0.2, 1.0))))
        mix = Mix(tuple(layers), float(rng.uniform(0.5, 1)), float(rng.uniform(0, 0.5)))
        a = render(direct, output, mix, images, fits)
        b = render(reference, output, mix, images, fits)
        assert np.abs(a - b).max() <= 2
    direct.release()
    reference.release()
    for img in images.values():
        img.release()


def test_target_size_is_checked(ctx, output) -> None:
    comp = Compositor(ctx, 32, 18)
    with pytest.raises(ValueError, match="compositor is 32x18"):
        comp.draw(mix_of(), {}.get, lambda c: Fit.COVER, output.fbo)
    comp.release()


def test_draw_image_to_any_target(ctx) -> None:
    out = HeadlessOutput(40, 40, ctx=ctx)
    comp = Compositor(ctx, W, H)
    comp.draw_image(solid(ctx, RED, 20, 10), Fit.CONTAIN, 0.5, out.fbo)
    pixels = out.read_pixels().astype(int)
    assert_colour(pixels[15:25], 0.5 * np.array(RED), tol=1)
    assert_colour(pixels[:8], (0, 0, 0), tol=0)
    comp.release()
    out.close()
