"""Cue times: when each cue was fired against a reference recording.

`<show>.cuetimes.yaml` (beside the show file: `pierrot.yaml` -> `pierrot.cuetimes.yaml`)
holds, per recording, the position in the recording (seconds) at which each cue fires:

```yaml
# written by `python -m app play SHOW --reference FILE` (captured GOs) and by
# `python -m app rehearse align` (carried over to another recording); comments survive
version: 1
recordings:
  cd.flac:                 # the recording, relative to the show file's folder (or absolute)
    duration: 2190.4       # seconds (optional; informative)
    source: captured       # captured | aligned (free text: how the times were made)
    from: null             # for aligned times: the recording they were carried over from
    cues:
      "1.1": 12.345        # cue id: seconds into the recording
      "1.2": {at: 40.5, confidence: 0.82}   # the long form (aligned times carry one)
```

A cue appears once per recording (a cue fired twice keeps the last capture). Readers use
`read_cuetimes(path)`; writers update one recording with `write_recording(...)`, keeping the
file's other recordings and its comments (ruamel.yaml round trip). The aligner (issue 26
point 4) calls `write_aligned(show_path, recording, times, source_recording=...)`.

Bad content raises `CueTimesError` whose message is `path:line: message`.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import safe_yaml
from app.atomic import write_text_atomic

VERSION = 1
SUFFIX = ".cuetimes.yaml"


class CueTimesError(ValueError):
    """A cue-times file that cannot be read (the message is `path:line: message`)."""


@dataclass(frozen=True)
class CueTime:
    """One cue's position in a recording (seconds); `confidence` 0..1 for aligned times."""

    cue: str
    at: float
    confidence: float | None = None


@dataclass(frozen=True)
class RecordingTimes:
    """The cue times of one recording, in time order."""

    recording: str  # the key as written (relative to the show folder, or absolute)
    cues: tuple[CueTime, ...] = ()
    duration: float | None = None
    source: str = "captured"
    aligned_from: str | None = None
    by_cue: dict[str, CueTime] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.cues, key=lambda c: (c.at, c.cue)))
        object.__setattr__(self, "cues", ordered)
        object.__setattr__(self, "by_cue", {c.cue: c for c in ordered})

    def at(self, cue_id: str) -> float | None:
        """The captured position of a cue, or None."""
        c = self.by_cue.get(cue_id)
        return None if c is None else c.at

    def with_time(self, cue_id: str, at: float, confidence: float | None = None) -> RecordingTimes:
        """A copy with one cue (re)timed."""
        rest = [c for c in self.cues if c.cue != cue_id]
        return RecordingTimes(
            self.recording,
            (*rest, CueTime(cue_id, float(at), confidence)),
            self.duration,
            self.source,
            self.aligned_from,
        )


def cuetimes_path(show_path: str | Path) -> Path:
    """`<show>.cuetimes.yaml` beside the show file."""
    p = Path(show_path)
    return p.with_name(p.stem + SUFFIX)


def recording_key(show_path: str | Path, recording: str | Path) -> str:
    """How a recording is named in the file: relative to the show's folder when inside it
    (posix slashes), else its absolute path."""
    folder = Path(show_path).resolve().parent
    rec = Path(recording).resolve()
    try:
        return rec.relative_to(folder).as_posix()
    except ValueError:
        return rec.as_posix()


def _line(node: Any, key: Any = None) -> int:
    lc = getattr(node, "lc", None)
    if lc is None:
        return 0
    try:
        return (lc.key(key)[0] if key is not None else lc.line) + 1
    except (KeyError, TypeError, AttributeError):
        return lc.line + 1


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise CueTimesError(f"{where}: expected a number of seconds, got {value!r}")
    if value < 0:
        raise CueTimesError(f"{where}: {value} is negative")
    return float(value)


def _read_cue(path: Path, cues: Any, key: Any) -> CueTime:
    where = f"{path}:{_line(cues, key)}: cue {key}"
    value = cues[key]
    if isinstance(value, Mapping):
        unknown = set(value) - {"at", "confidence"}
        if unknown or "at" not in value:
            raise CueTimesError(f"{where}: expected {{at: SECONDS, confidence: 0..1}}")
        conf = value.get("confidence")
        if conf is not None:
            conf = _number(conf, f"{where}: confidence")
            if conf > 1:
                raise CueTimesError(f"{where}: confidence {conf} is above 1")
        return CueTime(str(key), _number(value["at"], where), conf)
    return CueTime(str(key), _number(value, where))


def _read_recording(path: Path, recs: Any, key: Any) -> RecordingTimes:
    body = recs[key]
    where = f"{path}:{_line(recs, key)}: recording {key}"
    if not isinstance(body, Mapping):
        raise CueTimesError(f"{where}: expected a mapping with `cues:`")
    unknown = set(body) - {"duration", "source", "from", "cues"}
    if unknown:
        raise CueTimesError(f"{where}: unknown key {sorted(map(str, unknown))[0]!r}")
    cues = body.get("cues") or {}
    if not isinstance(cues, Mapping):
        raise CueTimesError(f"{path}:{_line(body, 'cues')}: `cues` must map cue ids to seconds")
    duration = body.get("duration")
    return RecordingTimes(
        str(key),
        tuple(_read_cue(path, cues, k) for k in cues),
        None if duration is None else _number(duration, f"{where}: duration"),
        str(body.get("source") or "captured"),
        None if body.get("from") is None else str(body.get("from")),
    )


def read_cuetimes(path: str | Path) -> dict[str, RecordingTimes]:
    """Every recording's cue times in a cue-times file ({} when the file does not exist)."""
    path = Path(path)
    if not path.exists():
        return {}
    from ruamel.yaml.error import YAMLError

    try:
        data = safe_yaml.round_trip().load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CueTimesError(f"{path}:0: cannot read: {exc}") from None
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        raise CueTimesError(f"{path}:{line}: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise CueTimesError(f"{path}:1: expected a mapping with `recordings:`")
    if data.get("version", VERSION) != VERSION:
        raise CueTimesError(f"{path}:{_line(data, 'version')}: unknown version {data['version']}")
    recs = data.get("recordings") or {}
    if not isinstance(recs, Mapping):
        raise CueTimesError(f"{path}:{_line(data, 'recordings')}: `recordings` must be a mapping")
    return {str(k): _read_recording(path, recs, k) for k in recs}


def _cue_value(c: CueTime) -> Any:
    from ruamel.yaml.comments import CommentedMap

    at = round(c.at, 4)
    if c.confidence is None:
        return at
    m = CommentedMap([("at", at), ("confidence", round(c.confidence, 3))])
    m.fa.set_flow_style()
    return m


def write_recording(path: str | Path, times: RecordingTimes) -> Path:
    """Put one recording's cue times into the file (created when missing), replacing that
    recording's entry and keeping the others, the comments and the order. Atomic: a reader
    never sees half a file."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    path = Path(path)
    y = safe_yaml.round_trip()
    data = y.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if not isinstance(data, CommentedMap):
        data = CommentedMap([("version", VERSION), ("recordings", CommentedMap())])
    recs = data.get("recordings")
    if not isinstance(recs, CommentedMap):
        recs = data["recordings"] = CommentedMap()
    entry = recs.get(times.recording)
    if not isinstance(entry, CommentedMap):
        entry = CommentedMap()
    for key, value in (
        ("duration", None if times.duration is None else round(times.duration, 3)),
        ("source", times.source),
        ("from", times.aligned_from),
    ):
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    cues = CommentedMap()
    for c in times.cues:
        cues[DoubleQuotedScalarString(c.cue)] = _cue_value(c)
    entry["cues"] = cues
    recs[times.recording] = entry
    buf = io.StringIO()
    y.dump(data, buf)
    write_text_atomic(path, buf.getvalue())
    return path


def read_recording(show_path: str | Path, recording: str | Path) -> RecordingTimes:
    """The cue times of one recording of a show (empty when none were captured yet)."""
    key = recording_key(show_path, recording)
    return read_cuetimes(cuetimes_path(show_path)).get(key) or RecordingTimes(key)


def write_aligned(
    show_path: str | Path,
    recording: str | Path,
    times: Mapping[str, float | tuple[float, float]],
    *,
    source_recording: str | Path | None = None,
    duration: float | None = None,
) -> Path:
    """For the aligner (`rehearse align`): write the cue times of `recording` into the show's
    cue-times file. `times` maps cue id -> seconds, or -> (seconds, confidence 0..1).
    Returns the file written."""
    cues = []
    for cue_id, value in times.items():
        at, conf = value if isinstance(value, tuple) else (value, None)
        cues.append(CueTime(str(cue_id), float(at), None if conf is None else float(conf)))
    rec = RecordingTimes(
        recording_key(show_path, recording),
        tuple(cues),
        duration,
        "aligned" if source_recording is not None else "captured",
        None if source_recording is None else recording_key(show_path, source_recording),
    )
    return write_recording(cuetimes_path(show_path), rec)
