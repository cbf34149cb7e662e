""" "More like this": new variations queued from the desk, run on the generation runner.

A request names a variation and a mode: `seeds` (the same recipe values at new seeds) or
`finer` (for each numeric value the cell was swept on, values halfway to its neighbours in
the sweep, at the cell's seed). The jobs are ordinary variation and grid jobs (`Job`) run by
`Runner` through the executor `generate` would use (`make_executor`: local, or Ray workers),
a round at a time (one job per worker) under the store's lock and the media root's
`RunLock`, so every finished file appears on the page as its round lands and a pick never
waits for a whole request.
"""

from __future__ import annotations

import io
import itertools
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.desk.store import DeskStore
from app.generate.curation.catalog import Variation
from app.generate.curation.grid import Axis, cells_for
from app.generate.errors import GenerateError
from app.generate.manifest import Manifest, RunLock
from app.generate.plan import Job, require_recipe, variation_jobs

Notify = Callable[[dict[str, Any]], None]
MODES = ("seeds", "finer")


@dataclass
class Request:
    """One "more like this" request and how far it got."""

    id: int
    cue: str
    base: str
    mode: str
    count: int
    total: int = 0
    done: int = 0
    failed: int = 0
    state: str = "queued"  # queued, running, done, failed
    message: str = ""
    jobs: list[Job] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """What the page receives."""
        return {
            "type": "job",
            "id": self.id,
            "cue": self.cue,
            "base": self.base,
            "mode": self.mode,
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "state": self.state,
            "message": self.message,
        }


def new_seeds(existing: list[Variation], count: int) -> list[int]:
    """`count` seeds no variation of the cue has used yet, after the highest one."""
    used = {v.seed for v in existing if v.seed is not None}
    start = max(used, default=-1) + 1
    return list(itertools.islice((s for s in itertools.count(start) if s not in used), count))


def _field(v: Variation, name: str) -> Any:
    """A recipe field of a variation (`refine.x`, `extra.x` looked up in those mappings)."""
    if name in v.values:
        return v.values[name]
    group, _, key = name.partition(".")
    if key:
        return (v.recipe.get(group) or {}).get(key)
    return v.recipe.get(name)


def finer_axes(base: Variation, existing: list[Variation]) -> list[Axis]:
    """Axes halving the steps around `base`'s numeric values (see the module docstring)."""
    axes = []
    for name, value in base.values.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        found = (_field(v, name) for v in existing)
        others = sorted(
            {x for x in found if isinstance(x, int | float) and not isinstance(x, bool)} - {value}
        )
        values = [value]
        below = [o for o in others if o < value]
        above = [o for o in others if o > value]
        if below:
            values.insert(0, value - (value - below[-1]) / 2)
        if above:
            values.append(value + (above[0] - value) / 2)
        if isinstance(value, int):
            values = [round(x) for x in values]
        values = list(dict.fromkeys(values))
        if len(values) > 1:
            axes.append(Axis(name, tuple(values)))
    for name, value in base.values.items():
        if not any(a.field == name for a in axes):
            axes.append(Axis(name, (value,)))
    return axes[:3] if len(axes) <= 3 else axes


class JobQueue:
    """Runs "more like this" requests on one worker thread, reporting through `notify`."""

    def __init__(
        self,
        store: DeskStore,
        make_backend: Callable[[], Any],
        notify: Notify,
        *,
        make_executor: Callable[[Any], Any] | None = None,
    ) -> None:
        self.store = store
        self.make_backend = make_backend
        self.make_executor = make_executor  # backend -> executor (None: the runner's own)
        self._executor: Any = None
        self.notify = notify
        self.requests: dict[int, Request] = {}
        self._queue: queue.SimpleQueue[Request | None] = queue.SimpleQueue()
        self._ids = itertools.count(1)
        self._backend: Any = None
        self._thread = threading.Thread(target=self._work, name="desk-jobs", daemon=True)
        self._thread.start()

    def plan(self, cue_id: str, base_name: str, mode: str, count: int) -> list[Job]:
        """The jobs of a request (validated: a clear GenerateError otherwise)."""
        if mode not in MODES:
            raise GenerateError(f"mode must be one of {', '.join(MODES)}, got '{mode}'")
        if not 1 <= count <= 256:
            raise GenerateError(f"count must be 1..256, got {count}")
        store = self.store
        require_recipe(store.cue(cue_id))
        base = store.variation(cue_id, base_name)
        existing, _ = store.variations(cue_id)
        if mode == "seeds":
            seeds = new_seeds(existing, count)
            if not base.values:
                return variation_jobs(store.show, cue_id, seeds)
            axes = [Axis(k, (v,)) for k, v in base.values.items()]
            return cells_for(store.show, cue_id, axes, seeds)[1]
        axes = finer_axes(base, existing)
        if not any(len(a.values) > 1 for a in axes):
            raise GenerateError(
                f"cue {cue_id}: {base_name} is not a cell of a numeric grid; "
                "ask for more seeds instead"
            )
        if len(axes) > 3:
            raise GenerateError(f"cue {cue_id}: {base_name} differs in more than 3 fields")
        return cells_for(store.show, cue_id, axes, [base.seed or 0])[1]

    def submit(self, cue_id: str, base_name: str, mode: str = "seeds", count: int = 8) -> Request:
        """Queue a request; raises GenerateError for one that cannot run."""
        jobs = self.plan(cue_id, base_name, mode, count)
        request = Request(next(self._ids), cue_id, base_name, mode, count, total=len(jobs))
        request.jobs = jobs
        self.requests[request.id] = request
        self._queue.put(request)
        self.notify(request.to_json())
        return request

    def close(self) -> None:
        """Stop after the job in flight; release the backend."""
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self._executor is not None:
            self._executor.close()
        if self._backend is not None:
            self._backend.close()

    def _work(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                return
            try:
                self._run(request)
            except Exception as exc:  # a failed request must not stop the desk
                request.state, request.message = "failed", f"{type(exc).__name__}: {exc}"
                self.notify(request.to_json())

    def _run(self, request: Request) -> None:
        from app.generate.runner import Runner, validate_jobs

        store = self.store
        if self._backend is None:
            self._backend = self.make_backend()
            if self.make_executor is not None:
                self._executor = self.make_executor(self._backend)
        problems = validate_jobs(store.show, request.jobs, self._backend)
        if problems:
            request.state, request.message = "failed", "\n".join(problems)
            self.notify(request.to_json())
            return
        request.state = "running"
        self.notify(request.to_json())
        width = len(self._executor.workers()) if self._executor is not None else 1
        for start in range(0, len(request.jobs), max(width, 1)):
            round_ = request.jobs[start : start + max(width, 1)]
            with store.lock, RunLock(store.root):
                runner = Runner(
                    store.show,
                    self._backend,
                    Manifest.load(store.root),
                    out=io.StringIO(),
                    err=io.StringIO(),
                )
                report = runner.run(round_, self._executor)
            for job in round_:
                self._landed(request, job, report.failed.get(job.key))
        request.state = "failed" if request.failed else "done"
        self.notify(request.to_json())

    def _landed(self, request: Request, job: Job, failure: str | None) -> None:
        """Count a finished job and show its new variation on the page."""
        store = self.store
        if failure is not None:
            request.failed += 1
            request.message = failure.splitlines()[0]
        request.done += 1
        if job.variation and job.cue.id == request.cue and job.output.is_file():
            try:
                v = store.variation(request.cue, job.output.name)
            except GenerateError:
                pass
            else:
                item = v.to_json()
                item.update(rating=0, rejected=False)
                self.notify({"type": "added", "cue": request.cue, "item": item})
        self.notify(request.to_json())
