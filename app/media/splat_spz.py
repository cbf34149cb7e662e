"""Niantic SPZ (`.spz`), numpy only (gzip from the standard library, ZSTD from cramjam).

Layout (nianticlabs/spz README and `load-spz.cc`; shared/notes/splat-formats.md):

- Versions 1-3: one gzip stream holding a 16-byte header (`magic 0x5053474e`, `version`,
  `numPoints` u32; `shDegree`, `fractionalBits`, `flags`, reserved u8), extension records
  when flag 0x2 is set, then the arrays positions, alphas, colours, scales, rotations, SH.
- Version 4: a plaintext 32-byte header (the same fields, then `numStreams` u8,
  `tocByteOffset` u32 and 12 reserved bytes), extension records up to the table of contents,
  one (compressed u64, uncompressed u64) pair per stream, then the streams (one ZSTD frame
  each) in the same order.
- positions: 24-bit signed fixed point with `fractionalBits` (version 1: float16);
  alpha = sigmoid(opacity) * 255; colour = f_dc * 0.15 * 255 + 127.5; scale byte =
  (log scale + 10) * 16; rotation (x, y, z, w order) version 3+: 4 bytes little-endian,
  bits 31-30 the index of the largest component, then for each other component in order a
  sign bit and a 9-bit magnitude of |q| / sqrt(1/2) (the first one highest); version 2:
  3 bytes x, y, z as q * 127.5 + 127.5 with w >= 0. SH: (b - 128) / 128, colour channel
  fastest, coefficient slowest, up to degree 4 (the renderer uses up to 3).
- Axes: the file carries no coordinate system. Niantic's README calls its internal frame RUB
  (x right, y up, z back), but PlayCanvas splat-transform and SuperSplat, the tools this
  production converts with, write and read SPZ in the PLY's own frame ("no coordinate
  conversion"), so the arrays are read as they are (as the PLY would hold them). A scene
  written in RUB (Niantic's library with a coordinate system given) plays upside down: its
  cue's `splat: {axes: rub}` flips y and z (app.media.splat_cue).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

from app.media.splat_scene import SplatScene, scene_from_arrays
from app.media.types import MediaError

MAGIC = 0x5053474E  # "NGSP" little-endian
COLOUR_SCALE = 0.15
MAX_POINTS = 50_000_000
MAX_EXTENSION_BYTES = 1 << 20  # extension records a legacy stream may carry before its data
SH_DIM = {0: 0, 1: 3, 2: 8, 3: 15, 4: 24}


def _header(raw: bytes, path: object) -> tuple[int, int, int, int, int]:
    if len(raw) < 16:
        raise MediaError(path, f"SPZ stream is {len(raw)} bytes, shorter than its header")
    magic, version, count, degree, frac, flags = struct.unpack_from("<IIIBBB", raw, 0)
    if magic != MAGIC:
        raise MediaError(path, "not an SPZ file (no NGSP magic)")
    if not 1 <= version <= 4:
        raise MediaError(path, f"SPZ version {version} is not supported (1 to 4 are)")
    if count == 0:
        raise MediaError(path, "SPZ file has no splats (numPoints is 0)")
    if count > MAX_POINTS:
        raise MediaError(path, f"SPZ header claims {count} splats (more than {MAX_POINTS})")
    if degree not in SH_DIM:
        raise MediaError(path, f"SPZ SH degree {degree} is not 0 to 4")
    return version, count, degree, frac, flags


def _sizes(version: int, n: int, degree: int) -> list[int]:
    """Bytes of positions, alphas, colours, scales, rotations, SH."""
    pos = n * 3 * (2 if version == 1 else 3)
    rot = n * (4 if version >= 3 else 3)
    return [pos, n, n * 3, n * 3, rot, n * SH_DIM[degree] * 3]


def decode_spz(data: bytes, path: str | Path = "<bytes>") -> SplatScene:
    """Decode an SPZ file (gzip versions 1-3, or the NGSP version 4 container)."""
    if data[:4] == b"NGSP":
        version, n, degree, frac, streams = _v4_streams(data, path)
    elif data[:2] == b"\x1f\x8b":
        raw = _gunzip(data, path)
        version, n, degree, frac, flags = _header(raw, path)
        sizes = _sizes(version, n, degree)
        start = len(raw) - sum(sizes)  # extension records (flag 0x2) sit before the arrays
        if start < 16 or (start != 16 and not flags & 0x2):
            raise MediaError(
                path,
                f"SPZ data holds {len(raw) - 16} bytes after its header; {n} splats of "
                f"degree {degree} need {sum(sizes)}",
            )
        streams = []
        for size in sizes:
            streams.append(raw[start : start + size])
            start += size
    else:
        raise MediaError(path, "not an SPZ file (neither gzip nor NGSP)")
    return _unpack(version, n, degree, frac, streams, path)


def _gunzip(data: bytes, path: object) -> bytes:
    """The gzip stream's bytes, never more than its header's splat count needs (plus room
    for extension records): a small file cannot expand to fill the memory."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        head = inflate.decompress(data, 16)
        while len(head) < 16 and inflate.unconsumed_tail:
            head += inflate.decompress(inflate.unconsumed_tail, 16 - len(head))
        version, n, degree, _frac, _flags = _header(head, path)
        limit = 16 + sum(_sizes(version, n, degree)) + MAX_EXTENSION_BYTES
        body = inflate.decompress(inflate.unconsumed_tail, limit - 16)
        if inflate.unconsumed_tail:
            raise MediaError(path, f"SPZ data holds more than {n} splats need (damaged?)")
        if not inflate.eof:
            body += inflate.flush()
    except zlib.error as exc:
        raise MediaError(path, f"SPZ gzip stream is damaged: {exc}") from None
    if not inflate.eof:
        raise MediaError(path, "SPZ gzip stream is damaged: it ends early (truncated)")
    return head + body


def _v4_streams(data: bytes, path: object) -> tuple[int, int, int, int, list[bytes]]:
    import cramjam

    version, n, degree, frac, _flags = _header(data, path)
    if version != 4 or len(data) < 32:
        raise MediaError(path, "SPZ file starts with NGSP but is not a version 4 container")
    n_streams, toc = struct.unpack_from("<BI", data, 15)
    sizes = _sizes(4, n, degree)
    if n_streams < 5 or toc + 16 * n_streams > len(data) or toc < 32:
        raise MediaError(path, f"SPZ table of contents is damaged ({n_streams} streams at {toc})")
    pairs = [struct.unpack_from("<QQ", data, toc + 16 * i) for i in range(n_streams)]
    for i, ((_packed, size), want) in enumerate(zip(pairs, sizes, strict=False)):
        if size != want:  # checked before inflating anything
            raise MediaError(path, f"SPZ stream {i} declares {size} bytes; {n} splats need {want}")
    offset = toc + 16 * n_streams
    streams: list[bytes] = []
    for i, (packed, size) in enumerate(pairs):
        if offset + packed > len(data):
            raise MediaError(path, f"SPZ stream {i} is truncated ({len(data) - offset} bytes)")
        try:
            raw = bytes(cramjam.zstd.decompress(data[offset : offset + packed]))
        except cramjam.DecompressionError as exc:
            raise MediaError(path, f"SPZ stream {i} is damaged: {exc}") from None
        if len(raw) != size:
            raise MediaError(path, f"SPZ stream {i} holds {len(raw)} bytes, its entry {size}")
        streams.append(raw)
        offset += packed
    streams += [b""] * (6 - len(streams))
    for i, (want, raw) in enumerate(zip(sizes, streams, strict=False)):
        if len(raw) != want:
            raise MediaError(path, f"SPZ stream {i} holds {len(raw)} bytes; {n} splats need {want}")
    return 4, n, degree, frac, streams[:6]


def _unpack(
    version: int, n: int, degree: int, frac: int, streams: list[bytes], path: object
) -> SplatScene:
    pos_raw, alpha_raw, colour_raw, scale_raw, rot_raw, sh_raw = streams
    if version == 1:
        positions = np.frombuffer(pos_raw, "<f2").reshape(n, 3).astype(np.float64)
    else:
        b = np.frombuffer(pos_raw, np.uint8).reshape(n * 3, 3).astype(np.int32)
        fixed = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        fixed = np.where(fixed & 0x800000, fixed - (1 << 24), fixed)
        positions = (fixed / float(1 << frac)).reshape(n, 3)
    alphas = np.frombuffer(alpha_raw, np.uint8) / 255.0
    colours = np.frombuffer(colour_raw, np.uint8).reshape(n, 3) / 255.0
    f_dc = (colours - 0.5) / COLOUR_SCALE
    log_scales = np.frombuffer(scale_raw, np.uint8).reshape(n, 3) / 16.0 - 10.0
    xyzw = _rotations_v3(rot_raw, n) if version >= 3 else _rotations_v2(rot_raw, n)
    sh = None
    dim = SH_DIM[degree]
    if dim:
        values = (np.frombuffer(sh_raw, np.uint8).reshape(n, dim, 3) - 128.0) / 128.0
        sh = values[:, : min(dim, 15)].astype(np.float32)
    wxyz = np.stack([xyzw[:, 3], xyzw[:, 0], xyzw[:, 1], xyzw[:, 2]], axis=1)
    return scene_from_arrays(
        path,
        "spz",
        positions=positions,
        log_scales=log_scales,
        rotations=wxyz,
        opacities=alphas,
        f_dc=f_dc,
        sh=sh,
    )


def _rotations_v3(raw: bytes, n: int) -> np.ndarray:
    comp = np.frombuffer(raw, "<u4").astype(np.uint32)
    largest = (comp >> 30).astype(np.int64)
    out = np.zeros((n, 4), np.float64)
    sqrt1_2 = np.sqrt(0.5)
    rest = comp.copy()
    for i in range(3, -1, -1):  # the last component stored sits in the lowest bits
        rows = largest != i
        mag = (rest & 0x1FF).astype(np.float64)
        neg = ((rest >> 9) & 1).astype(bool)
        value = sqrt1_2 * mag / 511.0
        value = np.where(neg, -value, value)
        out[rows, i] = value[rows]
        rest = np.where(rows, rest >> 10, rest)
    squares = np.einsum("ij,ij->i", out, out)
    out[np.arange(n), largest] = np.sqrt(np.maximum(0.0, 1.0 - squares))
    return out


def _rotations_v2(raw: bytes, n: int) -> np.ndarray:
    xyz = np.frombuffer(raw, np.uint8).reshape(n, 3) / 127.5 - 1.0
    w = np.sqrt(np.maximum(0.0, 1.0 - np.einsum("ij,ij->i", xyz, xyz)))
    return np.concatenate([xyz, w[:, None]], axis=1)
