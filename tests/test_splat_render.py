"""The GL splat renderer against the numpy oracle (PSNR), the GPU radix sort against numpy,
and camera moves seen in the pixels."""

from __future__ import annotations

from pathlib import Path

import moderngl
import numpy as np
import pytest
from PIL import Image
from requires import missing
from splat_oracle import psnr, render_oracle

from app.cues.state import CameraOffset
from app.media.splat_demo import make_demo_scene
from app.media.splats import SplatScene, load_splats
from app.render.camera import CameraView, apply_offset, base_view, move
from app.render.gl import make_current
from app.render.splats import GpuRadixSort, SplatRenderer, compute_supported
from app.show.model import CameraLimits

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "splats"
SIZE = 256
MIN_PSNR = 40.0


def _random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    q = rng.normal(size=(n, 4))
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def inria_scene(tmp: Path, n: int = 1500, degree: int = 3, seed: int = 11) -> SplatScene:
    """A random cloud written as an Inria 3DGS PLY (SH degree 3) and loaded back."""
    rng = np.random.default_rng(seed)
    m = (degree + 1) ** 2 - 1
    names = (
        ["x", "y", "z", "nx", "ny", "nz"]
        + [f"f_dc_{i}" for i in range(3)]
        + [f"f_rest_{i}" for i in range(3 * m)]
        + ["opacity"]
        + [f"scale_{i}" for i in range(3)]
        + [f"rot_{i}" for i in range(4)]
    )
    rows = np.zeros(n, dtype=[(name, "<f4") for name in names])
    pos = rng.normal(size=(n, 3)) * [1.2, 0.8, 0.6] + [0, 0, 1.0]
    for i, axis in enumerate("xyz"):
        rows[axis] = pos[:, i]
    for i in range(3):
        rows[f"f_dc_{i}"] = rng.normal(0.0, 1.2, n)
        # down to well below a pixel, where the 0.3 px^2 dilation decides the footprint
        rows[f"scale_{i}"] = rng.uniform(-6.5, -1.8, n)
    for i in range(3 * m):
        rows[f"f_rest_{i}"] = rng.normal(0.0, 0.25, n)
    rows["opacity"] = rng.normal(0.5, 2.0, n)
    q = _random_rotations(rng, n)
    for i in range(4):
        rows[f"rot_{i}"] = q[:, i]
    header = ["ply", "format binary_little_endian 1.0", f"element vertex {n}"]
    header += [f"property float {name}" for name in names] + ["end_header"]
    path = tmp / "inria.ply"
    path.write_bytes(("\n".join(header) + "\n").encode() + rows.tobytes())
    return load_splats(path)


def mlsharp_scene(tmp: Path) -> SplatScene:
    """The demo generator on a small patterned still: an ml-sharp layout file, loaded."""
    h, w = 60, 96
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (x * 255) // w
    img[..., 1] = ((x // 8 + y // 8) % 2) * 200 + 30
    img[..., 2] = (y * 255) // h
    still = tmp / "still.png"
    Image.fromarray(img).save(still)
    return make_demo_scene(still, tmp / "sharp.ply", size=48, depth="room")


def close_scene(seed: int = 5) -> tuple[SplatScene, CameraView]:
    """Splats all around a camera at the origin: behind it, beside it and very close."""
    rng = np.random.default_rng(seed)
    n = 700
    pos = rng.uniform([-1.5, -1.5, -1.0], [1.5, 1.5, 2.5], size=(n, 3))
    near = rng.integers(0, n, 30)
    pos[near] = rng.uniform([-0.05, -0.05, 0.025], [0.05, 0.05, 0.1], size=(30, 3))
    scales = np.exp(rng.uniform(-4.5, -2.0, size=(n, 3)))
    scales[near[:5]] = 0.2  # huge on screen: exercises the radius clamp
    # near and off to the side: their footprint depends on the 1.3*tan(fov/2) clamp
    side = rng.integers(0, n, 60)
    z = rng.uniform(0.05, 0.4, 60)
    pos[side] = np.stack(
        [
            rng.choice([-1, 1], 60) * rng.uniform(0.8, 2.0, 60) * z,
            rng.uniform(-0.7, 0.7, 60) * z,
            z,
        ],
        axis=1,
    )
    scales[side] = (z * rng.uniform(0.2, 0.6, 60))[:, None]
    scene = SplatScene(
        positions=pos.astype(np.float32),
        scales=scales.astype(np.float32),
        rotations=_random_rotations(rng, n),
        opacities=rng.uniform(0.02, 1.0, n).astype(np.float32),
        colours=rng.uniform(0.0, 1.0, (n, 3)).astype(np.float32),
        dilation=0.3,
    )
    f = SIZE / (2 * np.tan(np.radians(35.0)))
    view = CameraView(
        view=np.eye(4),
        fov_y=70.0,
        width=SIZE,
        height=SIZE,
        near=0.02,
        far=100.0,
        fx=f,
        fy=f,
        cx=SIZE / 2,
        cy=SIZE / 2,
        focus=1.0,
    )
    return scene, view


def _poses(base: CameraView) -> dict[str, CameraView]:
    return {
        "base": base,
        "limits": apply_offset(
            base, CameraOffset(yaw=8, pitch=-5, pan_x=0.05, dolly=0.15), CameraLimits()
        ),
        "orbit": move(base, CameraOffset(yaw=-25, pitch=12, pan_y=0.1, dolly=-0.2)),
        # inside the scene: part of it behind the camera, part of it very close
        "inside": move(base, CameraOffset(yaw=15, dolly=0.9)),
    }


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[SplatScene, CameraView]]:
    tmp = tmp_path_factory.mktemp("splat_scenes")
    out: dict[str, tuple[SplatScene, CameraView]] = {}
    inria = inria_scene(tmp)
    for name, view in _poses(base_view(inria, None, SIZE, SIZE)).items():
        out[f"inria-{name}"] = (inria, view)
    sharp = mlsharp_scene(tmp)
    for name, view in _poses(base_view(sharp, None, SIZE, SIZE)).items():
        out[f"mlsharp-{name}"] = (sharp, view)
    out["close"] = close_scene()
    sample = TESTDATA / "splatapult-test.ply"
    if sample.is_file():
        gizmo = load_splats(sample)
        out["splatapult"] = (
            gizmo,
            move(base_view(gizmo, None, SIZE, SIZE), CameraOffset(yaw=30, pitch=20)),
        )
    return out


_oracle_cache: dict[str, np.ndarray] = {}


def _oracle(name: str, scene: SplatScene, view: CameraView) -> np.ndarray:
    if name not in _oracle_cache:
        _oracle_cache[name] = render_oracle(scene, view)
    return _oracle_cache[name]


def read_layer(tex: object) -> np.ndarray:
    """A PremulTexture as (H, W, 4) float, top row first."""
    t = tex.texture  # type: ignore[attr-defined]
    img = np.frombuffer(t.read(), dtype=np.float16).reshape(t.height, t.width, 4)
    img = img.astype(np.float64)
    return img if tex.top_row_first else img[::-1]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _current(gl_context: moderngl.Context) -> None:
    """Other test files create and release contexts of their own: ours must be current."""
    make_current(gl_context)


@pytest.fixture(scope="module")
def renderers(gl_context: moderngl.Context) -> dict[str, SplatRenderer]:
    make_current(gl_context)
    out = {"cpu": SplatRenderer(gl_context, sort="cpu")}
    if compute_supported(gl_context):
        out["gpu"] = SplatRenderer(gl_context, sort="gpu")
    return out


CASES = [f"{s}-{p}" for s in ("inria", "mlsharp") for p in ("base", "limits", "orbit", "inside")]
CASES += ["close", "splatapult"]


@pytest.mark.parametrize("mode", ["gpu", "cpu"])
@pytest.mark.parametrize("case", CASES)
def test_render_matches_oracle(
    ctx: moderngl.Context,
    scenes: dict[str, tuple[SplatScene, CameraView]],
    renderers: dict[str, SplatRenderer],
    mode: str,
    case: str,
) -> None:
    if mode not in renderers:
        missing("no compute shaders on this GL")
    if case not in scenes:
        missing("shared test data not present (shared/testdata/splats)")
    scene, view = scenes[case]
    renderer = renderers[mode]
    gpu = renderer.upload(scene)
    try:
        image = read_layer(renderer.render(gpu, view, SIZE, SIZE))
    finally:
        gpu.release()
    ref = _oracle(case, scene, view)
    assert ref[..., 3].max() > 0.5, "pose shows nothing: not a useful test"
    score = psnr(image, ref)
    print(f"{case} {mode}: PSNR {score:.1f} dB, visible {renderer.last_timings.get('visible')}")
    assert score >= MIN_PSNR, f"{case} ({mode}): PSNR {score:.1f} dB < {MIN_PSNR}"


def test_scene_traits_reach_the_tests(scenes: dict[str, tuple[SplatScene, CameraView]]) -> None:
    inria = scenes["inria-base"][0]
    assert inria.kind == "inria" and inria.sh_degree == 3 and inria.dilation == pytest.approx(0.3)
    sharp = scenes["mlsharp-base"][0]
    assert sharp.kind == "mlsharp" and sharp.dilation == 0 and sharp.blend_linear
    assert 500 <= sharp.count <= 5000
    for name in ("inria-inside", "mlsharp-inside", "close"):
        scene, view = scenes[name]
        z = view.project(scene.positions)[:, 2]
        assert (z < 0).any(), f"{name}: nothing behind the camera"
        assert (z[z > 0] < 0.1 * view.focus).any(), f"{name}: nothing close to the camera"


@pytest.mark.parametrize("n", [1, 1000, 4096, 4097, 20011, 100003])
def test_gpu_radix_sort_matches_numpy(gl_context: moderngl.Context, n: int) -> None:
    if not compute_supported(gl_context):
        missing("no compute shaders on this GL")
    rng = np.random.default_rng(n)
    keys = rng.integers(0, 2**32, size=n, dtype=np.uint64).astype(np.uint32)
    keys[: n // 4] = rng.integers(0, 50, size=n // 4)  # many duplicates: stability matters
    keys[::13] = 0xFFFFFFFF
    keys[5::17] = 0
    sorter = GpuRadixSort(gl_context)
    try:
        out_keys, order = sorter.sort_array(keys)
    finally:
        sorter.release()
    expected = np.argsort(keys, kind="stable")
    np.testing.assert_array_equal(order, expected)
    np.testing.assert_array_equal(out_keys, keys[expected])
    assert gl_context.error == "GL_NO_ERROR"


def _render(renderer: SplatRenderer, gpu: object, view: CameraView) -> np.ndarray:
    return read_layer(renderer.render(gpu, view, SIZE, SIZE))  # type: ignore[arg-type]


def test_camera_moves_change_the_view_within_limits(
    ctx: moderngl.Context,
    scenes: dict[str, tuple[SplatScene, CameraView]],
    renderers: dict[str, SplatRenderer],
) -> None:
    scene, base = scenes["mlsharp-base"]
    renderer = renderers.get("gpu", renderers["cpu"])
    gpu = renderer.upload(scene)
    limits = CameraLimits()
    try:
        still = _render(renderer, gpu, base)
        moves = {
            "yaw": CameraOffset(yaw=4),
            "pitch": CameraOffset(pitch=-3),
            "pan": CameraOffset(pan_x=0.05),
            "dolly": CameraOffset(dolly=0.1),
        }
        for name, off in moves.items():
            moved = _render(renderer, gpu, apply_offset(base, off, limits))
            diff = np.abs(moved - still)[..., :3].mean()
            assert diff > 0.005, f"{name}: the image did not change ({diff:.4f})"
        at_limit = _render(renderer, gpu, apply_offset(base, CameraOffset(yaw=limits.yaw), limits))
        _render(renderer, gpu, base)  # something else in between
        beyond = _render(renderer, gpu, apply_offset(base, CameraOffset(yaw=90), limits))
        np.testing.assert_array_equal(beyond, at_limit)
        assert np.abs(beyond - still).mean() > 0.005
    finally:
        gpu.release()


def test_unchanged_view_is_not_redrawn(
    ctx: moderngl.Context,
    scenes: dict[str, tuple[SplatScene, CameraView]],
    renderers: dict[str, SplatRenderer],
) -> None:
    scene, view = scenes["inria-base"]
    for renderer in renderers.values():
        gpu = renderer.upload(scene)
        try:
            first = _render(renderer, gpu, view)
            assert renderer.last_timings["skipped"] == 0.0
            again = _render(renderer, gpu, view)
            assert renderer.last_timings["skipped"] == 1.0
            np.testing.assert_array_equal(first, again)
            renderer.render(gpu, view, SIZE, SIZE, force=True)
            assert renderer.last_timings["skipped"] == 0.0
            assert {"sort_ms", "draw_ms", "total_ms"} <= renderer.last_timings.keys()
            renderer.render(gpu, view, 128, 96)  # another size: a new layer
            assert (gpu.target.width, gpu.target.height) == (128, 96)
        finally:
            gpu.release()


def test_layer_is_premultiplied_and_top_row_first(
    ctx: moderngl.Context, renderers: dict[str, SplatRenderer]
) -> None:
    """One red splat above the centre: it shows in the top half, premultiplied."""
    scene = SplatScene(
        positions=np.array([[0.0, -0.5, 3.0]], np.float32),
        scales=np.full((1, 3), 0.2, np.float32),
        rotations=np.array([[1.0, 0, 0, 0]], np.float32),
        opacities=np.array([0.5], np.float32),
        colours=np.array([[1.0, 0.0, 0.0]], np.float32),
    )
    f = SIZE / (2 * np.tan(np.radians(30.0)))
    view = CameraView(
        view=np.eye(4),
        fov_y=60.0,
        width=SIZE,
        height=SIZE,
        near=0.05,
        far=100.0,
        fx=f,
        fy=f,
        cx=SIZE / 2,
        cy=SIZE / 2,
        focus=3.0,
    )
    for renderer in renderers.values():
        gpu = renderer.upload(scene)
        try:
            layer = renderer.render(gpu, view, SIZE, SIZE)
            assert layer.top_row_first and layer.premultiplied
            img = read_layer(layer)
        finally:
            gpu.release()
        row, col = np.unravel_index(np.argmax(img[..., 3]), img.shape[:2])
        assert row < SIZE // 2 and abs(col - SIZE // 2) <= 1
        peak = img[row, col]
        assert peak[3] == pytest.approx(0.5, abs=0.01)
        assert peak[0] == pytest.approx(peak[3], abs=0.01) and peak[1] == 0.0


def test_cpu_sort_path_needs_no_compute(gl_context: moderngl.Context) -> None:
    renderer = SplatRenderer(gl_context, sort="cpu")
    assert renderer.mode == "cpu" and renderer.sorter is None
    with pytest.raises(ValueError):
        SplatRenderer(gl_context, sort="fast")  # type: ignore[arg-type]
