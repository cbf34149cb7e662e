"""A text progress bar with ETA on stderr (one line redrawn on a terminal, lines otherwise)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO


def format_duration(seconds: float) -> str:
    """`75` -> `1:15`, `3725` -> `1:02:05`."""
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """Progress over a known amount of work (units: any cost estimate, e.g. denoising steps).

    The ETA is the elapsed time per finished unit times the units left: the first job's
    pipeline loading inflates it at first, then it settles.
    """

    def __init__(
        self,
        total_units: float,
        jobs: int,
        *,
        stream: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        width: int = 24,
    ) -> None:
        self.total = max(total_units, 1e-9)
        self.jobs = jobs
        self.stream = stream or sys.stderr
        self.clock = clock
        self.width = width
        self.start = clock()
        self.done_units = 0.0
        self.job_index = 0
        self.label = ""
        self._job_units = 0.0
        self._job_fraction = 0.0
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_draw = -1.0
        # Workers of a parallel run: name -> (label, units, fraction); label "" = idle.
        self._workers: dict[str, tuple[str, float, float]] = {}
        self._lock = threading.RLock()

    def begin_job(self, label: str, units: float, index: int | None = None) -> None:
        """Job number `index` (default: the next) starts; it is `units` of the total."""
        self.job_index = self.job_index + 1 if index is None else index
        self.label = label
        self._job_units = units
        self._job_fraction = 0.0
        self._draw(force=True)

    def step(self, fraction: float) -> None:
        """The running job is `fraction` (0..1) done."""
        self._job_fraction = min(max(fraction, 0.0), 1.0)
        self._draw()

    def end_job(self) -> None:
        """The running job finished."""
        self.done_units += self._job_units
        self._job_units = self._job_fraction = 0.0
        self._draw(force=True)

    # --- several workers (executors): called from their threads ----------------------------

    def add_workers(self, names: list[str]) -> None:
        """Name the workers shown (idle until they begin a job)."""
        with self._lock:
            for name in names:
                self._workers.setdefault(name, ("", 0.0, 0.0))

    def worker_begin(self, worker: str, label: str, units: float, index: int) -> None:
        """`worker` starts job number `index` (`units` of the total)."""
        with self._lock:
            self._workers[worker] = (label, units, 0.0)
            self.job_index = max(self.job_index, index)
            self.label = label
            self._draw(force=True)

    def worker_step(self, worker: str, fraction: float) -> None:
        """The job running on `worker` is `fraction` done."""
        with self._lock:
            label, units, _ = self._workers.get(worker, ("", 0.0, 0.0))
            if label:
                self._workers[worker] = (label, units, min(max(fraction, 0.0), 1.0))
                self._draw()

    def worker_end(self, worker: str) -> None:
        """The job on `worker` ended (its work is counted by `add_done`)."""
        with self._lock:
            self._workers[worker] = ("", 0.0, 0.0)

    def add_done(self, units: float) -> None:
        """`units` of work were finished."""
        with self._lock:
            self.done_units += units
            self._draw(force=True)

    def _running_units(self) -> float:
        if self._workers:
            return sum(u * f for _, u, f in self._workers.values())
        return self._job_units * self._job_fraction

    def skip(self, units: float) -> None:
        """Work that turned out not to be needed leaves the total."""
        self.total = max(self.total - units, 1e-9)

    def eta(self) -> float | None:
        """Seconds left, or None before any work was measured."""
        done = self.done_units + self._running_units()
        if done <= 0:
            return None
        elapsed = self.clock() - self.start
        return elapsed / done * max(self.total - done, 0.0)

    def line(self) -> str:
        """The current progress line."""
        done = self.done_units + self._running_units()
        frac = min(done / self.total, 1.0)
        filled = int(round(frac * self.width))
        bar = "#" * filled + "-" * (self.width - filled)
        eta = self.eta()
        eta_text = "ETA --:--" if eta is None else f"ETA {format_duration(eta)}"
        elapsed = format_duration(self.clock() - self.start)
        if len(self._workers) > 1:
            busy = " | ".join(
                f"{w}: {label} {f * 100:.0f}%" if label else f"{w}: idle"
                for w, (label, _, f) in self._workers.items()
            )
            return f"[{bar}] {frac * 100:5.1f}% {busy}  {elapsed} elapsed, {eta_text}"
        return (
            f"[{bar}] {frac * 100:5.1f}% job {self.job_index}/{self.jobs} {self.label}  "
            f"{elapsed} elapsed, {eta_text}"
        )

    def message(self, text: str) -> None:
        """Print a line of its own without breaking the bar."""
        with self._lock:
            self._message(text)

    def _message(self, text: str) -> None:
        if self._tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(text + "\n")
        self.stream.flush()
        self._last_draw = -1.0

    def close(self) -> None:
        """Finish the bar's line."""
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, force: bool = False) -> None:
        now = self.clock()
        if self._tty:
            if not force and now - self._last_draw < 0.1:
                return
            self.stream.write("\r\x1b[K" + self.line())
        else:
            if not force and now - self._last_draw < 5.0:
                return
            self.stream.write(self.line() + "\n")
        self.stream.flush()
        self._last_draw = now
