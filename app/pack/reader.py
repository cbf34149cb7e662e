"""Reading a pack: checked extraction, `verify`, and the unpack cache that play uses.

A pack is someone else's file: its sizes and names are the attacker's choice. Before any
member is written, the headers are read through once (data skipped by seeking) to find the
MANIFEST, and the whole unpack is bounded: the MANIFEST's total must fit in the pack file
itself (a plain tar holds its bytes) and on the free disk. Then each member is checked
before it is written: its name must be a safe relative path (no `..`, no absolute path), it
must be a plain regular file (links, devices, fifos and sparse members are refused), listed
in the MANIFEST with the size its header declares; it is copied up to that size and no
further. Files are written into a fresh temporary folder, hashed while written, and the
folder is moved to its final name only when every hash matches the MANIFEST and nothing is
missing or added: a refused or truncated pack leaves nothing behind that looks complete.
Without a readable MANIFEST nothing is written at all (the pack is still read through, to
name every problem).

The cache (`$VJSHOW_CACHE`, default `~/.cache/vjshow`) keeps one folder per pack, named by
the SHA-256 of the whole archive; a small index keyed by (path, size, mtime) spares
re-hashing a pack that has not changed since it was last opened.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from app.pack.format import (
    MANIFEST,
    PACK_JSON,
    ManifestLine,
    PackError,
    human_bytes,
    member_problem,
    pack_json_problems,
    parse_manifest,
)
from app.pack.writer import BLOCK, ByteProgress, HashingReader

MAX_SMALL = 64 << 20  # pack.json and MANIFEST are read into memory: bound them


def cache_root() -> Path:
    """Where packs are unpacked for playing."""
    env = os.environ.get("VJSHOW_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "vjshow"


@dataclass
class Extracted:
    """The outcome of reading a pack through."""

    pack: Path
    sha256: str = ""
    info: dict[str, Any] | None = None
    files: dict[str, tuple[int, str]] = field(default_factory=dict)  # name -> (bytes, sha256)
    problems: list[str] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # members named once already, not written
    current: str = "(start)"  # the member being read (for the truncation message)

    @property
    def ok(self) -> bool:
        """True when the pack is complete and intact."""
        return not self.problems


def _read_small(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes | None:
    if member.size > MAX_SMALL or member.issparse():
        return None
    fh = tar.extractfile(member)
    return fh.read() if fh is not None else None


def _write_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path | None, limit: int | None = None
) -> tuple[int, str]:
    """Copy a regular member to `dest` (or nowhere), returning its size and SHA-256. At most
    `limit` bytes are copied; a member longer than that counts one byte more (and so shows
    as altered) without another byte written."""
    src = tar.extractfile(member)
    assert src is not None
    sha = hashlib.sha256()
    size = 0
    room = member.size if limit is None else limit
    out = None
    if dest is not None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        out = open(dest, "xb")  # x: the fresh folder never holds it already
    try:
        while room > 0 and (block := src.read(min(BLOCK, room))):
            room -= len(block)
            sha.update(block)
            size += len(block)
            if out is not None:
                out.write(block)
        if src.read(1):
            size += 1
    finally:
        if out is not None:
            out.close()
    return size, sha.hexdigest()


def _member_refusal(member: tarfile.TarInfo) -> str | None:
    bad = member_problem(member.name)
    if bad is not None:
        return f"{member.name}: refused: {bad}"
    if member.issym() or member.islnk():
        return f"{member.name}: refused: a link (to {member.linkname}); packs hold files only"
    if member.issparse():
        return (
            f"{member.name}: refused: a sparse member (declares {member.size} bytes); "
            "packs hold plain files only"
        )
    if not (member.isfile() or member.isdir()):
        return f"{member.name}: refused: a device, fifo or other special file"
    return None


@dataclass
class _Plan:
    """What the headers say before anything is written: the MANIFEST and the bytes it
    declares in all."""

    manifest: dict[str, ManifestLine] | None = None
    text: bytes = b""
    declared: int = 0


def _plan(pack: Path) -> _Plan:
    """Read the headers only (the data is skipped by seeking) to find the MANIFEST, which a
    pack holds last. Problems of a pack that has none are left to the full read."""
    plan = _Plan()
    try:
        with tarfile.open(pack, "r:") as tar:
            member = tar.next()
            while member is not None:
                if member.name == MANIFEST and member.isfile():
                    data = _read_small(tar, member)
                    if data is None:  # the full read names it
                        return _Plan()
                    plan.text = data
                tar.members.clear()  # a million tiny headers must not pile up here
                member = tar.next()
    except (tarfile.TarError, EOFError, OSError, ValueError):
        return _Plan()
    try:
        lines, problems = parse_manifest(plan.text.decode("utf-8"))
    except UnicodeDecodeError:
        return _Plan()
    if problems or not plan.text:
        return _Plan()
    plan.manifest = lines
    plan.declared = sum(line.size for line in lines.values()) + len(plan.text)
    return plan


def _bound_problem(pack: Path, plan: _Plan, dest: Path) -> str | None:
    """Why the declared size cannot be unpacked: more than the pack file holds (a plain tar
    holds every byte it unpacks) or more than the free disk."""
    held = pack.stat().st_size
    if plan.declared > held:
        return (
            f"{pack}: refused: its MANIFEST declares {human_bytes(plan.declared)} but the pack "
            f"holds only {human_bytes(held)}"
        )
    free = shutil.disk_usage(dest).free
    if plan.declared > free:
        return (
            f"{pack}: refused: unpacking needs {human_bytes(plan.declared)} and {dest} has "
            f"{human_bytes(free)} free"
        )
    return None


def read_pack(pack: Path, dest: Path | None, progress: TextIO | None = None) -> Extracted:
    """Read `pack` through once: check, hash and (when `dest` is given) write each member
    under `dest`. Every problem is collected; nothing is written outside `dest`, and nothing
    at all unless the MANIFEST was found first and the whole unpack fits (see the module's
    text). With `progress`, a progress line goes to that stream."""
    result = Extracted(Path(pack))
    plan = _Plan()
    try:
        raw = open(pack, "rb")
    except OSError as exc:
        result.problems.append(f"{pack}: cannot be read: {exc}")
        return result
    with raw:
        if dest is not None:
            plan = _plan(Path(pack))
            if plan.manifest is None:
                dest = None  # nothing is written; the read below names what is wrong
            elif (bound := _bound_problem(Path(pack), plan, dest)) is not None:
                result.problems.append(bound)
                return result
        bar = None
        if progress is not None:
            bar = ByteProgress(os.fstat(raw.fileno()).st_size, progress, verb="unpack")
        whole = HashingReader(raw, bar.advance if bar is not None else None)
        try:
            manifest = _read_members(whole, result, dest, plan, bar)
        except (tarfile.TarError, EOFError, OSError) as exc:
            result.problems.append(
                f"{pack}: truncated or not a tar archive (reading {result.current}: {exc})"
            )
            return result
        finally:
            if bar is not None:
                bar.close()
        if result.info is None:
            return result
        result.sha256 = whole.sha.hexdigest()
    if plan.manifest is not None and manifest is not None and manifest != plan.manifest:
        result.problems.append(f"{MANIFEST}: changed while the pack was read")
    _compare(result, manifest)
    return result


def _read_members(
    whole: HashingReader,
    result: Extracted,
    dest: Path | None,
    plan: _Plan,
    bar: ByteProgress | None,
) -> dict[str, ManifestLine] | None:
    """The streaming pass of `read_pack`; returns the MANIFEST read at the end."""
    manifest: dict[str, ManifestLine] | None = None
    with tarfile.open(fileobj=whole, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            result.current = member.name
            if bar is not None:
                bar.file(member.name)
            if result.info is None:
                if not _first_member(tar, member, result, dest):
                    return None
                continue
            if (refusal := _member_refusal(member)) is not None:
                result.problems.append(refusal)
                result.refused.add(member.name)
                continue
            if member.isdir():
                continue
            if member.name in result.files or (member.name == MANIFEST and manifest):
                result.problems.append(f"{member.name}: appears twice in the pack")
                continue
            if member.name == MANIFEST:
                manifest = _manifest(tar, member, result, dest)
                continue
            _read_member(tar, member, result, dest, plan)
    while whole.read(BLOCK):
        pass
    return manifest


def _read_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    result: Extracted,
    dest: Path | None,
    plan: _Plan,
) -> None:
    """Hash one regular member and write it when the MANIFEST lists it with its size."""
    limit = None
    if plan.manifest is not None:
        line = plan.manifest.get(member.name)
        if line is None:
            result.problems.append(f"{member.name}: not in MANIFEST (added to the pack)")
            result.refused.add(member.name)
            return
        if member.size != line.size:
            result.problems.append(
                f"{member.name}: altered ({member.size} bytes in the pack; MANIFEST says "
                f"{line.size} bytes): not written"
            )
            result.refused.add(member.name)
            return
        limit = line.size
    target = dest / member.name if dest is not None else None
    try:
        result.files[member.name] = _write_member(tar, member, target, limit)
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        result.problems.append(f"{member.name}: cannot be written: {exc.strerror}")


def _first_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, result: Extracted, dest: Path | None
) -> bool:
    """pack.json must come first; a newer format is refused before anything is written."""
    data = _read_small(tar, member) if member.name == PACK_JSON and member.isfile() else None
    if data is None:
        result.problems.append(f"{result.pack}: not a show pack ({PACK_JSON} does not come first)")
        return False
    try:
        info = json.loads(data)
    except ValueError as exc:
        result.problems.append(f"{PACK_JSON}: unreadable: {exc}")
        return False
    problems = pack_json_problems(info)
    if problems:
        result.problems.extend(problems)
        return False
    result.info = info
    result.files[PACK_JSON] = (len(data), hashlib.sha256(data).hexdigest())
    if dest is not None:
        (dest / PACK_JSON).write_bytes(data)
    return True


def _manifest(
    tar: tarfile.TarFile, member: tarfile.TarInfo, result: Extracted, dest: Path | None
) -> dict[str, ManifestLine] | None:
    data = _read_small(tar, member)
    if data is None:
        result.problems.append(f"{MANIFEST}: larger than {MAX_SMALL} bytes")
        return None
    if dest is not None:
        (dest / MANIFEST).write_bytes(data)
    try:
        lines, problems = parse_manifest(data.decode("utf-8"))
    except UnicodeDecodeError:
        result.problems.append(f"{MANIFEST}: not UTF-8 text")
        return None
    result.problems.extend(problems)
    return lines


def _compare(result: Extracted, manifest: dict[str, ManifestLine] | None) -> None:
    if manifest is None:
        result.problems.append(
            f"{MANIFEST}: missing: the pack is truncated or was not made by `pack`"
        )
        return
    for name, line in manifest.items():
        got = result.files.get(name)
        if name in result.refused:
            continue
        if got is None:
            result.problems.append(f"{name}: missing from the pack")
        elif got != (line.size, line.sha256):
            result.problems.append(
                f"{name}: altered ({got[0]} bytes, SHA-256 {got[1][:12]}...; MANIFEST says "
                f"{line.size} bytes, {line.sha256[:12]}...)"
            )
    for name in result.files:
        if name not in manifest:
            result.problems.append(f"{name}: not in MANIFEST (added to the pack)")


def show_file(folder: Path) -> Path:
    """The show file of an unpacked pack folder."""
    info = json.loads((folder / PACK_JSON).read_text(encoding="utf-8"))
    return folder / info["show"]


def _fresh_dir(parent: Path, tag: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".partial-{os.getpid()}-{tag}-", dir=parent))


def _clean_stale(parent: Path) -> None:
    """Remove partial folders of unpack runs that died (their pid is gone)."""
    if not parent.is_dir():
        return
    for d in parent.glob(".partial-*"):
        try:
            pid = int(d.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            continue


def unpack_to(pack: Path, folder: Path, progress: TextIO | None = None) -> Extracted:
    """Unpack into `folder` (which must not exist or be empty); PackError when refused.

    The files are written into a hidden sibling folder first and moved to `folder` only
    when complete and intact; a refused pack leaves `folder` as it was.
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise PackError([f"{folder}: exists and is not an empty folder"])
    tmp = _fresh_dir(folder.resolve().parent, folder.name)
    try:
        result = read_pack(pack, tmp, progress)
        if not result.ok:
            raise PackError(result.problems)
        if folder.exists():
            folder.rmdir()
        os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _index_key(pack: Path) -> str:
    st = pack.stat()
    text = f"{pack.resolve()}\0{st.st_size}\0{st.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def cached_folder(pack: Path, root: Path | None = None) -> Path | None:
    """The cache folder of `pack` if it was unpacked before and the file has not changed."""
    root = root or cache_root()
    index = root / "index" / _index_key(Path(pack))
    try:
        digest = index.read_text(encoding="ascii").strip()
    except OSError:
        return None
    folder = root / digest
    return folder if (folder / PACK_JSON).is_file() else None


def unpack_cached(
    pack: Path,
    root: Path | None = None,
    *,
    reuse: bool = True,
    progress: TextIO | None = None,
) -> tuple[Path, Extracted | None]:
    """The cache folder holding `pack` unpacked (made now when needed); PackError if refused.

    Returns the folder and, when the pack was read now, what reading it found.
    """
    pack = Path(pack)
    root = root or cache_root()
    if reuse:
        found = cached_folder(pack, root)
        if found is not None:
            return found, None
    _clean_stale(root)
    tmp = _fresh_dir(root, "unpack")
    try:
        result = read_pack(pack, tmp, progress)
        if not result.ok:
            raise PackError(result.problems)
        folder = root / result.sha256
        if not (folder / PACK_JSON).is_file():
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):  # another process got there first
                os.rename(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    index = root / "index" / _index_key(pack)
    index.parent.mkdir(parents=True, exist_ok=True)
    index.write_text(result.sha256 + "\n", encoding="ascii")
    return folder, result


def resolve_show(path: Path, progress: TextIO | None = None) -> Path:
    """`path` itself for a show file; for a `.vjshow` pack, its show file in the cache."""
    from app.pack.format import SUFFIX

    path = Path(path)
    if path.suffix.lower() != SUFFIX:
        return path
    folder, _ = unpack_cached(path, progress=progress)
    return show_file(folder)


@dataclass
class VerifyReport:
    """What `verify` found."""

    pack: Path
    problems: list[str]
    files: int = 0
    media: int = 0
    sha256: str = ""

    @property
    def ok(self) -> bool:
        """Exit 0 only when this is True."""
        return not self.problems


def verify(pack: Path, root: Path | None = None, progress: TextIO | None = None) -> VerifyReport:
    """Check every hash of `pack`, then that every media file its show needs is present and
    probes. An intact pack stays in the cache (play will not unpack it again)."""
    try:
        folder, result = unpack_cached(pack, root, reuse=False, progress=progress)
    except PackError as exc:
        return VerifyReport(Path(pack), exc.problems)
    assert result is not None
    problems = media_problems(show_file(folder), folder)
    return VerifyReport(
        Path(pack), problems, len(result.files) + 1, _media_count(folder), result.sha256
    )


def _media_count(folder: Path) -> int:
    from app.show.loader import load_show

    try:
        return len({c.media for c in load_show(show_file(folder), allow_missing=True).cues})
    except Exception:  # counted only for the summary line
        return 0


def media_problems(show_path: Path, folder: Path) -> list[str]:
    """Each cue media of the unpacked show that lies outside the pack, is missing or does not
    probe."""
    from app.media.probe import probe
    from app.pack.trust import is_inside
    from app.show.loader import ShowError, load_show

    try:
        show = load_show(show_path, allow_missing=True)
    except ShowError as exc:
        return [str(p) for p in exc.problems]
    problems: list[str] = []
    seen: set[Path] = set()
    for cue in show.cues:
        if cue.media in seen:
            continue
        seen.add(cue.media)
        if not is_inside(cue.media, folder):
            problems.append(f"{cue.media}: outside the pack (cue {cue.id} plays it)")
            continue
        rel = cue.media.relative_to(folder) if cue.media.is_relative_to(folder) else cue.media
        if not cue.media.is_file():
            problems.append(f"{rel}: missing (cue {cue.id} plays it)")
            continue
        error = probe(cue.media).error
        if error:
            problems.append(f"{rel}: does not probe (cue {cue.id}): {error}")
    return problems
