"""The scheduler shared by every executor: tasks to workers, affinity, retries on death.

A `Pool` holds `Slot`s (one per worker: this process, a Ray actor, a ComfyUI server). Each
idle slot takes the first queued task it accepts, preferring one of the model group it
already holds, then one whose group no other live slot holds (so that models are loaded
once and stay loaded while their jobs remain). A slot whose worker dies raises `WorkerLost`:
its task goes back to the front of the queue for another worker (or the same one, once
revived), at most `MAX_TRIES` tries in all. Threaded slots run in a thread each; an inline
slot (the local executor's) runs its task inside `next_outcome`, in the caller's thread, so
that one-worker runs behave exactly as before (Ctrl-C included).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from app.generate.executors import (
    IDLE,
    MAX_TRIES,
    NOTE,
    Failure,
    ProgressSink,
    RenderTask,
    TaskOutcome,
)

if TYPE_CHECKING:
    from app.generate.plan import Job


class WorkerLost(Exception):
    """The worker running a task died or became unreachable (the task is not lost)."""


class Slot(Protocol):
    """One worker as the pool sees it."""

    name: str
    threaded: bool  # run in a thread of its own (False: inline in next_outcome)
    max_batch: int

    def start(self) -> None:
        """Start the worker (may block until it answers)."""
        ...

    def accepts(self, job: Job) -> bool:
        """True when this worker can render this kind of job at all."""
        ...

    def check(self, jobs: list[Job]) -> list[tuple[str, str]]:
        """(job key, problem) for the given jobs this worker cannot render."""
        ...

    def run(self, task: RenderTask, on_step: Callable[[float], None]) -> TaskOutcome:
        """Render a task; WorkerLost when the worker died under it."""
        ...

    def revive(self) -> bool:
        """Replace a dead worker; False when that is not possible."""
        ...

    def cancel(self) -> None:
        """Stop the running task where possible (Ctrl-C)."""
        ...

    def close(self) -> None:
        """Stop the worker."""
        ...


@dataclass
class _State:
    slot: Slot
    group: str | None = None  # model held
    task: RenderTask | None = None
    alive: bool = True
    reviving: bool = False  # dead, but being restarted: its tasks are not orphans yet
    cannot: set[str] = field(default_factory=set)  # job keys it cannot render
    wake: threading.Event = field(default_factory=threading.Event)


class Pool:
    """Workers, a queue of tasks and the outcomes, with model affinity and retries."""

    def __init__(self, name: str, slots: list[Slot]) -> None:
        self.name = name
        self._states = [_State(s) for s in slots]
        self._queue: list[RenderTask] = []
        self._outcomes: queue.Queue[TaskOutcome] = queue.Queue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._sink: ProgressSink = lambda worker, label, fraction: None
        self._closing = False
        self._started = False
        self.notes: list[str] = []

    @property
    def max_batch(self) -> int:
        """The smallest batch any worker takes (tasks may go to any of them)."""
        return min((s.slot.max_batch for s in self._states), default=1)

    @property
    def slots(self) -> list[Slot]:
        """The workers as slots."""
        return [s.slot for s in self._states]

    def workers(self) -> list[str]:
        """The workers' names."""
        return [s.slot.name for s in self._states]

    # --- starting -----------------------------------------------------------------------

    def open(self, jobs: list[Job], sink: ProgressSink) -> dict[str, str]:
        """Start and check every worker; job key -> why no worker can render it."""
        self._sink = sink
        if not self._started:  # a pool serves several runs (bench, variations): start once
            for state in self._states:
                state.slot.start()
        reasons: dict[str, list[str]] = {}
        for state in self._states:
            state.cannot.clear()
            mine = [j for j in jobs if state.slot.accepts(j)]
            for key, message in state.slot.check(mine) if mine else []:
                state.cannot.add(key)
                reasons.setdefault(key, []).append(f"{state.slot.name}: {message}")
        problems: dict[str, str] = {}
        for job in jobs:
            able = [s for s in self._states if s.slot.accepts(job) and job.key not in s.cannot]
            if not able:
                why = reasons.get(job.key) or [f"no worker of this run takes {job.label}"]
                problems[job.key] = "; ".join(dict.fromkeys(why))
            elif job.key in reasons:
                self.notes.append(
                    f"{job.label}: only on {', '.join(s.slot.name for s in able)} "
                    f"({'; '.join(reasons[job.key])})"
                )
        for state in self._states:
            if state.slot.threaded and not self._started:
                t = threading.Thread(
                    target=self._serve, args=(state,), name=f"worker {state.slot.name}"
                )
                t.daemon = True
                t.start()
                self._threads.append(t)
        self._started = True
        return problems

    # --- scheduling ---------------------------------------------------------------------

    def submit(self, task: RenderTask) -> None:
        """Queue a task for the first suitable worker."""
        with self._lock:
            self._queue.append(task)
        self._wake_idle()

    def _takes(self, state: _State, task: RenderTask) -> bool:
        return all(state.slot.accepts(j) and j.key not in state.cannot for j in task.jobs)

    def _pick(self, state: _State) -> RenderTask | None:
        """The task `state` should run next (lock held), removed from the queue."""
        fit = [t for t in self._queue if self._takes(state, t)]
        if not fit:
            return None
        held = {s.group for s in self._states if s is not state and s.alive}
        best = next((t for t in fit if t.group == state.group), None)
        best = best or next((t for t in fit if t.group not in held), None) or fit[0]
        self._queue.remove(best)
        state.task = best
        return best

    def _wake_idle(self) -> None:
        for state in self._states:
            if state.slot.threaded and state.task is None:
                state.wake.set()

    def _orphans(self) -> list[RenderTask]:
        """Queued tasks no live worker can take (lock held), removed from the queue."""
        lost = [
            t
            for t in self._queue
            if not any((s.alive or s.reviving) and self._takes(s, t) for s in self._states)
        ]
        for t in lost:
            self._queue.remove(t)
        return lost

    def _finish_lost(self, state: _State, task: RenderTask, reason: str) -> None:
        """A task's worker died: retry it elsewhere, or report it failed after MAX_TRIES."""
        task.tries += 1
        task.lost.append(f"{state.slot.name}: {reason}")
        self._sink(state.slot.name, f"lost {task.label}: {reason}", NOTE)
        if task.tries >= MAX_TRIES:
            self._outcomes.put(self._gave_up(task, state.slot.name))
            return
        with self._lock:
            self._queue.insert(0, task)

    def _gave_up(self, task: RenderTask, worker: str) -> TaskOutcome:
        text = (
            f"its worker was lost {len(task.lost)} time(s) ({'; '.join(task.lost)}); "
            f"gave up after {MAX_TRIES} tries"
            if task.tries >= MAX_TRIES
            else f"no worker left to render it ({'; '.join(task.lost) or 'all workers died'})"
        )
        return TaskOutcome(task, worker, failure=Failure(text, job_error=True))

    def _run(self, state: _State, task: RenderTask) -> TaskOutcome | None:
        """Run one task on `state`; None when the worker was lost (task requeued)."""
        name = state.slot.name
        self._sink(name, task.label, 0.0)
        try:
            outcome = state.slot.run(task, lambda f: self._sink(name, task.label, f))
        except WorkerLost as exc:
            state.task = None
            state.reviving = True
            state.alive = False
            state.group = None
            self._sink(name, "", IDLE)
            self._finish_lost(state, task, str(exc))
            if not self._closing and state.slot.revive():
                state.alive = True
                self._sink(name, "restarted", NOTE)
            state.reviving = False
            self._fail_orphans()
            self._wake_idle()
            return None
        state.task = None
        if outcome.failure is None:
            state.group = task.group
        self._sink(name, "", IDLE)
        return outcome

    def _fail_orphans(self) -> None:
        with self._lock:
            lost = self._orphans()
        for task in lost:
            self._outcomes.put(self._gave_up(task, "-"))

    def _serve(self, state: _State) -> None:
        while not self._closing and state.alive:
            with self._lock:
                task = self._pick(state)
                if task is None:
                    state.wake.clear()
            if task is None:
                state.wake.wait()
                continue
            outcome = self._run(state, task)
            if outcome is not None:
                self._outcomes.put(outcome)

    def next_outcome(self) -> TaskOutcome:
        """Block until a task ends; inline slots run their next task here."""
        while True:
            try:
                return self._outcomes.get_nowait()
            except queue.Empty:
                pass
            for state in self._states:
                if state.slot.threaded or not state.alive:
                    continue
                with self._lock:
                    task = self._pick(state)
                if task is not None:
                    outcome = self._run(state, task)
                    if outcome is not None:
                        return outcome
                    break
            else:
                try:
                    # Wakes often so that Ctrl-C reaches the main thread promptly.
                    return self._outcomes.get(timeout=0.25)
                except queue.Empty:
                    self._fail_orphans()
                    continue

    # --- dry run ------------------------------------------------------------------------

    def placement(self, job: Job) -> tuple[str, str]:
        """Where a job would go, and why: a preview of the scheduler (call in plan order)."""
        from app.generate.plan import model_group

        able = [s for s in self._states if s.slot.accepts(job) and job.key not in s.cannot]
        if not able:
            return "-", "no worker can render it"
        group = model_group(job)
        # Each worker's queued load and the model it would hold, as the jobs are dealt out.
        load: dict[str, int] = self.__dict__.setdefault("_preview_load", {})
        holds: dict[str, str] = self.__dict__.setdefault("_preview_holds", {})

        def cost(s: _State) -> float:
            return load.get(s.slot.name, 0) + (0.0 if holds.get(s.slot.name) == group else 0.5)

        best = min(able, key=cost)
        name = best.slot.name
        why = "holds its model" if holds.get(name) == group else "free first; loads its model"
        if len(able) == 1:
            why = "the only worker for it"
        load[name] = load.get(name, 0) + 1
        holds[name] = group
        return name, why

    # --- stopping -----------------------------------------------------------------------

    def cancel(self) -> None:
        """Drop queued tasks and ask running workers to stop."""
        with self._lock:
            self._queue.clear()
        for state in self._states:
            state.slot.cancel()

    def close(self) -> None:
        """Stop every worker."""
        self._closing = True
        for state in self._states:
            state.wake.set()
        for state in self._states:
            try:
                state.slot.close()
            except Exception:  # a dead worker must not stop the others from closing
                continue
