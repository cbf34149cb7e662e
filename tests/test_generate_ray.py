"""The Ray executor on a real local Ray cluster (CPU, two simulated GPUs).

One Ray instance for the module (it is slow to start on a small machine). A test backend
wraps the placeholder one: the first time it is asked for cue 'victim' it records its worker's
pid and blocks until killed, so that the test SIGKILLs a worker in the middle of a job.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requires
from tiny_models import write_show
from waiting import wait_until

if os.environ.get("REQUIRE_GL") == "1":  # CI installs the generate extra: Ray must be there
    import ray
else:
    ray = requires.module("ray")

from app.generate.backends.placeholder import PlaceholderBackend
from app.generate.executors.ray import connect, ray_executor
from app.generate.manifest import Manifest
from app.generate.plan import plan_show
from app.generate.runner import Runner
from app.show.loader import load_show

SHOW = """
title: Farm
generate: {width: 160, height: 96}
poems:
  - id: "1"
    cues:
      - {id: victim, media: p/victim.png, generate: {prompt: "the moon, killed once", seed: 7}}
      - {id: a, media: p/a.png, generate: {prompt: "moon a", seed: 1}}
      - {id: b, media: p/b.png, generate: {prompt: "moon b", seed: 2}}
      - {id: c, media: p/c.png, generate: {prompt: "moon c", seed: 3}}
      - {id: scene, media: p/scene.ply, generate: {from: victim}}
      - {id: clip, media: p/clip.mp4, generate: {from: a, frames: 8, fps: 8}}
"""


class VictimBackend(PlaceholderBackend):
    """Placeholders; the first render of cue 'victim' hangs until its worker is killed."""

    def __init__(self, marker: str) -> None:
        self.marker = Path(marker)

    def render(self, jobs: list[Any], inputs: dict[str, Path], on_step: Any) -> list[Any]:
        if jobs[0].cue.id == "victim" and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            threading.Event().wait()  # until SIGKILL
        return super().render(jobs, inputs, on_step)


def victim_backend(marker: str) -> VictimBackend:
    """The factory the Ray workers call (shipped by value: the workers lack this module)."""
    return VictimBackend(marker)


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    connect(num_cpus=2, num_gpus=2)
    try:
        yield
    finally:
        ray.shutdown()


class CountingRunner(Runner):
    """Counts the outputs written into the cache, per job."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.writes: dict[str, int] = {}

    def _write(self, job: Any, *args: Any, **kwargs: Any) -> None:
        self.writes[job.key] = self.writes.get(job.key, 0) + 1
        super()._write(job, *args, **kwargs)


def _runner(root: Path) -> tuple[CountingRunner, list[Any]]:
    show = load_show(write_show(root, SHOW), allow_missing=True)
    jobs = plan_show(show)
    manifest = Manifest.load(show.media_root)
    return CountingRunner(show, PlaceholderBackend(), manifest), jobs


def _wait_for(path: Path, seconds: float = 300.0) -> str:
    wait_until(lambda: path.is_file() and path.read_text(), seconds, f"{path} to appear", 0.05)
    return path.read_text()


def _media(root: Path) -> dict[str, bytes]:
    """The media files (sidecars record times and workers: they differ by design)."""
    media = root / "media" / "p"
    return {
        p.name: p.read_bytes()
        for p in sorted(media.iterdir())
        if not p.name.startswith(".") and p.suffix != ".json"
    }


def test_killed_worker_job_is_retried_and_outputs_match_one_worker(
    cluster: None, tmp_path: Path
) -> None:
    marker = tmp_path / "victim.pid"
    executor = ray_executor(
        functools.partial(victim_backend, str(marker)), device="cuda", max_batch=1
    )
    assert executor.workers() == ["gpu0", "gpu1"]
    runner, jobs = _runner(tmp_path / "farm")
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(report=runner.run(jobs, executor)))
    thread.start()
    try:
        pid = int(_wait_for(marker))
        first_try = next(s.name for s in executor.slots if getattr(s, "pid", 0) == pid)
        os.kill(pid, signal.SIGKILL)
        thread.join(timeout=600)
        assert not thread.is_alive()
    finally:
        executor.close()
    report = result["report"]
    assert not report.failed and not report.skipped
    assert sorted(report.rendered) == sorted(j.key for j in jobs)
    assert all(n == 1 for n in runner.writes.values()) and len(runner.writes) == len(jobs)

    manifest = Manifest.load(tmp_path / "farm" / "media")
    workers = {manifest.get(j.output)["worker"] for j in jobs}
    assert workers | {first_try} == {"gpu0", "gpu1"}  # the jobs spread over both

    # The same show, one worker in this process: the same bytes.
    local, jobs1 = _runner(tmp_path / "one")
    report1 = local.run(jobs1)
    assert sorted(report1.rendered) == sorted(report.rendered)
    farm = _media(tmp_path / "farm")
    assert len(farm) == len(jobs) and _media(tmp_path / "one") == farm


def test_second_run_is_current_and_progress_names_workers(cluster: None, tmp_path: Path) -> None:
    import io

    marker = tmp_path / "never.pid"
    marker.write_text("0")  # the victim renders normally
    executor = ray_executor(
        functools.partial(victim_backend, str(marker)), device="cpu", workers=2, max_batch=1
    )
    try:
        runner, jobs = _runner(tmp_path / "s")
        err = io.StringIO()
        runner.err = err
        first = runner.run(jobs, executor)
        assert len(first.rendered) == len(jobs)
        assert "cpu0:" in err.getvalue() and "cpu1:" in err.getvalue()
        again, jobs2 = _runner(tmp_path / "s")
        second = again.run(jobs2, executor)
        assert sorted(second.current) == sorted(j.key for j in jobs2) and not again.writes
    finally:
        executor.close()


GRID_SHOW = """
title: Grid farm
generate: {width: 96, height: 64}
poems:
  - id: "1"
    cues:
      - {id: "1.1", media: p/1.1.png, generate: {prompt: "a moon over water", seed: 7}}
"""
RAY_FLAGS = ["--backend", "placeholder", "--executor", "ray", "--workers", "2", "--device", "cpu"]


def _variations(root: Path) -> dict[str, bytes]:
    folder = root / "media" / ".generate" / "variations" / "1.1"
    return {
        p.name: p.read_bytes()
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix == ".png" and not p.name.startswith(".")
    }


def test_grid_and_more_like_this_run_on_the_ray_workers(cluster: None, tmp_path: Path) -> None:
    """`variations --grid` and the desk's "more like this" go through the executor that
    `generate` uses: with --executor ray --workers 2 their jobs are rendered by Ray workers,
    into the same bytes as a local run."""
    from app.cli import build_parser, main
    from app.desk.cli import _Generation
    from app.desk.jobs import JobQueue
    from app.desk.store import DeskStore

    farm, one = write_show(tmp_path / "farm", GRID_SHOW), write_show(tmp_path / "one", GRID_SHOW)
    grid = ["--grid", "guidance=2,5", "--seeds", "3,4"]
    assert main(["variations", str(farm), "1.1", *grid, *RAY_FLAGS]) == 0
    assert main(["variations", str(one), "1.1", *grid, "--backend", "placeholder"]) == 0
    cells = _variations(tmp_path / "farm")
    assert len(cells) == 4 and cells == _variations(tmp_path / "one")
    manifest = Manifest.load(tmp_path / "farm" / "media")
    folder = tmp_path / "farm" / "media" / ".generate" / "variations" / "1.1"
    assert {manifest.get(folder / n)["worker"] for n in cells} <= {"cpu0", "cpu1"}

    # The desk, set up from its own command line as `python -m app desk` does.
    args = build_parser().parse_args(["desk", str(farm), *RAY_FLAGS])
    generation = _Generation(args)
    done = threading.Event()
    states: list[dict[str, Any]] = []

    def notify(message: dict[str, Any]) -> None:
        if message.get("type") == "job":
            states.append(message)
            if message["state"] in ("done", "failed"):
                done.set()

    store = DeskStore(load_show(farm, allow_missing=True))
    jobs = JobQueue(store, generation.backend, notify, make_executor=generation.executor)
    try:
        base = next(iter(cells))
        request = jobs.submit("1.1", base, "seeds", 2)
        assert done.wait(timeout=600)
        assert jobs._executor is not None and jobs._executor.workers() == ["cpu0", "cpu1"]
    finally:
        jobs.close()
    assert states[-1]["state"] == "done" and states[-1]["done"] == 2, states[-1]
    made = [j.output for j in request.jobs]
    manifest = Manifest.load(tmp_path / "farm" / "media")
    assert all(p.is_file() and manifest.get(p)["worker"] in ("cpu0", "cpu1") for p in made)


def _raylet_pid() -> int:
    from ray._private import worker

    return worker._global_node.all_processes["raylet"][0].process.pid


def test_local_node_killed_mid_run_is_restarted_and_every_cue_made(
    cluster: None, tmp_path: Path
) -> None:
    """The raylet SIGKILLed while a job runs: every worker of this machine dies with it and
    none can be started there; the run restarts the local Ray instance, starts its workers
    again and makes every cue, each output written once."""
    import io

    marker = tmp_path / "victim.pid"
    executor = ray_executor(
        functools.partial(victim_backend, str(marker)), device="cpu", workers=2, max_batch=1
    )
    runner, jobs = _runner(tmp_path / "farm")
    err = io.StringIO()
    runner.err = err
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(report=runner.run(jobs, executor)))
    thread.start()
    victim = 0
    try:
        victim = int(_wait_for(marker))
        os.kill(_raylet_pid(), signal.SIGKILL)
        thread.join(timeout=600)
        assert not thread.is_alive()
    finally:
        executor.close()
        if victim:
            try:  # the worker we blocked, should it have outlived its raylet
                os.kill(victim, signal.SIGKILL)
            except ProcessLookupError:
                pass
    report = result["report"]
    assert not report.failed and not report.skipped, err.getvalue()[-3000:]
    assert sorted(report.rendered) == sorted(j.key for j in jobs)
    assert all(n == 1 for n in runner.writes.values()) and len(runner.writes) == len(jobs)
    assert "lost victim" in err.getvalue() and "restarted" in err.getvalue()
    assert len(_media(tmp_path / "farm")) == len(jobs)
