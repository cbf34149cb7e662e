"""The manifest: one JSON file per media root (`<media_root>/.generate/manifest.json`).

It records, per output file: the recipe hash and the resolved recipe, the seed, the model,
how long it took, the library versions and the device. It is rewritten atomically after
every finished job, so a killed run loses at most the job in flight.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self, TextIO

from app.atomic import write_text_atomic
from app.generate.errors import GenerateError

MANIFEST_VERSION = 1


def state_dir(media_root: Path) -> Path:
    """Where the generator keeps its own files for a media root."""
    return Path(media_root) / ".generate"


class Manifest:
    """Records of generated outputs, keyed by their path relative to the media root."""

    def __init__(self, path: Path, media_root: Path, entries: dict[str, dict[str, Any]]) -> None:
        self.path = path
        self.media_root = Path(media_root)
        self.entries = entries

    @classmethod
    def load(cls, media_root: Path, *, warn: TextIO | None = None) -> Manifest:
        """Read the manifest of `media_root`; an unreadable one is set aside, not fatal."""
        path = state_dir(media_root) / "manifest.json"
        entries: dict[str, dict[str, Any]] = {}
        if path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                entries = dict(data.get("outputs", {}))
            except (OSError, ValueError, AttributeError) as exc:
                aside = path.with_name(f"manifest.corrupt-{int(time.time())}.json")
                os.replace(path, aside)
                print(
                    f"warning: {path} is unreadable ({exc}); moved to {aside.name}, "
                    "outputs will be re-checked",
                    file=warn,
                )
        return cls(path, media_root, entries)

    def key(self, output: Path) -> str:
        """The manifest key of an output path."""
        output = Path(output)
        try:
            return output.resolve().relative_to(self.media_root.resolve()).as_posix()
        except ValueError:
            return str(output.resolve())

    def get(self, output: Path) -> dict[str, Any] | None:
        """The record of `output`, or None."""
        return self.entries.get(self.key(output))

    def record(self, output: Path, entry: dict[str, Any]) -> None:
        """Store the record of a finished output and save the manifest."""
        self.entries[self.key(output)] = entry
        self.save()

    def forget(self, output: Path) -> None:
        """Drop the record of an output (saved with the next record or save)."""
        self.entries.pop(self.key(output), None)

    def outputs_with_hash(self, digest: str) -> list[Path]:
        """Existing outputs whose record has this recipe hash."""
        found = []
        for key, entry in self.entries.items():
            if entry.get("hash") != digest:
                continue
            path = Path(key) if Path(key).is_absolute() else self.media_root / key
            if path.is_file() and path.stat().st_size == entry.get("bytes"):
                found.append(path)
        return found

    def save(self) -> None:
        """Write the manifest atomically."""
        data = {"version": MANIFEST_VERSION, "outputs": self.entries}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.path, json.dumps(data, indent=1, sort_keys=True, default=str))


class ProcessLock:
    """An exclusive lock held by this process on a file (`flock`), with the holder's pid in it.

    The kernel drops the lock when the process dies, so a killed process never leaves it
    stuck. `busy(holder_pid)` makes the message of the error raised when it is taken.
    """

    def __init__(self, path: Path, busy: Callable[[str], str]) -> None:
        self.path = path
        self._busy = busy
        self._fh: TextIO | None = None

    def acquire(self) -> Self:
        """Take the lock or raise GenerateError with the holder's pid."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise GenerateError(self._busy(holder)) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        """Let another process take the lock."""
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class RunLock(ProcessLock):
    """An exclusive lock on a media root, so two generate runs never write the same files."""

    def __init__(self, media_root: Path) -> None:
        folder = state_dir(media_root)
        super().__init__(
            folder / "lock",
            lambda pid: (
                f"another generate run (pid {pid}) is writing to {folder.parent}; "
                "wait for it to finish"
            ),
        )
