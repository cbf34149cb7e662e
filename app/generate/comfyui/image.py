"""The `prompt` (API) and `workflow` (UI) JSON texts ComfyUI writes into the images it saves.

PNG: tEXt/iTXt/zTXt chunks (SaveImage) and the private `comf` chunks of an animated PNG, read
chunk by chunk with the pixel data skipped (seek), each text bounded. WebP: the EXIF chunk,
where ComfyUI writes `prompt:<json>` (tag 0x0110), `workflow:<json>` (0x010F) and further
keys at lower tags. No torch; PIL only to parse the EXIF block.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT_BYTES = 32 * 1024 * 1024  # one metadata chunk; a workflow is rarely 1 MB
MAX_CHUNKS = 100_000


class ImageMetadataError(ValueError):
    """An image whose metadata cannot be read (the message names the file)."""


def is_image(head: bytes) -> bool:
    """True for the first bytes of a PNG or WebP file."""
    return head.startswith(PNG_SIGNATURE) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def read_texts(path: Path) -> dict[str, str]:
    """key -> text of a ComfyUI PNG or WebP (`prompt`, `workflow`, ...); {} if none."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(12)
            if head[:8] == PNG_SIGNATURE:
                f.seek(8)
                return _png_texts(f, path)
            if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
                return _webp_texts(f, path)
    except OSError as exc:
        raise ImageMetadataError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    raise ImageMetadataError(f"{path}: not a PNG or WebP image")


def _bounded(f: io.BufferedReader, size: int, path: Path, what: str) -> bytes:
    if size > MAX_TEXT_BYTES:
        raise ImageMetadataError(
            f"{path}: {what} chunk of {size} bytes is over the {MAX_TEXT_BYTES >> 20} MiB limit"
        )
    data = f.read(size)
    if len(data) != size:
        raise ImageMetadataError(f"{path}: truncated {what} chunk")
    return data


def _png_texts(f: io.BufferedReader, path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for _ in range(MAX_CHUNKS):
        header = f.read(8)
        if len(header) < 8:
            return out
        size, kind = struct.unpack(">I4s", header)
        if kind not in (b"tEXt", b"iTXt", b"zTXt", b"comf"):
            if kind == b"IEND":
                return out
            f.seek(size + 4, io.SEEK_CUR)
            continue
        data = _bounded(f, size, path, kind.decode("latin-1"))
        f.seek(4, io.SEEK_CUR)
        key, _, rest = data.partition(b"\0")
        try:
            if kind == b"tEXt":
                text = rest.decode("latin-1")
            elif kind == b"comf":
                text = rest.decode("utf-8")
            elif kind == b"zTXt":
                text = _inflate(rest[1:], path).decode("latin-1")
            else:  # iTXt: compressed flag, method, language\0, translated key\0, text
                flag = rest[:1] == b"\1"
                body = rest[2:].split(b"\0", 2)[-1]
                text = (_inflate(body, path) if flag else body).decode("utf-8")
        except UnicodeDecodeError:
            raise ImageMetadataError(f"{path}: text chunk '{key!r}' is not text") from None
        out[key.decode("latin-1")] = text
    raise ImageMetadataError(f"{path}: more than {MAX_CHUNKS} PNG chunks")


def _inflate(data: bytes, path: Path) -> bytes:
    z = zlib.decompressobj()
    try:
        out = z.decompress(data, MAX_TEXT_BYTES + 1)
    except zlib.error as exc:
        raise ImageMetadataError(f"{path}: compressed text does not inflate ({exc})") from None
    if len(out) > MAX_TEXT_BYTES:
        raise ImageMetadataError(f"{path}: compressed text inflates past the limit")
    return out


def _webp_texts(f: io.BufferedReader, path: Path) -> dict[str, str]:
    f.seek(12)
    for _ in range(MAX_CHUNKS):
        header = f.read(8)
        if len(header) < 8:
            return {}
        kind, size = struct.unpack("<4sI", header)
        if kind != b"EXIF":
            f.seek(size + (size & 1), io.SEEK_CUR)
            continue
        data = _bounded(f, size, path, "EXIF")
        if data.startswith(b"Exif\0\0"):
            data = data[6:]
        from PIL import Image

        exif = Image.Exif()
        try:
            exif.load(data)
        except Exception as exc:  # PIL raises several kinds for a broken block
            raise ImageMetadataError(f"{path}: the EXIF block does not parse ({exc})") from None
        out: dict[str, str] = {}
        for value in exif.values():
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str):
                key, sep, text = value.partition(":")
                if sep and key and key.isidentifier():
                    out[key] = text
        return out
    raise ImageMetadataError(f"{path}: more than {MAX_CHUNKS} WebP chunks")
