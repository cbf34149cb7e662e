"""The Ray executor: one long-lived worker (a Ray actor) per GPU, here or on a cluster.

Each actor builds its own backend from a picklable factory (so it resolves model names with
its own machine's registry), keeps the model it loaded while tasks of that model remain
(the pool sends them there), and answers `progress()` while it renders (a threaded actor).
Inputs and results travel as Ray objects (bytes): machines need no shared disk. Actors are
created with `max_restarts=0` and tasks with `max_task_retries=0`: Ray's own retries are
unlimited by default and a retried task would be invisible to us; the pool retries a lost
task itself (at most 3 tries) and starts a replacement actor for the dead one.

A worker's death can take the whole local node with it (on a small machine the raylet may
miss its heartbeats and be declared dead): then no replacement actor can start. When this
process started the local Ray instance itself, `RayCluster` restarts it (at most
`MAX_RESTARTS` times per run, once every slot is out of its Ray calls) and the slots start
their workers again; the tasks the dead workers held are resubmitted and the finished ones
are kept. A remote node's death only moves its tasks to the other workers.

Only the `generate` command imports this module: the live runtime never imports Ray.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.generate.errors import GenerateError
from app.generate.executors import BackendFactory, RenderTask, TaskOutcome, WorkerCore
from app.generate.executors.pool import Pool, Slot, WorkerLost

if TYPE_CHECKING:
    from app.generate.plan import Job

POLL_S = 0.5  # how often a busy worker's progress is read (display only)
START_TIMEOUT_S = 300.0  # a worker that does not answer by then is reported, not waited for
MAX_REVIVALS = 3  # replacement actors per slot
MAX_RESTARTS = 2  # restarts of the local Ray instance per executor
RESTART_WAIT_S = 60.0  # how long a restart waits for the other slots to leave their Ray calls


def runtime_env() -> dict[str, Any]:
    """What Ray workers need to import this very `app` package.

    On this machine the package's folder is put on the workers' PYTHONPATH (another checkout
    may be the one installed); on a cluster it is shipped with `py_modules`.
    """
    root = str(Path(__file__).resolve().parents[3])
    return {"env_vars": {"PYTHONPATH": root}}


def connect(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    num_gpus: int | None = None,
    resources: dict[str, float] | None = None,
) -> None:
    """Start or join a Ray cluster unless this process is already connected."""
    import ray

    if ray.is_initialized():
        return
    env = runtime_env()
    if address:
        env = {"py_modules": [str(Path(__file__).resolve().parents[2])]}
    try:
        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            num_gpus=None if address else num_gpus,
            resources=None if address else resources,
            runtime_env=env,
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "a local Ray instance"
        raise GenerateError(
            f"cannot reach the Ray cluster at {where}: {exc}. Start it with `ray start --head` "
            "on the head machine (and `ray start --address HEAD:6379` on the others), or run "
            "without --cluster/RAY_ADDRESS"
        ) from None


class RayCluster:
    """The Ray instance an executor's slots share: restarted when its local node died.

    Slots wrap their Ray calls in `enter()`/`leave()`; a slot whose worker died asks
    `recover()` before it starts another, which restarts the local instance when its
    raylet or GCS process is gone (only one this process started: a cluster joined by
    address is someone else's) and tells every slot its actor belongs to the old one.
    """

    def __init__(self, address: str | None = None) -> None:
        import ray

        self.address = address
        resources = ray.cluster_resources()
        self.num_cpus = int(resources.get("CPU", 1))
        self.num_gpus = int(resources.get("GPU", 0))
        self.generation = 0  # bumped by each restart: actors of an older one are dead
        self.restarts = 0
        self._busy = 0
        self._restarting = False
        self._cond = threading.Condition()

    @staticmethod
    def _local_node() -> Any:
        """The Ray node this process started (None when it joined a running instance)."""
        try:
            from ray._private import worker

            node = worker._global_node
        except (ImportError, AttributeError):
            return None
        return node if node is not None and getattr(node, "head", False) else None

    def owned(self) -> bool:
        """True when this process started the local Ray instance (it may restart it)."""
        return self.address is None and self._local_node() is not None

    def healthy(self) -> bool:
        """False when a process of the local node this process started has died."""
        node = self._local_node()
        if node is None:
            return True
        for kind in ("raylet", "gcs_server"):
            for info in node.all_processes.get(kind, []):
                proc = getattr(info, "process", None)
                if proc is not None and proc.poll() is not None:
                    return False
        return True

    def enter(self) -> int:
        """Before a slot's Ray calls (waits out a restart): the generation it works in."""
        with self._cond:
            self._cond.wait_for(lambda: not self._restarting)
            self._busy += 1
            return self.generation

    def leave(self) -> None:
        """After a slot's Ray calls."""
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    def recover(self, seen: int) -> bool:
        """May a slot whose actor (of generation `seen`) died start another? Restarts the
        local instance first when its node is dead; False when it cannot be used again."""
        with self._cond:
            self._cond.wait_for(lambda: not self._restarting)
            if self.generation != seen or self.healthy():
                return True
            if not self.owned() or self.restarts >= MAX_RESTARTS:
                return False
            self._restarting = True
            self.restarts += 1
            self._cond.wait_for(lambda: self._busy == 0, timeout=RESTART_WAIT_S)
        ok = True
        try:
            import ray

            ray.shutdown()
            connect(num_cpus=self.num_cpus, num_gpus=self.num_gpus)
        except GenerateError:
            ok = False
        finally:
            with self._cond:
                self._restarting = False
                self.generation += 1
                self._cond.notify_all()
        return ok


class _Actor:
    """The body of a Ray worker (wrapped with ray.remote at run time)."""

    def __init__(self, factory: BackendFactory, name: str) -> None:
        self.core = WorkerCore(factory, name)

    def ready(self) -> tuple[str, str, int]:
        """(device description, host name, pid): answers once the backend is built."""
        import socket

        return self.core.describe_device(), socket.gethostname(), os.getpid()

    def check(self, jobs: list[Job]) -> list[tuple[str, str]]:
        """Jobs this machine cannot render (models missing from its registry)."""
        return self.core.check(jobs)

    def render(self, task: RenderTask) -> Any:
        """Render a task (results travel back as Ray objects)."""
        results, failure, device, seconds = self.core.render(task)
        for rendered in results or []:
            if rendered.file is not None:  # on this machine's disk: it travels as bytes
                rendered.data = rendered.file.read_bytes()
                rendered.file.unlink(missing_ok=True)
                rendered.file = None
        return results, failure, device, seconds

    def progress(self) -> tuple[str, float]:
        """(label, fraction) of the task running now (its own thread: see _actor_class)."""
        return self.core.progress()

    def pid(self) -> int:
        """The worker's process id (tests kill it)."""
        return os.getpid()

    def close(self) -> None:
        """Release models."""
        self.core.close()


_remote_class: Any = None


def _actor_class() -> Any:
    global _remote_class
    if _remote_class is None:
        import ray

        # Every call but progress() runs in one thread, one at a time (backends are not
        # thread-safe); progress() has a concurrency group of its own so it answers mid-job.
        _Actor.progress = ray.method(concurrency_group="progress")(_Actor.progress)
        _remote_class = ray.remote(
            max_restarts=0, max_task_retries=0, concurrency_groups={"progress": 1}
        )(_Actor)
    return _remote_class


class RaySlot:
    """One Ray worker seen from the driver: a thread here waits on its actor."""

    threaded = True

    def __init__(
        self,
        name: str,
        factory: BackendFactory,
        options: dict[str, Any],
        accepts: Callable[[Job], bool] | None = None,
        max_batch: int = 1,
        cluster: RayCluster | None = None,
    ) -> None:
        self.name = name
        self._factory = factory
        self._options = options
        self._accepts = accepts
        self.max_batch = max_batch
        self.actor: Any = None
        self.device = ""
        self.pid = 0
        self._revivals = 0
        self._ref: Any = None
        self._cluster = cluster
        self._generation = 0  # of the Ray instance the actor lives in

    def start(self) -> None:
        """Create the actor and wait until its backend is built."""
        import ray

        if self._cluster is not None:
            self._generation = self._cluster.generation
        self.actor = _actor_class().options(**self._options).remote(self._factory, self.name)
        try:
            device, host, pid = ray.get(self.actor.ready.remote(), timeout=START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise GenerateError(
                f"Ray worker {self.name} did not start within {START_TIMEOUT_S:.0f} s (does "
                "the cluster have the resources it asks for: "
                f"{self._options}?)"
            ) from None
        except ray.exceptions.RayError as exc:
            raise GenerateError(f"Ray worker {self.name} failed to start: {exc}") from None
        self.device, self.pid = f"{device} on {host}", pid

    def accepts(self, job: Job) -> bool:
        """Every job unless filtered (ComfyUI jobs go to server slots)."""
        return self._accepts(job) if self._accepts else True

    def check(self, jobs: list[Job]) -> list[tuple[str, str]]:
        """Ask the worker, on its machine."""
        import ray

        return ray.get(self.actor.check.remote(jobs))

    def run(self, task: RenderTask, on_step: Callable[[float], None]) -> TaskOutcome:
        """Send the task, read progress while it runs, return its outcome."""
        cluster = self._cluster
        if cluster is None:
            return self._run(task, on_step)
        generation = cluster.enter()
        try:
            if generation != self._generation:  # Ray was restarted while this slot was idle
                try:
                    self.start()
                except GenerateError as exc:
                    raise WorkerLost(str(exc)) from None
            return self._run(task, on_step)
        except WorkerLost:
            raise
        except Exception as exc:
            if cluster.generation != self._generation or not cluster.healthy():
                # the Ray instance went away under this call
                raise WorkerLost(f"the local Ray node died ({type(exc).__name__})") from None
            raise
        finally:
            cluster.leave()

    def _run(self, task: RenderTask, on_step: Callable[[float], None]) -> TaskOutcome:
        import ray

        ref = self.actor.render.remote(task)
        self._ref = ref
        try:
            while True:
                done, _ = ray.wait([ref], timeout=POLL_S)
                if done:
                    results, failure, device, seconds = ray.get(ref)
                    return TaskOutcome(task, self.name, device, results, failure, seconds)
                try:
                    _label, fraction = ray.get(self.actor.progress.remote(), timeout=POLL_S * 4)
                    on_step(fraction)
                except ray.exceptions.GetTimeoutError:
                    continue
        except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as exc:
            raise WorkerLost(_death_reason(exc)) from None
        except ray.exceptions.ObjectLostError as exc:
            raise WorkerLost(f"its result was lost ({type(exc).__name__})") from None
        except ray.exceptions.RaySystemError as exc:
            raise WorkerLost(f"Ray lost the worker ({_death_reason(exc)})") from None
        finally:
            self._ref = None

    def revive(self) -> bool:
        """Start a replacement actor (its GPU is free again once the old one is gone)."""
        if self._revivals >= MAX_REVIVALS:
            return False
        self._revivals += 1
        if self._cluster is not None and not self._cluster.recover(self._generation):
            return False
        try:
            self.start()
        except GenerateError:
            return False
        return True

    def cancel(self) -> None:
        """Stop the running task."""
        import ray

        if self._ref is not None:
            try:
                ray.cancel(self._ref, force=False)
            except Exception:
                pass

    def close(self) -> None:
        """Release and stop the actor."""
        import ray

        if self.actor is None:
            return
        try:
            ray.get(self.actor.close.remote(), timeout=30)
        except Exception:  # dead already, or stuck: kill it either way
            pass
        ray.kill(self.actor)
        self.actor = None


def _death_reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = next((t for t in text if "died" in t or "killed" in t or "memory" in t.lower()), "")
    return first[:200] or f"the worker process died ({type(exc).__name__})"


def ray_executor(
    factory: BackendFactory,
    *,
    workers: int | None = None,
    gpus: list[int] | None = None,
    device: str = "cuda",
    address: str | None = None,
    max_batch: int = 1,
    extra: list[Slot] | None = None,
    accepts: Callable[[Job], bool] | None = None,
) -> Pool:
    """A pool of Ray workers: one per GPU (`gpus`, or all the cluster has), or `workers`.

    `device='cpu'` makes CPU workers (one CPU each). On this machine a Ray instance is
    started unless one is running already (tests start their own); `address` (or
    RAY_ADDRESS) joins a cluster.
    """
    import ray

    address = address or os.environ.get("RAY_ADDRESS") or None
    cpu = not device.startswith("cuda")
    if not ray.is_initialized():
        if cpu:
            connect(address, num_cpus=max(workers or 1, os.cpu_count() or 1), num_gpus=0)
        else:
            if gpus and not address:
                # Ray hands out only the GPUs this process sees.
                os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
            connect(address, num_gpus=len(gpus) if gpus else None)
    cluster = RayCluster(address)
    resources = ray.cluster_resources()
    if cpu:
        count = workers or 1
        options: dict[str, Any] = {"num_cpus": 1}
    else:
        have = int(resources.get("GPU", 0))
        count = workers or (len(gpus) if gpus else have)
        if have < 1 or count < 1:
            raise GenerateError(
                "the Ray cluster has no GPU (use --device cpu --workers N for CPU workers, or "
                "start Ray on the GPU machines)"
            )
        options = {"num_gpus": 1, "num_cpus": 0}
    if extra:
        takes = [s.accepts for s in extra]
        accepts = accepts or (lambda job: not any(t(job) for t in takes))
    names = [f"cpu{i}" for i in range(count)] if cpu else [f"gpu{i}" for i in range(count)]
    slots: list[Slot] = [
        RaySlot(n, factory, dict(options), accepts=accepts, max_batch=max_batch, cluster=cluster)
        for n in names
    ]
    return Pool("ray", [*slots, *(extra or [])])
