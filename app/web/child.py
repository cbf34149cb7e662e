"""The console server in a child process, so that it never competes with the show for the GIL.

`bench web` measured it: with the server on a thread of the show's process, every system
call of the render loop (a log line, waking the server) let the server's thread take the
GIL, and on a loaded machine the loop then waited for it for up to tens of milliseconds.
In a child process the show's side is `ServerProcess`: `publish` pickles the state into a
non-blocking pipe (what the pipe cannot take now waits in a buffer, and a newer state
replaces an unsent one), and one reader thread, blocked in `read` without the GIL most of
the time, puts the child's actions on the player's queue. The child (`python -m
app.web.child`) runs the same `WebServer` on its own event loop.

Frames on both pipes: a 4-byte big-endian length, then a pickle (both ends are this
program). Parent -> child: ("state", state, [(key, note[, refusal]), ...]), ("show",
description), ("program", jpeg), ("tick", frame, t), ("echo", [(console, t), ...]),
("stop",). Child -> parent: ("ready", port), ("failed", message), ("action", key, action,
deadline), ("probe", console, t), ("log", message, fields), ("info", consoles,
program_wanted, locked, stats). A probe is a page's ping: the show's main loop sends it back
(`poll`), so the page's round trip goes through the show loop.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from app.control.access import Listen
from app.cues.actions import Action

_LEN = struct.Struct(">I")
MAX_FRAME = 64 << 20
OUT_LIMIT = 1 << 20  # bytes waiting for the child before new states are dropped
INFO_INTERVAL = 0.5

Log = Callable[[str, dict[str, Any]], None]


def _frame(obj: Any) -> bytes:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return _LEN.pack(len(data)) + data


def _read_exact(stream: BinaryIO, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(stream: BinaryIO) -> Any:
    """The next object on a pipe, or None at its end."""
    head = _read_exact(stream, _LEN.size)
    if head is None:
        return None
    (n,) = _LEN.unpack(head)
    if n > MAX_FRAME:
        raise ValueError(f"frame of {n} bytes")
    data = _read_exact(stream, n)
    return None if data is None else pickle.loads(data)


class ServerProcess:
    """The show's side of a console server running in a child process.

    Same surface as `WebServer` for `WebConsole`: `start`, `close`, `poll`, `publish`,
    `set_show`, `set_program`, `port`, `url`, `consoles`, `program_wanted`, `locked`,
    `stats`, `tokens`. `put` receives the child's actions (on the reader thread).
    """

    def __init__(
        self,
        show: dict[str, Any],
        put: Callable[[Action], None],
        listen: Listen,
        *,
        tokens: Any,
        log: Log | None = None,
        thumbs_dir: Path | None = None,
        show_file: Path | None = None,
        put_deadline: Callable[[Action, float], None] | None = None,
    ) -> None:
        self.host = listen.host
        self._port = listen.port
        self.tokens = tokens
        self._config = {
            "show": show,
            "listen": listen,
            "operate": tokens.operate,
            "view": tokens.view,
            "thumbs": str(thumbs_dir) if thumbs_dir else None,
            "show_file": str(show_file) if show_file else None,
        }
        self._put = put
        self._put_deadline = put_deadline
        self._probes: deque[tuple[str, float]] = deque(maxlen=256)
        self._log = log
        self._logs: deque[tuple[str, dict[str, Any]]] = deque(maxlen=256)
        self._programs: deque[bytes] = deque(maxlen=1)
        self._keys: dict[int, int] = {}  # id(our action object) -> the child's key
        self._proc: subprocess.Popen[bytes] | None = None
        self._out = bytearray()
        self._state_pending: bytes | None = None
        self._reader: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure = ""
        self.consoles: list[dict[str, Any]] = []
        self.program_wanted = False
        self.locked = False
        self.stats: dict[str, int] = {}

    def start(self) -> ServerProcess:
        """Start the child and wait until it serves; raises OSError when it cannot."""
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "app.web.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            process_group=0,  # a Ctrl-C in the terminal is the show's to handle, not its own
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(_frame(self._config))
        self._proc.stdin.flush()
        os.set_blocking(self._proc.stdin.fileno(), False)
        self._reader = threading.Thread(target=self._read, name="web-child-reader", daemon=True)
        self._reader.start()
        if not self._ready.wait(60.0) or self._failure:
            self.close()
            raise OSError(self._failure or "the console server did not start")
        return self

    def _read(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        while True:
            try:
                msg = read_frame(proc.stdout)
            except (OSError, ValueError, pickle.UnpicklingError, EOFError):
                msg = None
            if msg is None:
                if not self._ready.is_set():
                    self._failure = self._failure or "the console server exited"
                    self._ready.set()
                return
            kind = msg[0]
            if kind == "action":
                key, action = msg[1], msg[2]
                self._keys[id(action)] = key
                if self._put_deadline is not None and len(msg) > 3:
                    self._put_deadline(action, msg[3])
                else:
                    self._put(action)
            elif kind == "probe":
                self._probes.append((msg[1], msg[2]))
            elif kind == "info":
                _, self.consoles, self.program_wanted, self.locked, self.stats = msg
            elif kind == "log":
                self._logs.append((msg[1], msg[2]))
            elif kind == "ready":
                self._port = int(msg[1])
                self._ready.set()
            elif kind == "failed":
                self._failure = str(msg[1])
                self._ready.set()

    # --- the show's side (main thread), never blocking ------------------------------

    def publish(self, state: dict[str, Any], applied: Any = ()) -> None:
        """The newest state and the applied actions `(action id, note)` (see WebServer)."""
        acks = [(k, *rest) for a, *rest in applied if (k := self._keys.pop(a, None)) is not None]
        frame = _frame(("state", state, acks))
        if self._out and not acks:
            self._state_pending = frame  # the pipe is backed up: only the newest state waits
        else:
            self._state_pending = None  # this frame's state is newer than the waiting one
            self._send(frame)
        self._flush()

    def set_show(self, show: dict[str, Any]) -> None:
        self._send(_frame(("show", show)))
        self._flush()

    def tick(self, frame: int, t: float) -> None:
        """The show loop's frame counter and show time (main thread)."""
        self._send(_frame(("tick", frame, t)))
        self._flush()

    def set_program(self, jpeg: bytes) -> None:
        """A new program picture (any thread): sent by the next `poll`."""
        self._programs.append(jpeg)

    def _send(self, frame: bytes) -> None:
        if len(self._out) > OUT_LIMIT:
            return  # the child is stuck: drop, the show goes on
        self._out += frame

    def _flush(self) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or not self._out:
            return
        try:
            n = os.write(proc.stdin.fileno(), self._out)
        except BlockingIOError:
            return
        except OSError:
            self._out.clear()
            return
        del self._out[:n]

    def poll(self, t: float = 0.0) -> None:
        """Main thread, once a frame: log lines to the log, waiting bytes to the child."""
        while self._programs:
            self._send(_frame(("program", self._programs.popleft())))
        if self._probes:
            probes = []
            while self._probes:
                probes.append(self._probes.popleft())
            self._send(_frame(("echo", probes)))
        while self._logs:
            message, fields = self._logs.popleft()
            if self._log is not None:
                try:
                    self._log(message, fields)
                except Exception:
                    pass
        if self._state_pending is not None and not self._out:
            self._out += self._state_pending
            self._state_pending = None
        self._flush()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            assert proc.stdin is not None
            os.set_blocking(proc.stdin.fileno(), True)
            proc.stdin.write(_frame(("stop",)))
            proc.stdin.close()
        except (OSError, ValueError):
            pass
        try:
            proc.wait(10.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)
        if self._reader is not None:
            self._reader.join(5.0)
        self.poll()

    @property
    def port(self) -> int:
        return self._port

    def url(self, host: str | None = None, *, view: bool = False) -> str:
        return self.tokens.url(self.host, self._port, host, view=view)


# --- the child ------------------------------------------------------------------------------


def _serve(
    server: Any, stdin: BinaryIO, send: Callable[[Any], None], remember: Callable[[Any], None]
) -> None:
    """Hand the parent's messages to the server until it says stop (or its pipe ends)."""
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(INFO_INTERVAL):
            server.poll()
            send(("info", server.consoles, server.program_wanted, server.locked, server.stats))

    threading.Thread(target=report, daemon=True).start()
    try:
        while True:
            msg = read_frame(stdin)
            if msg is None or msg[0] == "stop":
                break
            if msg[0] == "state":
                server.publish(msg[1], msg[2])
            elif msg[0] == "show":
                remember(msg[1])
                server.set_show(msg[1])
            elif msg[0] == "program":
                server.set_program(msg[1])
            elif msg[0] == "tick":
                server.tick(msg[1], msg[2])
            elif msg[0] == "echo":
                server.echo(msg[1])
    finally:
        stop.set()
        server.close()
        server.poll()


def _child() -> int:
    from app.web.server import Tokens, WebServer

    os.nice(5)  # the show comes first
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames on the pipe
    lock = threading.Lock()

    def send(obj: Any) -> None:
        data = _frame(obj)
        with lock:
            try:
                stdout.write(data)
                stdout.flush()
            except (OSError, ValueError):
                pass

    config = read_frame(stdin)
    if config is None:
        return 1
    thumbs = Path(config["thumbs"]) if config.get("thumbs") else None
    keys: set[str] = set()

    def thumb_file(key: str) -> Path | None:
        if thumbs is None or key not in keys:
            return None
        path = thumbs / f"{key}.jpg"
        return path if path.is_file() else None

    def remember(show: dict[str, Any]) -> None:
        keys.clear()
        keys.update(c["thumb"] for p in show.get("poems", []) for c in p["cues"] if c["thumb"])

    def put(action: Action) -> None:
        send(("action", id(action), action))

    remember(config["show"])
    try:
        server = WebServer(
            config["show"],
            put,
            config["listen"],
            tokens=Tokens(config["operate"], config["view"]),
            log=lambda message, fields: send(("log", message, fields)),
            thumb_file=thumb_file,
            show_file=Path(config["show_file"]) if config.get("show_file") else None,
            put_deadline=lambda action, deadline: send(("action", id(action), action, deadline)),
            probe=lambda console, t: send(("probe", console, t)),
        ).start()
    except (OSError, ValueError) as exc:
        send(("failed", str(exc)))
        return 1
    send(("ready", server.port))
    _serve(server, stdin, send, remember)
    return 0


if __name__ == "__main__":
    sys.exit(_child())
