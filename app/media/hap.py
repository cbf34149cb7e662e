"""HAP frames: parsing the section headers and undoing the second-stage compression.

A HAP packet (Vidvox's HAP specification) is one top-level section: a 3-byte little-endian
size and a type byte, or, when the three size bytes are zero, a 4-byte size after the type
(the 8-byte form FFmpeg's encoder writes). The type's low nibble is the texture format, its
high nibble the second stage: 0xA none, 0xB Snappy, 0xC decode instructions (the texture cut
into chunks, each with its own compressor, decompressed here in parallel). Type 0xD is a
multi-image section (Hap Q Alpha: a YCoCg texture and an RGTC1 alpha texture).

Nothing here decodes the DXT/BC blocks: `HapFrame.textures` are the compressed texture bytes
the GPU samples directly (app.render.hap uploads them). No GL, no FFmpeg: pure byte work,
which is why it is ours (no maintained Python HAP reader exists); Snappy is cramjam's.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cramjam
import numpy as np

# Texture formats (low nibble of a section type) -> (name, bytes per 4x4 block).
TEXTURE_FORMATS: dict[int, tuple[str, int]] = {
    0xB: ("dxt1", 8),
    0xE: ("dxt5", 16),
    0xF: ("ycocg", 16),  # scaled YCoCg in DXT5 (Hap Q)
    0xC: ("bc7", 16),
    0x1: ("rgtc1", 8),  # alpha only (HapA, and the alpha plane of Hap Q Alpha)
    0x2: ("bc6u", 16),
    0x3: ("bc6s", 16),
}
_MULTI_IMAGE = 0xD
_COMPRESS_NONE, _COMPRESS_SNAPPY, _COMPRESS_CHUNKED = 0xA, 0xB, 0xC
_DECODE_INSTRUCTIONS = 0x01
_CHUNK_COMPRESSORS, _CHUNK_SIZES, _CHUNK_OFFSETS = 0x02, 0x03, 0x04
_CHUNK_NONE, _CHUNK_SNAPPY = 0x0A, 0x0B

# Variant names by the formats a frame holds (the FourCCs players use).
_VARIANTS = {
    ("dxt1",): "Hap1",
    ("dxt5",): "Hap5",
    ("ycocg",): "HapY",
    ("bc7",): "Hap7",
    ("rgtc1",): "HapA",
    ("bc6u",): "HapH",
    ("bc6s",): "HapH",
    ("ycocg", "rgtc1"): "HapM",
}
ALPHA_FORMATS = frozenset({"dxt5", "bc7", "rgtc1"})

# Chunked frames are decompressed in parallel when there are at least this many bytes:
# below it a thread hand-off costs more than it saves.
PARALLEL_MIN_BYTES = 256 * 1024
_pool: ThreadPoolExecutor | None = None


class HapError(ValueError):
    """A HAP frame that cannot be parsed: says what is wrong and where."""


@dataclass(frozen=True)
class HapTexture:
    """One compressed texture of a frame: its format and its block bytes (uint8, exact size)."""

    format: str
    data: np.ndarray


@dataclass(frozen=True)
class HapFrame:
    """One HAP frame: its textures in stored order, top row first. `pts` as for YuvFrame."""

    pts: float
    width: int
    height: int
    textures: tuple[HapTexture, ...]

    @property
    def variant(self) -> str:
        """'Hap1', 'Hap5', 'HapY', 'HapM', 'HapA', 'Hap7' or 'HapH'."""
        return _VARIANTS.get(tuple(t.format for t in self.textures), "Hap?")

    @property
    def has_alpha(self) -> bool:
        """Whether the frame carries alpha (Hap5, HapM, HapA, Hap7)."""
        return any(t.format in ALPHA_FORMATS for t in self.textures)


def texture_bytes(fmt: str, width: int, height: int) -> int:
    """Bytes of a `fmt` texture of width x height pixels (whole 4x4 blocks)."""
    block = next(size for name, size in TEXTURE_FORMATS.values() if name == fmt)
    return ((width + 3) // 4) * ((height + 3) // 4) * block


def section_header(data: memoryview | bytes, at: int) -> tuple[int, int, int]:
    """(section type, payload start, payload size) of the section starting at `at`.

    Raises HapError when the header or the payload it declares runs past the data.
    """
    end = len(data)
    if at + 4 > end:
        raise HapError(f"section header at byte {at} is cut ({end - at} of 4 bytes)")
    size = data[at] | (data[at + 1] << 8) | (data[at + 2] << 16)
    kind = data[at + 3]
    start = at + 4
    if size == 0:
        if at + 8 > end:
            raise HapError(f"long section header at byte {at} is cut ({end - at} of 8 bytes)")
        size = int.from_bytes(bytes(data[at + 4 : at + 8]), "little")
        start = at + 8
    if start + size > end:
        raise HapError(f"section at byte {at} declares {size} bytes, only {end - start} follow")
    return kind, start, size


def parse_frame(packet: memoryview | bytes, width: int, height: int, pts: float = 0.0) -> HapFrame:
    """Parse one HAP packet of a width x height video into its decompressed textures.

    Raises HapError for a section that runs past the packet, an unknown section type, a
    texture whose size does not match the frame, or Snappy data that does not decompress.
    """
    data = memoryview(packet).cast("B") if not isinstance(packet, memoryview) else packet
    if data.format != "B":
        data = data.cast("B")
    kind, start, size = section_header(data, 0)
    if kind & 0x0F == _MULTI_IMAGE:
        textures = []
        at, end = start, start + size
        while at < end:
            sub_kind, sub_start, sub_size = section_header(data[:end], at)
            textures.append(_texture(data, sub_kind, sub_start, sub_size, width, height))
            at = sub_start + sub_size
        if not textures:
            raise HapError("multi-image section holds no texture")
        return HapFrame(pts, width, height, tuple(textures))
    return HapFrame(pts, width, height, (_texture(data, kind, start, size, width, height),))


def _texture(
    data: memoryview, kind: int, start: int, size: int, width: int, height: int
) -> HapTexture:
    fmt_code, stage = kind & 0x0F, kind >> 4
    if fmt_code not in TEXTURE_FORMATS:
        raise HapError(f"unknown section type {kind:#04x}")
    fmt = TEXTURE_FORMATS[fmt_code][0]
    expected = texture_bytes(fmt, width, height)
    payload = data[start : start + size]
    if stage == _COMPRESS_NONE:
        if size != expected:
            raise HapError(f"{fmt} texture is {size} bytes, {width}x{height} needs {expected}")
        return HapTexture(fmt, np.frombuffer(payload, dtype=np.uint8))
    out = np.empty(expected, dtype=np.uint8)
    if stage == _COMPRESS_SNAPPY:
        _snappy_into(payload, out, 0, expected)
    elif stage == _COMPRESS_CHUNKED:
        _chunks_into(payload, out)
    else:
        raise HapError(f"unknown second-stage compressor in section type {kind:#04x}")
    return HapTexture(fmt, out)


def _snappy_into(src: memoryview, out: np.ndarray, at: int, size: int) -> None:
    """Decompress raw Snappy `src` into out[at:at+size], which it must fill exactly."""
    try:
        length = cramjam.snappy.decompress_raw_len(src)
    except Exception as exc:
        raise HapError(f"bad Snappy data: {exc}") from exc
    if length != size:
        raise HapError(f"Snappy data holds {length} bytes, the texture needs {size} there")
    try:
        got = cramjam.snappy.decompress_raw_into(src, out[at : at + size])
    except Exception as exc:
        raise HapError(f"bad Snappy data: {exc}") from exc
    if got != size:
        raise HapError(f"Snappy data gave {got} bytes, expected {size}")


def _instructions(payload: memoryview) -> tuple[list[int], list[int], list[int] | None, int]:
    """(compressors, sizes, offsets or None, data start) of a decode-instructions payload."""
    kind, start, size = section_header(payload, 0)
    if kind != _DECODE_INSTRUCTIONS:
        raise HapError(f"chunked texture starts with section type {kind:#04x}, not 0x01")
    compressors: list[int] | None = None
    sizes: list[int] | None = None
    offsets: list[int] | None = None
    at, end = start, start + size
    while at < end:
        sub, s_at, s_size = section_header(payload[:end], at)
        body = bytes(payload[s_at : s_at + s_size])
        if sub == _CHUNK_COMPRESSORS:
            compressors = list(body)
        elif sub == _CHUNK_SIZES:
            sizes = np.frombuffer(body[: s_size // 4 * 4], dtype="<u4").tolist()
        elif sub == _CHUNK_OFFSETS:
            offsets = np.frombuffer(body[: s_size // 4 * 4], dtype="<u4").tolist()
        at = s_at + s_size  # unknown instruction sections are skipped, as the spec allows
    if compressors is None or sizes is None:
        raise HapError("decode instructions lack a compressor or chunk size table")
    if len(compressors) != len(sizes) or (offsets is not None and len(offsets) != len(sizes)):
        raise HapError("decode instruction tables disagree on the chunk count")
    return compressors, sizes, offsets, start + size


def _chunks_into(payload: memoryview, out: np.ndarray) -> None:
    compressors, sizes, offsets, data_start = _instructions(payload)
    body = payload[data_start:]
    jobs: list[tuple[int, memoryview, int, int]] = []  # (compressor, src, out at, out size)
    src_at = 0
    out_at = 0
    for i, (comp, size) in enumerate(zip(compressors, sizes, strict=True)):
        at = offsets[i] if offsets is not None else src_at
        if at + size > len(body):
            raise HapError(f"chunk {i} declares {size} bytes at {at}, only {len(body)} follow")
        src = body[at : at + size]
        src_at = at + size
        if comp == _CHUNK_NONE:
            length = size
        elif comp == _CHUNK_SNAPPY:
            try:
                length = cramjam.snappy.decompress_raw_len(src)
            except Exception as exc:
                raise HapError(f"chunk {i}: bad Snappy data: {exc}") from exc
        else:
            raise HapError(f"chunk {i}: unknown compressor {comp:#04x}")
        if out_at + length > out.size:
            raise HapError(f"chunks hold more than the texture's {out.size} bytes")
        jobs.append((comp, src, out_at, length))
        out_at += length
    if out_at != out.size:
        raise HapError(f"chunks hold {out_at} bytes, the texture needs {out.size}")

    def run(job: tuple[int, memoryview, int, int]) -> None:
        comp, src, at, length = job
        if comp == _CHUNK_NONE:
            out[at : at + length] = np.frombuffer(src, dtype=np.uint8)
        else:
            _snappy_into(src, out, at, length)

    if len(jobs) > 1 and out.size >= PARALLEL_MIN_BYTES:
        list(_chunk_pool().map(run, jobs))
    else:
        for job in jobs:
            run(job)


def _chunk_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(
            max_workers=max(2, min(8, os.cpu_count() or 2)), thread_name_prefix="hap-chunks"
        )
    return _pool
