"""Executors: where the runner's render work runs (this process, or Ray workers).

The seam with the runner (app/generate/runner.py) is small on purpose:

- The runner decides everything about the cache (current, copy, skip) and forms batches;
  for each batch that must really be rendered it builds a `RenderTask` and calls
  `executor.submit(task)`. A task carries the jobs (frozen dataclasses, picklable), their
  input files as bytes (`inputs`: role -> (file name, bytes)), so that a worker on another
  machine needs no shared disk, and `group`, the model the task needs (affinity).
- `executor.next_outcome()` blocks until one task ends and returns its `TaskOutcome`:
  the `Rendered` results (pixels, frames or a splat scene, travelling as bytes), or a
  `failure` (message, out-of-memory flag). The runner writes the outputs into the cache
  (atomically, as always): workers never write outputs.
- A task whose worker died (killed, out of memory, machine gone) is resubmitted by the
  executor to another worker, at most `MAX_TRIES` times in all, then reported failed with the
  reason; finished tasks are never run again, so nothing is written twice.

Workers are `WorkerCore`s: a backend made by a picklable factory, which turns a task into
results. The `local` executor runs one in this process; the `ray` executor one per GPU (or
`--workers N`) in Ray actors, with a driver thread per worker that waits for its actor.
"""

from __future__ import annotations

import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from app.generate.errors import GenerateError, JobError, is_out_of_memory

if TYPE_CHECKING:
    from app.generate.backends import Backend, Rendered
    from app.generate.plan import Job

MAX_TRIES = 3  # a task is tried on at most this many workers before it is reported failed

BackendFactory = Callable[[], "Backend"]  # picklable: workers build their own backend
ProgressSink = Callable[[str, str, float], None]  # (worker, label, fraction or IDLE/NOTE)
IDLE = -2.0  # sink fraction: the worker finished its task (label unused)
NOTE = -1.0  # sink fraction: the label is a message about the worker (lost, restarted)


@dataclass
class RenderTask:
    """One batch to render: jobs of one recipe (differing by seed at most) and their inputs."""

    id: int
    jobs: list[Job]
    inputs: dict[str, tuple[str, bytes]]  # role -> (file name, content)
    group: str  # the model it needs: tasks of one group go to the worker that holds it
    label: str
    digests: list[str] = field(default_factory=list)  # the jobs' cache keys (prompt ids)
    tries: int = 0
    lost: list[str] = field(default_factory=list)  # why earlier tries ended (worker deaths)


@dataclass
class Failure:
    """Why a task failed, in a form that travels between processes."""

    message: str  # "Type: text" or a JobError's own message
    out_of_memory: bool = False
    job_error: bool = False  # the message is meant for the artist as it is
    details: str = ""  # a traceback, shown with --verbose
    setup: bool = False  # the worker's backend could not start (a missing device): stops the run


class WorkerFailure(Exception):
    """A task's failure re-raised on the driver (so the runner explains it as before)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@dataclass
class TaskOutcome:
    """How a task ended, on which worker, and what it made."""

    task: RenderTask
    worker: str
    device: str = ""
    results: list[Rendered] | None = None
    failure: Failure | None = None
    seconds: float = 0.0


@contextmanager
def task_inputs(task: RenderTask, prefix: str = "app-generate-in-") -> Iterator[dict[str, Path]]:
    """A task's input files (sent as bytes) written into a temporary folder for the length of
    the block: role -> path."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        paths: dict[str, Path] = {}
        for role, (name, data) in task.inputs.items():
            path = Path(tmp) / role / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            paths[role] = path
        yield paths


def describe_failure(exc: BaseException) -> Failure:
    """A `Failure` for an exception raised by a backend."""
    if isinstance(exc, JobError):
        return Failure(str(exc), out_of_memory=exc.out_of_memory, job_error=True)
    return Failure(
        f"{type(exc).__name__}: {exc}",
        out_of_memory=is_out_of_memory(exc),
        details="".join(traceback.format_exception(exc)).rstrip(),
    )


def failure_exception(failure: Failure) -> BaseException:
    """The exception the runner explains for a failure that came from a worker."""
    if failure.job_error:
        return JobError(failure.message, out_of_memory=failure.out_of_memory)
    return WorkerFailure(failure)


class WorkerCore:
    """A backend turning tasks into results; the same code in this process or a Ray actor."""

    def __init__(self, factory: BackendFactory, name: str) -> None:
        self.name = name
        self.backend = factory()
        self.group: str | None = None  # the model group it rendered last (still loaded)
        self._prepared = False
        self._progress: tuple[str, float] = ("", 0.0)

    @property
    def max_batch(self) -> int:
        """Jobs per call the backend takes."""
        return int(getattr(self.backend, "max_batch", 1))

    def check(self, jobs: list[Job]) -> list[tuple[str, str]]:
        """(job key, problem) for the jobs this worker could not render (missing models)."""
        return [(job.key, message) for job, message in self.backend.check(jobs)]

    def describe_device(self) -> str:
        """The device this worker renders on."""
        return self.backend.describe_device()

    def progress(self) -> tuple[str, float]:
        """(label of the running task, fraction done)."""
        return self._progress

    def render(self, task: RenderTask, on_step: Callable[[float], None] | None = None) -> Any:
        """Render `task`; returns (results | None, Failure | None, device, seconds)."""
        started = time.monotonic()
        self._progress = (task.label, 0.0)

        def step(fraction: float) -> None:
            self._progress = (task.label, fraction)
            if on_step is not None:
                on_step(fraction)

        try:
            if not self._prepared:
                try:
                    self.backend.prepare()
                except GenerateError as exc:
                    return None, Failure(str(exc), setup=True), self.describe_device(), 0.0
                self._prepared = True
            with task_inputs(task) as paths:
                results = self.backend.render(task.jobs, paths, step)
            self.group = task.group
            return results, None, self.describe_device(), time.monotonic() - started
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one task's failure must not stop the worker
            self.backend.recover()
            return None, describe_failure(exc), self.describe_device(), 0.0
        finally:
            self._progress = ("", 0.0)

    def close(self) -> None:
        """Release the backend."""
        self.backend.close()


class Executor(Protocol):
    """What the runner needs from an executor."""

    name: str
    max_batch: int  # the batch size the runner forms (the workers' backends')

    def open(self, jobs: list[Job], sink: ProgressSink) -> dict[str, str]:
        """Start the workers for `jobs`; returns job key -> problem for jobs that no worker
        can render (each worker checks its own models before any job starts)."""
        ...

    def submit(self, task: RenderTask) -> None:
        """Queue a task (its inputs are ready)."""
        ...

    def next_outcome(self) -> TaskOutcome:
        """Block until a task ends (results or failure); a task is reported exactly once."""
        ...

    def placement(self, job: Job) -> tuple[str, str]:
        """(worker or server it would go to, why), for `generate --dry-run`."""
        ...

    def workers(self) -> list[str]:
        """Names of the workers, as the progress display shows them."""
        ...

    def cancel(self) -> None:
        """Drop queued tasks and stop what runs where that is possible (Ctrl-C)."""
        ...

    def close(self) -> None:
        """Stop the workers (models are released)."""
        ...
