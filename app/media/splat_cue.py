"""What a splat cue draws: its file loaded, trimmed by the cue's `splat:` block, and checked
to draw something (numpy only, no GL).

`load_cue_scene(path, trim)` is what the media pool, the thumbnails and `check` call, so
that all of them see the same splats. The trim is pure (`trim_mask`), applied at load and
kept with the show file (and so in its packs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from app.media.splats import SplatScene, load_splats
from app.media.types import MediaError
from app.show.model import SOG_META, Cue, MediaKind, SplatTrim

MIN_ALPHA = 1.0 / 255.0  # the renderer discards fragments below this


@dataclass(frozen=True)
class TrimmedScene:
    """A scene as its cue draws it, and how many splats the trim dropped."""

    scene: SplatScene
    loaded: int  # splats in the file
    dropped: int  # splats the trim removed

    @property
    def kept(self) -> int:
        """Splats drawn."""
        return self.scene.count


# sign of each SH basis function (k = 1..15) under (x, y, z) -> (x, -y, -z)
SH_FLIP_YZ = np.array([-1, -1, 1] + [-1, 1, 1, -1, 1] + [-1, 1, -1, -1, 1, -1, 1], np.float32)


def flip_yz(scene: SplatScene) -> SplatScene:
    """The scene turned half a turn about x (y and z negated): RUB (x right, y up, z back,
    Niantic's SPZ frame) to the RDF frame scenes are drawn in, and back."""
    w, x, y, z = scene.rotations.T
    sh = None
    if scene.sh is not None:
        sh = (scene.sh * SH_FLIP_YZ[: scene.sh.shape[1], None]).astype(np.float32)
    return replace(
        scene,
        positions=(scene.positions * np.array([1, -1, -1], np.float32)).astype(np.float32),
        rotations=np.ascontiguousarray(np.stack([w, x, -y, -z], axis=1)),
        sh=sh,
    )


def trim_mask(scene: SplatScene, trim: SplatTrim | None) -> np.ndarray:
    """(N,) bool: the splats `trim` keeps (all of them for None)."""
    keep = np.ones(scene.count, dtype=bool)
    if trim is None:
        return keep
    p = scene.positions
    if trim.box is not None:
        lo, hi = np.asarray(trim.box[0], np.float32), np.asarray(trim.box[1], np.float32)
        keep &= np.all((p >= lo) & (p <= hi), axis=1)
    if trim.sphere is not None:
        centre, radius = np.asarray(trim.sphere[0], np.float64), float(trim.sphere[1])
        keep &= np.sum((p - centre) ** 2, axis=1) <= radius * radius
    if trim.min_opacity > 0.0:
        keep &= scene.opacities >= np.float32(trim.min_opacity)
    if trim.max_scale is not None:
        keep &= scene.scales.max(axis=1) <= np.float32(trim.max_scale)
    return keep


def apply_trim(scene: SplatScene, trim: SplatTrim | None) -> TrimmedScene:
    """The scene without the splats `trim` drops (the same object when it drops none)."""
    keep = trim_mask(scene, trim)
    dropped = int(scene.count - keep.sum())
    return TrimmedScene(scene if dropped == 0 else scene.subset(keep), scene.count, dropped)


def drawable_problem(scene: SplatScene, trimmed: TrimmedScene | None = None) -> str | None:
    """Why a loaded (and trimmed) scene would draw nothing, or None when it draws."""
    if trimmed is not None and trimmed.kept == 0:
        return f"the cue's splat: trim drops all {trimmed.loaded} splats (nothing left to draw)"
    if scene.count == 0:
        return "the scene has no splats"
    visible = scene.opacities >= MIN_ALPHA
    if not visible.any():
        return f"all {scene.count} splats are transparent (opacity < 1/255): it renders black"
    if scene.sh is None and float(scene.colours[visible].max()) <= 0.0:
        return "every visible splat's colour is black or below: it renders black"
    if scene.intrinsics is not None:
        view = np.eye(4) if scene.extrinsic is None else np.asarray(scene.extrinsic)
        z = scene.positions @ view[2, :3].astype(np.float32) + np.float32(view[2, 3])
        if not (z[visible] > 0).any():
            return "no visible splat is in front of the file's camera (extrinsic): black"
    return None


def load_cue_scene(path: str | Path, trim: SplatTrim | None = None) -> TrimmedScene:
    """Load a cue's scene, turn it to RDF when its `splat:` says the file is RUB, apply its
    trim; MediaError when it would draw nothing."""
    scene = load_splats(path)
    if trim is not None and trim.axes == "rub":
        scene = flip_yz(scene)
    trimmed = apply_trim(scene, trim)
    problem = drawable_problem(trimmed.scene, trimmed)
    if problem is not None:
        raise MediaError(path, problem)
    return trimmed


def cue_companions(cue: Cue) -> list[Path]:
    """Files a splat cue needs besides its media file (what a pack must carry with it): the
    images an unbundled SOG's meta.json names, and the cue's camera path file."""
    out: list[Path] = []
    if cue.kind is not MediaKind.SPLAT:
        return out
    if cue.media.name.lower() == SOG_META and cue.media.is_file():
        try:
            meta = json.loads(cue.media.read_bytes())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            meta = None
        if isinstance(meta, dict):
            for value in meta.values():
                files = value.get("files") if isinstance(value, dict) else None
                if isinstance(files, list):
                    out += [cue.media.parent / f for f in files if isinstance(f, str)]
    if cue.camera is not None and cue.camera.path is not None:
        out.append(cue.camera.path)
    return out
