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
"""

from __future__ import annotations

import argparse
import json
import tempfile
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
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--repeat", type=int, default=2, help="runs of each path; the best counts")
    p.add_argument("--no-hap", action="store_true", help="skip the HAP rows (e)")


def _best(measure: Callable[[], tuple[int, float]], repeat: int) -> tuple[int, float]:
    runs = [measure() for _ in range(max(1, repeat))]
    return max(runs, key=lambda fs: fs[0] / fs[1] if fs[1] > 0 else 0.0)


def measure(
    clip: Path, repeat: int = 2, hap_clips: dict[str, Path] | None = None
) -> dict[str, Any]:
    """All figures for one clip; the HAP rows when `hap_clips` ('Hap1', 'HapY') are given."""
    from app.media.types import YuvFrame
    from app.media.video import decode_throughput, reference_decode
    from app.render.compositor import Compositor
    from app.render.gl import create_headless_context
    from app.render.textures import YuvTextures
    from app.show.model import Fit

    ref = _best(lambda: reference_decode(clip), repeat)
    dec = _best(lambda: decode_throughput(clip), repeat)

    ctx = create_headless_context()
    textures: dict[str, YuvTextures] = {}

    def upload(frame: YuvFrame) -> None:
        tex = textures.get("t")
        if tex is None:
            tex = textures["t"] = YuvTextures(ctx, frame.width, frame.height)
        tex.upload(frame)

    up = _best(lambda: decode_throughput(clip, on_frame=upload), repeat)
    ctx.finish()

    info_w, info_h = textures["t"].width, textures["t"].height
    target = ctx.simple_framebuffer((info_w, info_h))
    compositor = Compositor(ctx, info_w, info_h)

    def upload_and_draw(frame: YuvFrame) -> None:
        upload(frame)
        compositor.draw_image(textures["t"], Fit.STRETCH, 1.0, target)
        ctx.finish()  # count the draw itself, not just its submission

    drawn = _best(lambda: decode_throughput(clip, on_frame=upload_and_draw), repeat)
    renderer = ctx.info.get("GL_RENDERER", "?")
    hap = _hap_figures(ctx, hap_clips, repeat) if hap_clips else {}
    compositor.release()
    for tex in textures.values():
        tex.release()
    target.release()
    ctx.release()

    def fps(fs: tuple[int, float]) -> float:
        return fs[0] / fs[1] if fs[1] > 0 else 0.0

    reference = fps(ref)
    return {
        "clip": str(clip),
        "size": f"{info_w}x{info_h}",
        "frames": ref[0],
        "gl_renderer": renderer,
        "reference_fps": round(reference, 1),
        "decode_fps": round(fps(dec), 1),
        "upload_fps": round(fps(up), 1),
        "draw_fps": round(fps(drawn), 1),
        "decode_ratio": round(fps(dec) / reference, 3) if reference else None,
        "upload_ratio": round(fps(up) / reference, 3) if reference else None,
        "draw_ratio": round(fps(drawn) / reference, 3) if reference else None,
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
    from app.media.video import decode_throughput
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

    dec = _best(lambda: decode_throughput(clip), repeat)
    up = _best(lambda: decode_throughput(clip, on_frame=upload), repeat)
    ctx.finish()
    tex = textures[0]
    target = ctx.simple_framebuffer((tex.width, tex.height))
    compositor = Compositor(ctx, tex.width, tex.height)

    def draw(frame: Any) -> None:
        upload(frame)
        compositor.draw_image(tex, Fit.STRETCH, 1.0, target)
        ctx.finish()

    drawn = _best(lambda: decode_throughput(clip, on_frame=draw), repeat)
    compositor.release()
    target.release()
    tex.release()
    return _fps(dec), _fps(up), _fps(drawn)


def _fps(fs: tuple[int, float]) -> float:
    return fs[0] / fs[1] if fs[1] > 0 else 0.0


def _layers(ctx: Any, clip: Path, count: int, seconds: float = 4.0) -> float:
    """Frames per second of a loop that takes a frame from each of `count` looping HAP
    decoders, uploads them and composites them as `count` layers (each at 1/count)."""
    import time

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
    from app.media.testclips import make_bench_clip, make_bench_hap_clips

    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or make_bench_clip(Path(tmp) / "bench1080p30.mp4")
        hap_clips = {} if args.no_hap else make_bench_hap_clips(Path(tmp))
        result = measure(clip, args.repeat, hap_clips)
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"clip {result['clip']} ({result['size']}, {result['frames']} frames), "
        f"GL: {result['gl_renderer']}"
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
