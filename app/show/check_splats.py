"""`check`'s splat pass: every splat cue's scene loaded, trimmed and checked to draw.

A header can claim what its data does not hold (a count, properties, finite values), so the
probe's header check is not enough: each splat file is loaded once here (as `play` loads it),
each cue's `splat:` trim applied to it, and the result checked to draw something
(app.media.splat_cue). A cue's camera path file (`camera: {path: ...}`) is read too. The
problems are sentences for `file:line: cue 'id': ...`; the counts go to check's table.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from app.media.splat_cue import apply_trim, drawable_problem
from app.media.splats import SplatScene, load_splats
from app.media.types import MediaError
from app.show.model import Cue, MediaKind

MAX_WORKERS = 2  # a scene's decode is numpy work; two at a time keeps check's memory bounded


@dataclass(frozen=True)
class SplatCheck:
    """What loading one cue's scene found."""

    loaded: int = 0  # splats in the file
    dropped: int = 0  # splats its trim removes
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def kept(self) -> int:
        """Splats the cue draws."""
        return self.loaded - self.dropped


def _load(path: Path) -> SplatScene | MediaError:
    try:
        return load_splats(path)
    except MediaError as exc:
        return exc
    except (MemoryError, ValueError, OSError) as exc:
        return MediaError(path, f"cannot load: {type(exc).__name__}: {exc}")


def check_splat_cues(cues: Iterable[Cue], ready: set[Path]) -> dict[str, SplatCheck]:
    """Per splat cue id (whose file is in `ready`, i.e. probed fine): what it draws."""
    splat_cues = [c for c in cues if c.kind is MediaKind.SPLAT and c.media in ready]
    paths = sorted({c.media for c in splat_cues})
    if not paths:
        return {}
    workers = max(1, min(MAX_WORKERS, os.cpu_count() or 1, len(paths)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        scenes = dict(zip(paths, pool.map(_load, paths), strict=True))
    out: dict[str, SplatCheck] = {}
    for cue in splat_cues:
        out[cue.id] = _check(cue, scenes[cue.media])
    return out


def _check(cue: Cue, loaded: SplatScene | MediaError) -> SplatCheck:
    problems: list[str] = []
    path_problem = _camera_path_problem(cue)
    if isinstance(loaded, MediaError):
        problems.append(f"cannot play {cue.media_ref}: {loaded.reason}")
        if path_problem:
            problems.append(path_problem)
        return SplatCheck(problems=tuple(problems))
    trimmed = apply_trim(loaded, cue.splat)
    problem = drawable_problem(trimmed.scene, trimmed)
    if problem is not None:
        problems.append(f"{cue.media_ref} would draw nothing: {problem}")
    if path_problem:
        problems.append(path_problem)
    return SplatCheck(trimmed.loaded, trimmed.dropped, tuple(problems))


def _camera_path_problem(cue: Cue) -> str | None:
    spec = cue.camera
    if spec is None or spec.path is None:
        return None
    from app.render.camera_path import read_path

    try:
        read_path(spec.path)
    except MediaError as exc:
        return f"camera.path {spec.path_ref}: {exc.reason}"
    return None
