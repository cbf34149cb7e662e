"""The pack format, as pure functions: member names, the MANIFEST text, pack.json, sizes.

A pack is an uncompressed POSIX tar (media are compressed already, and a plain tar streams
in and out with no index to hold in memory). Its members, in order:

- `pack.json` first: format name and version, app version, title, the show file's place in
  the pack, its poems (files and bytes each), the models (see `models/models.json`);
- `README.txt`: for a person;
- the show's files (`show/<name>.yaml`, picks, venue), its media under `media/`, the
  generation manifest `media/.generate/manifest.json` (only the packed media's records),
  video/splat sidecars, `models/models.json`, `env/requirements.lock`, and with
  `--with-models` the weights under `models/<name>/`;
- `MANIFEST` last: one line per member above, `<sha256>  <bytes>  <path>`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

FORMAT_NAME = "vjshow"
FORMAT_VERSION = 1
PACK_JSON = "pack.json"
README = "README.txt"
MANIFEST = "MANIFEST"
MODELS_JSON = "models/models.json"
LOCK_FILE = "env/requirements.lock"
SUFFIX = ".vjshow"


class PackError(Exception):
    """A pack cannot be made or used; `problems` names each file at fault."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def member_problem(name: str) -> str | None:
    """Why `name` may not be a member of a pack (None when it is a safe relative path).

    Safe: relative, `/`-separated, no `..`, `.` or empty part, no backslash, NUL or newline
    (a newline would break the MANIFEST's one-line-per-file text).
    """
    if not name:
        return "an empty name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if any(c in name for c in "\\\0\n\r"):
        return "a backslash, NUL or line break in its name"
    parts = name.rstrip("/").split("/")
    if ".." in parts:
        return "a path that climbs out of the pack ('..')"
    if any(p in ("", ".") for p in parts):
        return "an empty or '.' part in its path"
    return None


@dataclass(frozen=True)
class ManifestLine:
    """One file of a pack as the MANIFEST records it."""

    path: str
    size: int
    sha256: str


def manifest_text(lines: Iterable[ManifestLine]) -> str:
    """The MANIFEST: `<sha256>  <bytes>  <path>` per file, in pack order."""
    return "".join(f"{m.sha256}  {m.size}  {m.path}\n" for m in lines)


def parse_manifest(text: str) -> tuple[dict[str, ManifestLine], list[str]]:
    """The files of a MANIFEST by path, and its malformed lines as problems."""
    files: dict[str, ManifestLine] = {}
    problems: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        fields = raw.split("  ", 2)
        ok = len(fields) == 3 and len(fields[0]) == 64 and fields[1].isdigit()
        if not ok or member_problem(fields[2]) is not None:
            problems.append(f"{MANIFEST}:{n}: malformed line {raw[:80]!r}")
            continue
        try:
            int(fields[0], 16)
        except ValueError:
            problems.append(f"{MANIFEST}:{n}: malformed hash {fields[0][:80]!r}")
            continue
        if fields[2] in files:
            problems.append(f"{MANIFEST}:{n}: {fields[2]} is listed twice")
        files[fields[2]] = ManifestLine(fields[2], int(fields[1]), fields[0])
    return files, problems


def pack_json_problems(data: Any) -> list[str]:
    """What makes a pack.json unusable by this version (a newer format, a missing key)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        return [f"{PACK_JSON}: not a {FORMAT_NAME} pack description"]
    version = data.get("version")
    if not isinstance(version, int):
        return [f"{PACK_JSON}: no format version"]
    if version > FORMAT_VERSION:
        app = data.get("app", {}).get("version", "?")
        return [
            f"{PACK_JSON}: the pack is format {version}, made by app {app}; this program reads "
            f"formats up to {FORMAT_VERSION}: use a newer version of the program"
        ]
    show = data.get("show")
    if not isinstance(show, str) or member_problem(show) is not None:
        return [f"{PACK_JSON}: 'show' must name the show file inside the pack"]
    return []


def dumps(data: Any) -> bytes:
    """JSON as packs store it (sorted keys, indented, UTF-8, newline at the end)."""
    return (json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


@dataclass(frozen=True)
class PoemSize:
    """Files and bytes of one poem in a pack (the size summary)."""

    poem: str
    title: str
    files: int
    bytes: int


def poem_sizes(files: Iterable[tuple[str | None, int]], titles: dict[str, str]) -> list[PoemSize]:
    """Sum (poem id or None, bytes) pairs per poem, in the order of `titles`; files of no
    poem (show file, manifest, README...) come last as poem ''."""
    counts: dict[str, list[int]] = {pid: [0, 0] for pid in titles}
    counts.setdefault("", [0, 0])
    for poem, size in files:
        row = counts.setdefault(poem or "", [0, 0])
        row[0] += 1
        row[1] += size
    return [
        PoemSize(pid, titles.get(pid, "(show, manifest, models, readme)"), n, b)
        for pid, (n, b) in counts.items()
        if n or pid
    ]


def human_bytes(n: float) -> str:
    """`1536` -> `1.5 KiB`."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def size_table(sizes: list[PoemSize]) -> str:
    """The per-poem summary printed after `pack` and written into README.txt."""
    rows = [("poem", "title", "files", "size")]
    rows += [(s.poem or "-", s.title, str(s.files), human_bytes(s.bytes)) for s in sizes]
    total = sum(s.bytes for s in sizes)
    rows.append(("all", "", str(sum(s.files for s in sizes)), human_bytes(total)))
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    return "\n".join(
        "  ".join(
            r[c].rjust(widths[c]) if c >= 2 else r[c].ljust(widths[c]) for c in range(4)
        ).rstrip()
        for r in rows
    )


def arc_path(*parts: str) -> str:
    """A member name from parts (posix, normalised)."""
    return PurePosixPath(*parts).as_posix()
