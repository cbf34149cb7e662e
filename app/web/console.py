"""The console bound to a running player: the main-thread side of the web console.

`WebConsole.poll(t)` runs once a frame on the main (GL) thread, between frames: it hands the
newest state and the actions applied since the last frame to the server (one reference
swap, never a wait), draws at most one pending splat thumbnail while nothing is on stage,
and, while a console wants the program picture, queues an asynchronous read-back of a small
copy of the output every half second and picks up the one queued before. The server thread
never touches the player or GL.

Truth (app/web/truth.py): `poll` also sends the show loop's frame counter and show time ten
times a second (the page says STALE when it stops) and the pings that came through the
server back to it (the page's round trip), and the console gates the player: a console's
command that reaches the main loop after its deadline is refused, never applied late.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from app.control.access import Listen
from app.cues.actions import Action
from app.show.model import Show
from app.status import Status
from app.web.thumbs import Thumbnails, render_splat_thumbnail
from app.web.truth import late

PROGRAM_INTERVAL = 0.5  # seconds between program pictures (2 fps)
PROGRAM_WIDTH = 480
HEALTH_INTERVAL = 0.5  # seconds between refreshes of the health figures
SPLAT_THUMB_INTERVAL = 1.0
TICK_INTERVAL = 0.1  # real seconds between the frame counter's trips to the consoles


def show_description(show: Show, thumbs: Thumbnails | None = None) -> dict[str, Any]:
    """The JSON-ready description of a show for the console (poems, cues, settings)."""
    poems = []
    index = 0
    for p in show.poems:
        cues = []
        for c in p.cues:
            cues.append(
                {
                    "index": index,
                    "id": c.id,
                    "kind": str(c.kind),
                    "media": c.media.name,
                    "fade": c.fade,
                    "layer": c.layer,
                    "length": thumbs.lengths[index] if thumbs else None,
                    "thumb": thumbs.keys[index] if thumbs else None,
                    "notes": c.notes,
                    "follow": c.follow.describe() if c.follow else None,
                    "start": c.start,
                    "end": c.end,
                    "loop": c.loop,
                }
            )
            index += 1
        poems.append(
            {
                "id": p.id,
                "title": p.title,
                "part": p.part,
                "notes": p.notes,
                "cues": cues,
            }
        )
    layers = sorted({c.layer for c in show.cues} or {1})
    return {
        "title": show.title,
        "fps": show.output.fps,
        "aspect": show.output.width / max(1, show.output.height),
        "go_guard": show.defaults.go_guard,
        "layers": layers,
        "poems": poems,
    }


def console_health(status: Status) -> dict[str, Any]:
    """The health strip's figures of one status snapshot (a pure function of it)."""
    alerts = status.alerts
    return {
        "fps": round(status.fps, 1),
        "dropped": status.dropped,
        "frame_ms": None if status.step_ms is None else round(status.step_ms, 2),
        "source": status.last_source,
        "pads": list(status.pads),
        "osc_clients": len(status.osc_clients),
        "warnings": [a.message for a in alerts if a.kind != "error"][-3:]
        + [a.message for a in alerts if a.kind == "error"][-3:],
    }


def console_state(
    status: Status,
    show: dict[str, Any],
    health: dict[str, Any] | None = None,
    extras: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The JSON-ready live state the console shows: a pure function of one status snapshot,
    the show's description (`show_description`), the health figures (refreshed at their own
    pace; by default those of `status`) and the parts inputs add (the rehearsal's).

    Nothing in it changes from frame to frame unless the show does, so that an unchanged
    show sends no updates.
    """
    on_stage = []
    for layer in status.layers:
        for e in layer.live:
            item: dict[str, Any] = {
                "cue": e.index,
                "layer": layer.layer,
                "weight": round(e.weight, 3),
            }
            if e.since is not None:
                # the clip's position at show time t is base + (t - since) * rate: the page
                # counts a video's time left from the show loop's ticks
                item["since"] = e.since
                item["base"] = round(e.base, 4)
                item["rate"] = round(e.rate, 4)
            on_stage.append(item)
    cue_layers = {c["layer"] for p in show.get("poems", ()) for c in p["cues"]}
    layers = sorted(cue_layers | set(status.set_layers) or {1})
    follow = status.follow
    state: dict[str, Any] = {
        "poem": status.poem,
        "live": status.live,
        "standby": status.standby,
        "blackout": status.blackout,
        "panic": status.panic,
        "black": round(status.black, 3),
        "master": round(status.master, 4),
        "transition": None if status.transition is None else round(status.transition, 2),
        "tbar": None if status.tbar is None else round(status.tbar, 4),
        "on_stage": on_stage,
        "layers": [
            {
                "layer": n,
                "opacity": round(status.layer(n).opacity, 4),
                "rate": round(status.layer(n).rate, 4),
            }
            for n in layers
        ],
        "health": health if health is not None else console_health(status),
        "follow": None
        if follow is None
        else {
            "cue": follow.target,
            "from": follow.cue,
            "mode": follow.mode,
            "remaining": follow.remaining,
        },
    }
    for extra in extras:
        state.update(extra)
    return state


class ProgramGrabber:
    """A small copy of the output, read back asynchronously (GL thread only).

    `grab()` draws the output into a small framebuffer and starts reading it into a pixel
    buffer; `take()`, called a frame or more later, maps that buffer (already filled by then)
    and returns the pixels, top row first.
    """

    def __init__(self, ctx: Any, source_texture: Any, width: int, height: int) -> None:
        import moderngl

        from app.render.programs import load_program

        self.ctx = ctx
        self.source = source_texture
        self.width, self.height = width, height
        self._tex = ctx.texture((width, height), 3)
        self._fbo = ctx.framebuffer(color_attachments=[self._tex])
        self._pbo = ctx.buffer(reserve=width * height * 3)
        self._prog = load_program(ctx, "quad")
        self._prog["u_texture"].value = 0
        self._prog["u_scale"].value = (1.0, 1.0)
        self._prog["u_flip_y"].value = 0.0
        self._prog["u_weight"].value = (1.0, 1.0)
        self._prog["u_opaque"].value = True
        self._vao = ctx.vertex_array(self._prog, [])
        self._mode = moderngl.TRIANGLE_STRIP
        self.queued = False

    def grab(self) -> None:
        import moderngl

        previous = self.ctx.fbo
        self._fbo.use()
        self.ctx.disable(moderngl.BLEND)
        self.source.use(location=0)
        self._vao.render(self._mode, vertices=4)
        self._fbo.read_into(self._pbo, components=3)
        if previous is not None:
            previous.use()
        self.queued = True

    def take(self) -> np.ndarray | None:
        if not self.queued:
            return None
        self.queued = False
        data = np.frombuffer(self._pbo.read(), np.uint8).reshape(self.height, self.width, 3)
        return data[::-1].copy()  # GL's bottom row first -> top row first

    def release(self) -> None:
        from app.render.gl import release_framebuffer

        self._vao.release()
        self._pbo.release()
        release_framebuffer(self._fbo)


def _jpeg(pixels: np.ndarray) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=70)
    return out.getvalue()


class WebConsole:
    """The web console input of `play`: a server (`WebServer` in this process, or
    `app.web.child.ServerProcess` in a child) bound to a `Player`.

    Like the other inputs it has `poll(t)` (main thread, once a frame) and `close()`.
    """

    def __init__(
        self,
        player: Any,
        server_factory: Callable[[dict[str, Any], Callable[[Action], None]], Any],
        *,
        thumbs: Thumbnails | None = None,
    ) -> None:
        self.player = player
        self.thumbs = thumbs
        self._applied: list[tuple[Any, ...]] = []
        self._deadlines: dict[int, float] = {}  # id(action) -> monotonic deadline
        self._tick_at = -1e9
        self._show = show_description(player.show, thumbs)
        self.server = server_factory(self._show, self._put)
        player.on_applied(self._on_applied)
        player.add_gate(self._gate)
        # a frame changed the state: it is handed over in `idle`, once the frame is out
        player.add_listener(self._changed)
        self._dirty = True
        self._idle_seen = False
        self._state: dict[str, Any] | None = None
        self._health: dict[str, Any] | None = None
        self._sent_health: dict[str, Any] | None = None
        self._health_at = -1e9
        self._program: ProgramGrabber | None = None
        self._program_at = -1e9
        self._splat_at = -1e9
        self._show_dirty = False
        self._encoder: Any = None
        self.url: str | None = None  # the operate address, once printed (operator's QR code)
        self._retired: list[Thumbnails] = []  # of shows replaced by a reload, stopping
        if thumbs is not None:
            thumbs.on_change = self._thumbs_changed

    def start(self) -> WebConsole:
        self.server.start()
        if self.thumbs is not None:
            self.thumbs.start()
        return self

    def _put(self, action: Action, deadline: float | None = None) -> None:
        """A console's action (server or reader thread), with the moment it must be applied
        by (monotonic seconds)."""
        if deadline is not None:
            if len(self._deadlines) > 4096:  # actions the player never applied (closing)
                self._deadlines.clear()
            self._deadlines[id(action)] = deadline
        self.player.put(action)

    def _gate(self, action: Action) -> str | None:
        """Main thread, before the player applies an action: a console's command that
        arrives after its deadline is refused, never applied late."""
        deadline = self._deadlines.pop(id(action), None)
        reason = late(deadline, time.monotonic())
        if reason is not None:
            self._applied.append((id(action), None, reason))
        return reason

    def _on_applied(self, action: Action, note: str | None) -> None:
        if action.source == "web":
            self._applied.append((id(action), note))

    def _thumbs_changed(self) -> None:
        self._show_dirty = True  # picked up by poll on the main thread

    def poll(self, t: float) -> None:
        """Main thread, once a frame (see the module docstring)."""
        server = self.server
        now = time.monotonic()
        tick = getattr(server, "tick", None)
        if tick is not None and now - self._tick_at >= TICK_INTERVAL:
            self._tick_at = now
            status = self.player.status
            tick(status.frame, round(status.t, 3))
        server.poll(t)  # after the tick: the pings it answers carry a frame counter
        if t - self._health_at >= HEALTH_INTERVAL or t < self._health_at:
            self._health_at = t
            self._health = console_health(self.player.status)
        if not self._idle_seen:  # a loop without `idle`: hand over at the frame's start
            self._publish()
        self._idle_seen = False
        if self._show_dirty and self.thumbs is not None:
            self._show_dirty = False
            self._show = show_description(self.player.show, self.thumbs)
            server.set_show(self._show)
        self._splat_thumbnail(t)
        self._program_picture(t)

    def replace_show(self, show: Show) -> None:
        """The show was reloaded (main thread): new thumbnails, a new description."""
        old = self.thumbs
        if old is not None:
            old.stop()  # never waited for here: closed with the console
            self._retired.append(old)
            if len(self._retired) > 8:  # stopped many reloads ago: its join is immediate
                self._retired.pop(0).close()
            known = old.known
            self.thumbs = Thumbnails(
                show, old.folder, on_change=self._thumbs_changed, known=known
            ).start()
        self._show = show_description(show, self.thumbs)
        self.server.set_show(self._show)

    def _changed(self, snapshot: Any) -> None:
        self._dirty = True

    def idle(self) -> None:
        """Main thread, after a frame is out and before the loop waits for the next: hand
        the state over (waking the server, which may take the CPU, costs no frame here)."""
        self._idle_seen = True
        self._publish()

    def _publish(self) -> None:
        applied, self._applied = self._applied, []
        counting = self.player.status.follow is not None  # a follow's countdown runs
        if not (applied or counting or self._dirty or self._health is not self._sent_health):
            return
        self._dirty = False
        self._sent_health = self._health
        state = console_state(self.player.status, self._show, self._health, self._extras())
        if applied or state != self._state:
            self._state = state
            self.server.publish(state, applied)

    def _extras(self) -> list[dict[str, Any]]:
        """The inputs' own parts of the state (the rehearsal's `console_state()`)."""
        out = []
        for inp in getattr(self.player, "inputs", ()):
            extra = getattr(inp, "console_state", None)
            if callable(extra):
                out.append(extra())
        return out

    def _splat_thumbnail(self, t: float) -> None:
        # drawn only while nothing is on stage (before the show, after a panic), so that the
        # one frame it costs never shows
        thumbs = self.thumbs
        if thumbs is None or t - self._splat_at < SPLAT_THUMB_INTERVAL:
            return
        if any(layer.live for layer in self.player.status.layers):
            return
        job = thumbs.take_splat_job()
        if job is None:
            return
        self._splat_at = t
        try:
            pixels = render_splat_thumbnail(
                self.player.output.ctx, job, thumbs.width, thumbs.height
            )
        except Exception:
            pixels = None
        thumbs.finish_splat(job, pixels)

    def _program_picture(self, t: float) -> None:
        if self._program is not None and self._program.queued:
            pixels = self._program.take()
            if pixels is not None:
                self._encode(pixels)
        if not self.server.program_wanted or t - self._program_at < PROGRAM_INTERVAL:
            return
        self._program_at = t
        out = self.player.output
        if self._program is None:
            height = max(1, round(PROGRAM_WIDTH * out.height / max(1, out.width)))
            self._program = ProgramGrabber(
                out.ctx, out.fbo.color_attachments[0], PROGRAM_WIDTH, height
            )
        self._program.grab()

    def _encode(self, pixels: np.ndarray) -> None:
        # JPEG encoding happens off the main thread
        if self._encoder is None:
            from concurrent.futures import ThreadPoolExecutor

            self._encoder = ThreadPoolExecutor(1, thread_name_prefix="web-program")
        server = self.server
        self._encoder.submit(lambda: server.set_program(_jpeg(pixels)))

    def close(self) -> None:
        for old in self._retired:
            old.close()
        if self.thumbs is not None:
            self.thumbs.close()
        self.server.close()
        if self._encoder is not None:
            self._encoder.shutdown(wait=True)
        if self._program is not None:
            self._program.release()
            self._program = None


def lan_address() -> str:
    """This machine's address on the venue network (the one a tablet can reach), else
    127.0.0.1. Nothing is sent: a UDP socket is only pointed at a private address."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.254.254.254", 9))
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def terminal_qr(text: str) -> str:
    """A QR code of `text` drawn with block characters, for a tablet's camera."""
    import io

    import segno

    out = io.StringIO()
    segno.make(text, error="m").terminal(out=out, compact=True)
    return out.getvalue()


def start_web_console(
    player: Any, args: Any, log: Callable[[str, dict[str, Any]], None]
) -> WebConsole | None:
    """Start the console for `play` from its flags and the show's `web:` block.

    Prints `console: URL` (and a QR code of it); a port that cannot be used is reported and
    the show plays on without the console.
    """
    import sys

    from app.web.server import DEFAULT_PORT, Tokens

    cfg = player.show.web
    port = getattr(args, "web_port", None)
    if port is None:
        port = DEFAULT_PORT if cfg.port is None else cfg.port
    listen = Listen(
        getattr(args, "web_host", None) or cfg.host or "0.0.0.0",
        port,
        getattr(args, "web_allow", None) or cfg.allow or None,
    )
    try:
        tokens = Tokens(
            getattr(args, "web_token", None) or cfg.token,
            getattr(args, "web_view_token", None) or cfg.view_token,
        )
    except ValueError as exc:
        print(f"web console: {exc} (playing without it)", file=sys.stderr)
        return None
    thumbs = Thumbnails(player.show, getattr(args, "web_thumbs", None))

    def factory(show: dict[str, Any], put: Callable[[Action], None]) -> Any:
        from app.web.child import ServerProcess

        return ServerProcess(
            show,
            put,
            listen=listen,
            put_deadline=put,
            tokens=tokens,
            log=log,
            thumbs_dir=thumbs.folder,
            show_file=player.show.path,  # the edit view (app/web/edit.py)
        )

    try:
        console = WebConsole(player, factory, thumbs=thumbs).start()
    except (OSError, ValueError) as exc:
        print(f"web console: {exc} (playing without it)", file=sys.stderr)
        return None
    server = console.server
    shown = lan_address() if listen.host in ("0.0.0.0", "::", "") else listen.host
    url = server.url(shown)
    console.url = url
    print(f"console: {url}", file=sys.stderr, flush=True)
    print(f"console (view only): {server.url(shown, view=True)}", file=sys.stderr, flush=True)
    if not getattr(args, "quiet", False) and sys.stderr.isatty():
        print(terminal_qr(url), file=sys.stderr, flush=True)
    player.set_web(console)
    return console
