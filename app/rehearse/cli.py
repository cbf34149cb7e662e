"""`python -m app rehearse align SHOW --from A --to B`: carry captured cue times over to another
recording of the same music (another tempo, another ensemble), by audio alignment."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

LOW_CONFIDENCE = 0.2
"""Cue times under this confidence are flagged for a look in the console's waveform strip."""


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `rehearse` subcommand and its `align` action."""
    p = sub.add_parser("rehearse", help="rehearsal tools (align cue times between recordings)")
    actions = p.add_subparsers(dest="rehearse_action", required=True)
    a = actions.add_parser(
        "align",
        help="carry the cue times of one recording over to another by audio alignment",
        description="Reads the cue times captured on the --from recording in "
        "<show>.cuetimes.yaml, aligns the two recordings (chroma features and dynamic time "
        "warping) and writes the --to recording's cue times, each with a confidence 0..1, "
        "into the same file.",
    )
    a.add_argument("show", type=Path, help="the show file (its cue-times file is beside it)")
    a.add_argument("--from", dest="src", type=Path, required=True, help="recording with times")
    a.add_argument("--to", dest="dst", type=Path, required=True, help="recording to time")
    a.set_defaults(handler=cmd_align)


def cmd_align(args: argparse.Namespace) -> int:
    """Align, write, and print one line per cue; exit 1 with a one-line error on bad input."""
    from app.rehearse import align
    from app.rehearse.cuetimes import (
        CueTimesError,
        cuetimes_path,
        read_recording,
        recording_key,
        write_aligned,
    )

    out = sys.stdout
    for path in (args.show, args.src, args.dst):
        if not path.is_file():
            print(f"error: {path}: no such file", file=sys.stderr)
            return 1
    try:
        captured = read_recording(args.show, args.src)
    except CueTimesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not captured.cues:
        print(
            f"error: {cuetimes_path(args.show)}: no cue times for "
            f"{recording_key(args.show, args.src)} (capture them with `play "
            f"{args.show} --reference {args.src}`)",
            file=sys.stderr,
        )
        return 1
    try:
        a = align.load_audio(args.src)
        b = align.load_audio(args.dst)
        print(
            f"aligning {args.src} ({len(a) / align.RATE:.1f} s) with {args.dst} "
            f"({len(b) / align.RATE:.1f} s) ...",
            file=out,
            flush=True,
        )
        w = align.warp(a, b)
    except align.AlignError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    carried = align.carry([(c.cue, c.at) for c in captured.cues], w)
    written = write_aligned(
        args.show,
        args.dst,
        {c.cue: (c.dst, c.confidence) for c in carried},
        source_recording=args.src,
        duration=len(b) / align.RATE,
    )
    print(f"{'cue':<10} {'from':>9} {'to':>9}  confidence", file=out)
    for c in carried:
        flag = "  <- check" if c.confidence < LOW_CONFIDENCE else ""
        print(f"{c.cue:<10} {c.src:9.3f} {c.dst:9.3f}  {c.confidence:.2f}{flag}", file=out)
    low = sum(c.confidence < LOW_CONFIDENCE for c in carried)
    print(
        f"{len(carried)} cue times written to {written} "
        f"({low} under confidence {LOW_CONFIDENCE}: check them against the recording)",
        file=out,
    )
    return 0
