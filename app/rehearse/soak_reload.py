"""`bench soak --reload-every S`: the soak with the show file edited every S seconds.

The soak's show is written to a YAML file and played through `LiveShow` (app.rehearse.reload),
as `play` does. The run alternates phases of 2 S seconds: without edits (the reference) and
with an edit every S seconds (a fade and a note of a cue changed, the file replaced as an
editor saves it). `frame_p99_ratio` is the 99th percentile of the frame times in the phases
with edits over that of the phases without, both from the same run. The phases are short so
that both see the same mix of cues (a splat scene on stage costs far more than a still on a
software rasteriser) and the same load of the machine.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.threads import BackgroundThread


def phase_length(every: float) -> float:
    """Seconds per phase: two edits in each phase with edits."""
    return max(2.0 * every, 1.0)


def editing(elapsed: float, phase: float) -> bool:
    """Whether the run is in a phase with edits (the first phase is a reference)."""
    return int(elapsed // phase) % 2 == 1


def show_text(
    media: list[Path], *, width: int, height: int, fps: float, fade: float, n: int
) -> str:
    """The soak's one-poem show as YAML; `n` varies cue 1.2's fade and notes per edit."""
    lines = [
        "title: soak",
        f"output: {{width: {width}, height: {height}, fps: {fps:g}}}",
        f"defaults: {{fade: {fade:g}, go_guard: 0}}",
        "poems:",
        '  - id: "1"',
        "    cues:",
    ]
    for i, path in enumerate(media, start=1):
        lines += [f'      - id: "1.{i}"', f"        media: {Path(path).resolve()}"]
        if i == 2:
            lines += [f"        fade: {fade + 0.01 * (n % 2):g}", f'        notes: "edit {n}"']
    return "\n".join(lines) + "\n"


def save(path: Path, text: str) -> None:
    """Write as an editor saves: a temporary file renamed over the show."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass(eq=False)
class Editor:
    """A thread that edits the show file every `every` seconds during the edit phases.

    `path` is the show file, `media` its media, `args` the soak's options (output size),
    `phase` the phase length (`phase_length`); `edits` counts the edits made so far.
    """

    path: Path
    media: list[Path]
    args: Any
    every: float
    phase: float
    edits: int = field(default=0, init=False)
    _start: float = field(default_factory=time.perf_counter, init=False, repr=False)
    _thread: BackgroundThread = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._thread = BackgroundThread(self._run, "soak-editor")

    def start(self, start: float) -> Editor:
        self._start = start
        self._thread.start()
        return self

    def _run(self) -> None:
        a = self.args
        n = 0
        while True:  # an edit at each multiple of `every` that falls in a phase with edits
            n += 1
            due = self._start + n * self.every
            if self._thread.stopping.wait(max(0.0, due - time.perf_counter())):
                return
            if not editing(due - self._start + 1e-6, self.phase):
                continue
            self.edits += 1
            text = show_text(
                self.media, width=a.width, height=a.height, fps=a.fps, fade=0.8, n=self.edits
            )
            save(self.path, text)

    def close(self) -> None:
        self._thread.close(5.0)


def frame_p99_ratio(t: np.ndarray, frame_ms: np.ndarray, phase: float) -> dict[str, Any]:
    """p99 of the frame times with edits, without, and their ratio."""
    ok = ~np.isnan(frame_ms)
    on = np.array([editing(x, phase) for x in t], dtype=bool)
    with_edits, without = frame_ms[ok & on], frame_ms[ok & ~on]
    if not with_edits.size or not without.size:
        return {"frame_p99_ratio": None, "p99_with_edits": None, "p99_without": None}
    a, b = float(np.percentile(with_edits, 99)), float(np.percentile(without, 99))
    return {
        "frame_p99_ratio": round(a / b, 4) if b > 0 else None,
        "p99_with_edits": round(a, 2),
        "p99_without": round(b, 2),
        "frames_with_edits": int(with_edits.size),
        "frames_without": int(without.size),
    }
