"""Writing a pack: one pass over the files, streamed into a tar, hashed on the way.

Memory stays at one read buffer whatever the show's size; the MANIFEST is written last
from the hashes taken while streaming, so every file is read exactly once. The archive is
written under a temporary name and moved into place when complete.
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from app.atomic import atomic_output
from app.pack.collect import Collected, PackFile
from app.pack.format import (
    MANIFEST,
    PACK_JSON,
    README,
    ManifestLine,
    PackError,
    PoemSize,
    dumps,
    human_bytes,
    manifest_text,
    poem_sizes,
)
from app.pack.readme import readme_text

BLOCK = 1 << 20


class HashingReader:
    """A file object that hashes what is read through it (and counts it)."""

    def __init__(self, raw: BinaryIO, on_read: Callable[[int], None] | None = None) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.count = 0
        self.on_read = on_read

    def read(self, n: int = -1) -> bytes:
        """Read, hash and count up to `n` bytes."""
        data = self.raw.read(n)
        self.sha.update(data)
        self.count += len(data)
        if self.on_read is not None:
            self.on_read(len(data))
        return data


class ByteProgress:
    """Progress over bytes on stderr: one redrawn line on a terminal, a line per 10% else."""

    def __init__(self, total: int, stream: TextIO | None = None, verb: str = "pack") -> None:
        self.total = max(total, 1)
        self.done = 0
        self.stream = stream or sys.stderr
        self.verb = verb
        self.start = time.monotonic()
        self.label = ""
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last = -1.0
        self._decile = -1

    def advance(self, n: int) -> None:
        """`n` more bytes done."""
        self.done += n
        self._draw()

    def file(self, label: str) -> None:
        """The file now being read."""
        self.label = label
        self._draw()

    def _draw(self) -> None:
        frac = min(1.0, self.done / self.total)
        now = time.monotonic()
        line = (
            f"{self.verb} {frac * 100:5.1f}%  {human_bytes(self.done)} / {human_bytes(self.total)}"
            f"  {self.label[-60:]}"
        )
        if self._tty:
            if now - self._last >= 0.2 or frac >= 1.0:
                self._last = now
                print("\r" + line.ljust(100), end="", file=self.stream, flush=True)
        elif int(frac * 10) > self._decile:
            self._decile = int(frac * 10)
            print(line, file=self.stream)

    def close(self) -> None:
        """End the progress line."""
        if self._tty:
            print(file=self.stream)


@dataclass(frozen=True)
class PackResult:
    """What `write_pack` did."""

    path: Path
    files: int
    bytes: int
    seconds: float
    sizes: list[PoemSize]


def _add(tar: tarfile.TarFile, arc: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(arc)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_pack(collected: Collected, out: Path, *, progress: TextIO | None = None) -> PackResult:
    """Stream `collected` into the tar `out`; PackError naming a file that could not be read."""
    started = time.monotonic()
    out = Path(out)
    titles = {p.id: p.title for p in collected.show.poems}
    sizes = poem_sizes(((f.poem, f.size) for f in collected.files), titles)
    info = dict(collected.info)
    info["poems"] = [
        {"id": s.poem, "title": s.title, "files": s.files, "bytes": s.bytes}
        for s in sizes
        if s.poem
    ]
    head = [
        PackFile(PACK_JSON, data=dumps(info)),
        PackFile(README, data=readme_text(info, collected.models, collected.made, sizes).encode()),
    ]
    members = head + collected.files
    total = sum(f.size for f in members)
    bar = ByteProgress(total, progress)
    lines: list[ManifestLine] = []
    now = time.time()
    try:
        with (
            atomic_output(out) as tmp,
            open(tmp, "wb") as fh,
            tarfile.open(fileobj=fh, mode="w|", format=tarfile.PAX_FORMAT) as tar,
        ):
            for f in members:
                bar.file(f.arc)
                lines.append(_stream_member(tar, f, now, bar))
            _add(tar, MANIFEST, manifest_text(lines).encode(), now)
    except OSError as exc:
        raise PackError([f"{out}: cannot be written: {exc.strerror or exc}"]) from None
    finally:
        bar.close()
    return PackResult(out, len(lines) + 1, out.stat().st_size, time.monotonic() - started, sizes)


def _stream_member(
    tar: tarfile.TarFile, f: PackFile, now: float, bar: ByteProgress
) -> ManifestLine:
    if f.data is not None:
        _add(tar, f.arc, f.data, now)
        bar.advance(len(f.data))
        return ManifestLine(f.arc, len(f.data), hashlib.sha256(f.data).hexdigest())
    assert f.src is not None
    try:
        st = f.src.stat()
        info = tarfile.TarInfo(f.arc)
        info.size = st.st_size
        info.mtime = int(st.st_mtime)
        info.mode = 0o644
        with open(f.src, "rb") as raw:
            reader = HashingReader(raw, bar.advance)
            tar.addfile(info, reader)  # type: ignore[arg-type]
    except OSError as exc:
        raise PackError([f"{f.src}: cannot be read into the pack: {exc}"]) from None
    if reader.count != st.st_size:
        raise PackError([f"{f.src}: changed while it was packed"])
    return ManifestLine(f.arc, st.st_size, reader.sha.hexdigest())
