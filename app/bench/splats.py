"""Splat renderer: frame and GPU sort time for 100k/1M/3M splats vs numpy's sort, and load time.

For each splat count (synthetic ml-sharp-shaped scenes unless a FILE is given) the camera
orbits a little every frame, so every frame preprocesses, sorts and draws. Steps are timed
with GL timer queries when the GPU has them (on software GL: wall clock around glFinish).
The reference, measured in the same run on the same scenes and views, is the CPU path's
numpy sort (depth + stable argsort): the table gives both and their ratio. A last row times
`load_splats` on a 1.2M-splat ml-sharp file written to a temporary folder (must be < 1 s).

On software GL (llvmpipe) it measures fewer frames, and the output says so.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_COUNTS = "100k,1M,3M"
MLSHARP_SPLATS = 2 * 768 * 768  # what ml-sharp writes for one photo
LOAD_LIMIT_MS = 1000.0
SOFTWARE_FRAMES = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Register `bench splats` options."""
    p.add_argument(
        "file",
        nargs="?",
        type=Path,
        default=None,
        help="a .ply or .splat scene (default: synthetic scenes of --counts)",
    )
    p.add_argument("--width", type=int, default=None, help="target width (default 1920)")
    p.add_argument("--height", type=int, default=None, help="target height (default 1080)")
    p.add_argument(
        "--frames",
        type=int,
        default=None,
        help=f"measured frames per scene (default 60; {SOFTWARE_FRAMES} on software GL)",
    )
    p.add_argument(
        "--counts",
        default=DEFAULT_COUNTS,
        help=f"synthetic splat counts, comma-separated (default {DEFAULT_COUNTS})",
    )


def parse_count(text: str) -> int:
    """'100k' -> 100000, '1M' -> 1000000, '2500' -> 2500."""
    t = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    value = float(t[:-1] if scale > 1 else t) * scale
    if value < 1:
        raise argparse.ArgumentTypeError(f"bad splat count {text!r}")
    return int(value)


def synthetic_scene(count: int, aspect: float = 16 / 9, seed: int = 0) -> Any:
    """An ml-sharp-shaped scene of about `count` splats (two layers over a 'room' depth)."""
    from app.media.splat_demo import DEMO_FOV, image_space_scene, synthetic_depth

    gh = max(2, round(math.sqrt(count / 2 / aspect)))
    gw = max(2, round(count / 2 / gh))
    y, x = np.mgrid[0:gh, 0:gw].astype(np.float64)
    rgb = np.stack(
        [
            0.5 + 0.5 * np.sin(x / gw * 9.0),
            0.5 + 0.5 * np.cos(y / gh * 7.0),
            ((x // 16 + y // 16) % 2) * 0.6 + 0.2,
        ],
        axis=-1,
    )
    focal = gh / (2.0 * math.tan(math.radians(DEMO_FOV) / 2.0))
    depth = synthetic_depth("room", rgb, focal)
    photo = (gw * 2, gh * 2)
    return image_space_scene(rgb, depth, focal=focal, photo_size=photo, layers=2, seed=seed)


def _views(scene: Any, width: int, height: int, frames: int) -> list[Any]:
    from app.cues.state import CameraOffset
    from app.render.camera import apply_offset, base_view
    from app.show.model import CameraLimits

    base = base_view(scene, None, width, height)
    limits = CameraLimits()
    out = []
    for i in range(frames + 1):  # the first one warms up
        phase = 2.0 * math.pi * i / max(frames, 1)
        off = CameraOffset(
            yaw=6.0 * math.sin(phase),
            pitch=3.0 * math.sin(2 * phase),
            dolly=0.05 * (1 - math.cos(phase)),
        )
        out.append(apply_offset(base, off, limits))
    return out


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def measure_scene(renderer: Any, scene: Any, width: int, height: int, frames: int) -> dict:
    """Render `frames` changing views of `scene`; medians of the step times, and numpy's sort
    of the same views as the reference."""
    from app.render.splats import cpu_sort_order

    gpu = renderer.upload(scene)
    views = _views(scene, width, height, frames)
    steps: dict[str, list[float]] = {
        k: [] for k in ("preprocess_ms", "sort_ms", "draw_ms", "total_ms", "wall_ms")
    }
    visible: list[float] = []
    try:
        for i, view in enumerate(views):
            start = time.perf_counter()
            renderer.render(gpu, view, width, height)
            renderer.ctx.finish()
            wall = (time.perf_counter() - start) * 1000.0
            if i == 0:
                continue
            t = renderer.last_timings
            for key in ("preprocess_ms", "sort_ms", "draw_ms", "total_ms"):
                steps[key].append(t.get(key, 0.0))
            steps["wall_ms"].append(wall)
            visible.append(t.get("visible", float("nan")))
    finally:
        gpu.release()
    positions = np.ascontiguousarray(scene.positions, dtype=np.float32)
    cpu: list[float] = []
    for view in views[1 : 1 + min(frames, 3)]:
        start = time.perf_counter()
        cpu_sort_order(positions, view.resized(width, height))
        cpu.append((time.perf_counter() - start) * 1000.0)
    row = {k: round(_median(v), 3) for k, v in steps.items()}
    row["numpy_sort_ms"] = round(_median(cpu), 3)
    sort = row["sort_ms"]
    row["numpy_over_gpu_sort"] = round(row["numpy_sort_ms"] / sort, 2) if sort > 0 else None
    row["visible"] = int(_median(visible)) if visible and not math.isnan(visible[0]) else None
    return row


def measure_load(path: Path | None, tmp: Path) -> dict:
    """Time `load_splats` (median of 3) on `path`, or on a synthetic 1.2M-splat ml-sharp file."""
    from app.media.splats import load_splats, write_mlsharp_ply

    if path is None:
        scene = synthetic_scene(MLSHARP_SPLATS, aspect=1.0)
        path = tmp / "mlsharp_1.2M.ply"
        write_mlsharp_ply(path, scene)
        del scene
    times = []
    count = 0
    for _ in range(3):
        start = time.perf_counter()
        loaded = load_splats(path)
        times.append((time.perf_counter() - start) * 1000.0)
        count = loaded.count
        del loaded
    load_ms = _median(times)
    return {
        "file": path.name,
        "splats": count,
        "megabytes": round(path.stat().st_size / 1e6, 1),
        "load_ms": round(load_ms, 1),
        "limit_ms": LOAD_LIMIT_MS,
        "ok": load_ms < LOAD_LIMIT_MS,
    }


def run(args: argparse.Namespace) -> int:
    """Run the benchmark; prints a table (or JSON with `--json`); exit 1 if loading is slow."""
    from app.media.splats import load_splats
    from app.render.gl import create_headless_context
    from app.render.splats import SplatRenderer

    ctx = create_headless_context(330)
    renderer_name = str(ctx.info.get("GL_RENDERER", "?"))
    renderer = SplatRenderer(ctx, sort="auto", timing=True)
    software = renderer.software
    width = args.width or 1920
    height = args.height or 1080
    frames = args.frames or (SOFTWARE_FRAMES if software else 60)
    notes = []
    if software:
        notes.append(
            f"software GL ({renderer_name}): {frames} measured frames per scene instead of 60, "
            "steps timed on the wall clock around glFinish (its timer queries do not time the "
            "work); these figures say nothing about a real GPU"
        )
    if renderer.mode == "cpu":
        notes.append("no compute shaders: the CPU sort path is measured")

    rows: list[dict] = []
    if args.file is not None:
        scenes = [(args.file.name, lambda: load_splats(args.file))]
    else:
        counts = [parse_count(c) for c in args.counts.split(",") if c.strip()]
        scenes = [(f"synthetic {c:,}", lambda c=c: synthetic_scene(c)) for c in counts]
    with tempfile.TemporaryDirectory() as tmp:
        for label, make in scenes:
            scene = make()
            row = {
                "scene": label,
                "splats": scene.count,
                "width": width,
                "height": height,
                "frames": frames,
            }
            row.update(measure_scene(renderer, scene, width, height, frames))
            rows.append(row)
            del scene
            if not args.json:
                _print_progress(row)
        load = measure_load(args.file, Path(tmp))
    renderer.release()
    result = {
        "bench": "splats",
        "renderer": renderer_name,
        "software_gl": software,
        "sort": renderer.mode,
        "timer": renderer.timer,
        "notes": notes,
        "rows": rows,
        "load": load,
    }
    if args.json:
        print(json.dumps(result))
    else:
        _print_table(result)
    return 0 if load["ok"] else 1


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


_COLUMNS = [
    ("splats", "splats", 10),
    ("visible", "drawn", 10),
    ("total_ms", "frame ms", 9),
    ("wall_ms", "wall ms", 9),
    ("preprocess_ms", "prep ms", 8),
    ("sort_ms", "sort ms", 8),
    ("draw_ms", "draw ms", 8),
    ("numpy_sort_ms", "numpy sort ms", 14),
    ("numpy_over_gpu_sort", "numpy/gpu", 10),
]


def _print_progress(row: dict) -> None:
    print(f"  measured {row['scene']}: frame {row['total_ms']:.1f} ms", flush=True)


def _print_table(result: dict) -> None:
    print(
        f"bench splats on {result['renderer']} (sort: {result['sort']}, timer: {result['timer']})"
    )
    for note in result["notes"]:
        print(f"note: {note}")
    if result["rows"]:
        first = result["rows"][0]
        print(
            f"target {first['width']}x{first['height']}, medians of {first['frames']} "
            "frames, camera moving every frame"
        )
    print("  ".join(title.rjust(w) for _, title, w in _COLUMNS))
    for row in result["rows"]:
        cells = []
        for key, _title, w in _COLUMNS:
            value = row.get(key)
            cells.append((f"{value:,}" if isinstance(value, int) else _fmt(value)).rjust(w))
        print("  ".join(cells))
    load = result["load"]
    verdict = "ok" if load["ok"] else "TOO SLOW"
    print(
        f"load {load['file']} ({load['splats']:,} splats, {load['megabytes']} MB): "
        f"{load['load_ms']:.0f} ms (limit {load['limit_ms']:.0f} ms: {verdict})"
    )
