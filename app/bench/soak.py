"""Endurance: a show of videos, stills and a splat scene played in a loop with random input.

Headless, in real time: a one-poem show of generated media (three stills, two looping
clips, one Gaussian-splat scene, crossfades of 0.8 s) at `--width` x `--height` (640x360)
and `--fps` (30). Seeded random GOs (about every `--go-every` seconds, some of them to a
random cue) and seeded random controller input, put on the player's queue as a gamepad or
an OSC console would: camera orbit and dolly, master, layer opacity and rate, and manual
crossfades (the T-bar pulled to 1 over a second, which completes a GO, and back to 0).
`--operator` also draws the operator view (offscreen, at 1280x800) every other frame.

Every `--interval` seconds (default 30, shorter for short runs) one line: resident memory,
frames, frame-time percentiles over that interval (the time between two frames, what the
audience sees), the render work per frame (finished with glFinish, as a window's buffer swap
would wait for it), and dropped frames (the player's, plus video frames the decoders
dropped). At the end: `rss_mb_at_1min`, `rss_mb_at_end`, `growth_after_1min_pct`,
`frame_ms_p50`/`p95`/`p99`/`max` (the whole run), `work_ms_...`, `dropped_frames`, and the
reference: the first minute of the same run (the first half of runs shorter than two
minutes), against which the run's last minute (as long as the reference) is compared as
ratios (`rss_ratio_end_to_1min`, `p95_ratio_last_to_first`, `work_p95_ratio_last_to_first`).
Bounded queues and caches should keep them near 1.0. On a software rasteriser the splat cue
dominates the frame time (its view changes with every camera move).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.bench.common import rss_mb, show_of

FADE = 0.8
CLIP_SECONDS = 4.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `python -m app bench soak`."""
    p.add_argument("--minutes", type=float, default=30.0, help="how long to play (default 30)")
    p.add_argument("--interval", type=float, default=None, help="seconds per report line")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0, help="seed of the GOs and the input")
    p.add_argument("--go-every", type=float, default=4.0, help="mean seconds between GOs")
    p.add_argument("--operator", action="store_true", help="also draw the operator view")
    p.add_argument(
        "--reload-every",
        type=float,
        default=None,
        help="edit the show file every S seconds, in phases (app/rehearse/soak_reload.py)",
    )


def make_media(folder: Path, width: int, height: int, fps: float) -> list[Path]:
    """Three stills, two clips and a splat scene at about the output's size, in `folder`."""
    from PIL import Image

    from app.media.lavfi import make_clip
    from app.media.splat_demo import make_demo_scene

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    stills = []
    for i, (a, b) in enumerate(
        (
            ((20, 30, 90), (240, 200, 120)),
            ((10, 80, 40), (230, 240, 250)),
            ((90, 10, 60), (250, 160, 40)),
        )
    ):
        t = ((x / width) * (0.5 + 0.25 * i) + (y / height) * (0.5 - 0.2 * i)) % 1.0
        img = (
            np.asarray(a, np.float32) * (1 - t[..., None])
            + np.asarray(b, np.float32) * t[..., None]
        )
        img += rng.normal(0.0, 6.0, img.shape)
        path = folder / f"still{i + 1}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
        stills.append(path)

    def clip(name: str, source: str, source_size: tuple[int, int] | None = None) -> Path:
        return make_clip(
            folder / name,
            width=width,
            height=height,
            fps=fps,
            seconds=CLIP_SECONDS,
            source=source,
            source_size=source_size,
            preset="ultrafast",
            gop=30,
        )

    clips = [clip("clip1.mp4", "testsrc2"), clip("clip2.mp4", "life", (width // 8, height // 8))]
    splat = folder / "scene.ply"
    make_demo_scene(stills[0], splat, size=96, layers=2)
    return [stills[0], clips[0], splat, stills[1], clips[1], stills[2]]


class RandomInput:
    """Seeded GOs and controller moves, as a gamepad or OSC console would send them."""

    def __init__(self, player: Any, seed: int, go_every: float) -> None:
        self.player = player
        self.rng = random.Random(seed)
        self.go_every = go_every
        self.next_go = 0.0
        self.gos = 0
        self.actions = 0
        self._tbar: list[tuple[float, float]] = []  # pending (time, position) of a T-bar pull

    def _put(self, action: Any) -> None:
        self.player.put(action)
        self.actions += 1

    def poll(self, t: float) -> None:
        from app.cues.commands import build

        rng, player = self.rng, self.player
        while self._tbar and self._tbar[0][0] <= t:
            self._put(build("tbar", [self._tbar.pop(0)[1]], source="gamepad"))
        if t >= self.next_go and not self._tbar:
            self.next_go = t + rng.uniform(0.5, 1.5) * self.go_every
            cues = player.show.cues
            roll = rng.random()
            if roll < 0.15:  # a T-bar pull: to 1 over a second (completes a GO), then back
                self._tbar = [(t + k / 10, k / 10) for k in range(1, 11)] + [(t + 1.2, 0.0)]
            elif roll < 0.4 or player.state.standby is None:
                cue = rng.choice(cues)
                self._put(build("go", [cue.poem_id, cue.id], source="osc"))
            else:
                self._put(build("go", [], source="gamepad"))
            self.gos += 1
        if rng.random() < 0.3:
            kind = rng.randrange(6)
            moves = (
                ("orbit", [rng.uniform(-2, 2), rng.uniform(-1, 1)], "gamepad"),
                ("dolly", [rng.uniform(-0.05, 0.05)], "gamepad"),
                ("master", [rng.uniform(0.6, 1.0)], "gamepad"),
                ("layer_opacity", [1, rng.uniform(0.7, 1.0)], "osc"),
                ("layer_rate", [1, rng.uniform(0.5, 1.5)], "osc"),
                ("pan", [rng.uniform(-0.02, 0.02), rng.uniform(-0.02, 0.02)], "gamepad"),
            )
            name, values, source = moves[kind]
            self._put(build(name, values, source=source))

    def close(self) -> None:
        pass


def percentiles(values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """p50, p95, p99 and max of `values` (milliseconds, rounded; NaNs left out), zeros
    when there are none."""
    arr = np.asarray(values, dtype=np.float64)
    arr = arr[~np.isnan(arr)]
    if not arr.size:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    p50, p95, p99 = np.percentile(arr, [50, 95, 99])
    return {
        "p50": round(float(p50), 2),
        "p95": round(float(p95), 2),
        "p99": round(float(p99), 2),
        "max": round(float(arr.max()), 2),
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 4) if b > 0 else None


class Samples:
    """Per-frame timings of the run: start time (s), time since the previous frame (ms),
    render work (ms).

    Preallocated and touched up front (`capacity` frames), so that the measurement itself
    does not show as memory growth during the run.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self._data = np.full((3, max(16, capacity)), np.nan)
        self.n = 0

    @property
    def t(self) -> np.ndarray:
        return self._data[0, : self.n]

    @property
    def frame_ms(self) -> np.ndarray:
        return self._data[1, : self.n]

    def add(self, t: float, frame_ms: float, work_ms: float) -> None:
        if self.n == self._data.shape[1]:
            grown = np.full((3, 2 * self.n), np.nan)
            grown[:, : self.n] = self._data
            self._data = grown
        self._data[:, self.n] = (t, frame_ms, work_ms)
        self.n += 1

    def window(self, t0: float, t1: float) -> tuple[dict[str, float], dict[str, float]]:
        """Percentiles of frame times and work of the frames that started in [t0, t1)."""
        i, j = np.searchsorted(self.t, [t0, t1], side="left")
        return percentiles(self._data[1, i:j]), percentiles(self._data[2, i:j])


def run(args: argparse.Namespace) -> int:
    from app.clock import FrameClock
    from app.eventlog import EventLog
    from app.player import Player
    from app.render.outputs import HeadlessOutput

    total = max(0.0, args.minutes * 60.0)
    interval = args.interval or min(30.0, max(1.0, total / 6.0))
    reference = min(60.0, total / 2.0)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        media = make_media(Path(tmp), args.width, args.height, args.fps)
        show = show_of(media, width=args.width, height=args.height, fps=args.fps, fade=FADE)
        reload = _ReloadRun(Path(tmp), media, args) if args.reload_every else None
        show = reload.show if reload is not None else show
        output = HeadlessOutput(args.width, args.height)
        player = Player(show, output, clock=FrameClock(), log=EventLog())
        operator = None
        if args.operator:
            from app.render.operator import OperatorWindow

            operator = OperatorWindow(output, width=1280, height=800, every=2)
        rand = RandomInput(player, args.seed, args.go_every)
        try:
            polls = [rand] if reload is None else [rand, reload.start(player)]
            samples, rows, rss_at_ref, drops = _play(
                player, operator, polls, args, total, interval, reference
            )
            if reload is not None:
                reload.close()
            rss_end = rss_mb()
            errors = list(player.log.errors)
            dropped_total = drops.sample(player)
            operator_ms = (
                round(operator.draw_ms_total / operator.redraws, 2)
                if operator is not None and operator.redraws
                else None
            )
        finally:
            if operator is not None:
                operator.close()
            player.close()
            output.close()
    end = float(samples.t[-1]) + 1e-9 if samples.n else 0.0
    first, first_work = samples.window(0.0, reference)
    last, last_work = samples.window(end - reference, end + 1.0)
    whole, whole_work = samples.window(0.0, end + 1.0)
    rss_at_ref = rss_at_ref or rss_end
    growth = (rss_end - rss_at_ref) / rss_at_ref * 100.0 if rss_at_ref else 0.0
    result: dict[str, Any] = {
        "minutes": args.minutes,
        "width": args.width,
        "height": args.height,
        "fps": args.fps,
        "seed": args.seed,
        "frames": player.frame,
        "gos": rand.gos,
        "actions": rand.actions,
        "reference_seconds": round(reference, 1),
        "rss_mb_at_1min": round(rss_at_ref, 1),
        "rss_mb_at_end": round(rss_end, 1),
        "growth_after_1min_pct": round(growth, 2),
        "rss_ratio_end_to_1min": _ratio(rss_end, rss_at_ref),
        **{f"frame_ms_{k}": v for k, v in whole.items()},
        **{f"work_ms_{k}": v for k, v in whole_work.items()},
        "reference_frame_ms": first,
        "reference_work_ms": first_work,
        "last_frame_ms": last,
        "last_work_ms": last_work,
        "p95_ratio_last_to_first": _ratio(last["p95"], first["p95"]),
        "work_p95_ratio_last_to_first": _ratio(last_work["p95"], first_work["p95"]),
        "dropped_frames": dropped_total,
        "dropped_video_frames": drops.video,
        "errors": len(errors),
        "operator_view_ms": operator_ms,
        "intervals": rows,
    }
    if reload is not None:
        result.update(reload.result(samples))
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{player.frame} frames, {rand.gos} GOs, {rand.actions} inputs; rss at "
            f"{reference:.0f} s {rss_at_ref:.1f} MB, at end {rss_end:.1f} MB: growth "
            f"{growth:+.2f}%; frame ms p50 {whole['p50']} p95 {whole['p95']} p99 "
            f"{whole['p99']} max {whole['max']}; work ms p95 {whole_work['p95']}; last "
            f"{reference:.0f} s vs first: frame p95 x{result['p95_ratio_last_to_first']}, "
            f"work p95 x{result['work_p95_ratio_last_to_first']}; dropped {dropped_total}; "
            f"errors {len(errors)}"
        )
    if reload is not None and not args.json:
        print(reload.line(result))
    if errors:
        print(f"media errors: {errors[:3]}", file=sys.stderr)
    return 0


class Drops:
    """Dropped frames so far: output frames (the player's count) plus video frames the
    decoders dropped. The pool only sums the videos it still holds, so the video count is
    accumulated here from its increases, sampled every frame."""

    def __init__(self) -> None:
        self.video = 0
        self._seen = 0

    def sample(self, player: Any) -> int:
        now = int(player.pool.dropped_video_frames)
        self.video += max(0, now - self._seen)
        self._seen = now
        return int(player.dropped) + self.video


def _play(
    player: Any,
    operator: Any,
    polls: Sequence[Any],
    args: argparse.Namespace,
    total: float,
    interval: float,
    reference: float,
) -> tuple[Samples, list[dict[str, Any]], float | None, Drops]:
    """The loop: input, one frame (finished, as a window's swap would), report lines."""
    from app.loop import FrameTap
    from app.session import Session

    samples = Samples(int(total * args.fps * 1.1) + 16)
    drops = Drops()
    rows: list[dict[str, Any]] = []
    at: dict[str, Any] = {"now": 0.0, "previous": None, "rss": None, "report": 0.0, "mark": 0}
    start = time.perf_counter()

    def over() -> bool:  # before each frame: the frame starts now
        at["now"] = time.perf_counter()
        return at["now"] - start >= total

    def measured() -> None:  # the frame is out (finished, as a window's swap would)
        now, previous = at["now"], at["previous"]
        elapsed = now - start
        player.output.ctx.finish()
        work = (time.perf_counter() - now) * 1000.0
        since = math.nan if previous is None else (now - previous) * 1000.0
        samples.add(elapsed, since, work)
        dropped = drops.sample(player)
        at["previous"] = now
        if at["rss"] is None and elapsed >= reference:
            at["rss"] = rss_mb()
        if elapsed - at["report"] >= interval:
            rows.append(_row(samples, player, at["report"], elapsed, dropped - at["mark"]))
            at["report"], at["mark"] = elapsed, dropped
            if not args.json:
                _print_row(rows[-1])

    # the random input (and, with --reload-every, the live show), then the measurement
    session = Session(player, inputs=[*polls, FrameTap(measured)], operator=operator)
    session.run(status=False, until=over)
    last_report, dropped_mark, rss_at_ref = at["report"], at["mark"], at["rss"]
    end = time.perf_counter() - start
    if not rows or (samples.n and samples.t[-1] > last_report):
        rows.append(_row(samples, player, last_report, end, drops.sample(player) - dropped_mark))
        if not args.json:
            _print_row(rows[-1])
    return samples, rows, rss_at_ref, drops


def _row(samples: Samples, player: Any, t0: float, t1: float, dropped: int) -> dict[str, Any]:
    frame, work = samples.window(t0, t1 + 1e-9)
    return {
        "t": round(t1, 1),
        "rss_mb": round(rss_mb(), 1),
        "frames": player.frame,
        "dropped": dropped,
        "frame_ms": frame,
        "work_ms": work,
    }


def _print_row(row: dict[str, Any]) -> None:
    f, w = row["frame_ms"], row["work_ms"]
    print(
        f"{row['t']:7.1f} s  rss {row['rss_mb']:7.1f} MB  frames {row['frames']:6d}  "
        f"frame ms p50 {f['p50']:6.2f} p95 {f['p95']:6.2f} p99 {f['p99']:6.2f} "
        f"max {f['max']:7.2f}  work p95 {w['p95']:6.2f}  dropped {row['dropped']}",
        flush=True,
    )


class _ReloadRun:
    """`--reload-every`: the show from a file, edited in phases (app/rehearse/soak_reload.py)."""

    def __init__(self, folder: Path, media: list[Path], args: argparse.Namespace) -> None:
        from app.rehearse.soak_reload import phase_length, show_text
        from app.show.loader import load_show

        self.path = folder / "soak.yaml"
        self.path.write_text(
            show_text(media, width=args.width, height=args.height, fps=args.fps, fade=FADE, n=0)
        )
        self.show = load_show(self.path)
        self.media, self.args = media, args
        self.phase = phase_length(args.reload_every)
        self.live: Any = None
        self.editor: Any = None

    def start(self, player: Any) -> Any:
        from app.rehearse.reload import LiveShow
        from app.rehearse.soak_reload import Editor

        self.live = LiveShow(player, report=lambda text: None).start()
        self.live.watcher.ready.wait(10.0)
        every = self.args.reload_every
        self.editor = Editor(self.path, self.media, self.args, every, self.phase)
        self.editor.start(time.perf_counter())
        return self.live

    def close(self) -> None:
        self.editor.close()
        self.live.close()

    def result(self, samples: Samples) -> dict[str, Any]:
        from app.rehearse.soak_reload import frame_p99_ratio

        out = frame_p99_ratio(samples.t, samples.frame_ms, self.phase)
        lat = self.live.since_saved
        out.update(
            reload_every=self.args.reload_every,
            reload_phase_seconds=self.phase,
            edits=self.editor.edits,
            reloads=self.live.reloads,
            reload_ms_p50=round(float(np.percentile(lat, 50)) * 1000, 1) if lat else None,
            reload_ms_max=round(max(lat) * 1000, 1) if lat else None,
            apply_ms_max=max(self.live.apply_ms, default=None),  # main thread, per reload
        )
        return out

    @staticmethod
    def line(r: dict[str, Any]) -> str:
        return (
            f"reload every {r['reload_every']:g} s in {r['reload_phase_seconds']:g} s phases: "
            f"{r['edits']} edits, {r['reloads']} reloads (save to applied p50 "
            f"{r['reload_ms_p50']} ms, max {r['reload_ms_max']} ms; main thread per reload max "
            f"{r['apply_ms_max']} ms); frame p99 with edits "
            f"{r['p99_with_edits']} ms, without {r['p99_without']} ms: frame_p99_ratio "
            f"{r['frame_p99_ratio']}"
        )
