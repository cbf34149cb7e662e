"""`python -m app desk SHOW`: serve the picking desk until interrupted."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from app.generate.cli import backend_arguments, executor_arguments


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
    backend_arguments(p)
    executor_arguments(p)
    p.set_defaults(handler=cmd_desk, batch=None, compile=False)


class _Generation:
    """What "more like this" renders with, set up as `generate` does on first use (in the
    desk's job thread): the backend (ComfyUI for workflow recipes) and the executor the flags
    ask for (`make_executor`), both kept for the desk's life so workers keep their models."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._session: Any = None

    def _get(self) -> Any:
        if self._session is None:
            from app.generate.cli import _Session

            self._session = _Session(self.args, sys.stderr)
        return self._session

    def backend(self) -> Any:
        """The backend of the desk's jobs."""
        return self._get().backend

    def executor(self, backend: Any) -> Any:
        """The executor of the desk's jobs (local, or Ray workers)."""
        from app.generate.cli import make_executor

        return make_executor(self.args, self._get())


def cmd_desk(args: argparse.Namespace) -> int:
    """Run the desk until Ctrl-C (or SIGTERM)."""
    from app.desk.auth import Access
    from app.desk.server import DeskServer
    from app.desk.store import DeskLock, DeskStore
    from app.generate.cli import _load
    from app.generate.errors import GenerateError

    try:
        show = _load(args.show)
        access = Access(allow=args.allow or None, names=[args.host])
        lock = DeskLock(show.media_root).acquire()
    except (GenerateError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    generation = _Generation(args)
    server = DeskServer(
        DeskStore(show),
        access,
        make_backend=generation.backend,
        make_executor=generation.executor,
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
