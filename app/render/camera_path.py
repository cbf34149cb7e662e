"""Camera moves as data: a splat cue's recorded camera path, its file, and its recording.

A path is a list of (cue time, pose) samples; a pose is a `CameraOffset` (yaw, pitch, pan_x,
pan_y, dolly) from the cue's base view, and the cue time is the cue's media clock (seconds
since it was fired, times its layer's rate). `CameraPath.at(t)` interpolates linearly
between samples and holds the first and last poses outside them. Pure numpy and JSON; no GL.

File (JSON, written by `write_path`, read by `read_path`):

    {"format": "vj-camera-path", "version": 1, "cue": "3.1", "media": "scenes/biker.ply",
     "fields": ["t", "yaw", "pitch", "pan_x", "pan_y", "dolly"],
     "poses": [[0.0, 0, 0, 0, 0, 0], [0.04, 0.1, 0, 0, 0, 0], ...]}

`CameraMoves` is what the media pool asks for a splat cue's offset each frame: the cue's
path at its cue time (when its `camera: {path: FILE}` names one) plus the performer's
smoothed offset, so a performer takes over from the path by moving and lets it go back
with `camera_reset`. `camera_record` (app/cues/commands.py) starts and stops recording the
live cue's offset, frame by frame; a stopped recording is saved under the media root's
`paths/` folder and the line to add to the cue is logged.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from app.atomic import write_text_atomic
from app.cues.actions import Action, CameraRecord, FadeOut, Go, HardBlack, Panic
from app.cues.state import CameraOffset
from app.media.types import MediaError
from app.render.camera import add_offsets
from app.show.model import Cue

FORMAT = "vj-camera-path"
VERSION = 1
POSE_FIELDS = tuple(f.name for f in fields(CameraOffset))  # yaw pitch pan_x pan_y dolly
MAX_POSES = 1_000_000
MAX_FILE_BYTES = 64 << 20
PATHS_DIR = "paths"
# actions after which the live cue is no longer the one being recorded
_ENDS_RECORDING = (Go, FadeOut, Panic, HardBlack)


@dataclass(frozen=True, eq=False)
class CameraPath:
    """Samples of a camera move: `times` (K,) ascending cue times, `poses` (K, 5)."""

    times: np.ndarray
    poses: np.ndarray

    @property
    def duration(self) -> float:
        """Cue time of the last sample."""
        return float(self.times[-1])

    def at(self, t: float) -> CameraOffset:
        """The pose at cue time `t` (linear between samples, held outside them)."""
        times, poses = self.times, self.poses
        if t <= times[0]:
            return CameraOffset(*(float(v) for v in poses[0]))
        if t >= times[-1]:
            return CameraOffset(*(float(v) for v in poses[-1]))
        i = int(np.searchsorted(times, t, side="right"))
        t0, t1 = times[i - 1], times[i]
        w = (t - t0) / (t1 - t0)
        values = poses[i - 1] + (poses[i] - poses[i - 1]) * w
        return CameraOffset(*(float(v) for v in values))


def _pose(offset: CameraOffset) -> list[float]:
    return [float(getattr(offset, name)) for name in POSE_FIELDS]


def path_from_samples(samples: list[tuple[float, CameraOffset]]) -> CameraPath:
    """A path from (cue time, pose) samples in time order; later samples at the same time
    replace earlier ones."""
    times: list[float] = []
    poses: list[list[float]] = []
    for t, offset in samples:
        if times and t <= times[-1]:
            if t == times[-1]:
                poses[-1] = _pose(offset)
            continue
        times.append(float(t))
        poses.append(_pose(offset))
    if not times:
        raise ValueError("a camera path needs at least one sample")
    return CameraPath(np.asarray(times, np.float64), np.asarray(poses, np.float64))


def write_path(path: Path, camera_path: CameraPath, *, cue: str = "", media: str = "") -> None:
    """Write `camera_path` as JSON (atomically: a reader never sees half a file)."""
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "cue": cue,
        "media": media,
        "fields": ["t", *POSE_FIELDS],
        "poses": [
            [float(t), *(float(v) for v in pose)]
            for t, pose in zip(camera_path.times, camera_path.poses, strict=True)
        ],
    }
    write_text_atomic(path, json.dumps(doc, separators=(",", ":")) + "\n")


def read_path(path: str | Path) -> CameraPath:
    """Read a camera path file; MediaError (file and reason) when it is not one."""
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise MediaError(p, f"camera path is {size} bytes (more than {MAX_FILE_BYTES})")
        doc = json.loads(p.read_bytes())
    except FileNotFoundError:
        raise MediaError(p, "camera path file not found") from None
    except OSError as exc:
        raise MediaError(p, f"cannot read the camera path: {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MediaError(p, f"camera path is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise MediaError(p, f'not a camera path (no "format": "{FORMAT}")')
    if doc.get("version") != VERSION:
        raise MediaError(p, f"camera path version {doc.get('version')!r} (this reads {VERSION})")
    if doc.get("fields") != ["t", *POSE_FIELDS]:
        raise MediaError(p, f"camera path fields must be {['t', *POSE_FIELDS]}")
    rows = doc.get("poses")
    if not isinstance(rows, list) or not rows or len(rows) > MAX_POSES:
        raise MediaError(p, "camera path has no poses (or too many)")
    for i, row in enumerate(rows):
        ok = isinstance(row, list) and len(row) == 1 + len(POSE_FIELDS)
        ok = ok and all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in row
        )
        if not ok:
            raise MediaError(p, f"camera path pose {i + 1}: expected 6 finite numbers")
    values = np.asarray(rows, np.float64)
    times = values[:, 0]
    if times[0] < 0 or (np.diff(times) <= 0).any():
        bad = 1 if times[0] < 0 else int(np.argmax(np.diff(times) <= 0)) + 2
        raise MediaError(p, f"camera path pose {bad}: times must start >= 0 and increase")
    return CameraPath(times.copy(), values[:, 1:].copy())


Report = Callable[[str, int], None]  # (message, cue index)
Note = Callable[[str], None]


class CameraMoves:
    """Per-frame camera offsets of splat cues: path plus performer, and the recorder.

    Owned by the media pool (main thread). `on_action` is a player hook (applied actions
    and their notes); `offset` is asked for each splat cue drawn.
    """

    def __init__(
        self, cues: tuple[Cue, ...], media_root: Path, on_error: Report, on_note: Note
    ) -> None:
        self.cues = cues
        self.media_root = media_root
        self.on_error = on_error
        self.on_note = on_note
        self._paths: dict[int, CameraPath | None] = {}
        self._read: dict[int, CameraPath | MediaError | None] = {}  # preloaded, not yet used
        self._want: bool | None = None  # a camera_record waiting for the next frame
        self._recording: int | None = None  # the cue being recorded
        self._samples: list[tuple[float, CameraOffset]] = []
        self._last: dict[int, tuple[float, CameraOffset]] = {}
        self.saved: list[Path] = []  # the path files written, oldest first

    @property
    def recording(self) -> int | None:
        """The cue whose camera is being recorded, or None."""
        return self._recording

    def last(self, cue: int) -> tuple[float, CameraOffset] | None:
        """(cue time, offset) of the cue's last drawn frame, or None."""
        return self._last.get(cue)

    def on_action(self, action: Action, note: str | None) -> None:
        """Hear an applied action: camera_record starts/stops (unless the engine refused
        it: no splat cue live); a GO and the like
        end a recording (saved) since the cue recorded is leaving."""
        if isinstance(action, CameraRecord):
            if note is not None:  # refused (no splat cue live, or the inputs were busy)
                return
            active = self._recording is not None or self._want is True
            self._want = (not active) if action.on is None else bool(action.on)
            if self._want is False and self._recording is not None:
                self._stop()
        elif note is None and isinstance(action, _ENDS_RECORDING) and self._recording is not None:
            self._stop()

    def replace_cues(self, cues: tuple[Cue, ...], moved: dict[int, int]) -> None:
        """A reloaded show: its cues, and what was known by old index moved to the new one
        (`moved`: old flat index -> new)."""
        self.cues = cues
        self._paths = {moved[i]: p for i, p in self._paths.items() if i in moved}
        self._read = {moved[i]: p for i, p in self._read.items() if i in moved}
        self._last = {moved[i]: v for i, v in self._last.items() if i in moved}
        if self._recording is not None:
            self._recording = moved.get(self._recording)

    def preload(self, index: int) -> None:
        """Read the cue's path file ahead (any thread: the pool's loader runs it before the
        scene's load, so the first frame does not parse it)."""
        if index not in self._read:
            self._read[index] = self._read_path(index)

    def _read_path(self, index: int) -> CameraPath | MediaError | None:
        spec = self.cues[index].camera
        if spec is None or spec.path is None:
            return None
        try:
            return read_path(spec.path)
        except MediaError as exc:
            return exc

    def path_for(self, index: int) -> CameraPath | None:
        """The cue's camera path (read once; a broken file is reported and ignored)."""
        if index not in self._paths:
            found = self._read.pop(index) if index in self._read else self._read_path(index)
            if isinstance(found, MediaError):
                cue = self.cues[index]
                self.on_error(f"cue {cue.id}: {found} (playing without the path)", index)
                found = None
            self._paths[index] = found
        return self._paths[index]

    def offset(
        self, index: int, performer: CameraOffset, cue_time: float, live: bool
    ) -> CameraOffset:
        """The cue's offset at `cue_time`: its path's pose plus the performer's offset
        (recorded when the cue is live and a recording runs)."""
        path = self.path_for(index)
        total = performer if path is None else add_offsets(path.at(cue_time), performer)
        if live:
            if self._recording is not None and self._recording != index:
                self._stop()
            if self._want is True and self._recording is None:
                self._recording, self._samples = index, []
                self.on_note(f"camera: recording cue {self.cues[index].id}")
            self._want = None if self._want is True else self._want
            if self._recording == index:
                self._samples.append((cue_time, total))
        self._last[index] = (cue_time, total)
        return total

    def close(self) -> None:
        """Save a recording still running."""
        if self._recording is not None:
            self._stop()

    def _stop(self) -> None:
        index, samples = self._recording, self._samples
        self._recording, self._samples, self._want = None, [], None
        if index is None or not samples:
            return
        cue = self.cues[index]
        out = self._free_name(cue.id)
        try:
            write_path(out, path_from_samples(samples), cue=cue.id, media=cue.media_ref)
        except (OSError, ValueError) as exc:
            self.on_error(f"cue {cue.id}: camera path not saved: {exc}", index)
            return
        self.saved.append(out)
        ref = out.relative_to(self.media_root).as_posix()
        span = samples[-1][0] - samples[0][0]
        self.on_note(
            f"camera: recorded cue {cue.id} ({span:.2f} s, {len(samples)} poses) to {out}; "
            f"to replay it write `camera: {{path: {ref}}}` in cue {cue.id} (line {cue.line})"
        )

    def _free_name(self, cue_id: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in cue_id) or "cue"
        folder = self.media_root / PATHS_DIR
        out = folder / f"{safe}.json"
        n = 2
        while out.exists():
            out = folder / f"{safe}-{n}.json"
            n += 1
        return out
