"""Writers of the splat layouts the loaders read, for tests: each follows its format's
published description (shared/notes/splat-formats.md names the sources), written from the
description, not from our loaders.

`KnownSplats` holds a scene as the Inria PLY stores it (log scales, w-first quaternions,
opacity logits, f_dc and channel-major f_rest); every writer takes one.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cramjam
import numpy as np
from PIL import Image

SH_C0 = 0.28209479177387814


@dataclass
class KnownSplats:
    """Splats as the Inria PLY stores them; `f_rest` is (n, 3 * M) channel-major."""

    xyz: np.ndarray
    log_scale: np.ndarray
    rot: np.ndarray  # w x y z, unit
    logit: np.ndarray
    f_dc: np.ndarray
    f_rest: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.xyz.shape[0])

    @property
    def opacity(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logit))

    def sh(self) -> np.ndarray | None:
        """(n, M, 3): coefficient k of channel c."""
        if self.f_rest is None:
            return None
        m = self.f_rest.shape[1] // 3
        return self.f_rest.reshape(self.n, 3, m).transpose(0, 2, 1)


def known_splats(n: int = 700, degree: int = 1, seed: int = 3) -> KnownSplats:
    """A cloud in front of a camera at the origin looking down +z (RDF), all within the
    ranges every format can hold (SPZ's positions, scales and SH especially)."""
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(n, 3)) * [0.6, 0.4, 0.3] + [0.0, 0.0, 2.5]
    q = rng.normal(size=(n, 4))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    m = (degree + 1) ** 2 - 1
    return KnownSplats(
        xyz=xyz,
        log_scale=rng.uniform(-4.6, -2.8, size=(n, 3)),
        rot=q,
        logit=rng.uniform(-1.0, 4.0, size=n),
        f_dc=rng.uniform(-1.5, 1.5, size=(n, 3)),
        f_rest=rng.uniform(-0.3, 0.3, size=(n, 3 * m)) if degree else None,
    )


def _ply(path: Path, elements: list[tuple[str, np.ndarray]], ply_types: dict[str, str]) -> None:
    head = ["ply", "format binary_little_endian 1.0", "comment written by tests/splat_writers"]
    body = b""
    for name, rows in elements:
        head.append(f"element {name} {rows.shape[0]}")
        head += [f"property {ply_types[rows.dtype[f].str[1:]]} {f}" for f in rows.dtype.names]
        body += rows.tobytes()
    head.append("end_header")
    path.write_bytes(("\n".join(head) + "\n").encode("ascii") + body)


PLY_TYPES = {"f4": "float", "u4": "uint", "u1": "uchar"}


def write_inria_ply(path: Path, s: KnownSplats) -> Path:
    """The Inria 3DGS layout, float32 throughout (graphdeco-inria save_ply)."""
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    rest = 0 if s.f_rest is None else s.f_rest.shape[1]
    names += [f"f_rest_{i}" for i in range(rest)] + ["opacity"]
    names += [f"scale_{i}" for i in range(3)] + [f"rot_{i}" for i in range(4)]
    rows = np.zeros(s.n, dtype=[(k, "<f4") for k in names])
    for i, a in enumerate("xyz"):
        rows[a] = s.xyz[:, i]
    for i in range(3):
        rows[f"f_dc_{i}"] = s.f_dc[:, i]
        rows[f"scale_{i}"] = s.log_scale[:, i]
    for i in range(rest):
        rows[f"f_rest_{i}"] = s.f_rest[:, i]
    rows["opacity"] = s.logit
    for i in range(4):
        rows[f"rot_{i}"] = s.rot[:, i]
    _ply(path, [("vertex", rows)], PLY_TYPES)
    return path


# --- PlayCanvas compressed PLY ------------------------------------------------------------


def _unorm(v: np.ndarray, bits: int) -> np.ndarray:
    top = (1 << bits) - 1
    return np.clip(np.round(v * top), 0, top).astype(np.uint32)


def _pack_111011(frac: np.ndarray) -> np.ndarray:
    return (_unorm(frac[:, 0], 11) << 21) | (_unorm(frac[:, 1], 10) << 11) | _unorm(frac[:, 2], 11)


def _chunk_fraction(values: np.ndarray, chunk: np.ndarray) -> tuple[np.ndarray, ...]:
    chunks = chunk.max() + 1
    lo = np.array([values[chunk == c].min(axis=0) for c in range(chunks)])
    hi = np.array([values[chunk == c].max(axis=0) for c in range(chunks)])
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return (values - lo[chunk]) / span[chunk], lo, hi


def write_compressed_ply(path: Path, s: KnownSplats, *, chunk_colours: bool = True) -> Path:
    """The compressed layout: a chunk per 256 splats, packed uint32 vertex rows, uchar SH."""
    chunk = np.arange(s.n) // 256
    pos_f, pos_lo, pos_hi = _chunk_fraction(s.xyz, chunk)
    scl_f, scl_lo, scl_hi = _chunk_fraction(s.log_scale, chunk)
    rgb = 0.5 + SH_C0 * s.f_dc
    if chunk_colours:
        rgb_f, rgb_lo, rgb_hi = _chunk_fraction(rgb, chunk)
    else:
        rgb_f = rgb
    chunk_names = [f"{m}_{a}" for m in ("min", "max") for a in "xyz"]
    chunk_names += [f"{m}_scale_{a}" for m in ("min", "max") for a in "xyz"]
    columns = [pos_lo, pos_hi, scl_lo, scl_hi]
    if chunk_colours:
        chunk_names += [f"{m}_{c}" for m in ("min", "max") for c in "rgb"]
        columns += [rgb_lo, rgb_hi]
    chunks = np.zeros(chunk.max() + 1, dtype=[(k, "<f4") for k in chunk_names])
    flat = np.concatenate(columns, axis=1)
    for i, k in enumerate(chunk_names):
        chunks[k] = flat[:, i]

    q = s.rot / np.linalg.norm(s.rot, axis=1, keepdims=True)
    largest = np.argmax(np.abs(q), axis=1)
    q = q * np.sign(q[np.arange(s.n), largest])[:, None]
    rot = largest.astype(np.uint32) << 30
    for i in range(s.n):
        others = [q[i, k] for k in range(4) if k != largest[i]]
        for shift, v in zip((20, 10, 0), others, strict=True):
            rot[i] |= np.uint32(round((v / math.sqrt(2) + 0.5) * 1023)) << shift
    alpha = s.opacity
    colour = (
        (_unorm(rgb_f[:, 0], 8) << 24)
        | (_unorm(rgb_f[:, 1], 8) << 16)
        | (_unorm(rgb_f[:, 2], 8) << 8)
        | _unorm(alpha, 8)
    )
    vertex = np.zeros(
        s.n,
        dtype=[
            ("packed_position", "<u4"),
            ("packed_rotation", "<u4"),
            ("packed_scale", "<u4"),
            ("packed_color", "<u4"),
        ],
    )
    vertex["packed_position"] = _pack_111011(pos_f)
    vertex["packed_rotation"] = rot
    vertex["packed_scale"] = _pack_111011(scl_f)
    vertex["packed_color"] = colour
    elements = [("chunk", chunks), ("vertex", vertex)]
    if s.f_rest is not None:
        m = s.f_rest.shape[1]
        sh = np.zeros(s.n, dtype=[(f"f_rest_{i}", "u1") for i in range(m)])
        b = np.clip(np.floor((s.f_rest / 8.0 + 0.5) * 256.0), 0, 255).astype(np.uint8)
        for i in range(m):
            sh[f"f_rest_{i}"] = b[:, i]
        elements.append(("sh", sh))
    _ply(path, elements, PLY_TYPES)
    return path


# --- Niantic SPZ --------------------------------------------------------------------------

# sign of each SH basis function under (x, y, z) -> (x, -y, -z) (RDF <-> RUB)
_SH_FLIP = [-1, -1, 1, -1, 1, 1, -1, 1, -1, 1, -1, -1, 1, -1, 1]


def _spz_arrays(
    s: KnownSplats, version: int, frac_bits: int = 12, rub: bool = False
) -> tuple[bytes, ...]:
    """The six arrays; `rub` turns the scene to Niantic's RUB frame first (its library with
    a coordinate system), else they hold the PLY's frame (what splat-transform writes)."""
    flip = np.array([1.0, -1.0, -1.0]) if rub else np.ones(3)
    xyz = s.xyz * flip
    fixed = np.round(xyz * (1 << frac_bits)).astype(np.int64).reshape(-1) & 0xFFFFFF
    positions = np.stack([fixed & 0xFF, (fixed >> 8) & 0xFF, (fixed >> 16) & 0xFF], axis=1)
    alphas = np.clip(np.round(s.opacity * 255.0), 0, 255)
    colours = np.clip(np.round(s.f_dc * (0.15 * 255.0) + 127.5), 0, 255)
    scales = np.clip(np.round((s.log_scale + 10.0) * 16.0), 0, 255)
    w, x, y, z = s.rot.T
    xyzw = np.stack([x, y * flip[1], z * flip[2], w], axis=1)  # stored x y z w
    if version >= 3:
        rot = bytearray()
        for q in xyzw:
            big = int(np.argmax(np.abs(q)))
            negate = q[big] < 0
            comp = big
            for i in range(4):
                if i != big:
                    negbit = int((q[i] < 0) ^ negate)
                    mag = int(511 * (abs(q[i]) / math.sqrt(0.5)) + 0.5)
                    comp = (comp << 10) | (negbit << 9) | mag
            rot += struct.pack("<I", comp)
        rotations = bytes(rot)
    else:
        sign = np.where(xyzw[:, 3] < 0, -1.0, 1.0)[:, None]
        rotations = np.clip(np.round(xyzw[:, :3] * sign * 127.5 + 127.5), 0, 255)
        rotations = rotations.astype(np.uint8).tobytes()
    sh = b""
    coeffs = s.sh()
    if coeffs is not None:
        signs = np.array(_SH_FLIP[: coeffs.shape[1]]) if rub else np.ones(coeffs.shape[1])
        flipped = coeffs * signs[None, :, None]
        q = np.round(flipped * 128.0) + 128.0
        bucket = 8  # 5 bits for degree 1 (the reference writer's default)
        q = np.floor((q + bucket // 2) / bucket) * bucket
        sh = np.clip(q, 0, 255).astype(np.uint8).tobytes()  # channel fastest, then coefficient
    u8 = [a.astype(np.uint8).tobytes() for a in (positions, alphas, colours, scales)]
    if version == 1:  # the first version kept positions as float16
        u8[0] = xyz.astype("<f2").tobytes()
    return (*u8, rotations, sh)


def _degree(s: KnownSplats) -> int:
    return 0 if s.f_rest is None else round(math.sqrt(s.f_rest.shape[1] // 3 + 1)) - 1


def write_spz(path: Path, s: KnownSplats, version: int = 3, *, rub: bool = False) -> Path:
    """SPZ version 1, 2 or 3: one gzip stream, 16-byte header then the arrays."""
    header = struct.pack("<IIIBBBB", 0x5053474E, version, s.n, _degree(s), 12, 0, 0)
    path.write_bytes(gzip.compress(header + b"".join(_spz_arrays(s, version, rub=rub))))
    return path


def write_spz_v4(path: Path, s: KnownSplats) -> Path:
    """SPZ version 4: plaintext header, table of contents, one ZSTD stream per array."""
    arrays = list(_spz_arrays(s, 4))
    if not arrays[-1]:
        arrays = arrays[:-1]
    frames = [bytes(cramjam.zstd.compress(a)) for a in arrays]
    toc_offset = 32
    header = struct.pack(
        "<IIIBBBBI", 0x5053474E, 4, s.n, _degree(s), 12, 0, len(frames), toc_offset
    )
    header += bytes(12)
    toc = b"".join(struct.pack("<QQ", len(f), len(a)) for f, a in zip(frames, arrays, strict=True))
    path.write_bytes(header + toc + b"".join(frames))
    return path


# --- PlayCanvas SOG -----------------------------------------------------------------------


def _texture(values: np.ndarray, width: int, height: int) -> bytes:
    """(n, 4) uint8 texels -> a lossless RGBA WebP of width x height."""
    img = np.zeros((width * height, 4), np.uint8)
    img[: values.shape[0]] = values
    buf = io.BytesIO()
    Image.fromarray(img.reshape(height, width, 4), "RGBA").save(
        buf, "WEBP", lossless=True, quality=100, exact=True
    )
    return buf.getvalue()


def _codebook(values: np.ndarray) -> tuple[list[float], np.ndarray]:
    """256 evenly spaced entries over the values' range, and each value's nearest index."""
    book = np.linspace(values.min(), values.max(), 256)
    index = np.clip(np.round((values - book[0]) / (book[1] - book[0])), 0, 255).astype(np.uint8)
    return book.tolist(), index


def sog_files(s: KnownSplats) -> dict[str, bytes]:
    """meta.json and the images of a version-2 SOG."""
    n = s.n
    width = math.ceil(math.sqrt(n) / 4) * 4
    height = math.ceil(n / width / 4) * 4
    opaque = np.full((n, 1), 255, np.uint8)
    logged = np.sign(s.xyz) * np.log(np.abs(s.xyz) + 1.0)
    mins, maxs = logged.min(axis=0), logged.max(axis=0)
    q16 = np.round((logged - mins) / (maxs - mins) * 65535).astype(np.uint32)
    files = {
        "means_l.webp": _texture(np.hstack([(q16 & 0xFF).astype(np.uint8), opaque]), width, height),
        "means_u.webp": _texture(np.hstack([(q16 >> 8).astype(np.uint8), opaque]), width, height),
    }
    scale_book, scale_idx = _codebook(s.log_scale)
    files["scales.webp"] = _texture(np.hstack([scale_idx, opaque]), width, height)
    dc_book, dc_idx = _codebook(s.f_dc)
    alpha = np.round(s.opacity * 255).astype(np.uint8)[:, None]
    files["sh0.webp"] = _texture(np.hstack([dc_idx, alpha]), width, height)
    q = s.rot / np.linalg.norm(s.rot, axis=1, keepdims=True)
    largest = np.argmax(np.abs(q), axis=1)
    q = q * np.sign(q[np.arange(n), largest])[:, None]
    quat = np.zeros((n, 4), np.uint8)
    for i in range(n):
        others = [q[i, k] for k in range(4) if k != largest[i]]
        quat[i, :3] = np.round((np.array(others) * math.sqrt(2) * 0.5 + 0.5) * 255)
        quat[i, 3] = 252 + largest[i]
    files["quats.webp"] = _texture(quat, width, height)
    meta = {
        "version": 2,
        "asset": {"generator": "tests/splat_writers"},
        "count": n,
        "means": {"mins": mins.tolist(), "maxs": maxs.tolist(), "files": list(files)[:2]},
        "scales": {"codebook": scale_book, "files": ["scales.webp"]},
        "quats": {"files": ["quats.webp"]},
        "sh0": {"codebook": dc_book, "files": ["sh0.webp"]},
    }
    coeffs = s.sh()
    if coeffs is not None:
        m = coeffs.shape[1]
        book, index = _codebook(coeffs.reshape(-1))
        index = index.reshape(n, m, 3)
        rows = math.ceil(n / 64)
        centroids = np.zeros((rows * 64 * m, 4), np.uint8)
        centroids[:, 3] = 255
        centroids[: n * m, :3] = index.reshape(n * m, 3)  # entry e = splat e
        files["shN_centroids.webp"] = _texture(centroids, 64 * m, rows)
        labels = np.stack([np.arange(n) & 0xFF, np.arange(n) >> 8], axis=1).astype(np.uint8)
        labels = np.hstack([labels, np.zeros((n, 1), np.uint8), opaque])
        files["shN_labels.webp"] = _texture(labels, width, height)
        meta["shN"] = {
            "count": n,
            "bands": {3: 1, 8: 2, 15: 3}[m],
            "codebook": book,
            "files": ["shN_centroids.webp", "shN_labels.webp"],
        }
    return {"meta.json": json.dumps(meta).encode(), **files}


def write_sog_folder(folder: Path, s: KnownSplats) -> Path:
    """An unbundled SOG: meta.json beside its images; returns the meta.json path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in sog_files(s).items():
        (folder / name).write_bytes(data)
    return folder / "meta.json"


def write_sog_zip(path: Path, s: KnownSplats) -> Path:
    """A bundled `.sog`: the same files in a zip."""
    with zipfile.ZipFile(path, "w") as z:
        for name, data in sog_files(s).items():
            z.writestr(name, data)
    return path
