"""A numpy reference rasteriser for Gaussian splats, the oracle the GL renderer is held to.

Written independently of app/render/splats.py but with the same constants: EWA projection
with the Jacobian taken within 1.3*tan(fov/2), the scene's dilation on the 2D covariance
diagonal, footprint cut at min(3 sigma, where alpha reaches 1/255) and clamped to the larger
side of the image, per pixel (centres at +0.5) front to back:
alpha = min(0.99, o * exp(-0.5 d^T conic d)), skipped below 1/255. Colours get the degree 1..3
spherical harmonics for the view direction, are clamped at 0, and ml-sharp scenes blend in
linear light and are encoded back to sRGB (un-premultiplied) at the end.

Slow (a Python loop over splats): for scenes of a few thousand splats at low resolution.
"""

from __future__ import annotations

import numpy as np

from app.media.splats import SplatScene

ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.99

_C1 = 0.4886025119029199
_C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1 / 2.4) - 0.055)


def sh_basis(dirs: np.ndarray, degree: int) -> np.ndarray:
    """(N, (degree+1)^2 - 1) real SH basis values (3DGS sign convention), without Y00."""
    x, y, z = dirs[:, 0], dirs[:, 1], dirs[:, 2]
    cols = []
    if degree >= 1:
        cols += [-_C1 * y, _C1 * z, -_C1 * x]
    if degree >= 2:
        cols += [
            _C2[0] * x * y,
            _C2[1] * y * z,
            _C2[2] * (2 * z * z - x * x - y * y),
            _C2[3] * x * z,
            _C2[4] * (x * x - y * y),
        ]
    if degree >= 3:
        cols += [
            _C3[0] * y * (3 * x * x - y * y),
            _C3[1] * x * y * z,
            _C3[2] * y * (4 * z * z - x * x - y * y),
            _C3[3] * z * (2 * z * z - 3 * x * x - 3 * y * y),
            _C3[4] * x * (4 * z * z - x * x - y * y),
            _C3[5] * z * (x * x - y * y),
            _C3[6] * x * (x * x - 3 * y * y),
        ]
    return np.stack(cols, axis=1) if cols else np.zeros((len(dirs), 0))


def rotation_matrices(q: np.ndarray) -> np.ndarray:
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.stack(
        [
            np.stack([1 - 2 * (y**2 + z**2), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x**2 + z**2), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x**2 + y**2)], -1),
        ],
        axis=1,
    )


def render_oracle(scene: SplatScene, view: object) -> np.ndarray:
    """(H, W, 4) float64 premultiplied RGBA (sRGB-encoded), top row first.

    `view` needs: view (4x4 world -> camera), fx, fy, cx, cy, width, height, near, far.
    """
    width, height = int(view.width), int(view.height)  # type: ignore[attr-defined]
    vm = np.asarray(view.view, dtype=np.float64)  # type: ignore[attr-defined]
    fx, fy, cx, cy = (float(getattr(view, k)) for k in ("fx", "fy", "cx", "cy"))
    near, far = float(view.near), float(view.far)  # type: ignore[attr-defined]
    max_radius = float(max(width, height))

    pos = scene.positions.astype(np.float64)
    opac = scene.opacities.astype(np.float64)
    rot = rotation_matrices(scene.rotations.astype(np.float64))
    m = rot * scene.scales.astype(np.float64)[:, None, :]
    cov3 = m @ np.swapaxes(m, 1, 2)

    w3 = vm[:3, :3]
    t = pos @ w3.T + vm[:3, 3]
    keep = (t[:, 2] >= near) & (t[:, 2] <= far) & (opac >= ALPHA_MIN)
    idx = np.flatnonzero(keep)
    t = t[idx]
    z = t[:, 2]
    centre = np.stack([fx * t[:, 0] / z + cx, fy * t[:, 1] / z + cy], axis=1)
    lim_x = 1.3 * width / (2 * fx)
    lim_y = 1.3 * height / (2 * fy)
    tx = np.clip(t[:, 0] / z, -lim_x, lim_x) * z
    ty = np.clip(t[:, 1] / z, -lim_y, lim_y) * z
    jac = np.zeros((len(idx), 2, 3))
    jac[:, 0, 0] = fx / z
    jac[:, 0, 2] = -fx * tx / z**2
    jac[:, 1, 1] = fy / z
    jac[:, 1, 2] = -fy * ty / z**2
    tm = jac @ w3
    cov2 = tm @ cov3[idx] @ np.swapaxes(tm, 1, 2)
    cov2[:, 0, 0] += scene.dilation
    cov2[:, 1, 1] += scene.dilation

    colours = scene.colours[idx].astype(np.float64)
    if scene.sh is not None and scene.sh_degree > 0:
        cam = -w3.T @ vm[:3, 3]
        dirs = pos[idx] - cam
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        basis = sh_basis(dirs, scene.sh_degree)
        colours = colours + np.einsum("nk,nkc->nc", basis, scene.sh[idx].astype(np.float64))
    colours = np.maximum(colours, 0.0)
    linear = scene.blend_linear and scene.colour_space == "srgb"
    if linear:
        colours = srgb_to_linear(colours)

    # front to back; equal depths in the reverse of the GPU's back-to-front (stable) order
    back_to_front = np.argsort(-z, kind="stable")
    order = back_to_front[::-1]

    out_c = np.zeros((height, width, 3))
    trans = np.ones((height, width))
    for j in order:
        c2 = cov2[j]
        det = c2[0, 0] * c2[1, 1] - c2[0, 1] ** 2
        if not det > 0:
            continue
        conic = np.linalg.inv(c2)
        evals, evecs = np.linalg.eigh(c2)
        if not evals[0] > 0:
            continue
        sig = np.sqrt(evals)
        k = min(3.0, np.sqrt(max(2 * np.log(255 * opac[idx[j]]), 0.0)))
        ext = np.minimum(k * sig, max_radius)
        half = np.abs(evecs) @ ext
        x0 = max(int(np.floor(centre[j, 0] - half[0] - 0.5)), 0)
        x1 = min(int(np.ceil(centre[j, 0] + half[0] + 0.5)), width)
        y0 = max(int(np.floor(centre[j, 1] - half[1] - 0.5)), 0)
        y1 = min(int(np.ceil(centre[j, 1] + half[1] + 0.5)), height)
        if x0 >= x1 or y0 >= y1 or k <= 0:
            continue
        px, py = np.meshgrid(np.arange(x0, x1) + 0.5, np.arange(y0, y1) + 0.5)
        d = np.stack([px - centre[j, 0], py - centre[j, 1]], axis=-1)
        proj = d @ evecs  # coordinates along the eigenvectors
        inside = (np.abs(proj[..., 0]) <= ext[0]) & (np.abs(proj[..., 1]) <= ext[1])
        power = np.einsum("...i,ij,...j->...", d, conic, d)
        alpha = np.minimum(ALPHA_MAX, opac[idx[j]] * np.exp(-0.5 * power))
        ok = inside & (power <= 9.0) & (alpha >= ALPHA_MIN)
        alpha = np.where(ok, alpha, 0.0)
        tr = trans[y0:y1, x0:x1]
        out_c[y0:y1, x0:x1] += (tr * alpha)[..., None] * colours[j]
        trans[y0:y1, x0:x1] = tr * (1 - alpha)

    alpha_img = 1.0 - trans
    if linear:
        with np.errstate(invalid="ignore", divide="ignore"):
            straight = np.where(alpha_img[..., None] > 0, out_c / alpha_img[..., None], 0.0)
        out_c = linear_to_srgb(straight) * alpha_img[..., None]
    return np.concatenate([out_c, alpha_img[..., None]], axis=-1)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two images in 0..1 (inf when identical)."""
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(1.0 / mse)
