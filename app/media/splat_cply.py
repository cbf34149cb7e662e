"""PlayCanvas / SuperSplat compressed PLY (`.compressed.ply`), numpy only.

Layout (playcanvas/splat-transform `decompress-ply.ts`; shared/notes/splat-formats.md):

- `chunk` element, one row per 256 splats: float32 `min_x..max_z`, `min_scale_x..max_scale_z`
  (log scales) and, in newer files, `min_r, min_g, min_b, max_r, max_g, max_b`.
- `vertex` element: uint32 `packed_position`, `packed_rotation`, `packed_scale`,
  `packed_color`. Positions and scales are 11/10/11-bit fractions (x in bits 31-21, y 20-11,
  z 10-0) of their chunk's min..max. Rotations keep the index of the largest quaternion
  component in bits 31-30 (0 = rot_0 = w) and the other three, in order, as 10-bit
  `(v - 0.5) * sqrt(2)`. Colours are 8-bit R, G, B (within the chunk's colour range when
  it has one) and opacity (post-sigmoid), R in the top byte.
- optional `sh` element: uchar `f_rest_*` (9/24/45 = degree 1/2/3, channel-major as in the
  Inria PLY), byte b -> ((b + 0.5) / 256 - 0.5) * 8, with 0 and 255 exactly -4 and +4.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from app.media.ply import PlyHeader, read_ply_elements
from app.media.splat_scene import SH_C0, SplatScene, scene_from_arrays
from app.media.types import MediaError

CHUNK_SIZE = 256
CHUNK_BOUNDS = tuple(f"{m}_{a}" for m in ("min", "max") for a in "xyz")
CHUNK_SCALES = tuple(f"{m}_scale_{a}" for m in ("min", "max") for a in "xyz")
CHUNK_COLOURS = tuple(f"{m}_{c}" for m in ("min", "max") for c in "rgb")
PACKED = ("packed_position", "packed_rotation", "packed_scale", "packed_color")
SH_COUNTS = {9: 1, 24: 2, 45: 3}


def unpack_111011(packed: np.ndarray) -> np.ndarray:
    """(N,) uint32 -> (N, 3) float64 fractions 0..1 (11, 10 and 11 bits)."""
    p = packed.astype(np.uint32)
    out = np.empty((p.size, 3), np.float64)
    out[:, 0] = ((p >> 21) & 0x7FF) / 2047.0
    out[:, 1] = ((p >> 11) & 0x3FF) / 1023.0
    out[:, 2] = (p & 0x7FF) / 2047.0
    return out


def unpack_rotation(packed: np.ndarray) -> np.ndarray:
    """(N,) uint32 -> (N, 4) w-first quaternions (largest component rebuilt, positive)."""
    p = packed.astype(np.uint32)
    small = np.stack([(p >> 20) & 0x3FF, (p >> 10) & 0x3FF, p & 0x3FF], axis=1)
    small = (small / 1023.0 - 0.5) * np.sqrt(2.0)
    largest = np.sqrt(np.maximum(0.0, 1.0 - np.einsum("ij,ij->i", small, small)))
    which = (p >> 30).astype(np.int64)
    out = np.empty((p.size, 4), np.float64)
    for k in range(4):
        rows = which == k
        others = [i for i in range(4) if i != k]
        out[np.ix_(rows, others)] = small[rows]
        out[rows, k] = largest[rows]
    return out


def sh_from_bytes(raw: np.ndarray) -> np.ndarray:
    """uchar SH values -> floats in -4..4 (0 and 255 map to the ends exactly)."""
    b = raw.astype(np.float64)
    n = (b + 0.5) / 256.0
    n = np.where(raw == 0, 0.0, np.where(raw == 255, 1.0, n))
    return (n - 0.5) * 8.0


def _require(path: object, element: str, have: tuple[str, ...], names: tuple[str, ...]) -> None:
    missing = [n for n in names if n not in have]
    if missing:
        raise MediaError(
            path, f"compressed PLY {element} element lacks properties {', '.join(missing)}"
        )


def decode_compressed_ply(data: bytes, header: PlyHeader, path: str | Path) -> SplatScene:
    """Decode a compressed PLY whose header is already parsed."""
    chunk_el, vertex_el = header.element("chunk"), header.element("vertex")
    assert chunk_el is not None and vertex_el is not None
    _require(path, "chunk", chunk_el.names, CHUNK_BOUNDS + CHUNK_SCALES)
    _require(path, "vertex", vertex_el.names, PACKED)
    n = vertex_el.count
    if chunk_el.count != -(-n // CHUNK_SIZE):
        raise MediaError(
            path,
            f"compressed PLY has {chunk_el.count} chunks for {n} splats "
            f"(expected {-(-n // CHUNK_SIZE)}, one per {CHUNK_SIZE})",
        )
    sh_el = header.element("sh")
    wanted = {"chunk", "vertex"} | ({"sh"} if sh_el is not None else set())
    elements = read_ply_elements(data, header, wanted, path)
    chunk, vertex = elements["chunk"], elements["vertex"]
    which = np.arange(n) // CHUNK_SIZE

    def chunk_range(lo: tuple[str, ...], hi: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        a = np.stack([chunk[k].astype(np.float64) for k in lo], axis=1)[which]
        b = np.stack([chunk[k].astype(np.float64) for k in hi], axis=1)[which]
        return a, b - a

    lo, span = chunk_range(CHUNK_BOUNDS[:3], CHUNK_BOUNDS[3:])
    positions = lo + span * unpack_111011(vertex["packed_position"])
    lo, span = chunk_range(CHUNK_SCALES[:3], CHUNK_SCALES[3:])
    log_scales = lo + span * unpack_111011(vertex["packed_scale"])
    rotations = unpack_rotation(vertex["packed_rotation"])

    c = vertex["packed_color"].astype(np.uint32)
    rgba = np.stack([(c >> s) & 0xFF for s in (24, 16, 8, 0)], axis=1) / 255.0
    rgb = rgba[:, :3]
    if all(k in chunk_el.names for k in CHUNK_COLOURS):
        lo, span = chunk_range(CHUNK_COLOURS[:3], CHUNK_COLOURS[3:])
        rgb = lo + span * rgb
    f_dc = (rgb - 0.5) / SH_C0

    sh = None
    if sh_el is not None:
        sh = _sh(elements["sh"], sh_el.names, n, path)
    return scene_from_arrays(
        path,
        "compressed_ply",
        positions=positions,
        log_scales=log_scales,
        rotations=rotations,
        opacities=rgba[:, 3],
        f_dc=f_dc,
        sh=sh,
    )


def _sh(rows: np.ndarray, names: tuple[str, ...], n: int, path: object) -> np.ndarray:
    count = len(names)
    if count not in SH_COUNTS:
        raise MediaError(path, f"compressed PLY sh element has {count} values (expected 9/24/45)")
    wanted = [f"f_rest_{i}" for i in range(count)]
    _require(path, "sh", names, tuple(wanted))
    if rows.shape[0] != n:
        raise MediaError(path, f"compressed PLY has {rows.shape[0]} sh rows for {n} splats")
    flat = np.stack([sh_from_bytes(rows[k]) for k in wanted], axis=1)
    per_channel = count // 3
    return flat.reshape(n, 3, per_channel).transpose(0, 2, 1)
