"""Recipe hashes, file digests and atomic writes: what makes re-runs cheap and kills safe.

An output is current when the manifest (or the file's own metadata) records the hash of the
recipe that would make it now. The hash covers everything that changes the pixels: the
backend, the model's file identity, every recipe parameter, the seed, and the SHA-256 of
each input file (so re-rendering a source re-renders what is made from it).

Every file is written under a temporary name in the target's folder, flushed to disk, then
moved into place with `os.replace`: a killed run leaves either the old file or the new one,
never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CACHE_VERSION = 2  # bump when a change of this module changes the bytes of the outputs
PARTIAL_TAG = ".partial-"

_digest_memo: dict[tuple[str, int, int], str] = {}


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no spaces: the same data always gives the same text."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def recipe_hash(recipe: dict[str, Any]) -> str:
    """The hash of a resolved recipe (32 hex digits)."""
    return hashlib.sha256(canonical_json(recipe).encode("utf-8")).hexdigest()[:32]


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered per (path, size, mtime) for the life of the process."""
    st = Path(path).stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    cached = _digest_memo.get(key)
    if cached is not None:
        return cached
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    _digest_memo[key] = digest
    return digest


def partial_path(final: Path) -> Path:
    """The temporary name a file is written under before it replaces `final`."""
    return final.with_name(f".{final.stem}{PARTIAL_TAG}{os.getpid()}{final.suffix}")


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


def commit(tmp: Path, final: Path) -> None:
    """Flush `tmp` to disk and move it over `final` in one step."""
    _fsync_file(tmp)
    os.replace(tmp, final)
    _fsync_dir(final.parent)


@contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces `final`, else it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(final)
    try:
        yield tmp
        commit(tmp, final)
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
