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
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tiny_models import write_show

ray = pytest.importorskip("ray")

from app.generate.backends.placeholder import PlaceholderBackend  # noqa: E402
from app.generate.executors.ray import connect, ray_executor  # noqa: E402
from app.generate.manifest import Manifest  # noqa: E402
from app.generate.plan import plan_show  # noqa: E402
from app.generate.runner import Runner  # noqa: E402
from app.show.loader import load_show  # noqa: E402

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
    deadline = time.monotonic() + seconds
    while not path.is_file() or not path.read_text():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
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
