"""The command line: one argparse parser with a subcommand per job.

Each room registers its own subcommands so that this file stays a table of contents:
- `play`, `render`, `check`: here (they use app.session and app.show.check);
- `bench <name>`: `app/bench/<name>.py` exposes `add_arguments(parser)` and `run(args) -> int`;
  every bench takes `--json` (its figures as one JSON object), declared here;
- `generate`, `variations`, `pick`: `app.generate.cli.register(subparsers)` (torch is
  imported only when one of them runs);
- `pack`, `verify`, `unpack`: `app.pack.cli.register(subparsers)`; play, render and check
  also take a `.vjshow` pack (unpacked once into a cache).
- `desk`: `app.desk.cli.register(subparsers)` (the picking desk, a local web page).
- `rehearse align`: `app.rehearse.cli.register(subparsers)` (librosa imported when it runs).
Heavy modules are imported inside the handlers so that `python -m app check` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from app.show.model import DEMO_SHOW

BENCHES = ("video", "memory", "latency", "splats", "generate", "soak", "web", "stall")


def _add_script_arguments(p: argparse.ArgumentParser, *, required: bool) -> None:
    """`--script TEXT` (always the script itself) or `--script-file PATH`."""
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "--script", default=None, help="timed commands, e.g. '0:go 4:go 9.5:blackout'"
    )
    group.add_argument("--script-file", type=Path, default=None, help="a script in a file")


def _add_trust_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--trust-pack",
        action="store_true",
        help="apply a .vjshow pack's own network settings (web:/osc: host, allow, tokens)",
    )


def _add_play_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("show", nargs="?", type=Path, default=DEMO_SHOW, help="show file (YAML)")
    _add_trust_argument(p)
    p.add_argument("--headless", action="store_true", help="render offscreen (EGL), no window")
    p.add_argument("--frames", type=int, default=None, help="stop after N frames")
    p.add_argument("--event-log", type=Path, default=None, help="write a JSON-lines event log")
    _add_script_arguments(p, required=False)
    p.add_argument("--allow-missing", action="store_true", help="play with missing media (black)")
    p.add_argument("--fullscreen", action="store_true", help="fullscreen output window")
    p.add_argument("--monitor", default=None, help="output monitor: index or name substring")
    p.add_argument("--no-vsync", action="store_true", help="do not wait for vertical sync")
    p.add_argument("--quiet", action="store_true", help="no status line")
    p.add_argument(
        "--fake-clock",
        action="store_true",
        help="advance time by exactly 1/fps per frame (deterministic headless runs)",
    )
    p.add_argument("--osc-port", type=int, default=None, help="OSC UDP port (default 7700)")
    p.add_argument("--osc-host", default=None, help="OSC bind address (default 0.0.0.0)")
    p.add_argument("--no-osc", action="store_true", help="do not start the OSC server")
    p.add_argument("--osc-allow", action="append", default=None, help="allowed client network")
    p.add_argument("--passcode", default=None, help="OSC passcode required by /connect")
    p.add_argument("--no-gamepad", action="store_true", help="do not poll gamepads")
    p.add_argument(
        "--web-port", type=int, default=None, help="web console port (default 8080; 0: any free)"
    )
    p.add_argument("--web-host", default=None, help="web console bind address (default 0.0.0.0)")
    p.add_argument("--no-web", action="store_true", help="do not start the web console")
    p.add_argument("--web-token", default=None, help="the console's operate token (default: new)")
    p.add_argument(
        "--web-view-token", default=None, help="the console's view-only token (default: new)"
    )
    p.add_argument("--web-allow", action="append", default=None, help="allowed console network")
    p.add_argument(
        "--web-thumbs", type=Path, default=None, help="thumbnail cache (default ~/.cache/app)"
    )
    p.add_argument(
        "--operator", action="store_true", help="open the operator window beside the output"
    )
    p.add_argument(
        "--operator-monitor", default=None, help="operator window's monitor: index or name"
    )
    p.add_argument(
        "--record",
        type=Path,
        default=None,
        help="record the output to a video (FILE.mp4; the event log goes to FILE.jsonl)",
    )
    p.add_argument(
        "--venue", type=Path, default=None, help="venue file (default: venue.yaml next to the show)"
    )
    from app.rehearse.reference import add_arguments as add_reference_arguments

    add_reference_arguments(p)  # --reference, --cuetimes (docs/rehearsal-reference.md)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line."""
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    play = sub.add_parser("play", help="play a show (default: show/demo.yaml)")
    _add_play_arguments(play)
    play.set_defaults(handler=_cmd_play)

    check = sub.add_parser("check", help="validate a show and every media file it uses")
    check.add_argument("show", type=Path)
    _add_trust_argument(check)
    check.set_defaults(handler=_cmd_check)

    render = sub.add_parser("render", help="render a scripted run of a show to a video")
    render.add_argument("show", type=Path)
    _add_trust_argument(render)
    _add_script_arguments(render, required=True)
    render.add_argument("--out", type=Path, required=True, help="output video file (.mp4)")
    render.add_argument("--duration", type=float, default=None, help="seconds (default: last + 3)")
    render.add_argument("--event-log", type=Path, default=None)
    render.add_argument("--allow-missing", action="store_true")
    render.set_defaults(handler=_cmd_render)

    bench = sub.add_parser("bench", help="benchmarks against a reference measured in the same run")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    for name in BENCHES:
        try:
            mod = importlib.import_module(f"app.bench.{name}")
        except ImportError:
            continue
        bp = bench_sub.add_parser(name, help=(mod.__doc__ or name).strip().splitlines()[0])
        mod.add_arguments(bp)
        bp.add_argument("--json", action="store_true", help="print one JSON object")
        bp.set_defaults(handler=mod.run)

    try:
        from app.generate import cli as generate_cli
    except ImportError:
        generate_cli = None
    if generate_cli is not None:
        generate_cli.register(sub)
        from app.generate import recipe_import

        recipe_import.register(sub)

    from app.pack import cli as pack_cli

    pack_cli.register(sub)
    from app.desk import cli as desk_cli

    desk_cli.register(sub)
    from app.rehearse import cli as rehearse_cli

    rehearse_cli.register(sub)

    testcard = sub.add_parser("testcard", help="show a projector calibration pattern")
    testcard.add_argument("--width", type=int, default=1920)
    testcard.add_argument("--height", type=int, default=1080)
    testcard.add_argument("--fps", type=float, default=60.0)
    testcard.add_argument("--headless", action="store_true")
    testcard.add_argument("--frames", type=int, default=None)
    testcard.add_argument("--out", type=Path, default=None, help="save one frame as PNG")
    testcard.add_argument("--fullscreen", action="store_true", help="fullscreen window")
    testcard.add_argument("--monitor", default=None, help="output monitor: index or name substring")
    testcard.add_argument(
        "--venue", type=Path, default=None, help="venue file (default: show/venue.yaml)"
    )
    testcard.set_defaults(handler=_cmd_testcard)
    return parser


def _cmd_play(args: argparse.Namespace) -> int:
    if (code := _open_pack(args)) is not None:
        return code
    from app.session import play_command

    return play_command(args)


def _cmd_render(args: argparse.Namespace) -> int:
    if (code := _open_pack(args)) is not None:
        return code
    from app.session import render_command

    return render_command(args)


def _cmd_check(args: argparse.Namespace) -> int:
    if (code := _open_pack(args)) is not None:
        return code
    from app.session import prepare_demo_media
    from app.show.check import check_show, format_report

    prepare_demo_media(args.show)
    report = check_show(args.show)
    if report.show is not None:
        from app.generate.cli import recipe_report

        problems, warnings = recipe_report(args.show)
        report.problems.extend(problems)
        report.warnings.extend(warnings)
        try:
            from app.generate.backends.sharp import check_warnings
        except ImportError:  # a runtime-only install without the generate room
            check_warnings = None
        if check_warnings is not None:
            report.warnings.extend(check_warnings(report.show))
    print(format_report(report))
    return 0 if report.ok else 1


def _open_pack(args: argparse.Namespace) -> int | None:
    from app.pack.cli import open_show_arg

    return open_show_arg(args)


def _cmd_testcard(args: argparse.Namespace) -> int:
    from app.render.testcard import testcard_command

    return testcard_command(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m app`."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
