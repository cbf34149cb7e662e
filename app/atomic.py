"""Atomic file writes: a file appears complete or not at all, whoever reads it meanwhile.

Every file is written under a temporary name in the target's folder (`partial_path`: a dot
name with the target's suffix, so that PIL and ffmpeg still pick the format from it), flushed
to disk, then moved into place with `os.replace`: a killed process leaves either the old file
or the new one, never half of one, and `remove_partials` clears what a killed run left.

- `atomic_output(path)`: a context manager yielding the temporary path to write.
- `write_text_atomic(path, text)`, `copy_atomic(src, dst)`: the two common cases.
- `partial_path` + `commit`: for a writer whose life is not one `with` block (VideoWriter).

`unique=True` adds a random tag to the temporary name, for threads of one process that may
write the same file at once; `sync=False` skips the flush to disk, for caches that are made
again when lost (thumbnails).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL_TAG = ".partial-"


def partial_path(final: Path, *, unique: bool = False) -> Path:
    """The temporary name a file is written under before it replaces `final`."""
    tag = f"{os.getpid()}-{uuid.uuid4().hex[:8]}" if unique else str(os.getpid())
    return final.with_name(f".{final.stem}{PARTIAL_TAG}{tag}{final.suffix}")


def remove_partials(final: Path) -> None:
    """Delete temporary files that a killed run left next to `final`."""
    folder = final.parent
    if not folder.is_dir():
        return
    for stale in folder.glob(f".{final.stem}{PARTIAL_TAG}*{final.suffix}"):
        stale.unlink(missing_ok=True)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit(tmp: Path, final: Path, *, sync: bool = True) -> None:
    """Flush `tmp` to disk (unless `sync` is False) and move it over `final` in one step."""
    if sync:
        _fsync_file(tmp)
    os.replace(tmp, final)
    if sync:
        _fsync_dir(final.parent)


@contextmanager
def atomic_output(final: Path, *, unique: bool = False, sync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `final`, else it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(final, unique=unique)
    try:
        yield tmp
        commit(tmp, final, sync=sync)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """Write a text file atomically (UTF-8)."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def copy_atomic(src: Path, dst: Path) -> None:
    """Copy a file atomically (the copy appears complete or not at all)."""
    with atomic_output(dst) as tmp, open(src, "rb") as fin, open(tmp, "wb") as fout:
        for block in iter(lambda: fin.read(1 << 20), b""):
            fout.write(block)
