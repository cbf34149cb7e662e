"""`bench generate --workers N`: images per minute with N Ray workers against 1, same run.

A show of `--images` stills (one model, different seeds) is rendered through the real runner
and the Ray executor with 1 worker and with N, after a warm-up run that loads the model in
every worker (model loading is not what is measured), in 3 alternating rounds (medians).
The driver writes every output, as in a real run. Reports `per_min_1`, `per_min_n`,
`scaling` (n / 1) and `identical` (every output file of the N-worker run equals the
1-worker one byte for byte).
On CPU (`--device cpu`) each worker gets one CPU and the model is a tiny random SDXL.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

SHOW_HEAD = (
    "title: bench\ngenerate: {{model: tiny, width: {size}, height: {size}, steps: {steps}}}\n"
)


def _write_show(
    folder: Path, name: str, prompt: str, seeds: list[int], size: int, steps: int
) -> Path:
    cues = "\n".join(
        f'      - {{id: "{name}{s}", media: "{name}/{s}.png", '
        f'generate: {{prompt: "{prompt}", seed: {s}}}}}'
        for s in seeds
    )
    text = SHOW_HEAD.format(size=size, steps=steps) + f'poems:\n  - id: "1"\n    cues:\n{cues}\n'
    path = folder / "show" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _run(show_path: Path, registry: Path, executor: Any) -> tuple[float, dict[str, bytes]]:
    from app.generate.backends import worker_backend
    from app.generate.manifest import Manifest
    from app.generate.plan import plan_show
    from app.generate.runner import Runner
    from app.show.loader import load_show

    show = load_show(show_path, allow_missing=True)
    jobs = plan_show(show)
    backend = worker_backend("diffusers", str(registry), "cpu", 1, False)
    runner = Runner(show, backend, Manifest.load(show.media_root), err=open("/dev/null", "w"))
    start = time.perf_counter()
    report = runner.run(jobs, executor)
    seconds = time.perf_counter() - start
    if report.failed:
        raise SystemExit("bench generate: " + "; ".join(report.failed.values()))
    return seconds, {j.key: j.output.read_bytes() for j in jobs}


def measure(
    workers: int,
    device: str,
    images: int,
    size: int,
    steps: int,
    model: Path | None,
    rounds: int = 3,
) -> dict[str, Any]:
    """Run the two measurements; returns the result dictionary."""
    from app.generate.backends import worker_backend
    from app.generate.executors.ray import connect, ray_executor

    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        root = Path(tmp)
        if model is None:
            from app.bench.tiny import save_tiny_sdxl

            model = save_tiny_sdxl(root / "tiny-sdxl")
        registry = root / "show" / "models.yaml"
        registry.parent.mkdir(parents=True, exist_ok=True)
        registry.write_text(
            yaml.safe_dump({"models": {"tiny": {"path": str(model), "kind": "t2i"}}}),
            encoding="utf-8",
        )
        cpu = not device.startswith("cuda")
        if cpu:
            connect(num_cpus=workers + 1, num_gpus=0)  # both pools live at once
        else:
            connect()
        factory = functools.partial(
            worker_backend, "diffusers", str(registry), "cpu" if cpu else "cuda", 1, False
        )
        prompt = "a pale moon over a harbour at night"
        seeds = list(range(images))
        pools = {
            n: ray_executor(factory, workers=n, device=device, max_batch=1) for n in (1, workers)
        }
        times: dict[int, list[float]] = {1: [], workers: []}
        outputs: dict[int, dict[str, bytes]] = {}
        try:
            for n, pool in pools.items():
                warm = list(range(1000, 1000 + 2 * n))
                _run(_write_show(root, f"warm{n}_", "warm-up", warm, size, steps), registry, pool)
            # Rounds alternate 1 and N workers, so that a busy neighbour slows both alike.
            for r in range(rounds):
                for n, pool in pools.items():
                    # A media root of its own: a shared manifest would let the second pool
                    # copy the first one's outputs (same recipes) instead of rendering them.
                    folder = root / f"r{r}-{n}"
                    show = _write_show(folder, "run_", prompt, seeds, size, steps)
                    seconds, out = _run(show, registry, pool)
                    times[n].append(seconds)
                    outputs.setdefault(n, out)
        finally:
            for pool in pools.values():
                pool.close()
        import ray

        ray.shutdown()
    t1, tn = statistics.median(times[1]), statistics.median(times[workers])
    out1, outn = outputs[1], outputs[workers]
    identical = len(out1) == len(seeds) and out1 == outn  # the same cues, byte for byte
    per_1, per_n = images / t1 * 60.0, images / tn * 60.0
    return {
        "workers": workers,
        "device": device,
        "images": images,
        "size": size,
        "steps": steps,
        "model": "tiny random SDXL" if model is None or "tiny-sdxl" in str(model) else str(model),
        "rounds": rounds,
        "seconds_1": round(t1, 3),
        "seconds_n": round(tn, 3),
        "per_min_1": round(per_1, 2),
        "per_min_n": round(per_n, 2),
        "scaling": round(per_n / per_1, 3),
        "identical": identical,
    }


def run(args: argparse.Namespace) -> int:
    """`bench generate --workers N` (called by app/bench/generate.py)."""
    import json

    cuda = args.device.startswith("cuda")
    size = args.size or (1024 if cuda else 96)
    steps = args.steps or (30 if cuda else 6)
    result = measure(args.workers, args.device, args.images, size, steps, args.model)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"bench generate --workers {args.workers}: {result['images']} images "
        f"{size}x{size}, {steps} steps, {result['model']} on {args.device}"
    )
    print(f"  1 worker   {result['per_min_1']:9.2f} images/min ({result['seconds_1']} s)")
    print(
        f"  {args.workers} workers  {result['per_min_n']:9.2f} images/min ({result['seconds_n']} s)"
        f"  scaling x{result['scaling']}"
    )
    print(f"  outputs identical: {result['identical']}")
    return 0
