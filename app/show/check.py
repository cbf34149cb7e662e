"""`python -m app check SHOW`: validate a show file and probe every media file it points at.

The show is loaded with `allow_missing=True` so that a missing file is reported by the probe
pass next to the undecodable ones, each as `show:line: cue 'id': ... media path`. Every file
is probed on its own (in a small thread pool, since probing a video runs ffmpeg twice), so
one broken file never hides another. A show that does not load at all gives a report of its
loader problems instead of an exception.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

from app.media.probe import probe
from app.media.types import MediaInfo
from app.show.check_splats import SplatCheck, check_splat_cues
from app.show.check_video import VideoRow, format_videos, video_rows, video_warnings
from app.show.loader import ShowError, load_show, media_file_problem
from app.show.model import Cue, MediaKind, OutputSpec, Poem, Show

# Probes are mostly waiting on ffmpeg subprocesses; a few at a time is plenty.
MAX_PROBE_WORKERS = 4


@dataclass(frozen=True)
class CueRow:
    """One line of the summary table: a cue and what probing its media found."""

    cue_id: str
    kind: str  # 'still', 'video', 'splat'
    media_ref: str  # as written in the show file
    width: int = 0
    height: int = 0
    duration: float | None = None  # seconds (videos)
    fps: float | None = None  # videos
    count: int | None = None  # splats in a scene
    status: str = "ok"  # 'ok', 'missing' or 'error'
    dropped: int | None = None  # splats the cue's `splat:` trim removes (None: no trim)

    @property
    def size(self) -> str:
        """'WxH', or '-' when unknown."""
        return f"{self.width}x{self.height}" if self.width and self.height else "-"

    @property
    def length(self) -> str:
        """Duration of a video or splat count of a scene, '-' otherwise."""
        if self.duration is not None:
            return f"{self.duration:.2f}s"
        if self.count is not None and self.dropped is not None:
            return f"{self.count - self.dropped}/{self.count} splats ({self.dropped} trimmed)"
        if self.count is not None:
            return f"{self.count} splats"
        return "-"


@dataclass(frozen=True)
class PoemRows:
    """The table rows of one poem of the show."""

    poem: Poem
    rows: tuple[CueRow, ...]


@dataclass
class CheckReport:
    """Everything `check` found. `ok` only when the show loads and every cue can play."""

    path: Path
    problems: list[str] = field(default_factory=list)  # "file:line: message", line order
    poems: list[PoemRows] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # worth knowing, does not stop the show
    videos: list[VideoRow] = field(default_factory=list)  # each playable video clip once
    show: Show | None = None  # None when the show file itself did not load

    @property
    def ok(self) -> bool:
        """True only if the show can be played."""
        return self.show is not None and not self.problems


def check_show(path: str | Path) -> CheckReport:
    """Load a show and probe every cue's media; never raises on a bad show or bad files."""
    path = Path(path)
    try:
        show = load_show(path, allow_missing=True)
    except ShowError as first:
        # The show does not load: list every problem at once, missing media files included.
        problems = first.problems
        try:
            load_show(path)
        except ShowError as e:
            problems = e.problems
        return CheckReport(path=path, problems=[str(p) for p in problems])
    report = CheckReport(path=path, show=show)
    infos = _probe_all(sorted({c.media for c in show.cues}))
    splats = check_splat_cues(show.cues, {p for p, i in infos.items() if i.error is None})
    for poem in show.poems:
        rows = []
        for cue in poem.cues:
            row = _check_cue(report, path, cue, infos.get(cue.media))
            if cue.id in splats:
                row = _splat_row(report, f"{path}:{cue.line}", cue, row, splats[cue.id])
            rows.append(row)
        report.poems.append(PoemRows(poem, tuple(rows)))
    report.videos = video_rows(show, infos)
    report.warnings += video_warnings(show, report.videos, path)
    _check_workflows(report, show)
    _check_rehearsal(report, show)
    return report


def _check_rehearsal(report: CheckReport, show: Show) -> None:
    """The show's `reference:` recording decodes, and its cue-times file reads."""
    from app.rehearse.cuetimes import CueTimesError, cuetimes_path, read_cuetimes
    from app.rehearse.recording import RecordingError, probe_recording

    if show.reference is not None:
        try:
            probe_recording(show.reference)
        except RecordingError as exc:
            report.problems.append(f"{show.path}: reference: {exc}")
    try:
        read_cuetimes(cuetimes_path(show.path))
    except CueTimesError as exc:
        report.problems.append(str(exc))


def _check_workflows(report: CheckReport, show: Show) -> None:
    """ComfyUI workflow recipes: files, binds, and the servers' node classes when they answer."""
    if not any(c.generate is not None and c.generate.workflow for c in show.cues):
        return
    from app.generate.comfyui.backend import check_show_workflows

    problems, warnings = check_show_workflows(show)
    report.problems.extend(problems)
    report.warnings.extend(warnings)


def _probe_all(paths: Sequence[Path]) -> dict[Path, MediaInfo]:
    """Probe each existing file once; a probe that fails only marks its own file."""

    def one(p: Path) -> MediaInfo:
        try:
            return probe(p)
        except Exception as e:  # probe() promises not to raise; a bug there must not stop check
            return MediaInfo(p, "unknown", error=f"cannot probe: {type(e).__name__}: {e}")

    existing = [p for p in paths if p.is_file()]
    if not existing:
        return {}
    workers = max(1, min(MAX_PROBE_WORKERS, os.cpu_count() or 1, len(existing)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(existing, pool.map(one, existing), strict=True))


def _check_cue(report: CheckReport, path: Path, cue: Cue, info: MediaInfo | None) -> CueRow:
    """The row of one cue; its problems and warnings go to the report."""
    where = f"{path}:{cue.line}"
    missing = media_file_problem(
        cue.id, cue.media_ref, cue.media, has_recipe=cue.generate is not None
    )
    if missing is not None or info is None:
        report.problems.append(f"{where}: {missing or f'cue {cue.id!r}: cannot probe'}")
        return CueRow(cue.id, cue.kind.value, cue.media_ref, status="missing")
    row = CueRow(
        cue.id,
        cue.kind.value,
        cue.media_ref,
        width=info.width,
        height=info.height,
        duration=info.duration,
        fps=info.fps,
        count=info.count,
        status="ok" if info.error is None else "error",
    )
    if info.error is not None:
        report.problems.append(f"{where}: cue '{cue.id}': cannot play {cue.media}: {info.error}")
        return row
    if cue.kind is MediaKind.VIDEO and info.duration is not None:
        if cue.start >= info.duration:
            report.problems.append(
                f"{where}: cue '{cue.id}': start {cue.start:g} s is past the end of "
                f"{cue.media_ref} ({info.duration:.2f} s)"
            )
            return replace(row, status="error")
        if cue.end is not None and cue.end > info.duration + 0.05:
            report.warnings.append(
                f"{where}: cue '{cue.id}': end {cue.end:g} s is past the end of "
                f"{cue.media_ref} ({info.duration:.2f} s); it holds the last frame"
            )
    return row


def _splat_row(report: CheckReport, where: str, cue: Cue, row: CueRow, found: SplatCheck) -> CueRow:
    """A splat cue's row once its scene was loaded: counts kept and trimmed, problems."""
    report.problems += [f"{where}: cue '{cue.id}': {p}" for p in found.problems]
    return replace(
        row,
        count=found.loaded if found.loaded else None,
        dropped=found.dropped if cue.splat is not None and found.loaded else None,
        status="error" if found.problems else row.status,
    )


def format_report(report: CheckReport) -> str:
    """A readable summary: one table per poem, then warnings, problems and the verdict."""
    lines: list[str] = []
    show = report.show
    if show is not None:
        n_cues = len(show.cues)
        lines.append(f"{show.title} ({report.path})")
        lines.append(
            f"output {_output(show.output)}, media root {show.media_root}, "
            f"{_count(len(show.poems), 'poem')}, {_count(n_cues, 'cue')}"
        )
        header = ("cue", "kind", "media", "size", "length", "fps", "status")
        table = [
            (r.cue_id, r.kind, r.media_ref, r.size, r.length, _fps(r.fps), r.status)
            for p in report.poems
            for r in p.rows
        ]
        widths = [max([len(h), *(len(t[i]) for t in table)]) for i, h in enumerate(header)]
        for entry in report.poems:
            poem = entry.poem
            title = f"  {poem.title}" if poem.title else ""
            lines += ["", f"poem {poem.id}{title} (part {poem.part})"]
            lines.append(_table_line(header, widths))
            for r in entry.rows:
                cells = (r.cue_id, r.kind, r.media_ref, r.size, r.length, _fps(r.fps), r.status)
                lines.append(_table_line(cells, widths))
        lines += format_videos(report.videos)
    else:
        lines.append(f"{report.path}: the show file did not load")
    if report.warnings:
        lines += ["", f"{_count(len(report.warnings), 'warning')}:"]
        lines += [f"  {w}" for w in report.warnings]
    if report.problems:
        lines += ["", f"{_count(len(report.problems), 'problem')}:"]
        lines += [f"  {p}" for p in report.problems]
    lines.append("")
    if report.ok:
        lines.append("ok: the show can be played")
    else:
        lines.append(f"not playable: {_count(len(report.problems), 'problem')}")
    return "\n".join(lines)


def _table_line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _fps(fps: float | None) -> str:
    return "-" if fps is None else f"{fps:g}"


def _output(output: OutputSpec) -> str:
    return f"{output.width}x{output.height} @ {output.fps:g} fps"
