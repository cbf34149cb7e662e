"""The splat scene every loader returns, in one convention, and the checks and conversions
the loaders share (numpy only, no GL).

The convention, whatever the file stored: linear scales (not logs), unit w-first quaternions,
opacities in 0..1 (not logits), DC colours in 0..1 in the file's colour space, and the higher
spherical-harmonic coefficients (when the file has them) as `sh[n, k, channel]` for
k = 1..(degree+1)^2-1. A leaf: the format modules import it, it imports none of them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from app.media.types import MediaError

SH_C0 = 0.28209479177387814  # Y_0^0, turns a DC coefficient into a colour offset
INRIA_DILATION = 0.3  # px^2 added to the 2D covariance by the Inria rasteriser

ColourSpace = Literal["srgb", "linear"]
SourceKind = Literal["inria", "mlsharp", "splat", "compressed_ply", "spz", "sog"]
Intrinsics = tuple[float, float, float, float, int, int]  # fx, fy, cx, cy, width, height
PER_SPLAT = ("positions", "scales", "rotations", "opacities", "colours")  # one row a splat


@dataclass(frozen=True, eq=False)
class SplatScene:
    """A Gaussian-splat scene in memory, ready for upload.

    `intrinsics` and `extrinsic` (world -> camera, 4x4, OpenCV frame: x right, y down,
    z forward) describe the photo an ml-sharp scene was made from; None for other sources.
    `dilation` is added to each 2D covariance in px^2 (0.3 for Inria-trained scenes, 0 for
    ml-sharp). `blend_linear` asks the renderer to blend in linear light (ml-sharp).
    """

    positions: np.ndarray  # (N, 3) float32
    scales: np.ndarray  # (N, 3) float32, linear
    rotations: np.ndarray  # (N, 4) float32, w x y z, unit length
    opacities: np.ndarray  # (N,) float32, 0..1
    colours: np.ndarray  # (N, 3) float32, DC colour in `colour_space`
    sh: np.ndarray | None = None  # (N, (deg+1)^2 - 1, 3) float32, without the DC term
    sh_degree: int = 0
    dilation: float = INRIA_DILATION
    colour_space: ColourSpace = "srgb"
    blend_linear: bool = False
    intrinsics: Intrinsics | None = None
    extrinsic: np.ndarray | None = None  # (4, 4) float64
    kind: SourceKind = "inria"
    path: Path | None = None

    @property
    def count(self) -> int:
        """Number of splats."""
        return int(self.positions.shape[0])

    def subset(self, index: np.ndarray | slice) -> SplatScene:
        """A scene with only the splats selected by `index` (same metadata)."""

        def pick(a: np.ndarray) -> np.ndarray:
            return np.ascontiguousarray(a[index])

        per_splat = {k: pick(getattr(self, k)) for k in PER_SPLAT}
        sh = None if self.sh is None else pick(self.sh)
        return dataclasses.replace(self, sh=sh, **per_splat)


def scene_from_arrays(
    path: str | Path,
    kind: SourceKind,
    *,
    positions: np.ndarray,
    log_scales: np.ndarray,
    rotations: np.ndarray,
    opacities: np.ndarray,
    f_dc: np.ndarray,
    sh: np.ndarray | None = None,
) -> SplatScene:
    """A scene in the one convention from decoded arrays as the Inria PLY stores them (log
    scales, any-length w-first quaternions, f_dc coefficients, `sh[n, k, channel]`), except
    that opacities are already 0..1. Non-finite values are refused as in `decode_ply`."""
    positions = np.ascontiguousarray(positions, dtype=np.float32)
    log_scales = np.ascontiguousarray(log_scales, dtype=np.float32)
    rotations = np.ascontiguousarray(rotations, dtype=np.float32)
    colours = (np.asarray(f_dc, np.float32) * np.float32(SH_C0) + np.float32(0.5)).astype(
        np.float32
    )
    opacities = np.ascontiguousarray(opacities, dtype=np.float32)
    degree = 0
    if sh is not None:
        sh = np.ascontiguousarray(sh, dtype=np.float32)
        degree = {3: 1, 8: 2, 15: 3}.get(sh.shape[1], 0)
        if degree == 0:
            sh = None
    check_values(path, positions, rotations, colours, sh, opacities, log_scales)
    return SplatScene(
        positions=positions,
        scales=np.exp(log_scales),
        rotations=normalise_quaternions(rotations),
        opacities=np.clip(opacities, 0.0, 1.0),
        colours=np.ascontiguousarray(colours),
        sh=sh,
        sh_degree=degree,
        dilation=INRIA_DILATION,
        colour_space="srgb",
        blend_linear=False,
        kind=kind,
        path=Path(path),
    )


def check_values(
    path: Any,
    positions: np.ndarray,
    rotations: np.ndarray,
    colours: np.ndarray,
    sh: np.ndarray | None,
    opacity_logits: np.ndarray,
    log_scales: np.ndarray,
) -> None:
    """Refuse NaN (and infinite where it cannot mean anything) values, naming them."""
    check_finite(path, "position (x, y, z)", positions)
    check_finite(path, "rotation (rot_*)", rotations)
    check_finite(path, "colour (f_dc_*)", colours)
    if sh is not None:
        check_finite(path, "SH (f_rest_*)", sh)
    if np.isnan(opacity_logits).any():
        raise MediaError(path, f"opacity is NaN for {int(np.isnan(opacity_logits).sum())} splats")
    if np.isnan(log_scales).any() or np.isposinf(log_scales).any():
        bad = int((np.isnan(log_scales) | np.isposinf(log_scales)).any(axis=1).sum())
        raise MediaError(path, f"scale (scale_*) is NaN or +inf for {bad} splats")


def check_finite(path: str | Path, what: str, values: np.ndarray) -> None:
    ok = np.isfinite(values)
    if not ok.all():
        bad = int((~ok).reshape(len(values), -1).any(axis=1).sum())
        kind = "NaN" if np.isnan(values).any() else "infinite"
        raise MediaError(path, f"{what} is {kind} for {bad} splats")


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function as float32; +-inf logits give exactly 1 and 0."""
    x = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore"):
        return (np.float32(1.0) / (np.float32(1.0) + np.exp(-x))).astype(np.float32)


def normalise_quaternions(q: np.ndarray) -> np.ndarray:
    """Unit quaternions (w first); zero-length ones become the identity."""
    q = np.asarray(q, dtype=np.float32)
    norm = np.sqrt(np.einsum("ij,ij->i", q, q))
    out = np.empty_like(q)
    zero = norm < 1e-12
    np.divide(q, np.where(zero, 1.0, norm)[:, None], out=out)
    if zero.any():
        out[zero] = (1.0, 0.0, 0.0, 0.0)
    return out
