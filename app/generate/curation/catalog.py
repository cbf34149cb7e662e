"""What variations of a cue exist: the files of its variations folder, read with the manifest.

The folder is the truth (an artist may delete or drop files by hand); the manifest adds the
recipe, seed and A1111 `parameters` of what it recorded. A file the manifest does not know
is listed with what its own metadata says (or its name: `seed-12.png`); a manifest record
whose file is gone is reported as missing, never shown.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from app.generate.manifest import Manifest, state_dir
from app.generate.metadata import PARAMETERS_CHUNK, RECIPE_CHUNK, read_png_metadata, sidecar_path
from app.show.model import Cue, GenerateSpec, MediaKind, media_kind_for

_SEED = re.compile(r"seed-(\d+)\.[A-Za-z0-9]+$")
# Recipe fields a variation may differ in (whatever subset of them its recipe hash holds).
_SPEC_FIELDS = tuple(
    f.name
    for f in fields(GenerateSpec)
    if f.name not in ("kind", "model", "seed", "seeds", "source", "last_from")
)


@dataclass
class Variation:
    """One variation file of a cue."""

    name: str  # file name, unique within the cue's folder: the variation's id
    path: Path
    kind: MediaKind
    seed: int | None
    bytes: int
    mtime_ns: int
    recorded: bool  # the manifest knows it
    recipe: dict[str, Any] = field(default_factory=dict)
    parameters: str = ""
    values: dict[str, Any] = field(default_factory=dict)  # recipe fields that differ from the cue's

    def to_json(self) -> dict[str, Any]:
        """What the desk page receives."""
        return {
            "id": self.name,
            "kind": self.kind.value,
            "seed": self.seed,
            "bytes": self.bytes,
            "stamp": self.mtime_ns,
            "recorded": self.recorded,
            "values": self.values,
            "parameters": self.parameters,
            "recipe": self.recipe,
        }


def variations_dir(media_root: Path, cue_id: str) -> Path:
    """The folder the variations of `cue_id` are written to."""
    return state_dir(media_root) / "variations" / cue_id.replace("/", "_")


def recipe_values(cue: Cue, recipe: dict[str, Any]) -> dict[str, Any]:
    """Recipe fields of a variation that differ from the cue's recipe now (its grid values),
    `refine.x` and `extra.x` named by key."""
    spec = cue.generate
    if spec is None or not recipe:
        return {}
    out: dict[str, Any] = {}
    for name in _SPEC_FIELDS:
        if name not in recipe:
            continue
        mine, theirs = getattr(spec, name), recipe[name]
        if name in ("refine", "extra") and isinstance(theirs, dict):
            base = mine or {}
            for k in sorted(set(base) | set(theirs)):
                if base.get(k) != theirs.get(k):
                    out[f"{name}.{k}"] = theirs.get(k)
        elif mine != theirs and not (isinstance(mine, float) and theirs == mine):
            out[name] = theirs
    return out


def _embedded(path: Path, kind: MediaKind) -> tuple[dict[str, Any], str]:
    """(recipe, parameters) that a file carries itself."""
    try:
        if kind is MediaKind.STILL and path.suffix.lower() == ".png":
            text = read_png_metadata(path)
            recipe = json.loads(text.get(RECIPE_CHUNK, "{}") or "{}")
            return (recipe if isinstance(recipe, dict) else {}), text.get(PARAMETERS_CHUNK, "")
        side = sidecar_path(path)
        if side.is_file():
            data = json.loads(side.read_text(encoding="utf-8"))
            return dict(data.get("recipe") or {}), str(data.get("parameters") or "")
    except (OSError, ValueError, SyntaxError):
        pass
    return {}, ""


def list_variations(
    cue: Cue, media_root: Path, manifest: Manifest
) -> tuple[list[Variation], list[str]]:
    """(the variations of `cue`, sorted by seed then name; names of recorded but missing files)."""
    folder = variations_dir(media_root, cue.id)
    found: list[Variation] = []
    names: set[str] = set()
    if folder.is_dir():
        for path in folder.iterdir():
            kind = media_kind_for(path)
            if (
                kind is None
                or not path.is_file()
                or path.name.startswith(".")
                or path.name == "contact.png"
            ):
                continue
            st = path.stat()
            entry = manifest.get(path)
            if entry is not None:
                recipe = dict(entry.get("recipe") or {})
                parameters = str(entry.get("parameters") or "")
                seed = entry.get("seed")
            else:
                recipe, parameters = _embedded(path, kind)
                seed = recipe.get("seed")
            if seed is None:
                m = _SEED.search(path.name)
                seed = int(m.group(1)) if m else None
            names.add(path.name)
            found.append(
                Variation(
                    name=path.name,
                    path=path,
                    kind=kind,
                    seed=seed if isinstance(seed, int) else None,
                    bytes=st.st_size,
                    mtime_ns=st.st_mtime_ns,
                    recorded=entry is not None,
                    recipe=recipe,
                    parameters=parameters,
                    values=recipe_values(cue, recipe),
                )
            )
    prefix = manifest.key(folder) + "/"
    missing = sorted(
        key[len(prefix) :]
        for key in manifest.entries
        if key.startswith(prefix)
        and "/" not in key[len(prefix) :]
        and key[len(prefix) :] not in names
    )
    found.sort(key=lambda v: (v.seed if v.seed is not None else 1 << 62, v.name))
    return found, missing
