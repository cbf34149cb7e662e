"""`python -m app desk SHOW`: serve the picking desk until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `desk` subcommand."""
    p = sub.add_parser(
        "desk",
        help="pick variations in the browser (thumbnails, keys, ratings, more like this)",
        description="Serve the picking desk of SHOW on this machine and print its address "
        "(with the session's token). Picks are written to <show>.picks.yaml and copied over "
        "the cue's media; a running `play` reloads them.",
    )
    p.add_argument("show", type=Path)
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port)")
    p.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="NETWORK",
        help="allowed clients, as for the console: addresses, networks or local, loopback, "
        "private, any (default: local)",
    )
    p.add_argument(
        "--backend",
        choices=("diffusers", "placeholder"),
        default="diffusers",
        help="backend for 'more like this' jobs",
    )
    p.add_argument("--device", default="cuda")
    p.add_argument("--models", type=Path, default=None, help="model registry (models.yaml)")
    p.set_defaults(handler=cmd_desk)


def _backend_factory(args: argparse.Namespace, show: Any) -> Any:
    def make() -> Any:
        from app.generate.backends import make_backend

        if args.backend == "placeholder":
            return make_backend("placeholder")
        from app.generate.registry import find_registry, load_registry

        registry = load_registry(find_registry(show.path, args.models))
        return make_backend("diffusers", registry=registry, device=args.device)

    return make


def cmd_desk(args: argparse.Namespace) -> int:
    """Run the desk until Ctrl-C (or SIGTERM)."""
    from app.desk.auth import Access
    from app.desk.server import DeskServer
    from app.desk.store import DeskLock, DeskStore
    from app.generate.cli import _load
    from app.generate.errors import GenerateError

    try:
        show = _load(args.show)
        access = Access(allow=args.allow or None)
        lock = DeskLock(show.media_root).acquire()
    except (GenerateError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = DeskServer(
        DeskStore(show),
        access,
        make_backend=_backend_factory(args, show),
        host=args.host,
        port=args.port,
    )
    try:
        server.start()
    except OSError as exc:
        lock.release()
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"desk: {server.url()}", flush=True)
    print(f"desk (view only): {server.url(view=True)}", flush=True)
    try:
        done.wait()
    finally:
        server.stop()
        lock.release()
    return 0
