"""Planning: from a loaded show to an ordered list of jobs.

One job per cue with a recipe; a recipe with a seed sweep (`seeds:`) adds one job per seed,
written to `<media_root>/.generate/variations/<cue>/seed-<n>.<ext>`, and the cue's own job
renders the picked seed (or, without a pick, `seed` when it is in the sweep, else the first
seed of the sweep). Jobs that read another cue's output (`from:`, `last_from:`) come after
the job that makes it; within that order, jobs are grouped by model so that each pipeline
is loaded once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.generate.errors import GenerateError
from app.generate.manifest import state_dir
from app.show.model import Cue, GenerateSpec, MediaKind, Poem, Show

EXTENSIONS = {MediaKind.STILL: ".png", MediaKind.VIDEO: ".mp4", MediaKind.SPLAT: ".ply"}


@dataclass(frozen=True)
class Job:
    """One output to make."""

    key: str  # unique in a plan: the cue id, or "<cue id>@seed-<n>" for a variation
    cue: Cue
    poem: Poem
    spec: GenerateSpec
    seed: int
    output: Path
    variation: bool = False
    deps: tuple[str, ...] = ()  # keys of jobs that must finish first
    sources: tuple[tuple[str, Cue], ...] = ()  # ("from" | "last_from", cue read)

    @property
    def label(self) -> str:
        """How messages name the job."""
        return f"{self.cue.id} seed {self.seed}" if self.variation else self.cue.id

    @property
    def where(self) -> str:
        """`show:line` of the cue, for messages."""
        return f"cue '{self.cue.id}' (line {self.cue.line})"

    @property
    def kind(self) -> MediaKind:
        """What the job makes."""
        return self.spec.kind

    def same_recipe_but_seed(self, other: Job) -> bool:
        """True when `other` differs from this job only by its seed (a batchable sweep)."""
        return (
            self.spec == other.spec
            and self.sources == other.sources
            and self.kind is MediaKind.STILL
        )


def full_prompt(spec: GenerateSpec) -> str:
    """The prompt a model sees: the recipe's prompt, then its `extra.style` if any.

    `style` lets a part (or the show) state its aesthetic once: `extra` is merged key by key
    from show to cue, so a cue's own `extra` keeps the part's style.
    """
    style = str(spec.extra.get("style", "") or "").strip()
    if not style:
        return spec.prompt
    return f"{spec.prompt.rstrip(' ,.')}, {style}" if spec.prompt.strip() else style


def variation_path(media_root: Path, cue_id: str, seed: int, kind: MediaKind) -> Path:
    """Where the variation of `cue_id` at `seed` is written."""
    safe = cue_id.replace("/", "_")
    return state_dir(media_root) / "variations" / safe / f"seed-{seed}{EXTENSIONS[kind]}"


def effective_seed(spec: GenerateSpec, pick: int | None) -> int:
    """The seed a cue's own output is rendered at."""
    if pick is not None:
        return pick
    if spec.seeds and spec.seed not in spec.seeds:
        return spec.seeds[0]
    return spec.seed


def apply_overrides(spec: GenerateSpec, values: dict[str, Any]) -> GenerateSpec:
    """The recipe with some fields set (a grid cell's or a picked cell's values);
    `refine.<key>` and `extra.<key>` are merged into those mappings key by key."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        group, _, key = name.partition(".")
        if group in ("refine", "extra") and key:
            if group not in nested:
                nested[group] = dict(getattr(spec, group) or {})
            nested[group][key] = value
        else:
            top[name] = value
    return replace(spec, **top, **nested)


def _cue_jobs(
    show: Show,
    poem: Poem,
    cue: Cue,
    by_id: dict[str, Cue],
    picks: dict[str, int],
    sweeps: bool,
    recipes: dict[str, dict[str, Any]] | None = None,
) -> list[Job]:
    spec = cue.generate
    assert spec is not None
    sources: list[tuple[str, Cue]] = []
    for role, ref in (("from", spec.source), ("last_from", spec.last_from)):
        if ref is not None and ref in by_id:
            sources.append((role, by_id[ref]))
    deps = tuple(src.id for _, src in sources if src.generate is not None)
    seed = effective_seed(spec, picks.get(cue.id))
    jobs: list[Job] = []
    seeds = list(spec.seeds) if sweeps else []
    if cue.id in picks and picks[cue.id] not in seeds and sweeps and spec.seeds:
        seeds.append(picks[cue.id])
    for s in seeds:
        jobs.append(
            Job(
                key=f"{cue.id}@seed-{s}",
                cue=cue,
                poem=poem,
                spec=spec,
                seed=s,
                output=variation_path(show.media_root, cue.id, s, spec.kind),
                variation=True,
                deps=deps,
                sources=tuple(sources),
            )
        )
    main_deps = deps + tuple(j.key for j in jobs if j.seed == seed)
    picked_values = (recipes or {}).get(cue.id) if cue.id in picks else None
    jobs.append(
        Job(
            key=cue.id,
            cue=cue,
            poem=poem,
            spec=apply_overrides(spec, picked_values) if picked_values else spec,
            seed=seed,
            output=cue.media,
            deps=main_deps,
            sources=tuple(sources),
        )
    )
    return jobs


def select(show: Show, only: Sequence[str]) -> set[str]:
    """Cue ids chosen by `--only` values (`POEM`, `POEM/CUE` or a cue id)."""
    chosen: set[str] = set()
    poems = {p.id: p for p in show.poems}
    cue_ids = {c.id for c in show.cues}
    for value in only:
        poem_id, _, cue_id = value.partition("/")
        if cue_id:
            poem = poems.get(poem_id)
            if poem is None:
                raise GenerateError(f"--only {value}: no poem '{poem_id}' in {show.path}")
            ids = {c.id for c in poem.cues}
            if cue_id not in ids:
                raise GenerateError(
                    f"--only {value}: poem '{poem_id}' has no cue '{cue_id}' "
                    f"(its cues: {', '.join(c.id for c in poem.cues) or 'none'})"
                )
            chosen.add(cue_id)
        elif value in poems:
            chosen.update(c.id for c in poems[value].cues)
        elif value in cue_ids:
            chosen.add(value)
        else:
            raise GenerateError(f"--only {value}: no poem or cue '{value}' in {show.path}")
    return chosen


def plan_show(
    show: Show,
    *,
    only: Sequence[str] = (),
    picks: dict[str, int] | None = None,
    sweeps: bool = True,
    recipes: dict[str, dict[str, Any]] | None = None,
) -> list[Job]:
    """The ordered jobs that make the media of `show` (or of the cues `only` selects).

    Cues a selected cue is made from are included too (they are skipped when current).
    `recipes` holds the values of picked grid cells: a picked cue is rendered with them.
    """
    picks = picks or {}
    by_id = {c.id: c for c in show.cues}
    wanted = select(show, only) if only else {c.id for c in show.cues}
    closure: set[str] = set()
    stack = [cid for cid in wanted if by_id[cid].generate is not None]
    while stack:
        cid = stack.pop()
        if cid in closure:
            continue
        closure.add(cid)
        spec = by_id[cid].generate
        assert spec is not None
        for ref in (spec.source, spec.last_from):
            if ref is not None and ref in by_id and by_id[ref].generate is not None:
                stack.append(ref)
    jobs: list[Job] = []
    for poem in show.poems:
        for cue in poem.cues:
            if cue.id in closure:
                # Sweeps of cues pulled in only as inputs are not the user's request.
                jobs.extend(
                    _cue_jobs(show, poem, cue, by_id, picks, sweeps and cue.id in wanted, recipes)
                )
    return order_jobs(jobs)


def require_recipe(cue: Cue) -> Cue:
    """`cue`, which must have a generate: recipe (a GenerateError naming its line otherwise)."""
    if cue.generate is None:
        raise GenerateError(f"cue '{cue.id}' (line {cue.line}) has no generate: recipe")
    return cue


def recipe_cue(show: Show, cue_id: str) -> Cue:
    """The cue `cue_id` of `show`, which must exist and have a generate: recipe."""
    cue = next((c for c in show.cues if c.id == cue_id), None)
    if cue is None:
        raise GenerateError(f"no cue '{cue_id}' in {show.path}")
    return require_recipe(cue)


def variation_jobs(show: Show, cue_id: str, seeds: Iterable[int]) -> list[Job]:
    """Jobs rendering `cue_id` at each seed (as variations), after what it is made from."""
    by_id = {c.id: c for c in show.cues}
    cue = recipe_cue(show, cue_id)
    if cue.generate.kind is MediaKind.SPLAT:
        raise GenerateError(
            f"cue '{cue_id}': a splat scene is made from its source image and has no seed; "
            f"sweep the source cue '{cue.generate.source}' instead"
        )
    upstream = [j for j in plan_show(show, only=[cue_id], sweeps=False) if j.cue.id != cue_id]
    poem = next(p for p in show.poems if any(c.id == cue_id for c in p.cues))
    spec = cue.generate
    base = _cue_jobs(show, poem, cue, by_id, {}, sweeps=False)[-1]
    jobs = [
        Job(
            key=f"{cue_id}@seed-{s}",
            cue=cue,
            poem=poem,
            spec=spec,
            seed=s,
            output=variation_path(show.media_root, cue_id, s, spec.kind),
            variation=True,
            deps=base.deps,
            sources=base.sources,
        )
        for s in dict.fromkeys(seeds)
    ]
    return order_jobs(upstream + jobs)


def model_group(job: Job) -> str:
    """Jobs with the same group share a loaded pipeline."""
    return f"{job.spec.model or ''}|{job.kind.value}"


def order_jobs(jobs: list[Job]) -> list[Job]:
    """Topological order (dependencies first) that keeps runs of one model together.

    Among the jobs whose dependencies are done, the next one uses the model loaded now if
    any does; otherwise the model of the earliest such job in show order is loaded next.
    """
    keys = {j.key for j in jobs}
    pending = list(jobs)
    done: set[str] = set()
    ordered: list[Job] = []
    current: str | None = None
    while pending:
        ready = [j for j in pending if all(d in done or d not in keys for d in j.deps)]
        if not ready:
            cycle = ", ".join(j.key for j in pending)
            raise GenerateError(f"recipes depend on each other in a cycle: {cycle}")
        same = [j for j in ready if model_group(j) == current]
        nxt = same[0] if same else ready[0]
        current = model_group(nxt)
        ordered.append(nxt)
        done.add(nxt.key)
        pending.remove(nxt)
    return ordered


def dependants(jobs: list[Job], key: str) -> set[str]:
    """Keys of every job that reads, directly or not, the output of job `key`."""
    out: set[str] = set()
    frontier = {key}
    while frontier:
        nxt = {j.key for j in jobs if set(j.deps) & frontier and j.key not in out}
        out |= nxt
        frontier = nxt
    return out
