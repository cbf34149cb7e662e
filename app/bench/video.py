"""Video path speed: ffmpeg's own decode (reference) vs our decode, upload and draw.

Figures on the same content, each as fast as possible, in one run:
(a) `ffmpeg -i CLIP -f null -`, the reference;
(b) our decode path up to frames ready for the GPU (PyAV decoder thread -> bounded frame
    queue of planar YUV frames);
(c) (b) plus the texture upload of every frame;
(d) (c) plus the YUV->RGB draw at the clip's size, headless;
(e) the same picture as HAP (Hap1 and Hap Q, made here with ffmpeg's encoder): demux +
    Snappy + compressed upload, then also the draw; and four 1080p HAP layers at once
    (four decoder threads, one loop uploading and compositing all four, frames per second).
(a)-(d) are printed with their ratio to (a), (e) with its ratio to (c).

Fairness of (a) against (b): both decode with the same libavcodec thread count (`--threads`,
given to ffmpeg as `-threads` and to PyAV as the codec context's `thread_count`, frame
threads on both) into the same pixel format (`-pix_fmt yuv420p`, what our frames are); both
rates are steady-state rates, from the first frame out to the last (ffmpeg's from its first
`-progress` report to its last), so neither pays for its start (a process and its probe,
or a thread and its pipeline fill); and (a) and (b) run in interleaved rounds (a b b a) so
that a change of load on a shared machine hits both, the round with the median ratio being
the one reported (all rounds and the load average are in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "clip",
        nargs="?",
        type=Path,
        default=None,
        help="video (default: a generated 1080p30 H.264 clip)",
    )
    p.add_argument("--repeat", type=int, default=2, help="runs of each path; the best counts")
    p.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds of (a) and (b); the median counts"
    )
    p.add_argument(
        "--threads",
        type=int,
        default=default_threads(),
        help="libavcodec decoder threads for (a) and (b) (default: %(default)s, cores + 1)",
    )
    p.add_argument("--no-hap", action="store_true", help="skip the HAP rows (e)")


def default_threads() -> int:
    """libavcodec's own automatic frame-thread count: the usable cores plus one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) + 1 if (cores or 1) > 1 else 1


def _best(measure: Callable[[], tuple[int, float]], repeat: int) -> tuple[int, float]:
    runs = [measure() for _ in range(max(1, repeat))]
    return max(runs, key=lambda fs: fs[0] / fs[1] if fs[1] > 0 else 0.0)


def steady_decode(
    clip: Path, *, threads: int = 0, on_frame: Callable[[Any], None] | None = None
) -> tuple[int, float]:
    """Our path flat out, steady state: (frames after the first, seconds from the first
    frame out to the last), each frame handed to `on_frame` first."""
    from app.media.video import decode_throughput

    stamps: list[float] = []

    def seen(frame: Any) -> None:
        if on_frame is not None:
            on_frame(frame)
        stamps.append(time.perf_counter())

    decode_throughput(clip, on_frame=seen, threads=threads)
    if len(stamps) < 2:
        return len(stamps), 0.0
    return len(stamps) - 1, stamps[-1] - stamps[0]


def steady_reference(
    clip: Path, *, threads: int = 0, pix_fmt: str = "yuv420p"
) -> tuple[int, float]:
    """ffmpeg's own decode (`-f null`), steady state: (frames, seconds) between its first
    `-progress` report with a frame and its last, timed as each report arrives (a clip too
    short for two reports: all its frames over the whole run, process start included)."""
    from app.media.ffmpeg import input_arg, last_line, spawn_ffmpeg
    from app.media.types import MediaError

    args = ["-loglevel", "error", "-threads", str(threads), "-thread_type", "frame"]
    args += ["-i", input_arg(clip), "-map", "0:v:0", "-pix_fmt", pix_fmt, "-f", "null", "-"]
    args += ["-nostats", "-progress", "pipe:1", "-stats_period", "0.05"]
    started = time.perf_counter()
    proc = spawn_ffmpeg(args, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdin.close()
    reports: list[tuple[float, int]] = []
    frame = 0
    for raw in proc.stdout:
        line = raw.decode("ascii", "replace").strip()
        if line.startswith("frame="):
            frame = int(line.split("=", 1)[1] or 0)
        elif line.startswith("progress=") and frame > 0:
            reports.append((time.perf_counter(), frame))
    stderr = proc.stderr.read()
    if proc.wait() != 0:
        raise MediaError(clip, f"ffmpeg failed: {last_line(stderr) or 'no message'}")
    if len(reports) < 2:
        return frame, time.perf_counter() - started
    (t0, f0), (t1, f1) = reports[0], reports[-1]
    return f1 - f0, t1 - t0


def interleaved(clip: Path, rounds: int, threads: int) -> dict[str, Any]:
    """(a) and (b) in `rounds` rounds of a b b a (a load that rises or falls through a round
    hits both alike); each round's figures are the means of its two runs of each, and the
    round with the median ratio is the one reported."""
    pairs: list[tuple[float, float]] = []
    load_before = _load()
    for _ in range(max(1, rounds)):
        ref = _fps(steady_reference(clip, threads=threads))
        ours = _fps(steady_decode(clip, threads=threads))
        ours += _fps(steady_decode(clip, threads=threads))
        ref += _fps(steady_reference(clip, threads=threads))
        pairs.append((ref / 2, ours / 2))
    ratios = [o / r if r else 0.0 for r, o in pairs]
    median = statistics.median_low(ratios)
    ref, ours = pairs[ratios.index(median)]
    return {
        "reference_fps": round(ref, 1),
        "decode_fps": round(ours, 1),
        "decode_ratio": round(median, 3),
        "rounds": [[round(r, 1), round(o, 1)] for r, o in pairs],
        "threads": threads,
        "pix_fmt": "yuv420p",
        "load_avg": [load_before, _load()],
    }


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def measure(
    clip: Path,
    repeat: int = 2,
    hap_clips: dict[str, Path] | None = None,
    *,
    rounds: int = 5,
    threads: int | None = None,
) -> dict[str, Any]:
    """All figures for one clip; the HAP rows when `hap_clips` ('Hap1', 'HapY') are given."""
    from app.media.types import YuvFrame
    from app.render.compositor import Compositor
    from app.render.gl import create_headless_context
    from app.render.textures import YuvTextures
    from app.show.model import Fit

    threads = default_threads() if threads is None else threads
    ab = interleaved(clip, rounds, threads)

    ctx = create_headless_context()
    textures: dict[str, YuvTextures] = {}

    def upload(frame: YuvFrame) -> None:
        tex = textures.get("t")
        if tex is None:
            tex = textures["t"] = YuvTextures(ctx, frame.width, frame.height)
        tex.upload(frame)

    up = _best(lambda: steady_decode(clip, threads=threads, on_frame=upload), repeat)
    ctx.finish()

    info_w, info_h = textures["t"].width, textures["t"].height
    target = ctx.simple_framebuffer((info_w, info_h))
    compositor = Compositor(ctx, info_w, info_h)

    def upload_and_draw(frame: YuvFrame) -> None:
        upload(frame)
        compositor.draw_image(textures["t"], Fit.STRETCH, 1.0, target)
        ctx.finish()  # count the draw itself, not just its submission

    drawn = _best(lambda: steady_decode(clip, threads=threads, on_frame=upload_and_draw), repeat)
    renderer = ctx.info.get("GL_RENDERER", "?")
    hap = _hap_figures(ctx, hap_clips, repeat) if hap_clips else {}
    compositor.release()
    for tex in textures.values():
        tex.release()
    target.release()
    ctx.release()

    reference = ab["reference_fps"]
    return {
        "clip": str(clip),
        "size": f"{info_w}x{info_h}",
        "frames": up[0] + 1,
        "gl_renderer": renderer,
        **ab,
        "upload_fps": round(_fps(up), 1),
        "draw_fps": round(_fps(drawn), 1),
        "upload_ratio": round(_fps(up) / reference, 3) if reference else None,
        "draw_ratio": round(_fps(drawn) / reference, 3) if reference else None,
        **hap,
    }


def _hap_figures(ctx: Any, clips: dict[str, Path], repeat: int) -> dict[str, Any]:
    """(e): HAP decode, decode+upload, decode+upload+draw for Hap1 and HapY; four layers."""
    out: dict[str, Any] = {}
    for key, variant in (("hap", "Hap1"), ("hapq", "HapY")):
        dec, up, drawn = _hap_rows(ctx, clips[variant], repeat)
        out[f"{key}_decode_fps"] = round(dec, 1)
        out[f"{key}_upload_fps"] = round(up, 1)
        out[f"{key}_draw_fps"] = round(drawn, 1)
    out["hap_layers4_fps"] = round(_layers(ctx, clips["Hap1"], 4), 1)
    return out


def _hap_rows(ctx: Any, clip: Path, repeat: int) -> tuple[float, float, float]:
    from app.media.hap import HapFrame
    from app.render.compositor import Compositor
    from app.render.hap import HapTextures
    from app.show.model import Fit

    textures: list[HapTextures] = []

    def upload(frame: Any) -> None:
        assert isinstance(frame, HapFrame)
        if not textures:
            formats = tuple(t.format for t in frame.textures)
            textures.append(HapTextures(ctx, frame.width, frame.height, formats))
        textures[0].upload(frame)

    dec = _best(lambda: steady_decode(clip), repeat)
    up = _best(lambda: steady_decode(clip, on_frame=upload), repeat)
    ctx.finish()
    tex = textures[0]
    target = ctx.simple_framebuffer((tex.width, tex.height))
    compositor = Compositor(ctx, tex.width, tex.height)

    def draw(frame: Any) -> None:
        upload(frame)
        compositor.draw_image(tex, Fit.STRETCH, 1.0, target)
        ctx.finish()

    drawn = _best(lambda: steady_decode(clip, on_frame=draw), repeat)
    compositor.release()
    target.release()
    tex.release()
    return _fps(dec), _fps(up), _fps(drawn)


def _fps(fs: tuple[int, float]) -> float:
    return fs[0] / fs[1] if fs[1] > 0 else 0.0


def _layers(ctx: Any, clip: Path, count: int, seconds: float = 4.0) -> float:
    """Frames per second of a loop that takes a frame from each of `count` looping HAP
    decoders, uploads them and composites them as `count` layers (each at 1/count)."""
    from app.cues.state import LayerMix, Mix, MixEntry
    from app.media.video import FrameStream
    from app.render.compositor import Compositor
    from app.render.hap import HapTextures
    from app.show.model import Fit

    streams = [FrameStream(clip, loop=True) for _ in range(count)]
    images: dict[int, HapTextures] = {}
    try:
        first = [s.next() for s in streams]
        w, h = first[0].width, first[0].height  # type: ignore[union-attr]
        target = ctx.simple_framebuffer((w, h))
        comp = Compositor(ctx, w, h)
        mix = Mix(
            layers=tuple(
                LayerMix(i + 1, (MixEntry(i, 1.0, 0.0, 1.0),), opacity=1.0 / count)
                for i in range(count)
            ),
            master=1.0,
            black=0.0,
        )
        frames = 0
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            for i, s in enumerate(streams):
                frame = s.next()
                if frame is None:
                    raise RuntimeError(f"HAP layer {i} ended: {s.error}")
                tex = images.get(i)
                if tex is None:
                    formats = tuple(t.format for t in frame.textures)  # type: ignore[union-attr]
                    tex = images[i] = HapTextures(ctx, w, h, formats)
                tex.upload(frame)  # type: ignore[arg-type]
            comp.draw(mix, images.get, lambda cue: Fit.STRETCH, target)
            ctx.finish()
            frames += 1
        elapsed = time.perf_counter() - t0
        comp.release()
        target.release()
    finally:
        for s in streams:
            s.close()
        for tex in images.values():
            tex.release()
    return frames / elapsed if elapsed > 0 else 0.0


def run(args: argparse.Namespace) -> int:
    from app.bench.clips import make_bench_clip, make_bench_hap_clips

    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or make_bench_clip(Path(tmp) / "bench1080p30.mp4")
        hap_clips = {} if args.no_hap else make_bench_hap_clips(Path(tmp))
        result = measure(clip, args.repeat, hap_clips, rounds=args.rounds, threads=args.threads)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"clip {result['clip']} ({result['size']}, {result['frames']} frames), "
        f"GL: {result['gl_renderer']}"
    )
    print(
        f"(a)/(b): {len(result['rounds'])} interleaved rounds (ffmpeg fps, ours), median "
        f"ratio shown: {result['rounds']}; {result['threads']} decoder threads each, "
        f"{result['pix_fmt']}; load average {result['load_avg'][0]} -> {result['load_avg'][1]}"
    )
    rows = [
        ("(a) ffmpeg -f null (reference)", result["reference_fps"], 1.0),
        ("(b) our decode -> frame queue", result["decode_fps"], result["decode_ratio"]),
        ("(c) (b) + texture upload", result["upload_fps"], result["upload_ratio"]),
        ("(d) (c) + YUV->RGB draw", result["draw_fps"], result["draw_ratio"]),
    ]
    for name, fps, ratio in rows:
        print(f"{name:34s} {fps:8.1f} fps   x{ratio:.3f}")
    if "hap_upload_fps" in result:
        upload = result["upload_fps"] or 1.0
        for key, label in (("hap", "Hap1"), ("hapq", "Hap Q")):
            for part, what in (
                ("decode", "demux + Snappy"),
                ("upload", "+ upload"),
                ("draw", "+ draw"),
            ):
                value = result[f"{key}_{part}_fps"]
                name = f"(e) {label} {what}"
                print(f"{name:34s} {value:8.1f} fps   x{value / upload:.3f} of (c)")
        value = result["hap_layers4_fps"]
        print(
            f"{'(e) 4 layers of Hap1 at once':34s} {value:8.1f} fps   x{value / upload:.3f} of (c)"
        )
    if "llvmpipe" in result["gl_renderer"]:
        print(
            "note: software GL (llvmpipe): (c) and (d) measure the CPU rasteriser; "
            "on a GPU machine (d) is the figure that counts"
        )
    return 0
