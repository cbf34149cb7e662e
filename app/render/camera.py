"""Camera math for splat scenes, pure numpy (no GL): base views, performer offsets, smoothing.

Conventions: world and camera frames follow OpenCV (x right, y down, z forward), as ml-sharp
scenes do. `CameraView.view` maps world points to camera space; pixel (u, v) of a point at
camera-space (x, y, z) is `(fx * x / z + cx, fy * y / z + cy)` with v growing downward and
pixel centres at half-integers.

A performer's move (`CameraOffset`) is relative to the cue's base view: yaw and pitch orbit
the camera around its focus point (the point `focus` units ahead of it), pan slides camera
and focus point sideways, dolly moves toward the focus point. Pan and dolly are fractions of
the focus distance, so one gamepad setting suits scenes of any scale. Positive yaw orbits the
camera to its right, positive pitch orbits it upward, positive pan_y moves it up, positive
dolly moves it in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from app.cues.state import CameraOffset
from app.media.splats import SplatScene
from app.show.model import CameraLimits, CameraSpec

DEFAULT_FOV = 60.0  # degrees, vertical, for scenes without intrinsics
NEAR_FRACTION = 0.02  # near plane as a fraction of the focus distance
FAR_FRACTION = 1000.0


@dataclass(frozen=True, eq=False)
class CameraView:
    """A pinhole camera for one render target.

    `view` is the 4x4 world -> camera matrix; `fx, fy, cx, cy` are in pixels of the
    `width` x `height` target; `fov_y` is the vertical field of view in degrees; `focus` is
    the orbit distance (scene units) used by offsets and drift.
    """

    view: np.ndarray
    fov_y: float
    width: int
    height: int
    near: float
    far: float
    fx: float
    fy: float
    cx: float
    cy: float
    focus: float

    @property
    def rotation(self) -> np.ndarray:
        """World -> camera rotation (3x3); its rows are the camera's right, down, forward."""
        return self.view[:3, :3]

    @property
    def position(self) -> np.ndarray:
        """Camera centre in world coordinates."""
        return -self.view[:3, :3].T @ self.view[:3, 3]

    def key(self) -> tuple[float, ...]:
        """A hashable summary: equal keys render identical images."""
        values = (*self.view[:3].reshape(-1), self.fx, self.fy, self.cx, self.cy)
        return (*(float(v) for v in values), self.width, self.height, self.near, self.far)

    def resized(self, width: int, height: int) -> CameraView:
        """The same camera for another target size, framed like "cover" (the old frame is
        scaled to cover the new one, centred)."""
        if (width, height) == (self.width, self.height):
            return self
        s = max(width / self.width, height / self.height)
        fx, fy = self.fx * s, self.fy * s
        cx = width / 2.0 + (self.cx - self.width / 2.0) * s
        cy = height / 2.0 + (self.cy - self.height / 2.0) * s
        fov = math.degrees(2.0 * math.atan(height / (2.0 * fy)))
        return replace(self, width=width, height=height, fx=fx, fy=fy, cx=cx, cy=cy, fov_y=fov)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 3) pixel x, pixel y, camera depth z."""
        p = np.asarray(points, dtype=np.float64) @ self.view[:3, :3].T + self.view[:3, 3]
        z = p[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            u = self.fx * p[:, 0] / z + self.cx
            v = self.fy * p[:, 1] / z + self.cy
        return np.stack([u, v, z], axis=1)


def _view_matrix(rotation: np.ndarray, centre: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3] = rotation
    out[:3, 3] = -rotation @ centre
    return out


def _with_pose(
    base: CameraView, rotation: np.ndarray, centre: np.ndarray, focus: float
) -> CameraView:
    return replace(
        base,
        view=_view_matrix(rotation, centre),
        focus=focus,
        near=focus * NEAR_FRACTION,
        far=focus * FAR_FRACTION,
    )


def _scene_focus(positions: np.ndarray, view: np.ndarray) -> float:
    z = positions @ view[2, :3].astype(np.float32) + np.float32(view[2, 3])
    front = z[z > 0]
    if front.size == 0:
        return 1.0
    return float(np.median(front))


ROBUST_PERCENTILES = (2.0, 98.0)  # the bounds framing uses: floaters beyond these are left out
FRAME_FILL = 0.7  # fraction of the frame the robust bounds fill (along the tighter axis)


def robust_bounds(
    positions: np.ndarray, percentiles: tuple[float, float] = ROBUST_PERCENTILES
) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis low and high percentiles of the splat centres: the scene's box without its
    outliers (floaters, stray background)."""
    p = np.asarray(positions, dtype=np.float64)
    lo, hi = np.percentile(p, percentiles, axis=0)
    return lo, hi


def framing_distance(
    size: np.ndarray, fx: float, fy: float, width: int, height: int, fill: float = FRAME_FILL
) -> float:
    """How far in front of a box of `size` (x, y, z) a camera looking down +z at its centre
    stands so that the box's projection fills `fill` of the frame along its tighter axis
    (its nearest face decides: a corner at depth d - size_z/2 projects largest)."""
    half = np.maximum(np.asarray(size, dtype=np.float64) / 2.0, 1e-6)
    need_x = fx * half[0] / (fill * width / 2.0)
    need_y = fy * half[1] / (fill * height / 2.0)
    return float(max(need_x, need_y) + half[2])


def base_view(scene: SplatScene, spec: CameraSpec | None, width: int, height: int) -> CameraView:
    """The view a splat cue starts from.

    Scenes with intrinsics (ml-sharp) start from the photo's camera (its extrinsic, identity
    by default), the photo's frame scaled to cover the target; the focus distance is the
    median depth of the splats. Other scenes are looked at along +z, centred on their robust
    bounds (`robust_bounds`: percentiles, so floaters do not count) from the distance at
    which those bounds fill `FRAME_FILL` of the frame (`framing_distance`). The cue's
    `camera:` then sets the field of view (when given) and moves the camera by its
    yaw/pitch/pan/dolly (not limited: the base view is the artist's choice).
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    fov_override = spec.fov if spec is not None else None
    if scene.intrinsics is not None:
        fx0, fy0, cx0, cy0, w0, h0 = scene.intrinsics
        view0 = np.eye(4) if scene.extrinsic is None else np.asarray(scene.extrinsic, float)
        s = max(width / w0, height / h0)
        fx, fy = fx0 * s, fy0 * s
        cx = width / 2.0 + (cx0 - w0 / 2.0) * s
        cy = height / 2.0 + (cy0 - h0 / 2.0) * s
        focus = _scene_focus(scene.positions, view0)
    else:
        fov = fov_override if fov_override is not None else DEFAULT_FOV
        fy = height / (2.0 * math.tan(math.radians(fov) / 2.0))
        fx, cx, cy = fy, width / 2.0, height / 2.0
        lo, hi = robust_bounds(scene.positions)
        centre = (lo + hi) / 2.0
        focus = framing_distance(hi - lo, fx, fy, width, height)
        view0 = _view_matrix(np.eye(3), centre - np.array([0.0, 0.0, focus]))
    if fov_override is not None:
        fy = height / (2.0 * math.tan(math.radians(fov_override) / 2.0))
        fx, cx, cy = fy, width / 2.0, height / 2.0
    fov_y = math.degrees(2.0 * math.atan(height / (2.0 * fy)))
    view = CameraView(
        view=view0,
        fov_y=fov_y,
        width=width,
        height=height,
        near=focus * NEAR_FRACTION,
        far=focus * FAR_FRACTION,
        fx=fx,
        fy=fy,
        cx=cx,
        cy=cy,
        focus=focus,
    )
    if spec is None:
        return view
    return move(view, CameraOffset(spec.yaw, spec.pitch, spec.pan_x, spec.pan_y, spec.dolly))


def move(base: CameraView, offset: CameraOffset, focus: float | None = None) -> CameraView:
    """`base` moved by `offset` (no limits): orbit around the focus point, then pan, then
    dolly."""
    f = base.focus if focus is None else float(focus)
    rot = base.rotation
    right, down, fwd = rot[0].copy(), rot[1].copy(), rot[2].copy()
    target = base.position + f * fwd
    yaw, pitch = math.radians(offset.yaw), math.radians(offset.pitch)
    # yaw: the camera swings to its right around the focus point and keeps facing it
    fwd, right = (
        math.cos(yaw) * fwd - math.sin(yaw) * right,
        math.cos(yaw) * right + math.sin(yaw) * fwd,
    )
    # pitch: it rises (toward -down) and tilts to keep facing the focus point
    fwd, down = (
        math.cos(pitch) * fwd + math.sin(pitch) * down,
        math.cos(pitch) * down - math.sin(pitch) * fwd,
    )
    centre = target - f * fwd
    centre = centre + f * (offset.pan_x * right - offset.pan_y * down)
    centre = centre + f * offset.dolly * fwd
    new_focus = max(f * (1.0 - offset.dolly), 1e-6)
    return _with_pose(base, np.stack([right, down, fwd]), centre, new_focus)


def clamp_offset(offset: CameraOffset, limits: CameraLimits) -> CameraOffset:
    """`offset` with each component held within `limits`."""

    def clamp(x: float, lo: float, hi: float) -> float:
        return min(max(float(x), lo), hi)

    return CameraOffset(
        yaw=clamp(offset.yaw, -limits.yaw, limits.yaw),
        pitch=clamp(offset.pitch, -limits.pitch, limits.pitch),
        pan_x=clamp(offset.pan_x, -limits.pan, limits.pan),
        pan_y=clamp(offset.pan_y, -limits.pan, limits.pan),
        dolly=clamp(offset.dolly, -limits.dolly_out, limits.dolly_in),
    )


def add_offsets(a: CameraOffset, b: CameraOffset) -> CameraOffset:
    """Component-wise sum of two offsets (e.g. the performer's move plus drift)."""
    return CameraOffset(
        a.yaw + b.yaw, a.pitch + b.pitch, a.pan_x + b.pan_x, a.pan_y + b.pan_y, a.dolly + b.dolly
    )


def apply_offset(
    base: CameraView, offset: CameraOffset, limits: CameraLimits, focus: float | None = None
) -> CameraView:
    """`base` moved by `offset` clamped to `limits`; `focus` defaults to the base's."""
    return move(base, clamp_offset(offset, limits), focus)


def drift(t: float, spec: CameraSpec | None) -> CameraOffset:
    """The slow automatic "breathing" move at clock time `t` (zero when `spec.drift` is 0).

    A smooth loop of period `spec.drift_period` whose amplitude is `spec.drift` times the
    cue's limits (at most half of them, so the performer keeps room to move).
    """
    if spec is None or spec.drift <= 0.0 or spec.drift_period <= 0.0:
        return CameraOffset()
    a = min(float(spec.drift), 1.0) * 0.5
    lim = spec.limits
    phase = 2.0 * math.pi * t / spec.drift_period
    return CameraOffset(
        yaw=a * lim.yaw * math.sin(phase),
        pitch=a * lim.pitch * math.sin(2.0 * phase + 0.9) * 0.6,
        pan_x=a * lim.pan * math.sin(phase + 1.7) * 0.3,
        pan_y=a * lim.pan * math.sin(2.0 * phase) * 0.2,
        dolly=a * min(lim.dolly_in, lim.dolly_out) * 0.5 * (1.0 - math.cos(phase)),
    )


def cue_view(
    scene: SplatScene,
    spec: CameraSpec | None,
    offset: CameraOffset,
    t: float,
    width: int,
    height: int,
) -> CameraView:
    """The view of a splat cue at time `t`: base view, plus drift and the performer's offset,
    clamped to the cue's limits (default limits when the cue has no `camera:`)."""
    base = base_view(scene, spec, width, height)
    limits = spec.limits if spec is not None else CameraLimits()
    return apply_offset(base, add_offsets(offset, drift(t, spec)), limits)


_FIELDS = ("yaw", "pitch", "pan_x", "pan_y", "dolly")


def smooth_toward(
    value: float, velocity: float, target: float, dt: float, omega: float
) -> tuple[float, float]:
    """One step of a critically damped spring toward `target` (exact for any `dt`).

    `omega` is the spring's angular frequency (1/s); returns the new (value, velocity).
    """
    if dt <= 0.0:
        return value, velocity
    e0 = value - target
    decay = math.exp(-omega * dt)
    k = velocity + omega * e0
    return target + (e0 + k * dt) * decay, (velocity - omega * k * dt) * decay


class CameraSmoother:
    """Smooths a performer's camera targets into a camera offset (critically damped).

    Deterministic: it only depends on the targets and the `dt` values it is given; no clock.
    `halflife` is about the time for half of a step change to arrive (seconds).
    """

    def __init__(self, halflife: float = 0.25, value: CameraOffset | None = None) -> None:
        if halflife <= 0.0:
            raise ValueError(f"halflife must be positive, got {halflife}")
        # a critically damped spring covers half of a step in about 1.678 / omega
        self.omega = 1.678 / halflife
        self.value = value or CameraOffset()
        self.velocity = CameraOffset()

    def reset(self, value: CameraOffset | None = None) -> None:
        """Jump to `value` (default: no offset) with no velocity."""
        self.value = value or CameraOffset()
        self.velocity = CameraOffset()

    def update(self, target: CameraOffset, dt: float) -> CameraOffset:
        """Advance by `dt` seconds toward `target`; returns the new smoothed offset."""
        values, velocities = [], []
        for name in _FIELDS:
            x, v = smooth_toward(
                getattr(self.value, name),
                getattr(self.velocity, name),
                getattr(target, name),
                dt,
                self.omega,
            )
            values.append(x)
            velocities.append(v)
        self.value = CameraOffset(*values)
        self.velocity = CameraOffset(*velocities)
        return self.value
