"""Job planning: dependencies first, one load per model, --only, sweeps and picks."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import write_show

from app.generate.errors import GenerateError
from app.generate.plan import dependants, effective_seed, full_prompt, plan_show, variation_jobs
from app.show.loader import load_show

SHOW = """
title: Plan
generate: {model: img, width: 64, height: 32}
parts:
  2: {generate: {extra: {style: "expressionist cinema"}}}
poems:
  - id: "1"
    part: 1
    cues:
      - {id: "1.1", media: a/v.mp4, generate: {model: vid, from: "1.3", last_from: "1.2"}}
      - {id: "1.2", media: a/b.png, generate: {prompt: "b", seed: 5, seeds: [4, 5, 6]}}
      - {id: "1.3", media: a/c.png, generate: {prompt: "c"}}
      - {id: "1.4", media: a/d.ply, generate: {model: depth, from: "1.3"}}
      - {id: "1.5", media: a/plain.png}
  - id: "2"
    part: 2
    cues:
      - {id: "2.1", media: b/e.png, generate: {prompt: "e", seed: 9, seeds: [1, 2]}}
      - {id: "2.2", media: b/f.mp4, generate: {model: vid, from: "2.1"}}
      - {id: "2.3", media: b/g.png, generate: {model: other, prompt: "g"}}
"""


@pytest.fixture
def show(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_show(write_show(tmp_path, SHOW), allow_missing=True)


def test_dependencies_first_and_models_grouped(show) -> None:  # type: ignore[no-untyped-def]
    jobs = plan_show(show)
    keys = [j.key for j in jobs]
    position = {k: i for i, k in enumerate(keys)}
    for job in jobs:
        for dep in job.deps:
            assert position[dep] < position[job.key], (dep, job.key)
    models = [j.spec.model for j in jobs]
    switches = sum(1 for a, b in zip(models, models[1:], strict=False) if a != b)
    assert switches == len(set(models)) - 1  # each model loaded exactly once
    assert "1.5" not in keys  # no recipe, no job


def test_sweeps_make_variation_jobs(show) -> None:  # type: ignore[no-untyped-def]
    jobs = {j.key: j for j in plan_show(show)}
    assert {"1.2@seed-4", "1.2@seed-5", "1.2@seed-6", "2.1@seed-1", "2.1@seed-2"} <= set(jobs)
    var = jobs["1.2@seed-6"]
    assert var.variation and var.output == show.media_root / ".generate/variations/1.2/seed-6.png"
    assert jobs["1.2"].seed == 5  # `seed` is in the sweep
    assert jobs["2.1"].seed == 1  # `seed` is not: the first of the sweep
    assert "2.1@seed-1" in jobs["2.1"].deps  # the cue's own output can be copied from it
    no_sweeps = {j.key for j in plan_show(show, sweeps=False)}
    assert not any("@" in k for k in no_sweeps)


def test_picks_change_the_seed(show) -> None:  # type: ignore[no-untyped-def]
    jobs = {j.key: j for j in plan_show(show, picks={"1.2": 6, "2.1": 40})}
    assert jobs["1.2"].seed == 6
    assert jobs["2.1"].seed == 40
    assert "2.1@seed-40" in jobs  # a pick outside the sweep is rendered as a variation too
    spec = show.cues[1].generate
    assert effective_seed(spec, None) == 5 and effective_seed(spec, 3) == 3


def test_only_selects_poems_cues_and_their_sources(show) -> None:  # type: ignore[no-untyped-def]
    keys = {j.key for j in plan_show(show, only=["1/1.1"])}
    assert {"1.1", "1.2", "1.3"} <= keys and "1.4" not in keys and "2.1" not in keys
    assert not any(k.startswith("1.2@") for k in keys)  # inputs come without their sweeps
    assert {j.key for j in plan_show(show, only=["2"])} >= {"2.1", "2.2", "2.3"}
    assert {j.key for j in plan_show(show, only=["2.3"])} == {"2.3"}
    with pytest.raises(GenerateError, match="no poem '9'"):
        plan_show(show, only=["9/9.1"])
    with pytest.raises(GenerateError, match="poem '1' has no cue '2.1'"):
        plan_show(show, only=["1/2.1"])
    with pytest.raises(GenerateError, match="no poem or cue 'x'"):
        plan_show(show, only=["x"])


def test_dependants(show) -> None:  # type: ignore[no-untyped-def]
    jobs = plan_show(show, sweeps=False)
    assert dependants(jobs, "1.3") == {"1.1", "1.4"}
    assert dependants(jobs, "2.3") == set()


def test_style_is_appended_to_the_prompt(show) -> None:  # type: ignore[no-untyped-def]
    by_id = {c.id: c for c in show.cues}
    assert full_prompt(by_id["2.1"].generate) == "e, expressionist cinema"
    assert full_prompt(by_id["1.3"].generate) == "c"


def test_variation_jobs(show) -> None:  # type: ignore[no-untyped-def]
    jobs = variation_jobs(show, "2.2", [3, 4, 3])
    keys = [j.key for j in jobs]
    assert keys[0] == "2.1"  # its source first
    assert keys[1:] == ["2.2@seed-3", "2.2@seed-4"]
    assert jobs[-1].output.name == "seed-4.mp4"
    with pytest.raises(GenerateError, match="no seed"):
        variation_jobs(show, "1.4", [1])
    with pytest.raises(GenerateError, match="no generate: recipe"):
        variation_jobs(show, "1.5", [1])
