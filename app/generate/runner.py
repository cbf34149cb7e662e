"""The generation loop: check, assess, render, write, record.

For each job in plan order: skip it when its output is current (the recipe hash recorded in
the manifest, or carried by the file itself, matches), copy it when another output already
has that hash (a picked variation), else render it with the backend and write it atomically
with its metadata, then record it in the manifest. A failed job (out of memory, a broken
input) is reported by cue and the run goes on with every job that does not depend on it.
"""

from __future__ import annotations

import json
import platform
import sys
import traceback
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from itertools import zip_longest
from pathlib import Path
from typing import Any, TextIO

from app.atomic import atomic_output, copy_atomic, remove_partials
from app.generate import a1111 as a1111_fields
from app.generate.backends import Backend, Rendered
from app.generate.cache import CACHE_VERSION, file_sha256, recipe_hash
from app.generate.chain.previews import write_steps
from app.generate.errors import GenerateError, JobError, is_out_of_memory
from app.generate.executors import (
    IDLE,
    NOTE,
    Executor,
    RenderTask,
    TaskOutcome,
    WorkerFailure,
    failure_exception,
)
from app.generate.manifest import Manifest
from app.generate.metadata import (
    a1111_parameters,
    embedded_backend,
    embedded_hash,
    first_pass_size,
    hires_fields,
    recipe_summary,
    save_png,
    sidecar_path,
    write_sidecar,
)
from app.generate.plan import Job, full_prompt, model_group
from app.generate.progress import Progress
from app.generate.steps import StepStore
from app.show.model import MediaKind, Show

# What changes each kind of output, and so goes into its recipe hash: a still's key holds no
# frame count or rate, a splat's (made from its source image by a depth model) no sampling.
_DENOISE = ("prompt", "negative_prompt", "steps", "guidance", "width", "height", "scheduler")
RECIPE_FIELDS: dict[MediaKind, tuple[str, ...]] = {
    MediaKind.STILL: (*_DENOISE, "refine", "upscale", "extra"),
    MediaKind.VIDEO: (*_DENOISE, "upscale", "frames", "fps", "extra"),
    MediaKind.SPLAT: ("prompt", "width", "height", "extra"),
}
# Recipe fields of the chain steps (issue 14): in the hash only when set, so recipes that do
# not use them keep the hashes they had.
STEP_FIELDS = {"loras": (), "edit": None, "mode": "generate"}
_KIND_WORD = {MediaKind.STILL: "image", MediaKind.VIDEO: "video", MediaKind.SPLAT: "splat"}


@dataclass
class RunReport:
    """What a run did, job key -> message where there is one."""

    rendered: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    copied: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # real media a placeholder run left alone
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every job is done, 1 when some failed or were skipped because of that."""
        return 1 if self.failed or self.skipped else 0

    def summary(self) -> str:
        """One line for the end of a run."""
        parts = [
            f"{len(self.rendered)} rendered",
            f"{len(self.copied)} copied",
            f"{len(self.current)} already current",
        ]
        if self.kept:
            parts.append(f"{len(self.kept)} kept (real media are never replaced by placeholders)")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped (their inputs failed)")
        return ", ".join(parts)


@dataclass
class _RunState:
    """The bookkeeping of one run: what waits, what runs, what is settled."""

    pending: list[Job]
    report: RunReport
    progress: Progress
    costs: dict[str, float]
    keys: set[str] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)  # settled: made, current, failed...
    blocked: dict[str, str] = field(default_factory=dict)  # job -> the failed job it needs
    in_flight: dict[int, list[tuple[Job, str, dict[str, Any]]]] = field(default_factory=dict)
    units: dict[str, float] = field(default_factory=dict)  # task label -> cost
    position: dict[str, int] = field(default_factory=dict)  # task label -> first job number
    next_id: int = 0
    next_position: int = 1

    def __post_init__(self) -> None:
        self.pending = list(self.pending)
        self.keys = {j.key for j in self.pending}

    def sink(self, worker: str, label: str, fraction: float) -> None:
        """Progress from the executor's workers (any thread)."""
        if fraction == NOTE:
            self.progress.message(f"{worker}: {label}")
        elif fraction == IDLE:
            self.progress.worker_end(worker)
        elif fraction == 0.0 and label in self.units:
            self.progress.worker_begin(
                worker, label, self.units[label], self.position.get(label, 0)
            )
        else:
            self.progress.worker_step(worker, fraction)


def validate_jobs(show: Show, jobs: list[Job], backend: Backend) -> list[str]:
    """Every problem that would stop these jobs, as `show:line: message` lines."""
    problems: list[str] = []
    keys = {j.key for j in jobs}
    for job in jobs:
        if job.variation:
            continue
        for role, src in job.sources:
            if src.kind is not MediaKind.STILL:
                problems.append(
                    f"{show.path}:{job.cue.line}: cue '{job.cue.id}': generate.{role}: cue "
                    f"'{src.id}' is a {src.kind.value}; {_KIND_WORD[job.kind]} recipes are made "
                    "from a still image"
                )
            elif src.id not in keys and not src.media.is_file():
                problems.append(
                    f"{show.path}:{job.cue.line}: cue '{job.cue.id}': generate.{role}: the media "
                    f"of cue '{src.id}' is missing ({src.media}) and it has no recipe to make it"
                )
    for job, message in backend.check(jobs):
        line = f"{show.path}:{job.cue.line}: cue '{job.cue.id}': {message}"
        if line not in problems:
            problems.append(line)
    return problems


def software_versions() -> dict[str, str]:
    """Versions of what made the outputs (read from package metadata: no torch import)."""
    versions = {"python": platform.python_version(), "cache": str(CACHE_VERSION)}
    for name in ("torch", "diffusers", "transformers", "pillow"):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def job_recipe(job: Job, backend: Backend, input_digests: dict[str, str]) -> dict[str, Any]:
    """Everything that decides the bytes of the job's output (the hash's input)."""
    spec = job.spec
    recipe: dict[str, Any] = {
        "cache": CACHE_VERSION,
        "backend": backend.name,
        "kind": _KIND_WORD[job.kind],
        "model": backend.identity(job),
        "seed": job.seed,
        "inputs": input_digests,
    }
    for name in RECIPE_FIELDS[job.kind]:
        recipe[name] = getattr(spec, name)
    for name, default in STEP_FIELDS.items():
        if getattr(spec, name) != default:
            recipe[name] = getattr(spec, name)
    return recipe


def _lora_field(model: dict[str, Any], key: str) -> str:
    """`name: value` pairs of the recipe's LoRAs (A1111's `Lora hashes` style)."""
    return ", ".join(f"{u['name']}: {str(u[key])[:10]}" for u in model.get("loras", []))


def job_cost(job: Job, backend: Backend) -> float:
    """A rough cost to weigh jobs in the progress bar (denoising work)."""
    if backend.capabilities.stand_in:
        return 1.0
    spec = job.spec
    megapixels = spec.width * spec.height / 1e6
    if job.kind is MediaKind.STILL:
        refine = spec.refine or {}
        return spec.steps * megapixels + int(refine.get("steps", 0) or 0) * megapixels
    if job.kind is MediaKind.VIDEO:
        return spec.steps * megapixels * max(spec.frames, 1) / 4
    return 2.0


@dataclass(eq=False)
class Runner:
    """Runs an ordered list of jobs with one backend, recording outputs in a manifest."""

    show: Show
    backend: Backend
    manifest: Manifest
    _: KW_ONLY
    force: bool = False
    verbose: bool = False
    out: TextIO | None = None  # default: sys.stdout
    err: TextIO | None = None  # default: sys.stderr

    def __post_init__(self) -> None:
        self.out = self.out or sys.stdout
        self.err = self.err or sys.stderr
        self._prepared = False
        self._versions = software_versions()
        if self.backend.capabilities.step_cache:
            store = StepStore.for_media_root(self.show.media_root, reuse=not self.force)
            self.backend.use_steps(store)  # type: ignore[attr-defined]

    def backend_of(self, job: Job) -> Backend:
        """The backend that makes `job` (a routing backend picks one per recipe)."""
        pick = getattr(self.backend, "backend_for", None)
        return pick(job) if pick is not None else self.backend

    # --- assessing ----------------------------------------------------------------------

    def inputs(self, job: Job) -> dict[str, Path]:
        """The input files of a job by role."""
        return {role: src.media for role, src in job.sources}

    def digest(self, job: Job) -> tuple[str, dict[str, Any]]:
        """The recipe hash of a job now (its input files must exist)."""
        digests = {role: file_sha256(path) for role, path in self.inputs(job).items()}
        recipe = job_recipe(job, self.backend_of(job), digests)
        return recipe_hash(recipe), recipe

    def is_current(self, job: Job, digest: str) -> bool:
        """True when the job's output exists and was made from this very recipe."""
        out = job.output
        if not out.is_file():
            return False
        entry = self.manifest.get(out)
        if entry is not None and entry.get("hash") == digest:
            return entry.get("bytes") == out.stat().st_size
        # Killed after the file was committed but before the manifest was: the file's own
        # metadata still says which recipe made it.
        if embedded_hash(out) == digest:
            self.manifest.record(out, self._entry_from_file(job, digest))
            return True
        return False

    def keeps_real_media(self, job: Job) -> bool:
        """True when a stand-in backend (placeholders) would replace media it did not make (a
        real render or a file put there by hand): stand-ins only ever fill in missing media."""
        backend = self.backend_of(job)
        if not backend.capabilities.stand_in or not job.output.is_file():
            return False
        entry = self.manifest.get(job.output)
        made_by = entry.get("backend") if entry else embedded_backend(job.output)
        return made_by != backend.name

    def assess(self, jobs: list[Job]) -> list[tuple[Job, str]]:
        """(job, status) for each job without rendering: current, copy, render, or
        'render (after inputs)' when something it reads will be remade first."""
        changing: set[str] = set()
        statuses: list[tuple[Job, str]] = []
        for job in jobs:
            if self.keeps_real_media(job):
                statuses.append((job, "kept (real media)"))
                continue
            if any(d in changing for d in job.deps) or not all(
                p.is_file() for p in self.inputs(job).values()
            ):
                status = "render (after inputs)"
            else:
                digest, _ = self.digest(job)
                if not self.force and self.is_current(job, digest):
                    status = "current"
                elif not self.force and self._copy_source(job, digest) is not None:
                    status = "copy"
                else:
                    status = "render"
            if status != "current":
                changing.add(job.key)
            statuses.append((job, status))
        return statuses

    def print_plan(self, jobs: list[Job], executor: Executor | None = None) -> None:
        """The dry-run table: order, job, kind, model, seed, status, backend, executor, the
        worker (or server) it would go to and why, output."""
        statuses = self.assess(jobs)
        todo = sum(1 for _, s in statuses if s.startswith(("render", "copy")))
        where = executor.name if executor is not None else "local"
        print(
            f"plan for {self.show.path} (backend {self.backend.name}, executor {where}): "
            f"{len(jobs)} jobs, {todo} to make, {len(jobs) - todo} current or kept",
            file=self.out,
        )
        rows = [("#", "job", "kind", "model", "seed", "status", "backend", "worker", "output")]
        for i, (job, status) in enumerate(statuses, 1):
            worker = "-"
            if executor is not None and status.startswith("render"):
                name, why = executor.placement(job)
                worker = f"{where}:{name} ({why})"
            rows.append(
                (
                    str(i),
                    job.label,
                    _KIND_WORD[job.kind],
                    job.spec.model or "-",
                    str(job.seed),
                    status,
                    self.backend_of(job).name,
                    worker,
                    self.manifest.key(job.output),
                )
            )
        widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]) - 1)]
        for r in rows:
            cells = [r[c].ljust(widths[c]) for c in range(len(widths))]
            print("  " + "  ".join(cells) + "  " + r[-1], file=self.out)
        details = {
            f"{job.cue.id}: {recipe_summary(job.spec)}": None
            for job, _ in statuses
            if job.kind is MediaKind.STILL and job.spec.workflow is None
        }
        for line in details:
            print(f"  recipe {line}", file=self.out)

    # --- running ------------------------------------------------------------------------
    #
    # The seam with the executors (app/generate/executors/__init__.py): the runner settles
    # every job it can without rendering (skip, current, copy), forms batches of jobs whose
    # inputs are finished, and hands each batch to the executor as a `RenderTask` (jobs +
    # input files as bytes). Outcomes come back one at a time; the runner alone writes
    # outputs into the cache and the manifest.

    def run(self, jobs: list[Job], executor: Executor | None = None) -> RunReport:
        """Make every job's output; never raises for one job's failure.

        `executor` defaults to the local one (this process, this backend).
        """
        from app.generate.executors.local import local_executor

        report = RunReport()
        costs = {j.key: job_cost(j, self.backend_of(j)) for j in jobs}
        progress = Progress(sum(costs.values()), len(jobs), stream=self.err)
        own = executor is None
        if executor is None:
            backend = self.backend
            executor = local_executor(lambda: backend, close_backend=False)
        state = _RunState(jobs, report, progress, costs)
        try:
            for key, problem in executor.open(jobs, state.sink).items():
                job = next(j for j in jobs if j.key == key)
                self._fail(report, progress, job, f"{job.where}: {problem}")
                state.resolved.add(key)
            if len(executor.workers()) > 1:
                progress.add_workers(executor.workers())
            for note in getattr(executor, "notes", []):
                progress.message(f"note: {note}")
            while True:
                for batch in self._ready_batches(state, executor.max_batch):
                    self._submit(state, executor, batch)
                if not state.in_flight:
                    break
                self._settle(state, executor, executor.next_outcome())
        except KeyboardInterrupt:
            executor.cancel()
            raise
        finally:
            progress.close()
            if own:
                executor.close()
        return report

    def _ready_batches(
        self, state: _RunState, max_batch: int
    ) -> list[list[tuple[Job, str, dict[str, Any]]]]:
        """Settle the jobs whose inputs are done; the rest that must render, in batches."""
        report, progress, costs = state.report, state.progress, state.costs
        batches: list[list[tuple[Job, str, dict[str, Any]]]] = []
        waiting: list[Job] = []
        for job in state.pending:
            if any(d in state.keys and d not in state.resolved for d in job.deps):
                waiting.append(job)
                continue
            state.resolved.add(job.key)
            bad = next((d for d in job.deps if d in report.failed or d in state.blocked), None)
            if bad is not None:
                root = state.blocked.get(bad, bad)
                state.blocked[job.key] = root
                report.skipped[job.key] = f"{job.where}: not made: it needs '{root}', which failed"
                progress.message(report.skipped[job.key])
                progress.skip(costs[job.key])
                continue
            missing = [p for p in self.inputs(job).values() if not p.is_file()]
            if missing:
                self._fail(report, progress, job, f"{job.where}: input missing: {missing[0]}")
                progress.skip(costs[job.key])
                continue
            if self.keeps_real_media(job):
                report.kept.append(job.key)
                progress.skip(costs[job.key])
                continue
            digest, recipe = self.digest(job)
            if not self.force and self.is_current(job, digest):
                report.current.append(job.key)
                progress.skip(costs[job.key])
                continue
            remove_partials(job.output)
            source = None if self.force else self._copy_source(job, digest)
            if source is not None:
                self._copy(job, source, digest)
                report.copied.append(job.key)
                progress.skip(costs[job.key])
                progress.message(f"{job.label}: copied from {self.manifest.key(source)}")
                continue
            state.resolved.discard(job.key)  # resolved when its outcome arrives
            last = batches[-1] if batches else None
            if (
                last is not None
                and len(last) < max_batch
                and self._batchable(last[0][0], job, report)
            ):
                last.append((job, digest, recipe))
            else:
                batches.append([(job, digest, recipe)])
        state.pending = waiting
        return batches

    def _batchable(self, first: Job, other: Job, report: RunReport) -> bool:
        return first.same_recipe_but_seed(other) and first.deps == other.deps

    def _submit(
        self,
        state: _RunState,
        executor: Executor,
        batch: list[tuple[Job, str, dict[str, Any]]],
    ) -> None:
        jobs = [b[0] for b in batch]
        label = (
            jobs[0].label
            if len(jobs) == 1
            else f"{jobs[0].cue.id} seeds " + ",".join(str(j.seed) for j in jobs)
        )
        inputs = {
            role: (path.name, path.read_bytes()) for role, path in self.inputs(jobs[0]).items()
        }
        state.next_id += 1
        task = RenderTask(
            state.next_id, jobs, inputs, model_group(jobs[0]), label, [b[1] for b in batch]
        )
        state.in_flight[task.id] = batch
        state.units[label] = sum(state.costs[j.key] for j in jobs)
        state.position[label] = state.next_position
        state.next_position += len(jobs)
        executor.submit(task)

    def _settle(self, state: _RunState, executor: Executor, outcome: TaskOutcome) -> None:
        """Write a task's outputs, or report its jobs failed (a batch out of memory is split)."""
        batch = state.in_flight.pop(outcome.task.id)
        report, progress = state.report, state.progress
        progress.add_done(sum(state.costs[j.key] for j, _, _ in batch))
        when = datetime.now(UTC).isoformat(timespec="seconds")
        failure = outcome.failure
        if failure is None:
            results = outcome.results or []
            seconds = outcome.seconds / max(len(batch), 1)
            for (job, digest, recipe), rendered in zip_longest(batch, results):
                if job is None:
                    break
                try:
                    if rendered is None:
                        raise JobError("the backend returned fewer results than jobs")
                    self._write(job, rendered, digest, recipe, seconds, when, outcome)
                    report.rendered.append(job.key)
                except Exception as exc:  # a broken result fails its job only
                    self._fail(report, progress, job, self._explain(job, exc, outcome.device))
                state.resolved.add(job.key)
            return
        if failure.setup:  # the worker could not start (no CUDA device): no job can succeed
            executor.cancel()
            raise GenerateError(failure.message)
        exc = failure_exception(failure)
        if len(batch) > 1 and failure.out_of_memory:
            progress.message(
                f"{outcome.task.label}: out of memory as a batch, retrying one at a time"
            )
            for single in batch:
                self._submit(state, executor, [single])
            return
        for job, _, _ in batch:
            self._fail(report, progress, job, self._explain(job, exc, outcome.device))
            state.resolved.add(job.key)

    def _explain(self, job: Job, exc: BaseException, device: str = "") -> str:
        spec = job.spec
        what = f"{spec.width}x{spec.height}"
        if job.kind is MediaKind.VIDEO:
            what += f", {spec.frames} frames"
        lost_memory = isinstance(exc, WorkerFailure) and exc.failure.out_of_memory
        if is_out_of_memory(exc) or lost_memory:
            return (
                f"{job.where}: out of memory on {device or self.backend_of(job).describe_device()}"
                f" while making "
                f"{job.label} ({what}, model '{spec.model}'). Outputs already finished are "
                "kept. Try a smaller size or fewer frames, or `offload: model` for this "
                "model in models.yaml"
            )
        if isinstance(exc, JobError):
            return f"{job.where}: {exc}"
        if isinstance(exc, WorkerFailure):
            text = f"{job.where}: failed: {exc}"
            if self.verbose and exc.failure.details:
                text += "\n" + exc.failure.details
            return text
        text = f"{job.where}: failed: {type(exc).__name__}: {exc}"
        if self.verbose:
            text += "\n" + "".join(traceback.format_exception(exc)).rstrip()
        return text

    def _fail(self, report: RunReport, progress: Progress, job: Job, message: str) -> None:
        report.failed[job.key] = message
        progress.message(f"error: {message}")

    # --- writing ------------------------------------------------------------------------

    def _parameters(self, job: Job, recipe: dict[str, Any], digest: str, rendered: Rendered) -> str:
        spec = job.spec
        model = recipe.get("model", {})
        fields: list[tuple[str, Any]] = [
            ("Steps", spec.steps),
            *a1111_fields.sampler_fields(rendered.sampler or "?"),
            ("CFG scale", spec.guidance),
            ("Seed", job.seed),
            ("Size", "x".join(str(v) for v in first_pass_size(spec, rendered.info))),
            ("Model hash", rendered.info.get("model_hash")),
            ("Model", spec.model or self.backend_of(job).name),
            *hires_fields(spec),
            ("Lora hashes", _lora_field(model, "files") or None),
            ("Lora weights", ", ".join(f"{n}: {w:g}" for n, w in spec.loras) or None),
            ("Cue", job.cue.id),
            ("Recipe hash", digest),
            ("Version", f"app-generate {CACHE_VERSION}"),
        ]
        if job.kind is MediaKind.VIDEO:
            fields.insert(5, ("Frames", spec.frames))
            fields.insert(6, ("FPS", spec.fps))
        return a1111_parameters(full_prompt(spec), spec.negative_prompt, fields)

    def _write(
        self,
        job: Job,
        rendered: Rendered,
        digest: str,
        recipe: dict[str, Any],
        seconds: float,
        when: str,
        outcome: TaskOutcome | None = None,
    ) -> None:
        parameters = self._parameters(job, recipe, digest, rendered)
        with atomic_output(job.output) as tmp:
            if rendered.file is not None:  # made by an outside tool: kept byte for byte
                rendered.file.replace(tmp)
            elif rendered.data is not None:  # such a file, made on a worker's machine
                tmp.write_bytes(rendered.data)
            elif job.kind is MediaKind.STILL:
                if rendered.image is None:
                    raise JobError("the backend returned no image")
                save_png(rendered.image, tmp, parameters=parameters, digest=digest, recipe=recipe)
            elif job.kind is MediaKind.VIDEO:
                if not rendered.frames:
                    raise JobError("the backend returned no frames")
                from app.generate.video import encode_video

                size = rendered.info.get("placeholder_size") or (job.spec.width, job.spec.height)
                encode_video(
                    rendered.frames,
                    tmp,
                    fps_in=rendered.frames_fps or job.spec.fps,
                    fps_out=job.spec.fps,
                    width=int(size[0]),
                    height=int(size[1]),
                    crf=28 if rendered.draft else 18,
                    preset="ultrafast" if rendered.draft else "veryfast",
                )
            else:
                if rendered.scene is None:
                    raise JobError("the backend returned no splat scene")
                from app.media.splats import write_mlsharp_ply

                write_mlsharp_ply(tmp, rendered.scene)
        entry = {
            "hash": digest,
            "cue": job.cue.id,
            "poem": job.poem.id,
            "seed": job.seed,
            "kind": _KIND_WORD[job.kind],
            "variation": job.variation,
            "backend": self.backend_of(job).name,
            "model": job.spec.model,
            "recipe": recipe,
            "parameters": parameters,
            "started": when,
            "seconds": round(seconds, 3),
            "bytes": job.output.stat().st_size,
            "sha256": file_sha256(job.output),
            "versions": self._versions,
            "device": outcome.device if outcome else self.backend_of(job).describe_device(),
            "info": rendered.info,
        }
        if rendered.steps:
            entry["steps"] = write_steps(self.show.media_root, job, rendered.steps)
        if outcome is not None and outcome.worker != "local":
            entry["worker"] = outcome.worker
        if job.kind is not MediaKind.STILL:
            write_sidecar(job.output, {k: v for k, v in entry.items() if k != "bytes"})
        self.manifest.record(job.output, entry)

    def _copy_source(self, job: Job, digest: str) -> Path | None:
        for path in self.manifest.outputs_with_hash(digest):
            if path.resolve() != job.output.resolve():
                return path
        return None

    def _copy(self, job: Job, source: Path, digest: str) -> None:
        entry = dict(self.manifest.get(source) or {})
        copy_atomic(source, job.output)
        entry.update(
            {
                "cue": job.cue.id,
                "variation": job.variation,
                "copied_from": self.manifest.key(source),
                "bytes": job.output.stat().st_size,
            }
        )
        if job.kind is not MediaKind.STILL:
            write_sidecar(job.output, {k: v for k, v in entry.items() if k != "bytes"})
        self.manifest.record(job.output, entry)

    def _entry_from_file(self, job: Job, digest: str) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "hash": digest,
            "cue": job.cue.id,
            "seed": job.seed,
            "kind": _KIND_WORD[job.kind],
            "variation": job.variation,
            "bytes": job.output.stat().st_size,
            "recovered": True,
        }
        side = sidecar_path(job.output)
        if side.is_file():
            try:
                entry = {**json.loads(side.read_text(encoding="utf-8")), **entry}
            except ValueError:
                pass
        return entry
