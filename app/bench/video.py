"""Video path speed: ffmpeg's own decode (reference) vs our decode, upload and YUV draw.

Four figures on the same clip, each as fast as possible, in one run:
(a) `ffmpeg -i CLIP -f null -`, the reference;
(b) our decode path up to frames ready for the GPU (ffmpeg subprocess -> pipe -> bounded
    frame queue of planar YUV frames);
(c) (b) plus the texture upload of every frame;
(d) (c) plus the YUV->RGB draw at the clip's size, headless.
Each is printed in frames per second with its ratio to (a).
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


def _best(measure: Callable[[], tuple[int, float]], repeat: int) -> tuple[int, float]:
    runs = [measure() for _ in range(max(1, repeat))]
    return max(runs, key=lambda fs: fs[0] / fs[1] if fs[1] > 0 else 0.0)


def measure(clip: Path, repeat: int = 2) -> dict[str, Any]:
    """All four figures for one clip."""
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
    }


def run(args: argparse.Namespace) -> int:
    from app.media.testclips import make_bench_clip

    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip or make_bench_clip(Path(tmp) / "bench1080p30.mp4")
        result = measure(clip, args.repeat)
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
    if "llvmpipe" in result["gl_renderer"]:
        print(
            "note: software GL (llvmpipe): (c) and (d) measure the CPU rasteriser; "
            "on a GPU machine (d) is the figure that counts"
        )
    return 0
