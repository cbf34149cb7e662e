"""Camera math: base views from intrinsics or the cue, orbit/pan/dolly, limits, smoothing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.cues.state import CameraOffset
from app.media.splats import SplatScene
from app.render.camera import (
    CameraSmoother,
    CameraView,
    apply_offset,
    base_view,
    clamp_offset,
    cue_view,
    drift,
    move,
)
from app.show.model import CameraLimits, CameraSpec


def _scene(intrinsics: tuple | None = None, n: int = 200, seed: int = 0) -> SplatScene:
    rng = np.random.default_rng(seed)
    pos = rng.normal(size=(n, 3)).astype(np.float32) * [1.0, 1.0, 0.3] + [0.0, 0.0, 4.0]
    rot = np.zeros((n, 4), np.float32)
    rot[:, 0] = 1
    return SplatScene(
        positions=pos.astype(np.float32),
        scales=np.full((n, 3), 0.05, np.float32),
        rotations=rot,
        opacities=np.full(n, 0.9, np.float32),
        colours=np.full((n, 3), 0.5, np.float32),
        intrinsics=intrinsics,
        extrinsic=None if intrinsics is None else np.eye(4),
        kind="mlsharp" if intrinsics else "inria",
        dilation=0.0 if intrinsics else 0.3,
    )


def _pixel(view: CameraView, point: np.ndarray) -> np.ndarray:
    return view.project(np.asarray(point, dtype=np.float64)[None])[0]


def test_base_view_from_intrinsics_same_aspect() -> None:
    scene = _scene((500.0, 500.0, 320.0, 240.0, 640, 480))
    view = base_view(scene, None, 320, 240)
    assert (view.fx, view.fy, view.cx, view.cy) == pytest.approx((250.0, 250.0, 160.0, 120.0))
    assert view.fov_y == pytest.approx(math.degrees(2 * math.atan(240 / 500)))
    p = np.array([0.3, -0.2, 2.0])
    assert _pixel(view, p)[:2] == pytest.approx([250 * 0.15 + 160, 250 * -0.1 + 120])
    np.testing.assert_allclose(view.position, 0.0, atol=1e-12)
    assert view.focus == pytest.approx(float(np.median(scene.positions[:, 2])), rel=1e-6)


def test_base_view_covers_other_aspects() -> None:
    scene = _scene((500.0, 500.0, 320.0, 240.0, 640, 480))
    view = base_view(scene, None, 256, 256)
    s = 256 / 480  # the photo's height fills the square, its sides are cropped
    assert (view.fx, view.cx, view.cy) == pytest.approx((500 * s, 128.0, 128.0))


def test_base_view_fov_from_cue() -> None:
    scene = _scene((500.0, 500.0, 320.0, 240.0, 640, 480))
    view = base_view(scene, CameraSpec(fov=90.0), 200, 100)
    assert view.fov_y == pytest.approx(90.0)
    assert view.fy == pytest.approx(50.0)


def test_base_view_without_intrinsics_frames_the_scene() -> None:
    scene = _scene(None)
    view = base_view(scene, None, 256, 256)
    assert view.fov_y == pytest.approx(60.0)
    lo, hi = np.percentile(scene.positions.astype(np.float64), [2, 98], axis=0)
    assert _pixel(view, (lo + hi) / 2)[:2] == pytest.approx([128.0, 128.0])
    uvz = view.project(scene.positions)
    assert (uvz[:, 2] > 0).all()
    inside = (uvz[:, 0] >= 0) & (uvz[:, 0] < 256) & (uvz[:, 1] >= 0) & (uvz[:, 1] < 256)
    assert inside.mean() > 0.8


def test_orbit_keeps_the_focus_point_centred() -> None:
    scene = _scene((500.0, 500.0, 320.0, 240.0, 640, 480))
    base = base_view(scene, None, 640, 480)
    target = base.position + base.focus * base.rotation[2]
    for off in (CameraOffset(yaw=20), CameraOffset(pitch=-15), CameraOffset(yaw=5, pitch=5)):
        view = move(base, off)
        assert _pixel(view, target)[:2] == pytest.approx([320.0, 240.0], abs=1e-9)
        assert np.linalg.norm(view.position - target) == pytest.approx(base.focus)
        r = view.rotation
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
    # positive yaw moves the camera to its right, positive pitch moves it up (-y)
    assert move(base, CameraOffset(yaw=10)).position[0] > 0
    assert move(base, CameraOffset(pitch=10)).position[1] < 0


def test_pan_and_dolly_are_fractions_of_focus() -> None:
    scene = _scene((500.0, 500.0, 320.0, 240.0, 640, 480))
    base = base_view(scene, None, 640, 480)
    f = base.focus
    np.testing.assert_allclose(
        move(base, CameraOffset(pan_x=0.1)).position, [0.1 * f, 0, 0], atol=1e-12
    )
    np.testing.assert_allclose(
        move(base, CameraOffset(pan_y=0.1)).position, [0, -0.1 * f, 0], atol=1e-12
    )
    dollied = move(base, CameraOffset(dolly=0.15))
    np.testing.assert_allclose(dollied.position, [0, 0, 0.15 * f], atol=1e-12)
    assert dollied.focus == pytest.approx(0.85 * f)


def test_limits_clamp() -> None:
    limits = CameraLimits(yaw=8, pitch=5, pan=0.08, dolly_in=0.15, dolly_out=0.1)
    wild = CameraOffset(yaw=100, pitch=-100, pan_x=1, pan_y=-1, dolly=-5)
    assert clamp_offset(wild, limits) == CameraOffset(8, -5, 0.08, -0.08, -0.1)
    assert clamp_offset(CameraOffset(dolly=5), limits).dolly == 0.15
    inside = CameraOffset(yaw=3, pitch=-2, pan_x=0.01, pan_y=0.02, dolly=0.05)
    assert clamp_offset(inside, limits) == inside
    scene = _scene((500.0, 500.0, 320.0, 240.0, 640, 480))
    base = base_view(scene, None, 64, 48)
    assert (
        apply_offset(base, wild, limits).key()
        == move(base, CameraOffset(8, -5, 0.08, -0.08, -0.1)).key()
    )
    assert apply_offset(base, wild, limits).key() != base.key()


def test_cue_view_adds_drift_within_limits() -> None:
    scene = _scene((500.0, 500.0, 320.0, 240.0, 640, 480))
    spec = CameraSpec(drift=1.0, drift_period=10.0)
    still = cue_view(scene, CameraSpec(), CameraOffset(), 2.5, 64, 48)
    moving = cue_view(scene, spec, CameraOffset(), 2.5, 64, 48)
    assert still.key() == base_view(scene, None, 64, 48).key()
    assert moving.key() != still.key()
    pinned = cue_view(scene, spec, CameraOffset(yaw=1000), 2.5, 64, 48)
    d = drift(2.5, spec)
    expected = CameraOffset(spec.limits.yaw, d.pitch, d.pan_x, d.pan_y, d.dolly)
    assert pinned.key() == move(base_view(scene, spec, 64, 48), expected).key()


def test_drift_is_periodic_bounded_and_off_by_default() -> None:
    assert drift(3.0, None) == CameraOffset()
    assert drift(3.0, CameraSpec()) == CameraOffset()
    spec = CameraSpec(drift=1.0, drift_period=8.0)
    lim = spec.limits
    for t in np.linspace(0, 16, 97):
        d = drift(float(t), spec)
        assert abs(d.yaw) <= lim.yaw / 2 + 1e-12 and abs(d.pitch) <= lim.pitch / 2 + 1e-12
        assert abs(d.pan_x) <= lim.pan / 2 and abs(d.pan_y) <= lim.pan / 2
        assert -lim.dolly_out <= d.dolly <= lim.dolly_in
        again = drift(float(t) + 8.0, spec)
        assert again.yaw == pytest.approx(d.yaw, abs=1e-9)
        assert again.dolly == pytest.approx(d.dolly, abs=1e-9)
    a, b = drift(1.0, spec), drift(1.01, spec)
    assert abs(a.yaw - b.yaw) < 0.05  # slow


def test_smoother_halflife_and_dt_independence() -> None:
    target = CameraOffset(yaw=10.0, dolly=0.1)
    s = CameraSmoother(halflife=0.5)
    assert s.update(target, 0.5).yaw == pytest.approx(5.0, rel=0.01)
    fine, coarse = CameraSmoother(0.3), CameraSmoother(0.3)
    for _ in range(10):
        fine.update(target, 0.01)
    coarse.update(target, 0.1)
    assert fine.value.yaw == pytest.approx(coarse.value.yaw, abs=1e-9)
    assert fine.velocity.yaw == pytest.approx(coarse.velocity.yaw, abs=1e-9)
    # no overshoot from rest, converges
    s = CameraSmoother(0.2)
    values = [s.update(target, 1 / 60).yaw for _ in range(600)]
    assert all(b >= a - 1e-12 for a, b in zip(values, values[1:], strict=False))
    assert max(values) <= 10.0 + 1e-9 and values[-1] == pytest.approx(10.0, abs=1e-6)
    assert s.update(target, 0.0) == s.value
    s.reset()
    assert s.value == CameraOffset()
    with pytest.raises(ValueError):
        CameraSmoother(0.0)


def test_resized_keeps_framing() -> None:
    scene = _scene((500.0, 500.0, 320.0, 240.0, 640, 480))
    view = base_view(scene, None, 640, 480)
    half = view.resized(320, 240)
    assert half.fov_y == pytest.approx(view.fov_y)
    p = np.array([0.4, 0.3, 3.0])
    assert _pixel(half, p)[:2] == pytest.approx(_pixel(view, p)[:2] / 2)
    assert view.resized(640, 480) is view


def _subject_with_floaters(n: int = 4000, seed: int = 4) -> SplatScene:
    """A tall subject off the origin (like a rider on a bike) and 3% floaters far out."""
    rng = np.random.default_rng(seed)
    body = rng.uniform(-0.5, 0.5, size=(n, 3)) * [1.0, 1.6, 0.6] + [2.0, -1.0, 7.0]
    floaters = rng.normal(size=(n * 3 // 100, 3)) * 40.0
    pos = np.concatenate([body, floaters]).astype(np.float32)
    m = pos.shape[0]
    rot = np.zeros((m, 4), np.float32)
    rot[:, 0] = 1
    return SplatScene(
        positions=pos,
        scales=np.full((m, 3), 0.01, np.float32),
        rotations=rot,
        opacities=np.full(m, 0.9, np.float32),
        colours=np.full((m, 3), 0.5, np.float32),
    )


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1080, 1080), (800, 1200)])
def test_default_view_frames_the_robust_bounds(width: int, height: int) -> None:
    """Without intrinsics or a cue camera, the 2..98 percentile box of the splat centres
    (computed here, independently of the code) fills 40-90% of the frame's height, centred
    within 10%, and fits inside the frame; the floaters do not push the camera away."""
    scene = _subject_with_floaters()
    view = base_view(scene, None, width, height)
    lo, hi = np.percentile(scene.positions.astype(np.float64), [2, 98], axis=0)
    corners = np.array(
        [[x, y, z] for x in (lo[0], hi[0]) for y in (lo[1], hi[1]) for z in (lo[2], hi[2])]
    )
    uvz = view.project(corners)
    assert (uvz[:, 2] > 0).all()
    u0, u1 = uvz[:, 0].min(), uvz[:, 0].max()
    v0, v1 = uvz[:, 1].min(), uvz[:, 1].max()
    fill = (v1 - v0) / height
    assert 0.4 <= fill <= 0.9, f"robust bounds fill {fill:.0%} of the height"
    assert abs((v0 + v1) / 2 - height / 2) <= 0.1 * height
    assert abs((u0 + u1) / 2 - width / 2) <= 0.1 * width
    assert u0 >= 0 and u1 <= width and v0 >= 0 and v1 <= height


def test_framing_distance_is_pure_geometry() -> None:
    from app.render.camera import framing_distance

    # a 2 x 2 x 0 box, 90-degree lens (f = half the frame): it fills `fill` of the frame
    d = framing_distance(np.array([2.0, 2.0, 0.0]), 50.0, 50.0, 100, 100, fill=0.5)
    assert d == pytest.approx(2.0)
    # depth brings the near face forward by half the depth
    d2 = framing_distance(np.array([2.0, 2.0, 1.0]), 50.0, 50.0, 100, 100, fill=0.5)
    assert d2 == pytest.approx(2.5)
