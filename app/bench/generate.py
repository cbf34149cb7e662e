"""Image generation speed: our diffusers path against a plain diffusers call, same pipeline.

In one run, on one model (`--model`, a diffusers folder; default a tiny random SDXL built in a
temporary folder), at the same size, steps and seed, after a warm-up:
(a) the reference: `DiffusionPipeline.from_pretrained(model)` as a plain script loads it
    (float32), then `pipe(prompt, generator=...)`, one image per call;
(b) our path (app.generate's diffusers backend): bf16 on CUDA, PyTorch SDPA attention, the
    prompt encoded once, optional torch.compile, one image per call;
(c) our seed sweep: 16 seeds, batched `--batch` per call, one torch.Generator per image.
Prints the median seconds per image for (a) and (b), images per minute for (c), and how far
our images are from the reference (max abs difference, PSNR) and batched from single (~0).
With `--json`, one object with `baseline_s_per_image`, `ours_s_per_image`,
`sweep_images_per_min` and the rest. On a CPU the figures only test the plumbing.
`--workers N` measures N Ray workers against one instead (app/bench/generate_workers.py).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SWEEP = 16
PROMPT = "a pale moon over a harbour at night, daguerreotype, sepia, dust"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="diffusers text-to-image folder "
        "(default: a tiny random SDXL, built in a temporary folder)",
    )
    p.add_argument("--device", default="cuda", help="torch device (default cuda)")
    p.add_argument("--steps", type=int, default=None, help="steps (default 30 on CUDA, 4 on CPU)")
    p.add_argument(
        "--size",
        type=int,
        default=None,
        help="square side in pixels (default 1024 on CUDA, 64 on CPU)",
    )
    p.add_argument("--batch", type=int, default=4, help="seeds per call in the sweep")
    p.add_argument("--repeat", type=int, default=5, help="timed calls per measurement")
    p.add_argument("--compile", action="store_true", help="torch.compile our denoiser")
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="measure N Ray workers against 1 instead (images/min, scaling, identical outputs)",
    )
    p.add_argument("--images", type=int, default=12, help="images per run with --workers")


def _to_array(image: Any) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two images in 0..1 (capped at 100: identical)."""
    mse = float(np.mean((a - b) ** 2))
    return 100.0 if mse <= 1e-10 else min(100.0, 10.0 * math.log10(1.0 / mse))


def _sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn: Any, device: str, repeat: int) -> tuple[float, Any]:
    """Median seconds of `repeat` calls (the median shrugs off a noisy neighbour)."""
    result = None
    times = []
    for _ in range(max(1, repeat)):
        _sync(device)
        start = time.perf_counter()
        result = fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def _jobs(seeds: list[int], size: int, steps: int, guidance: float) -> list[Any]:
    from app.generate.plan import Job
    from app.show.model import Cue, GenerateSpec, MediaKind, Poem

    spec = GenerateSpec(
        kind=MediaKind.STILL,
        model="bench",
        prompt=PROMPT,
        steps=steps,
        guidance=guidance,
        width=size,
        height=size,
    )
    cue = Cue(
        id="b",
        poem_id="b",
        media=Path("b.png"),
        media_ref="b.png",
        kind=MediaKind.STILL,
        generate=spec,
    )
    poem = Poem(id="b", title="bench", part=1, cues=(cue,))
    return [
        Job(
            key=f"b@{s}",
            cue=cue,
            poem=poem,
            spec=spec,
            seed=s,
            output=Path("b.png"),
            variation=True,
        )
        for s in seeds
    ]


def measure(args: argparse.Namespace, model: Path, tiny: bool) -> dict[str, Any]:
    """Run the three measurements; returns the result dictionary."""
    import torch
    from diffusers import DiffusionPipeline

    from app.generate.chain.diffusers_backend import DiffusersBackend, dtype_keyword
    from app.generate.registry import ModelEntry, Registry

    cuda = args.device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise SystemExit(
            f"bench generate: --device {args.device}: no CUDA device (torch "
            f"{torch.__version__}); use --device cpu for the plumbing only"
        )
    steps = args.steps or (30 if cuda else 4)
    size = args.size or (1024 if cuda else 64)

    # (a) the reference: a plain script.
    base: Any = DiffusionPipeline.from_pretrained(
        str(model), local_files_only=True, **{dtype_keyword(): torch.float32}
    ).to(args.device)
    base.set_progress_bar_config(disable=True)

    def plain() -> Any:
        gen = torch.Generator(device="cpu").manual_seed(args.seed)
        return base(
            PROMPT,
            num_inference_steps=steps,
            guidance_scale=args.guidance,
            height=size,
            width=size,
            generator=gen,
        ).images[0]

    plain()
    plain()
    baseline_s, baseline_image = _timed(plain, args.device, args.repeat)
    pipeline_name = type(base).__name__
    base = None  # free the reference before ours loads (both may not fit at once)
    if cuda:
        torch.cuda.empty_cache()

    # (b) and (c): our backend, the same pipeline.
    entry = ModelEntry(
        name="bench", kind="t2i", path=model, where=f"path: {model}", dtype="bfloat16"
    )
    backend = DiffusersBackend(
        Registry(None, {"bench": entry}), device=args.device, batch=args.batch, compile=args.compile
    )
    backend.prepare()
    pipe = backend.load(entry)
    single = _jobs([args.seed], size, steps, args.guidance)

    def ours() -> Any:
        return backend.text_to_image(pipe, entry, single, lambda f: None)[0].image

    ours()
    ours()
    ours_s, ours_image = _timed(ours, args.device, args.repeat)

    seeds = list(range(args.seed, args.seed + SWEEP))
    batches = [
        _jobs(seeds[i : i + args.batch], size, steps, args.guidance)
        for i in range(0, SWEEP, args.batch)
    ]
    backend.text_to_image(pipe, entry, batches[0], lambda f: None)  # warm-up at batch size
    _sync(args.device)
    start = time.perf_counter()
    sweep_images = []
    for batch in batches:
        sweep_images += [r.image for r in backend.text_to_image(pipe, entry, batch, lambda f: None)]
    _sync(args.device)
    sweep_s = time.perf_counter() - start
    device_name = backend.describe_device()
    backend.close()

    a, b = _to_array(baseline_image), _to_array(ours_image)
    batched = _to_array(sweep_images[0])
    result = {
        "baseline_s_per_image": round(baseline_s, 4),
        "ours_s_per_image": round(ours_s, 4),
        "sweep_images_per_min": round(SWEEP / sweep_s * 60.0, 2),
        "speedup": round(baseline_s / ours_s, 3) if ours_s > 0 else None,
        "max_abs_diff_vs_baseline": round(float(np.abs(a - b).max()), 5),
        "psnr_vs_baseline_db": round(psnr(a, b), 2),
        "batched_vs_single_max_abs_diff": round(float(np.abs(batched - b).max()), 5),
        "device": device_name,
        "pipeline": pipeline_name,
        "model": "tiny random SDXL" if tiny else str(model),
        "size": size,
        "steps": steps,
        "batch": args.batch,
        "dtype": "bfloat16" if cuda else "float32",
        "compile": args.compile,
        "tiny_model": tiny,
    }
    if not cuda or tiny:
        result["note"] = (
            "CPU and/or a tiny random model: these figures test the plumbing, not speed"
        )
    return result


def run(args: argparse.Namespace) -> int:
    """Entry point of `python -m app bench generate`."""
    if args.workers is not None:
        from app.bench.generate_workers import run as run_workers

        return run_workers(args)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        tiny = model is None
        if tiny:
            from app.bench.tiny import save_tiny_sdxl

            model = save_tiny_sdxl(Path(tmp) / "tiny-sdxl")
        elif not (Path(model) / "model_index.json").is_file():
            print(f"bench generate: --model {model}: not a diffusers folder (no model_index.json)")
            return 2
        result = measure(args, Path(model), tiny)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"bench generate: {result['pipeline']} ({result['model']}) on {result['device']}, "
        f"{result['size']}x{result['size']}, {result['steps']} steps"
    )
    print(f"  (a) plain diffusers, float32       {result['baseline_s_per_image']:9.3f} s/image")
    print(
        f"  (b) ours, {result['dtype']:<9} {'+compile' if args.compile else '        '}"
        f"        {result['ours_s_per_image']:9.3f} s/image  "
        f"(x{result['speedup']} vs (a))"
    )
    print(
        f"  (c) ours, sweep of {SWEEP} seeds, batch {result['batch']:<3}"
        f"{result['sweep_images_per_min']:9.2f} images/min"
    )
    print(
        f"  ours vs (a): max abs diff {result['max_abs_diff_vs_baseline']}, PSNR "
        f"{result['psnr_vs_baseline_db']} dB; batched vs single: max abs diff "
        f"{result['batched_vs_single_max_abs_diff']}"
    )
    if "note" in result:
        print(f"  note: {result['note']}")
    return 0
