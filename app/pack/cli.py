"""`python -m app pack | verify | unpack`, and `.vjshow` files given to play/check/render."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from app.pack.format import SUFFIX, PackError, human_bytes, size_table


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `pack`, `verify` and `unpack` to the program's subcommands."""
    pack = sub.add_parser(
        "pack",
        help="pack a show, its media and how they were made into one .vjshow file",
        description="Write one archive with the show file, every media file it plays, picks, "
        "venue, the generation manifest, the models' identities and licences, the software "
        "versions and a MANIFEST of SHA-256 hashes.",
    )
    pack.add_argument("show", type=Path, help="show file (YAML)")
    pack.add_argument("--out", type=Path, required=True, help=f"the pack (FILE{SUFFIX})")
    pack.add_argument("--models", type=Path, default=None, help="model registry (models.yaml)")
    pack.add_argument(
        "--with-models", action="store_true", help="also pack the model weights (large)"
    )
    pack.set_defaults(handler=cmd_pack)

    verify = sub.add_parser(
        "verify", help="check a .vjshow: every hash, every media file present and probing"
    )
    verify.add_argument("pack", type=Path)
    verify.set_defaults(handler=cmd_verify)

    unpack = sub.add_parser("unpack", help="unpack a .vjshow (checked) into a folder")
    unpack.add_argument("pack", type=Path)
    unpack.add_argument(
        "--to", type=Path, default=None, help="new folder (default: the pack cache)"
    )
    unpack.set_defaults(handler=cmd_unpack)


def _problems(err: TextIO, problems: list[str]) -> None:
    for p in problems:
        print(f"error: {p}", file=err)


def cmd_pack(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`pack SHOW --out FILE.vjshow`."""
    from app.pack.collect import collect
    from app.pack.writer import write_pack
    from app.session import prepare_demo_media

    out, err = out or sys.stdout, err or sys.stderr
    prepare_demo_media(args.show)
    if args.out.suffix.lower() != SUFFIX:
        _problems(err, [f"--out {args.out}: a pack's name ends in {SUFFIX}"])
        return 2
    if not args.out.resolve().parent.is_dir():
        _problems(err, [f"--out {args.out}: folder {args.out.parent} does not exist"])
        return 2
    try:
        collected = collect(args.show, models_path=args.models, with_models=args.with_models)
        result = write_pack(collected, args.out, progress=err)
    except PackError as exc:
        _problems(err, exc.problems)
        return 2
    print(size_table(result.sizes), file=out)
    print(
        f"wrote {result.path}: {result.files} files, {human_bytes(result.bytes)} in "
        f"{result.seconds:.2f} s",
        file=out,
    )
    return 0


def cmd_verify(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """`verify FILE.vjshow`: exit 0 only when complete and intact."""
    from app.pack.reader import verify

    out, err = out or sys.stdout, err or sys.stderr
    report = verify(args.pack, progress=err)
    if report.ok:
        print(
            f"{report.pack}: intact: {report.files} files match MANIFEST, {report.media} media "
            f"files present and probing (SHA-256 {report.sha256})",
            file=out,
        )
        return 0
    _problems(err, report.problems)
    print(f"{report.pack}: NOT intact: {len(report.problems)} problems", file=out)
    return 1


def cmd_unpack(
    args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """`unpack FILE.vjshow [--to DIR]`: print the show file to play."""
    from app.pack.reader import show_file, unpack_cached, unpack_to

    out, err = out or sys.stdout, err or sys.stderr
    try:
        if args.to is not None:
            unpack_to(args.pack, args.to, progress=err)
            folder = args.to
        else:
            folder, _ = unpack_cached(args.pack, progress=err)
    except PackError as exc:
        _problems(err, exc.problems)
        print(f"{args.pack}: refused, nothing unpacked", file=out)
        return 2
    print(show_file(Path(folder)), file=out)
    return 0


def open_show_arg(args: argparse.Namespace) -> int | None:
    """Replace a `.vjshow` in `args.show` by its unpacked show file (and set
    `args.pack_folder`); an exit code on failure.

    A pack is untrusted: a cue whose media lies outside the unpacked pack is refused, and
    unless `args.trust_pack` the network settings it would apply are named once as ignored
    (`app.pack.trust.for_play` drops them).
    """
    show = getattr(args, "show", None)
    if show is None or Path(show).suffix.lower() != SUFFIX:
        return None
    from app.pack.reader import show_file, unpack_cached

    try:
        folder, _ = unpack_cached(Path(show), progress=sys.stderr)
    except PackError as exc:
        _problems(sys.stderr, exc.problems)
        return 2
    args.show = show_file(folder)
    args.pack_folder = folder
    return _untrusted(args, folder)


def _untrusted(args: argparse.Namespace, folder: Path) -> int | None:
    from app.pack.trust import exposure_settings, ignored_notice, outside_media
    from app.show.loader import ShowError, load_show

    try:
        loaded = load_show(args.show, allow_missing=True)
    except ShowError:
        return None  # the command itself reports the show's problems
    outside = outside_media(loaded, folder)
    if outside:
        _problems(sys.stderr, outside)
        print(f"refusing the pack: {len(outside)} cues play files outside it", file=sys.stderr)
        return 2
    names = exposure_settings(loaded)
    if names and not getattr(args, "trust_pack", False):
        print(ignored_notice(names), file=sys.stderr)
    return None
