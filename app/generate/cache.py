"""Recipe hashes and file digests: what makes re-runs cheap.

An output is current when the manifest (or the file's own metadata) records the hash of the
recipe that would make it now. The hash covers everything that changes the pixels: the
backend, the model's file identity, every recipe parameter, the seed, and the SHA-256 of
each input file (so re-rendering a source re-renders what is made from it).

Every output is written atomically with `app.atomic` (a killed run leaves either the old file
or the new one, never half of one).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

CACHE_VERSION = 2  # bump when a change of this module changes the bytes of the outputs

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
