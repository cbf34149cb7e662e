"""What of a show goes into a pack: its files, its media, how they were made, the software.

`collect(show_path)` loads the show (every media file must be there: a pack is complete or
it is not made), places the show file and the media root under their common folder so the
pack keeps their relative layout, and gathers the generated members (the show's part of the
generation manifest, the models' identities, the locked dependency versions).
"""

from __future__ import annotations

import hashlib
import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import yaml

from app import safe_yaml
from app.pack.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    LOCK_FILE,
    MODELS_JSON,
    PackError,
    arc_path,
    dumps,
    member_problem,
)
from app.show.model import Poem, Show

GENERATE_DIR = ".generate"
PACKED_REGISTRY = "models.yaml"
VENUE_FILE = "venue.yaml"  # app.render.warp's name; read here without importing GL code


@dataclass(frozen=True)
class PackFile:
    """One member to write: a file on disk (`src`) or bytes made here (`data`)."""

    arc: str
    src: Path | None = None
    data: bytes | None = None
    poem: str | None = None  # the poem whose media it is, for the size summary

    @property
    def size(self) -> int:
        """Bytes of the member."""
        return len(self.data) if self.data is not None else os.stat(self.src).st_size  # type: ignore[arg-type]


@dataclass
class Collected:
    """A show ready to pack."""

    show: Show
    show_arc: str  # the show file's member name
    media_arc: str  # the media root's folder in the pack
    files: list[PackFile]
    models: list[dict[str, Any]]
    made: list[dict[str, Any]]  # per cue: how its media was made (for README.txt)
    info: dict[str, Any] = field(default_factory=dict)  # pack.json without the sizes


def _show_problems(show_path: Path) -> list[str]:
    """A show that names an absolute media root cannot move to another machine."""
    try:
        raw = safe_yaml.safe_load(show_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return []  # load_show reports it with its line
    root = raw.get("media_root") if isinstance(raw, dict) else None
    if isinstance(root, str) and Path(root).expanduser().is_absolute():
        return [
            f"{show_path}: media_root is an absolute path ({root}); a pack must not depend on "
            "this machine's folders: write it relative to the show file"
        ]
    return []


def _load(show_path: Path) -> Show:
    from app.show.loader import ShowError, load_show

    problems = _show_problems(show_path)
    try:
        show = load_show(show_path)
    except ShowError as exc:
        raise PackError([*problems, *(str(p) for p in exc.problems)]) from None
    if problems:
        raise PackError(problems)
    return show


def collect(
    show_path: Path, *, models_path: Path | None = None, with_models: bool = False
) -> Collected:
    """Everything a pack of `show_path` holds, in the order it is written."""
    show = _load(Path(show_path))
    show_dir = show.path.resolve().parent
    root = show.media_root.resolve()
    base = Path(os.path.commonpath([show_dir, root]))
    show_arc = arc_path(show.path.resolve().relative_to(base).as_posix())
    media_arc = root.relative_to(base).as_posix() if root != base else "media"
    if root == base:  # media root is the show's own folder: keep both under media/
        show_arc = arc_path(media_arc, show.path.resolve().relative_to(base).as_posix())
    files = [PackFile(show_arc, show.path)]
    show_side = show_arc.rpartition("/")[0]
    for extra in (show_dir / f"{show.path.stem}.picks.yaml", show_dir / VENUE_FILE):
        if extra.is_file():
            files.append(PackFile(arc_path(show_side, extra.name), extra))

    problems: list[str] = []
    media_keys = _media_files(show, root, media_arc, files, problems)
    if problems:
        raise PackError(problems)
    entries = _manifest_entries(root, media_keys)
    if entries:
        manifest = {"version": 1, "outputs": entries}
        files.append(
            PackFile(arc_path(media_arc, GENERATE_DIR, "manifest.json"), data=dumps(manifest))
        )
    models, weights = model_records(show, entries, models_path, with_models)
    files.append(PackFile(MODELS_JSON, data=dumps({"models": models})))
    files.extend(weights)
    files.append(PackFile(LOCK_FILE, data=lock_text().encode()))
    for f in files:
        bad = member_problem(f.arc)
        if bad is not None:
            raise PackError([f"{f.src or f.arc}: cannot be packed under {f.arc!r}: {bad}"])
    made = _made(show, root, entries)
    info = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "app": {"name": "app", "version": app_version()},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "title": show.title,
        "show": show_arc,
        "media_root": media_arc,
        "output": {
            "width": show.output.width,
            "height": show.output.height,
            "fps": show.output.fps,
        },
        "python": platform.python_version(),
        "models": [m["name"] for m in models],
        "with_models": with_models,
    }
    return Collected(show, show_arc, media_arc, files, models, made, info)


def _media_files(
    show: Show, root: Path, media_arc: str, files: list[PackFile], problems: list[str]
) -> set[str]:
    """Append each cue's media (and its sidecar) once; returns their media-root keys."""
    keys: set[str] = set()
    for poem in show.poems:
        for cue in poem.cues:
            if Path(cue.media_ref).is_absolute():
                problems.append(
                    f"{show.path}:{cue.line}: cue {cue.id}: media is an absolute path "
                    f"({cue.media_ref}); a pack needs it relative to the media root"
                )
                continue
            try:
                key = cue.media.resolve().relative_to(root).as_posix()
            except ValueError:
                problems.append(
                    f"{show.path}:{cue.line}: cue {cue.id}: media {cue.media_ref} is outside "
                    f"the media root {root}; a pack keeps only what is under it"
                )
                continue
            if key in keys:
                continue
            keys.add(key)
            files.append(PackFile(arc_path(media_arc, key), cue.media, poem=poem.id))
            side = cue.media.with_name(cue.media.name + ".json")
            if side.is_file():
                files.append(PackFile(arc_path(media_arc, key + ".json"), side, poem=poem.id))
        _companions(show, poem, root, media_arc, files, problems, keys)
    return keys


def _companions(
    show: Show,
    poem: Poem,
    root: Path,
    media_arc: str,
    files: list[PackFile],
    problems: list[str],
    keys: set[str],
) -> None:
    """The files a poem's splat cues need besides their media (SOG images, camera paths)."""
    from app.media.splat_cue import cue_companions

    for cue in poem.cues:
        for extra in cue_companions(cue):
            try:
                key = extra.resolve().relative_to(root).as_posix()
            except ValueError:
                problems.append(
                    f"{show.path}:{cue.line}: cue {cue.id}: {extra} is outside the media root "
                    f"{root}; a pack keeps only what is under it"
                )
                continue
            if not extra.is_file():
                problems.append(f"{show.path}:{cue.line}: cue {cue.id}: {extra} not found")
            elif key not in keys:
                keys.add(key)
                files.append(PackFile(arc_path(media_arc, key), extra, poem=poem.id))


def _manifest_entries(root: Path, keys: set[str]) -> dict[str, Any]:
    """The generation manifest's records of the packed media (other shows' stay out)."""
    from app.generate.manifest import Manifest

    manifest = Manifest.load(root)
    return {k: v for k, v in sorted(manifest.entries.items()) if k in keys}


def _made(show: Show, root: Path, entries: dict[str, Any]) -> list[dict[str, Any]]:
    """Per cue, how its media was made: backend, model, seed (from the manifest)."""
    rows = []
    for cue in show.cues:
        try:
            key = cue.media.resolve().relative_to(root).as_posix()
        except ValueError:
            continue
        entry = entries.get(key, {})
        rows.append(
            {
                "cue": cue.id,
                "media": key,
                "recipe": cue.generate is not None,
                "model": entry.get("model") or (cue.generate.model if cue.generate else None),
                "backend": entry.get("backend"),
                "seed": entry.get("seed"),
            }
        )
    return rows


def _model_names(show: Show, entries: dict[str, Any]) -> list[str]:
    names = {c.generate.model for c in show.cues if c.generate and c.generate.model}
    names |= {e["model"] for e in entries.values() if isinstance(e.get("model"), str)}
    return sorted(names)


def model_records(
    show: Show, entries: dict[str, Any], models_path: Path | None, with_models: bool
) -> tuple[list[dict[str, Any]], list[PackFile]]:
    """Each model the show names: registry facts, licence, file hashes, what it made.

    Weights join the pack only with `with_models` (under `models/<name>/`, with a
    `models.yaml` at the pack's root that registers them by relative path: `generate`
    finds it from a show file in `show/`).
    """
    from app.generate.errors import GenerateError
    from app.generate.registry import find_registry, load_registry, model_files, model_identity

    try:
        registry = load_registry(find_registry(show.path, models_path))
    except GenerateError as exc:
        raise PackError([str(exc)]) from None
    records: list[dict[str, Any]] = []
    weights: list[PackFile] = []
    packed_registry: dict[str, Any] = {}
    for name in _model_names(show, entries):
        made = sorted(k for k, e in entries.items() if e.get("model") == name)
        record: dict[str, Any] = {
            "name": name,
            "made": made,
            "made_by_backend": sorted({str(entries[k].get("backend")) for k in made}),
            "identities_recorded": sorted(
                {
                    str(entries[k].get("recipe", {}).get("model", {}).get("files"))
                    for k in made
                    if isinstance(entries[k].get("recipe", {}).get("model"), dict)
                    and entries[k]["recipe"]["model"].get("files")
                }
            ),
        }
        entry = registry.models.get(name)
        if entry is None:
            record["registered"] = False
            record["licence"] = ""
            records.append(record)
            continue
        source = entry.where[3:].strip() if entry.where.startswith("hf:") else entry.path.name
        record.update(
            {
                "registered": True,
                "kind": entry.kind,
                "source": entry.where.split(":", 1)[0] + ": " + source,
                "licence": entry.licence,
                "dtype": entry.dtype,
                "pipeline": entry.pipeline,
            }
        )
        files = model_files(entry)
        record["on_disk"] = bool(files)
        if files:
            record["identity"] = model_identity(entry)
            record["files"] = [
                {"path": rel, "bytes": p.stat().st_size, "sha256": _sha256(p)} for rel, p in files
            ]
            if with_models:
                weights.extend(PackFile(arc_path("models", name, rel), p) for rel, p in files)
                packed_registry[name] = _packed_entry(entry, name)
        records.append(record)
    if packed_registry:
        text = yaml.safe_dump({"models": packed_registry}, sort_keys=True)
        weights.append(PackFile(PACKED_REGISTRY, data=text.encode()))
    return records, weights


def _packed_entry(entry: Any, name: str) -> dict[str, Any]:
    """The models.yaml entry of packed weights (paths relative to the pack's root)."""
    base = f"models/{name}"
    path = f"{base}/weights/{entry.path.name}" if entry.path.is_file() else f"{base}/weights"
    out: dict[str, Any] = {"path": path, "kind": entry.kind, "dtype": entry.dtype}
    if entry.config is not None:
        out["config"] = f"{base}/config"
    for key in ("vae_dtype", "pipeline", "fps", "variant", "refiner"):
        if getattr(entry, key) is not None:
            out[key] = getattr(entry, key)
    if entry.licence:
        out["licence"] = entry.licence
    if entry.offload != "none":
        out["offload"] = entry.offload
    return out


def _sha256(path: Path) -> str:
    from app.generate.cache import file_sha256

    return file_sha256(path)


def app_version() -> str:
    """The version of this program."""
    from app import __version__

    return __version__


def lock_text() -> str:
    """Every installed distribution and its version (`name==version`), a lock of the
    environment the pack was made in."""
    seen: dict[str, str] = {}
    for dist in importlib_metadata.distributions():
        name = dist.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = f"{name}=={dist.version}"
    head = (
        f"# environment of the machine that made this pack: python {platform.python_version()}"
        f" on {platform.system().lower()} {platform.machine()}\n"
    )
    return head + "".join(line + "\n" for _, line in sorted(seen.items()))


def digest_bytes(data: bytes) -> str:
    """SHA-256 of bytes (hex)."""
    return hashlib.sha256(data).hexdigest()
