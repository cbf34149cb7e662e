"""HAP test clips ffmpeg cannot encode (HapA, HapM, Hap7), assembled from their sections.

The textures are tiny hand encoders: RGTC1 and BC7 (mode 6) blocks whose 16 texels share
one value, which both formats store exactly, so the clip's expected pixels are known.
The packets are muxed into a .mov with PyAV (opaque stream, the variant's FourCC).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

# A filter for make_hap_clip (app/bench/clips.py): alpha from 0 on the left to 255 on the
# right (Hap5 clips).
ALPHA_RAMP = "geq=r='r(X,Y)':g='g(X,Y)':b='b(X,Y)':a='255*X/(W-1)'"


def section(kind: int, payload: bytes, long: bool = False) -> bytes:
    """A HAP section: 3-byte size + type, or (`long`, or too big) zero size + type + 4 bytes."""
    if long or len(payload) >= 1 << 24:
        return bytes([0, 0, 0, kind]) + len(payload).to_bytes(4, "little") + payload
    return len(payload).to_bytes(3, "little") + bytes([kind]) + payload


def block_means(image: np.ndarray) -> np.ndarray:
    """(H/4, W/4, C) uint8: one value per 4x4 block (the image must be block-aligned)."""
    h, w = image.shape[:2]
    blocks = image.reshape(h // 4, 4, w // 4, 4, -1).astype(float).mean(axis=(1, 3))
    return np.round(blocks).astype(np.uint8)


def flat_blocks(blocks: np.ndarray) -> np.ndarray:
    """The image whose 4x4 blocks hold `blocks` (H/4, W/4, C) flat."""
    return np.repeat(np.repeat(blocks, 4, axis=0), 4, axis=1)


def rgtc1_flat(values: np.ndarray) -> bytes:
    """RGTC1 blocks (row-major) for (H/4, W/4) values: both endpoints the value, indices 0."""
    out = np.zeros((values.size, 8), dtype=np.uint8)
    out[:, 0] = values.ravel()
    out[:, 1] = values.ravel()
    return out.tobytes()


def bc7_flat(rgba: np.ndarray) -> bytes:
    """BC7 mode-6 blocks for (H/4, W/4, 4) colours whose channels share one parity.

    Mode 6: bit 6 set, 7-bit RGBA endpoints with one p-bit each, 4-bit indices (the first
    3 bits). With every index 0 the texel is endpoint 0: (c >> 1) << 1 | p, exact when all
    four channels of a colour are all even or all odd.
    """
    flat = rgba.reshape(-1, 4).astype(np.uint64)
    p = flat[:, 0] & 1
    assert np.all((flat & 1) == p[:, None]), "BC7 flat blocks need channels of one parity"
    hi = flat >> 1
    bits = np.full(len(flat), 1 << 6, dtype=np.uint64)  # mode 6
    at = 7
    for ch in range(4):  # R0 R1 G0 G1 B0 B1 A0 A1, 7 bits each
        bits |= hi[:, ch] << np.uint64(at)
        bits |= hi[:, ch] << np.uint64(at + 7)
        at += 14
    bits |= p << np.uint64(at)  # p0 at bit 63; p1 (bit 64) is 0 and so are the indices
    low = bits.astype("<u8")
    high = np.zeros(len(flat), dtype="<u8")
    return np.stack([low, high], axis=1).tobytes()


def write_hap_mov(
    path: Path, template: Path, tag: str, make_packet: Callable[[int, bytes], bytes]
) -> Path:
    """Remux `template` (an ffmpeg HAP .mov) as FourCC `tag`, each packet through
    `make_packet(index, original bytes)`. FFmpeg's mov muxer refuses 'Hap7': that FourCC
    is written into the sample description afterwards."""
    with av.open(str(template)) as inp, av.open(str(path), "w") as out:
        src = inp.streams.video[0]
        dst = out.add_stream_from_template(src, opaque=True)
        dst.codec_tag = "Hap5" if tag == "Hap7" else tag
        for i, packet in enumerate(p for p in inp.demux(src) if p.size):
            new = av.Packet(make_packet(i, bytes(packet)))
            new.pts, new.dts, new.time_base = packet.pts, packet.dts, packet.time_base
            new.duration = packet.duration
            new.is_keyframe = True
            new.stream = dst
            out.mux(new)
    if tag == "Hap7":
        data = path.read_bytes()
        assert data.count(b"Hap5") == 1
        path.write_bytes(data.replace(b"Hap5", b"Hap7"))
    return path
