"""The local executor: one worker in this process (today's behaviour), plus server slots.

`LocalSlot` runs its backend inline, in the caller's thread. Extra slots (one per ComfyUI
server, see app/generate/comfyui/backend.py) run in threads of their own, so that several
servers render at once while this process only waits on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from app.generate.executors import BackendFactory, RenderTask, TaskOutcome, WorkerCore
from app.generate.executors.pool import Pool, Slot

if TYPE_CHECKING:
    from app.generate.plan import Job


class LocalSlot:
    """A worker in this process: never lost (a crash of this process ends the run)."""

    threaded = False

    def __init__(
        self,
        factory: BackendFactory,
        name: str = "local",
        accepts: Callable[[Job], bool] | None = None,
        close_backend: bool = True,
    ) -> None:
        self.name = name
        self._factory = factory
        self._accepts = accepts
        self._close_backend = close_backend  # False: the caller owns the backend
        self.core: WorkerCore | None = None

    @property
    def max_batch(self) -> int:
        """The backend's batch size."""
        return self.core.max_batch if self.core else 1

    def start(self) -> None:
        """Build the backend (models load on first use)."""
        if self.core is None:
            self.core = WorkerCore(self._factory, self.name)

    def accepts(self, job: Job) -> bool:
        """Every job, unless a filter says otherwise."""
        return self._accepts(job) if self._accepts else True

    def check(self, jobs: list[Job]) -> list[tuple[str, str]]:
        """Nothing here: the runner already checked these jobs with the same backend."""
        return []

    def run(self, task: RenderTask, on_step: Callable[[float], None]) -> TaskOutcome:
        """Render in this thread."""
        assert self.core is not None
        results, failure, device, seconds = self.core.render(task, on_step)
        return TaskOutcome(task, self.name, device, results, failure, seconds)

    def revive(self) -> bool:
        """Never lost."""
        return True

    def cancel(self) -> None:
        """An inline task is stopped by the KeyboardInterrupt itself."""

    def close(self) -> None:
        """Release the backend."""
        if self.core is not None and self._close_backend:
            self.core.close()


def local_executor(
    factory: BackendFactory, extra: list[Slot] | None = None, *, close_backend: bool = True
) -> Pool:
    """The default executor: this process renders, server slots (if any) run beside it."""
    extra = extra or []
    if not extra:
        return Pool("local", [LocalSlot(factory, close_backend=close_backend)])
    takes = [s.accepts for s in extra]
    slot = LocalSlot(
        factory,
        accepts=lambda job: not any(t(job) for t in takes),
        close_backend=close_backend,
    )
    return Pool("local", [slot, *extra])
